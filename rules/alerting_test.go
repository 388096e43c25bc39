package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/storage"
)

// fakeClock is the injected clock: tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// fakeQuery answers every query with the series present at the moment.
type fakeQuery struct {
	mu  sync.Mutex
	vec promql.Vector
	err error
}

func (q *fakeQuery) set(values ...float64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.vec, q.err = nil, nil
	for i, v := range values {
		q.vec = append(q.vec, promql.Sample{Metric: labels.FromStrings("__name__", "up", "instance", string(rune('a'+i))), F: v})
	}
}

func (q *fakeQuery) query(_ context.Context, _ string, t time.Time) (promql.Vector, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(promql.Vector, len(q.vec))
	copy(out, q.vec)
	for i := range out {
		out[i].T = t.UnixMilli()
	}
	return out, q.err
}

// rowsSink is an Appender that keeps what it was given.
type rowsSink struct {
	mu      sync.Mutex
	samples []string
}

func (s *rowsSink) Append(rows *storage.Rows) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rows.ForEach(func(ls []storage.Label, ts int64, v float64) {
		var b strings.Builder
		for _, l := range ls {
			b.WriteString(l.Name + "=" + l.Value + " ")
		}
		s.samples = append(s.samples, b.String())
	})
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Every transition of step, with `for` and keep_firing_for, as a table of
// (query returns the alert?, expected state) at successive minutes.
func TestStepTransitions(t *testing.T) {
	type tick struct {
		present bool
		want    AlertState
	}
	tests := []struct {
		name          string
		holdFor, keep time.Duration
		ticks         []tick
	}{
		{"for 0 fires at once", 0, 0, []tick{{true, StateFiring}, {true, StateFiring}, {false, StateResolved}}},
		{"pending until for", 2 * time.Minute, 0, []tick{{true, StatePending}, {true, StatePending}, {true, StateFiring}, {true, StateFiring}}},
		{"pending that goes away is inactive", 2 * time.Minute, 0, []tick{{true, StatePending}, {false, StateInactive}}},
		{"pending again starts for over", 2 * time.Minute, 0, []tick{{true, StatePending}, {false, StateInactive}, {true, StatePending}, {true, StatePending}, {true, StateFiring}}},
		{"firing resolves", time.Minute, 0, []tick{{true, StatePending}, {true, StateFiring}, {false, StateResolved}}},
		{"resolved comes back pending", time.Minute, 0, []tick{{true, StatePending}, {true, StateFiring}, {false, StateResolved}, {true, StatePending}, {true, StateFiring}}},
		{"keep_firing_for holds a firing alert", 0, 2 * time.Minute, []tick{{true, StateFiring}, {false, StateFiring}, {false, StateFiring}, {false, StateResolved}}},
		{"keep_firing_for resets when the alert returns", 0, 2 * time.Minute, []tick{{true, StateFiring}, {false, StateFiring}, {true, StateFiring}, {false, StateFiring}, {false, StateFiring}, {false, StateResolved}}},
		{"keep_firing_for does not hold pending", 5 * time.Minute, 2 * time.Minute, []tick{{true, StatePending}, {false, StateInactive}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Alert{State: StateInactive}
			for i, tk := range tt.ticks {
				ts := t0.Add(time.Duration(i) * time.Minute)
				step(a, tk.present, ts, tt.holdFor, tt.keep)
				if a.State != tk.want {
					t.Fatalf("tick %d (present=%v): state %s, want %s", i, tk.present, a.State, tk.want)
				}
				switch a.State {
				case StatePending:
					if !a.FiredAt.IsZero() || a.ActiveAt.After(ts) {
						t.Fatalf("tick %d: pending with FiredAt %v ActiveAt %v", i, a.FiredAt, a.ActiveAt)
					}
				case StateFiring:
					if a.FiredAt.IsZero() || a.FiredAt.Sub(a.ActiveAt) < tt.holdFor {
						t.Fatalf("tick %d: fired at %v, active at %v, for %v", i, a.FiredAt, a.ActiveAt, tt.holdFor)
					}
					if !tk.present && a.KeepFiringSince.IsZero() {
						t.Fatalf("tick %d: kept firing without KeepFiringSince", i)
					}
				case StateResolved:
					if !a.ResolvedAt.Equal(ts) {
						t.Fatalf("tick %d: ResolvedAt %v", i, a.ResolvedAt)
					}
				}
			}
		})
	}
}

