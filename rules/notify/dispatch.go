package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
)

// This file is the dispatcher: it keeps the alerts, routes each to its
// aggregation groups, and flushes each group when due — group_wait after
// it was created, then every group_interval — to the integrations of the
// group's receiver, skipping what is silenced or inhibited and what the
// notification log says was already sent.

// Options configure a Dispatcher.
type Options struct {
	Config *Config
	// DB keeps silences, the notification log, the alerts and the groups'
	// flush times; nil: memory only.
	DB          *bbolt.DB
	ExternalURL string
	// SilenceRetention is how long expired silences are kept (default 5 days, as Alertmanager's).
	SilenceRetention time.Duration
	Now              func() time.Time
	Logger           *slog.Logger
}

// Dispatcher routes and notifies alerts. Its methods are safe for
// concurrent use.
type Dispatcher struct {
	opts     Options
	silences *Silences
	log      *nflog

	mu        sync.Mutex // guards everything below
	cfg       *Config
	route     *Route
	inhibit   []inhibitRule
	intervals map[string][]TimeInterval
	receivers map[string][]Integration
	alerts    map[model.Fingerprint]*Alert
	groups    map[string]*aggrGroup // by group key
	flushes   sync.WaitGroup

	// store keeps alerts and groups in DB (nil without one); the dirty
	// sets name what changed since the last save (see dispatchstate.go).
	// stateMu orders the saves.
	store       *dispatchStore
	dirtyAlerts map[model.Fingerprint]bool
	dirtyGroups map[string]bool
	stateMu     sync.Mutex
	// saveNow asks Run's saver for a save; saverRunning says there is one.
	saveNow      chan struct{}
	saverRunning atomic.Bool
	// newGroup tells Run that Put created a group, which may be due now.
	newGroup chan struct{}

	// deliveries is how each integration's last notification went.
	deliveries deliveries
}

type inhibitRule struct {
	source, target []*amlabels.Matcher
	equal          []model.LabelName
}

// aggrGroup is the alerts of one route with the same group labels.
type aggrGroup struct {
	key      string
	route    *Route
	labels   model.LabelSet
	alerts   map[model.Fingerprint]*Alert
	next     time.Time // when it flushes next
	flushing bool
}

// New starts a dispatcher on a validated config.
func New(opts Options) (*Dispatcher, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SilenceRetention == 0 {
		opts.SilenceRetention = 5 * 24 * time.Hour
	}
	d := &Dispatcher{opts: opts, alerts: map[model.Fingerprint]*Alert{}, groups: map[string]*aggrGroup{},
		dirtyAlerts: map[model.Fingerprint]bool{}, dirtyGroups: map[string]bool{}, saveNow: make(chan struct{}, 1), newGroup: make(chan struct{}, 1)}
	var err error
	if d.silences, err = NewSilences(opts.DB, opts.SilenceRetention, opts.Now); err != nil {
		return nil, err
	}
	if d.log, err = newNflog(opts.DB, opts.Now()); err != nil {
		return nil, err
	}
	var timers map[string]time.Time
	if opts.DB != nil {
		d.store = &dispatchStore{db: opts.DB}
		if d.alerts, timers, err = d.store.load(); err != nil {
			return nil, err
		}
	}
	if err := d.ApplyConfig(opts.Config); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.restoreLocked(timers)
	d.saveAndUnlock()
	return d, nil
}

