// Package conformance runs Prometheus' own PromQL acceptance scripts
// (promql/promqltest/testdata/*.test of the Prometheus module in go.mod)
// through Vigil: the samples go into a real Vigil store through
// storage.Rows, and every eval is asked through Vigil's Prometheus HTTP API
// (web.New behind httptest on 127.0.0.1) with plain GET requests. The answers
// are judged the way promqltest judges the reference engine on Prometheus'
// TSDB: the same float tolerance (relative 1e-6), order only for ordered
// evals, expected failures and messages, warn and info annotations, the
// @-modifier re-runs of instant queries and their range-mode cross-check.
//
// Out of scope, skipped and counted apart (decided by parsing the case and
// the data it selects, never by a list of lines): native histograms
// (Vigil's store holds floats only), and experimental PromQL features —
// functions marked Experimental in parser.Functions, experimental
// aggregations (limitk, limit_ratio), binop fill modifiers, unquoted UTF-8
// names, start timestamps, type-and-unit labels, and results that depend on
// delayed name removal. Duration expressions and extended range selectors
// (anchored, smoothed) are always on in this Prometheus release, so they
// are in scope.
//
// Known differences of the store, which explain failures rather than skip
// cases:
//   - storage: -0 is stored as 0, and values of very different magnitude
//     in one series lose precision: a block keeps int64 decimal mantissas
//     under one exponent, about 18 significant digits for the largest value.
//   - Timestamps: VictoriaMetrics drops every sample before 1970-01-02
//     (its first day marks the global index), and the scripts live at Unix
//     time 0. The harness therefore shifts every script by one day; see
//     shift_test.go for how queries that read the absolute time are
//     rewritten. The @-modifier re-runs of promqltest evaluate instant
//     queries at -10×t, so negative query times do reach the API; the
//     report counts them.
//
// Engine options are promqltest.NewTestEngine's, so that the expected
// results hold as written. Environment switches:
//   - VIGIL_CONFORMANCE_MODE=engine asks the engine in-process over Vigil's
//     store instead of the API; =reference asks it over memStore, an exact
//     in-memory store, which tells harness faults from store differences
//     (every case in scope passes there).
//   - VIGIL_CONFORMANCE_REPORT=FILE also writes the report to FILE.
//   - VIGIL_CONFORMANCE_LIST_SKIPPED=1 lists every skipped case and why.
//
// The test fails when fewer than 97% of the cases in scope pass.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/web"
)

// goalPassRate is the share of in-scope cases that must pass.
const goalPassRate = 0.97

const prometheusModule = "github.com/prometheus/prometheus"

func TestPromQLConformance(t *testing.T) {
	dir, version := promqltestData(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.test"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promqltest scripts in %s (err %v)", dir, err)
	}
	mode := os.Getenv("VIGIL_CONFORMANCE_MODE")
	switch mode {
	case "":
		mode = "http"
	case "http", "engine", "reference":
	default:
		t.Fatalf("VIGIL_CONFORMANCE_MODE=%q: want http, engine or reference", mode)
	}
	engine := newTestEngine()
	t.Cleanup(func() { _ = engine.Close() })

	began := time.Now()
	results := make([][]caseResult, len(files))
	t.Run("files", func(t *testing.T) {
		for i, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				t.Parallel()
				results[i] = runFile(t, f, mode, engine)
			})
		}
	})
	rep := summarize(files, results, os.Getenv("VIGIL_CONFORMANCE_LIST_SKIPPED") != "")
	header := fmt.Sprintf("PromQL conformance of Vigil (%s mode) against %s@%s promqltest scripts, %s\n",
		mode, prometheusModule, version, time.Since(began).Round(100*time.Millisecond))
	text := header + rep.text
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		t.Log(l)
	}
	if path := os.Getenv("VIGIL_CONFORMANCE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Errorf("cannot write the report: %v", err)
		}
	}
	if rep.passed+rep.failed == 0 {
		t.Fatal("no case in scope ran")
	}
	if rate := rep.rate(); rate < goalPassRate {
		t.Errorf("pass rate %.2f%% (%d of %d cases in scope) is below the goal of %.0f%%; the failing cases are listed above",
			100*rate, rep.passed, rep.passed+rep.failed, 100*goalPassRate)
	}
}

// promqltestData finds the scripts of the Prometheus module that go.mod
// requires, in the module cache.
func promqltestData(t *testing.T) (dir, version string) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", prometheusModule).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("cannot locate %s in the module cache (run go mod download): %v", prometheusModule, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] == "" {
		t.Fatalf("go list -m %s printed %q; is the module downloaded?", prometheusModule, out)
	}
	return filepath.Join(f[0], "promql", "promqltest", "testdata"), f[1]
}

