package web

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/valyala/bytebufferpool"
)

// federate serves /federate as Prometheus does: the latest sample, within
// the lookback delta before now, of every series matching any match[]
// selector, grouped in untyped families sorted by metric name, with an
// empty instance label added where a series has none (so that the parent's
// honor_labels keeps it) and the external labels added where a series has
// not got its own. Stale markers are left out. The format is
// negotiated among Prometheus' text and protobuf formats.
func (s *Server) federate(c echo.Context) error {
	r := c.Request()
	if err := parseForm(r); err != nil {
		if isBodyTooLarge(err) {
			return err
		}
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	if len(r.Form["match[]"]) == 0 {
		return c.String(http.StatusBadRequest, "no match[] parameter provided\n")
	}
	matcherSets, err := s.promParser().ParseMetricSelectors(r.Form["match[]"])
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	if s.queryable() == nil {
		return c.String(http.StatusServiceUnavailable, "the storage is not configured\n")
	}
	now := time.Now()
	mint := timestamp.FromTime(now.Add(-s.opts.LookbackDelta))
	maxt := timestamp.FromTime(now)
	format := expfmt.NegotiateAccept(r.Header,
		expfmt.NewFormat(expfmt.TypeProtoDelim), expfmt.NewFormat(expfmt.TypeProtoText),
		expfmt.NewFormat(expfmt.TypeProtoCompact), expfmt.NewFormat(expfmt.TypeTextPlain))

	q, err := s.queryable().Querier(mint, maxt)
	if err != nil {
		return c.String(http.StatusInternalServerError, err.Error()+"\n")
	}
	defer q.Close()

	ctx := r.Context()
	hints := &promstorage.SelectHints{Start: mint, End: maxt}
	sets := make([]promstorage.SeriesSet, 0, len(matcherSets))
	for _, ms := range matcherSets {
		sets = append(sets, q.Select(ctx, true, hints, ms...))
	}
	set := promstorage.NewMergeSeriesSet(sets, 0, promstorage.ChainedSeriesMerge)

	type sample struct {
		metric labels.Labels
		t      int64
		f      float64
	}
	var (
		samples []sample
		it      chunkenc.Iterator
	)
	for set.Next() {
		series := set.At()
		it = series.Iterator(it)
		var (
			t     int64
			f     float64
			found bool
		)
		// Vigil's store holds floats only.
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue
			}
			st, sv := it.At()
			if st > maxt {
				break
			}
			if st >= mint {
				t, f, found = st, sv, true
			}
		}
		if err := it.Err(); err != nil {
			return c.String(http.StatusInternalServerError, err.Error()+"\n")
		}
		if !found || value.IsStaleNaN(f) {
			continue
		}
		samples = append(samples, sample{metric: series.Labels(), t: t, f: f})
	}
	if err := set.Err(); err != nil {
		return c.String(http.StatusInternalServerError, err.Error()+"\n")
	}
	slices.SortStableFunc(samples, func(a, b sample) int {
		return cmp.Compare(a.metric.Get(model.MetricNameLabel), b.metric.Get(model.MetricNameLabel))
	})

	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	enc := expfmt.NewEncoder(buf, format)
	untyped := dto.MetricType_UNTYPED
	var external []labels.Label
	if s.deps.ExternalLabels != nil {
		for name, value := range s.deps.ExternalLabels() {
			external = append(external, labels.Label{Name: name, Value: value})
		}
		slices.SortFunc(external, func(a, b labels.Label) int { return cmp.Compare(a.Name, b.Name) })
	}
	var family *dto.MetricFamily
	for _, smp := range samples {
		name := smp.metric.Get(model.MetricNameLabel)
		if name == "" {
			continue // nameless series cannot be exposed
		}
		if family == nil || family.GetName() != name {
			if family != nil {
				if err := enc.Encode(family); err != nil {
					return err
				}
			}
			family = &dto.MetricFamily{Name: &name, Type: &untyped}
		}
		m := &dto.Metric{TimestampMs: &smp.t, Untyped: &dto.Untyped{Value: &smp.f}}
		hasInstance := false
		smp.metric.Range(func(l labels.Label) {
			if l.Name == model.MetricNameLabel || l.Value == "" {
				return
			}
			if l.Name == "instance" {
				hasInstance = true
			}
			m.Label = append(m.Label, &dto.LabelPair{Name: &l.Name, Value: &l.Value})
		})
		for i := range external {
			if l := &external[i]; !smp.metric.Has(l.Name) || smp.metric.Get(l.Name) == "" {
				m.Label = append(m.Label, &dto.LabelPair{Name: &l.Name, Value: &l.Value})
				hasInstance = hasInstance || l.Name == "instance"
			}
		}
		if !hasInstance {
			instance, empty := "instance", ""
			m.Label = append(m.Label, &dto.LabelPair{Name: &instance, Value: &empty})
		}
		family.Metric = append(family.Metric, m)
	}
	if family != nil {
		if err := enc.Encode(family); err != nil {
			return err
		}
	}
	if closer, ok := enc.(expfmt.Closer); ok {
		if err := closer.Close(); err != nil {
			return err
		}
	}
	writeCompressed(c, http.StatusOK, string(format), buf.B)
	return nil
}
