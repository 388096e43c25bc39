package web

import (
	"errors"

	"bytes"
	"encoding/json"
	"flag"
	"github.com/labstack/echo/v4"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// base is the time of the fixture's first sample: fixed, so that golden
// files hold fixed timestamps (the test store keeps 100 years).
var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func baseAt(d time.Duration) string {
	return formatUnix(base.Add(d))
}

func formatUnix(t time.Time) string {
	return string(appendJSONFloat(nil, float64(t.UnixMilli())/1000))
}

func openStorage(t testing.TB) *storage.Storage {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newEngine(maxSamples int) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:           maxSamples,
		Timeout:              time.Minute,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               parser.NewParser(parser.Options{}),
	})
}

// newTestServer builds a server over st with a real engine. Fields of
// opts and deps left zero get the test defaults.
func newTestServer(t testing.TB, st *storage.Storage, opts Options, deps Deps) *Server {
	t.Helper()
	deps.Storage = st
	if deps.Engine == nil {
		deps.Engine = newEngine(50_000_000)
	}
	if deps.Parser == nil {
		deps.Parser = parser.NewParser(parser.Options{})
	}
	if deps.StartTime.IsZero() {
		deps.StartTime = base
	}
	return New(opts, deps)
}

type series struct {
	labels []string
	// value returns the value of sample i; nil values are not written.
	value func(i int) float64
}

// writeSeries writes n samples every step from start for each series and
// flushes, so that they are searchable at once.
func writeSeries(t testing.TB, st *storage.Storage, start time.Time, step time.Duration, n int, ss ...series) {
	t.Helper()
	var rows storage.Rows
	for _, s := range ss {
		var ls []storage.Label
		for i := 0; i < len(s.labels); i += 2 {
			ls = append(ls, storage.Label{Name: s.labels[i], Value: s.labels[i+1]})
		}
		for i := range n {
			if err := rows.Add(ls, start.Add(time.Duration(i)*step).UnixMilli(), s.value(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.Append(&rows); err != nil {
		t.Fatal(err)
	}
	st.ForceFlush()
}

// fixture is the data most API tests query: 41 samples every 15s from base
// (10 minutes).
func fixture(t testing.TB, st *storage.Storage) {
	writeSeries(t, st, base, 15*time.Second, 41,
		series{[]string{"__name__", "up", "job", "api", "instance", "a:1"}, func(int) float64 { return 1 }},
		series{[]string{"__name__", "up", "job", "db", "instance", "b:1"}, func(int) float64 { return 0 }},
		series{[]string{"__name__", "http_requests_total", "method", "GET", "code", "200"}, func(i int) float64 { return float64(i * 10) }},
		series{[]string{"__name__", "http_requests_total", "method", "POST", "code", "500"}, func(i int) float64 { return float64(i) }},
		series{[]string{"__name__", "odd", "foo.bar", "x", "path", "<a&b>\u2028"}, func(int) float64 { return 0.000000125 }},
	)
}

// response is a recorded response.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do serves one request through the server without a network.
func do(t testing.TB, s *Server, method, target string, form url.Values) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func get(t testing.TB, s *Server, path string, params url.Values) response {
	t.Helper()
	target := path
	if len(params) > 0 {
		target += "?" + params.Encode()
	}
	return do(t, s, http.MethodGet, target, nil)
}

func post(t testing.TB, s *Server, path string, form url.Values) response {
	t.Helper()
	return do(t, s, http.MethodPost, path, form)
}

// checkGolden compares body, indented, with testdata/name.json.
func checkGolden(t testing.TB, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("%s: invalid JSON: %v\n%s", name, err, body)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./web -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("%s differs from %s:\n got: %s\nwant: %s", name, path, buf.Bytes(), want)
	}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

type echoContext = echo.Context

// serveWith runs an API handler on a request to target, as the router
// would, for handlers that take a fake provider.
func serveWith(t testing.TB, s *Server, e *echo.Echo, target string, f apiFunc) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	rec := httptest.NewRecorder()
	c := e.NewContext(req, rec)
	if err := s.api(f)(c); err != nil {
		s.handleError(err, c)
	}
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

var errTest = errors.New("test error")

type fakeReloader struct {
	calls int
	err   error
}

func (r *fakeReloader) Reload() error {
	r.calls++
	return r.err
}
