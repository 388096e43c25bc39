package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// TestQueryErrors checks the error envelope, type and status code of bad
// requests, as Prometheus answers them.
func TestQueryErrors(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	small := newTestServer(t, st, Options{}, Deps{Engine: newEngine(10)})

	rangeParams := func(kv ...string) url.Values {
		v := vals("query", "up", "start", baseAt(0), "end", baseAt(10*time.Minute), "step", "15")
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name      string
		server    *Server
		path      string
		params    url.Values
		code      int
		errorType string
		error     string // a substring of the error message
	}{
		{"syntax error has the position", s, "/api/v1/query", vals("query", "sum(up"), 400, "bad_data",
			`invalid parameter "query": 1:7: parse error: unclosed left parenthesis`},
		{"empty query", s, "/api/v1/query", vals(), 400, "bad_data", `invalid parameter "query"`},
		{"bad time", s, "/api/v1/query", vals("query", "up", "time", "yesterday"), 400, "bad_data",
			`invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`},
		{"bad limit", s, "/api/v1/query", vals("query", "up", "limit", "-1"), 400, "bad_data", `invalid parameter "limit": limit must be non-negative`},
		{"bad timeout", s, "/api/v1/query", vals("query", "up", "timeout", "soon"), 400, "bad_data", `invalid parameter "timeout": cannot parse "soon" to a valid duration`},
		{"zero timeout", s, "/api/v1/query", vals("query", "up", "timeout", "0"), 400, "bad_data", `timeout must be positive, got 0s`},
		{"bad lookback_delta", s, "/api/v1/query", vals("query", "up", "lookback_delta", "x"), 400, "bad_data", `error parsing lookback delta duration`},
		{"timeout", s, "/api/v1/query", vals("query", "up", "timeout", "0.000000001"), 503, "timeout", "query timed out"},
		{"too many samples", small, "/api/v1/query_range", rangeParams(), 422, "execution",
			"query processing would load too many samples into memory"},
		{"missing start", s, "/api/v1/query_range", rangeParams("start", ""), 400, "bad_data",
			`invalid parameter "start": cannot parse "" to a valid timestamp`},
		{"end before start", s, "/api/v1/query_range", rangeParams("end", baseAt(-time.Minute)), 400, "bad_data",
			`invalid parameter "end": end timestamp must not be before start time`},
		{"zero step", s, "/api/v1/query_range", rangeParams("step", "0"), 400, "bad_data",
			`invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`},
		{"negative step", s, "/api/v1/query_range", rangeParams("step", "-15"), 400, "bad_data", "zero or negative query resolution step"},
		{"bad step", s, "/api/v1/query_range", rangeParams("step", "often"), 400, "bad_data", `invalid parameter "step": cannot parse "often" to a valid duration`},
		{"too many points", s, "/api/v1/query_range", rangeParams("start", "0", "end", "11001", "step", "1"), 400, "bad_data",
			"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"},
		{"range vector in a range query", s, "/api/v1/query_range", rangeParams("query", "up[5m]"), 400, "bad_data",
			`invalid parameter "query": invalid expression type "range vector" for range query, must be Scalar or instant Vector`},
		{"series without match[]", s, "/api/v1/series", vals(), 400, "bad_data", "no match[] parameter provided"},
		{"series matching everything", s, "/api/v1/series", vals("match[]", `{job=~".*"}`), 400, "bad_data",
			"match[] must contain at least one non-empty matcher"},
		{"series with a bad selector", s, "/api/v1/series", vals("match[]", `up{`), 400, "bad_data", `invalid parameter "match[]"`},
		{"labels with bad start", s, "/api/v1/labels", vals("start", "x"), 400, "bad_data", `invalid parameter "start"`},
		{"invalid label name", s, "/api/v1/label/%FF/values", nil, 400, "bad_data", `invalid label name: "\xff"`},
		{"unknown endpoint", s, "/api/v1/nope", nil, 404, "not_found", "no API endpoint at GET /api/v1/nope"},
		{"tsdb limit", s, "/api/v1/status/tsdb", vals("limit", "0"), 400, "bad_data", "limit must be a positive number"},
		{"metadata limit", s, "/api/v1/metadata", vals("limit", "x"), 400, "bad_data", "limit must be a number"},
		{"exemplars end before start", s, "/api/v1/query_exemplars", vals("query", "up", "start", "10", "end", "5"), 400, "bad_data",
			"end timestamp must not be before start timestamp"},
		{"format_query syntax error", s, "/api/v1/format_query", vals("query", "up +"), 400, "bad_data", `invalid parameter "query": 1:5: parse error`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var res response
				if method == http.MethodGet {
					res = get(t, tc.server, tc.path, tc.params)
				} else {
					if tc.path == "/api/v1/label/%FF/values" || strings.HasPrefix(tc.path, "/api/v1/status") || tc.path == "/api/v1/metadata" || tc.path == "/api/v1/nope" {
						continue // GET-only endpoints
					}
					res = post(t, tc.server, tc.path, tc.params)
				}
				if res.code != tc.code {
					t.Errorf("%s: status %d, want %d: %s", method, res.code, tc.code, res.body)
				}
				if ct := res.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s: Content-Type %q", method, ct)
				}
				m := res.json(t)
				if m["status"] != "error" || m["errorType"] != tc.errorType {
					t.Errorf("%s: status %v errorType %v, want error %s: %s", method, m["status"], m["errorType"], tc.errorType, res.body)
				}
				if msg, _ := m["error"].(string); !strings.Contains(msg, tc.error) {
					t.Errorf("%s: error %q does not contain %q", method, msg, tc.error)
				}
				if _, ok := m["data"]; ok {
					t.Errorf("%s: an error has data: %s", method, res.body)
				}
			}
		})
	}
}