// newTestEngine is promqltest.NewTestEngine(t, false, 0,
// DefaultMaxSamplesPerQuery), the engine of Prometheus' own run of these
// scripts.
func newTestEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:               10000,
		Timeout:                  100 * time.Second,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnableDelayedNameRemoval: true,
		UseStartTimestamps:       true,
		Parser:                   permissiveParser,
	})
}

type outcome int

const (
	passed outcome = iota
	failed
	skipped
)

type caseResult struct {
	ev      *evalCmd
	outcome outcome
	// class sums up the skip reason or the failure cause; detail says more.
	class, detail string
	failure       *caseFailure
	// negativeTime is set when a query went to the API with a time before
	// 1970-01-01.
	negativeTime bool
	// rewritten is set when the script's query reads the absolute time and
	// was rewritten for the time shift (the @ re-runs always are).
	rewritten bool
}

// caseFailure is the first query of a case that did not give the expected
// answer.
type caseFailure struct {
	query string // as written in the script or made by the @ re-runs, unshifted
	how   string // e.g. "instant at 10s", "range 0s to 1m step 10s"
	got   string
	err   error
}

// segment is the store and server for the data loaded since the last
// clear. Like promqltest's storage, it outlives load blocks: they add up.
type segment struct {
	t    *testing.T
	dir  string
	st   *storage.Storage
	mem  *memStore // instead of st in reference mode
	srv  *httptest.Server
	run  runner
	data *dataset
	neg  bool // a query of the current case had a negative time
}

func openSegment(t *testing.T, mode string, engine *promql.Engine) *segment {
	if mode == "reference" {
		mem := newMemStore()
		return &segment{t: t, mem: mem, data: newDataset(), run: &engineRunner{engine: engine, st: mem}}
	}
	dir := t.TempDir()
	st, err := storage.Open(dir, storage.Options{Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("cannot open the store: %v", err)
	}
	s := &segment{t: t, dir: dir, st: st, data: newDataset()}
	if mode == "engine" {
		s.run = &engineRunner{engine: engine, st: st}
		return s
	}
	s.srv = httptest.NewServer(web.New(web.Options{}, web.Deps{Storage: st, Engine: engine, Parser: permissiveParser}))
	s.run = &httpRunner{client: s.srv.Client(), base: s.srv.URL}
	return s
}

func (s *segment) close() {
	if s == nil {
		return
	}
	if s.srv != nil {
		s.srv.Close()
	}
	if s.st == nil {
		return
	}
	if err := s.st.Close(); err != nil {
		s.t.Errorf("closing the store: %v", err)
	}
	// The scripts clear about 280 times; keep the disk that takes small.
	_ = os.RemoveAll(s.dir)
}

func runFile(t *testing.T, path, mode string, engine *promql.Engine) []caseResult {
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseScript(filepath.Base(path), string(content))
	if err != nil {
		t.Fatalf("cannot parse the script: %v", err)
	}
	var (
		seg     *segment
		results []caseResult
	)
	defer func() { seg.close() }()
	for _, cmd := range sc.cmds {
		switch c := cmd.(type) {
		case *clearCmd:
			seg.close()
			seg = nil
		case *loadCmd:
			if seg == nil {
				seg = openSegment(t, mode, engine)
			}
			seg.load(c)
		case *evalCmd:
			if seg == nil {
				seg = openSegment(t, mode, engine)
			}
			results = append(results, seg.eval(c))
		}
	}
	return results
}

func (s *segment) load(cmd *loadCmd) {
	s.data.note(cmd)
	if s.mem != nil {
		for _, ls := range cmd.series {
			for _, smp := range ls.samples {
				if !smp.Hist {
					s.mem.add(ls.metric, smp.T+shiftMillis, smp.F)
				}
			}
		}
		return
	}
	var rows storage.Rows
	for _, ls := range cmd.series {
		var lbls []storage.Label
		ls.metric.Range(func(l labels.Label) {
			lbls = append(lbls, storage.Label{Name: l.Name, Value: l.Value})
		})
		samples := make([]storage.Sample, 0, len(ls.samples))
		for _, smp := range ls.samples {
			if !smp.Hist {
				samples = append(samples, storage.Sample{Timestamp: smp.T + shiftMillis, Value: smp.F})
			}
		}
		if err := rows.AddSeries(lbls, samples); err != nil {
			s.data.facts(ls.metric).rejected = err
		}
	}
	if err := s.st.Append(&rows); err != nil {
		s.t.Fatalf("load at line %d: %v", cmd.line, err)
	}
	s.st.ForceFlush()
}

func (s *segment) eval(ev *evalCmd) caseResult {
	r := caseResult{ev: ev}
	if class, detail := skipReason(ev, s.data); class != "" {
		r.outcome, r.class, r.detail = skipped, class, detail
		return r
	}
	s.neg = false
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var f *caseFailure
	if ev.isRange {
		f = s.execRange(ctx, ev)
	} else {
		f = s.execInstant(ctx, ev)
	}
	r.negativeTime = s.neg
	if q, err := shiftExpr(ev.expr); err == nil {
		r.rewritten = q.rewritten()
	}
	if f == nil {
		r.outcome = passed
		return r
	}
	r.outcome, r.failure = failed, f
	r.class = s.failureClass(ev, f)
	return r
}

// failureClass attributes a failure to the web API, to a known storage
// difference, or leaves it unclassified for a person to look at.
func (s *segment) failureClass(ev *evalCmd, f *caseFailure) string {
	if isWebError(f.err) {
		return "web: " + webErrorClass(f.err)
	}
	expr, err := permissiveParser.ParseExpr(ev.expr)
	if err != nil {
		return "harness: " + err.Error()
	}
	var he *harnessError
	if errors.As(f.err, &he) {
		return "harness: " + he.Error()
	}
	if c := storageCause(s.data.selected(expr)); c != "" {
		return c
	}
	return "unclassified"
}

var patDigits = regexp.MustCompile(`[0-9]+`)

// webErrorClass shortens a web error into a class: the first clause,
// numbers masked.
func webErrorClass(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ";"); i > 0 {
		msg = msg[:i]
	}
	return patDigits.ReplaceAllString(msg, "N")
}

