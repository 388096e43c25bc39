// Package dashboards holds what Vigil shows of the Panic platform: the
// Grafana dashboard JSON model with its validation (model.go, validate.go),
// the built-in dashboards and the dashboard store (built-in, provisioned
// and user dashboards in the bbolt state file), and the business and
// performance summaries and the platform's health, each a set of PromQL
// queries over DESIGN.md's metric catalogue, answered by the one engine
// that serves the API and the rules. It knows no HTTP.
package dashboards

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// QueryFunc evaluates an instant PromQL query at t; rules.EngineQuery and
// web's engine both give one.
type QueryFunc func(ctx context.Context, query string, t time.Time) (promql.Vector, error)

// Summaries answers the Panic platform's summaries from stored data.
type Summaries struct {
	Query QueryFunc
}

// MaxHours bounds the window of a summary: a month, the default retention.
const MaxHours = 30 * 24

// Value is one labelled number of a summary.
type Value struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// Quantiles are the response time quantiles, in seconds, of one label set.
type Quantiles struct {
	Labels map[string]string `json:"labels"`
	P50    *float64          `json:"p50_seconds"`
	P95    *float64          `json:"p95_seconds"`
	P99    *float64          `json:"p99_seconds"`
}

// Business is the business summary of the last Hours hours.
type Business struct {
	Hours int       `json:"hours"`
	Time  time.Time `json:"time"`
	// PanicRequests are the panic requests by service type and status.
	PanicRequests []Value `json:"panic_requests"`
	// ResponseTimes are by zone and service type.
	ResponseTimes []Quantiles `json:"response_times"`
	// PrankDetectionRate is the share of panic requests detected as
	// pranks; nil without panic requests.
	PrankDetectionRate *float64 `json:"prank_detection_rate"`
	PrankRateByZone    []Value  `json:"prank_detection_rate_by_zone"`
	// ActiveSubscriptions are by plan, now.
	ActiveSubscriptions   []Value `json:"active_subscriptions"`
	SubscriptionPurchases []Value `json:"subscription_purchases"`
	CreditTransactions    []Value `json:"credit_transactions"`
}

// Filter narrows the performance summary; empty fields match everything.
type Filter struct {
	FirmID string
	Zone   string
}

// Performance is the performance summary of the last Hours hours.
type Performance struct {
	Hours  int       `json:"hours"`
	Time   time.Time `json:"time"`
	FirmID string    `json:"firm_id,omitempty"`
	Zone   string    `json:"zone,omitempty"`
	// ZoneResponseTimes are the response time quantiles by zone.
	ZoneResponseTimes []Quantiles `json:"zone_response_times"`
	// Firms are the requests and response time quantiles by firm.
	FirmRequests      []Value     `json:"firm_requests"`
	FirmResponseTimes []Quantiles `json:"firm_response_times"`
	// Completions are the finished services by firm and outcome, and
	// CompletionRates the share with outcome "success" by firm.
	Completions     []Value `json:"completions"`
	CompletionRates []Value `json:"completion_rates"`
}

// CheckHours validates a window in hours.
func CheckHours(h int) error {
	if h < 1 || h > MaxHours {
		return fmt.Errorf("hours must be between 1 and %d, not %d", MaxHours, h)
	}
	return nil
}

