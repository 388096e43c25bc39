// Package demo simulates the Panic System Platform for `vigil --demo`: an
// API with zones, firms and service types under a day-shaped load, and a
// script of incidents (a database outage, a crashed worker, a login-failure
// burst, a slow zone, a prank wave) that makes the built-in alerts of
// rules/builtin/panic_platform.yml fire and resolve. It writes every metric
// and label set of DESIGN.md's catalogue (storage/ingest.Catalogue) as
// rows; the appliance stores them with storage.Append.
//
// It lives under appliance/ because it is part of how the appliance runs
// (a flag of the composition root, like the scrape loop), not a domain
// package: nothing else imports it.
package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// Step is the interval between two samples of the simulated platform, as
// a Prometheus scraping it every 15 s would see.
const Step = 15 * time.Second

// Job and Instance label every series of the simulated API; UpInstances
// are the targets whose `up` the demo writes.
const (
	Job      = "panic-platform"
	Instance = "demo-api:8000"
	worker   = "demo-worker:8001"
)

// Zones, firms and service types of the simulated platform.
var (
	Zones        = []string{"downtown", "uptown", "airport", "harbor", "suburbs"}
	zoneWeights  = []float64{0.3, 0.2, 0.15, 0.15, 0.2}
	ServiceTypes = []string{"security", "medical", "fire", "roadside"}
	serviceShare = []float64{0.5, 0.3, 0.1, 0.1}
	// firmsOf gives each zone its two firms.
	firmsOf = map[string][]string{
		"downtown": {"firm101", "firm102"},
		"uptown":   {"firm103", "firm104"},
		"airport":  {"firm105", "firm106"},
		"harbor":   {"firm107", "firm108"},
		"suburbs":  {"firm109", "firm110"},
	}
	userTypes  = []string{"registered_user", "firm_personnel", "admin"}
	userShare  = []float64{0.8, 0.17, 0.03}
	plans      = []string{"basic", "premium", "family", "enterprise"}
	planBase   = []float64{5200, 1800, 900, 40}
	creditKind = []string{"purchase", "usage", "refund", "bonus"}
	channels   = []string{"push", "sms", "email"}
	caches     = []string{"user_session", "zone_lookup", "subscription"}
)

// endpoint is one simulated API endpoint.
type endpoint struct {
	method, path string
	ok           string  // the status code of success
	share        float64 // of all requests
	median       float64 // seconds
}

var endpoints = []endpoint{
	{"POST", "/api/v1/panic", "201", 0.08, 0.12},
	{"GET", "/api/v1/panic/{id}", "200", 0.22, 0.03},
	{"POST", "/api/v1/auth/login", "200", 0.10, 0.18},
	{"GET", "/api/v1/subscriptions", "200", 0.12, 0.04},
	{"POST", "/api/v1/subscriptions/purchase", "201", 0.02, 0.35},
	{"GET", "/api/v1/zones", "200", 0.20, 0.02},
	{"GET", "/api/v1/firms/{id}", "200", 0.16, 0.03},
	{"POST", "/api/v1/notifications/ack", "200", 0.10, 0.05},
}

var errorCodes = []string{"400", "401", "404", "500", "503"}

// Incident is a scripted disturbance of the simulated platform.
type Incident string

// The scripted incidents.
const (
	DatabaseOutage Incident = "database outage"  // DatabaseConnectionLost, HighErrorRate, SlowResponseTime
	WorkerDown     Incident = "worker down"      // ServiceDown
	LoginBurst     Incident = "login burst"      // HighFailedLoginRate
	SlowZone       Incident = "slow zone harbor" // SlowPanicResponse, VerySlowPanicResponse, PoorZonePerformance
	PrankWave      Incident = "prank wave"       // HighPrankRate
)

// Cycle is the length of the incident script, which repeats: the backfill
// shows earlier runs of it and the live simulation starts a new one.
const Cycle = 3 * time.Hour

