package web

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// The look-up endpoints (series, label names, label values) go through the
// storage's Querier exactly as Prometheus' api.go does, so that `match[]`,
// `start`/`end` and `limit` behave the same.

// checkContextEvery is how many series the series endpoint reads between
// checks of the request's context.
const checkContextEvery = 128

var errTruncated = errors.New("results truncated due to limit")

func (s *Server) series(c echo.Context) apiResult {
	r := c.Request()
	ctx := r.Context()
	if len(r.Form["match[]"]) == 0 {
		return errResult(badData(errors.New("no match[] parameter provided")))
	}
	limit, err := parseLimitParam(r.FormValue("limit"))
	if err != nil {
		return errResult(invalidParam(err, "limit"))
	}
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	matcherSets, err := s.parseMatchersParam(r.Form["match[]"])
	if err != nil {
		return errResult(invalidParam(err, "match[]"))
	}
	if s.queryable() == nil {
		return errResult(errNoQueryEngine)
	}
	q, err := s.queryable().Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return errResult(queryError(err))
	}
	// The labels point into the querier's memory until it is closed.
	closer := func() { q.Close() }

	hints := &promstorage.SelectHints{
		Start: timestamp.FromTime(start),
		End:   timestamp.FromTime(end),
		Func:  "series", // no samples needed
		Limit: toHintLimit(limit),
	}
	var set promstorage.SeriesSet
	if len(matcherSets) > 1 {
		sets := make([]promstorage.SeriesSet, 0, len(matcherSets))
		for _, ms := range matcherSets {
			// Sorted, to merge and deduplicate.
			sets = append(sets, q.Select(ctx, true, hints, ms...))
		}
		set = promstorage.NewMergeSeriesSet(sets, 0, promstorage.ChainedSeriesMerge)
	} else {
		set = q.Select(ctx, false, hints, matcherSets[0]...)
	}

	result := labelsList{}
	for i := 1; set.Next(); i++ {
		if i%checkContextEvery == 0 {
			if err := ctx.Err(); err != nil {
				return apiResult{err: queryError(err), warnings: set.Warnings(), finalizer: closer}
			}
		}
		result = append(result, set.At().Labels())
		if limit > 0 && len(result) > limit {
			warnings := set.Warnings()
			warnings.Add(errTruncated)
			return apiResult{data: result[:limit], warnings: warnings, finalizer: closer}
		}
	}
	if err := set.Err(); err != nil {
		return apiResult{err: queryError(err), warnings: set.Warnings(), finalizer: closer}
	}
	return apiResult{data: result, warnings: set.Warnings(), finalizer: closer}
}

func (s *Server) labelNames(c echo.Context) apiResult {
	r := c.Request()
	ctx := r.Context()
	limit, err := parseLimitParam(r.FormValue("limit"))
	if err != nil {
		return errResult(invalidParam(err, "limit"))
	}
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	matcherSets, err := s.parseMatchersParam(r.Form["match[]"])
	if err != nil {
		return errResult(badData(err))
	}
	if s.queryable() == nil {
		return errResult(errNoQueryEngine)
	}
	q, err := s.queryable().Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return errResult(queryError(err))
	}
	closer := func() { q.Close() }
	hints := &promstorage.LabelHints{Limit: toHintLimit(limit)}

	var (
		names    []string
		warnings annotations.Annotations
	)
	if len(matcherSets) > 1 {
		seen := map[string]struct{}{}
		for _, ms := range matcherSets {
			vals, ws, err := q.LabelNames(ctx, hints, ms...)
			warnings.Merge(ws)
			if err != nil {
				return apiResult{err: queryError(err), warnings: warnings, finalizer: closer}
			}
			for _, v := range vals {
				seen[v] = struct{}{}
			}
		}
		names = make([]string, 0, len(seen))
		for v := range seen {
			names = append(names, v)
		}
		slices.Sort(names)
	} else {
		var ms []*labels.Matcher
		if len(matcherSets) == 1 {
			ms = matcherSets[0]
		}
		names, warnings, err = q.LabelNames(ctx, hints, ms...)
		if err != nil {
			return apiResult{err: &apiError{typ: errorExec, err: err}, warnings: warnings, finalizer: closer}
		}
	}
	if names == nil {
		names = []string{}
	}
	if limit > 0 && len(names) > limit {
		names = names[:limit]
		warnings.Add(errTruncated)
	}
	return apiResult{data: stringList(names), warnings: warnings, finalizer: closer}
}

// labelValueName reads the :name route parameter: URL-unescaped, and
// decoded from Prometheus 3's U__ escaping for UTF-8 names.
func labelValueName(c echo.Context) (string, error) {
	name := c.Param("name")
	if strings.Contains(name, "%") {
		unescaped, err := url.PathUnescape(name)
		if err != nil {
			return "", fmt.Errorf("invalid label name: %q", name)
		}
		name = unescaped
	}
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return "", fmt.Errorf("invalid label name: %q", name)
	}
	return name, nil
}

func (s *Server) labelValues(c echo.Context) apiResult {
	r := c.Request()
	ctx := r.Context()
	name, err := labelValueName(c)
	if err != nil {
		return errResult(badData(err))
	}
	limit, err := parseLimitParam(r.FormValue("limit"))
	if err != nil {
		return errResult(invalidParam(err, "limit"))
	}
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	matcherSets, err := s.parseMatchersParam(r.Form["match[]"])
	if err != nil {
		return errResult(badData(err))
	}
	if s.queryable() == nil {
		return errResult(errNoQueryEngine)
	}
	q, err := s.queryable().Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return errResult(&apiError{typ: errorExec, err: err})
	}
	// The values point into the querier's memory until it is closed.
	closer := func() { q.Close() }
	hints := &promstorage.LabelHints{Limit: toHintLimit(limit)}

	var (
		vals     []string
		warnings annotations.Annotations
	)
	if len(matcherSets) > 1 {
		seen := map[string]struct{}{}
		for _, ms := range matcherSets {
			vs, ws, err := q.LabelValues(ctx, name, hints, ms...)
			warnings.Merge(ws)
			if err != nil {
				return apiResult{err: &apiError{typ: errorExec, err: err}, warnings: warnings, finalizer: closer}
			}
			for _, v := range vs {
				seen[v] = struct{}{}
			}
		}
		vals = make([]string, 0, len(seen))
		for v := range seen {
			vals = append(vals, v)
		}
	} else {
		var ms []*labels.Matcher
		if len(matcherSets) == 1 {
			ms = matcherSets[0]
		}
		vals, warnings, err = q.LabelValues(ctx, name, hints, ms...)
		if err != nil {
			return apiResult{err: &apiError{typ: errorExec, err: err}, warnings: warnings, finalizer: closer}
		}
		if vals == nil {
			vals = []string{}
		}
	}
	slices.Sort(vals)
	if limit > 0 && len(vals) > limit {
		vals = vals[:limit]
		warnings.Add(errTruncated)
	}
	return apiResult{data: stringList(vals), warnings: warnings, finalizer: closer}
}
