package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/robfig/cron/v3"
	"go.etcd.io/bbolt"
)

// Notifier receives the firing and resolved alerts after each evaluation
// of a group that has any (resolved ones for ResolvedRetention), as
// Prometheus sends them to Alertmanager. The notification capability
// implements it.
type Notifier interface {
	Send(alerts []Alert)
}

// Options configure a Manager.
type Options struct {
	Query    QueryFunc // runs the rules' queries
	Appender Appender  // stores recorded series and ALERTS
	// DB is the bbolt state file that keeps alert state and history; nil
	// keeps them in memory only.
	DB       *bbolt.DB
	Notifier Notifier // nil: alerts are only visible through the views

	// DefaultInterval is the interval of groups that give none (default 1m).
	DefaultInterval time.Duration
	// EvalDelay is subtracted from the tick's time to get the evaluation
	// time, so that samples ingested just before are searchable (the
	// storage makes them so within about a second). Default 2s.
	EvalDelay time.Duration
	// HistoryRetention bounds the alert history (default 30 days).
	HistoryRetention time.Duration
	ExternalURL      *url.URL // for $externalURL in templates
	Now              func() time.Time
	Logger           *slog.Logger
}

// Manager runs the rule groups: it schedules each on a cron, keeps their
// state across reloads and restarts, and answers the views.
type Manager struct {
	opts  Options
	store *stateStore // nil without a DB

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards groups, entries and cron
	groups  []*Group
	entries map[string]cron.EntryID
	cron    *cron.Cron
	started bool
	evals   sync.WaitGroup
}