// script is when each incident runs, as offsets into the cycle from the
// demo's start: the first ones begin a minute after it, so that alerts
// fire within minutes of `vigil --demo`.
var script = []struct {
	what       Incident
	from, till time.Duration
}{
	{DatabaseOutage, 1 * time.Minute, 10 * time.Minute},
	{WorkerDown, 2 * time.Minute, 7 * time.Minute},
	{LoginBurst, 3 * time.Minute, 30 * time.Minute},
	{SlowZone, 5 * time.Minute, 45 * time.Minute},
	{PrankWave, 30 * time.Minute, 110 * time.Minute},
}

// Platform is the simulated platform's state: the cumulative value of
// every counter and histogram. Its methods are safe for concurrent use:
// the exporter reads it while the live steps advance it.
type Platform struct {
	mu     sync.Mutex // guards everything below but anchor
	anchor time.Time
	rng    *rand.Rand
	last   time.Time

	http       map[[3]string]*series // method, endpoint, status_code
	httpDur    map[[2]string]*histogram
	logins     map[[2]string]*series // user_type, result
	lockouts   map[string]*series
	panics     map[[4]string]*series // service_type, status, zone, firm_id
	response   map[[3]string]*histogram
	completion map[[3]string]*series // service_type, firm_id, outcome
	pranks     map[string]*series
	subsActive map[string]*series
	purchases  map[string]*series
	credits    map[string]*series
	notifs     map[[2]string]*series
	cacheHits  map[string]*series
	cacheMiss  map[string]*series
	db, redis  *series
	websockets *series
	up         map[string]*series

	all   []*series // every series, in a fixed order
	hists []*histogram

	// events, when not nil, collects the events behind the event-API
	// metrics as simulate makes them (see events.go).
	events *eventBatch
}

// series is one simulated series and its current value.
type series struct {
	labels []storage.Label
	v      float64
	// event: a metric of the event API, labelled as the event API labels
	// it, without job and instance.
	event bool
}

// histogram is one simulated histogram; counts are per bucket, not
// cumulative, the last one being +Inf.
type histogram struct {
	bounds             []float64
	counts             []float64
	sum, count         float64
	bucketLs           [][]storage.Label
	sumLabels, countLs []storage.Label
	event              bool // as for series
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.count++
}

// New returns a platform whose incident script starts at anchor; seed
// makes the simulation reproducible.
func New(anchor time.Time, seed uint64) *Platform {
	p := &Platform{
		anchor:     anchor,
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		http:       map[[3]string]*series{},
		httpDur:    map[[2]string]*histogram{},
		logins:     map[[2]string]*series{},
		lockouts:   map[string]*series{},
		panics:     map[[4]string]*series{},
		response:   map[[3]string]*histogram{},
		completion: map[[3]string]*series{},
		pranks:     map[string]*series{},
		subsActive: map[string]*series{},
		purchases:  map[string]*series{},
		credits:    map[string]*series{},
		notifs:     map[[2]string]*series{},
		cacheHits:  map[string]*series{},
		cacheMiss:  map[string]*series{},
		up:         map[string]*series{},
	}
	for _, e := range endpoints {
		for _, code := range append([]string{e.ok}, errorCodes...) {
			p.http[[3]string{e.method, e.path, code}] = p.newSeries("http_requests_total", "method", e.method, "endpoint", e.path, "status_code", code)
		}
		p.httpDur[[2]string{e.method, e.path}] = p.newHistogram("http_request_duration_seconds", ingest.HTTPDurationBuckets, "method", e.method, "endpoint", e.path)
	}
	for _, u := range userTypes {
		for _, r := range []string{"success", "failure"} {
			p.logins[[2]string{u, r}] = p.newSeries("auth_login_attempts_total", "user_type", u, "result", r)
		}
		p.lockouts[u] = p.newSeries("auth_account_lockouts_total", "user_type", u)
	}
	for _, z := range Zones {
		for _, f := range firmsOf[z] {
			for _, st := range ServiceTypes {
				for _, status := range panicStatuses {
					p.panics[[4]string{st, status, z, f}] = p.newSeries("panic_requests_total", "service_type", st, "status", status, "zone", z, "firm_id", f)
				}
				p.response[[3]string{st, z, f}] = p.newHistogram("panic_request_response_time_seconds", ingest.PanicResponseBuckets, "service_type", st, "zone", z, "firm_id", f)
				for _, o := range outcomes {
					p.completion[[3]string{st, f, o}] = p.newSeries("panic_service_completions_total", "service_type", st, "firm_id", f, "outcome", o)
				}
			}
		}
		p.pranks[z] = p.newSeries("prank_detections_total", "zone", z)
	}
	for i, pl := range plans {
		p.subsActive[pl] = p.newSeries("subscriptions_active", "plan", pl)
		p.subsActive[pl].v = planBase[i]
		p.purchases[pl] = p.newSeries("subscription_purchases_total", "plan", pl)
	}
	for _, k := range creditKind {
		p.credits[k] = p.newSeries("credit_transactions_total", "type", k)
	}
	for _, ch := range channels {
		for _, s := range []string{"sent", "failed"} {
			p.notifs[[2]string{ch, s}] = p.newSeries("notifications_sent_total", "channel", ch, "status", s)
		}
	}
	for _, c := range caches {
		p.cacheHits[c] = p.newSeries("cache_hits_total", "cache", c)
		p.cacheMiss[c] = p.newSeries("cache_misses_total", "cache", c)
	}
	p.db = p.newSeries("db_connections_active")
	p.redis = p.newSeries("redis_connections_active")
	p.websockets = p.newSeries("websocket_connections_active")
	for _, inst := range []string{Instance, worker} {
		s := &series{labels: []storage.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: Job}, {Name: "instance", Value: inst}}}
		p.up[inst] = s
		p.all = append(p.all, s)
	}
	return p
}

