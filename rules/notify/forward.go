package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v2"
)

// This file is the Forwarder: it sends Vigil's own alerts to external
// Alertmanagers the way Prometheus' notifier does — every alert again
// each resend delay while it fires (and while a resolved one is still
// handed over), with its endsAt, the external labels and the alert
// relabeling applied, through one queue per Alertmanager with a capacity
// (the oldest alerts go first when it is full), in batches POSTed to
// /api/v2/alerts. Unlike Prometheus it retries a failed batch twice
// before dropping it.

// The defaults of ForwarderOptions, Prometheus' own.
const (
	DefaultQueueCapacity = 10000
	DefaultMaxBatchSize  = 256
	DefaultResendDelay   = time.Minute
)

// Retries of a failed batch: two more attempts, after these pauses.
var forwardRetryPauses = []time.Duration{500 * time.Millisecond, 2 * time.Second}

// forwardDrainTimeout bounds how long Stop sends what is still queued.
const forwardDrainTimeout = 5 * time.Second

// ForwarderOptions configure a Forwarder.
type ForwarderOptions struct {
	// QueueCapacity bounds each Alertmanager's queue; past it the oldest
	// alerts are dropped (and counted). Default DefaultQueueCapacity.
	QueueCapacity int
	// MaxBatchSize is the most alerts in one request. Default 256.
	MaxBatchSize int
	// ResendDelay is how long an alert that did not change waits before
	// it is sent again. Default one minute.
	ResendDelay time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Forwarder sends alerts to the Alertmanagers of an AlertingConfig. Its
// methods are safe for concurrent use; Run discovers and Stop (by ending
// Run's context) drains.
type Forwarder struct {
	opts ForwarderOptions
	set  *metrics.Set

	mu       sync.Mutex // guards the fields below
	cfg      *AlertingConfig
	sets     []*amSet
	lastSent map[model.Fingerprint]sentMark
	gcAt     time.Time
}

// sentMark is when an alert was last handed to the queues, and whether
// it was resolved then.
type sentMark struct {
	at       time.Time
	resolved bool
}

// NewForwarder makes a Forwarder with no Alertmanagers; ApplyConfig gives
// it some. Its metrics are on /metrics until Run ends.
func NewForwarder(opts ForwarderOptions) *Forwarder {
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = DefaultQueueCapacity
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = DefaultMaxBatchSize
	}
	if opts.ResendDelay <= 0 {
		opts.ResendDelay = DefaultResendDelay
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "Vigil"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Forwarder{opts: opts, set: metrics.NewSet(), lastSent: map[model.Fingerprint]sentMark{}}
	f.set.NewGauge("vigil_alertmanager_forward_queue_capacity", func() float64 { return float64(opts.QueueCapacity) })
	f.set.NewGauge("vigil_alertmanager_forward_alertmanagers_discovered", func() float64 {
		active, _ := f.Alertmanagers()
		return float64(len(active))
	})
	metrics.RegisterSet(f.set)
	return f
}

// amSet is the Alertmanagers of one alerting.alertmanagers entry.
type amSet struct {
	cfg    *AlertmanagerConfig
	hash   [32]byte // of cfg, to keep the queues of an unchanged entry on reload
	client *http.Client

	mu      sync.Mutex // guards the fields below
	active  []discoveredAM
	dropped []discoveredAM
	loops   map[string]*sendLoop // by URL
	sdError string               // the last discovery error, logged once

	sdMu     sync.Mutex               // serializes discoveries
	lastGood map[string][]TargetGroup // the groups of each file_sd file when last read well
}

// ApplyConfig replaces the Alertmanagers; the queues of entries that did
// not change are kept, with what they hold. A nil config forwards
// nowhere.
func (f *Forwarder) ApplyConfig(c *AlertingConfig) error {
	if c == nil {
		c = &AlertingConfig{}
	}
	next := make([]*amSet, 0, len(c.Alertmanagers))
	for i, am := range c.Alertmanagers {
		client, err := newHTTPClient(&am.HTTPConfig)
		if err != nil {
			return fmt.Errorf("alerting.alertmanagers[%d]: %w", i, err)
		}
		b, err := yaml.Marshal(am)
		if err != nil {
			return err
		}
		next = append(next, &amSet{cfg: am, hash: sha256.Sum256(b), client: client, loops: map[string]*sendLoop{}, lastGood: map[string][]TargetGroup{}})
	}
	f.mu.Lock()
	old := f.sets
	for _, s := range next {
		for j, o := range old {
			if o != nil && o.hash == s.hash {
				s.active, s.dropped, s.loops, s.lastGood = o.active, o.dropped, o.loops, o.lastGood
				old[j] = nil // taken over
				break
			}
		}
	}
	f.cfg, f.sets = c, next
	f.mu.Unlock()
	for _, o := range old {
		if o != nil {
			o.stopLoops(nil)
		}
	}
	f.discover()
	return nil
}

// Run reads the file_sd files every FileSDInterval until ctx ends, then
// sends what the queues still hold (for up to 5s) and stops them.
func (f *Forwarder) Run(ctx context.Context) {
	t := time.NewTicker(FileSDInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.stop()
			return
		case <-t.C:
			f.discover()
		}
	}
}

