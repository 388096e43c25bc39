package ingest

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promutil"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/opentelemetry/pb"
	"github.com/VictoriaMetrics/easyproto"
	"github.com/prometheus/otlptranslator"
	metricsv1 "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-monitoring/vigil/storage"
)

// OTLPOptions configures DecodeOTLP.
type OTLPOptions struct {
	// JSON says the body is OTLP/JSON (Content-Type application/json)
	// rather than protobuf.
	JSON bool
	// TargetInfoInterval is the spacing of target_info samples between
	// the earliest and the latest sample of a resource. Prometheus uses
	// half its lookback delta, so that target_info is found at any time
	// its resource has samples; zero means 2m30s, half of 5m.
	TargetInfoInterval time.Duration
}

// OTLPResult is what DecodeOTLP appended and what it left out.
type OTLPResult struct {
	Result
	// RejectedPoints is the number of data points that were valid OTLP
	// but are not stored (delta temporality, histograms without buckets),
	// for the response's partial_success; RejectedReason says why, for
	// the first of them.
	RejectedPoints int
	RejectedReason string
}

// DecodeOTLP decodes an OTLP/HTTP metrics export request — an
// ExportMetricsServiceRequest in protobuf or JSON — and appends its samples
// to rows, as Prometheus' OTLP receiver translates them:
//
//   - metric names get the unit and type suffixes of Prometheus' OTLP
//     translator (http.server.duration in s → http_server_duration_seconds,
//     a monotonic sum gets _total, a gauge with unit 1 _ratio) and
//     attribute names become label names with unsupported characters
//     replaced by "_";
//   - a resource's service.name (prefixed with service.namespace and "/")
//     becomes the job label, service.instance.id the instance label, and
//     its other attributes the labels of a target_info series with value 1;
//     scope attributes are not promoted;
//   - sums and gauges become one series each; histograms _bucket (le),
//     _sum and _count series; summaries quantile series, _sum and _count;
//     exponential histograms _count, _sum and _bucket series with a vmrange
//     label, as VictoriaMetrics (and Vigil's remote write) store native
//     histograms;
//   - a data point flagged "no recorded value" becomes a staleness marker.
//
// Data points of sums and histograms with delta (or unspecified)
// temporality are not stored, as Prometheus refuses them, and histogram
// points without buckets neither: they are counted in RejectedPoints.
//
// On error, an *InputError naming the field, nothing is appended.
func DecodeOTLP(body []byte, opts OTLPOptions, rows *storage.Rows) (OTLPResult, error) {
	if opts.TargetInfoInterval <= 0 {
		opts.TargetInfoInterval = 150 * time.Second
	}
	d := otlpDecoderPool.Get().(*otlpDecoder)
	defer d.put()
	if opts.JSON {
		var err error
		if body, err = d.fromJSON(body); err != nil {
			return OTLPResult{}, err
		}
	}
	start := rows.Len()
	res, err := d.decode(body, opts, rows)
	if err != nil {
		rows.Truncate(start)
		return OTLPResult{}, err
	}
	return res, nil
}

// otlpDecoder holds the buffers of one DecodeOTLP call.
type otlpDecoder struct {
	walker otlpWalker
	res    otlpResource
	pusher otlpPusher
	// wrapped holds one ResourceMetrics wrapped as a MetricsData, the
	// message VictoriaMetrics' decoder takes.
	wrapped []byte
	// fromJSONBuf holds the protobuf form of a JSON request.
	fromJSONBuf []byte
	seenMeta    map[string]struct{}
}

var otlpDecoderPool = sync.Pool{New: func() any {
	return &otlpDecoder{seenMeta: make(map[string]struct{}), pusher: otlpPusher{names: make(map[string]string)}}
}}

func (d *otlpDecoder) put() {
	if cap(d.wrapped) > maxPooledBuffer || cap(d.fromJSONBuf) > maxPooledBuffer {
		return
	}
	d.pusher.rows = nil
	clear(d.pusher.labels)
	clear(d.pusher.attrs)
	clear(d.seenMeta)
	if len(d.pusher.names) > 10_000 {
		clear(d.pusher.names)
	}
	otlpDecoderPool.Put(d)
}