// harnessError is a failure of the harness itself, not of Vigil.
type harnessError struct{ err error }

func (e *harnessError) Error() string { return e.err.Error() }

func (s *segment) noteTime(ts time.Time) {
	if ts.Before(time.Unix(0, 0)) {
		s.neg = true
	}
}

func (s *segment) execRange(ctx context.Context, ev *evalCmd) *caseFailure {
	how := ev.how()
	fail := func(got string, err error) *caseFailure {
		return &caseFailure{query: ev.expr, how: how, got: got, err: err}
	}
	q, err := shiftExpr(ev.expr)
	if err != nil {
		return fail("", &harnessError{err})
	}
	start, end := ev.start.Add(shiftDur), ev.end.Add(shiftDur)
	s.noteTime(start)
	res, err := s.run.rangeQuery(ctx, q.text, start, end, ev.step)
	if err != nil {
		return s.queryFailed(ev, err, fail)
	}
	if ev.isFail() {
		return fail(res.format(), errors.New("expected an error but got none"))
	}
	res.unshift(q)
	if err := ev.checkAnnotations(res); err != nil {
		return fail(res.format(), err)
	}
	if err := ev.compareResult(res); err != nil {
		return fail(res.format(), err)
	}
	return nil
}

// queryFailed judges a query that answered with an error.
func (s *segment) queryFailed(ev *evalCmd, err error, fail func(string, error) *caseFailure) *caseFailure {
	if isWebError(err) {
		return fail("", err)
	}
	if ev.isFail() {
		if err := ev.checkExpectedFailure(err); err != nil {
			return fail("error: "+err.Error(), err)
		}
		return nil
	}
	return fail("error: "+err.Error(), fmt.Errorf("unexpected error: %w", err))
}

// reQueryContextFuncs are the functions whose value depends on the query
// range, for which promqltest skips the range-mode cross-check.
var reQueryContextFuncs = regexp.MustCompile(`(start|end|range|step)\(\)`)

type instantQuery struct {
	expr string
	at   time.Time
}

func (s *segment) execInstant(ctx context.Context, ev *evalCmd) *caseFailure {
	variants, err := atModifierVariants(ev.expr, ev.eval)
	if err != nil {
		return &caseFailure{query: ev.expr, how: "instant at " + offsetString(ev.eval), err: &harnessError{err}}
	}
	for _, iq := range append([]instantQuery{{expr: ev.expr, at: ev.eval}}, variants...) {
		if f := s.runInstant(ctx, ev, iq); f != nil {
			return f
		}
	}
	return nil
}

