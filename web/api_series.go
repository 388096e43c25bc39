package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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
	lr, aerr := s.openLookup(r, func(err error) *apiError { return invalidParam(err, "match[]") })
	if aerr != nil {
		return errResult(aerr)
	}
	q, limit, matcherSets := lr.q, lr.limit, lr.matcherSets
	// The labels point into the querier's memory until it is closed.
	closer := func() { q.Close() }

	hints := &promstorage.SelectHints{
		Start: timestamp.FromTime(lr.start),
		End:   timestamp.FromTime(lr.end),
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
	lr, aerr := s.openLookup(r, badData)
	if aerr != nil {
		return errResult(aerr)
	}
	// The names point into the querier's memory until it is closed.
	closer := func() { lr.q.Close() }
	hints := &promstorage.LabelHints{Limit: toHintLimit(lr.limit)}
	names, warnings, err := unionLookup(lr.matcherSets, func(ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return lr.q.LabelNames(ctx, hints, ms...)
	})
	if err != nil {
		return apiResult{err: queryError(err), warnings: warnings, finalizer: closer}
	}
	return lookupResult(names, lr.limit, warnings, closer)
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
	lr, aerr := s.openLookup(r, badData)
	if aerr != nil {
		return errResult(aerr)
	}
	// The values point into the querier's memory until it is closed.
	closer := func() { lr.q.Close() }
	hints := &promstorage.LabelHints{Limit: toHintLimit(lr.limit)}
	vals, warnings, err := unionLookup(lr.matcherSets, func(ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return lr.q.LabelValues(ctx, name, hints, ms...)
	})
	if err != nil {
		return apiResult{err: queryError(err), warnings: warnings, finalizer: closer}
	}
	return lookupResult(vals, lr.limit, warnings, closer)
}

// lookupRequest holds what the series, label names and label values
// endpoints share: their parameters and the querier opened for them.
type lookupRequest struct {
	limit       int
	start, end  time.Time
	matcherSets [][]*labels.Matcher
	q           promstorage.Querier
}

// openLookup parses limit, start, end and match[] as Prometheus does and
// opens a querier over [start, end]; the caller closes it. matcherErr
// wraps a bad match[] the way the endpoint reports it.
func (s *Server) openLookup(r *http.Request, matcherErr func(error) *apiError) (*lookupRequest, *apiError) {
	lr := &lookupRequest{}
	var err error
	if lr.limit, err = parseLimitParam(r.FormValue("limit")); err != nil {
		return nil, invalidParam(err, "limit")
	}
	if lr.start, err = parseTimeParam(r, "start", minTime); err != nil {
		return nil, invalidParam(err, "start")
	}
	if lr.end, err = parseTimeParam(r, "end", maxTime); err != nil {
		return nil, invalidParam(err, "end")
	}
	if lr.matcherSets, err = s.parseMatchersParam(r.Form["match[]"]); err != nil {
		return nil, matcherErr(err)
	}
	if s.queryable() == nil {
		return nil, errNoQueryEngine
	}
	if lr.q, err = s.queryable().Querier(timestamp.FromTime(lr.start), timestamp.FromTime(lr.end)); err != nil {
		return nil, queryError(err)
	}
	return lr, nil
}

// unionLookup asks f once per matcher set and merges the answers, sorted
// and without duplicates, as Prometheus does for several match[].
func unionLookup(matcherSets [][]*labels.Matcher, f func(ms ...*labels.Matcher) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations, error) {
	if len(matcherSets) <= 1 {
		var ms []*labels.Matcher
		if len(matcherSets) == 1 {
			ms = matcherSets[0]
		}
		vals, warnings, err := f(ms...)
		slices.Sort(vals)
		return vals, warnings, err
	}
	var warnings annotations.Annotations
	seen := map[string]struct{}{}
	for _, ms := range matcherSets {
		vals, ws, err := f(ms...)
		warnings.Merge(ws)
		if err != nil {
			return nil, warnings, err
		}
		for _, v := range vals {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, warnings, nil
}

// lookupResult answers a list of names or values, cut at limit with
// Prometheus' warning.
func lookupResult(vals []string, limit int, warnings annotations.Annotations, closer func()) apiResult {
	if vals == nil {
		vals = []string{}
	}
	if limit > 0 && len(vals) > limit {
		vals = vals[:limit]
		warnings.Add(errTruncated)
	}
	return apiResult{data: stringList(vals), warnings: warnings, finalizer: closer}
}