func (f *Forwarder) stop() {
	f.mu.Lock()
	sets := f.sets
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range sets {
		wg.Go(func() { s.stopLoops(nil) })
	}
	wg.Wait()
	metrics.UnregisterSet(f.set, true)
}

// discover finds the Alertmanagers of every set now, starts a queue for
// each new one and stops those of the ones gone.
func (f *Forwarder) discover() {
	f.mu.Lock()
	sets := f.sets
	f.mu.Unlock()
	for _, s := range sets {
		s.sdMu.Lock()
		groups, err := s.cfg.targetGroups(s.lastGood)
		s.sdMu.Unlock()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		active, dropped := s.cfg.discover(groups)
		s.mu.Lock()
		if msg != s.sdError && msg != "" {
			f.opts.Logger.Error("Alertmanagers not all discovered", "err", msg)
		}
		s.sdError = msg
		s.active, s.dropped = active, dropped
		keep := map[string]bool{}
		for _, am := range active {
			keep[am.url] = true
			if s.loops[am.url] == nil {
				s.loops[am.url] = f.newSendLoop(am.url, s)
				f.opts.Logger.Info("forwarding alerts", "alertmanager", am.url)
			}
		}
		s.mu.Unlock()
		s.stopLoops(keep)
	}
}

// stopLoops stops the queues whose URL is not in keep (all of them when
// keep is nil), each after sending what it holds.
func (s *amSet) stopLoops(keep map[string]bool) {
	s.mu.Lock()
	var gone []*sendLoop
	for u, l := range s.loops {
		if !keep[u] {
			gone = append(gone, l)
			delete(s.loops, u)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range gone {
		wg.Go(l.stop)
	}
	wg.Wait()
}

// Alertmanagers returns the URLs alerts are forwarded to, and those that
// relabel_configs dropped.
func (f *Forwarder) Alertmanagers() (active, dropped []string) {
	f.mu.Lock()
	sets := f.sets
	f.mu.Unlock()
	for _, s := range sets {
		s.mu.Lock()
		for _, am := range s.active {
			active = append(active, am.url)
		}
		for _, am := range s.dropped {
			dropped = append(dropped, am.url)
		}
		s.mu.Unlock()
	}
	return active, dropped
}

// Send queues alerts for every Alertmanager: those that are new, changed
// between firing and resolved, or were last sent ResendDelay ago or more.
// The caller keeps handing over firing alerts (and resolved ones for a
// while) as Prometheus' rules do; Send decides which go out.
func (f *Forwarder) Send(alerts []*Alert) {
	now := f.opts.Now()
	f.mu.Lock()
	cfg, sets := f.cfg, f.sets
	if len(sets) == 0 {
		f.mu.Unlock()
		return
	}
	var due []*Alert
	for _, a := range alerts {
		fp, resolved := a.Fingerprint(), a.Resolved(now)
		m, ok := f.lastSent[fp]
		if ok && m.resolved == resolved && now.Sub(m.at) < f.opts.ResendDelay {
			continue
		}
		f.lastSent[fp] = sentMark{at: now, resolved: resolved}
		due = append(due, a)
	}
	if now.Sub(f.gcAt) > time.Minute { // forget alerts long gone
		f.gcAt = now
		for fp, m := range f.lastSent {
			if now.Sub(m.at) > 2*f.opts.ResendDelay+ResolvedRetention {
				delete(f.lastSent, fp)
			}
		}
	}
	f.mu.Unlock()
	wire := relabelAlerts(due, cfg.ExternalLabels, cfg.AlertRelabelConfigs)
	if len(wire) == 0 {
		return
	}
	for _, s := range sets {
		out := wire
		if len(s.cfg.AlertRelabelConfigs) > 0 {
			out = relabelAlerts(wire, labels.EmptyLabels(), s.cfg.AlertRelabelConfigs)
		}
		if len(out) == 0 {
			continue
		}
		s.mu.Lock()
		for _, l := range s.loops {
			l.add(out)
		}
		s.mu.Unlock()
	}
}

// relabelAlerts adds the external labels an alert lacks, then applies
// rcs, as Prometheus' notifier does; alerts that rcs drop are left out.
// The alerts given are not modified.
func relabelAlerts(alerts []*Alert, external labels.Labels, rcs []*relabel.Config) []*Alert {
	out := make([]*Alert, 0, len(alerts))
	b := labels.NewBuilder(labels.EmptyLabels())
	for _, a := range alerts {
		b.Reset(labels.EmptyLabels())
		for k, v := range a.Labels {
			b.Set(string(k), string(v))
		}
		external.Range(func(l labels.Label) {
			if _, ok := a.Labels[model.LabelName(l.Name)]; !ok {
				b.Set(l.Name, l.Value)
			}
		})
		if !relabel.ProcessBuilder(b, rcs...) {
			continue
		}
		c := *a
		c.Labels = make(model.LabelSet, b.Labels().Len())
		b.Labels().Range(func(l labels.Label) { c.Labels[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		out = append(out, &c)
	}
	return out
}

// sendLoop is the queue of one Alertmanager and the goroutine that
// empties it.
type sendLoop struct {
	url string
	set *amSet
	f   *Forwarder

	mu      sync.Mutex
	queue   []*Alert
	hasWork chan struct{} // one token: the queue has alerts
	stopc   chan struct{} // closed by stop
	done    chan struct{} // closed when loop returns

	sent, errors, dropped *metrics.Counter
	latency               *metrics.Histogram
	metricNames           []string // to unregister at stop
}

func (f *Forwarder) newSendLoop(url string, s *amSet) *sendLoop {
	l := &sendLoop{url: url, set: s, f: f, hasWork: make(chan struct{}, 1), stopc: make(chan struct{}), done: make(chan struct{})}
	// The metrics of an Alertmanager live as long as its queue, as in
	// Prometheus: a queue started again for the same URL starts from 0.
	lbl := `{alertmanager="` + escape(url) + `"}`
	name := func(n string) string {
		l.metricNames = append(l.metricNames, n+lbl)
		return n + lbl
	}
	l.sent = f.set.GetOrCreateCounter(name("vigil_alertmanager_forward_sent_total"))
	l.errors = f.set.GetOrCreateCounter(name("vigil_alertmanager_forward_errors_total"))
	l.dropped = f.set.GetOrCreateCounter(name("vigil_alertmanager_forward_dropped_total"))
	l.latency = f.set.GetOrCreateHistogram(name("vigil_alertmanager_forward_latency_seconds"))
	f.set.GetOrCreateGauge(name("vigil_alertmanager_forward_queue_length"), func() float64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return float64(len(l.queue))
	})
	go l.loop()
	return l
}

// add queues alerts, dropping the oldest past the capacity.
func (l *sendLoop) add(alerts []*Alert) {
	capacity := l.f.opts.QueueCapacity
	l.mu.Lock()
	dropped := 0
	if d := len(alerts) - capacity; d > 0 {
		dropped, alerts = d, alerts[d:]
	}
	if d := len(l.queue) + len(alerts) - capacity; d > 0 {
		dropped += d
		l.queue = l.queue[d:]
	}
	l.queue = append(l.queue, alerts...)
	l.mu.Unlock()
	if dropped > 0 {
		l.dropped.Add(dropped)
		l.f.opts.Logger.Warn("alert queue full; the oldest alerts were dropped", "alertmanager", l.url, "count", dropped)
	}
	select {
	case l.hasWork <- struct{}{}:
	default:
	}
}

func (l *sendLoop) next() []*Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(len(l.queue), l.f.opts.MaxBatchSize)
	batch := slices.Clone(l.queue[:n])
	l.queue = l.queue[n:]
	if len(l.queue) == 0 {
		l.queue = nil // let the old array go
	}
	return batch
}

func (l *sendLoop) loop() {
	defer close(l.done)
	for {
		select {
		case <-l.stopc:
			return
		case <-l.hasWork:
		}
		for {
			batch := l.next()
			if len(batch) == 0 {
				break
			}
			l.sendBatch(batch, true)
			select {
			case <-l.stopc: // the rest stays queued for the drain
				return
			default:
			}
		}
	}
}

// requeue puts alerts back at the head of the queue.
func (l *sendLoop) requeue(alerts []*Alert) {
	if len(alerts) == 0 {
		return
	}
	l.mu.Lock()
	l.queue = append(alerts, l.queue...)
	l.mu.Unlock()
}

// stop ends the loop, then sends what the queue holds, one attempt per
// batch, for up to forwardDrainTimeout; what is left is dropped.
func (l *sendLoop) stop() {
	close(l.stopc)
	<-l.done
	deadline := time.Now().Add(forwardDrainTimeout)
	for time.Now().Before(deadline) {
		batch := l.next()
		if len(batch) == 0 {
			break
		}
		if !l.sendBatch(batch, false) {
			break
		}
	}
	l.mu.Lock()
	left := len(l.queue)
	l.queue = nil
	l.mu.Unlock()
	if left > 0 {
		l.dropped.Add(left)
		l.f.opts.Logger.Warn("alerts not forwarded before the stop", "alertmanager", l.url, "count", left)
	}
	for _, n := range l.metricNames {
		l.f.set.UnregisterMetric(n)
	}
}

// wireAlert is an alert as Alertmanager's API v2 takes it
// (PostableAlert).
type wireAlert struct {
	Annotations  model.LabelSet `json:"annotations"`
	EndsAt       time.Time      `json:"endsAt,omitzero"`
	StartsAt     time.Time      `json:"startsAt,omitzero"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
	Labels       model.LabelSet `json:"labels"`
}

// sendBatch posts batch, retrying a failure that may pass (a network
// error, 429 or 5xx) after each of forwardRetryPauses when retry is set.
// It reports whether the batch was delivered; a batch not delivered is
// counted as dropped.
func (l *sendLoop) sendBatch(batch []*Alert, retry bool) bool {
	wire := make([]wireAlert, len(batch))
	for i, a := range batch {
		wire[i] = wireAlert{Annotations: a.Annotations, EndsAt: a.EndsAt, StartsAt: a.StartsAt, GeneratorURL: a.GeneratorURL, Labels: a.Labels}
		if wire[i].Annotations == nil {
			wire[i].Annotations = model.LabelSet{}
		}
	}
	body, err := json.Marshal(wire)
	if err != nil {
		l.dropped.Add(len(batch))
		return false
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err, again := l.post(body)
		if err == nil {
			l.latency.UpdateDuration(start)
			l.sent.Add(len(batch))
			return true
		}
		l.errors.Add(len(batch))
		if !retry || !again || attempt == len(forwardRetryPauses) {
			l.dropped.Add(len(batch))
			l.f.opts.Logger.Error("alerts not forwarded", "alertmanager", l.url, "count", len(batch), "attempts", attempt+1, "err", err)
			return false
		}
		select {
		case <-l.stopc: // stopping: the drain makes one more attempt
			l.requeue(batch)
			return false
		case <-time.After(forwardRetryPauses[attempt]):
		}
	}
}

// post sends one request; again says whether a retry may succeed.
func (l *sendLoop) post(body []byte) (err error, again bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.set.cfg.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return err, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", l.f.opts.UserAgent)
	if err := authorize(req, &l.set.cfg.HTTPConfig); err != nil {
		return err, false
	}
	resp, err := l.set.client.Do(req)
	if err != nil {
		return err, true
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil, false
	}
	err = fmt.Errorf("%s answered %s: %q", l.url, resp.Status, bytes.TrimSpace(snippet))
	return err, resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5
}
