package ingest

import (
	"encoding/binary"
	"fmt"
	"math"
	"mime"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-monitoring/vigil/storage"
)

// pushFormat is the encoding of a push body.
type pushFormat int

const (
	pushText     pushFormat = iota // the text exposition format
	pushProtobuf                   // length-delimited io.prometheus.client.MetricFamily messages
)

// pushFormatOf picks the body format from the request's Content-Type as
// the Pushgateway does: delimited protobuf when it says so exactly (the
// default of Go's client_golang push package), the text format otherwise.
func pushFormatOf(contentType string) pushFormat {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err == nil && mediaType == "application/vnd.google.protobuf" &&
		params["encoding"] == "delimited" && params["proto"] == "io.prometheus.client.MetricFamily" {
		return pushProtobuf
	}
	return pushText
}

// parseProtobuf decodes delimited MetricFamily messages into p, as parse
// does text: one textSample per sample, whose line is the 1-based number
// of its metric family in the body. It returns the family names, for
// error messages.
func (p *textParser) parseProtobuf(body []byte) ([]string, error) {
	var names []string
	var mf dto.MetricFamily
	for n := 1; len(body) > 0; n++ {
		size, k := binary.Uvarint(body)
		if k <= 0 || size > uint64(len(body)-k) {
			return nil, inputErrorf("metric family %d: invalid length prefix in the delimited protobuf body (%d bytes left); "+
				"Content-Type says delimited io.prometheus.client.MetricFamily messages", n, len(body))
		}
		msg := body[k : k+int(size)]
		body = body[k+int(size):]
		mf.Reset()
		if err := proto.Unmarshal(msg, &mf); err != nil {
			return nil, inputErrorf("metric family %d: cannot decode the protobuf message (%d bytes): %v", n, len(msg), err)
		}
		name := mf.GetName()
		names = append(names, name)
		if name == "" {
			return nil, inputErrorf("metric family %d has no name", n)
		}
		if err := p.addFamily(n, &mf); err != nil {
			return nil, inputErrorf("metric family %d (%s): %w", n, name, err)
		}
	}
	return names, nil
}

// protoTypes maps client_model's metric types to the metadata API's.
var protoTypes = map[dto.MetricType]string{
	dto.MetricType_COUNTER:         "counter",
	dto.MetricType_GAUGE:           "gauge",
	dto.MetricType_SUMMARY:         "summary",
	dto.MetricType_UNTYPED:         "unknown",
	dto.MetricType_HISTOGRAM:       "histogram",
	dto.MetricType_GAUGE_HISTOGRAM: "gaugehistogram",
}

// addFamily appends the samples of mf, with the series a text exposition
// would show for it: _bucket, _sum and _count for histograms, quantiles,
// _sum and _count for summaries. Native histogram buckets have no text
// form and are left out; their _sum and _count are kept.
func (p *textParser) addFamily(n int, mf *dto.MetricFamily) error {
	name := mf.GetName()
	m := p.metadata(name)
	m.Type = protoTypes[mf.GetType()]
	if m.Type == "" {
		m.Type = "unknown"
	}
	m.Help = mf.GetHelp()
	m.Unit = mf.GetUnit()
	for _, metric := range mf.GetMetric() {
		if metric == nil {
			continue
		}
		add := func(suffix, extraName, extraValue string, value float64) error {
			return p.addProtoSample(n, name+suffix, metric, extraName, extraValue, value)
		}
		var err error
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			err = add("", "", "", metric.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			err = add("", "", "", metric.GetGauge().GetValue())
		case dto.MetricType_SUMMARY:
			s := metric.GetSummary()
			for _, q := range s.GetQuantile() {
				if err = add("", "quantile", formatFloat(q.GetQuantile()), q.GetValue()); err != nil {
					return err
				}
			}
			if err = add("_sum", "", "", s.GetSampleSum()); err == nil {
				err = add("_count", "", "", float64(s.GetSampleCount()))
			}
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := metric.GetHistogram()
			// h may be nil (a metric without its histogram field): the
			// getters are nil-safe, the fields are not.
			count := float64(h.GetSampleCount())
			if h != nil && h.SampleCountFloat != nil {
				count = h.GetSampleCountFloat()
			}
			infSeen := false
			for _, b := range h.GetBucket() {
				v := float64(b.GetCumulativeCount())
				if b != nil && b.CumulativeCountFloat != nil {
					v = b.GetCumulativeCountFloat()
				}
				infSeen = infSeen || math.IsInf(b.GetUpperBound(), 1)
				if err = add("_bucket", "le", formatFloat(b.GetUpperBound()), v); err != nil {
					return err
				}
			}
			// The +Inf bucket is implied in protobuf; the text form has it.
			if !infSeen && len(h.GetBucket()) > 0 {
				if err = add("_bucket", "le", "+Inf", count); err != nil {
					return err
				}
			}
			if err = add("_sum", "", "", h.GetSampleSum()); err == nil {
				err = add("_count", "", "", count)
			}
		default: // UNTYPED and types this Vigil does not know
			err = add("", "", "", metric.GetUntyped().GetValue())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addProtoSample appends one sample of metric under the series name, with
// the extra label (le or quantile) when extraName is set.
func (p *textParser) addProtoSample(n int, name string, metric *dto.Metric, extraName, extraValue string, value float64) error {
	start := len(p.labels)
	p.labels = append(p.labels, storage.Label{Name: metricNameLabel, Value: name})
	for _, lp := range metric.GetLabel() {
		p.labels = append(p.labels, storage.Label{Name: lp.GetName(), Value: lp.GetValue()})
	}
	if extraName != "" {
		p.labels = append(p.labels, storage.Label{Name: extraName, Value: extraValue})
	}
	labels := p.labels[start:]
	if err := validateSeries(labels); err != nil {
		err = fmt.Errorf("series %s: %w", seriesString(labels), err)
		clear(p.labels[start:])
		p.labels = p.labels[:start]
		return err
	}
	s := textSample{line: n, labelsStart: start, labelsEnd: len(p.labels), value: value}
	if metric.TimestampMs != nil {
		s.timestamp, s.hasTimestamp = metric.GetTimestampMs(), true
	}
	p.samples = append(p.samples, s)
	return nil
}

// formatFloat writes an le or quantile value as client libraries do in
// the text format.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
