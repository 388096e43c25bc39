package rules

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/vigil-monitoring/vigil/storage"
)

// QueryFunc runs an instant query at a time, as the rules see the engine.
type QueryFunc func(ctx context.Context, q string, t time.Time) (promql.Vector, error)

// EngineQuery is the QueryFunc of a PromQL engine over q; a scalar result
// becomes a one-sample vector without labels, as in Prometheus.
func EngineQuery(engine *promql.Engine, q promstorage.Queryable) QueryFunc {
	return func(ctx context.Context, qs string, t time.Time) (promql.Vector, error) {
		query, err := engine.NewInstantQuery(ctx, q, nil, qs, t)
		if err != nil {
			return nil, err
		}
		defer query.Close()
		res := query.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		switch v := res.Value.(type) {
		case promql.Vector:
			return v, nil
		case promql.Scalar:
			return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
		default:
			return nil, fmt.Errorf("the query %s gives a %s, not a vector or scalar", qs, res.Value.Type())
		}
	}
}

// Appender stores samples: what the rules need of storage.Storage.
type Appender interface {
	Append(rows *storage.Rows) error
}

// Health is the health of a rule or group after its last evaluation.
type Health string

// The values of Health, spelled as Prometheus reports them.
const (
	HealthUnknown Health = "unknown"
	HealthGood    Health = "ok"
	HealthBad     Health = "err"
)

// evalStatus is the outcome of a rule's last evaluation.
type evalStatus struct {
	health   Health
	lastErr  string
	lastEval time.Time
	took     time.Duration
}

// recordingRule is one `record:` rule.
type recordingRule struct {
	name   string
	expr   string
	labels labels.Labels

	mu     sync.Mutex
	status evalStatus
}

// eval returns the series to record at ts: the query's result renamed and
// relabelled.
func (r *recordingRule) eval(ctx context.Context, ts time.Time, env evalEnv) (promql.Vector, error) {
	vec, err := env.query(ctx, r.expr, ts)
	if err != nil {
		return nil, err
	}
	t := ts.UnixMilli()
	seen := make(map[uint64]struct{}, len(vec))
	for i := range vec {
		b := labels.NewBuilder(vec[i].Metric).Set(model.MetricNameLabel, r.name)
		r.labels.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
		vec[i].Metric, vec[i].T = b.Labels(), t
		h := vec[i].Metric.Hash()
		if _, dup := seen[h]; dup {
			return nil, errors.New("vector contains metrics with the same labelset after applying rule labels")
		}
		seen[h] = struct{}{}
	}
	if env.limit > 0 && len(vec) > env.limit {
		return nil, fmt.Errorf("exceeded limit %d with %d series", env.limit, len(vec))
	}
	return vec, nil
}

// Group is one rule group: rules evaluated in order at one timestamp, on
// the group's interval.
type Group struct {
	cfg      GroupConfig
	interval time.Duration
	offset   time.Duration // query_offset
	rules    []any         // *recordingRule or *alertingRule, in file order

	running atomic.Bool   // an evaluation is in progress
	missed  atomic.Uint64 // ticks skipped because the previous evaluation still ran

	mu       sync.Mutex
	lastEval time.Time
	took     time.Duration
	// written holds, per rule, the series written at the last evaluation,
	// so that those gone get a staleness marker. Only the evaluation
	// (serialised by running) touches it.
	written []map[uint64]labels.Labels
}

func newGroup(cfg GroupConfig, defInterval time.Duration) *Group {
	g := &Group{cfg: cfg, interval: cfg.evalInterval(defInterval)}
	if cfg.QueryOffset != nil {
		g.offset = time.Duration(*cfg.QueryOffset)
	}
	for _, r := range cfg.Rules {
		ls := r.Labels
		if len(cfg.Labels) > 0 {
			ls = map[string]string{}
			for k, v := range cfg.Labels {
				ls[k] = v
			}
			for k, v := range r.Labels {
				ls[k] = v
			}
		}
		if r.Alert != "" {
			g.rules = append(g.rules, newAlertingRule(r.Alert, r.Expr, time.Duration(r.For), time.Duration(r.KeepFiringFor), ls, r.Annotations))
		} else {
			g.rules = append(g.rules, &recordingRule{name: r.Record, expr: r.Expr, labels: labels.FromMap(ls)})
		}
	}
	g.written = make([]map[uint64]labels.Labels, len(g.rules))
	return g
}

