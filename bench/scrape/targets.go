package main

import (
	"compress/gzip"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The scrape targets: each serves the same families as an API replica of
// the Panic platform (DESIGN.md's catalogue, plus the Go and process
// metrics of a client_golang exporter), cut at exactly -series series, in
// the text format with HELP and TYPE, gzipped when the scraper asks, as
// client_golang serves them. Counters rise and histograms fill with time,
// so that every scrape stores new values, as it would in production.

var (
	endpoints = []string{
		"/api/v1/panic", "/api/v1/panic/{id}", "/api/v1/panic/{id}/cancel", "/api/v1/panic/{id}/status",
		"/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/auth/refresh", "/api/v1/users/me",
		"/api/v1/users/{id}", "/api/v1/subscriptions", "/api/v1/subscriptions/{id}", "/api/v1/credits",
		"/api/v1/firms", "/api/v1/firms/{id}", "/api/v1/firms/{id}/responders", "/api/v1/zones",
		"/api/v1/zones/{id}", "/api/v1/notifications", "/api/v1/metrics/health", "/api/v1/metrics/business",
		"/api/v1/metrics/performance", "/api/v1/events", "/api/v1/devices", "/api/v1/devices/{id}",
		"/api/v1/reports", "/api/v1/reports/{id}", "/api/v1/feedback", "/api/v1/payments", "/api/v1/payments/webhook", "/healthz",
	}
	methods      = []string{"GET", "POST"}
	statuses     = []string{"200", "400", "401", "404", "500"}
	serviceTypes = []string{"security", "medical", "fire", "roadside", "escort"}
	panicStates  = []string{"completed", "cancelled", "prank", "timeout"}
	zones        = []string{"downtown", "uptown", "airport", "harbor", "suburbs", "industrial"}
	httpBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	panicBuckets = []float64{30, 60, 120, 300, 600, 900, 1200, 1800, 3600}
	dbOps        = []string{"select", "insert", "update", "delete"}
	dbTables     = []string{"users", "panics", "firms", "responders", "subscriptions", "credits", "devices", "notifications", "zones", "payments"}
	tasks        = []string{"send_push", "send_sms", "send_email", "dispatch_responder", "escalate_panic", "close_stale_panics",
		"compute_business_metrics", "compute_performance_metrics", "refresh_cache", "bill_subscriptions",
		"expire_credits", "sync_devices", "detect_pranks", "rotate_keys", "backup_db", "cleanup_sessions",
		"geo_index", "send_reports", "reconcile_payments", "warm_zones"}
	taskStates = []string{"started", "succeeded", "failed", "retried"}
)

// series is one line of a target's exposition, without its value.
type series struct {
	prefix string // name{labels} followed by a space
	kind   byte   // 'c' counter, 'g' gauge, 'b' bucket (cdf given), 's' histogram sum, 'n' histogram count
	rate   float64
	cdf    float64 // for buckets: the share of observations at or below le
}

// family is a metric family: its HELP and TYPE lines, then its series.
type family struct {
	header string
	series []series
}

// workload builds the families of one target, cut at n series.
func workload(n int) []family {
	var fams []family
	total := 0
	add := func(name, typ, help string, ss []series) {
		if total >= n {
			return
		}
		if total+len(ss) > n {
			ss = ss[:n-total]
		}
		total += len(ss)
		fams = append(fams, family{header: fmt.Sprintf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ), series: ss})
	}
	labels := func(kv ...string) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := 0; i < len(kv); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", kv[i], kv[i+1])
		}
		b.WriteByte('}')
		return b.String()
	}
	histogram := func(name, help string, buckets []float64, median float64, rate float64, ls ...[]string) {
		var ss []series
		for _, l := range ls {
			for _, le := range buckets {
				cdf := 1 / (1 + math.Pow(median/le, 2)) // log-logistic: cumulative in le
				ss = append(ss, series{prefix: name + "_bucket" + labels(append(l, "le", strconv.FormatFloat(le, 'g', -1, 64))...) + " ", kind: 'b', rate: rate, cdf: cdf})
			}
			ss = append(ss, series{prefix: name + "_bucket" + labels(append(l, "le", "+Inf")...) + " ", kind: 'b', rate: rate, cdf: 1})
			ss = append(ss, series{prefix: name + "_sum" + labels(l...) + " ", kind: 's', rate: rate * median})
			ss = append(ss, series{prefix: name + "_count" + labels(l...) + " ", kind: 'n', rate: rate})
		}
		add(name, "histogram", help, ss)
	}
	var ss []series
	var combos [][]string
	for i, e := range endpoints {
		for _, m := range methods {
			for j, s := range statuses {
				ss = append(ss, series{prefix: "http_requests_total" + labels("method", m, "endpoint", e, "status_code", s) + " ", kind: 'c', rate: 40 / float64((i+1)*(j*j*4+1))})
			}
			combos = append(combos, []string{"method", m, "endpoint", e})
		}
	}
	add("http_requests_total", "counter", "HTTP requests by method, endpoint and status.", ss)
	histogram("http_request_duration_seconds", "HTTP request latency.", httpBuckets, 0.08, 5, combos[:24]...)
	ss = nil
	for _, st := range serviceTypes {
		for _, s := range panicStates {
			for zi, z := range zones {
				for f := range 2 {
					ss = append(ss, series{prefix: "panic_requests_total" + labels("service_type", st, "status", s, "zone", z, "firm_id", fmt.Sprintf("firm%d", 101+zi*2+f)) + " ", kind: 'c', rate: 0.2})
				}
			}
		}
	}
	add("panic_requests_total", "counter", "Panic requests by service type, status, zone and firm.", ss)
	combos = nil
	for _, z := range zones {
		for _, st := range serviceTypes {
			combos = append(combos, []string{"zone", z, "service_type", st})
		}
	}
	histogram("panic_request_response_time_seconds", "Time from a panic request to a responder on site.", panicBuckets, 420, 0.1, combos...)
	combos = nil
	for _, op := range dbOps {
		for _, tb := range dbTables {
			combos = append(combos, []string{"operation", op, "table", tb})
		}
	}
	histogram("db_query_duration_seconds", "Database query latency.", httpBuckets, 0.004, 20, combos...)
	ss = nil
	for _, tk := range tasks {
		for _, s := range taskStates {
			ss = append(ss, series{prefix: "celery_tasks_total" + labels("task", tk, "state", s) + " ", kind: 'c', rate: 0.5})
		}
	}
	add("celery_tasks_total", "counter", "Background tasks by task and state.", ss)
	ss = nil
	for _, ut := range []string{"registered_user", "firm_personnel", "admin"} {
		for _, r := range []string{"success", "failure", "locked"} {
			ss = append(ss, series{prefix: "auth_login_attempts_total" + labels("user_type", ut, "result", r) + " ", kind: 'c', rate: 1})
		}
	}
	add("auth_login_attempts_total", "counter", "Login attempts.", ss)
	ss = nil
	for _, ch := range []string{"push", "sms", "email"} {
		for _, s := range []string{"sent", "failed", "queued", "bounced"} {
			ss = append(ss, series{prefix: "notifications_sent_total" + labels("channel", ch, "status", s) + " ", kind: 'c', rate: 2})
		}
	}
	add("notifications_sent_total", "counter", "Notifications by channel and status.", ss)
	ss = nil
	for _, z := range zones {
		for _, st := range serviceTypes {
			ss = append(ss, series{prefix: "responders_available" + labels("zone", z, "service_type", st) + " ", kind: 'g', rate: 12})
		}
	}
	add("responders_available", "gauge", "Responders available.", ss)
	for _, g := range []string{"db_connections_active", "redis_connections_active", "websocket_connections_active", "go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
		add(g, "gauge", "A gauge.", []series{{prefix: g + " ", kind: 'g', rate: 100}})
	}
	add("process_cpu_seconds_total", "counter", "CPU time.", []series{{prefix: "process_cpu_seconds_total ", kind: 'c', rate: 0.1}})
	// Pad up to n with a cache family of as many entries as needed.
	for i := 0; total < n; i++ {
		add(fmt.Sprintf("cache_operations_%d_total", i), "counter", "Cache operations.", func() []series {
			var ss []series
			for c := range 50 {
				for _, op := range []string{"hit", "miss"} {
					ss = append(ss, series{prefix: fmt.Sprintf("cache_operations_%d_total", i) + labels("cache", fmt.Sprintf("cache_%02d", c), "result", op) + " ", kind: 'c', rate: 3})
				}
			}
			return ss
		}())
	}
	return fams
}