// ApplyConfig replaces the routing tree, inhibition rules and receivers;
// the alerts are grouped again under the new tree. Groups that keep their
// key keep their notification log, so nothing is sent twice.
func (d *Dispatcher) ApplyConfig(c *Config) error {
	if c == nil {
		return errors.New("no alertmanager config")
	}
	receivers := map[string][]Integration{}
	for _, r := range c.Receivers {
		var ints []Integration
		for _, w := range r.WebhookConfigs {
			wh, err := newWebhook(w)
			if err != nil {
				return fmt.Errorf("receiver %q: webhook %s: %w", r.Name, w.URL, err)
			}
			ints = append(ints, wh)
		}
		if len(r.EmailConfigs)+len(r.SlackConfigs)+len(r.PagerdutyConfigs) > 0 {
			files, err := c.TemplateFiles()
			if err != nil {
				return err
			}
			tmpl, err := LoadTemplates(files)
			if err != nil {
				return err
			}
			for _, e := range r.EmailConfigs {
				em, err := newEmail(e, tmpl)
				if err != nil {
					return fmt.Errorf("receiver %q: email to %s: %w", r.Name, e.To, err)
				}
				ints = append(ints, em)
			}
			for _, sc := range r.SlackConfigs {
				client, err := newHTTPClient(sc.HTTPConfig)
				if err != nil {
					return fmt.Errorf("receiver %q: slack: %w", r.Name, err)
				}
				ints = append(ints, &slack{cfg: sc, tmpl: tmpl, client: client})
			}
			for _, pd := range r.PagerdutyConfigs {
				client, err := newHTTPClient(pd.HTTPConfig)
				if err != nil {
					return fmt.Errorf("receiver %q: pagerduty: %w", r.Name, err)
				}
				ints = append(ints, &pagerduty{cfg: pd, tmpl: tmpl, client: client})
			}
		}
		receivers[r.Name] = ints
	}
	var inhibit []inhibitRule
	for _, ir := range c.InhibitRules {
		src, err := compileMatchers(ir.SourceMatch, ir.SourceMatchRE, ir.SourceMatchers)
		if err != nil {
			return err
		}
		tgt, err := compileMatchers(ir.TargetMatch, ir.TargetMatchRE, ir.TargetMatchers)
		if err != nil {
			return err
		}
		r := inhibitRule{source: src, target: tgt}
		for _, l := range ir.Equal {
			r.equal = append(r.equal, model.LabelName(l))
		}
		inhibit = append(inhibit, r)
	}
	intervals := map[string][]TimeInterval{}
	for _, list := range [][]NamedInterval{c.TimeIntervals, c.MuteTimeIntervals} {
		for _, n := range list {
			intervals[n.Name] = n.TimeIntervals
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg, d.route, d.inhibit, d.intervals, d.receivers = c, NewRoute(c.Route, nil), inhibit, intervals, receivers
	old := d.groups
	d.groups = map[string]*aggrGroup{}
	now := d.opts.Now()
	for fp, a := range d.alerts {
		d.insertLocked(fp, a, now)
	}
	for k, g := range d.groups { // a group that existed keeps its schedule
		if o, ok := old[k]; ok {
			g.next = o.next
		}
	}
	for k := range old {
		d.markGroupLocked(k)
	}
	return nil
}

// Silences are the dispatcher's silences.
func (d *Dispatcher) Silences() *Silences { return d.silences }

// Put adds or updates alerts. An alert without EndsAt resolves after
// resolve_timeout unless it is put again, as in Alertmanager.
func (d *Dispatcher) Put(alerts ...*Alert) {
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range alerts {
		a := *a
		a.UpdatedAt = now
		if a.StartsAt.IsZero() {
			a.StartsAt = now
		}
		if a.EndsAt.IsZero() {
			a.EndsAt, a.Timeout = now.Add(d.cfg.ResolveTimeout()), true
		}
		a.fp = a.Labels.Fingerprint()
		fp := a.fp
		old, ok := d.alerts[fp]
		if ok && !old.Resolved(now) && old.StartsAt.Before(a.StartsAt) {
			a.StartsAt = old.StartsAt // the same firing alert sent again
		}
		d.alerts[fp] = &a
		if !ok || !sameContent(old, &a) {
			// An alert sent again as it was differs only in UpdatedAt,
			// which a restart need not keep: it is not saved again.
			d.markAlertLocked(fp)
		}
		d.insertLocked(fp, &a, now)
	}
}

// sameContent says whether a and b differ at most in UpdatedAt; their
// labels are the same (they have the same fingerprint).
func sameContent(a, b *Alert) bool {
	return a.StartsAt.Equal(b.StartsAt) && a.EndsAt.Equal(b.EndsAt) && a.Timeout == b.Timeout &&
		a.GeneratorURL == b.GeneratorURL && a.Annotations.Equal(b.Annotations)
}

func (d *Dispatcher) insertLocked(fp model.Fingerprint, a *Alert, now time.Time) {
	for _, r := range d.route.Match(a.Labels) {
		key := r.groupKey(a.Labels)
		g, ok := d.groups[key]
		if !ok {
			g = &aggrGroup{key: key, route: r, labels: r.groupLabels(a.Labels), alerts: map[model.Fingerprint]*Alert{}, next: now.Add(r.GroupWait)}
			if a.StartsAt.Add(r.GroupWait).Before(now) {
				// A group whose first alert has fired for longer than
				// group_wait flushes at once, as in Alertmanager.
				g.next = now
			}
			d.groups[key] = g
			d.markGroupLocked(key)
			select { // Run looks at once whether it is due
			case d.newGroup <- struct{}{}:
			default:
			}
		}
		g.alerts[fp] = a
	}
}

// Muted says why ls is muted at now: the IDs of the silences and the
// fingerprints of the alerts inhibiting it.
func (d *Dispatcher) Muted(ls model.LabelSet) (silencedBy, inhibitedBy []string) {
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.silences.Mutes(ls, now), d.inhibitedLocked(ls, now)
}

// inhibitIndex holds, for each inhibit rule, the firing alerts matching
// its source by the values of its equal labels. It is built under d.mu
// for one moment and valid only while d.mu is held.
type inhibitIndex struct {
	now     time.Time
	sources []map[string][]model.Fingerprint
}

func equalKey(ls model.LabelSet, equal []model.LabelName) string {
	var b strings.Builder
	for _, l := range equal {
		b.WriteString(string(ls[l]))
		b.WriteByte(0xff)
	}
	return b.String()
}

// inhibitIndexLocked builds the index at now in one pass over the alerts.
func (d *Dispatcher) inhibitIndexLocked(now time.Time) *inhibitIndex {
	ix := &inhibitIndex{now: now, sources: make([]map[string][]model.Fingerprint, len(d.inhibit))}
	for i, r := range d.inhibit {
		m := map[string][]model.Fingerprint{}
		for fp, a := range d.alerts {
			if !a.Resolved(now) && matches(r.source, a.Labels) {
				k := equalKey(a.Labels, r.equal)
				m[k] = append(m[k], fp)
			}
		}
		ix.sources[i] = m
	}
	return ix
}

// inhibitedBy returns the fingerprints of the firing alerts that inhibit
// ls: they match a rule's source, ls its target, and both have the same
// values of the rule's equal labels. An alert never inhibits itself.
func (d *Dispatcher) inhibitedBy(ix *inhibitIndex, ls model.LabelSet) []string {
	var by []string
	var fp model.Fingerprint // computed at the first rule whose target matches
	for i, r := range d.inhibit {
		if !matches(r.target, ls) {
			continue
		}
		if fp == 0 {
			fp = ls.Fingerprint()
		}
		for _, sfp := range ix.sources[i][equalKey(ls, r.equal)] {
			if sfp != fp {
				by = append(by, sfp.String())
			}
		}
	}
	return by
}

func (d *Dispatcher) inhibitedLocked(ls model.LabelSet, now time.Time) []string {
	return d.inhibitedBy(d.inhibitIndexLocked(now), ls)
}

// Tick flushes the groups that are due at the injected clock's now, each
// in its own goroutine (Wait waits for them), forgets resolved alerts
// that no group holds any more, and saves what changed since the last
// tick. Run calls it every tickEvery.
func (d *Dispatcher) Tick() { d.tick(true) }

// tick is Tick; without full it only flushes the groups that are due,
// and neither collects resolved alerts nor asks for a save (Run's ticks
// between its full ones, at the groups' flush times). It returns the
// earliest time after now a group is due, zero if none is.
func (d *Dispatcher) tick(full bool) (nextDue time.Time) {
	now := d.opts.Now()
	d.mu.Lock()
	if full {
		defer d.saveAfterTick()
	} else {
		defer d.mu.Unlock()
	}
	var ix *inhibitIndex // built when a group is due
	for _, g := range d.groups {
		if !g.flushing && !g.next.After(now) {
			if ix == nil {
				ix = d.inhibitIndexLocked(now)
			}
			g.flushing = true
			g.next = now.Add(g.route.GroupInterval)
			d.markGroupLocked(g.key)
			job := d.prepareLocked(g, ix, now)
			d.flushes.Add(1)
			go func() {
				defer d.flushes.Done()
				sent := d.flush(job)
				d.finish(g, job.reported, sent)
			}()
		}
		// A group still flushing past its next time is left to the next
		// full tick rather than looked at again and again until then.
		if g.next.After(now) && (nextDue.IsZero() || g.next.Before(nextDue)) {
			nextDue = g.next
		}
	}
	if !full {
		return nextDue
	}
	for fp, a := range d.alerts {
		if a.Resolved(now) && now.Sub(a.EndsAt) > ResolvedRetention && !d.inAnyGroupLocked(fp) {
			delete(d.alerts, fp)
			d.markAlertLocked(fp)
		}
	}
	return nextDue
}

// ResolvedRetention is how long a resolved alert stays visible in the API
// after every group notified it.
const ResolvedRetention = 15 * time.Minute

func (d *Dispatcher) inAnyGroupLocked(fp model.Fingerprint) bool {
	for _, g := range d.groups {
		if _, ok := g.alerts[fp]; ok {
			return true
		}
	}
	return false
}

// Wait waits for the flushes Tick started.
func (d *Dispatcher) Wait() { d.flushes.Wait() }

// tickEvery is how often Run ticks in full: it collects resolved alerts
// and has what changed saved. Between those, it flushes each group when
// it is due, at most minTickGap late.
const tickEvery = 100 * time.Millisecond

// minTickGap is the least time between two of Run's ticks: groups due
// within it of each other flush together.
const minTickGap = 10 * time.Millisecond

// Run ticks until ctx ends, then waits for the flushes and saves the
// state: in full every tickEvery, and in between when a group is due
// (a group's timer, or a new group that Put created).
func (d *Dispatcher) Run(ctx context.Context) {
	timer := time.NewTimer(tickEvery)
	defer timer.Stop()
	saved := d.startSaver(ctx)
	lastGC := time.Time{}
	lastTick, lastFull := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			d.Wait()
			<-saved
			d.SaveState()
			return
		case <-d.newGroup:
			timer.Reset(max(minTickGap-time.Since(lastTick), 0))
			continue
		case <-timer.C:
		}
		lastTick = time.Now()
		full := lastTick.Sub(lastFull) >= tickEvery-minTickGap
		if full {
			lastFull = lastTick
		}
		wait := tickEvery - time.Since(lastFull)
		if next := d.tick(full); !next.IsZero() {
			wait = min(wait, next.Sub(d.opts.Now()))
		}
		timer.Reset(max(wait, minTickGap))
		if full && time.Since(lastGC) > time.Minute {
			if err := d.silences.GC(); err != nil {
				d.opts.Logger.Error("expired silences not removed", "err", err)
			}
			if err := d.log.gc(d.opts.Now()); err != nil {
				d.opts.Logger.Error("notification log not trimmed", "err", err)
			}
			lastGC = time.Now()
		}
	}
}