var (
	panicStatuses = []string{"accepted", "completed", "cancelled", "rejected", "prank"}
	outcomes      = []string{"success", "failed", "cancelled"}
)

func (p *Platform) newSeries(name string, kv ...string) *series {
	s := &series{labels: labelsOf(name, kv), event: eventMetrics[name]}
	p.all = append(p.all, s)
	return s
}

func (p *Platform) newHistogram(name string, bounds []float64, kv ...string) *histogram {
	h := &histogram{bounds: bounds, counts: make([]float64, len(bounds)+1), event: eventMetrics[name]}
	for i := range h.counts {
		le := "+Inf"
		if i < len(bounds) {
			le = strconv.FormatFloat(bounds[i], 'g', -1, 64)
		}
		h.bucketLs = append(h.bucketLs, labelsOf(name+"_bucket", append(kv[:len(kv):len(kv)], "le", le)))
	}
	h.sumLabels = labelsOf(name+"_sum", kv)
	h.countLs = labelsOf(name+"_count", kv)
	p.hists = append(p.hists, h)
	return h
}

// eventMetrics are the metrics of the event API: the platform records
// them through POST /api/v1/events/..., so their series carry no job and
// instance. A histogram is named without its suffixes.
var eventMetrics = map[string]bool{
	"panic_requests_total":                true,
	"panic_request_response_time_seconds": true,
	"auth_login_attempts_total":           true,
	"auth_account_lockouts_total":         true,
	"notifications_sent_total":            true,
}

// EventMetric reports whether a series name is of a metric the platform
// records through the event API.
func EventMetric(name string) bool {
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && eventMetrics[base] {
			return true
		}
	}
	return false
}

func labelsOf(name string, kv []string) []storage.Label {
	ls := []storage.Label{{Name: "__name__", Value: name}, {Name: "job", Value: Job}, {Name: "instance", Value: Instance}}
	if EventMetric(name) {
		ls = ls[:1]
	}
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, storage.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

// Active reports whether incident what is running at t. It reads only
// the anchor, which never changes.
func (p *Platform) Active(what Incident, t time.Time) bool {
	off := t.Sub(p.anchor) % Cycle
	if off < 0 {
		off += Cycle
	}
	for _, s := range script {
		if s.what == what && off >= s.from && off < s.till {
			return true
		}
	}
	return false
}

// Load is the day-shaped load factor at t, between 0.1 (04:00 UTC) and 1
// (16:00 UTC).
func Load(t time.Time) float64 {
	h := float64(t.UTC().Hour()) + float64(t.UTC().Minute())/60
	return 0.55 - 0.45*math.Cos(2*math.Pi*(h-4)/24)
}

// Advance simulates the platform from the previous step to t and adds the
// value of every series at t to rows. The first call only samples the
// starting state.
func (p *Platform) Advance(t time.Time, rows *storage.Rows) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advanceLocked(t)
	return p.addRows(t, rows, func(bool) bool { return true })
}