// TestQueryShapes checks the JSON of each result type against golden
// files, and that GET and POST (form-encoded) answer the same.
func TestQueryShapes(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	at := baseAt(5 * time.Minute)
	tests := []struct {
		golden string
		path   string
		params url.Values
	}{
		{"query_vector", "/api/v1/query", vals("query", `up`, "time", at)},
		{"query_vector_escaping", "/api/v1/query", vals("query", `odd`, "time", at)},
		{"query_vector_empty", "/api/v1/query", vals("query", `nothing_here`, "time", at)},
		{"query_scalar", "/api/v1/query", vals("query", `1/3`, "time", baseAt(1500*time.Millisecond))},
		{"query_scalar_inf", "/api/v1/query", vals("query", `-1/0`, "time", at)},
		{"query_string", "/api/v1/query", vals("query", `"a<b"`, "time", at)},
		{"query_instant_matrix", "/api/v1/query", vals("query", `up{job="api"}[1m]`, "time", at)},
		{"query_nan", "/api/v1/query", vals("query", `up{job="db"} / 0`, "time", at)},
		{"query_range_matrix", "/api/v1/query_range", vals("query", `rate(http_requests_total[1m])`, "start", baseAt(time.Minute), "end", baseAt(2*time.Minute), "step", "30s")},
		{"query_range_fractional_step", "/api/v1/query_range", vals("query", `up{job="api"}`, "start", baseAt(time.Minute), "end", baseAt(time.Minute+time.Second), "step", "0.5")},
		{"query_limit", "/api/v1/query", vals("query", `up`, "time", at, "limit", "1")},
		{"query_info_annotation", "/api/v1/query", vals("query", `rate(up[1m])`, "time", at)},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			g := get(t, s, tc.path, tc.params)
			if g.code != http.StatusOK {
				t.Fatalf("status %d: %s", g.code, g.body)
			}
			checkGolden(t, tc.golden, g.body)
			p := post(t, s, tc.path, tc.params)
			if p.code != http.StatusOK || !bytes.Equal(g.body, p.body) {
				t.Errorf("POST answered %d %s\nGET answered %s", p.code, p.body, g.body)
			}
		})
	}
}

