package rules

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
)

// This file is the alert state machine: the states, the one function that
// moves an alert between them (step), and the alerting rule that drives it
// from its query's results.

// AlertState is where an alert is in its life.
type AlertState string

// The states of an alert. An alert the rule's query returns is pending
// until it has been returned for the rule's `for`, then firing. When the
// query stops returning it, a pending alert becomes inactive (and is
// forgotten) and a firing one resolved — after `keep_firing_for`, if the
// rule has one. A resolved alert is kept for ResolvedRetention so that the
// notifier learns it resolved, then forgotten; if the query returns it
// again it starts over as pending.
const (
	StateInactive AlertState = "inactive"
	StatePending  AlertState = "pending"
	StateFiring   AlertState = "firing"
	StateResolved AlertState = "resolved"
)

// ResolvedRetention is how long a resolved alert is kept and handed to the
// notifier, as in Prometheus.
const ResolvedRetention = 15 * time.Minute

// Alert is one alert of an alerting rule: one series of its query's result.
type Alert struct {
	Labels      labels.Labels // the series' labels, the rule's labels and alertname
	Annotations labels.Labels // expanded at the alert's last evaluation
	State       AlertState
	Value       float64 // the query's value at the last evaluation that returned the alert

	ActiveAt   time.Time // when the query first returned it (pending began)
	FiredAt    time.Time // when it began firing; zero before
	ResolvedAt time.Time // when it resolved; zero before
	// KeepFiringSince is when the query stopped returning a firing alert
	// of a rule with keep_firing_for; zero while the query returns it. The
	// alert resolves at KeepFiringSince + keep_firing_for.
	KeepFiringSince time.Time

	// GeneratorURL opens the rule's query in Vigil's Explore page, as
	// Prometheus links its alerts to its graph page; it is set on the
	// alerts handed to the Notifier (empty without an external URL).
	GeneratorURL string `json:",omitempty"`
}

// Transition is one change of an alert's state, for the history and the
// log.
type Transition struct {
	Group  string        `json:"group"`
	Rule   string        `json:"rule"`
	Labels labels.Labels `json:"labels"`
	From   AlertState    `json:"from"`
	To     AlertState    `json:"to"`
	At     time.Time     `json:"at"`
	Value  float64       `json:"value"`
}

// step moves a to its next state at evaluation time ts; present says
// whether the rule's query returned the alert's series at ts. It is the
// only code that changes Alert.State. It returns the state a was in.
func step(a *Alert, present bool, ts time.Time, holdFor, keepFiringFor time.Duration) (from AlertState) {
	from = a.State
	switch {
	case present:
		a.KeepFiringSince = time.Time{}
		if a.State == StateInactive || a.State == StateResolved {
			a.State, a.ActiveAt, a.FiredAt, a.ResolvedAt = StatePending, ts, time.Time{}, time.Time{}
		}
		if a.State == StatePending && ts.Sub(a.ActiveAt) >= holdFor {
			a.State, a.FiredAt = StateFiring, ts
		}
	case a.State == StateFiring:
		if keepFiringFor > 0 {
			if a.KeepFiringSince.IsZero() {
				a.KeepFiringSince = ts
			}
			if ts.Sub(a.KeepFiringSince) < keepFiringFor {
				return from
			}
		}
		a.State, a.ResolvedAt, a.KeepFiringSince = StateResolved, ts, time.Time{}
	case a.State == StatePending:
		a.State = StateInactive
	}
	return from
}

// forget reports whether an alert no longer needs to be kept at ts.
func forget(a *Alert, ts time.Time) bool {
	return a.State == StateInactive || a.State == StateResolved && ts.Sub(a.ResolvedAt) > ResolvedRetention
}

// alertingRule is one `alert:` rule and its alerts.
type alertingRule struct {
	name          string
	expr          string
	holdFor       time.Duration
	keepFiringFor time.Duration
	labels        labels.Labels // templates
	annotations   labels.Labels // templates

	mu     sync.Mutex
	active map[uint64]*Alert // by the hash of Alert.Labels
	status evalStatus
}

func newAlertingRule(name, expr string, holdFor, keepFiringFor time.Duration, ls, anns map[string]string) *alertingRule {
	return &alertingRule{
		name: name, expr: expr, holdFor: holdFor, keepFiringFor: keepFiringFor,
		labels: labels.FromMap(ls), annotations: labels.FromMap(anns),
		active: map[uint64]*Alert{},
	}
}

// identity is what must not change for a rule to keep its alerts across a
// reload or a restart: what decides which alerts exist.
func (r *alertingRule) identity() string {
	return "alert\x00" + r.name + "\x00" + r.expr + "\x00" + r.labels.String()
}

// evalEnv is what an evaluation needs besides the time.
type evalEnv struct {
	query       QueryFunc
	externalURL *url.URL
	limit       int
}

