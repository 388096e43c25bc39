package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/stats"
)

// maxPointsPerSeries bounds a range query's resolution, as in Prometheus:
// enough for a week at 60s or a year at 1h.
const maxPointsPerSeries = 11000

var (
	instantQueryDuration = metrics.GetOrCreatePrometheusHistogram(`vigil_query_duration_seconds{type="instant"}`)
	rangeQueryDuration   = metrics.GetOrCreatePrometheusHistogram(`vigil_query_duration_seconds{type="range"}`)
)

// countQueryFailure counts a failed query by the API error type.
func countQueryFailure(e *apiError) {
	metrics.GetOrCreateCounter(`vigil_queries_failed_total{reason="` + string(e.typ) + `"}`).Inc()
}

// logger is where the server logs. It is slog's default logger until
// Options carries one.
func (s *Server) logger() *slog.Logger {
	if s.deps.Logger != nil {
		return s.deps.Logger
	}
	return slog.Default()
}

// queryable is the storage the engine reads, or nil when the server has
// none (answered 503).
func (s *Server) queryable() promstorage.Queryable {
	if s.deps.Storage == nil {
		return nil
	}
	return s.deps.Storage
}

var errNoQueryEngine = &apiError{typ: errorUnavailable, err: errors.New("the query engine or the storage is not configured")}

func (s *Server) query(c echo.Context) (res apiResult) {
	r := c.Request()
	defer func() {
		if res.err != nil {
			countQueryFailure(res.err)
		}
	}()
	limit, err := parseLimitParam(r.FormValue("limit"))
	if err != nil {
		return errResult(invalidParam(err, "limit"))
	}
	ts, err := parseTimeParam(r, "time", time.Now())
	if err != nil {
		return errResult(invalidParam(err, "time"))
	}
	qs := r.FormValue("query")
	qry, result, elapsed, cancel, aerr := s.execQuery(r, qs, 0, func(ctx context.Context, opts promql.QueryOpts, _ parser.Expr) (execer, error) {
		return s.deps.Engine.NewInstantQuery(ctx, s.queryable(), opts, qs, ts)
	})
	if aerr != nil {
		return errResult(aerr)
	}
	defer cancel()
	instantQueryDuration.Update(elapsed.Seconds())
	s.logSlowQuery("instant", qs, ts, ts, 0, elapsed)
	return s.queryResult(r, qry, result, limit)
}