func (s *segment) runInstant(ctx context.Context, ev *evalCmd, iq instantQuery) *caseFailure {
	how := "instant at " + offsetString(iq.at)
	fail := func(got string, err error) *caseFailure {
		return &caseFailure{query: iq.expr, how: how, got: got, err: err}
	}
	q, err := shiftExpr(iq.expr)
	if err != nil {
		return fail("", &harnessError{err})
	}
	at := iq.at.Add(shiftDur)
	s.noteTime(at)
	res, err := s.run.instant(ctx, q.text, at)
	if err != nil {
		return s.queryFailed(ev, err, fail)
	}
	if ev.isFail() {
		return fail(res.format(), errors.New("expected an error but got none"))
	}
	res.unshift(q)
	if err := ev.checkAnnotations(res); err != nil {
		return fail(res.format(), err)
	}
	if err := ev.compareResult(res); err != nil {
		return fail(res.format(), err)
	}
	if ev.excludeFromRangeQuery || reQueryContextFuncs.MatchString(iq.expr) {
		return nil
	}

	// The same query in range mode must give the same value at the middle
	// step.
	how = fmt.Sprintf("range from %s to %s step 1m (cross-check of the instant query)", offsetString(iq.at.Add(-time.Minute)), offsetString(iq.at.Add(time.Minute)))
	s.noteTime(at.Add(-time.Minute))
	rres, err := s.run.rangeQuery(ctx, q.text, at.Add(-time.Minute), at.Add(time.Minute), time.Minute)
	if err != nil {
		if isWebError(err) {
			return fail("", err)
		}
		return fail("error: "+err.Error(), fmt.Errorf("error in range mode: %w", err))
	}
	if ev.isOrdered() {
		return nil
	}
	rres.unshift(q)
	if rres.kind != parser.ValueTypeMatrix {
		return fail(rres.format(), fmt.Errorf("range query returned a %s, want a matrix", rres.kind))
	}
	if err := assertSorted(rres.series); err != nil {
		return fail(rres.format(), err)
	}
	vec := &queryResult{kind: parser.ValueTypeVector}
	for _, sr := range rres.series {
		for _, p := range sr.floats {
			if p.T == iq.at.UnixMilli() {
				vec.series = append(vec.series, resultSeries{metric: sr.metric, floats: []promql.FPoint{p}})
				break
			}
		}
		if slices.Contains(sr.hists, iq.at.UnixMilli()) {
			vec.series = append(vec.series, resultSeries{metric: sr.metric, hists: []int64{iq.at.UnixMilli()}})
		}
	}
	if res.kind == parser.ValueTypeScalar {
		if len(vec.series) == 0 || len(vec.series[0].floats) == 0 {
			return fail(rres.format(), errors.New("range mode returned no value for a scalar"))
		}
		vec = &queryResult{kind: parser.ValueTypeScalar, scalar: vec.series[0].floats[0]}
	}
	if err := ev.compareResult(vec); err != nil {
		return fail(rres.format(), fmt.Errorf("range mode: %w", err))
	}
	return nil
}

// atModifierVariants restates promqltest's atModifierTestCases: the query
// with @ <eval time> on every selector outside subqueries that have one,
// evaluated at other times, which must not change the result.
func atModifierVariants(exprStr string, evalTime time.Time) ([]instantQuery, error) {
	expr, err := permissiveParser.ParseExpr(exprStr)
	if err != nil {
		return nil, err
	}
	ts := timestamp.FromTime(evalTime)
	unsafe := false
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		for _, n := range path {
			if sq, ok := n.(*parser.SubqueryExpr); ok && sq.Timestamp != nil {
				return nil
			}
		}
		switch n := node.(type) {
		case *parser.VectorSelector:
			if n.Timestamp == nil {
				n.Timestamp = &ts
			}
		case *parser.MatrixSelector:
			if vs := n.VectorSelector.(*parser.VectorSelector); vs.Timestamp == nil {
				vs.Timestamp = &ts
			}
		case *parser.SubqueryExpr:
			if n.Timestamp == nil {
				n.Timestamp = &ts
			}
		case *parser.Call:
			_, ok := promql.AtModifierUnsafeFunctions[n.Func.Name]
			unsafe = unsafe || ok
		}
		return nil
	})
	if unsafe {
		return nil, nil
	}
	s := expr.String()
	times := []int64{-10 * ts, 0, ts / 5, ts, 10 * ts}
	if ts == 0 {
		times = []int64{-1000, -ts, 1000}
	}
	out := make([]instantQuery, 0, len(times))
	for _, et := range times {
		out = append(out, instantQuery{expr: s, at: timestamp.Time(et)})
	}
	return out, nil
}

