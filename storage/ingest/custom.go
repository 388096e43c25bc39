package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/vigil-monitoring/vigil/storage"
)

// Custom metrics are declared in Vigil's config and recorded through
// POST /api/v1/events/custom/<metric>: the seed's "Adding New Metrics"
// without code changes. The declaration fixes everything a series can be:
// the metric's type, its labels, and for each label the values it may
// take or how many distinct values it may have. An event that names an
// unknown metric or label, or a value outside the declaration, is refused
// whole; it never makes a new series.

// CustomMetric is a metric declared in the config.
type CustomMetric struct {
	Name string
	Type MetricType
	Help string
	// Labels are the metric's labels; an event gives a value for each.
	Labels []CustomLabel
	// Buckets are a histogram's upper bounds, without +Inf; none means
	// DefaultBuckets.
	Buckets []float64
}

// CustomLabel is a label of a custom metric: either the values it may
// take, or a cap on its distinct values.
type CustomLabel struct {
	Name      string
	Values    []string
	MaxValues int
}

// DefaultBuckets are the Prometheus client libraries' default buckets,
// for custom histograms that give none.
var DefaultBuckets = HTTPDurationBuckets

// MaxCustomLabelValues bounds a custom label's max_values.
const MaxCustomLabelValues = 100_000

// The fields of a custom event besides its labels.
const (
	customIDField    = "id"
	customIncField   = "inc"
	customValueField = "value"
)

// CustomMetricError is a problem with the declaration of custom metric
// number Index (from 0), in its Field.
type CustomMetricError struct {
	Index  int
	Metric string
	Field  string
	Err    error
}

func (e *CustomMetricError) Error() string {
	return fmt.Sprintf("metric %d (%s): %s: %v", e.Index, e.Metric, e.Field, e.Err)
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// CheckCustomMetrics returns every problem of the declarations ms, each a
// *CustomMetricError.
func CheckCustomMetrics(ms []CustomMetric) []error {
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, &CustomMetricError{Index: i, Metric: ms[i].Name, Field: field, Err: fmt.Errorf(format, args...)})
	}
	// Series names taken, by the catalogue or an earlier declaration.
	taken := map[string]string{}
	for _, m := range Catalogue() {
		for _, n := range seriesNames(m.Name, m.Type) {
			taken[n] = "the built-in metric " + m.Name
		}
	}
	for i, m := range ms {
		switch {
		case !metricNameRE.MatchString(m.Name):
			bad(i, "name", "%q is not a metric name: use letters, digits, _ and :, not starting with a digit", m.Name)
		case strings.HasPrefix(m.Name, "__") || strings.HasPrefix(m.Name, "vigil_"):
			bad(i, "name", "%q is reserved: names starting with __ or vigil_ are Vigil's own", m.Name)
		}
		switch m.Type {
		case Counter, Gauge, Histogram:
			for _, n := range seriesNames(m.Name, m.Type) {
				if other, ok := taken[n]; ok {
					bad(i, "name", "its series %s are already those of %s; choose another name", n, other)
					break
				}
			}
			for _, n := range seriesNames(m.Name, m.Type) {
				if _, ok := taken[n]; !ok {
					taken[n] = "custom metric " + m.Name
				}
			}
		default:
			bad(i, "type", "%q is not a type: use counter, gauge or histogram", m.Type)
		}
		names := map[string]bool{}
		for j, l := range m.Labels {
			field := fmt.Sprintf("labels[%d]", j)
			switch {
			case !labelNameRE.MatchString(l.Name):
				bad(i, field, "%q is not a label name: use letters, digits and _, not starting with a digit", l.Name)
			case strings.HasPrefix(l.Name, "__"):
				bad(i, field, "%q is reserved: label names starting with __ are Prometheus' own", l.Name)
			case l.Name == customIDField || l.Name == customIncField || l.Name == customValueField:
				bad(i, field, "%q is a field of every event (id, inc, value); name the label otherwise", l.Name)
			case l.Name == "le" && m.Type == Histogram:
				bad(i, field, "le is the bucket label of a histogram's series; name the label otherwise")
			case names[l.Name]:
				bad(i, field, "%s is declared twice", l.Name)
			}
			names[l.Name] = true
			switch {
			case len(l.Values) > 0 && l.MaxValues != 0:
				bad(i, field, "give values (the allowed values) or max_values (a cap on distinct values), not both")
			case len(l.Values) == 0 && l.MaxValues == 0:
				bad(i, field, "give values (the allowed values, e.g. [web, app]) or max_values (a cap on distinct values, e.g. 100)")
			case l.MaxValues < 0 || l.MaxValues > MaxCustomLabelValues:
				bad(i, field, "max_values must be between 1 and %d, not %d", MaxCustomLabelValues, l.MaxValues)
			}
			seen := map[string]bool{}
			for _, v := range l.Values {
				if !labelValueRE.MatchString(v) {
					bad(i, field, "%q is not a valid value: use 1 to 128 letters, digits and _.:/@+-", v)
				} else if seen[v] {
					bad(i, field, "the value %q is listed twice", v)
				}
				seen[v] = true
			}
		}
		if len(m.Buckets) > 0 && m.Type != Histogram {
			bad(i, "buckets", "buckets are for histograms; %s is a %s", m.Name, m.Type)
		}
		for j, b := range m.Buckets {
			if math.IsNaN(b) || math.IsInf(b, 0) {
				bad(i, "buckets", "%v is not a finite bound (+Inf is added by itself)", b)
			} else if j > 0 && b <= m.Buckets[j-1] {
				bad(i, "buckets", "the bounds must increase: %v comes after %v", b, m.Buckets[j-1])
			}
		}
	}
	return errs
}

