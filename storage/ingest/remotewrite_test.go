package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/golang/snappy"
	promprompb "github.com/prometheus/prometheus/prompb"

	"github.com/vigil-monitoring/vigil/storage"
)

// encodeWriteRequest encodes wr as a Prometheus server sends it, with
// Prometheus' own (gogo-protobuf) marshaller, independent of the decoder.
func encodeWriteRequest(t testing.TB, wr *promprompb.WriteRequest) []byte {
	t.Helper()
	data, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, data)
}

// series builds a prompb series from name, value pairs and samples given
// as value, timestamp pairs.
func series(labels []string, samples ...float64) promprompb.TimeSeries {
	var ts promprompb.TimeSeries
	for i := 0; i+1 < len(labels); i += 2 {
		ts.Labels = append(ts.Labels, promprompb.Label{Name: labels[i], Value: labels[i+1]})
	}
	for i := 0; i+1 < len(samples); i += 2 {
		ts.Samples = append(ts.Samples, promprompb.Sample{Value: samples[i], Timestamp: int64(samples[i+1])})
	}
	return ts
}

// decodedForTest decodes body and renders each series as
// `labels: value@ts value@ts`.
func decodedForTest(t *testing.T, body []byte) []string {
	t.Helper()
	d := getRemoteWriteDecoder()
	defer putRemoteWriteDecoder(d)
	wr, err := d.decode(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var got []string
	for _, ts := range wr.Timeseries {
		line := fmtLabels(ts.Labels) + ":"
		for _, s := range ts.Samples {
			line += fmt.Sprintf(" %s@%d", fmtValue(s.Value), s.Timestamp)
		}
		got = append(got, line)
	}
	return got
}

func TestDecodeRemoteWrite(t *testing.T) {
	tests := []struct {
		name    string
		wr      promprompb.WriteRequest
		want    []string
		samples int
		meta    []Metadata
	}{
		{
			name: "empty request",
		},
		{
			name: "series with samples",
			wr: promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{
				series([]string{"__name__", "http_requests_total", "job", "api", "instance", "10.0.0.1:8080"}, 1, 1000, 2, 2000),
				series([]string{"__name__", "up", "job", "api"}, 1, 1000),
			}},
			want: []string{
				`__name__="http_requests_total", job="api", instance="10.0.0.1:8080": 1@1000 2@2000`,
				`__name__="up", job="api": 1@1000`,
			},
			samples: 3,
		},
		{
			name: "special values, the staleness marker and UTF-8",
			wr: promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{
				series([]string{"__name__", "my.metric", "città", "Zürich"}, math.NaN(), 1, math.Inf(1), 2, math.Inf(-1), 3, staleNaN, 4),
			}},
			want:    []string{`__name__="my.metric", città="Zürich": NaN@1 +Inf@2 -Inf@3 StaleNaN@4`},
			samples: 4,
		},
		{
			name: "empty label values are allowed (and dropped by storage)",
			wr: promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{
				series([]string{"__name__", "m", "empty", ""}, 5, 1),
			}},
			want:    []string{`__name__="m", empty="": 5@1`},
			samples: 1,
		},
		{
			// VictoriaMetrics' unmarshaller skips them: nothing to store.
			name: "series without samples are skipped",
			wr: promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{
				series([]string{"__name__", "m"}),
			}},
		},
		{
			name: "metadata",
			wr: promprompb.WriteRequest{Metadata: []promprompb.MetricMetadata{
				{Type: promprompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests.", Unit: ""},
				{Type: promprompb.MetricMetadata_GAUGEHISTOGRAM, MetricFamilyName: "gh", Help: "", Unit: "seconds"},
			}},
			meta: []Metadata{
				{Metric: "http_requests_total", Type: "counter", Help: "Requests."},
				{Metric: "gh", Type: "gaugehistogram", Unit: "seconds"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := encodeWriteRequest(t, &tt.wr)
			if got := decodedForTest(t, body); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded:\n got %q\nwant %q", got, tt.want)
			}
			rows := filledRows()
			res, err := DecodeRemoteWrite(body, rows)
			if err != nil {
				t.Fatal(err)
			}
			if res.Series != len(tt.want) || res.Samples != tt.samples || rows.Len() != 1+tt.samples {
				t.Errorf("result %+v, rows.Len() %d; want %d series, %d samples", res, rows.Len(), len(tt.want), tt.samples)
			}
			if !reflect.DeepEqual(res.Metadata, tt.meta) {
				t.Errorf("metadata:\n got %+v\nwant %+v", res.Metadata, tt.meta)
			}
		})
	}
}

