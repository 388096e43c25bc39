package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// The fuzzers of the query parameters: the parsers of api_params.go one by
// one, then the query and look-up endpoints through the real handler. The
// contract: never panic; a value is either refused with an error that
// names it, or read into something that holds its invariants; an endpoint
// answers 200, 400, 422 or 503 with Prometheus' JSON envelope. Seed inputs
// are under testdata/fuzz/<FuzzName>/ besides the f.Add calls; run one with
//
//	go test ./web -run '^$' -fuzz '^FuzzParseTime$' -fuzztime 60s

// FuzzParseTime checks parseTime (time, start, end): Unix seconds are
// rounded to the millisecond, RFC 3339 times survive formatting and parsing
// again, and errors quote the value.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"0", "1712345678", "1712345678.123", "-1.0005", "1e9", "0x1p30", "NaN", "-Inf",
		"2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123456789+02:00", minTimeFormatted, maxTimeFormatted, "", "yesterday"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("parseTime(%q): error %q does not quote the value", s, err)
			}
			return
		}
		if v, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			// Within ±10^12 s (31,700 years) the time is exact to the
			// millisecond; beyond, as in Prometheus, it is whatever
			// int64 conversion makes of the float.
			if math.Abs(v) < 1e12 {
				if got.Nanosecond()%int(time.Millisecond) != 0 {
					t.Fatalf("parseTime(%q) = %s: not rounded to the millisecond", s, got.Format(time.RFC3339Nano))
				}
				if want := math.Round(v * 1000); math.Abs(float64(got.UnixMilli())-want) > 1 {
					t.Fatalf("parseTime(%q) = %d ms, want %.0f ms", s, got.UnixMilli(), want)
				}
			}
			return
		}
		if got.Year() < 0 || got.Year() > 9999 {
			return // only the two boundary times are formatted beyond
		}
		again, err := parseTime(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("parseTime(%q) = %s, which parses back as %s, %v", s, got.Format(time.RFC3339Nano), again, err)
		}
	})
}

// FuzzParseDuration checks parseDuration (step, timeout, lookback_delta):
// float seconds are refused rather than overflowing, and a non-negative
// duration survives Prometheus' formatting and parsing again to the
// millisecond.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15", "0.5", "-15", "1e-9", "9.3e9", "9223372036.854775807", "NaN", "+Inf",
		"5m", "1h30m", "1y2w3d4h5m6s7ms", "0s", "292y", "300y", "", "often"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("parseDuration(%q): error %q does not quote the value", s, err)
			}
			return
		}
		if v, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("parseDuration(%q) = %s, want an error", s, d)
			}
			if (v < 0) != (d < 0) && d != 0 {
				t.Fatalf("parseDuration(%q) = %s: the sign changed", s, d)
			}
		} else if d < 0 {
			t.Fatalf("parseDuration(%q) = %s: a Prometheus duration is never negative", s, d)
		}
		if d < 0 {
			return
		}
		text := model.Duration(d).String()
		again, err := parseDuration(text)
		if err != nil || again != d.Truncate(time.Millisecond) {
			t.Fatalf("parseDuration(%q) = %s, formatted %q, parses back as %s, %v", s, d, text, again, err)
		}
	})
}

// FuzzParseLimitParam checks parseLimitParam and the storage hint made of
// it.
func FuzzParseLimitParam(f *testing.F) {
	for _, s := range []string{"", "0", "1", "-1", "+5", "007", strconv.Itoa(math.MaxInt), "9223372036854775808", "1e3", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		limit, err := parseLimitParam(s)
		if err != nil {
			return
		}
		if limit < 0 {
			t.Fatalf("parseLimitParam(%q) = %d", s, limit)
		}
		if s == "" && limit != 0 {
			t.Fatalf("parseLimitParam(\"\") = %d, want 0 (no limit)", limit)
		}
		hint := toHintLimit(limit)
		if hint < limit || hint > limit+1 && limit != math.MaxInt {
			t.Fatalf("toHintLimit(%d) = %d", limit, hint)
		}
		if limit > 0 && limit < math.MaxInt && hint != limit+1 {
			t.Fatalf("toHintLimit(%d) = %d, want one more to detect truncation", limit, hint)
		}
	})
}