func TestResolvedAlertsAreForgottenAfterRetention(t *testing.T) {
	a := &Alert{State: StateResolved, ResolvedAt: t0}
	if forget(a, t0.Add(ResolvedRetention)) || !forget(a, t0.Add(ResolvedRetention+time.Second)) {
		t.Fatal("a resolved alert is kept exactly ResolvedRetention")
	}
}

const alertRulesYAML = `
groups:
  - name: g
    interval: 1m
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 3m
        keep_firing_for: 2m
        labels:
          severity: critical
          instance_copy: "{{ $labels.instance }}"
        annotations:
          summary: "{{ $labels.instance }} is down (value {{ $value }})"
`

type harness struct {
	clock *fakeClock
	q     *fakeQuery
	sink  *rowsSink
	db    *bbolt.DB
	path  string
	m     *Manager
	ts    time.Time
}

func newHarness(t *testing.T, path string, yml string) *harness {
	t.Helper()
	h := &harness{clock: &fakeClock{t: t0}, q: &fakeQuery{}, sink: &rowsSink{}, path: path}
	if path == "" {
		h.path = filepath.Join(t.TempDir(), "state.db")
	}
	h.open(t, yml)
	return h
}

func (h *harness) open(t *testing.T, yml string) {
	t.Helper()
	db, err := bbolt.Open(h.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	h.m, err = NewManager(Options{Query: h.q.query, Appender: h.sink, DB: db, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := Parse("r.yml", []byte(yml), testParser)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.m.Update(groups); err != nil {
		t.Fatal(err)
	}
}

// restart stops the manager and closes the state file, then opens both
// again as a new start of Vigil would.
func (h *harness) restart(t *testing.T, yml string) {
	t.Helper()
	h.m.Stop()
	h.db.Close()
	h.open(t, yml)
}

// at evaluates every group at t0+d.
func (h *harness) at(d time.Duration) {
	h.ts = t0.Add(d)
	h.clock.set(h.ts)
	h.m.EvalAll(h.ts)
}

func (h *harness) alerts() []Alert { return h.m.ActiveAlerts() }

func TestAlertingRuleTemplatesAndSeries(t *testing.T) {
	h := newHarness(t, "", alertRulesYAML)
	defer h.db.Close()
	h.q.set(0)
	h.at(0)
	as := h.alerts()
	if len(as) != 1 || as[0].State != StatePending {
		t.Fatalf("alerts %+v", as)
	}
	a := as[0]
	if got := a.Labels.String(); got != `{alertname="InstanceDown", instance="a", instance_copy="a", severity="critical"}` {
		t.Errorf("labels %s", got)
	}
	if got := a.Annotations.Get("summary"); got != "a is down (value 0)" {
		t.Errorf("summary %q", got)
	}
	joined := strings.Join(h.sink.samples, "\n")
	for _, want := range []string{"__name__=ALERTS alertname=InstanceDown alertstate=pending", "__name__=ALERTS_FOR_STATE alertname=InstanceDown"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in\n%s", want, joined)
		}
	}
}

// The state after a restart equals the state before it, in the middle of
// `for`, while firing and while kept firing, and the machine goes on from
// there as if nothing happened.
func TestAlertStateSurvivesRestart(t *testing.T) {
	tests := []struct {
		name      string
		before    []bool // query returns the alert at minutes 0, 1, ...
		wantState AlertState
		after     []bool
		wantAfter AlertState
	}{
		{"mid for", []bool{true, true}, StatePending, []bool{true, true}, StateFiring},
		{"firing", []bool{true, true, true, true}, StateFiring, []bool{false}, StateFiring},
		{"kept firing", []bool{true, true, true, true, false}, StateFiring, []bool{false, false}, StateResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "", alertRulesYAML)
			minute := 0
			run := func(present []bool) {
				for _, p := range present {
					if p {
						h.q.set(0)
					} else {
						h.q.set()
					}
					h.at(time.Duration(minute) * time.Minute)
					minute++
				}
			}
			run(tt.before)
			before := h.alerts()
			if len(before) != 1 || before[0].State != tt.wantState {
				t.Fatalf("before restart: %+v", before)
			}
			h.restart(t, alertRulesYAML)
			defer h.db.Close()
			after := h.alerts()
			if len(after) != 1 || !equalAlert(before[0], after[0]) {
				t.Fatalf("restart changed the alert:\nbefore %+v\nafter  %+v", before, after)
			}
			run(tt.after)
			if as := h.m.Groups()[0].Rules[0]; tt.wantAfter == StateResolved {
				if len(as.Alerts) != 0 || as.State != StateInactive {
					t.Fatalf("after: %+v", as)
				}
			} else if len(as.Alerts) != 1 || as.Alerts[0].State != tt.wantAfter {
				t.Fatalf("after: %+v", as.Alerts)
			}
		})
	}
}