// targets serves the workload on many listeners and counts the scrapes
// answered, by peer: each scrapes /metrics/PEER.
type targets struct {
	fams    []family
	start   time.Time
	scrapes map[string]*atomic.Int64 // by peer; read-only after start
	addrs   []string
	servers []*http.Server
}

func startTargets(n, seriesPerTarget int, peers []string) (*targets, error) {
	t := &targets{fams: workload(seriesPerTarget), start: time.Now(), scrapes: map[string]*atomic.Int64{}}
	for _, p := range peers {
		t.scrapes[p] = new(atomic.Int64)
	}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.close()
			return nil, err
		}
		srv := &http.Server{Handler: t.handler(i), ReadHeaderTimeout: 10 * time.Second}
		t.servers = append(t.servers, srv)
		t.addrs = append(t.addrs, ln.Addr().String())
		go srv.Serve(ln)
	}
	return t, nil
}

// count returns how many scrapes peer made.
func (t *targets) count(peer string) int64 { return t.scrapes[peer].Load() }

func (t *targets) close() {
	for _, s := range t.servers {
		s.Close()
	}
}

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// handler serves target i: its values depend on the time since start and
// on i, so targets differ.
func (t *targets) handler(i int) http.Handler {
	scale := 1 + float64(i%17)/10
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counter := t.scrapes[strings.TrimPrefix(r.URL.Path, "/metrics/")]
		if counter == nil {
			http.NotFound(w, r)
			return
		}
		bp := bufPool.Get().(*[]byte)
		b := (*bp)[:0]
		elapsed := time.Since(t.start).Seconds() + 3600
		for _, f := range t.fams {
			b = append(b, f.header...)
			for _, s := range f.series {
				b = append(b, s.prefix...)
				var v float64
				switch s.kind {
				case 'c', 'n':
					v = math.Floor(s.rate * scale * elapsed)
				case 'b':
					v = math.Floor(s.rate * scale * elapsed * s.cdf)
				case 's':
					v = s.rate * scale * elapsed
				case 'g':
					v = math.Round(s.rate * scale * (1 + 0.2*math.Sin(elapsed/600+float64(len(s.prefix)))))
				}
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
				b = append(b, '\n')
			}
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			gz.Write(b)
			gz.Close()
		} else {
			w.Write(b)
		}
		*bp = b
		bufPool.Put(bp)
		counter.Add(1)
	})
}