// NewManager prepares a Manager; Update gives it groups, Start runs them.
func NewManager(opts Options) (*Manager, error) {
	if opts.Query == nil || opts.Appender == nil {
		return nil, errors.New("rules: a Manager needs Query and Appender")
	}
	if opts.DefaultInterval <= 0 {
		opts.DefaultInterval = time.Minute
	}
	if opts.EvalDelay <= 0 {
		opts.EvalDelay = 2 * time.Second
	}
	if opts.HistoryRetention <= 0 {
		opts.HistoryRetention = 30 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{opts: opts, entries: map[string]cron.EntryID{}}
	if opts.DB != nil {
		var err error
		if m.store, err = newStateStore(opts.DB, opts.HistoryRetention); err != nil {
			return nil, err
		}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cron = cron.New(cron.WithLocation(time.UTC))
	return m, nil
}

// Update replaces the running groups by cfgs. A rule that did not change
// (same group, name, query and labels) keeps its alerts; a new rule takes
// the alerts stored in the state file for it, so that the first Update
// after a restart restores everything: states, ActiveAt, FiredAt,
// keep_firing_for deadlines and values.
func (m *Manager) Update(cfgs []GroupConfig) error {
	next := make([]*Group, len(cfgs))
	for i, c := range cfgs {
		next[i] = newGroup(c, m.opts.DefaultInterval)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := map[string]*Group{}
	for _, g := range m.groups {
		old[g.key()] = g
	}
	keep := map[string]bool{}
	for _, g := range next {
		keep[g.key()] = true
		var stored map[string][]Alert
		if m.store != nil {
			var err error
			if stored, err = m.store.load(g.key()); err != nil {
				m.opts.Logger.Warn("alert state not restored", "group", g.Name(), "file", g.File(), "err", err)
			}
		}
		prev := map[string]*alertingRule{}
		if o := old[g.key()]; o != nil {
			for _, r := range o.rules {
				if ar, ok := r.(*alertingRule); ok {
					prev[ar.identity()] = ar
				}
			}
		}
		for _, r := range g.rules {
			ar, ok := r.(*alertingRule)
			if !ok {
				continue
			}
			if p := prev[ar.identity()]; p != nil {
				ar.restore(p.alerts())
			} else if as := stored[ar.identity()]; len(as) > 0 {
				ar.restore(as)
			}
		}
	}
	// Let the evaluations in flight finish before their groups go.
	for key, id := range m.entries {
		m.cron.Remove(id)
		delete(m.entries, key)
	}
	m.evals.Wait()
	m.groups = next
	if m.store != nil {
		if err := m.store.forgetGroups(keep); err != nil {
			m.opts.Logger.Warn("stale alert state not removed", "err", err)
		}
	}
	if m.started {
		m.scheduleLocked()
	}
	return nil
}

// Start runs every group on its own cron schedule (@every interval). A
// group never overlaps itself: a tick that comes while the previous
// evaluation still runs is skipped and counted (MissedTicks).
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started = true
	m.scheduleLocked()
	m.cron.Start()
}

func (m *Manager) scheduleLocked() {
	for _, g := range m.groups {
		g := g
		id, err := m.cron.AddFunc(fmt.Sprintf("@every %s", g.interval), func() { m.tick(g) })
		if err != nil {
			m.opts.Logger.Error("rule group not scheduled", "group", g.Name(), "err", err)
			continue
		}
		m.entries[g.key()] = id
	}
}

func (m *Manager) tick(g *Group) {
	if !g.running.CompareAndSwap(false, true) {
		groupMetric("vigil_rule_group_iterations_missed_total", g).Inc()
		n := g.missed.Add(1)
		m.opts.Logger.Warn("rule group evaluation skipped: the previous one still runs", "group", g.Name(), "interval", g.interval, "missed", n)
		return
	}
	m.evals.Add(1)
	defer func() {
		g.running.Store(false)
		m.evals.Done()
	}()
	if m.ctx.Err() != nil {
		return
	}
	m.evalGroup(g, m.opts.Now().Add(-m.opts.EvalDelay-g.offset))
}

// evalGroup evaluates g at ts, then persists, logs and notifies.
func (m *Manager) evalGroup(g *Group, ts time.Time) {
	env := evalEnv{query: m.opts.Query, externalURL: m.opts.ExternalURL}
	began := time.Now()
	res := g.eval(m.ctx, ts, env, m.opts.Appender, m.opts.Now)
	took := time.Since(began).Seconds()
	groupMetric("vigil_rule_group_iterations_total", g).Inc()
	metrics.GetOrCreateFloatCounter(groupMetricName("vigil_rule_group_duration_seconds_total", g)).Add(took)
	metrics.GetOrCreateGauge(groupMetricName("vigil_rule_group_last_duration_seconds", g), nil).Set(took)
	if res.err != nil {
		groupMetric("vigil_rule_evaluation_failures_total", g).Inc()
		m.opts.Logger.Warn("rule evaluation failed", "group", g.Name(), "file", g.File(), "err", res.err)
	}
	for _, c := range res.changes {
		m.opts.Logger.Info("alert "+string(c.To), "alert", c.Rule, "labels", c.Labels.String(), "from", c.From, "value", c.Value)
	}
	if m.store != nil {
		if err := m.store.save(g, res.changes, m.opts.Now()); err != nil {
			m.opts.Logger.Error("alert state not saved", "group", g.Name(), "err", err)
		}
	}
	if m.opts.Notifier != nil {
		var send []Alert
		for _, r := range g.rules {
			if ar, ok := r.(*alertingRule); ok {
				link := generatorURL(m.opts.ExternalURL, ar.expr)
				for _, a := range ar.alerts() {
					if a.State == StateFiring || a.State == StateResolved {
						a.GeneratorURL = link
						send = append(send, a)
					}
				}
			}
		}
		if len(send) > 0 {
			m.opts.Notifier.Send(send)
		}
	}
}

// generatorURL is the link of a rule's alerts: its query in Explore.
func generatorURL(external *url.URL, expr string) string {
	if external == nil {
		return ""
	}
	return strings.TrimSuffix(external.String(), "/") + "/explore?expr=" + url.QueryEscape(expr)
}

// EvalAll evaluates every group once at ts, in order (tests, `vigil
// check`-like one-shot runs); it does not wait for the cron.
func (m *Manager) EvalAll(ts time.Time) {
	m.mu.Lock()
	groups := slices.Clone(m.groups)
	m.mu.Unlock()
	for _, g := range groups {
		if !g.running.CompareAndSwap(false, true) {
			g.missed.Add(1)
			continue
		}
		m.evalGroup(g, ts)
		g.running.Store(false)
	}
}

// Stop stops the schedule, cancels the queries in flight and waits for the
// evaluations to end. The state of each group was saved after its last
// evaluation.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	ctx := m.cron.Stop()
	m.cancel()
	<-ctx.Done()
	m.evals.Wait()
}

// History returns the alert transitions from start to end whose labels
// match any of the matcher sets, oldest first, at most limit (0: all).
func (m *Manager) History(sets [][]*labels.Matcher, start, end time.Time, limit int) ([]Transition, error) {
	if m.store == nil {
		return []Transition{}, nil
	}
	return m.store.history(sets, start, end, limit)
}

// groupMetric is a self-metric counter of one rule group, labelled as
// Prometheus labels its rule_group metrics: "<file>;<group>".
func groupMetric(name string, g *Group) *metrics.Counter {
	return metrics.GetOrCreateCounter(groupMetricName(name, g))
}

func groupMetricName(name string, g *Group) string {
	return name + `{rule_group=` + strconv.Quote(g.File()+";"+g.Name()) + `}`
}