// advanceLocked simulates the platform from the previous step to t.
// p.mu is held.
func (p *Platform) advanceLocked(t time.Time) {
	dt := 0.0
	if !p.last.IsZero() {
		dt = t.Sub(p.last).Seconds()
	}
	p.last = t
	if dt > 0 {
		p.simulate(t, dt)
	}
}

// poisson draws a Poisson-distributed count with mean m.
func (p *Platform) poisson(m float64) int {
	if m <= 0 {
		return 0
	}
	if m > 50 {
		n := int(math.Round(m + math.Sqrt(m)*p.rng.NormFloat64()))
		return max(n, 0)
	}
	l, k, prod := math.Exp(-m), 0, p.rng.Float64()
	for prod > l {
		k++
		prod *= p.rng.Float64()
	}
	return k
}

func (p *Platform) logNormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*p.rng.NormFloat64())
}

func (p *Platform) simulate(t time.Time, dt float64) {
	load := Load(t)
	dbDown := p.Active(DatabaseOutage, t)

	// HTTP: about 25 requests/s at the daily peak.
	for _, e := range endpoints {
		n := p.poisson(25 * load * e.share * dt)
		h := p.httpDur[[2]string{e.method, e.path}]
		for range n {
			code := e.ok
			r := p.rng.Float64()
			switch {
			case dbDown && r < 0.35:
				code = "503"
			case dbDown && r < 0.40:
				code = "500"
			case r < 0.002:
				code = "500"
			case r < 0.004:
				code = "503"
			case r < 0.02:
				code = "400"
			case r < 0.03:
				code = "404"
			case r < 0.035:
				code = "401"
			}
			p.http[[3]string{e.method, e.path, code}].v++
			d := p.logNormal(e.median, 0.6)
			if dbDown {
				d = p.logNormal(4, 0.4) // waiting for the connection pool
			}
			h.observe(d)
		}
	}

	// Logins: about one a second at the peak, 4% failing; the burst adds
	// three failures a second of registered users.
	for _, u := range userTypes {
		share := userShare[slicesIndex(userTypes, u)]
		ok := p.poisson(1.0 * load * share * dt * 0.96)
		bad := p.poisson(1.0 * load * share * dt * 0.04)
		if u == "registered_user" && p.Active(LoginBurst, t) {
			bad += p.poisson(3 * dt)
		}
		// A lockout is a failed login that locks the account.
		locked := min(p.poisson(float64(bad)*0.02), bad)
		p.logins[[2]string{u, "success"}].v += float64(ok)
		p.logins[[2]string{u, "failure"}].v += float64(bad)
		p.lockouts[u].v += float64(locked)
		p.events.logins(u, ok, bad, locked)
	}

	// Panic requests: about 1.2 a second at the peak.
	pranksWave := p.Active(PrankWave, t)
	slowZone := p.Active(SlowZone, t)
	for zi, z := range Zones {
		for si, st := range ServiceTypes {
			for _, f := range firmsOf[z] {
				n := p.poisson(1.2 * load * zoneWeights[zi] * serviceShare[si] * 0.5 * dt)
				prankShare := 0.02
				if pranksWave && z == "airport" {
					prankShare = 0.3
				}
				h := p.response[[3]string{st, z, f}]
				for range n {
					var status string
					switch r := p.rng.Float64(); {
					case r < prankShare:
						status = "prank"
						p.pranks[z].v++
					case r < prankShare+0.04:
						status = "cancelled"
					case r < prankShare+0.06:
						status = "rejected"
					case r < prankShare+0.26:
						status = "accepted" // still being served
					default:
						status = "completed"
					}
					p.panics[[4]string{st, status, z, f}].v++
					if status == "prank" || status == "rejected" {
						p.events.panicRequest(st, status, z, f, -1)
						continue
					}
					// Normal response times stay well under the 5-minute
					// threshold; the slow zone's are above 15 minutes.
					rt := math.Min(p.logNormal(110, 0.3), 280)
					if slowZone && z == "harbor" {
						rt = 1000 + p.rng.Float64()*1400
					}
					h.observe(rt)
					p.events.panicRequest(st, status, z, f, rt)
					outcome := "success"
					switch r := p.rng.Float64(); {
					case status == "cancelled" || r < 0.02:
						outcome = "cancelled"
					case r < 0.05 || (slowZone && z == "harbor" && r < 0.25):
						outcome = "failed"
					}
					p.completion[[3]string{st, f, outcome}].v++
				}
			}
		}
	}

	// Subscriptions and credits: a few hundred purchases a day.
	for i, pl := range plans {
		bought := p.poisson(planBase[i] / 2000 / 3600 * 24 * load * dt)
		expired := p.poisson(planBase[i] / 2000 / 3600 * 24 * 0.55 * dt)
		p.purchases[pl].v += float64(bought)
		p.subsActive[pl].v = math.Max(0, p.subsActive[pl].v+float64(bought-expired))
	}
	for i, k := range creditKind {
		p.credits[k].v += float64(p.poisson([]float64{0.05, 0.6, 0.01, 0.02}[i] * load * dt))
	}

	// Notifications: a few per panic request.
	for _, ch := range channels {
		n := p.poisson(1.5 * load * dt)
		failed := p.poisson(float64(n) * 0.01)
		p.notifs[[2]string{ch, "sent"}].v += float64(n - min(failed, n))
		p.notifs[[2]string{ch, "failed"}].v += float64(min(failed, n))
		p.events.notifications(ch, n-min(failed, n), min(failed, n))
	}
	for _, c := range caches {
		n := p.poisson(40 * load * dt)
		miss := p.poisson(float64(n) * 0.08)
		if dbDown {
			miss = p.poisson(float64(n) * 0.4)
		}
		p.cacheHits[c].v += float64(n - min(miss, n))
		p.cacheMiss[c].v += float64(min(miss, n))
	}

	// Gauges.
	p.db.v = math.Round(12 + 20*load + 3*p.rng.NormFloat64())
	if dbDown {
		p.db.v = 0
	}
	p.redis.v = math.Round(6 + 8*load + 2*p.rng.NormFloat64())
	p.websockets.v = math.Round(200 + 1800*load + 40*p.rng.NormFloat64())
	p.up[Instance].v = 1
	p.up[worker].v = 1
	if p.Active(WorkerDown, t) {
		p.up[worker].v = 0
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// addRows adds the value at t of the series that want takes (by whether
// they are the event API's) to rows. p.mu is held.
func (p *Platform) addRows(t time.Time, rows *storage.Rows, want func(event bool) bool) error {
	ts := t.UnixMilli()
	add := func(ls []storage.Label, v float64) error {
		return rows.AddSeries(ls, []storage.Sample{{Timestamp: ts, Value: v}})
	}
	for _, s := range p.all {
		if !want(s.event) {
			continue
		}
		if err := add(s.labels, s.v); err != nil {
			return err
		}
	}
	for _, h := range p.hists {
		if !want(h.event) {
			continue
		}
		cum := 0.0
		for i, c := range h.counts {
			cum += c
			if err := add(h.bucketLs[i], cum); err != nil {
				return err
			}
		}
		if err := add(h.sumLabels, h.sum); err != nil {
			return err
		}
		if err := add(h.countLs, h.count); err != nil {
			return err
		}
	}
	return nil
}

// Metadata is the type and help of every catalogue metric, for the
// metadata API.
func Metadata() []storage.Metadata {
	var md []storage.Metadata
	for _, m := range ingest.Catalogue() {
		md = append(md, storage.Metadata{Metric: m.Name, Type: string(m.Type), Help: m.Help})
	}
	return md
}
