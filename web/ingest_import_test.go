package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"
)

// exportAll asks /api/v1/export for every series and returns its lines
// sorted (the order of series is the store's).
func exportAll(t *testing.T, srvURL string, extra ...string) []string {
	t.Helper()
	q := url.Values{"match[]": {`{__name__=~".+"}`}, "start": {"0"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	code, body := send(t, http.MethodGet, srvURL+"/api/v1/export?"+q.Encode(), "", nil)
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	slices.Sort(lines)
	return lines
}

// TestExportImportRoundTrip exports everything from one Vigil, imports it
// into another, and exports again: the same lines, sample for sample,
// staleness markers, NaN and infinities included.
func TestExportImportRoundTrip(t *testing.T) {
	a, stA := ingestServer(t, Options{})
	start := time.Unix(1_700_000_000, 0)
	values := []float64{0.1, 1e-9, -3, math.Float64frombits(value.StaleNaN), math.NaN(), math.Inf(1), math.Inf(-1), 123456789.125}
	writeSeries(t, stA, start, 15*time.Second, len(values),
		series{[]string{"__name__", "odd_values", "job", "a\"b", "Zone", "ü"}, func(i int) float64 { return values[i] }},
		series{[]string{"__name__", "requests_total", "code", "200"}, func(i int) float64 { return float64(i * 7) }},
		// Apart: the store keeps a block's values under one decimal
		// exponent, so a block mixing 1e15 and 0.1 keeps 0.1 roughly.
		series{[]string{"__name__", "bytes_total"}, func(i int) float64 { return 9007199254740991 - float64(i) }},
	)
	// And a series imported as JSON lines.
	imp := `{"metric":{"__name__":"imported","path":"/x"},"values":[1.5,2,null],"timestamps":[1700000000000,1700000001000,1700000002000]}` + "\n"
	if code, body := send(t, http.MethodPost, a.URL+"/api/v1/import", "", []byte(imp)); code != http.StatusNoContent {
		t.Fatalf("import: %d %s", code, body)
	}
	stA.ForceFlush()
	first := exportAll(t, a.URL)
	want := []string{
		`{"metric":{"__name__":"bytes_total"},"values":[9007199254740991,9007199254740990,9007199254740989,9007199254740988,9007199254740987,9007199254740986,9007199254740985,9007199254740984],` +
			`"timestamps":[1700000000000,1700000015000,1700000030000,1700000045000,1700000060000,1700000075000,1700000090000,1700000105000]}`,
		`{"metric":{"__name__":"imported","path":"/x"},"values":[1.5,2,null],"timestamps":[1700000000000,1700000001000,1700000002000]}`,
		`{"metric":{"__name__":"odd_values","Zone":"ü","job":"a\"b"},"values":[0.1,1e-9,-3,null,"NaN","Infinity","-Infinity",123456789.125],` +
			`"timestamps":[1700000000000,1700000015000,1700000030000,1700000045000,1700000060000,1700000075000,1700000090000,1700000105000]}`,
		`{"metric":{"__name__":"requests_total","code":"200"},"values":[0,7,14,21,28,35,42,49],` +
			`"timestamps":[1700000000000,1700000015000,1700000030000,1700000045000,1700000060000,1700000075000,1700000090000,1700000105000]}`,
	}
	if !slices.Equal(first, want) {
		t.Fatalf("export:\n%s\nwant\n%s", strings.Join(first, "\n"), strings.Join(want, "\n"))
	}

	b, stB := ingestServer(t, Options{})
	if code, body := send(t, http.MethodPost, b.URL+"/api/v1/import", "", []byte(strings.Join(first, "\n"))); code != http.StatusNoContent {
		t.Fatalf("import into the second Vigil: %d %s", code, body)
	}
	stB.ForceFlush()
	if again := exportAll(t, b.URL); !slices.Equal(again, first) {
		t.Fatalf("after the round trip:\n%s\nwant\n%s", strings.Join(again, "\n"), strings.Join(first, "\n"))
	}
	// The NaN and the staleness marker stay what they were: the query
	// API sees a NaN sample and a series that ends.
	at := time.Unix(1_700_000_060, 0)
	if got := instant(t, b, stB, "odd_values", at); !slices.Equal(got, []string{`Zone=ü,__name__=odd_values,job=a"b NaN`}) {
		t.Fatalf("odd_values at the NaN = %q", got)
	}
	if got := instant(t, b, stB, "odd_values", time.Unix(1_700_000_046, 0)); len(got) != 0 {
		t.Fatalf("odd_values after the staleness marker = %q; want nothing", got)
	}
}

func TestExportOptions(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	writeSeries(t, st, time.Unix(1_700_000_000, 0), time.Second, 5,
		series{[]string{"__name__", "m"}, func(i int) float64 { return float64(i) }})

	// max_rows_per_line splits a series; start and end bound it.
	got := exportAll(t, srv.URL, "max_rows_per_line", "2", "start", "1700000001", "end", "1700000004")
	want := []string{
		`{"metric":{"__name__":"m"},"values":[1,2],"timestamps":[1700000001000,1700000002000]}`,
		`{"metric":{"__name__":"m"},"values":[3,4],"timestamps":[1700000003000,1700000004000]}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Compressed for clients that accept it; POST works as GET.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/export", strings.NewReader(`match[]=m&start=0`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("not gzip (Content-Encoding %q): %v", resp.Header.Get("Content-Encoding"), err)
	}
	body, _ := io.ReadAll(zr)
	if !bytes.HasPrefix(body, []byte(`{"metric":{"__name__":"m"},"values":[0,1,2,3,4]`)) {
		t.Fatalf("gzip export: %s", body)
	}

	for _, q := range []string{"", "match[]=m&max_rows_per_line=-1", "match[]={", "match[]=m&start=x", "match[]=m&start=10&end=5"} {
		code, body := send(t, http.MethodGet, srv.URL+"/api/v1/export?"+q, "", nil)
		if code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) {
			t.Errorf("export?%s: %d %s; want 400 bad_data", q, code, body)
		}
	}
}

func TestImportCSV(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	csv := "host,cpu,time\nweb1,0.5,1700000000\n\"web,2\",0.75,1700000000\n"
	code, body := send(t, http.MethodPost, srv.URL+"/api/v1/import/csv?format=1:label:host,2:metric:cpu_usage,3:time:unix_s", "text/csv", []byte(csv))
	if code != http.StatusNoContent {
		t.Fatalf("%d %s", code, body)
	}
	got := instant(t, srv, st, "cpu_usage", time.Unix(1_700_000_000, 0))
	slices.Sort(got)
	if want := []string{"__name__=cpu_usage,host=web,2 0.75", "__name__=cpu_usage,host=web1 0.5"}; !slices.Equal(got, want) {
		t.Fatalf("got %q; want %q", got, want)
	}
	code, body = send(t, http.MethodPost, srv.URL+"/api/v1/import/csv?format=1:label:host,2:metric:x,3:time:unix_s", "", []byte("a,1,1700000000\nb,oops,1700000000\n"))
	if code != 400 || !strings.Contains(body, `line 2: column 2 (metric x): "oops" is not a number`) {
		t.Fatalf("bad CSV: %d %s", code, body)
	}
	if got := instant(t, srv, st, "x", time.Unix(1_700_000_000, 0)); len(got) != 0 {
		t.Fatalf("a refused request stored %q", got)
	}
	code, body = send(t, http.MethodPost, srv.URL+"/api/v1/import", "", []byte(`{"metric":{"__name__":"a"},"values":[1],"timestamps":[1]}`+"\n"+`{"metric":{}}`))
	if code != 400 || !strings.HasPrefix(body, "line 2: ") {
		t.Fatalf("bad JSON line: %d %s", code, body)
	}
}