// TestQueryParams checks parameters that change no shape: time formats,
// timeouts above the cap, lookback_delta, unknown parameters, params split
// between the URL and the body.
func TestQueryParams(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{QueryTimeout: time.Minute}, Deps{})
	want := get(t, s, "/api/v1/query", vals("query", "up", "time", baseAt(5*time.Minute))).body
	for _, params := range []url.Values{
		vals("query", "up", "time", base.Add(5*time.Minute).Format(time.RFC3339)),
		vals("query", "up", "time", base.Add(5*time.Minute).In(time.FixedZone("X", 3600)).Format(time.RFC3339Nano)),
		vals("query", "up", "time", fmt.Sprint(base.Add(5*time.Minute).Unix())+".0001"), // rounds to the millisecond
		vals("query", "up", "time", baseAt(5*time.Minute), "timeout", "1h", "stats", "", "nocache", "1", "dedup", "true"),
	} {
		if got := get(t, s, "/api/v1/query", params).body; !bytes.Equal(got, want) {
			t.Errorf("%v: got %s, want %s", params, got, want)
		}
	}

	// The URL and the body are merged, as r.FormValue merges them.
	res := do(t, s, http.MethodPost, "/api/v1/query?time="+url.QueryEscape(baseAt(5*time.Minute)), vals("query", "up"))
	if !bytes.Equal(res.body, want) {
		t.Errorf("URL + body: got %s, want %s", res.body, want)
	}

	// 2 minutes after the last sample, a 1m lookback finds nothing.
	res = get(t, s, "/api/v1/query", vals("query", "up", "time", baseAt(12*time.Minute), "lookback_delta", "1m"))
	if got := string(res.body); got != `{"status":"success","data":{"resultType":"vector","result":[]}}` {
		t.Errorf("lookback_delta=1m: %s", got)
	}
	res = get(t, s, "/api/v1/query", vals("query", "count(up)", "time", baseAt(12*time.Minute)))
	if got := string(res.body); !strings.Contains(got, `"value":[1704067920,"2"]`) {
		t.Errorf("default lookback: %s", got)
	}

	// stats=true adds the engine's statistics.
	res = get(t, s, "/api/v1/query", vals("query", "up", "time", baseAt(5*time.Minute), "stats", "true"))
	if m := res.json(t); m["data"].(map[string]any)["stats"] == nil || m["warnings"] != nil {
		t.Errorf("stats=true: no stats, or warnings, in %s", res.body)
	}
	// Other values still ask for statistics, with a deprecation warning.
	res = get(t, s, "/api/v1/query", vals("query", "up", "time", baseAt(5*time.Minute), "stats", "yes"))
	if m := res.json(t); m["data"].(map[string]any)["stats"] == nil || !strings.Contains(fmt.Sprint(m["warnings"]), `value "yes" for parameter "stats" is deprecated`) {
		t.Errorf("stats=yes: %s", res.body)
	}
}

func TestQueryTimeoutCapped(t *testing.T) {
	st := openStorage(t)
	s := newTestServer(t, st, Options{QueryTimeout: time.Nanosecond}, Deps{})
	res := get(t, s, "/api/v1/query", vals("query", "up", "timeout", "1h"))
	if res.code != http.StatusServiceUnavailable || res.json(t)["errorType"] != "timeout" {
		t.Errorf("a timeout above Options.QueryTimeout is not capped: %d %s", res.code, res.body)
	}
}

func TestQueryErrorMapping(t *testing.T) {
	tests := []struct {
		err  error
		typ  errorType
		code int
	}{
		{promql.ErrQueryCanceled("exec"), errorCanceled, 499},
		{promql.ErrQueryTimeout("exec"), errorTimeout, 503},
		{promql.ErrTooManySamples("exec"), errorExec, 422},
		{promql.ErrStorage{Err: errors.New("disk")}, errorInternal, 500},
		{fmt.Errorf("expanding series: %w", context.Canceled), errorCanceled, 499},
		{fmt.Errorf("expanding series: %w", context.DeadlineExceeded), errorTimeout, 503},
		{errors.New("expanding series: the query selects more than 10 series"), errorExec, 422},
	}
	for _, tc := range tests {
		e := queryError(tc.err)
		if e.typ != tc.typ || e.status() != tc.code {
			t.Errorf("%v: %s %d, want %s %d", tc.err, e.typ, e.status(), tc.typ, tc.code)
		}
	}
}

func TestSeriesAndLabels(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	tests := []struct {
		golden string
		path   string
		params url.Values
	}{
		{"series", "/api/v1/series", vals("match[]", `up`)},
		{"series_merged", "/api/v1/series", vals("match[]", `up{job="api"}`, "match[]", `{__name__=~"up|http_requests_total",job!="db"}`)},
		{"series_time_range", "/api/v1/series", vals("match[]", `up`, "start", baseAt(-2*time.Hour), "end", baseAt(-time.Hour))},
		{"labels", "/api/v1/labels", nil},
		{"labels_match", "/api/v1/labels", vals("match[]", `up`, "match[]", `odd`)},
		{"label_values", "/api/v1/label/job/values", nil},
		{"label_values_name", "/api/v1/label/__name__/values", vals("start", baseAt(0), "end", baseAt(time.Hour))},
		{"label_values_match", "/api/v1/label/instance/values", vals("match[]", `up{job="db"}`, "match[]", `up{job="db"}`)},
		{"label_values_utf8", "/api/v1/label/U__foo_2e_bar/values", nil},
		{"label_values_utf8_escaped", "/api/v1/label/foo%2Ebar/values", nil},
		{"label_values_unknown", "/api/v1/label/nope/values", nil},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			res := get(t, s, tc.path, tc.params)
			if res.code != http.StatusOK {
				t.Fatalf("status %d: %s", res.code, res.body)
			}
			checkGolden(t, tc.golden, res.body)
		})
	}
}