// FuzzParseMatchersParam checks match[] with one or two values (b empty:
// one): every set accepted has a matcher that does not match the empty
// string, and the matchers, printed, parse back to the same.
func FuzzParseMatchersParam(f *testing.F) {
	for _, seed := range [][2]string{
		{`up`, ``},
		{`{job="api"}`, `http_requests_total{method=~"GET|POST",code!="500"}`},
		{`{job=~".*"}`, ``},
		{`{job=~".+",instance!~"a.*"}`, ``},
		{`{"my.metric","label.x"="v"}`, `{__name__="odd","foo.bar"="x"}`},
		{`{__name__=~"up|http_.*"}`, `{job=""}`},
		{`up{`, ``},
		{`sum(up)`, ``},
		{`{a="\u2028\x00"}`, ``},
	} {
		f.Add(seed[0], seed[1])
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, a, b string) {
		values := []string{a}
		if b != "" {
			values = append(values, b)
		}
		sets, err := s.parseMatchersParam(values)
		if err != nil {
			return
		}
		if len(sets) != len(values) {
			t.Fatalf("%q: %d matcher sets", values, len(sets))
		}
		for i, ms := range sets {
			nonEmpty := false
			printed := make([]string, 0, len(ms))
			for _, m := range ms {
				nonEmpty = nonEmpty || !m.Matches("")
				printed = append(printed, m.String())
			}
			if !nonEmpty {
				t.Fatalf("%q: set %d %s matches the empty string in every matcher", values, i, printed)
			}
			text := "{" + strings.Join(printed, ",") + "}"
			again, err := s.parseMatchersParam([]string{text})
			if err != nil {
				t.Fatalf("%q: set %d printed as %s does not parse again: %v", values[i], i, text, err)
			}
			if !sameMatchers(ms, again[0]) {
				t.Fatalf("%q: set %d printed as %s parses back as %s", values[i], i, text, again[0])
			}
		}
	})
}

