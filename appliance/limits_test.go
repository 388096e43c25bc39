package appliance

import (
	"io"
	"net/http"
	"strings"
	"testing"
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