func (s *Server) queryRange(c echo.Context) (res apiResult) {
	r := c.Request()
	defer func() {
		if res.err != nil {
			countQueryFailure(res.err)
		}
	}()
	limit, err := parseLimitParam(r.FormValue("limit"))
	if err != nil {
		return errResult(invalidParam(err, "limit"))
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	if end.Before(start) {
		return errResult(invalidParam(errors.New("end timestamp must not be before start time"), "end"))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return errResult(invalidParam(err, "step"))
	}
	if step <= 0 {
		return errResult(invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step"))
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return errResult(badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")))
	}
	qs := r.FormValue("query")
	qry, result, elapsed, cancel, aerr := s.execQuery(r, qs, end.Sub(start), func(ctx context.Context, opts promql.QueryOpts, expr parser.Expr) (execer, error) {
		if parts := s.rangeParts(r, qs, expr, start, end, step); parts > 1 {
			return newSplitRangeQuery(ctx, s.deps.PartEngine(parts), s.queryable(), opts, qs, start, end, step, parts)
		}
		return s.deps.Engine.NewRangeQuery(ctx, s.queryable(), opts, qs, start, end, step)
	})
	if aerr != nil {
		return errResult(aerr)
	}
	defer cancel()
	if result.Err == nil {
		s.splitCosts.record(qs, rangeSteps(start, end, step), totalSamples(qry))
	}
	rangeQueryDuration.Update(elapsed.Seconds())
	s.logSlowQuery("range", qs, start, end, step, elapsed)
	return s.queryResult(r, qry, result, limit)
}

// execQuery is what instant and range queries share once their own
// parameters are read: the timeout, the query options, the subquery bound
// (span is the range query's, 0 for an instant query), and building and
// running the query with newQuery, which gets the parsed query (nil if it
// does not parse: the engine reports that as Prometheus does). The caller
// cancels the context once the answer is written.
func (s *Server) execQuery(r *http.Request, qs string, span time.Duration, newQuery func(context.Context, promql.QueryOpts, parser.Expr) (execer, error)) (execer, *promql.Result, time.Duration, context.CancelFunc, *apiError) {
	timeout, aerr := s.queryTimeout(r)
	if aerr != nil {
		return nil, nil, 0, nil, aerr
	}
	opts, err := extractQueryOpts(r)
	if err != nil {
		return nil, nil, 0, nil, badData(err)
	}
	if s.deps.Engine == nil || s.queryable() == nil {
		return nil, nil, 0, nil, errNoQueryEngine
	}
	expr, err := s.promParser().ParseExpr(qs)
	if err != nil {
		expr = nil
	}
	if aerr := checkSubquerySteps(expr, span); aerr != nil {
		return nil, nil, 0, nil, aerr
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	began := time.Now()
	qry, err := newQuery(ctx, opts, expr)
	if err != nil {
		cancel()
		return nil, nil, 0, nil, queryConstructionError(err)
	}
	result := qry.Exec(ctx)
	return qry, result, time.Since(began), cancel, nil
}

// queryResult turns an executed query into the API answer. The result
// points into buffers the query owns, so the query is closed only after the
// response is written.
func (s *Server) queryResult(r *http.Request, qry execer, result *promql.Result, limit int) apiResult {
	if result.Err != nil {
		qry.Close()
		return apiResult{err: queryError(result.Err), warnings: result.Warnings}
	}
	warnings := result.Warnings
	if limit > 0 && truncateResult(result, limit) {
		warnings.Add(errors.New("results truncated due to limit"))
	}
	statsParam := r.FormValue("stats")
	if warn := statsParamWarning(statsParam); warn != nil {
		warnings.Add(warn)
	}
	data := &queryData{ResultType: result.Value.Type(), Result: result.Value}
	if q, ok := qry.(promql.Query); ok && statsParam != "" {
		data.Stats = stats.NewQueryStats(q.Stats())
	}
	return apiResult{data: data, warnings: warnings, finalizer: qry.Close}
}

// truncateResult keeps the first limit series of a matrix or vector and
// reports whether it dropped any, as Prometheus 3 does for `limit`.
func truncateResult(result *promql.Result, limit int) bool {
	switch v := result.Value.(type) {
	case promql.Matrix:
		if len(v) > limit {
			result.Value = v[:limit]
			return true
		}
	case promql.Vector:
		if len(v) > limit {
			result.Value = v[:limit]
			return true
		}
	}
	return false
}

// statsParamWarning warns about `stats` values other than "true" and "all"
// (any non-empty value still asks for statistics), as Prometheus 3 does.
func statsParamWarning(v string) error {
	switch v {
	case "", "true", "all":
		return nil
	}
	return fmt.Errorf("value %q for parameter \"stats\" is deprecated and will be rejected in the next major release, use %q or %q", v, "true", "all")
}

// queryTimeout is the request's `timeout`, capped by Options.QueryTimeout,
// which is also the default.
func (s *Server) queryTimeout(r *http.Request) (time.Duration, *apiError) {
	timeout := s.opts.QueryTimeout
	v := r.FormValue("timeout")
	if v == "" {
		return timeout, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, invalidParam(err, "timeout")
	}
	if d <= 0 {
		return 0, invalidParam(fmt.Errorf("timeout must be positive, got %s", d), "timeout")
	}
	return min(d, timeout), nil
}

// extractQueryOpts reads `lookback_delta`, `stats=all` and the
// X-Prometheus-Use-Start-Timestamps header.
func extractQueryOpts(r *http.Request) (promql.QueryOpts, error) {
	var lookback time.Duration
	if v := r.FormValue("lookback_delta"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("error parsing lookback delta duration: %w", err)
		}
		lookback = d
	}
	var useStartTimestamps *bool
	if v := r.Header.Get("X-Prometheus-Use-Start-Timestamps"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("error parsing X-Prometheus-Use-Start-Timestamps header: %w", err)
		}
		useStartTimestamps = &b
	}
	return promql.NewPrometheusQueryOpts(r.FormValue("stats") == "all", lookback, useStartTimestamps), nil
}

// maxSubquerySteps bounds the steps one subquery may evaluate. The engine
// allocates bookkeeping for every step of a subquery before it evaluates
// anything and before --query.max-samples applies, so
// max_over_time(up[1y:1ms]) alone would take hundreds of gigabytes and end
// the process (docs/reliability.md). A million steps is 16 MB of it, and
// far more than a dashboard asks: [1d:1s] over a week is 691,200.
const maxSubquerySteps = 1_000_000

// defaultSubqueryStep is the step of a subquery written without one; the
// appliance gives the engine the same default (Prometheus' evaluation
// interval, 1m).
const defaultSubqueryStep = time.Minute

// checkSubquerySteps refuses, with 400, a query expr whose subqueries
// would evaluate more than maxSubquerySteps steps over span (0 for an
// instant query). A subquery is evaluated over the query's span plus its
// own range plus the ranges of the subqueries around it. A nil expr (a
// query that does not parse) passes.
func checkSubquerySteps(expr parser.Expr, span time.Duration) *apiError {
	if expr == nil {
		return nil
	}
	var tooMany error
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		sq, ok := node.(*parser.SubqueryExpr)
		if !ok {
			return nil
		}
		window := span + sq.Range
		for _, p := range path {
			if outer, ok := p.(*parser.SubqueryExpr); ok {
				window += outer.Range
			}
		}
		step := sq.Step
		if step <= 0 {
			step = defaultSubqueryStep
		}
		if steps := window / step; steps > maxSubquerySteps {
			tooMany = fmt.Errorf("the subquery %s would evaluate %d steps, more than the limit of %d; use a coarser subquery step or a shorter range", sq, int64(steps), maxSubquerySteps)
			return tooMany
		}
		return nil
	})
	if tooMany != nil {
		return badData(tooMany)
	}
	return nil
}

