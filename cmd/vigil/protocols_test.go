//go:build unix

package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// TestPushProtocols runs the binary with authentication on and pushes to
// it as instrumented services do: the OpenTelemetry Go SDK's OTLP/HTTP
// exporter and InfluxDB's Go client, each with a writer's API token; a
// viewer then exports what they wrote.
func TestPushProtocols(t *testing.T) {
	p := startVigilProcess(t)
	createUserViaAPI(t, p.BaseURL, "pusher", "writer")
	_, token := createTokenViaAPI(t, p.BaseURL, "pusher", "apps", "")
	viewer := clientAs("grafana", createUserViaAPI(t, p.BaseURL, "grafana", "viewer"))
	admin := adminClient()
	ctx := context.Background()

	// OTLP/HTTP from the OpenTelemetry SDK.
	exp, err := otlpmetrichttp.New(ctx,
		otlpmetrichttp.WithEndpointURL(p.BaseURL+"/opentelemetry/v1/metrics"),
		otlpmetrichttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "dispatch"), attribute.String("service.instance.id", "api-0"))),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	defer func() { _ = provider.Shutdown(ctx) }()
	meter := provider.Meter("e2e")
	calls, _ := meter.Int64Counter("dispatch.calls")
	wait, _ := meter.Float64Histogram("dispatch.wait", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(1, 10))
	calls.Add(ctx, 7, metric.WithAttributes(attribute.String("zone", "harbor")))
	wait.Record(ctx, 0.5)
	wait.Record(ctx, 4)
	if err := provider.ForceFlush(ctx); err != nil {
		t.Fatalf("OTLP export to the binary: %v", err)
	}
	waitQuery(t, admin, p.BaseURL, `dispatch_calls_total{job="dispatch",instance="api-0",zone="harbor"}`, "7")
	waitQuery(t, admin, p.BaseURL, `dispatch_wait_seconds_bucket{job="dispatch",instance="api-0",le="1"}`, "1")
	waitQuery(t, admin, p.BaseURL, `dispatch_wait_seconds_bucket{job="dispatch",instance="api-0",le="+Inf"}`, "2")
	waitQuery(t, admin, p.BaseURL, `dispatch_wait_seconds_sum{job="dispatch",instance="api-0"}`, "4.5")

	// InfluxDB 2's client, with the token in its own "Token" scheme.
	client := influxdb2.NewClient(p.BaseURL, token)
	defer client.Close()
	if ok, err := client.Ping(ctx); !ok || err != nil {
		t.Fatalf("Influx ping: %v %v", ok, err)
	}
	at := time.Now()
	w := client.WriteAPIBlocking("panic", "platform")
	if err := w.WritePoint(ctx, influxdb2.NewPoint("responders", map[string]string{"zone": "harbor"}, map[string]any{"available": 4, "busy": 2.5}, at)); err != nil {
		t.Fatalf("Influx write: %v", err)
	}
	if err := w.WriteRecord(ctx, "responders,zone=airport available=x"); err == nil || !strings.Contains(err.Error(), `line 1: field "available"`) {
		t.Fatalf("a bad Influx line: %v; want Vigil's error", err)
	}
	waitQuery(t, admin, p.BaseURL, `responders_available{db="platform",zone="harbor"}`, "4")
	waitQuery(t, admin, p.BaseURL, `responders_busy{db="platform",zone="harbor"}`, "2.5")

	// A viewer exports; the writer's token reads nothing, and nobody
	// pushes without credentials.
	u := p.BaseURL + "/api/v1/export?" + url.Values{"match[]": {"responders_available"}}.Encode()
	if code, body := httpGet(t, viewer, u); code != 200 || !strings.HasPrefix(body, `{"metric":{"__name__":"responders_available","db":"platform","zone":"harbor"},"values":[4],"timestamps":[`) {
		t.Fatalf("export as viewer: %d %s", code, body)
	}
	bearer := &http.Client{Transport: bearerTransport(nil, token), Timeout: 30 * time.Second}
	if code, _ := httpGet(t, bearer, u); code != http.StatusForbidden {
		t.Fatalf("export with a writer's token: %d; want 403", code)
	}
	resp, err := http.Post(p.BaseURL+"/opentelemetry/v1/metrics", "application/x-protobuf", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("OTLP without credentials: %d; want 401", resp.StatusCode)
	}
	p.Stop()
}

func httpGet(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
