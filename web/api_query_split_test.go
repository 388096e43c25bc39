package web

import (
	"bytes"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// parseOrNil parses q as the API does: nil if it does not parse.
func parseOrNil(q string) parser.Expr {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return nil
	}
	return expr
}

// atLeastTwoCores lets a test split range queries on a one-core machine.
func atLeastTwoCores(t *testing.T) {
	prev := runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// TestSplitRangeQueryAnswersAsWhole asks the same range queries of a
// server that splits them across cores and of one that does not, and
// wants the same bytes back: series that live in one part only, counter
// resets, gaps longer than the lookback, subqueries, offsets and `@`.
func TestSplitRangeQueryAnswersAsWhole(t *testing.T) {
	atLeastTwoCores(t)
	st := openStorage(t)
	const n = 2 * 240 // two hours at 15s
	writeSeries(t, st, base, 15*time.Second, n,
		series{[]string{"__name__", "req_total", "code", "200"}, func(i int) float64 { return float64(i%100) * 3 }},
		series{[]string{"__name__", "req_total", "code", "500"}, func(i int) float64 { return float64(i) }},
		series{[]string{"__name__", "temp", "zone", "north"}, func(i int) float64 { return math.Sin(float64(i) / 10) }},
		series{[]string{"__name__", "lat_bucket", "le", "0.1"}, func(i int) float64 { return float64(i) }},
		series{[]string{"__name__", "lat_bucket", "le", "1"}, func(i int) float64 { return float64(3 * i) }},
		series{[]string{"__name__", "lat_bucket", "le", "+Inf"}, func(i int) float64 { return float64(4 * i) }},
	)
	// A series of the first half hour, one of the last hour, one with a
	// 20-minute gap in the middle.
	writeSeries(t, st, base, 15*time.Second, 120,
		series{[]string{"__name__", "temp", "zone", "early"}, func(i int) float64 { return float64(i) }})
	writeSeries(t, st, base.Add(time.Hour), 15*time.Second, 240,
		series{[]string{"__name__", "temp", "zone", "late"}, func(i int) float64 { return float64(-i) }})
	writeSeries(t, st, base, 15*time.Second, 200,
		series{[]string{"__name__", "temp", "zone", "gap"}, func(i int) float64 { return 7 }})
	writeSeries(t, st, base.Add(200*15*time.Second+20*time.Minute), 15*time.Second, 200,
		series{[]string{"__name__", "temp", "zone", "gap"}, func(i int) float64 { return 8 }})

	whole := newTestServer(t, st, Options{}, Deps{})
	split := newTestServer(t, st, Options{}, Deps{PartEngine: func(n int) *promql.Engine { return newEngine(50_000_000 / n) }})
	queries := []string{
		`temp`,
		`rate(req_total[5m])`,
		`sum by (code) (increase(req_total[10m]))`,
		`topk(2, temp)`,
		`histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))`,
		`max_over_time(rate(req_total[1m])[10m:30s])`,
		`temp offset 10m`,
		`temp @ ` + formatUnix(base.Add(30*time.Minute)),
		`timestamp(temp)`,
		`absent(temp{zone="late"})`,
		`count_values("v", temp{zone="gap"})`,
		`time() - 1`,
		`temp @ start()`,
		`label_replace(temp, "z", "$1", "zone", "(.*)")`,
	}
	for _, step := range []string{"15", "7", "60"} {
		for _, q := range queries {
			form := url.Values{"query": {q}, "start": {formatUnix(base.Add(-time.Minute))}, "end": {formatUnix(base.Add(2 * time.Hour))}, "step": {step}}
			want := post(t, whole, "/api/v1/query_range", form)
			// Forget the costs of earlier runs: these series are too few
			// for a query seen before to be split.
			split.splitCosts = splitCosts{}
			got := post(t, split, "/api/v1/query_range", form)
			if want.code != http.StatusOK {
				t.Fatalf("%s step %s: %d %s", q, step, want.code, want.body)
			}
			if !bytes.Equal(got.body, want.body) {
				t.Errorf("%s step %s: split answered\n%.500s\nwhole answered\n%.500s", q, step, got.body, want.body)
			}
		}
	}
	r := &http.Request{Form: url.Values{}}
	split.splitCosts = splitCosts{}
	if parts := split.rangeParts(r, `temp`, parseOrNil(`temp`), base, base.Add(2*time.Hour), 15*time.Second); parts < 2 {
		t.Errorf("a 481-step query not seen before is evaluated in %d part(s), want 2 or more", parts)
	}
	post(t, split, "/api/v1/query_range", url.Values{"query": {`temp`}, "start": {formatUnix(base)}, "end": {formatUnix(base.Add(2 * time.Hour))}, "step": {"15"}})
	if parts := split.rangeParts(r, `temp`, parseOrNil(`temp`), base, base.Add(2*time.Hour), 15*time.Second); parts != 1 {
		t.Errorf("once it ran, the same query over 5 series is evaluated in %d parts, want 1", parts)
	}
}

// TestSplitCosts checks what the memo of query costs decides.
func TestSplitCosts(t *testing.T) {
	var c splitCosts
	if !c.worthSplitting("q", 241) {
		t.Error("a query not seen yet is not split")
	}
	c.record("q", 241, 241*20*8) // the 1-hour rate of 8 series
	if c.worthSplitting("q", 241) {
		t.Error("a query of 38,560 samples is split")
	}
	if !c.worthSplitting("q", 241*10) {
		t.Error("the same query over ten times the steps is not split")
	}
	c.record("big", 241, 241*20*1000)
	if !c.worthSplitting("big", 241) {
		t.Error("a query of 4.8 million samples is not split")
	}
	long := strings.Repeat("x", maxSplitCostQuery+1)
	c.record(long, 241, 1)
	if !c.worthSplitting(long, 241) {
		t.Error("a query too long to remember is not split")
	}
	for i := range maxSplitCosts {
		c.record(strconv.Itoa(i), 1, 1)
	}
	if n := len(c.samplesPerStep); n > maxSplitCosts {
		t.Errorf("the memo holds %d queries, more than %d", n, maxSplitCosts)
	}
}

// TestRangeParts checks when a range query is not split.
func TestRangeParts(t *testing.T) {
	atLeastTwoCores(t)
	s := newTestServer(t, openStorage(t), Options{}, Deps{PartEngine: newEngine})
	hour := base.Add(time.Hour)
	tests := []struct {
		name  string
		query string
		end   time.Time
		stats string
		want  int
	}{
		{"an hour at 15s", `up`, hour, "", 2},
		{"too few steps for two parts", `up`, base.Add((2*minStepsPerPart - 2) * 15 * time.Second), "", 1},
		{"@ start()", `up @ start()`, hour, "", 1},
		{"@ end() in a subquery", `max_over_time(up[5m:1m] @ end())`, hour, "", 1},
		{"statistics asked for", `up`, hour, "all", 1},
		{"not PromQL", `up{`, hour, "", 1},
	}
	for _, tt := range tests {
		r := &http.Request{Form: url.Values{"stats": {tt.stats}}}
		if tt.stats == "" {
			r.Form = url.Values{}
		}
		if got := min(s.rangeParts(r, tt.query, parseOrNil(tt.query), base, tt.end, 15*time.Second), 2); got != tt.want {
			t.Errorf("%s: %d parts, want %d", tt.name, got, tt.want)
		}
	}
	noParts := newTestServer(t, openStorage(t), Options{}, Deps{})
	if got := noParts.rangeParts(&http.Request{Form: url.Values{}}, `up`, parseOrNil(`up`), base, hour, 15*time.Second); got != 1 {
		t.Errorf("without a PartEngine: %d parts, want 1", got)
	}
}

// TestJoinMatrices joins the matrices of consecutive parts.
func TestJoinMatrices(t *testing.T) {
	fp := func(ts ...int64) []promql.FPoint {
		var ps []promql.FPoint
		for _, t := range ts {
			ps = append(ps, promql.FPoint{T: t, F: float64(t)})
		}
		return ps
	}
	h := &histogram.FloatHistogram{Count: 1}
	a := promql.Matrix{
		{Metric: labels.FromStrings("s", "a"), Floats: fp(1, 2)},
		{Metric: labels.FromStrings("s", "b"), Floats: fp(1), Histograms: []promql.HPoint{{T: 2, H: h}}},
	}
	b := promql.Matrix{
		{Metric: labels.FromStrings("s", "b"), Floats: fp(3), Histograms: []promql.HPoint{{T: 4, H: h}}},
		{Metric: labels.FromStrings("s", "c"), Floats: fp(3, 4)},
	}
	got := joinMatrices(a, b)
	want := []struct {
		s      string
		floats []promql.FPoint
		hists  int
	}{{"a", fp(1, 2), 0}, {"b", fp(1, 3), 2}, {"c", fp(3, 4), 0}}
	if len(got) != len(want) {
		t.Fatalf("%d series, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		s := got[i]
		if s.Metric.Get("s") != w.s || len(s.Floats) != len(w.floats) || len(s.Histograms) != w.hists {
			t.Errorf("series %d: %v, want s=%s with %v and %d histograms", i, s, w.s, w.floats, w.hists)
			continue
		}
		for j := range s.Floats {
			if s.Floats[j] != w.floats[j] {
				t.Errorf("series %s: points %v, want %v", w.s, s.Floats, w.floats)
				break
			}
		}
	}
	if got[1].Histograms[0].T != 2 || got[1].Histograms[1].T != 4 {
		t.Errorf("histograms of s=b at %d and %d, want 2 and 4", got[1].Histograms[0].T, got[1].Histograms[1].T)
	}
}