// queryConstructionError maps an error of NewInstantQuery/NewRangeQuery:
// running out of time or being canceled while waiting for a query slot
// keep their types; anything else (a syntax error first of all) is a bad
// `query` parameter.
func queryConstructionError(err error) *apiError {
	var (
		ceiling  promql.ErrLimitAboveCeiling
		timeout  promql.ErrQueryTimeout
		canceled promql.ErrQueryCanceled
	)
	switch {
	case errors.As(err, &ceiling):
		return badData(err)
	case errors.As(err, &timeout), errors.As(err, &canceled):
		return queryError(err)
	}
	return invalidParam(err, "query")
}

func (s *Server) logSlowQuery(kind, qs string, start, end time.Time, step, elapsed time.Duration) {
	if s.opts.SlowQueryThreshold <= 0 || elapsed < s.opts.SlowQueryThreshold {
		return
	}
	attrs := []any{"type", kind, "query", qs, "duration", elapsed}
	if kind == "range" {
		attrs = append(attrs, "start", start, "end", end, "range", end.Sub(start), "step", step)
	} else {
		attrs = append(attrs, "time", start)
	}
	s.logger().Warn("slow query", attrs...)
}

// formatQuery pretty-prints a PromQL expression.
func (s *Server) formatQuery(c echo.Context) apiResult {
	expr, err := s.promParser().ParseExpr(c.Request().FormValue("query"))
	if err != nil {
		return errResult(invalidParam(err, "query"))
	}
	return apiResult{data: expr.Pretty(0)}
}

// queryExemplars validates its parameters as Prometheus does and answers
// an empty list: Vigil's store keeps no exemplars.
func (s *Server) queryExemplars(c echo.Context) apiResult {
	r := c.Request()
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	if end.Before(start) {
		return errResult(badData(errors.New("end timestamp must not be before start timestamp")))
	}
	expr, err := s.promParser().ParseExpr(r.FormValue("query"))
	if err != nil {
		return errResult(badData(err))
	}
	if len(parser.ExtractSelectors(expr)) == 0 {
		// Prometheus answers 204 No Content here.
		return apiResult{}
	}
	return apiResult{data: []struct{}{}}
}