// flushJob is one flush of a group, taken under the lock: the alerts
// (copies) that are not muted, and the receiver's integrations.
type flushJob struct {
	g            *aggrGroup
	receiver     string
	integrations []Integration
	alerts       []*Alert
	now          time.Time
	deadline     time.Duration
	// reported are the group's resolved alerts the flush reports, as
	// the group held them: finish drops only these, and only if no Put
	// replaced them meanwhile.
	reported map[model.Fingerprint]*Alert
}

func (d *Dispatcher) prepareLocked(g *aggrGroup, ix *inhibitIndex, now time.Time) flushJob {
	job := flushJob{g: g, receiver: g.route.Receiver, integrations: d.receivers[g.route.Receiver], now: now, deadline: g.route.GroupInterval}
	muteTime := intervalsContain(d.intervals, g.route.MuteIntervals, now) ||
		(len(g.route.ActiveIntervals) > 0 && !intervalsContain(d.intervals, g.route.ActiveIntervals, now))
	for _, a := range g.alerts {
		if !a.Resolved(now) && (muteTime || len(d.silences.Mutes(a.Labels, now)) > 0 || len(d.inhibitedBy(ix, a.Labels)) > 0) {
			continue
		}
		if a.Resolved(now) {
			if job.reported == nil {
				job.reported = map[model.Fingerprint]*Alert{}
			}
			job.reported[a.Fingerprint()] = a
		}
		c := *a
		job.alerts = append(job.alerts, &c)
	}
	slices.SortStableFunc(job.alerts, alertmanagerOrder)
	return job
}