// Business computes the business summary of the hours before now.
func (s Summaries) Business(ctx context.Context, now time.Time, hours int) (*Business, error) {
	if err := CheckHours(hours); err != nil {
		return nil, err
	}
	w := window(hours)
	b := &Business{Hours: hours, Time: now}
	var err error
	q := func(dst *[]Value, format string, args ...any) {
		if err == nil {
			*dst, err = s.values(ctx, fmt.Sprintf(format, args...), now)
		}
	}
	q(&b.PanicRequests, `sum by (service_type, status) (increase(panic_requests_total[%s]))`, w)
	if err == nil {
		b.ResponseTimes, err = s.quantiles(ctx, "zone, service_type", "", w, now)
	}
	var total []Value
	q(&total, `sum(increase(prank_detections_total[%s])) / sum(increase(panic_requests_total[%s]))`, w, w)
	if len(total) == 1 && !math.IsNaN(total[0].Value) {
		b.PrankDetectionRate = &total[0].Value
	}
	q(&b.PrankRateByZone, `sum by (zone) (increase(prank_detections_total[%s])) / sum by (zone) (increase(panic_requests_total[%s]))`, w, w)
	q(&b.ActiveSubscriptions, `sum by (plan) (subscriptions_active)`)
	q(&b.SubscriptionPurchases, `sum by (plan) (increase(subscription_purchases_total[%s]))`, w)
	q(&b.CreditTransactions, `sum by (type) (increase(credit_transactions_total[%s]))`, w)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Performance computes the performance summary of the hours before now.
// An unknown firm or zone gives empty lists, not an error.
func (s Summaries) Performance(ctx context.Context, now time.Time, hours int, f Filter) (*Performance, error) {
	if err := CheckHours(hours); err != nil {
		return nil, err
	}
	w := window(hours)
	p := &Performance{Hours: hours, Time: now, FirmID: f.FirmID, Zone: f.Zone}
	sel := selector(f)
	var err error
	q := func(dst *[]Value, format string, args ...any) {
		if err == nil {
			*dst, err = s.values(ctx, fmt.Sprintf(format, args...), now)
		}
	}
	if p.ZoneResponseTimes, err = s.quantiles(ctx, "zone", sel, w, now); err != nil {
		return nil, err
	}
	if p.FirmResponseTimes, err = s.quantiles(ctx, "firm_id", sel, w, now); err != nil {
		return nil, err
	}
	q(&p.FirmRequests, `sum by (firm_id) (increase(panic_requests_total%s[%s]))`, sel, w)
	// Completions carry no zone: a zone narrows them to the firms that
	// served requests in it.
	firms := fmt.Sprintf(`sum by (firm_id) (increase(panic_requests_total%s[%s]))`, sel, w)
	csel := selector(Filter{FirmID: f.FirmID})
	q(&p.Completions, `sum by (firm_id, outcome) (increase(panic_service_completions_total%s[%s])) and on (firm_id) %s`, csel, w, firms)
	q(&p.CompletionRates, `(sum by (firm_id) (increase(panic_service_completions_total%s[%s])) / sum by (firm_id) (increase(panic_service_completions_total%s[%s]))) and on (firm_id) %s`,
		selector(Filter{FirmID: f.FirmID}, `outcome="success"`), w, csel, w, firms)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// quantiles computes p50, p95 and p99 of the panic response time by the
// labels in by.
func (s Summaries) quantiles(ctx context.Context, by, sel, w string, now time.Time) ([]Quantiles, error) {
	byKey := map[string]*Quantiles{}
	var order []string
	for _, q := range []float64{0.5, 0.95, 0.99} {
		vs, err := s.values(ctx, fmt.Sprintf(`histogram_quantile(%g, sum by (%s, le) (increase(panic_request_response_time_seconds_bucket%s[%s])))`, q, by, sel, w), now)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if math.IsNaN(v.Value) {
				continue
			}
			k := fmt.Sprint(v.Labels)
			e, ok := byKey[k]
			if !ok {
				e = &Quantiles{Labels: v.Labels}
				byKey[k] = e
				order = append(order, k)
			}
			x := v.Value
			switch q {
			case 0.5:
				e.P50 = &x
			case 0.95:
				e.P95 = &x
			default:
				e.P99 = &x
			}
		}
	}
	slices.Sort(order)
	out := make([]Quantiles, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out, nil
}

// values runs query and returns its samples sorted by labels; NaN results
// (a ratio of nothing) are left out.
func (s Summaries) values(ctx context.Context, query string, now time.Time) ([]Value, error) {
	vec, err := s.Query(ctx, query, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	slices.SortFunc(vec, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
	out := make([]Value, 0, len(vec))
	for _, smp := range vec {
		if math.IsNaN(smp.F) {
			continue
		}
		out = append(out, Value{Labels: smp.Metric.Map(), Value: round6(smp.F)})
	}
	return out, nil
}

// round6 rounds to six decimals: increase() extrapolates, and 240 reads
// better than 239.99999999999997.
func round6(v float64) float64 {
	if math.IsInf(v, 0) || math.Abs(v) > 1e12 {
		return v
	}
	return math.Round(v*1e6) / 1e6
}

// window is a PromQL range of hours.
func window(hours int) string { return strconv.Itoa(hours) + "h" }

// selector is the PromQL label selector for f and extra matchers, "" when
// there is none. Values are quoted, so any string is safe.
func selector(f Filter, extra ...string) string {
	ms := slices.Clone(extra)
	if f.FirmID != "" {
		ms = append(ms, "firm_id="+strconv.Quote(f.FirmID))
	}
	if f.Zone != "" {
		ms = append(ms, "zone="+strconv.Quote(f.Zone))
	}
	if len(ms) == 0 {
		return ""
	}
	return "{" + strings.Join(ms, ", ") + "}"
}

// Minute is what the minute job computes: the platform's health, the
// active subscriptions, the cache hit rate of each cache and the panic
// request rate of each zone.
type Minute struct {
	Time                time.Time   `json:"time"`
	Health              []Component `json:"health"`
	ActiveSubscriptions []Value     `json:"active_subscriptions"`
	CacheHitRates       []Value     `json:"cache_hit_rates"`
	PanicRequestRates   []Value     `json:"panic_request_rates_per_second"`
}

// Minute computes the minute job's summary at now.
func (s Summaries) Minute(ctx context.Context, now time.Time) (*Minute, error) {
	m := &Minute{Time: now}
	var err error
	if m.Health, err = s.PlatformHealth(ctx, now); err != nil {
		return nil, err
	}
	q := func(dst *[]Value, query string) {
		if err == nil {
			*dst, err = s.values(ctx, query, now)
		}
	}
	q(&m.ActiveSubscriptions, `sum by (plan) (subscriptions_active)`)
	q(&m.CacheHitRates, `sum by (cache) (rate(cache_hits_total[5m])) / (sum by (cache) (rate(cache_hits_total[5m])) + sum by (cache) (rate(cache_misses_total[5m])))`)
	q(&m.PanicRequestRates, `sum by (zone) (rate(panic_requests_total[5m]))`)
	if err != nil {
		return nil, err
	}
	return m, nil
}
