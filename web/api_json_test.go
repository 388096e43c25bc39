package web

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/valyala/bytebufferpool"
)

func TestAppendSampleValue(t *testing.T) {
	for f, want := range map[float64]string{
		0: `"0"`, 1: `"1"`, -2.5: `"-2.5"`, 0.1: `"0.1"`, 1.0 / 3: `"0.3333333333333333"`,
		1e-6: `"0.000001"`, 1.25e-7: `"1.25e-07"`, 123456789012345678: `"123456789012345680"`,
		1e21: `"1e+21"`, -1e22: `"-1e+22"`, math.Inf(1): `"+Inf"`, math.Inf(-1): `"-Inf"`, math.NaN(): `"NaN"`,
		math.Float64frombits(value.StaleNaN): `"NaN"`, math.MaxFloat64: `"1.7976931348623157e+308"`,
	} {
		if got := string(appendSampleValue(nil, f)); got != want {
			t.Errorf("appendSampleValue(%v) = %s, want %s", f, got, want)
		}
	}
}

// TestAppendSampleValueFastPath checks the integer fast path against
// Prometheus' formatting (jsonutil.MarshalFloat).
func TestAppendSampleValueFastPath(t *testing.T) {
	reference := func(f float64) string {
		format := byte('f')
		if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
			format = 'e'
		}
		return `"` + strconv.FormatFloat(f, format, -1, 64) + `"`
	}
	r := rand.New(rand.NewPCG(1, 2))
	values := []float64{0, math.Copysign(0, -1), 1e15 - 1, 1e15, -1e15 + 1, -1e15, 1 << 53, 1e14 + 0.5, 999999999999999.9}
	for range 200_000 {
		values = append(values,
			float64(r.Int64N(1e15)), -float64(r.Int64N(1e6)), math.Ldexp(float64(r.Int64N(1<<20)), r.IntN(60)),
			r.NormFloat64()*1e6, math.Float64frombits(r.Uint64()))
	}
	for _, f := range values {
		if got, want := string(appendSampleValue(nil, f)), reference(f); got != want {
			t.Fatalf("appendSampleValue(%v) = %s, want %s", f, got, want)
		}
	}
}

// TestAppendMatrixParallel checks that the parallel encoding of a large
// matrix is the sequential one.
func TestAppendMatrixParallel(t *testing.T) {
	m := benchMatrix(301, 241)
	m[7].Floats = nil // series without floats and empty chunks must not break the commas
	m[300].Floats = m[300].Floats[:1]
	enc := new(seriesEncoder)
	want := []byte{'['}
	for i := range m {
		if i > 0 {
			want = append(want, ',')
		}
		want = enc.appendSeries(want, &m[i])
	}
	want = append(want, ']')
	for _, procs := range []int{1, 2, 3, 8} {
		prev := runtime.GOMAXPROCS(procs)
		got := appendMatrix(nil, m)
		runtime.GOMAXPROCS(prev)
		if string(got) != string(want) || !json.Valid(got) {
			t.Errorf("GOMAXPROCS=%d: the encoding differs from the sequential one", procs)
		}
	}
}

func TestAppendTimestamp(t *testing.T) {
	for ms, want := range map[int64]string{
		0: "0", 1: "0.001", 10: "0.010", 999: "0.999", 1000: "1", 1500: "1.500", 1435781451781: "1435781451.781",
		-1: "-0.001", -1500: "-1.500",
	} {
		if got := string(appendTimestamp(nil, ms)); got != want {
			t.Errorf("appendTimestamp(%d) = %s, want %s", ms, got, want)
		}
	}
}