// fromJSON turns an OTLP/JSON body into its protobuf form. OTLP/JSON is
// protobuf's JSON mapping of the same messages (lowerCamelCase or
// original field names, 64-bit integers as strings or numbers, enums as
// numbers); unknown fields are ignored, as the specification requires.
// The trace and span IDs of exemplars, which OTLP/JSON writes in hex, are
// read as base64, which every hex string also is; Vigil ignores exemplars.
func (d *otlpDecoder) fromJSON(body []byte) ([]byte, error) {
	var md metricsv1.MetricsData
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &md); err != nil {
		return nil, inputErrorf("cannot decode the OTLP/JSON request: %w; the body must be an ExportMetricsServiceRequest "+
			"in OTLP's JSON encoding ({\"resourceMetrics\": [...]})", err)
	}
	var err error
	d.fromJSONBuf, err = proto.MarshalOptions{}.MarshalAppend(d.fromJSONBuf[:0], &md)
	if err != nil {
		return nil, fmt.Errorf("cannot re-encode the OTLP/JSON request as protobuf: %w", err)
	}
	return d.fromJSONBuf, nil
}

func (d *otlpDecoder) decode(body []byte, opts OTLPOptions, rows *storage.Rows) (OTLPResult, error) {
	var out OTLPResult
	var fc easyproto.FieldContext
	for ri := 0; len(body) > 0; {
		var err error
		if body, err = fc.NextField(body); err != nil {
			return out, inputErrorf("cannot decode the OTLP request: %w; the body must be a protobuf "+
				"ExportMetricsServiceRequest (Content-Type: application/x-protobuf) or its JSON form (application/json)", err)
		}
		if fc.FieldNum != 1 {
			continue
		}
		rm, ok := fc.MessageData()
		if !ok {
			return out, inputErrorf("resource_metrics[%d]: not a message", ri)
		}
		if err := d.walker.walkResourceMetrics(rm, ri, &d.res); err != nil {
			return out, err
		}
		d.wrapped = protowire.AppendTag(d.wrapped[:0], 1, protowire.BytesType)
		d.wrapped = protowire.AppendBytes(d.wrapped, rm)
		p := &d.pusher
		p.reset(rows, &d.res)
		// Resource attributes were read by the walker, and scope
		// attributes are not promoted, as in Prometheus.
		if err := pb.DecodeMetricsData(d.wrapped, p, pb.DecodeMetricsOptions{DisableScopeMetadata: true, DisableResourceAttributes: true}); err != nil {
			return out, inputErrorf("resource_metrics[%d]: %w", ri, err)
		}
		if p.err != nil {
			return out, inputErrorf("resource_metrics[%d]: %w", ri, p.err)
		}
		if p.metric != len(d.res.metrics) {
			return out, fmt.Errorf("resource_metrics[%d]: the decoder saw %d metrics, the walk %d; this is a bug in Vigil", ri, p.metric, len(d.res.metrics))
		}
		if err := p.addTargetInfo(opts.TargetInfoInterval); err != nil {
			return out, inputErrorf("resource_metrics[%d] target_info: %w", ri, err)
		}
		out.Samples += p.samples
		out.Series += p.samples
		for _, m := range d.res.metrics {
			if m.reject != "" {
				out.RejectedPoints += m.points
				if out.RejectedReason == "" {
					out.RejectedReason = m.reject
				}
			}
		}
		if d.res.noBucketPoints > 0 {
			out.RejectedPoints += d.res.noBucketPoints
			if out.RejectedReason == "" {
				out.RejectedReason = fmt.Sprintf("resource_metrics[%d]: %d histogram data points have no bucket_counts; "+
					"Vigil stores histograms as buckets: send explicit buckets", ri, d.res.noBucketPoints)
			}
		}
		for _, md := range p.meta {
			if _, seen := d.seenMeta[md.Metric]; !seen {
				d.seenMeta[md.Metric] = struct{}{}
				out.Metadata = append(out.Metadata, md)
			}
		}
		ri++
	}
	return out, nil
}

// otlpPusher receives the samples of one ResourceMetrics from
// VictoriaMetrics' decoder and appends them to rows with Prometheus'
// names and labels.
type otlpPusher struct {
	rows *storage.Rows
	res  *otlpResource
	// metric indexes res.metrics: the decoder reports a metric's metadata
	// after its samples, so the metadata calls count the metrics.
	metric  int
	samples int
	// minTs and maxTs span the samples of the resource, for target_info.
	minTs, maxTs int64
	err          error
	meta         []Metadata

	labels []storage.Label
	attrs  []storage.Label
	// names caches Prometheus label names of attribute names.
	names map[string]string
}

func (p *otlpPusher) reset(rows *storage.Rows, res *otlpResource) {
	p.rows, p.res = rows, res
	p.metric, p.samples, p.err = 0, 0, nil
	p.minTs, p.maxTs = math.MaxInt64, math.MinInt64
	p.meta = p.meta[:0]
}

