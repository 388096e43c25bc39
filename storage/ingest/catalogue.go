package ingest

// The Panic-platform metric catalogue (DESIGN.md): the contract between
// the demo generator, the built-in rules, the dashboards, the summary
// endpoints and the event API. Names are spelled as a Prometheus client
// exposes them: a histogram named h has the series h_bucket{le=...},
// h_sum and h_count.

// MetricType is the Prometheus type of a catalogue metric.
type MetricType string

// The metric types of the catalogue.
const (
	Counter   MetricType = "counter"
	Gauge     MetricType = "gauge"
	Histogram MetricType = "histogram"
)

// CatalogueMetric is one metric of the catalogue.
type CatalogueMetric struct {
	Name   string
	Type   MetricType
	Help   string
	Labels []string
	// Buckets are the upper bounds of a histogram's buckets, without +Inf.
	Buckets []float64
}

// HTTPDurationBuckets are the Prometheus client's default buckets, which
// http_request_duration_seconds uses.
var HTTPDurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// PanicResponseBuckets cover panic response times from half a minute to an
// hour, with bounds at the built-in alerts' thresholds (5, 10 and 15
// minutes).
var PanicResponseBuckets = []float64{30, 60, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600}

// Catalogue returns the Panic-platform metrics in DESIGN.md's order. The
// slice is new on every call; callers may keep or change it.
func Catalogue() []CatalogueMetric {
	return []CatalogueMetric{
		{Name: "http_requests_total", Type: Counter, Help: "HTTP requests by method, endpoint and status code.", Labels: []string{"method", "endpoint", "status_code"}},
		{Name: "http_request_duration_seconds", Type: Histogram, Help: "HTTP request duration in seconds.", Labels: []string{"method", "endpoint"}, Buckets: HTTPDurationBuckets},
		{Name: "auth_login_attempts_total", Type: Counter, Help: "Login attempts by user type and result (success, failure).", Labels: []string{"user_type", "result"}},
		{Name: "auth_account_lockouts_total", Type: Counter, Help: "Accounts locked after failed logins.", Labels: []string{"user_type"}},
		{Name: "panic_requests_total", Type: Counter, Help: "Panic requests by service type, status, zone and firm.", Labels: []string{"service_type", "status", "zone", "firm_id"}},
		{Name: "panic_request_response_time_seconds", Type: Histogram, Help: "Time from a panic request to the responder's arrival, in seconds.", Labels: []string{"service_type", "zone", "firm_id"}, Buckets: PanicResponseBuckets},
		{Name: "panic_service_completions_total", Type: Counter, Help: "Panic services finished, by service type, firm and outcome.", Labels: []string{"service_type", "firm_id", "outcome"}},
		{Name: "prank_detections_total", Type: Counter, Help: "Panic requests detected as pranks, by zone.", Labels: []string{"zone"}},
		{Name: "subscriptions_active", Type: Gauge, Help: "Active subscriptions by plan.", Labels: []string{"plan"}},
		{Name: "subscription_purchases_total", Type: Counter, Help: "Subscription purchases by plan.", Labels: []string{"plan"}},
		{Name: "credit_transactions_total", Type: Counter, Help: "Credit transactions by type.", Labels: []string{"type"}},
		{Name: "notifications_sent_total", Type: Counter, Help: "Notifications sent by channel and status.", Labels: []string{"channel", "status"}},
		{Name: "db_connections_active", Type: Gauge, Help: "Open database connections."},
		{Name: "redis_connections_active", Type: Gauge, Help: "Open Redis connections."},
		{Name: "websocket_connections_active", Type: Gauge, Help: "Open WebSocket connections."},
		{Name: "cache_hits_total", Type: Counter, Help: "Cache hits by cache.", Labels: []string{"cache"}},
		{Name: "cache_misses_total", Type: Counter, Help: "Cache misses by cache.", Labels: []string{"cache"}},
	}
}
