package ingest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/VictoriaMetrics/easyproto"
	"github.com/prometheus/otlptranslator"

	"github.com/vigil-monitoring/vigil/storage"
)

// VictoriaMetrics' OTLP decoder (lib/protoparser/opentelemetry/pb) turns
// data points into samples, but it hands every sample over with one flat
// list of labels: the resource's attributes, the scope's and the data
// point's mixed together. Prometheus maps a resource to job, instance and
// a target_info series instead, and it refuses what the store cannot
// represent (delta temporality). So before that decoder runs on a
// ResourceMetrics, walkResourceMetrics reads what Prometheus needs from
// it: the resource's attributes and, per metric, its kind and temporality.
// The decoder then runs with resource and scope attributes turned off and
// visits the metrics in the same order, which is how the pusher knows
// which metric a sample belongs to.

// The OTLP attribute names that make job and instance, as Prometheus
// (and the OpenTelemetry specification) map them.
const (
	otlpServiceName       = "service.name"
	otlpServiceNamespace  = "service.namespace"
	otlpServiceInstanceID = "service.instance.id"
)

// otlpResource is what Vigil takes from one ResourceMetrics besides its
// data points.
type otlpResource struct {
	job, instance string
	// info holds the other resource attributes, named as Prometheus names
	// labels, for target_info; empty when there are none.
	info []storage.Label
	// metrics are the resource's metrics in input order.
	metrics []otlpMetric
	// noBucketPoints counts histogram data points without buckets, which
	// VictoriaMetrics' decoder skips.
	noBucketPoints int
}

// otlpMetric is one metric of a ResourceMetrics.
type otlpMetric struct {
	// name is the Prometheus name of the metric family (with the unit and
	// _total suffixes); the decoder adds _bucket, _sum or _count.
	name string
	// typ is the Prometheus metadata type.
	typ string
	// reject says why the metric's data points are not stored, or "".
	reject string
	// points is the number of data points, for the rejected count.
	points int
}

// otlpWalker holds the buffers of walkResourceMetrics.
type otlpWalker struct {
	attrs   []storage.Label
	buckets []uint64
	bounds  []float64
	json    []byte
}

var otlpMetricNamer = otlptranslator.MetricNamer{WithMetricSuffixes: true}

// walkResourceMetrics reads the resource and the metric kinds of the
// ResourceMetrics src, the ri-th of the request, into res. Malformed input
// is an *InputError naming the field.
func (w *otlpWalker) walkResourceMetrics(src []byte, ri int, res *otlpResource) error {
	*res = otlpResource{metrics: res.metrics[:0], info: res.info[:0]}
	path := fmt.Sprintf("resource_metrics[%d]", ri)
	var fc easyproto.FieldContext
	si := 0
	for len(src) > 0 {
		var err error
		if src, err = fc.NextField(src); err != nil {
			return inputErrorf("%s: %w", path, err)
		}
		data, ok := fc.MessageData()
		switch fc.FieldNum {
		case 1:
			if !ok {
				return inputErrorf("%s.resource: not a message", path)
			}
			if err := w.readResource(data, path+".resource", res); err != nil {
				return err
			}
		case 2:
			if !ok {
				return inputErrorf("%s.scope_metrics[%d]: not a message", path, si)
			}
			if err := w.walkScopeMetrics(data, fmt.Sprintf("%s.scope_metrics[%d]", path, si), res); err != nil {
				return err
			}
			si++
		}
	}
	return nil
}

// readResource maps the resource's attributes: service.name (prefixed by
// service.namespace and "/") to job, service.instance.id to instance, the
// rest to target_info's labels.
func (w *otlpWalker) readResource(src []byte, path string, res *otlpResource) error {
	w.attrs = w.attrs[:0]
	var namespace string
	var fc easyproto.FieldContext
	for ai := 0; len(src) > 0; {
		var err error
		if src, err = fc.NextField(src); err != nil {
			return inputErrorf("%s: %w", path, err)
		}
		if fc.FieldNum != 1 {
			continue
		}
		kv, ok := fc.MessageData()
		if !ok {
			return inputErrorf("%s.attributes[%d]: not a message", path, ai)
		}
		key, value, err := w.keyValue(kv)
		if err != nil {
			return inputErrorf("%s.attributes[%d]: %w", path, ai, err)
		}
		ai++
		switch key {
		case otlpServiceName:
			res.job = value
		case otlpServiceNamespace:
			namespace = value
		case otlpServiceInstanceID:
			res.instance = value
		default:
			w.attrs = append(w.attrs, storage.Label{Name: key, Value: value})
		}
	}
	if res.job != "" && namespace != "" {
		res.job = namespace + "/" + res.job
	}
	var err error
	res.info, err = promLabels(res.info[:0], w.attrs, buildLabelName)
	if err != nil {
		return inputErrorf("%s: %w", path, err)
	}
	return nil
}

