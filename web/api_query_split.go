package web

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// A range query is the same instant query evaluated at every step, and
// the reference engine evaluates the steps one after the other on one
// core. Evaluated as consecutive sub-ranges on their own goroutines, a
// range query uses every core and its answer is the same: a step's value
// depends only on the step's time. Only `@ start()` and `@ end()` refer to
// the whole range, so a query using them is not split.
//
// What a split costs: each part looks its series up, and a compressed
// block that straddles two parts is decoded by both. Below
// minStepsPerPart steps a part's evaluation is too short to pay for that,
// and so is a query that reads fewer than minSplitSamples samples in all:
// the 1-hour rate of a handful of series (some 40,000 samples, about a
// millisecond) took 5-30% longer split.
const (
	minStepsPerPart = 60
	minSplitSamples = 100_000
)

// maxSplitCosts bounds how many queries splitCosts remembers, and
// maxSplitCostQuery the length of a query text it keeps: at most 16 MiB.
const (
	maxSplitCosts     = 4096
	maxSplitCostQuery = 4096
)

// splitCosts remembers, by query text, how many samples a step of a range
// query read the last time it ran. Dashboards and Grafana ask the same
// queries again and again: a query seen before is split only if its steps
// would read minSplitSamples, one not seen yet (or too long to remember)
// whenever its steps allow: a first run of a big query should not take
// twice as long.
type splitCosts struct {
	mu             sync.Mutex
	samplesPerStep map[string]int64
}

// worthSplitting reports whether the range query qs, over steps steps, reads
// enough samples to gain from a split, as far as its last run tells.
func (c *splitCosts) worthSplitting(qs string, steps int) bool {
	c.mu.Lock()
	perStep, seen := c.samplesPerStep[qs]
	c.mu.Unlock()
	return !seen || perStep*int64(steps) >= minSplitSamples
}

// record remembers that the range query qs read samples over steps steps.
func (c *splitCosts) record(qs string, steps int, samples int64) {
	if len(qs) > maxSplitCostQuery {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.samplesPerStep == nil || len(c.samplesPerStep) >= maxSplitCosts {
		c.samplesPerStep = make(map[string]int64)
	}
	c.samplesPerStep[qs] = samples / int64(max(steps, 1))
}

// totalSamples is the number of samples a query read, as the engine counts
// them for `stats`.
func totalSamples(q execer) int64 {
	switch q := q.(type) {
	case promql.Query:
		return q.Stats().Samples.TotalSamples
	case *splitRangeQuery:
		var n int64
		for _, p := range q.parts {
			n += p.Stats().Samples.TotalSamples
		}
		return n
	}
	return 0
}

// execer is what the API needs of a query that it runs: promql.Query's
// Exec and Close. A split range query has no single engine Statistics, so
// a query asked for `stats` is never split.
type execer interface {
	Exec(ctx context.Context) *promql.Result
	Close()
}

// rangeParts is the number of sub-ranges the range query qs, parsed as
// expr (nil if it does not parse), over [start, end] at step is evaluated
// in: one per core, or 1 when splitting would not pay, would change the
// answer, or `stats` are asked for.
func (s *Server) rangeParts(r *http.Request, qs string, expr parser.Expr, start, end time.Time, step time.Duration) int {
	steps := rangeSteps(start, end, step)
	parts := min(runtime.GOMAXPROCS(0), steps/minStepsPerPart)
	if parts < 2 || expr == nil || s.deps.PartEngine == nil || r.FormValue("stats") != "" ||
		refersToRange(expr) || !s.splitCosts.worthSplitting(qs, steps) {
		return 1
	}
	return parts
}

// rangeSteps is the number of steps a range query evaluates.
func rangeSteps(start, end time.Time, step time.Duration) int {
	return int(end.Sub(start)/step) + 1
}

// refersToRange reports whether expr uses `@ start()` or `@ end()`, whose
// time is that of the whole range query.
func refersToRange(expr parser.Expr) bool {
	found := false
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			found = found || n.StartOrEnd != 0
		case *parser.SubqueryExpr:
			found = found || n.StartOrEnd != 0
		}
		return nil
	})
	return found
}

// newSplitRangeQuery builds the parts of the range query qs over [start,
// end] at step: consecutive runs of steps, each part starting one step
// after the previous one ends.
func newSplitRangeQuery(ctx context.Context, ng *promql.Engine, q promstorage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration, parts int) (execer, error) {
	steps := int64(rangeSteps(start, end, step))
	sq := &splitRangeQuery{parts: make([]promql.Query, 0, parts)}
	for i := range int64(parts) {
		first, last := steps*i/int64(parts), steps*(i+1)/int64(parts)-1
		part, err := ng.NewRangeQuery(ctx, q, opts, qs, start.Add(time.Duration(first)*step), start.Add(time.Duration(last)*step), step)
		if err != nil {
			sq.Close()
			return nil, err
		}
		sq.parts = append(sq.parts, part)
	}
	return sq, nil
}

// splitRangeQuery is a range query run as sub-range queries at once.
type splitRangeQuery struct {
	parts []promql.Query
}

// Exec runs the parts, each on its own goroutine, and joins their
// matrices. The first part to fail cancels the others, and its error is
// the query's, not the cancellation it caused.
func (q *splitRangeQuery) Exec(ctx context.Context) *promql.Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]*promql.Result, len(q.parts))
	var (
		wg     sync.WaitGroup
		failed sync.Once
		err    error
	)
	for i, part := range q.parts {
		wg.Go(func() {
			results[i] = part.Exec(ctx)
			if results[i].Err != nil {
				failed.Do(func() {
					err = results[i].Err
					cancel()
				})
			}
		})
	}
	wg.Wait()
	var warnings annotations.Annotations
	for _, r := range results {
		warnings.Merge(r.Warnings)
	}
	if err != nil {
		return &promql.Result{Err: err, Warnings: warnings}
	}
	mat := results[0].Value.(promql.Matrix)
	for _, r := range results[1:] {
		mat = joinMatrices(mat, r.Value.(promql.Matrix))
	}
	return &promql.Result{Value: mat, Warnings: warnings}
}

// joinMatrices joins b, the matrix of the steps that follow a's, to a.
// Both are sorted by labels, as the engine returns a range query's matrix;
// a series in both gets a's points then b's. Series of one side keep
// their point slices, which the part's query owns until it is closed.
func joinMatrices(a, b promql.Matrix) promql.Matrix {
	out := make(promql.Matrix, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := labels.Compare(a[i].Metric, b[j].Metric); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			s := a[i]
			s.Floats = joinPoints(s.Floats, b[j].Floats)
			s.Histograms = joinPoints(s.Histograms, b[j].Histograms)
			out = append(out, s)
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// joinPoints is a's points then b's, in a new slice when both have some.
func joinPoints[P any](a, b []P) []P {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	return append(append(make([]P, 0, len(a)+len(b)), a...), b...)
}

// Close closes every part.
func (q *splitRangeQuery) Close() {
	for _, p := range q.parts {
		p.Close()
	}
}