// TestLookupLimit checks `limit`: which items the store returns under a
// limit is up to it, but never more than limit, with a warning.
func TestLookupLimit(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	tests := []struct {
		path   string
		params url.Values
		limit  int
		all    string
	}{
		{"/api/v1/series", vals("match[]", `{__name__=~".+"}`, "limit", "2"), 2, `up http_requests_total odd`},
		{"/api/v1/labels", vals("limit", "2"), 2, `__name__ code foo.bar instance job method path`},
		{"/api/v1/label/__name__/values", vals("limit", "1"), 1, `up http_requests_total odd`},
		{"/api/v1/label/__name__/values", vals("limit", "3"), 3, ``},
		{"/api/v1/query", vals("query", "up", "time", baseAt(time.Minute), "limit", "1"), 1, ``},
	}
	for _, tc := range tests {
		res := get(t, s, tc.path, tc.params)
		var body struct {
			Data     json.RawMessage
			Warnings []string
		}
		if err := json.Unmarshal(res.body, &body); err != nil {
			t.Fatal(err)
		}
		var items []any
		if err := json.Unmarshal(body.Data, &items); err != nil {
			var qd struct{ Result []any }
			_ = json.Unmarshal(body.Data, &qd)
			items = qd.Result
		}
		truncated := tc.all != "" || tc.path == "/api/v1/query"
		if len(items) != tc.limit || truncated != (fmt.Sprint(body.Warnings) == "[results truncated due to limit]") {
			t.Errorf("%s?%s: %d items, warnings %v: %s", tc.path, tc.params.Encode(), len(items), body.Warnings, res.body)
		}
		for _, it := range items {
			name := fmt.Sprint(it)
			if m, ok := it.(map[string]any); ok {
				name = fmt.Sprint(m["__name__"])
			}
			if tc.all != "" && !slices.Contains(strings.Fields(tc.all), name) {
				t.Errorf("%s: unexpected %v", tc.path, it)
			}
		}
	}
}

func TestFormatAndExemplars(t *testing.T) {
	s := newTestServer(t, openStorage(t), Options{}, Deps{})
	res := post(t, s, "/api/v1/format_query", vals("query", `sum(rate(foo{a="b"}[5m]))by(job)`))
	if got := string(res.body); got != `{"status":"success","data":"sum by (job) (rate(foo{a=\"b\"}[5m]))"}` {
		t.Errorf("format_query: %s", got)
	}
	res = get(t, s, "/api/v1/query_exemplars", vals("query", `up`, "start", "0", "end", "10"))
	if got := string(res.body); got != `{"status":"success","data":[]}` {
		t.Errorf("query_exemplars: %s", got)
	}
	res = get(t, s, "/api/v1/query_exemplars", vals("query", `1 + 1`))
	if res.code != http.StatusNoContent {
		t.Errorf("query_exemplars without selectors: %d %s", res.code, res.body)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"1435781451.781", time.UnixMilli(1435781451781), false},
		{"1435781451", time.Unix(1435781451, 0), false},
		{"1435781451.7815", time.UnixMilli(1435781451782), false},
		{"-1.5", time.UnixMilli(-1500), false},
		{"2015-07-01T20:10:51.781Z", time.UnixMilli(1435781451781), false},
		{"2015-07-01T22:10:51+02:00", time.Unix(1435781451, 0), false},
		{minTimeFormatted, minTime, false},
		{maxTimeFormatted, maxTime, false},
		{"-292273086-05-16T16:47:06Z", minTime, false},
		{"292277025-08-18T07:12:54.999999999Z", maxTime, false},
		{"", time.Time{}, true},
		{"now", time.Time{}, true},
		{"2015-07-01", time.Time{}, true},
	}
	for _, tc := range tests {
		got, err := parseTime(tc.in)
		if (err != nil) != tc.err || err == nil && !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"15", 15 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"1e3", 1000 * time.Second, false},
		{"15s", 15 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"2d", 48 * time.Hour, false},
		{"1e100", 0, true},
		{"NaN", 0, true},
		{"soon", 0, true},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestSlowQueryLog(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(prev)

	fast := newTestServer(t, st, Options{SlowQueryThreshold: time.Hour}, Deps{})
	get(t, fast, "/api/v1/query", vals("query", "up"))
	if logs.Len() != 0 {
		t.Errorf("a fast query was logged: %s", logs.String())
	}
	slow := newTestServer(t, st, Options{SlowQueryThreshold: time.Nanosecond}, Deps{})
	get(t, slow, "/api/v1/query_range", vals("query", `sum(up)`, "start", baseAt(0), "end", baseAt(time.Hour), "step", "60"))
	for _, want := range []string{`level=WARN msg="slow query" type=range query=sum(up) duration=`, ` range=1h0m0s step=1m0s`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log has no %q: %s", want, logs.String())
		}
	}
}
