package appliance

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLimitsReachIngestion starts an appliance with small limits and checks
// that each one answers as its flag says.
func TestLimitsReachIngestion(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits = LimitsConfig{MaxSamplesPerRequest: 3, MaxSeries: 10, MaxSeriesPerMetric: 1}
	a := startAppliance(t, cfg)
	post := func(text string) (int, string) {
		t.Helper()
		resp, err := http.Post(a.URL()+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name, text string
		code       int
		want       string
	}{
		{"samples per request", "a 1\nb 1\nc 1\nd 1\n", http.StatusBadRequest, "--limits.max-samples-per-request"},
		{"within the limits", "a 1\nb{x=\"1\"} 1\n", http.StatusNoContent, ""},
		{"series per metric", "b{x=\"2\"} 1\n", http.StatusBadRequest, `b{x="2"}: metric_series_limit`},
		{"existing series", "b{x=\"1\"} 2\n", http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		code, body := post(tt.text)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %q, want %d mentioning %q", tt.name, code, body, tt.code, tt.want)
		}
	}
	_, metricsText := get(t, a.URL()+"/metrics")
	for _, want := range []string{"vigil_series_limit_max_series 10", "vigil_metric_series_limit_max_series 1", "vigil_series_limit_current_series 2"} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMaxSamplesHoldsForSplitRangeQueries checks that a range query the
// API splits across cores is held to --query.max-samples as a whole: each
// part may hold only its share.
func TestMaxSamplesHoldsForSplitRangeQueries(t *testing.T) {
	defer runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	cfg := testConfig(t)
	cfg.Query.MaxSamples = 600
	a := startAppliance(t, cfg)
	// Two series of 481 points over two hours: one fits the limit, both
	// do not, and each part of both (about 481) would fit a whole limit.
	const points, step = 481, 15_000
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Minute).UnixMilli()
	var text strings.Builder
	for i := range points {
		for _, s := range []string{"a", "b"} {
			fmt.Fprintf(&text, "x{s=%q} %d %d\n", s, i, start+int64(i)*step)
		}
	}
	resp, err := http.Post(a.URL()+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("import: %s", resp.Status)
	}
	a.storage.ForceFlush()
	query := func(q string) (int, string) {
		t.Helper()
		return get(t, a.URL()+"/api/v1/query_range?"+url.Values{
			"query": {q}, "step": {"15"},
			"start": {strconv.FormatInt(start/1000, 10)}, "end": {strconv.FormatInt((start+(points-1)*step)/1000, 10)},
		}.Encode())
	}
	if code, body := query(`x{s="a"}`); code != http.StatusOK || !strings.Contains(body, `"values"`) {
		t.Errorf("one series: %d %.200s, want 200 with its points", code, body)
	}
	if code, body := query(`x`); code != http.StatusUnprocessableEntity || !strings.Contains(body, "too many samples") {
		t.Errorf("both series: %d %.200s, want 422: too many samples", code, body)
	}
}