// seriesNames are the names of the series of a metric: a histogram h has
// h_bucket, h_sum and h_count.
func seriesNames(name string, t MetricType) []string {
	if t == Histogram {
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	}
	return []string{name}
}

// customMetric is a declaration prepared for recording.
type customMetric struct {
	def     CustomMetric
	hist    *eventHistogram // histograms only
	allowed []map[string]bool
	caps    []labelCap // never nil: only these labels are capped
	fields  string     // the fields of its events, for errors
}

func newCustomMetric(m CustomMetric) *customMetric {
	c := &customMetric{def: m, caps: []labelCap{}}
	if m.Type == Histogram {
		bs := m.Buckets
		if len(bs) == 0 {
			bs = DefaultBuckets
		}
		c.def.Buckets = slices.Clone(bs)
		c.hist = newEventHistogram(m.Name, bs)
	}
	var fields []string
	for i, l := range m.Labels {
		fields = append(fields, l.Name)
		if len(l.Values) > 0 {
			set := map[string]bool{}
			for _, v := range l.Values {
				set[v] = true
			}
			c.allowed = append(c.allowed, set)
			continue
		}
		c.allowed = append(c.allowed, nil)
		c.caps = append(c.caps, labelCap{i: i, label: l.Name, scope: m.Name + "\x00" + l.Name, max: l.MaxValues,
			metric: seriesNames(m.Name, m.Type)[len(seriesNames(m.Name, m.Type))-1], field: l.Name,
			what: fmt.Sprintf("the max_values of %s's label %s", m.Name, l.Name)})
	}
	switch m.Type {
	case Counter:
		fields = append(fields, customIncField+" (default 1)")
	case Gauge:
		fields = append(fields, customValueField+" or "+customIncField)
	case Histogram:
		fields = append(fields, customValueField)
	}
	c.fields = strings.Join(fields, ", ") + " and " + customIDField
	return c
}

// SetCustomMetrics replaces the custom metrics the recorder accepts; an
// invalid declaration changes nothing. A metric no longer declared is
// refused from then on; the series it made stay in the store. A label's
// values seen so far keep counting against its cap.
func (r *Recorder) SetCustomMetrics(ms []CustomMetric) error {
	if errs := CheckCustomMetrics(ms); len(errs) > 0 {
		return errors.Join(errs...)
	}
	custom := make(map[string]*customMetric, len(ms))
	md := make([]storage.Metadata, 0, len(ms))
	for _, m := range ms {
		custom[m.Name] = newCustomMetric(m)
		md = append(md, storage.Metadata{Metric: m.Name, Type: string(m.Type), Help: m.Help})
	}
	r.st.AppendMetadata(md)
	r.mu.Lock()
	r.custom = custom
	r.mu.Unlock()
	return nil
}