// alertmanagerOrder orders a notification's alerts as Alertmanager does:
// by the job label, then the instance label (alerts without one after
// those with it), then by all labels.
func alertmanagerOrder(a, b *Alert) int {
	for _, l := range []model.LabelName{"job", "instance"} {
		av, aok := a.Labels[l]
		bv, bok := b.Labels[l]
		switch {
		case !aok && !bok:
			continue
		case !aok:
			return 1
		case !bok:
			return -1
		case av != bv:
			return strings.Compare(string(av), string(bv))
		}
	}
	switch {
	case a.Labels.Before(b.Labels):
		return -1
	case b.Labels.Before(a.Labels):
		return 1
	}
	return 0
}

// flush notifies each integration that needs it, retrying with
// exponential backoff until the group's next flush is due. It returns
// whether every integration is up to date.
func (d *Dispatcher) flush(job flushJob) bool {
	var firing, resolved []uint64
	for _, a := range job.alerts {
		if a.Resolved(job.now) {
			resolved = append(resolved, uint64(a.Fingerprint()))
		} else {
			firing = append(firing, uint64(a.Fingerprint()))
		}
	}
	ok := true
	for i, in := range job.integrations {
		logKey := fmt.Sprintf("%s|%s|%s/%d", job.g.key, job.receiver, in.Kind(), i)
		e, found := d.log.get(logKey)
		reason := notifyReason(e, found, firing, resolved, in.SendResolved(), job.g.route.RepeatInterval, job.now)
		if reason == "" {
			continue
		}
		send := job.alerts
		if !in.SendResolved() {
			send = slices.DeleteFunc(slices.Clone(send), func(a *Alert) bool { return a.Resolved(job.now) })
		}
		if len(send) > 0 {
			data := templateData(job.receiver, job.g.labels, send, d.opts.ExternalURL, job.now)
			data.GroupKey, data.NotificationReason = job.g.key, reason
			if err := d.deliver(in, job, data); err != nil {
				d.opts.Logger.Error("notification failed", "receiver", job.receiver, "integration", in.Kind(), "group", job.g.key, "err", err)
				ok = false
				continue
			}
		}
		entry := logEntry{Firing: firing, Resolved: resolved, At: job.now, ExpireAt: job.now.Add(job.g.route.RepeatInterval + 24*time.Hour)}
		if err := d.log.put(logKey, entry); err != nil {
			d.opts.Logger.Error("notification log not saved", "group", job.g.key, "err", err)
		}
	}
	return ok
}

