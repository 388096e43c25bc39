package rules

import (
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// GroupStatus is a group as the rules API shows it. Health is HealthBad
// when any rule failed at the last evaluation, LastError the first error.
type GroupStatus struct {
	Name           string
	File           string
	Interval       time.Duration
	Limit          int
	Rules          []RuleStatus
	EvaluationTime time.Duration
	LastEvaluation time.Time
	Health         Health
	LastError      string
	// MissedTicks counts the ticks skipped because the previous
	// evaluation was still running.
	MissedTicks uint64
}

// RuleKind tells alerting and recording rules apart.
type RuleKind string

// The kinds of rules.
const (
	KindAlerting  RuleKind = "alerting"
	KindRecording RuleKind = "recording"
)

// RuleStatus is a rule as the rules API shows it; the fields after
// LastEvaluation are for alerting rules only.
type RuleStatus struct {
	Kind           RuleKind
	Name           string
	Query          string
	Labels         labels.Labels
	Health         Health
	LastError      string
	EvaluationTime time.Duration
	LastEvaluation time.Time

	State         AlertState
	For           time.Duration
	KeepFiringFor time.Duration
	Annotations   labels.Labels
	Alerts        []Alert
}

// Groups returns the status of every group, in evaluation order.
func (m *Manager) Groups() []GroupStatus {
	m.mu.Lock()
	groups := slices.Clone(m.groups)
	m.mu.Unlock()
	out := make([]GroupStatus, len(groups))
	for i, g := range groups {
		g.mu.Lock()
		gs := GroupStatus{
			Name: g.cfg.Name, File: g.cfg.File, Interval: g.interval, Limit: g.cfg.Limit,
			EvaluationTime: g.took, LastEvaluation: g.lastEval, Health: HealthUnknown,
			MissedTicks: g.missed.Load(),
		}
		g.mu.Unlock()
		if !gs.LastEvaluation.IsZero() {
			gs.Health = HealthGood
		}
		for _, rule := range g.rules {
			var rs RuleStatus
			var st evalStatus
			switch r := rule.(type) {
			case *recordingRule:
				r.mu.Lock()
				st = r.status
				r.mu.Unlock()
				rs = RuleStatus{Kind: KindRecording, Name: r.name, Query: r.expr, Labels: r.labels}
			case *alertingRule:
				r.mu.Lock()
				st = r.status
				r.mu.Unlock()
				rs = RuleStatus{Kind: KindAlerting, Name: r.name, Query: r.expr, Labels: r.labels,
					State: r.state(), For: r.holdFor, KeepFiringFor: r.keepFiringFor,
					Annotations: r.annotations, Alerts: activeOnly(r.alerts())}
			}
			rs.Health, rs.LastError, rs.EvaluationTime, rs.LastEvaluation = st.health, st.lastErr, st.took, st.lastEval
			if rs.Health == "" {
				rs.Health = HealthUnknown
			}
			if rs.Health == HealthBad && gs.Health != HealthBad {
				gs.Health, gs.LastError = HealthBad, rs.LastError
			}
			gs.Rules = append(gs.Rules, rs)
		}
		out[i] = gs
	}
	return out
}

// ActiveAlerts returns the pending and firing alerts of every rule.
func (m *Manager) ActiveAlerts() []Alert {
	var out []Alert
	for _, g := range m.Groups() {
		for _, r := range g.Rules {
			out = append(out, r.Alerts...)
		}
	}
	return out
}

func activeOnly(as []Alert) []Alert {
	return slices.DeleteFunc(as, func(a Alert) bool { return a.State != StatePending && a.State != StateFiring })
}
