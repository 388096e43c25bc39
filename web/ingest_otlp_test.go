package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	metricsv1 "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-monitoring/vigil/storage"
)

// TestOTLPFromTheOpenTelemetrySDK pushes a counter, a gauge and a
// histogram with the OpenTelemetry Go SDK's OTLP/HTTP exporter, as an
// instrumented service would, and reads them back through the query API.
func TestOTLPFromTheOpenTelemetrySDK(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx,
		otlpmetrichttp.WithEndpointURL(srv.URL+"/opentelemetry/v1/metrics"),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "checkout"),
		attribute.String("service.namespace", "shop"),
		attribute.String("service.instance.id", "pod-1"),
		attribute.String("deployment.environment", "prod"),
	)
	// A long interval: the test exports by ForceFlush.
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	t.Cleanup(func() { _ = provider.Shutdown(ctx) })
	meter := provider.Meter("vigil-test")

	orders, err := meter.Int64Counter("orders.placed", metric.WithUnit("{order}"), metric.WithDescription("Orders placed."))
	if err != nil {
		t.Fatal(err)
	}
	queue, err := meter.Float64Gauge("queue.depth", metric.WithUnit("By"))
	if err != nil {
		t.Fatal(err)
	}
	latency, err := meter.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.1, 0.5, 1))
	if err != nil {
		t.Fatal(err)
	}
	get := metric.WithAttributes(attribute.String("http.request.method", "GET"))
	orders.Add(ctx, 2, get)
	orders.Add(ctx, 3, get)
	queue.Record(ctx, 1536)
	for _, v := range []float64{0.05, 0.2, 0.3, 0.7, 2} {
		latency.Record(ctx, v, get)
	}
	before := time.Now()
	if err := provider.ForceFlush(ctx); err != nil {
		t.Fatalf("the exporter failed: %v", err)
	}
	at := time.Now()

	const id = "instance=pod-1,job=shop/checkout"
	check := func(query string, want ...string) {
		t.Helper()
		if got := instant(t, srv, st, query, at); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", query, got, want)
		}
	}
	check("orders_placed_total", "__name__=orders_placed_total,http_request_method=GET,"+id+" 5")
	check("queue_depth_bytes", "__name__=queue_depth_bytes,"+id+" 1536")
	check("http_server_request_duration_seconds_bucket",
		"__name__=http_server_request_duration_seconds_bucket,http_request_method=GET,"+id+",le=0.1 1",
		"__name__=http_server_request_duration_seconds_bucket,http_request_method=GET,"+id+",le=0.5 3",
		"__name__=http_server_request_duration_seconds_bucket,http_request_method=GET,"+id+",le=1 4",
		"__name__=http_server_request_duration_seconds_bucket,http_request_method=GET,"+id+",le=+Inf 5")
	check("http_server_request_duration_seconds_sum", "__name__=http_server_request_duration_seconds_sum,http_request_method=GET,"+id+" 3.25")
	check("http_server_request_duration_seconds_count", "__name__=http_server_request_duration_seconds_count,http_request_method=GET,"+id+" 5")
	check("target_info", "__name__=target_info,deployment_environment=prod,"+id+" 1")
	// The samples carry the SDK's collection time.
	ts := instant(t, srv, st, "timestamp(orders_placed_total)", at)
	if len(ts) != 1 {
		t.Fatalf("timestamp(orders_placed_total) = %q", ts)
	}
	sec, err := strconv.ParseFloat(ts[0][strings.LastIndexByte(ts[0], ' ')+1:], 64)
	if err != nil || sec < float64(before.Add(-time.Second).Unix()) || sec > float64(at.Unix()+1) {
		t.Errorf("timestamp(orders_placed_total) = %q; want the export's time, %s", ts, before)
	}
	md := st.Metadata("orders_placed_total", 10)
	if len(md) != 1 || md[0].Type != "counter" || md[0].Help != "Orders placed." {
		t.Errorf("metadata of orders_placed_total = %+v; want a counter with its description", md)
	}
}

// otlpJSONRequest is an OTLP/JSON request with one gauge point per name.
func otlpJSONRequest(names ...string) string {
	var ms []string
	for _, n := range names {
		ms = append(ms, `{"name": "`+n+`", "gauge": {"dataPoints": [{"timeUnixNano": "`+
			nowNanos()+`", "asDouble": 1.5, "attributes": [{"key": "k", "value": {"stringValue": "v"}}]}]}}`)
	}
	return `{"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}, "scopeMetrics": [{"metrics": [` +
		strings.Join(ms, ",") + `]}]}]}`
}

func nowNanos() string {
	return strconv.FormatInt(time.Now().UnixNano(), 10)
}