func TestAppendHistograms(t *testing.T) {
	h := &histogram.FloatHistogram{
		Schema: 0, Count: 10, Sum: 20.5, ZeroThreshold: 0.001, ZeroCount: 2,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 3}},
		PositiveBuckets: []float64{3, 0, 4},
		NegativeSpans:   []histogram.Span{{Offset: 0, Length: 1}},
		NegativeBuckets: []float64{1},
	}
	m := labels.FromStrings("__name__", "latency_seconds", "job", "api")
	vec := promql.Vector{
		{Metric: m, T: 1000, H: h},
		{Metric: labels.FromStrings("job", "api"), T: 1000, F: 1},
	}
	const wantH = `{"count":"10","sum":"20.5","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],[0,"0.5","1","3"],[0,"2","4","4"]]}`
	want := `[{"metric":{"__name__":"latency_seconds","job":"api"},"histogram":[1,` + wantH + `]},{"metric":{"job":"api"},"value":[1,"1"]}]`
	if got := string(appendVector(nil, vec)); got != want {
		t.Errorf("vector:\n got %s\nwant %s", got, want)
	}
	mat := promql.Matrix{{Metric: m, Floats: []promql.FPoint{{T: 0, F: 1}}, Histograms: []promql.HPoint{{T: 1500, H: h}, {T: 3000, H: h}}}}
	want = `[{"metric":{"__name__":"latency_seconds","job":"api"},"values":[[0,"1"]],"histograms":[[1.500,` + wantH + `],[3,` + wantH + `]]}]`
	if got := string(appendMatrix(nil, mat)); got != want {
		t.Errorf("matrix:\n got %s\nwant %s", got, want)
	}
}

// benchMatrix is a query_range result of series×points, shaped like
// Panic-platform data: five labels per series, counters and fractions.
func benchMatrix(series, points int) promql.Matrix {
	m := make(promql.Matrix, series)
	start := base.UnixMilli()
	for i := range m {
		m[i].Metric = labels.FromStrings(
			"__name__", "http_request_duration_seconds_bucket", "endpoint", fmt.Sprintf("/api/v1/panic/%d", i%50),
			"instance", fmt.Sprintf("app-%d:8000", i%7), "job", "panic-api", "le", fmt.Sprint(i%12))
		m[i].Floats = make([]promql.FPoint, points)
		for j := range m[i].Floats {
			m[i].Floats[j] = promql.FPoint{T: start + int64(j)*15000, F: float64(i*j) / 7}
		}
	}
	return m
}

// BenchmarkMatrixJSON measures the response encoding of a 1000-series ×
// 241-point range query (an hour at 15s): the hand-rolled appender into a
// pooled buffer, as the query endpoints use it.
func BenchmarkMatrixJSON(b *testing.B) {
	data := &queryData{ResultType: "matrix", Result: benchMatrix(1000, 241)}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		buf := bytebufferpool.Get()
		out, err := data.appendJSON(buf.B[:0])
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
		buf.B = out
		bytebufferpool.Put(buf)
	}
	b.SetBytes(int64(size))
}

// BenchmarkMatrixEncodingJSON is the reflection-based baseline
// (encoding/json with promql's MarshalJSON methods), for comparison.
func BenchmarkMatrixEncodingJSON(b *testing.B) {
	m := benchMatrix(1000, 241)
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkQueryRange1000x241 runs the whole request: parameters, engine,
// storage, encoding, for 1000 series × 241 points.
func BenchmarkQueryRange1000x241(b *testing.B) {
	st := openStorage(b)
	ss := make([]series, 1000)
	for i := range ss {
		ss[i] = series{[]string{"__name__", "bench", "endpoint", fmt.Sprintf("/e/%d", i%50), "instance", fmt.Sprintf("app-%d", i)},
			func(j int) float64 { return float64(i*j) / 7 }}
	}
	writeSeries(b, st, base, 15*time.Second, 241, ss...)
	s := newTestServer(b, st, Options{}, Deps{})
	target := "/api/v1/query_range?" + vals("query", "bench", "start", baseAt(0), "end", baseAt(time.Hour), "step", "15").Encode()
	res := do(b, s, http.MethodGet, target, nil)
	if res.code != http.StatusOK || strings.Count(string(res.body), `"metric"`) != 1000 {
		b.Fatalf("%d %.200s", res.code, res.body)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(res.body)))
	for b.Loop() {
		do(b, s, http.MethodGet, target, nil)
	}
}
