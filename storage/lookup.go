package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage/metricsmetadata"
	"github.com/prometheus/prometheus/model/labels"
)

// Status is the cardinality report of the store for one day, in the shape of
// Prometheus' /api/v1/status/tsdb.
type Status struct {
	TotalSeries          uint64
	TotalLabelValuePairs uint64

	SeriesCountByMetricName     []NameCount
	SeriesCountByLabelName      []NameCount
	SeriesCountByLabelValuePair []NameCount
	LabelValueCountByLabelName  []NameCount
}

// NameCount is one entry of a top-N list in Status.
type NameCount struct {
	Name  string
	Count uint64
}

// Metadata describes a metric family: its type, help and unit.
type Metadata struct {
	Metric string
	Type   string // counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown
	Help   string
	Unit   string
}

// TSDBStatus reports the series seen on the day (UTC) that holds date:
// totals and the topN metric names, label names and label pairs by series
// count. Matchers, if any, narrow the report to matching series.
func (s *Storage) TSDBStatus(ctx context.Context, date time.Time, topN int, matchers ...*labels.Matcher) (*Status, error) {
	tfss, err := matchersToTagFilterss(matchers)
	if err != nil {
		return nil, err
	}
	day := uint64(date.UTC().Unix() / (24 * 3600))
	st, err := s.vm.GetTSDBStatus(nil, tfss, day, "", topN, s.opts.MaxSeriesPerQuery, searchDeadline(ctx))
	if err != nil {
		return nil, fmt.Errorf("cannot collect the cardinality report: %w", s.searchError(err))
	}
	conv := func(es []vmstorage.TopHeapEntry) []NameCount {
		out := make([]NameCount, len(es))
		for i, e := range es {
			out[i] = NameCount{Name: e.Name, Count: e.Count}
		}
		return out
	}
	return &Status{
		TotalSeries:                 st.TotalSeries,
		TotalLabelValuePairs:        st.TotalLabelValuePairs,
		SeriesCountByMetricName:     conv(st.SeriesCountByMetricName),
		SeriesCountByLabelName:      conv(st.SeriesCountByLabelName),
		SeriesCountByLabelValuePair: conv(st.SeriesCountByLabelValuePair),
		LabelValueCountByLabelName:  conv(st.LabelValueCountByLabelName),
	}, nil
}

// DeleteSeries deletes every series that matches any of the matcher sets,
// across the whole retention, and returns how many it deleted. The store
// cannot delete part of a series' time range.
func (s *Storage) DeleteSeries(ctx context.Context, matcherSets [][]*labels.Matcher) (int, error) {
	total := 0
	for _, ms := range matcherSets {
		tfss, err := matchersToTagFilterss(ms)
		if err != nil {
			return total, err
		}
		if len(tfss) == 0 {
			return total, fmt.Errorf("refusing to delete every series: give at least one matcher")
		}
		n, err := s.vm.DeleteSeries(nil, tfss, s.opts.MaxSeriesPerQuery)
		if err != nil {
			return total, fmt.Errorf("cannot delete series matching %v: %w", ms, s.searchError(err))
		}
		total += n
	}
	return total, nil
}

var metricTypes = map[string]prompb.MetricType{
	"counter":        prompb.MetricTypeCounter,
	"gauge":          prompb.MetricTypeGauge,
	"histogram":      prompb.MetricTypeHistogram,
	"gaugehistogram": prompb.MetricTypeGaugeHistogram,
	"summary":        prompb.MetricTypeSummary,
	"info":           prompb.MetricTypeInfo,
	"stateset":       prompb.MetricTypeStateset,
	"unknown":        prompb.MetricTypeUnknown,
}

// MetricTypeName spells a remote-write metric type as Prometheus'
// metadata API does ("gaugehistogram"; VictoriaMetrics' String() says
// "gauge histogram").
func MetricTypeName(t prompb.MetricType) string {
	for name, mt := range metricTypes {
		if mt == t {
			return name
		}
	}
	return "unknown"
}

// AppendMetadata records metric metadata for /api/v1/metadata. It is kept
// in memory and refreshed by every scrape or push that carries it.
func (s *Storage) AppendMetadata(md []Metadata) {
	if len(md) == 0 {
		return
	}
	rows := make([]metricsmetadata.Row, len(md))
	for i, m := range md {
		t, ok := metricTypes[m.Type]
		if !ok {
			t = prompb.MetricTypeUnknown
		}
		rows[i] = metricsmetadata.Row{MetricFamilyName: []byte(m.Metric), Help: []byte(m.Help), Unit: []byte(m.Unit), Type: t}
	}
	s.vm.AddMetadataRows(rows)
}

// Metadata returns the metadata of metric (every metric if empty), at most
// limit entries (0: no limit).
func (s *Storage) Metadata(metric string, limit int) []Metadata {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows := s.vm.GetMetadataRows(nil, limit, metric)
	out := make([]Metadata, 0, len(rows))
	for _, r := range rows {
		out = append(out, Metadata{Metric: string(r.MetricFamilyName), Type: MetricTypeName(r.Type), Help: string(r.Help), Unit: string(r.Unit)})
	}
	return out
}