func sameMatchers(a, b []*labels.Matcher) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// FuzzQueryOptions checks `timeout`, `lookback_delta` and the
// X-Prometheus-Use-Start-Timestamps header as the query endpoints read
// them.
func FuzzQueryOptions(f *testing.F) {
	for _, seed := range [][3]string{
		{"", "", ""}, {"30s", "1m", "true"}, {"5", "0.5", "false"}, {"0", "-1m", "1"}, {"-1", "NaN", "maybe"},
		{"1e-10", "9.3e9", "T"}, {"3m", "1y", ""}, {"soon", "x", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	const maxTimeout = time.Minute
	s := &Server{opts: Options{QueryTimeout: maxTimeout}}
	f.Fuzz(func(t *testing.T, timeout, lookback, header string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/query?"+url.Values{"timeout": {timeout}, "lookback_delta": {lookback}}.Encode(), nil)
		if header != "" {
			r.Header.Set("X-Prometheus-Use-Start-Timestamps", header)
		}
		d, aerr := s.queryTimeout(r)
		switch {
		case aerr != nil:
			if aerr.status() != http.StatusBadRequest || !strings.Contains(aerr.Error(), `"timeout"`) {
				t.Fatalf("timeout=%q: error %v (%d) does not name the parameter with a 400", timeout, aerr, aerr.status())
			}
		case d <= 0 || d > maxTimeout:
			t.Fatalf("timeout=%q: %s, want within (0, %s]", timeout, d, maxTimeout)
		case timeout == "" && d != maxTimeout:
			t.Fatalf("no timeout: %s, want the default %s", d, maxTimeout)
		}
		opts, err := extractQueryOpts(r)
		if err != nil {
			if !strings.Contains(err.Error(), "lookback delta") && !strings.Contains(err.Error(), "X-Prometheus-Use-Start-Timestamps") {
				t.Fatalf("lookback_delta=%q, header %q: error %v names neither", lookback, header, err)
			}
			return
		}
		want := time.Duration(0)
		if lookback != "" {
			if want, err = parseDuration(lookback); err != nil {
				t.Fatalf("lookback_delta=%q accepted although parseDuration refuses it: %v", lookback, err)
			}
		}
		if opts.LookbackDelta() != want {
			t.Fatalf("lookback_delta=%q: %s, want %s", lookback, opts.LookbackDelta(), want)
		}
	})
}

// The endpoints FuzzQueryEndpoints chooses from; label values takes its
// name from the input.
var fuzzEndpoints = []string{"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/label/%s/values"}

// FuzzQueryEndpoints serves requests with fuzzed form values through the
// real handler over the test fixture: the answer is 200 with a success
// envelope, or 400, 422 or 503 with an error envelope whose type matches
// the status; a result holds at most `limit` entries.
func FuzzQueryEndpoints(f *testing.F) {
	type in struct {
		endpoint                                                                             uint8
		post                                                                                 bool
		query, time, start, end, step, limit, timeout, lookback, stats, matchA, matchB, name string
	}
	t0, t10 := baseAt(0), baseAt(10*time.Minute)
	for _, s := range []in{
		{endpoint: 0, query: "up", time: t10},
		{endpoint: 0, post: true, query: `sum by (job) (rate(http_requests_total[5m]))`, time: t10, stats: "all", limit: "1"},
		{endpoint: 0, query: "up", time: "NaN", lookback: "1h"},
		{endpoint: 0, query: `count_over_time(up[100y])`, time: "1e300", timeout: "0.5"},
		{endpoint: 0, query: `up[5m:1ms]`, time: t10, timeout: "0.1"},
		{endpoint: 0, query: `max_over_time(up[10m:])`, time: t10},
		{endpoint: 1, query: `rate(http_requests_total[1m])`, start: t0, end: t10, step: "15"},
		{endpoint: 1, post: true, query: `histogram_quantile(0.9, up)`, start: t0, end: t10, step: "0.001"},
		{endpoint: 1, query: "up", start: "-Inf", end: "+Inf", step: "1e18"},
		{endpoint: 1, query: "1", start: minTimeFormatted, end: maxTimeFormatted, step: "1y", limit: "2"},
		{endpoint: 2, matchA: "up", start: t0, end: t10},
		{endpoint: 2, post: true, matchA: `{job=~".+"}`, matchB: `http_requests_total`, limit: "1"},
		{endpoint: 2, matchA: `{__name__=~".*"}`},
		{endpoint: 3, matchA: `{"foo.bar"="x"}`, start: "NaN", end: "NaN"},
		{endpoint: 4, name: "job", matchA: "up"},
		{endpoint: 4, name: "U__foo_2e_bar", limit: "1"},
		{endpoint: 4, name: "%FF"},
	} {
		f.Add(s.endpoint, s.post, s.query, s.time, s.start, s.end, s.step, s.limit, s.timeout, s.lookback, s.stats, s.matchA, s.matchB, s.name)
	}
	st := openStorage(f)
	fixture(f, st)
	// The engine as appliance.newEngine builds it, with a small sample
	// budget and timeout that keep each input cheap; both answer within
	// the contract (422, 503).
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples:               100_000,
		Timeout:                  time.Minute,
		LookbackDelta:            5 * time.Minute,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		Parser:                   parser.NewParser(parser.Options{}),
	})
	srv := newTestServer(f, st, Options{QueryTimeout: time.Second}, Deps{Engine: engine})
	f.Fuzz(func(t *testing.T, endpoint uint8, usePost bool, query, tm, start, end, step, limit, timeout, lookback, stats, matchA, matchB, name string) {
		path := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		if path == "/api/v1/query" || path == "/api/v1/query_range" {
			span := time.Duration(0)
			if path == "/api/v1/query_range" {
				s, serr := parseTime(start)
				e, eerr := parseTime(end)
				if serr == nil && eerr == nil {
					span = e.Sub(s)
				}
			}
			if subquerySteps(query, span) > maxFuzzSubquerySteps {
				// The engine's known crash, not a finding of this input:
				// see maxFuzzSubquerySteps.
				return
			}
		}
		if strings.Contains(path, "%s") {
			path = fmt.Sprintf(path, url.PathEscape(name))
		}
		form := url.Values{}
		for k, v := range map[string]string{"query": query, "time": tm, "start": start, "end": end, "step": step,
			"limit": limit, "timeout": timeout, "lookback_delta": lookback, "stats": stats} {
			if v != "" {
				form.Set(k, v)
			}
		}
		for _, m := range []string{matchA, matchB} {
			if m != "" {
				form.Add("match[]", m)
			}
		}
		var res response
		if usePost && !strings.HasPrefix(path, "/api/v1/label/") {
			res = post(t, srv, path, form)
		} else {
			res = get(t, srv, path, form)
		}
		checkEnvelope(t, path, form, res)
	})
}

