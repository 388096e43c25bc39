package demo

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/storage"
)

// Local is the storage of the Vigil the demo runs in (vigil --demo).
type Local struct {
	Storage *storage.Storage
}

var _ Target = Local{}

// Append stores rows.
func (l Local) Append(rows *storage.Rows) error { return l.Storage.Append(rows) }

// Retention returns the store's retention.
func (l Local) Retention(context.Context) (time.Duration, error) { return l.Storage.Retention(), nil }

// upMatchers select the demo API's up series, which every step writes.
func upMatchers() []*labels.Matcher {
	return []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "up"),
		labels.MustNewMatcher(labels.MatchEqual, "job", Job),
		labels.MustNewMatcher(labels.MatchEqual, "instance", Instance),
	}
}

// LastStep finds the newest sample of the demo API's up between from and
// to.
func (l Local) LastStep(ctx context.Context, from, to time.Time) (time.Time, bool, error) {
	var last int64 = math.MinInt64
	err := l.each(ctx, from, to, upMatchers(), func(_ []storage.Label, t int64, _ float64) {
		last = max(last, t)
	})
	if err != nil || last == math.MinInt64 {
		return time.Time{}, false, err
	}
	return time.UnixMilli(last), true, nil
}

// ValuesAt reads the newest sample of every demo series from t on.
func (l Local) ValuesAt(ctx context.Context, t time.Time) (map[string]float64, error) {
	out := map[string]float64{}
	newest := map[string]int64{}
	for _, ms := range [][]*labels.Matcher{
		{labels.MustNewMatcher(labels.MatchEqual, "job", Job)},
		{labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, eventNamesRE())},
	} {
		err := l.each(ctx, t.Add(-valuesLookback), time.UnixMilli(math.MaxInt64/2), ms, func(ls []storage.Label, ts int64, v float64) {
			k := Key(ls)
			if at, ok := newest[k]; !ok || ts > at {
				newest[k], out[k] = ts, v
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, noValuesAt(t)
	}
	return out, nil
}

// each calls f with every sample of the series matching ms between from
// and to.
func (l Local) each(ctx context.Context, from, to time.Time, ms []*labels.Matcher, f func(ls []storage.Label, t int64, v float64)) error {
	q, err := l.Storage.Querier(from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return err
	}
	defer q.Close()
	set := q.Select(ctx, false, nil, ms...)
	for set.Next() {
		var ls []storage.Label
		set.At().Labels().Range(func(l labels.Label) { ls = append(ls, storage.Label{Name: l.Name, Value: l.Value}) })
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			t, v := it.At()
			f(ls, t, v)
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return set.Err()
}