// offsetString prints a script time as the script writes it.
func offsetString(t time.Time) string {
	d := t.Sub(testStartTime)
	if d%time.Second == 0 {
		return d.String()
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

type report struct {
	passed, failed, skipped int
	text                    string
}

func (r report) rate() float64 { return float64(r.passed) / float64(r.passed+r.failed) }

func summarize(files []string, results [][]caseResult, listSkipped bool) report {
	var (
		rep        report
		b          strings.Builder
		skipBy     = map[string]int{}
		failBy     = map[string]int{}
		failures   []caseResult
		skips      []caseResult
		negCases   int
		negFailing int
		rewCases   int
		rewFailing int
	)
	fmt.Fprintf(&b, "%-28s %6s %7s %7s %8s\n", "file", "cases", "passed", "failed", "skipped")
	for i, f := range files {
		var p, fl, sk int
		for _, r := range results[i] {
			switch r.outcome {
			case passed:
				p++
			case failed:
				fl++
				failBy[r.class]++
				failures = append(failures, r)
			case skipped:
				sk++
				skipBy[r.class]++
				skips = append(skips, r)
			}
			if r.negativeTime {
				negCases++
				if r.outcome == failed {
					negFailing++
				}
			}
			if r.rewritten {
				rewCases++
				if r.outcome == failed {
					rewFailing++
				}
			}
		}
		fmt.Fprintf(&b, "%-28s %6d %7d %7d %8d\n", filepath.Base(f), p+fl+sk, p, fl, sk)
		rep.passed += p
		rep.failed += fl
		rep.skipped += sk
	}
	total := rep.passed + rep.failed + rep.skipped
	fmt.Fprintf(&b, "%-28s %6d %7d %7d %8d\n", "total", total, rep.passed, rep.failed, rep.skipped)
	if rep.passed+rep.failed > 0 {
		fmt.Fprintf(&b, "pass rate: %.2f%% of %d cases in scope (goal %.0f%%)\n", 100*rep.rate(), rep.passed+rep.failed, 100*goalPassRate)
	}
	fmt.Fprintf(&b, "time shift: %s; cases whose query reads the absolute time and was rewritten for it: %d, failing: %d\n", shiftDur, rewCases, rewFailing)
	fmt.Fprintf(&b, "cases whose queries reached the API with negative timestamps (the @ re-runs at -10×t): %d, failing: %d\n", negCases, negFailing)
	writeCounts(&b, "skipped, by reason:", skipBy)
	writeCounts(&b, "failed, by cause:", failBy)
	if len(failures) > 0 {
		fmt.Fprintf(&b, "failing cases:\n")
	}
	for _, r := range failures {
		ev := r.ev
		fmt.Fprintf(&b, "- %s:%d %s\n", ev.file, ev.line, evalLine(ev))
		if r.failure.query != ev.expr || r.failure.how != ev.how() {
			fmt.Fprintf(&b, "    asked:    %s %s\n", r.failure.how, r.failure.query)
		}
		fmt.Fprintf(&b, "    expected: %s\n", ev.formatExpected())
		if r.failure.got != "" {
			fmt.Fprintf(&b, "    got:      %s\n", r.failure.got)
		}
		fmt.Fprintf(&b, "    reason:   %v\n", r.failure.err)
		fmt.Fprintf(&b, "    cause:    %s\n", r.class)
	}
	if listSkipped {
		fmt.Fprintf(&b, "skipped cases:\n")
		for _, r := range skips {
			fmt.Fprintf(&b, "- %s:%d %s\n    %s: %s\n", r.ev.file, r.ev.line, evalLine(r.ev), r.class, r.detail)
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped\n", rep.passed, rep.failed, rep.skipped)
	rep.text = b.String()
	return rep
}

func evalLine(ev *evalCmd) string { return "eval " + ev.how() + " " + ev.expr }

// how says how the case asks its query, as the script does.
func (ev *evalCmd) how() string {
	if ev.isRange {
		return fmt.Sprintf("range from %s to %s step %s", offsetString(ev.start), offsetString(ev.end), ev.step)
	}
	return "instant at " + offsetString(ev.eval)
}

func writeCounts(b *strings.Builder, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	fmt.Fprintln(b, title)
	for _, k := range keys {
		fmt.Fprintf(b, "  %5d  %s\n", m[k], k)
	}
}