// PushSample implements pb.MetricPusher: one sample of the current
// metric, suffix "" or _bucket, _sum, _count. ls holds the data point's
// attributes, then le, quantile or vmrange for buckets and quantiles.
func (p *otlpPusher) PushSample(mm *pb.MetricMetadata, suffix string, ls *promutil.Labels, timestampNsecs uint64, v float64, flags uint32) {
	if p.err != nil {
		return
	}
	if p.metric >= len(p.res.metrics) {
		p.err = fmt.Errorf("a sample of metric %q outside the metrics the walk saw; this is a bug in Vigil", mm.Name)
		return
	}
	m := &p.res.metrics[p.metric]
	if m.reject != "" {
		return
	}
	if timestampNsecs == 0 {
		p.err = fmt.Errorf("metric %q: a data point without time_unix_nano; every data point needs its time", mm.Name)
		return
	}
	ts := int64(timestampNsecs / 1e6)
	if flags&1 != 0 { // DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
		v = staleNaN
	}
	attrs := ls.Labels
	var special storage.Label
	if n := len(attrs); n > 0 && (suffix == "_bucket" || (mm.Type == prompb.MetricTypeSummary && suffix == "")) {
		special, attrs = attrs[n-1], attrs[:n-1]
	}
	p.attrs = append(p.attrs[:0], attrs...)
	var err error
	if p.labels, err = promLabels(p.labels[:0], p.attrs, p.labelName); err != nil {
		p.err = fmt.Errorf("metric %q: %w", mm.Name, err)
		return
	}
	p.labels = p.resourceLabels(p.labels)
	if special.Name != "" {
		p.labels = setLabel(p.labels, special.Name, special.Value)
	}
	p.labels = setLabel(p.labels, metricNameLabel, m.name+suffix)
	if err := p.rows.Add(p.labels, ts, v); err != nil {
		p.err = fmt.Errorf("metric %q, series %s: %w", mm.Name, seriesString(p.labels), err)
		return
	}
	p.samples++
	p.minTs, p.maxTs = min(p.minTs, ts), max(p.maxTs, ts)
}

// labelName is buildLabelName with a cache: a request repeats the same
// few attribute names on every data point.
func (p *otlpPusher) labelName(attr string) (string, error) {
	if name, ok := p.names[attr]; ok {
		return name, nil
	}
	name, err := buildLabelName(attr)
	if err != nil {
		return "", err
	}
	p.names[strings.Clone(attr)] = name
	return name, nil
}

// resourceLabels sets job and instance, which win over attributes of the
// same names, as in Prometheus.
func (p *otlpPusher) resourceLabels(ls []storage.Label) []storage.Label {
	if p.res.job != "" {
		ls = setLabel(ls, "job", p.res.job)
	}
	if p.res.instance != "" {
		ls = setLabel(ls, "instance", p.res.instance)
	}
	return ls
}

// PushMetricMetadata implements pb.MetricPusher. It comes after the
// metric's samples.
func (p *otlpPusher) PushMetricMetadata(mm *pb.MetricMetadata) {
	if p.metric < len(p.res.metrics) {
		if m := &p.res.metrics[p.metric]; m.reject == "" {
			unitNamer := otlptranslator.UnitNamer{}
			p.meta = append(p.meta, Metadata{Metric: m.name, Type: m.typ,
				Help: strings.Clone(mm.Description), Unit: unitNamer.Build(mm.Unit)})
		}
	}
	p.metric++
}

// addTargetInfo writes the resource's target_info samples, as Prometheus
// does: value 1 from the earliest to the latest sample of the resource,
// every interval, when the resource has attributes besides job and
// instance and at least one of those.
func (p *otlpPusher) addTargetInfo(interval time.Duration) error {
	if len(p.res.info) == 0 || (p.res.job == "" && p.res.instance == "") || p.samples == 0 {
		return nil
	}
	p.labels = append(p.labels[:0], p.res.info...)
	p.labels = p.resourceLabels(p.labels)
	p.labels = setLabel(p.labels, metricNameLabel, "target_info")
	step := interval.Milliseconds()
	for ts := p.minTs; ts < p.maxTs; ts += step {
		if err := p.rows.Add(p.labels, ts, 1); err != nil {
			return fmt.Errorf("series %s: %w", seriesString(p.labels), err)
		}
		p.samples++
	}
	if err := p.rows.Add(p.labels, p.maxTs, 1); err != nil {
		return fmt.Errorf("series %s: %w", seriesString(p.labels), err)
	}
	p.samples++
	p.meta = append(p.meta, Metadata{Metric: "target_info", Type: "gauge", Help: "Target metadata"})
	return nil
}

// setLabel sets label name to value in ls, replacing a label of that name.
func setLabel(ls []storage.Label, name, value string) []storage.Label {
	for i := range ls {
		if ls[i].Name == name {
			ls[i].Value = value
			return ls
		}
	}
	return append(ls, storage.Label{Name: name, Value: value})
}