// CustomMetrics returns the declared custom metrics, sorted by name, with
// their histograms' buckets filled in.
func (r *Recorder) CustomMetrics() []CustomMetric {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]CustomMetric, 0, len(r.custom))
	for _, c := range r.custom {
		out = append(out, c.def)
	}
	slices.SortFunc(out, func(a, b CustomMetric) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// UnknownMetricError is an event for a metric that is not declared.
type UnknownMetricError struct {
	Metric   string
	Declared []string
}

func (e *UnknownMetricError) Error() string {
	if len(e.Declared) == 0 {
		return fmt.Sprintf("unknown metric %q: no custom metrics are declared; declare them under events: metrics: in Vigil's config", e.Metric)
	}
	return fmt.Sprintf("unknown metric %q: the custom metrics are %s; declare new ones under events: metrics: in Vigil's config", e.Metric, strings.Join(e.Declared, ", "))
}

// Is makes an UnknownMetricError an ErrBadInput.
func (e *UnknownMetricError) Is(target error) bool { return target == ErrBadInput }

// RecordCustom records events of the custom metric named metric from body
// (one JSON object, an array of them or JSON lines), all or none, like
// Record.
func (r *Recorder) RecordCustom(ctx context.Context, metric string, body io.Reader) (recorded, retried int, err error) {
	r.mu.Lock()
	c := r.custom[metric]
	var declared []string
	if c == nil {
		for name := range r.custom {
			declared = append(declared, name)
		}
	}
	r.mu.Unlock()
	if c == nil {
		slices.Sort(declared)
		return 0, 0, &UnknownMetricError{Metric: metric, Declared: declared}
	}
	return r.record(ctx, "custom/"+metric, body, c.parse)
}

// parse decodes one event of c: a JSON object with a string for each
// label, inc or value as the type takes them, and an optional id.
func (c *customMetric) parse(raw json.RawMessage) ([]update, string, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, "", fmt.Errorf("not a JSON object (the events of %s take %s)", c.def.Name, c.fields)
	}
	up := update{metric: c.def.Name, hist: c.hist, caps: c.caps, custom: true}
	for i, l := range c.def.Labels {
		v, ok := fields[l.Name]
		if !ok {
			return nil, "", &EventError{Field: l.Name, Err: errors.New("missing")}
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, "", &EventError{Field: l.Name, Err: fmt.Errorf("must be a string, not %s", jsonKind(v))}
		}
		if c.allowed[i] != nil && !c.allowed[i][s] {
			return nil, "", &EventError{Field: l.Name, Err: fmt.Errorf("%q is not one of the declared values %s", s, strings.Join(l.Values, ", "))}
		}
		up.labels = append(up.labels, storage.Label{Name: l.Name, Value: s})
	}
	var id string
	var inc, value *float64
	for name, v := range fields {
		switch name {
		case customIDField:
			if err := json.Unmarshal(v, &id); err != nil {
				return nil, "", &EventError{Field: name, Err: fmt.Errorf("must be a string, not %s", jsonKind(v))}
			}
		case customIncField, customValueField:
			var x float64
			if err := json.Unmarshal(v, &x); err != nil {
				if k := jsonKind(v); k != "a JSON number" {
					return nil, "", &EventError{Field: name, Err: fmt.Errorf("must be a number, not %s", k)}
				}
				return nil, "", &EventError{Field: name, Err: fmt.Errorf("%s is out of range", bytes.TrimSpace(v))}
			}
			if name == customIncField {
				inc = &x
			} else {
				value = &x
			}
		default:
			if slices.IndexFunc(c.def.Labels, func(l CustomLabel) bool { return l.Name == name }) < 0 {
				return nil, "", &EventError{Field: name, Err: fmt.Errorf("unknown field (the events of %s take %s)", c.def.Name, c.fields)}
			}
		}
	}
	switch c.def.Type {
	case Counter:
		if value != nil {
			return nil, "", &EventError{Field: customValueField, Err: errors.New("a counter takes inc, how much to add (default 1), not value")}
		}
		up.inc = 1
		if inc != nil {
			if *inc < 0 {
				return nil, "", &EventError{Field: customIncField, Err: fmt.Errorf("%v is negative; a counter only goes up", *inc)}
			}
			up.inc = *inc
		}
	case Gauge:
		switch {
		case inc != nil && value != nil:
			return nil, "", &EventError{Field: customIncField, Err: errors.New("give value (to set the gauge) or inc (to add to it), not both")}
		case value != nil:
			up.set = value
		case inc != nil:
			up.inc = *inc
		default:
			return nil, "", &EventError{Field: customValueField, Err: errors.New("missing: a gauge takes value (to set it) or inc (to add to it)")}
		}
	case Histogram:
		if inc != nil {
			return nil, "", &EventError{Field: customIncField, Err: errors.New("a histogram takes value, the observation, not inc")}
		}
		if value == nil {
			return nil, "", &EventError{Field: customValueField, Err: errors.New("missing: the observation")}
		}
		up.observe = value
	}
	return []update{up}, id, nil
}

// jsonKind names the JSON type of v, for errors.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a JSON string"
	case '{':
		return "a JSON object"
	case '[':
		return "a JSON array"
	case 't', 'f':
		return "a JSON boolean"
	case 'n':
		return "null"
	}
	return "a JSON number"
}
