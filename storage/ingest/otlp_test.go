package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	metricsv1 "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-monitoring/vigil/storage"
)

// rowLines renders rows as `labels value @timestamp`, sorted.
func rowLines(t *testing.T, rows *storage.Rows) []string {
	t.Helper()
	var out []string
	if err := rows.ForEach(func(ls []storage.Label, ts int64, v float64) {
		out = append(out, fmt.Sprintf("%s %s @%d", fmtLabels(ls), fmtValue(v), ts))
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// otlpProtobuf turns an OTLP/JSON request into its protobuf form.
func otlpProtobuf(t testing.TB, js string) []byte {
	t.Helper()
	var md metricsv1.MetricsData
	if err := protojson.Unmarshal([]byte(js), &md); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&md)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// otlpResourceJSON is a resource as the OpenTelemetry SDK describes one.
const otlpResourceJSON = `"resource": {"attributes": [
	{"key": "service.name", "value": {"stringValue": "checkout"}},
	{"key": "service.namespace", "value": {"stringValue": "shop"}},
	{"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
	{"key": "host.name", "value": {"stringValue": "node7"}},
	{"key": "k8s.pod.labels", "value": {"kvlistValue": {"values": [{"key": "app", "value": {"stringValue": "web"}}]}}},
	{"key": "cores", "value": {"intValue": "8"}}
]}`

func TestDecodeOTLP(t *testing.T) {
	tests := []struct {
		name     string
		metrics  string // the metrics array of one scope
		want     []string
		rejected int
		reason   string
	}{
		{
			name: "monotonic sum: _total, unit suffix, attributes as labels",
			metrics: `{"name": "http.server.requests", "unit": "1", "sum": {"isMonotonic": true, "aggregationTemporality": 2,
				"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "42", "attributes": [
					{"key": "http.method", "value": {"stringValue": "GET"}}, {"key": "http.status_code", "value": {"intValue": "200"}}]}]}}`,
			want: []string{`__name__="http_server_requests_total", http_method="GET", http_status_code="200", job="shop/checkout", instance="pod-1" 42 @1700000000000`},
		},
		{
			name: "gauge with a unit, a double value and the no-recorded-value flag",
			metrics: `{"name": "process.memory.usage", "unit": "By", "gauge": {"dataPoints": [
				{"timeUnixNano": "1700000000000000000", "asDouble": 1.5e6},
				{"timeUnixNano": "1700000015000000000", "flags": 1}]}}`,
			want: []string{
				`__name__="process_memory_usage_bytes", job="shop/checkout", instance="pod-1" 1.5e+06 @1700000000000`,
				`__name__="process_memory_usage_bytes", job="shop/checkout", instance="pod-1" StaleNaN @1700000015000`,
			},
		},
		{
			name: "gauge with unit 1 gets _ratio; a non-monotonic sum does not",
			metrics: `{"name": "cpu.utilization", "unit": "1", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": 0.25}]}},
				{"name": "queue.size", "unit": "1", "sum": {"aggregationTemporality": 2, "dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "3"}]}}`,
			want: []string{
				`__name__="cpu_utilization_ratio", job="shop/checkout", instance="pod-1" 0.25 @1700000000000`,
				`__name__="queue_size", job="shop/checkout", instance="pod-1" 3 @1700000000000`,
			},
		},
		{
			name: "histogram: cumulative buckets with le, _sum and _count",
			metrics: `{"name": "http.server.duration", "unit": "s", "histogram": {"aggregationTemporality": 2, "dataPoints": [
				{"timeUnixNano": "1700000000000000000", "count": "6", "sum": 2.5, "bucketCounts": ["1", "2", "3"], "explicitBounds": [0.1, 0.5]}]}}`,
			want: []string{
				`__name__="http_server_duration_seconds_count", job="shop/checkout", instance="pod-1" 6 @1700000000000`,
				`__name__="http_server_duration_seconds_sum", job="shop/checkout", instance="pod-1" 2.5 @1700000000000`,
				`__name__="http_server_duration_seconds_bucket", job="shop/checkout", instance="pod-1", le="+Inf" 6 @1700000000000`,
				`__name__="http_server_duration_seconds_bucket", job="shop/checkout", instance="pod-1", le="0.1" 1 @1700000000000`,
				`__name__="http_server_duration_seconds_bucket", job="shop/checkout", instance="pod-1", le="0.5" 3 @1700000000000`,
			},
		},
		{
			name: "summary: quantiles, _sum, _count",
			metrics: `{"name": "rpc.latency", "unit": "ms", "summary": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "count": "10", "sum": 55,
				"quantileValues": [{"quantile": 0.5, "value": 4}, {"quantile": 0.99, "value": 9}]}]}}`,
			want: []string{
				`__name__="rpc_latency_milliseconds_count", job="shop/checkout", instance="pod-1" 10 @1700000000000`,
				`__name__="rpc_latency_milliseconds_sum", job="shop/checkout", instance="pod-1" 55 @1700000000000`,
				`__name__="rpc_latency_milliseconds", job="shop/checkout", instance="pod-1", quantile="0.5" 4 @1700000000000`,
				`__name__="rpc_latency_milliseconds", job="shop/checkout", instance="pod-1", quantile="0.99" 9 @1700000000000`,
			},
		},
		{
			name: "exponential histogram: vmrange buckets, as native histograms",
			metrics: `{"name": "payload.size", "unit": "By", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [
				{"timeUnixNano": "1700000000000000000", "count": "3", "sum": 7, "scale": 0, "zeroCount": "1", "positive": {"offset": 1, "bucketCounts": ["2"]}}]}}`,
			want: []string{
				`__name__="payload_size_bytes_count", job="shop/checkout", instance="pod-1" 3 @1700000000000`,
				`__name__="payload_size_bytes_sum", job="shop/checkout", instance="pod-1" 7 @1700000000000`,
				`__name__="payload_size_bytes_bucket", job="shop/checkout", instance="pod-1", vmrange="-0.000e+00...0.000e+00" 1 @1700000000000`,
				`__name__="payload_size_bytes_bucket", job="shop/checkout", instance="pod-1", vmrange="2.000e+00...4.000e+00" 2 @1700000000000`,
			},
		},
		{
			name: "attributes that become the same label are joined with ; in name order",
			metrics: `{"name": "m", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "1", "attributes": [
				{"key": "a_b", "value": {"stringValue": "2"}}, {"key": "a.b", "value": {"stringValue": "1"}}, {"key": "job", "value": {"stringValue": "overridden"}}]}]}}`,
			want: []string{`__name__="m", a_b="1;2", job="shop/checkout", instance="pod-1" 1 @1700000000000`},
		},
		{
			name: "a map attribute of a data point becomes a label per key, an array JSON text",
			metrics: `{"name": "m", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "1", "attributes": [
				{"key": "http.headers", "value": {"kvlistValue": {"values": [{"key": "host", "value": {"stringValue": "a"}}]}}},
				{"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "2"}]}}}]}]}}`,
			want: []string{`__name__="m", http_headers_host="a", tags="[\"x\",2]", job="shop/checkout", instance="pod-1" 1 @1700000000000`},
		},
		{
			name: "delta sums are not stored and are reported",
			metrics: `{"name": "requests", "sum": {"isMonotonic": true, "aggregationTemporality": 1, "dataPoints": [
				{"timeUnixNano": "1700000000000000000", "asInt": "1"}, {"timeUnixNano": "1700000001000000000", "asInt": "2"}]}},
				{"name": "up", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "1"}]}}`,
			want:     []string{`__name__="up", job="shop/checkout", instance="pod-1" 1 @1700000000000`},
			rejected: 2,
			reason:   `resource_metrics[0].scope_metrics[0].metrics[0] ("requests").sum has delta temporality`,
		},
		{
			name:     "histogram points without buckets are reported",
			metrics:  `{"name": "h", "histogram": {"aggregationTemporality": 2, "dataPoints": [{"timeUnixNano": "1700000000000000000", "count": "2", "sum": 1}]}}`,
			rejected: 1,
			reason:   "1 histogram data points have no bucket_counts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := `{"resourceMetrics": [{` + otlpResourceJSON + `, "scopeMetrics": [{"scope": {"name": "lib", "version": "1"}, "metrics": [` + tc.metrics + `]}]}]}`
			want := slices.Clone(tc.want)
			if len(want) > 0 {
				// target_info at the first and the last time (15 s
				// apart at most here).
				info := `__name__="target_info", cores="8", host_name="node7", k8s_pod_labels="{\"app\":\"web\"}", job="shop/checkout", instance="pod-1" 1 @`
				var times []string
				for _, w := range want {
					times = append(times, w[strings.LastIndexByte(w, '@')+1:])
				}
				slices.Sort(times)
				want = append(want, info+times[0])
				if times[len(times)-1] != times[0] {
					want = append(want, info+times[len(times)-1])
				}
				slices.Sort(want)
			}
			for _, enc := range []struct {
				json bool
				body []byte
			}{{true, []byte(js)}, {false, otlpProtobuf(t, js)}} {
				rows := filledRows()
				res, err := DecodeOTLP(enc.body, OTLPOptions{JSON: enc.json}, rows)
				if err != nil {
					t.Fatalf("json=%v: %v", enc.json, err)
				}
				got := rowLines(t, rows)
				got = slices.DeleteFunc(got, func(s string) bool { return strings.HasPrefix(s, `__name__="before"`) })
				if !slices.Equal(got, want) {
					t.Errorf("json=%v: got\n%s\nwant\n%s", enc.json, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if res.Samples != len(want) || rows.Len() != 1+len(want) {
					t.Errorf("json=%v: Samples = %d, rows %d; want %d", enc.json, res.Samples, rows.Len()-1, len(want))
				}
				if res.RejectedPoints != tc.rejected || !strings.Contains(res.RejectedReason, tc.reason) || (tc.reason == "") != (res.RejectedReason == "") {
					t.Errorf("json=%v: rejected %d %q; want %d containing %q", enc.json, res.RejectedPoints, res.RejectedReason, tc.rejected, tc.reason)
				}
			}
		})
	}
}

func TestDecodeOTLPTargetInfoSpansTheSamples(t *testing.T) {
	js := `{"resourceMetrics": [{` + otlpResourceJSON + `, "scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": [
		{"timeUnixNano": "1700000000000000000", "asInt": "1"}, {"timeUnixNano": "1700000400000000000", "asInt": "2"}]}}]}]}]}`
	var rows storage.Rows
	if _, err := DecodeOTLP([]byte(js), OTLPOptions{JSON: true, TargetInfoInterval: 150e9}, &rows); err != nil {
		t.Fatal(err)
	}
	var times []int64
	_ = rows.ForEach(func(ls []storage.Label, ts int64, v float64) {
		if labelValue(ls, "__name__") == "target_info" {
			times = append(times, ts)
		}
	})
	want := []int64{1700000000000, 1700000150000, 1700000300000, 1700000400000}
	if !slices.Equal(times, want) {
		t.Fatalf("target_info at %v; want %v", times, want)
	}
}

func TestDecodeOTLPBadInput(t *testing.T) {
	dp := `{"timeUnixNano": "1700000000000000000", "asInt": "1"}`
	tests := []struct {
		name, body string
		json       bool
		want       string
	}{
		{"not protobuf", "\xff\xff\xff", false, "cannot decode the OTLP request"},
		{"not JSON", `{"resourceMetrics": [`, true, "cannot decode the OTLP/JSON request"},
		{"wrong JSON type", `{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{"asInt": "x"}]}}]}]}]}`, true, "asInt"},
		{"metric without a name", `{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [` + dp + `]}}]}]}]}`, true,
			"resource_metrics[0].scope_metrics[0].metrics[0]: a metric without a name"},
		{"buckets that do not match the bounds", `{"resourceMetrics": [{"scopeMetrics": [{}, {"metrics": [{"name": "h", "histogram": {"aggregationTemporality": 2,
			"dataPoints": [{"timeUnixNano": "1", "bucketCounts": ["1", "2"], "explicitBounds": [1, 2]}]}}]}]}]}`, true,
			`resource_metrics[0].scope_metrics[1].metrics[0] ("h").histogram.data_points[0]: 2 bucket_counts for 2 explicit_bounds`},
		{"a data point without a time", `{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{"asInt": "1"}]}}]}]}]}`, true,
			"without time_unix_nano"},
		{"an attribute without a key", `{"resourceMetrics": [{"resource": {"attributes": [{"value": {"stringValue": "x"}}]}}]}`, true,
			"resource_metrics[0].resource.attributes[0]: an attribute without a key"},
		{"bytes attributes become base64 text", `{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{"timeUnixNano": "1",
			"asInt": "1", "attributes": [{"key": "k", "value": {"bytesValue": "/w=="}}]}, ` + dp + `]}}]}]}]}`, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := filledRows()
			_, err := DecodeOTLP([]byte(tc.body), OTLPOptions{JSON: tc.json}, rows)
			if tc.want == "" {
				// bytes are base64: valid. The case checks that a good
				// request with several points is stored whole.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want bad input containing %q", err, tc.want)
			}
			if rows.Len() != 1 {
				t.Fatalf("rows.Len() = %d after an error; want 1", rows.Len())
			}
		})
	}
}

// A failure in the second resource removes the first one's samples too.
func TestDecodeOTLPStoresNothingOfABadRequest(t *testing.T) {
	good := `{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "1"}]}}]}]}`
	bad := `{"scopeMetrics": [{"metrics": [{"name": "m", "gauge": {"dataPoints": [{"asInt": "1"}]}}]}]}`
	rows := filledRows()
	_, err := DecodeOTLP([]byte(`{"resourceMetrics": [`+good+`, `+bad+`]}`), OTLPOptions{JSON: true}, rows)
	if !errors.Is(err, ErrBadInput) || !strings.HasPrefix(err.Error(), "resource_metrics[1]") || rows.Len() != 1 {
		t.Fatalf("err %v, rows %d; want a bad-input error for resource_metrics[1] and rows unchanged", err, rows.Len())
	}
}