// Name returns the group's name; File the file it came from.
func (g *Group) Name() string { return g.cfg.Name }

// File returns the file the group came from.
func (g *Group) File() string { return g.cfg.File }

func (g *Group) key() string { return g.cfg.Key() }

// evalResult is what one evaluation of a group produced.
type evalResult struct {
	changes []Transition
	rows    int
	err     error // the first rule error
}

// eval evaluates every rule at ts, in order, and appends what they
// produced to app in one batch: recorded series, ALERTS and
// ALERTS_FOR_STATE, and staleness markers for series no longer produced.
// A rule that fails is marked unhealthy and the others go on. The caller
// serialises eval.
func (g *Group) eval(ctx context.Context, ts time.Time, env evalEnv, app Appender, clock func() time.Time) evalResult {
	start := clock()
	var res evalResult
	var rows storage.Rows
	var lbuf []storage.Label
	add := func(ls labels.Labels, t int64, v float64) {
		lbuf = lbuf[:0]
		ls.Range(func(l labels.Label) { lbuf = append(lbuf, storage.Label{Name: l.Name, Value: l.Value}) })
		if err := rows.AddSeries(lbuf, []storage.Sample{{Timestamp: t, Value: v}}); err != nil && res.err == nil {
			res.err = err
		}
	}
	env.limit = g.cfg.Limit
	for i, rule := range g.rules {
		t0 := clock()
		var out promql.Vector
		var err error
		switch r := rule.(type) {
		case *recordingRule:
			out, err = r.eval(ctx, ts, env)
			r.mu.Lock()
			r.status = statusOf(err, ts, clock().Sub(t0))
			r.mu.Unlock()
		case *alertingRule:
			var changes []Transition
			changes, err = r.eval(ctx, ts, env)
			for j := range changes {
				changes[j].Group = g.cfg.Name
			}
			res.changes = append(res.changes, changes...)
			out = r.series(ts)
			r.mu.Lock()
			r.status = statusOf(err, ts, clock().Sub(t0))
			r.mu.Unlock()
		}
		if err != nil && res.err == nil {
			res.err = fmt.Errorf("rule %d of group %q: %w", i+1, g.cfg.Name, err)
		}
		// A failed query keeps the series of the last good evaluation
		// fresh until the lookback ends, as in Prometheus: no markers.
		if err != nil && out == nil {
			continue
		}
		now := make(map[uint64]labels.Labels, len(out))
		for _, s := range out {
			if math.IsNaN(s.F) && value.IsStaleNaN(s.F) {
				continue
			}
			now[s.Metric.Hash()] = s.Metric
			add(s.Metric, s.T, s.F)
		}
		stale := math.Float64frombits(value.StaleNaN)
		for h, ls := range g.written[i] {
			if _, ok := now[h]; !ok {
				add(ls, ts.UnixMilli(), stale)
			}
		}
		g.written[i] = now
	}
	res.rows = rows.Len()
	if rows.Len() > 0 {
		if err := app.Append(&rows); err != nil && res.err == nil {
			res.err = fmt.Errorf("group %q: storing %d samples: %w", g.cfg.Name, rows.Len(), err)
		}
	}
	g.mu.Lock()
	g.lastEval, g.took = ts, clock().Sub(start)
	g.mu.Unlock()
	return res
}

func statusOf(err error, ts time.Time, took time.Duration) evalStatus {
	st := evalStatus{health: HealthGood, lastEval: ts, took: took}
	if err != nil {
		st.health, st.lastErr = HealthBad, err.Error()
	}
	return st
}