// TestOTLPAnswers checks the status codes and bodies OTLP clients expect.
func TestOTLPAnswers(t *testing.T) {
	srv, st := ingestServer(t, Options{MaxRequestSamples: 4})
	u := srv.URL + "/opentelemetry/v1/metrics"

	// JSON in, JSON out; gzip is read.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(otlpJSONRequest("a.b")))
	_ = zw.Close()
	code, body := send(t, http.MethodPost, u, "application/json", gz.Bytes(), "Content-Encoding", "gzip")
	if code != 200 || body != "{}\n" {
		t.Fatalf("OTLP/JSON: %d %q; want 200 {}", code, body)
	}
	if got := instant(t, srv, st, "a_b", time.Now()); !slices.Equal(got, []string{"__name__=a_b,job=svc,k=v 1.5"}) {
		t.Fatalf("a_b = %q", got)
	}

	// VictoriaMetrics' path; a delta sum is a partial success.
	delta := `{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "d", "sum": {"aggregationTemporality": 1, "isMonotonic": true,
		"dataPoints": [{"timeUnixNano": "` + nowNanos() + `", "asInt": "1"}]}}]}]}]}`
	code, body = send(t, http.MethodPost, srv.URL+"/opentelemetry/api/v1/push", "application/json", []byte(delta))
	var ps struct {
		PartialSuccess struct{ RejectedDataPoints, ErrorMessage string }
	}
	if err := json.Unmarshal([]byte(body), &ps); code != 200 || err != nil || ps.PartialSuccess.RejectedDataPoints != "1" ||
		!strings.Contains(ps.PartialSuccess.ErrorMessage, "delta temporality") {
		t.Fatalf("delta sum: %d %s; want 200 with partialSuccess of 1 point", code, body)
	}

	// Malformed: 400 with a google.rpc.Status, in the request's encoding
	// (here at Prometheus' path for OTLP).
	code, body = send(t, http.MethodPost, srv.URL+"/api/v1/otlp/v1/metrics", "application/json", []byte(`{"resourceMetrics": {}}`))
	var status struct {
		Code    int
		Message string
	}
	if err := json.Unmarshal([]byte(body), &status); code != 400 || err != nil || status.Code != 3 || !strings.Contains(status.Message, "resourceMetrics") {
		t.Fatalf("malformed JSON: %d %s; want 400 with status code 3 naming the field", code, body)
	}
	code, body = send(t, http.MethodPost, u, "application/x-protobuf", []byte{0x0a, 0x05, 0x0a})
	if rpc, msg := decodeStatus(t, []byte(body)); code != 400 || rpc != 3 || !strings.Contains(msg, "cannot decode the OTLP request") {
		t.Fatalf("malformed protobuf: %d %d %q; want 400 with status 3", code, rpc, msg)
	}
	if code, _ := send(t, http.MethodPost, u, "text/plain", []byte("x")); code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d; want 415", code)
	}

	// Past the samples limit: 400 and nothing stored.
	code, body = send(t, http.MethodPost, u, "application/json", []byte(otlpJSONRequest("l1", "l2", "l3", "l4", "l5")))
	if code != 400 || !strings.Contains(body, "limits.max-samples-per-request") {
		t.Fatalf("5 samples + target_info past a limit of 4: %d %s; want 400", code, body)
	}
	if got := instant(t, srv, st, `{__name__=~"l."}`, time.Now()); len(got) != 0 {
		t.Fatalf("a refused request stored %q", got)
	}
}

// TestOTLPCardinalityLimitIsAPartialSuccess: series past a limit are
// reported in partial_success, the others stored.
func TestOTLPCardinalityLimitIsAPartialSuccess(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{Retention: 100 * 365 * 24 * time.Hour, MaxSeries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := httptest.NewServer(newTestServer(t, st, Options{}, Deps{}))
	t.Cleanup(srv.Close)
	code, body := send(t, http.MethodPost, srv.URL+"/opentelemetry/v1/metrics", "application/x-protobuf", otlpProtobufBody(t, otlpJSONRequest("p1", "p2", "p3")))
	if code != 200 {
		t.Fatalf("%d %q; want 200", code, body)
	}
	rejected, msg := decodePartialSuccess(t, []byte(body))
	if rejected != 1 || !strings.Contains(msg, "cardinality limits") {
		t.Fatalf("partial success %d %q; want 1 sample refused by the cardinality limits", rejected, msg)
	}
	if got := instant(t, srv, st, `{__name__=~"p."}`, time.Now()); len(got) != 2 {
		t.Fatalf("stored %q; want the two series within the limit", got)
	}
}

// otlpProtobufBody turns an OTLP/JSON request into protobuf.
func otlpProtobufBody(t *testing.T, js string) []byte {
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

// decodeStatus reads a google.rpc.Status.
func decodeStatus(t *testing.T, b []byte) (code int, msg string) {
	t.Helper()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("not a protobuf Status: %q", b)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			code, b = int(v), b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			msg, b = v, b[n:]
		default:
			t.Fatalf("unexpected field %d in a Status", num)
		}
	}
	return code, msg
}

// decodePartialSuccess reads an ExportMetricsServiceResponse.
func decodePartialSuccess(t *testing.T, b []byte) (rejected int64, msg string) {
	t.Helper()
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		t.Fatalf("no partial_success in %q", b)
	}
	ps, _ := protowire.ConsumeBytes(b[n:])
	code, msg := decodeStatus(t, ps) // same field numbers and types
	return int64(code), msg
}
