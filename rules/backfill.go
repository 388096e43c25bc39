package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/storage"
)

// BackfillRecordings evaluates the recording rules of every group at each
// tick of the group's interval from from to to (ticks aligned to the
// interval, as a cron would have run them), and at to itself, and stores
// what they record, as if they had run then. Evaluating at to makes the
// recorded series reach the end of the history: with to the present, they
// stay within the lookback until the first live evaluation. It is for history written after the fact, such
// as the demo's: without it, the recorded series that the built-in rules
// and dashboards read would start at the first live evaluation.
//
// Alerting rules are not evaluated: alerts start from their live state. A
// recording rule that reads a series recorded by another one finds only
// what was searchable before the call, as samples appended here become
// searchable a few seconds later. It returns the samples stored and the
// errors of the rules that failed, each once.
func (m *Manager) BackfillRecordings(ctx context.Context, from, to time.Time) (int, error) {
	m.mu.Lock()
	groups := append([]*Group(nil), m.groups...)
	m.mu.Unlock()
	env := evalEnv{query: m.opts.Query, externalURL: m.opts.ExternalURL}
	var (
		rows    storage.Rows
		lbuf    []storage.Label
		stored  int
		errs    []error
		failing = map[string]bool{}
	)
	flush := func() error {
		if rows.Len() == 0 {
			return nil
		}
		n := rows.Len()
		if err := m.opts.Appender.Append(&rows); err != nil {
			return fmt.Errorf("storing %d recorded samples: %w", n, err)
		}
		stored += n
		rows = storage.Rows{}
		return nil
	}
	for _, g := range groups {
		env.limit = g.cfg.Limit
		first := from.Truncate(g.interval)
		if first.Before(from) {
			first = first.Add(g.interval)
		}
		ticks := []time.Time{}
		for ts := first; !ts.After(to); ts = ts.Add(g.interval) {
			ticks = append(ticks, ts)
		}
		if n := len(ticks); !to.Before(from) && (n == 0 || !ticks[n-1].Equal(to)) {
			ticks = append(ticks, to)
		}
		for _, ts := range ticks {
			for _, rule := range g.rules {
				r, ok := rule.(*recordingRule)
				if !ok {
					continue
				}
				if err := ctx.Err(); err != nil {
					return stored, err
				}
				out, err := r.eval(ctx, ts.Add(-g.offset), env)
				if err != nil {
					if !failing[r.name] {
						failing[r.name] = true
						errs = append(errs, fmt.Errorf("recording rule %s of group %q at %s: %w", r.name, g.cfg.Name, ts.UTC().Format(time.RFC3339), err))
					}
					continue
				}
				for _, s := range out {
					lbuf = lbuf[:0]
					s.Metric.Range(func(l labels.Label) { lbuf = append(lbuf, storage.Label{Name: l.Name, Value: l.Value}) })
					if err := rows.AddSeries(lbuf, []storage.Sample{{Timestamp: ts.UnixMilli(), Value: s.F}}); err != nil {
						return stored, err
					}
				}
			}
			if rows.Len() >= 50_000 {
				if err := flush(); err != nil {
					return stored, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return stored, err
	}
	return stored, errors.Join(errs...)
}