func equalAlert(a, b Alert) bool {
	return labels.Equal(a.Labels, b.Labels) && labels.Equal(a.Annotations, b.Annotations) && a.State == b.State &&
		a.Value == b.Value && a.ActiveAt.Equal(b.ActiveAt) && a.FiredAt.Equal(b.FiredAt) &&
		a.ResolvedAt.Equal(b.ResolvedAt) && a.KeepFiringSince.Equal(b.KeepFiringSince)
}

func TestHistoryRecordsEveryTransition(t *testing.T) {
	h := newHarness(t, "", alertRulesYAML)
	defer h.db.Close()
	for i, present := range []bool{true, true, true, true, false, false, false} {
		if present {
			h.q.set(0)
		} else {
			h.q.set()
		}
		h.at(time.Duration(i) * time.Minute)
	}
	all, err := h.m.History(nil, t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range all {
		got = append(got, string(tr.From)+"->"+string(tr.To)+"@"+tr.At.Sub(t0).String())
	}
	const want = "inactive->pending@0s pending->firing@3m0s firing->resolved@6m0s"
	if strings.Join(got, " ") != want {
		t.Fatalf("history %v\nwant %s", got, want)
	}
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "instance", "b")}
	if none, _ := h.m.History([][]*labels.Matcher{ms}, t0, t0.Add(time.Hour), 0); len(none) != 0 {
		t.Fatalf("matcher instance=b: %v", none)
	}
	if some, _ := h.m.History(nil, t0.Add(time.Minute), t0.Add(4*time.Minute), 0); len(some) != 1 || some[0].To != StateFiring {
		t.Fatalf("range 1m..4m: %v", some)
	}
}

// A hot reload keeps the alerts of rules that did not change and drops
// those of rules that did.
func TestReloadKeepsUnchangedRules(t *testing.T) {
	h := newHarness(t, "", alertRulesYAML)
	defer h.db.Close()
	h.q.set(0)
	h.at(0)
	h.at(time.Minute)
	before := h.alerts()
	groups, _ := Parse("r.yml", []byte(alertRulesYAML+`
  - name: other
    rules:
      - record: x
        expr: vector(1)
`), testParser)
	if err := h.m.Update(groups); err != nil {
		t.Fatal(err)
	}
	if after := h.alerts(); len(after) != 1 || !equalAlert(before[0], after[0]) {
		t.Fatalf("unchanged rule lost its alert: %+v", after)
	}
	changed, _ := Parse("r.yml", []byte(strings.Replace(alertRulesYAML, "up == 0", "up < 1", 1)), testParser)
	h.m.Update(changed)
	if after := h.alerts(); len(after) != 0 {
		t.Fatalf("changed rule kept its alerts: %+v", after)
	}
}

// A rule whose query fails makes its group unhealthy with lastError; the
// other rules go on.
func TestQueryErrorMakesGroupUnhealthy(t *testing.T) {
	yml := "groups:\n  - name: g\n    rules:\n      - record: bad\n        expr: slow_query\n      - alert: Good\n        expr: up\n"
	h := newHarness(t, "", yml)
	defer h.db.Close()
	h.q.set(1)
	h.m.opts.Query = func(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
		if q == "slow_query" {
			return nil, fmt.Errorf("query timed out")
		}
		return h.q.query(ctx, q, ts)
	}
	h.at(0)
	g := h.m.Groups()[0]
	if g.Health != HealthBad || !strings.Contains(g.LastError, "query timed out") || g.Rules[0].Health != HealthBad {
		t.Fatalf("group health %s, lastError %q", g.Health, g.LastError)
	}
	if g.Rules[1].Health != HealthGood || g.Rules[1].State != StateFiring {
		t.Fatalf("the other rule did not go on: %+v", g.Rules[1])
	}
	h.m.opts.Query = h.q.query
	h.at(time.Minute)
	if g := h.m.Groups()[0]; g.Health != HealthGood || g.LastError != "" {
		t.Fatalf("after recovery: %+v", g)
	}
}
