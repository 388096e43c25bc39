//go:build linux

package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/prompb"
)

// The workload of TestLoad: the series an API replica of the Panic
// platform exposes and the values they take from one scrape to the next.

// loadSeries is one series of the Panic API model and how its value moves
// from one scrape (round) to the next.
type loadSeries struct {
	labels  []prompb.Label
	kind    loadKind
	rate    float64 // counters: increase per scrape; gauges: level
	frac    float64 // buckets: the share of observations at most le; sums: the mean
	phase   float64 // gauges
	samples []prompb.Sample
}

type loadKind uint8

const (
	loadCounter loadKind = iota
	loadBucket
	loadSum
	loadGauge
)

func (s *loadSeries) value(round int) float64 {
	switch s.kind {
	case loadGauge:
		return math.Round(s.rate * (1 + 0.3*math.Sin(2*math.Pi*float64(round)/240+s.phase)))
	case loadBucket:
		return math.Floor(math.Floor(s.rate*float64(round+100)) * s.frac)
	case loadSum:
		return math.Floor(s.rate*float64(round+100)) * s.frac
	}
	return math.Floor(s.rate * float64(round+100))
}

// panicReplicaSeries is the series one API replica of the Panic platform
// exposes, as in the benchmark's workload (bench/loadgen): 1,290 series of
// HTTP and panic-request counters and histograms, logins, caches,
// notifications and gauges.
func panicReplicaSeries(instance string) []loadSeries {
	var out []loadSeries
	h := uint64(14695981039346656037)
	for _, c := range instance {
		h = (h ^ uint64(c)) * 1099511628211
	}
	rnd := func() float64 { // deterministic per replica
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
		return float64(h>>11) / (1 << 53)
	}
	add := func(kind loadKind, rate, frac float64, nameValues ...string) {
		ts := proofSeries(append([]string{"job", "panic-api", "instance", instance}, nameValues...)...)
		out = append(out, loadSeries{labels: ts.Labels, kind: kind, rate: rate, frac: frac, phase: 2 * math.Pi * rnd()})
	}
	histogram := func(name string, les []float64, rate, median float64, ls ...string) {
		for _, le := range les {
			cdf := 0.5 * math.Erfc(-math.Log(le/median)/(0.9*math.Sqrt2))
			add(loadBucket, rate, cdf, append([]string{"__name__", name + "_bucket", "le", strconv.FormatFloat(le, 'g', -1, 64)}, ls...)...)
		}
		add(loadBucket, rate, 1, append([]string{"__name__", name + "_bucket", "le", "+Inf"}, ls...)...)
		add(loadSum, rate, median*1.5, append([]string{"__name__", name + "_sum"}, ls...)...)
		add(loadCounter, rate, 1, append([]string{"__name__", name + "_count"}, ls...)...)
	}
	endpoints := []struct{ method, path string }{
		{"POST", "/api/v1/panic"}, {"GET", "/api/v1/panic/{id}"}, {"POST", "/api/v1/panic/{id}/cancel"},
		{"GET", "/api/v1/panic/{id}/status"}, {"POST", "/api/v1/auth/login"}, {"POST", "/api/v1/auth/refresh"},
		{"POST", "/api/v1/auth/logout"}, {"GET", "/api/v1/users/me"}, {"PUT", "/api/v1/users/me"},
		{"GET", "/api/v1/subscriptions"}, {"POST", "/api/v1/subscriptions"}, {"GET", "/api/v1/firms"},
		{"GET", "/api/v1/firms/{id}/responders"}, {"POST", "/api/v1/responders/{id}/location"}, {"GET", "/api/v1/zones"},
		{"GET", "/api/v1/incidents"}, {"POST", "/api/v1/incidents/{id}/notes"}, {"GET", "/api/v1/notifications"},
		{"GET", "/healthz"}, {"GET", "/metrics"},
	}
	zones := []string{"north", "south", "east", "west", "central", "airport"}
	serviceTypes := []string{"medical", "security", "fire", "roadside", "escort"}

	for _, ep := range endpoints {
		histogram("http_request_duration_seconds", []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
			15*(0.2+15*rnd()*rnd()), 0.02+0.2*rnd(), "endpoint", ep.path, "method", ep.method)
	}
	for _, z := range zones {
		for _, st := range serviceTypes {
			histogram("panic_request_response_time_seconds", []float64{5, 10, 30, 60, 120, 300, 600, 900, 1800},
				15*(0.01+0.05*rnd()), 60+240*rnd(), "service_type", st, "zone", z)
		}
	}
	for _, ep := range endpoints {
		r := 15 * (0.2 + 15*rnd()*rnd())
		for _, st := range []struct {
			code string
			w    float64
		}{{"200", 1}, {"400", 0.02}, {"401", 0.01}, {"404", 0.008}, {"500", 0.002}} {
			add(loadCounter, r*st.w, 1, "__name__", "http_requests_total", "endpoint", ep.path, "method", ep.method, "status", st.code)
		}
	}
	for zi, z := range zones {
		for f := range 12 { // 12 firms, each in two neighbouring zones
			if f%len(zones) != zi && (f+1)%len(zones) != zi {
				continue
			}
			for _, st := range serviceTypes {
				r := 15 * (0.002 + 0.02*rnd())
				for _, ps := range []struct {
					s string
					w float64
				}{{"accepted", 1}, {"dispatched", 0.95}, {"resolved", 0.9}, {"cancelled", 0.05}} {
					add(loadCounter, r*ps.w, 1, "__name__", "panic_requests_total", "firm_id", fmt.Sprintf("f%03d", f+1),
						"service_type", st, "status", ps.s, "zone", z)
				}
			}
		}
	}
	for _, ut := range []string{"client", "responder", "firm_admin"} {
		for _, lr := range []string{"success", "failure", "locked"} {
			add(loadCounter, 7.5*(0.01+rnd()), 1, "__name__", "auth_login_attempts_total", "result", lr, "user_type", ut)
		}
	}
	for _, c := range []string{"session", "user", "geo"} {
		add(loadCounter, 750, 1, "__name__", "cache_hits_total", "cache", c)
		add(loadCounter, 45, 1, "__name__", "cache_misses_total", "cache", c)
	}
	for _, ch := range []string{"push", "sms", "email"} {
		add(loadCounter, 4.5, 1, "__name__", "notifications_sent_total", "channel", ch, "result", "ok")
		add(loadCounter, 0.05, 1, "__name__", "notifications_sent_total", "channel", ch, "result", "failed")
	}
	add(loadCounter, 5.25, 1, "__name__", "process_cpu_seconds_total")
	for _, z := range zones {
		for _, st := range serviceTypes {
			add(loadGauge, 25, 1, "__name__", "responders_available", "service_type", st, "zone", z)
		}
		add(loadGauge, 12, 1, "__name__", "panic_active_incidents", "zone", z)
	}
	for i, plan := range []string{"basic", "family", "premium", "business"} {
		subscribers := 40000 >> i
		add(loadGauge, float64(subscribers), 1, "__name__", "subscriptions_active", "plan", plan)
	}
	add(loadGauge, 20, 1, "__name__", "db_connections", "state", "idle")
	add(loadGauge, 30, 1, "__name__", "db_connections", "state", "in_use")
	for _, ct := range []string{"mobile", "responder_app", "dashboard"} {
		add(loadGauge, 1500, 1, "__name__", "websocket_connections", "client_type", ct)
	}
	add(loadGauge, 180e6, 1, "__name__", "process_resident_memory_bytes")
	add(loadGauge, 400, 1, "__name__", "go_goroutines")
	add(loadGauge, 1, 1, "__name__", "up")
	return out
}