// TestDecodeRemoteWriteNativeHistogram checks that a native histogram is
// stored as VictoriaMetrics stores it rather than rejected.
func TestDecodeRemoteWriteNativeHistogram(t *testing.T) {
	wr := promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{{
		Labels: []promprompb.Label{{Name: "__name__", Value: "latency"}},
		Histograms: []promprompb.Histogram{{
			Count:          &promprompb.Histogram_CountInt{CountInt: 3},
			Sum:            1.5,
			Schema:         0,
			PositiveSpans:  []promprompb.BucketSpan{{Offset: 0, Length: 2}},
			PositiveDeltas: []int64{1, 1},
			Timestamp:      1000,
		}},
	}}}
	got := decodedForTest(t, encodeWriteRequest(t, &wr))
	want := []string{
		`__name__="latency_count": 3@1000`,
		`__name__="latency_sum": 1.5@1000`,
		`__name__="latency_bucket", vmrange="5.000e-01...1.000e+00": 1@1000`,
		`__name__="latency_bucket", vmrange="1.000e+00...2.000e+00": 2@1000`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded:\n got %q\nwant %q", got, want)
	}
}

func TestDecodeRemoteWriteErrors(t *testing.T) {
	good := series([]string{"__name__", "good", "job", "j"}, 1, 1)
	request := func(bad promprompb.TimeSeries) []byte {
		// The bad series comes after a good one: neither may be stored.
		return encodeWriteRequest(t, &promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{good, bad}})
	}
	var framed bytes.Buffer
	w := snappy.NewBufferedWriter(&framed)
	_, _ = w.Write([]byte("hello"))
	_ = w.Close()
	protoBytes, _ := (&promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{good}}).Marshal()

	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"not snappy", []byte("up 1\n"), "cannot decompress the remote write body (5 bytes): its snappy header claims 117 bytes, more than snappy can encode in it; the body must be snappy block-compressed"},
		{"uncompressed protobuf", protoBytes, "the body must be snappy block-compressed"},
		{"empty body", nil, "snappy: corrupt input; the body must be snappy block-compressed"},
		{"snappy stream format", framed.Bytes(), "it is in snappy's framed (stream) format; remote write needs snappy block format"},
		{"truncated snappy", snappy.Encode(nil, protoBytes)[:10], "snappy: corrupt input; the body must be snappy block-compressed"},
		{"snappy header claims 4 GiB", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "decompresses to 4294967295 bytes; the limit is 67108864: send smaller batches"},
		{"snappy header claims more than the body can hold", []byte{0x80, 0x80, 0x04, 0}, "its snappy header claims 65536 bytes, more than snappy can encode in it"},
		{"malformed protobuf", snappy.Encode(nil, []byte{0x0a, 0x05, 0x0a}), "cannot decode the remote write request (3 bytes after snappy)"},
		{"wrong wire type", snappy.Encode(nil, []byte{0x0b}), "cannot decode the remote write request"},
		{"truncated protobuf", snappy.Encode(nil, protoBytes[:len(protoBytes)-1]), "the body must be a protobuf prometheus.WriteRequest"},
		{"no metric name", request(series([]string{"job", "j"}, 1, 1)), `has no metric name (label __name__); nothing of this request was stored`},
		{"empty metric name", request(series([]string{"__name__", "", "job", "j"}, 1, 1)), `no metric name (label __name__)`},
		{"empty label name", request(series([]string{"__name__", "m", "", "v"}, 1, 1)), `m{""="v"}: empty label name (value "v")`},
		{"invalid UTF-8 label name", request(series([]string{"__name__", "m", "a\xffb", "v"}, 1, 1)), `label name "a\xffb" is not valid UTF-8`},
		{"invalid UTF-8 label value", request(series([]string{"__name__", "m", "a", "\xc3\x28"}, 1, 1)), `value "\xc3(" of label "a" is not valid UTF-8`},
		{"invalid UTF-8 metric name", request(series([]string{"__name__", "\xff"}, 1, 1)), `value "\xff" of label "__name__" is not valid UTF-8`},
		{"label value too long", request(series([]string{"__name__", "m", "a", strings.Repeat("v", 65536)}, 1, 1)), `value of label "a" is 65536 bytes long; the limit is 65535`},
		{"label name too long", request(series([]string{"__name__", "m", strings.Repeat("n", 65536), "v"}, 1, 1)), `is 65536 bytes long; the limit is 65535`},
		{"duplicate label", request(series([]string{"__name__", "m", "a", "1", "a", "2"}, 1, 1)), `m{a="1", a="2"}: label "a" appears more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := filledRows()
			res, err := DecodeRemoteWrite(tt.body, rows)
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n got %q\nwant it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v does not match ErrBadInput", err)
			}
			if rows.Len() != 1 {
				t.Errorf("rows.Len() = %d after a failed decode; want 1 (untouched)", rows.Len())
			}
		})
	}
}

// TestDecodeRemoteWriteReusesDecoders checks that pooled buffers from a
// big request do not leak into a later small one.
func TestDecodeRemoteWriteReusesDecoders(t *testing.T) {
	big := benchmarkWriteRequest(50, 5)
	small := &promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{series([]string{"__name__", "m"}, 1, 1)}}
	for i := 0; i < 3; i++ {
		for _, wr := range []*promprompb.WriteRequest{big, small} {
			var rows storage.Rows
			res, err := DecodeRemoteWrite(encodeWriteRequest(t, wr), &rows)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(wr.Timeseries); res.Series != want {
				t.Fatalf("series %d; want %d", res.Series, want)
			}
			if got := decodedForTest(t, encodeWriteRequest(t, wr)); len(got) != len(wr.Timeseries) {
				t.Fatalf("decoded %d series; want %d", len(got), len(wr.Timeseries))
			}
		}
	}
}

// benchmarkWriteRequest returns a request shaped like a Prometheus server's:
// a handful of labels per series, samples 15 s apart.
func benchmarkWriteRequest(nSeries, nSamples int) *promprompb.WriteRequest {
	wr := &promprompb.WriteRequest{}
	for i := 0; i < nSeries; i++ {
		ts := promprompb.TimeSeries{Labels: []promprompb.Label{
			{Name: "__name__", Value: "http_request_duration_seconds_bucket"},
			{Name: "endpoint", Value: fmt.Sprintf("/api/v1/panic/%d", i%20)},
			{Name: "instance", Value: "panic-api-7d9f8b6c5-x2k4q:8000"},
			{Name: "job", Value: "panic-api"},
			{Name: "le", Value: fmt.Sprintf("%d", i%12)},
			{Name: "method", Value: "POST"},
		}}
		for j := 0; j < nSamples; j++ {
			ts.Samples = append(ts.Samples, promprompb.Sample{Value: float64(i*j) + 0.5, Timestamp: 1712345678000 + int64(j)*15000})
		}
		wr.Timeseries = append(wr.Timeseries, ts)
	}
	return wr
}

func BenchmarkDecodeRemoteWrite(b *testing.B) {
	body := encodeWriteRequest(b, benchmarkWriteRequest(500, 20))
	var rows storage.Rows
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	samples := 0
	for b.Loop() {
		rows.Reset()
		res, err := DecodeRemoteWrite(body, &rows)
		if err != nil {
			b.Fatal(err)
		}
		samples += res.Samples
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
}

// A failed decode must not leak into the next request: protobuf leaves
// zero values out, so a sample of 0 after a failed request once came back
// with the failed request's value (docs/reliability.md, finding 1).
func TestRemoteWriteZeroAfterFailedDecode(t *testing.T) {
	encode := func(wr *promprompb.WriteRequest) []byte {
		b, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	series := func(v float64, ts int64) promprompb.TimeSeries {
		return promprompb.TimeSeries{
			Labels:  []promprompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "api"}},
			Samples: []promprompb.Sample{{Value: v, Timestamp: ts}},
		}
	}
	good := encode(&promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{series(42, 1000)}})
	bad := append(encode(&promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{series(42, 1000), series(42, 2000)}}), 0x0a, 0x20) // a truncated third series
	zero := encode(&promprompb.WriteRequest{Timeseries: []promprompb.TimeSeries{series(0, 3000)}})

	var rows storage.Rows
	if _, err := DecodeRemoteWrite(snappy.Encode(nil, good), &rows); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRemoteWrite(snappy.Encode(nil, bad), &rows); err == nil {
		t.Fatal("the truncated request decoded")
	}
	rows.Reset()
	if _, err := DecodeRemoteWrite(snappy.Encode(nil, zero), &rows); err != nil {
		t.Fatal(err)
	}
	var got []float64
	_ = rows.ForEach(func(_ []storage.Label, ts int64, v float64) { got = append(got, v) })
	if len(got) != 1 || got[0] != 0 {
		t.Fatalf("the zero sample after a failed decode came back as %v", got)
	}
}