// deliver sends data through in, retrying with exponential backoff
// (from 200ms, doubling, at most 30s apart) until the group's next flush.
func (d *Dispatcher) deliver(in Integration, job flushJob, data *Data) error {
	labels := `{receiver="` + escape(job.receiver) + `",integration="` + in.Kind() + `"}`
	ctx, cancel := context.WithTimeout(context.Background(), job.deadline)
	defer cancel()
	metrics.GetOrCreateCounter(`vigil_notifications_total` + labels).Inc()
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := in.Notify(ctx, job.g.key, data)
		metrics.GetOrCreateHistogram(`vigil_notification_latency_seconds` + labels).UpdateDuration(start)
		if err == nil {
			d.deliveries.record(job.receiver, in.Kind(), time.Now(), nil)
			return nil
		}
		metrics.GetOrCreateCounter(`vigil_notification_requests_failed_total` + labels).Inc()
		select {
		case <-ctx.Done():
			metrics.GetOrCreateCounter(`vigil_notifications_failed_total` + labels).Inc()
			err = fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			d.deliveries.record(job.receiver, in.Kind(), time.Now(), err)
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func escape(s string) string {
	return fmt.Sprintf("%q", s)[1 : len(fmt.Sprintf("%q", s))-1]
}

// finish removes from g the resolved alerts a successful flush reported,
// unless a Put replaced them meanwhile, and drops g when it is empty. An
// alert that resolved during the flush stays for the next one, which
// reports its resolution, as Alertmanager's DeleteIfNotModified does.
func (d *Dispatcher) finish(g *aggrGroup, reported map[model.Fingerprint]*Alert, sent bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g.flushing = false
	if !sent {
		return
	}
	for fp, a := range reported {
		if g.alerts[fp] == a && d.alerts[fp] == a {
			delete(g.alerts, fp)
		}
	}
	if len(g.alerts) == 0 && d.groups[g.key] == g {
		delete(d.groups, g.key)
		d.markGroupLocked(g.key)
	}
}