// eval runs the rule's query at ts, moves every alert through step and
// returns the changes.
func (r *alertingRule) eval(ctx context.Context, ts time.Time, env evalEnv) ([]Transition, error) {
	vec, err := env.query(ctx, r.expr, ts)
	if err != nil {
		return nil, err
	}
	type found struct {
		ls    labels.Labels
		anns  labels.Labels
		value float64
	}
	seen := make(map[uint64]found, len(vec))
	var errs []error
	for _, s := range vec {
		ls, anns, err := r.expand(ctx, s, ts, env)
		if err != nil {
			errs = append(errs, err)
		}
		h := ls.Hash()
		if _, dup := seen[h]; dup {
			return nil, errors.New("vector contains metrics with the same labelset after applying alert labels")
		}
		seen[h] = found{ls, anns, s.F}
	}
	if env.limit > 0 && len(seen) > env.limit {
		return nil, fmt.Errorf("exceeded limit of %d with %d alerts", env.limit, len(seen))
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for h, f := range seen {
		a, ok := r.active[h]
		if !ok {
			a = &Alert{Labels: f.ls, State: StateInactive}
			r.active[h] = a
		}
		a.Annotations, a.Value = f.anns, f.value
	}
	var changes []Transition
	for h, a := range r.active {
		_, present := seen[h]
		if from := step(a, present, ts, r.holdFor, r.keepFiringFor); from != a.State {
			changes = append(changes, Transition{Rule: r.name, Labels: a.Labels, From: from, To: a.State, At: ts, Value: a.Value})
		}
		if forget(a, ts) {
			delete(r.active, h)
		}
	}
	slices.SortFunc(changes, func(a, b Transition) int { return labels.Compare(a.Labels, b.Labels) })
	return changes, errors.Join(errs...)
}

// expand builds an alert's labels and annotations from a sample of the
// query's result with Prometheus' templates ($labels, $value, humanize,
// query, ...). A template that fails leaves its error text in place, as in
// Prometheus, and is reported.
func (r *alertingRule) expand(ctx context.Context, s promql.Sample, ts time.Time, env evalEnv) (labels.Labels, labels.Labels, error) {
	metric := s.Metric.Map()
	delete(metric, model.MetricNameLabel)
	data := template.AlertTemplateData(metric, nil, urlString(env.externalURL), s)
	const defs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	var errs []error
	expand := func(text string) string {
		if !strings.Contains(text, "{{") {
			return text
		}
		tmpl := template.NewTemplateExpander(ctx, defs+text, "__alert_"+r.name, data,
			model.TimeFromUnixNano(ts.UnixNano()), template.QueryFunc(env.query), env.externalURL, nil)
		out, err := tmpl.Expand()
		if err != nil {
			errs = append(errs, err)
			return fmt.Sprintf("<error expanding template: %s>", err)
		}
		return out
	}
	b := labels.NewBuilder(s.Metric).Del(model.MetricNameLabel)
	r.labels.Range(func(l labels.Label) { b.Set(l.Name, expand(l.Value)) })
	b.Set(model.AlertNameLabel, r.name)
	ab := labels.NewScratchBuilder(r.annotations.Len())
	r.annotations.Range(func(l labels.Label) { ab.Add(l.Name, expand(l.Value)) })
	ab.Sort()
	return b.Labels(), ab.Labels(), errors.Join(errs...)
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// state is the rule's state for the API: firing if any alert fires,
// pending if any is pending, inactive otherwise.
func (r *alertingRule) state() AlertState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := StateInactive
	for _, a := range r.active {
		switch a.State {
		case StateFiring:
			return StateFiring
		case StatePending:
			st = StatePending
		}
	}
	return st
}

// alerts returns copies of the rule's alerts, sorted by labels.
func (r *alertingRule) alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Alert, 0, len(r.active))
	for _, a := range r.active {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Alert) int { return labels.Compare(a.Labels, b.Labels) })
	return out
}

// restore replaces the rule's alerts (after a restart or a reload).
func (r *alertingRule) restore(alerts []Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.active)
	for i := range alerts {
		a := alerts[i]
		r.active[a.Labels.Hash()] = &a
	}
}

// series returns the ALERTS and ALERTS_FOR_STATE samples of the pending
// and firing alerts at ts, as Prometheus writes them.
func (r *alertingRule) series(ts time.Time) promql.Vector {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out promql.Vector
	t := ts.UnixMilli()
	for _, a := range r.active {
		if a.State != StatePending && a.State != StateFiring {
			continue
		}
		b := labels.NewBuilder(a.Labels)
		b.Set(model.MetricNameLabel, "ALERTS").Set("alertstate", string(a.State))
		out = append(out, promql.Sample{Metric: b.Labels(), T: t, F: 1})
		b = labels.NewBuilder(a.Labels).Set(model.MetricNameLabel, "ALERTS_FOR_STATE")
		out = append(out, promql.Sample{Metric: b.Labels(), T: t, F: float64(a.ActiveAt.Unix())})
	}
	return out
}