// buildLabelName is Prometheus' label name for an attribute name.
func buildLabelName(attr string) (string, error) {
	namer := otlptranslator.LabelNamer{}
	return namer.Build(attr)
}

// promLabels appends attrs to dst with the label names that name gives
// them, as Prometheus' OTLP translator builds labels: sorted by attribute
// name, and the values of attributes whose names become the same label
// joined with ";". attrs is sorted in place.
func promLabels(dst, attrs []storage.Label, name func(attr string) (string, error)) ([]storage.Label, error) {
	slices.SortStableFunc(attrs, func(a, b storage.Label) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	start := len(dst)
	for _, a := range attrs {
		name, err := name(a.Name)
		if err != nil {
			return dst, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		dup := false
		for i := start; i < len(dst); i++ {
			if dst[i].Name == name {
				dst[i].Value += ";" + a.Value
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, storage.Label{Name: name, Value: a.Value})
		}
	}
	return dst, nil
}

// keyValue reads a KeyValue, its value as Prometheus' translator writes
// an attribute value (pcommon.Value.AsString): strings as they are,
// numbers and booleans in Go's formatting, bytes in base64, arrays and
// maps as JSON.
func (w *otlpWalker) keyValue(src []byte) (key, value string, err error) {
	key, _, err = easyproto.GetString(src, 1)
	if err != nil {
		return "", "", fmt.Errorf("key: %w", err)
	}
	if key == "" {
		return "", "", errors.New("an attribute without a key; every attribute needs a name")
	}
	data, ok, err := easyproto.GetMessageData(src, 2)
	if err != nil {
		return "", "", fmt.Errorf("attribute %q: value: %w", key, err)
	}
	if !ok {
		return key, "", nil
	}
	w.json = w.json[:0]
	if w.json, err = appendAnyValue(w.json, data, false, 0); err != nil {
		return "", "", fmt.Errorf("attribute %q: value: %w", key, err)
	}
	return key, string(w.json), nil
}

// maxAnyValueDepth bounds the nesting of arrays and maps in an attribute
// value, so that hostile input cannot exhaust the stack.
const maxAnyValueDepth = 32

// appendAnyValue appends an AnyValue: as JSON when quote (inside an array
// or a map), else as the plain string of a top-level value.
func appendAnyValue(dst, src []byte, quote bool, depth int) ([]byte, error) {
	if depth > maxAnyValueDepth {
		return dst, fmt.Errorf("nested more than %d levels deep", maxAnyValueDepth)
	}
	var fc easyproto.FieldContext
	for len(src) > 0 {
		var err error
		if src, err = fc.NextField(src); err != nil {
			return dst, err
		}
		var ok bool
		switch fc.FieldNum {
		case 1:
			var s string
			if s, ok = fc.String(); ok {
				if quote {
					dst = strconv.AppendQuote(dst, s)
				} else {
					dst = append(dst, s...)
				}
			}
		case 2:
			var b bool
			if b, ok = fc.Bool(); ok {
				dst = strconv.AppendBool(dst, b)
			}
		case 3:
			var n int64
			if n, ok = fc.Int64(); ok {
				dst = strconv.AppendInt(dst, n, 10)
			}
		case 4:
			var f float64
			if f, ok = fc.Double(); ok {
				if quote && (math.IsNaN(f) || math.IsInf(f, 0)) {
					dst = strconv.AppendQuote(dst, strconv.FormatFloat(f, 'g', -1, 64))
				} else {
					dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
				}
			}
		case 5, 6:
			var data []byte
			if data, ok = fc.MessageData(); ok {
				if dst, err = appendAnyList(dst, data, fc.FieldNum == 6, depth+1); err != nil {
					return dst, err
				}
			}
		case 7:
			var b []byte
			if b, ok = fc.Bytes(); ok {
				if quote {
					dst = append(dst, '"')
				}
				dst = base64.StdEncoding.AppendEncode(dst, b)
				if quote {
					dst = append(dst, '"')
				}
			}
		default:
			ok = true
		}
		if !ok {
			return dst, fmt.Errorf("field %d has the wrong wire type", fc.FieldNum)
		}
	}
	return dst, nil
}

// appendAnyList appends an ArrayValue (values = 1) as a JSON array or a
// KeyValueList (values = 1, each a KeyValue) as a JSON object.
func appendAnyList(dst, src []byte, isMap bool, depth int) ([]byte, error) {
	open, closing := byte('['), byte(']')
	if isMap {
		open, closing = '{', '}'
	}
	dst = append(dst, open)
	first := true
	var fc easyproto.FieldContext
	for len(src) > 0 {
		var err error
		if src, err = fc.NextField(src); err != nil {
			return dst, err
		}
		if fc.FieldNum != 1 {
			continue
		}
		data, ok := fc.MessageData()
		if !ok {
			return dst, errors.New("a list entry is not a message")
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if isMap {
			key, _, err := easyproto.GetString(data, 1)
			if err != nil {
				return dst, err
			}
			dst = strconv.AppendQuote(dst, key)
			dst = append(dst, ':')
			if data, ok, err = easyproto.GetMessageData(data, 2); err != nil {
				return dst, err
			} else if !ok {
				dst = append(dst, "null"...)
				continue
			}
		}
		n := len(dst)
		if dst, err = appendAnyValue(dst, data, true, depth); err != nil {
			return dst, err
		}
		if len(dst) == n {
			dst = append(dst, "null"...) // an empty AnyValue
		}
	}
	return append(dst, closing), nil
}

func (w *otlpWalker) walkScopeMetrics(src []byte, path string, res *otlpResource) error {
	var fc easyproto.FieldContext
	mi := 0
	for len(src) > 0 {
		var err error
		if src, err = fc.NextField(src); err != nil {
			return inputErrorf("%s: %w", path, err)
		}
		if fc.FieldNum != 2 {
			continue
		}
		data, ok := fc.MessageData()
		if !ok {
			return inputErrorf("%s.metrics[%d]: not a message", path, mi)
		}
		if err := w.walkMetric(data, fmt.Sprintf("%s.metrics[%d]", path, mi), res); err != nil {
			return err
		}
		mi++
	}
	return nil
}

// The OTLP AggregationTemporality values.
const (
	otlpTemporalityDelta      = 1
	otlpTemporalityCumulative = 2
)

// walkMetric reads one Metric's name, unit and kind, and checks its
// histogram data points, which VictoriaMetrics' decoder would skip with
// only a log line when malformed.
func (w *otlpWalker) walkMetric(src []byte, path string, res *otlpResource) error {
	name, ok, err := easyproto.GetString(src, 1)
	if err != nil {
		return inputErrorf("%s.name: %w", path, err)
	}
	if !ok || name == "" {
		return inputErrorf("%s: a metric without a name; every metric needs one", path)
	}
	path = fmt.Sprintf("%s (%q)", path, name)
	unit, _, err := easyproto.GetString(src, 3)
	if err != nil {
		return inputErrorf("%s.unit: %w", path, err)
	}
	m := otlpMetric{typ: "unknown"}
	typ := otlptranslator.MetricType(otlptranslator.MetricTypeUnknown)
	var fc easyproto.FieldContext
	for len(src) > 0 {
		if src, err = fc.NextField(src); err != nil {
			return inputErrorf("%s: %w", path, err)
		}
		var kind string
		switch fc.FieldNum {
		case 5:
			kind, typ, m.typ = "gauge", otlptranslator.MetricTypeGauge, "gauge"
		case 7:
			kind, typ, m.typ = "sum", otlptranslator.MetricTypeNonMonotonicCounter, "gauge"
		case 9:
			kind, typ, m.typ = "histogram", otlptranslator.MetricTypeHistogram, "histogram"
		case 10:
			kind, typ, m.typ = "exponential_histogram", otlptranslator.MetricTypeExponentialHistogram, "histogram"
		case 11:
			kind, typ, m.typ = "summary", otlptranslator.MetricTypeSummary, "summary"
		default:
			continue
		}
		data, ok := fc.MessageData()
		if !ok {
			return inputErrorf("%s.%s: not a message", path, kind)
		}
		if kind == "sum" {
			mono, _, err := easyproto.GetBool(data, 3)
			if err != nil {
				return inputErrorf("%s.sum.is_monotonic: %w", path, err)
			}
			if mono {
				typ, m.typ = otlptranslator.MetricTypeMonotonicCounter, "counter"
			}
		}
		if err := w.walkData(data, path+"."+kind, kind, &m, res); err != nil {
			return err
		}
	}
	if m.name, err = otlpMetricNamer.Build(otlptranslator.Metric{Name: name, Unit: unit, Type: typ}); err != nil {
		return inputErrorf("%s: %w", path, err)
	}
	res.metrics = append(res.metrics, m)
	return nil
}

// walkData counts the data points of a Gauge, Sum, Histogram,
// ExponentialHistogram or Summary, checks the temporality of the three
// that have one, and the buckets of a histogram's points.
func (w *otlpWalker) walkData(src []byte, path, kind string, m *otlpMetric, res *otlpResource) error {
	temporality := int32(0)
	noBuckets := 0
	var fc easyproto.FieldContext
	for len(src) > 0 {
		var err error
		if src, err = fc.NextField(src); err != nil {
			return inputErrorf("%s: %w", path, err)
		}
		switch fc.FieldNum {
		case 1:
			data, ok := fc.MessageData()
			if !ok {
				return inputErrorf("%s.data_points[%d]: not a message", path, m.points)
			}
			if kind == "histogram" {
				empty, err := w.checkHistogramPoint(data, fmt.Sprintf("%s.data_points[%d]", path, m.points))
				if err != nil {
					return err
				}
				if empty {
					noBuckets++
				}
			}
			m.points++
		case 2:
			if kind == "gauge" || kind == "summary" {
				continue
			}
			var ok bool
			if temporality, ok = fc.Enum(); !ok {
				return inputErrorf("%s.aggregation_temporality: not an enum", path)
			}
		}
	}
	if kind == "gauge" || kind == "summary" {
		return nil
	}
	switch temporality {
	case otlpTemporalityCumulative:
		res.noBucketPoints += noBuckets
	case otlpTemporalityDelta:
		m.reject = fmt.Sprintf("%s has delta temporality; Vigil, like Prometheus, stores cumulative values only: "+
			"configure the exporter for cumulative temporality (OpenTelemetry SDKs: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)",
			path)
	default:
		m.reject = fmt.Sprintf("%s has aggregation_temporality %d; Vigil, like Prometheus, needs CUMULATIVE (2)", path, temporality)
	}
	return nil
}

// checkHistogramPoint checks that a HistogramDataPoint has one bucket
// count more than explicit bounds (the last bucket counts to +Inf), or
// reports that it has no buckets at all.
func (w *otlpWalker) checkHistogramPoint(src []byte, path string) (empty bool, err error) {
	w.buckets, w.bounds = w.buckets[:0], w.bounds[:0]
	var fc easyproto.FieldContext
	for len(src) > 0 {
		if src, err = fc.NextField(src); err != nil {
			return false, inputErrorf("%s: %w", path, err)
		}
		var ok bool
		switch fc.FieldNum {
		case 6:
			w.buckets, ok = fc.UnpackFixed64s(w.buckets)
		case 7:
			w.bounds, ok = fc.UnpackDoubles(w.bounds)
		default:
			continue
		}
		if !ok {
			return false, inputErrorf("%s: field %d has the wrong wire type", path, fc.FieldNum)
		}
	}
	switch {
	case len(w.buckets) == 0:
		return true, nil
	case len(w.buckets) != len(w.bounds)+1:
		return false, inputErrorf("%s: %d bucket_counts for %d explicit_bounds; a histogram needs one bucket count more than bounds",
			path, len(w.buckets), len(w.bounds))
	}
	return false, nil
}