// maxFuzzSubquerySteps bounds the subqueries FuzzQueryEndpoints sends to
// the engine. Prometheus' engine (v0.316.0, promql.(*evaluator).runSubquery
// calling stats.NewChildWithStepTracking) allocates two []int64 of one
// entry per subquery step before it evaluates anything and before any
// sample limit applies: max_over_time(up[1y:1ms]) asks for 2 × 252 GB and
// the process dies with "fatal error: runtime: out of memory", which no
// recover catches (testdata/fuzz/FuzzQueryEndpoints/subquery_oom_engine;
// docs/reliability.md, "Findings"). Inputs past the bound would only find
// that crash again; below it the arrays take at most 16 MB.
const maxFuzzSubquerySteps = 1_000_000

// subquerySteps returns an upper bound of the steps of the largest
// subquery of query, evaluated over a range query spanning span (0 for an
// instant query): the span plus every range in the expression, divided
// by the subquery's step. It returns 0 if query does not parse.
func subquerySteps(query string, span time.Duration) float64 {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	if err != nil {
		return 0
	}
	width := span.Seconds()
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch e := n.(type) {
		case *parser.MatrixSelector:
			width += e.Range.Seconds()
		case *parser.SubqueryExpr:
			width += e.Range.Seconds()
		}
		return nil
	})
	most := 0.0
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if e, ok := n.(*parser.SubqueryExpr); ok {
			step := e.Step
			if step <= 0 {
				step = time.Minute // NoStepSubqueryIntervalFn
			}
			most = max(most, width/step.Seconds())
		}
		return nil
	})
	return most
}

// checkEnvelope checks an answer of a query or look-up endpoint against
// the contract of FuzzQueryEndpoints.
func checkEnvelope(t *testing.T, path string, form url.Values, res response) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %s: %d %s\n%s", path, form.Encode(), res.code, res.body, fmt.Sprintf(format, args...))
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		fail("Content-Type %q, want application/json", ct)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
		Infos     []string        `json:"infos"`
	}
	if err := json.Unmarshal(res.body, &env); err != nil {
		fail("not a JSON envelope: %v", err)
	}
	switch res.code {
	case http.StatusOK:
		if env.Status != "success" || len(env.Data) == 0 || env.ErrorType != "" || env.Error != "" {
			fail("200 without a success envelope")
		}
		checkResultLimit(t, path, form, env.Data, fail)
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable:
		if env.Status != "error" || env.Error == "" || env.Data != nil {
			fail("%d without an error envelope", res.code)
		}
		want := map[int][]string{
			http.StatusBadRequest:          {"bad_data"},
			http.StatusUnprocessableEntity: {"execution"},
			http.StatusServiceUnavailable:  {"timeout", "unavailable"},
		}[res.code]
		if !strings.Contains(strings.Join(want, " "), env.ErrorType) || env.ErrorType == "" {
			fail("errorType %q with status %d, want one of %q", env.ErrorType, res.code, want)
		}
	default:
		fail("status %d is none of 200, 400, 422 and 503", res.code)
	}
}

// checkResultLimit checks the shape of a successful answer and that it
// holds at most `limit` series, names or values.
func checkResultLimit(t *testing.T, path string, form url.Values, data json.RawMessage, fail func(string, ...any)) {
	t.Helper()
	var list []json.RawMessage
	switch path {
	case "/api/v1/query", "/api/v1/query_range":
		var qd struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(data, &qd); err != nil {
			fail("data is not a query result: %v", err)
		}
		switch qd.ResultType {
		case "matrix", "vector":
			if err := json.Unmarshal(qd.Result, &list); err != nil {
				fail("a %s that is not a list: %v", qd.ResultType, err)
			}
		case "scalar", "string":
			if path == "/api/v1/query_range" && qd.ResultType == "string" {
				fail("a range query answered a string")
			}
			return
		default:
			fail("resultType %q", qd.ResultType)
		}
	default:
		if err := json.Unmarshal(data, &list); err != nil {
			fail("data is not a list: %v", err)
		}
	}
	if limit, err := parseLimitParam(form.Get("limit")); err == nil && limit > 0 && len(list) > limit {
		fail("%d entries with limit=%d", len(list), limit)
	}
}
