package storage

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/encoding"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/prometheus/prometheus/model/value"
)

// Label is one label of a series. The metric name is the label "__name__".
type Label = prompb.Label

// Sample is one value of a series at a Unix time in milliseconds.
type Sample = prompb.Sample

// MaxLabelLength is the longest label name or value the store accepts.
const MaxLabelLength = math.MaxUint16

// Rows is a batch of samples waiting to be appended. Decoders, the scraper
// and the rule evaluator fill it; Storage.Append stores it. A Rows is not
// safe for concurrent use; reuse it with Reset to avoid allocations.
type Rows struct {
	mrs []vmstorage.MetricRow

	// names holds the encoded series names that mrs point into. A new chunk
	// is started rather than growing one, because growing would move the
	// bytes that earlier rows still reference; full chunks wait in spare
	// until Reset makes them reusable.
	names []byte
	full  [][]byte

	// memo, set by UseMemo until Reset, is the memo of the series added
	// with AddSeries; memoPos is the position of the next one. known is
	// kept alongside mrs while memo is set: known[i] tells that the series
	// of mrs[i] was at the same position in memo's last batch.
	memo    *SeriesMemo
	memoPos int
	known   []bool
}

// Reset empties r, keeping its buffers for reuse.
func (r *Rows) Reset() {
	clear(r.mrs)
	r.mrs = r.mrs[:0]
	r.memo, r.memoPos, r.known = nil, 0, r.known[:0]
	r.names = r.names[:0]
	for i, c := range r.full {
		r.full[i] = c[:0]
	}
}

// Len returns the number of samples in r.
func (r *Rows) Len() int { return len(r.mrs) }

// Truncate drops every sample added after the first n, so that a decoder
// can roll back a request it rejects half-way.
func (r *Rows) Truncate(n int) {
	if n < len(r.mrs) {
		clear(r.mrs[n:])
		r.mrs = r.mrs[:n]
	}
	if n < len(r.known) {
		r.known = r.known[:n]
	}
}

// UseMemo makes the series added with AddSeries until Reset the next
// batch of m: each is compared by position with m's last batch, and one
// found there skips the label checks here and the cardinality limits in
// Storage.Append, which records the batch in m. Add and AddSeries calls
// must come in the same order batch after batch for m to help; any order
// stays correct.
func (r *Rows) UseMemo(m *SeriesMemo) {
	r.memo, r.memoPos = m, 0
	r.known = r.known[:0]
	for range r.mrs {
		r.known = append(r.known, false)
	}
	m.start()
}

// ForEach calls f with every sample in r, in the order added. The labels
// passed to f are valid only during the call; the metric name comes first.
// Plain NaN samples are passed as they were added.
func (r *Rows) ForEach(f func(labels []Label, timestamp int64, value float64)) error {
	return forEachRow(r.mrs, f)
}

// nanLabel marks the shadow series that holds a series' plain NaN samples.
// The underlying store drops every NaN but Prometheus' staleness marker, so
// a plain NaN is written as a staleness marker into the series' shadow,
// {<labels>, __vigil_nan__="1"}, and the querier turns it back into NaN and
// merges it into the series. Names starting with "__" are reserved in
// Prometheus, so no client sends this one.
const nanLabel = "__vigil_nan__"

var staleNaN = math.Float64frombits(value.StaleNaN)

// isPlainNaN reports a NaN that is not Prometheus' staleness marker.
func isPlainNaN(v float64) bool {
	return math.IsNaN(v) && !value.IsStaleNaN(v)
}

// AddSeries adds the samples of one series. Labels with empty values are
// dropped, as in Prometheus. It fails, adding nothing, when a label name or
// value is not valid UTF-8 or too long, or when the series has no name.
func (r *Rows) AddSeries(labels []Label, samples []Sample) error {
	if r.memo != nil {
		return r.addSeriesMemo(labels, samples)
	}
	if len(samples) == 0 {
		return nil
	}
	name, err := r.appendName(labels, false)
	if err != nil {
		return err
	}
	r.addSamples(labels, name, samples, false)
	return nil
}

// addSeriesMemo is AddSeries with a memo: the labels' text is checked
// only when the series is not at its position of the memo's last batch.
func (r *Rows) addSeriesMemo(labels []Label, samples []Sample) error {
	m := r.memo
	pos := r.memoPos
	r.memoPos++
	m.next = append(m.next, 0) // until stored below
	if len(samples) == 0 {
		return nil
	}
	size, err := nameSize(labels, false, false)
	if err != nil {
		return err
	}
	name := r.encodeName(labels, false, size)
	h := m.hash(name)
	known := m.knownAt(pos, h)
	if !known {
		if err := validateLabels(labels); err != nil {
			// Nothing else was added since: the name's bytes are the
			// last of the current chunk.
			r.names = r.names[:len(r.names)-len(name)]
			return err
		}
	}
	m.next[pos] = h
	r.addSamples(labels, name, samples, known)
	return nil
}

// addSamples adds the rows of samples under the encoded name of labels;
// known is the rows' flag for Storage.Append when r has a memo.
func (r *Rows) addSamples(labels []Label, name []byte, samples []Sample, known bool) {
	var nanName []byte
	for _, s := range samples {
		mr := vmstorage.MetricRow{MetricNameRaw: name, Timestamp: s.Timestamp, Value: s.Value}
		if isPlainNaN(s.Value) {
			if nanName == nil {
				nanName, _ = r.appendName(labels, true)
			}
			mr.MetricNameRaw, mr.Value = nanName, staleNaN
		}
		r.mrs = append(r.mrs, mr)
		if r.memo != nil {
			r.known = append(r.known, known)
		}
	}
}

// Add adds one sample of the series with the given labels.
func (r *Rows) Add(labels []Label, timestamp int64, value float64) error {
	nan := isPlainNaN(value)
	name, err := r.appendName(labels, nan)
	if err != nil {
		return err
	}
	if nan {
		value = staleNaN
	}
	r.mrs = append(r.mrs, vmstorage.MetricRow{MetricNameRaw: name, Timestamp: timestamp, Value: value})
	if r.memo != nil {
		r.known = append(r.known, false)
	}
	return nil
}

// appendName encodes labels (plus nanLabel for a NaN shadow) the way
// MetricName.UnmarshalRaw reads them and returns the encoded bytes, which
// stay valid until r is reset.
func (r *Rows) appendName(labels []Label, nanShadow bool) ([]byte, error) {
	size, err := nameSize(labels, nanShadow, true)
	if err != nil {
		return nil, err
	}
	return r.encodeName(labels, nanShadow, size), nil
}

// nameSize checks labels and returns the size of their encoding (plus
// nanLabel's for a NaN shadow). Without checkText the text of a label
// with a value is not checked for UTF-8 (validateLabels does it), only
// what the encoding needs.
func nameSize(labels []Label, nanShadow, checkText bool) (int, error) {
	size := 0
	hasName := false
	for i := range labels {
		l := &labels[i]
		if checkText || l.Value == "" || l.Name == "" || len(l.Name) > MaxLabelLength || len(l.Value) > MaxLabelLength {
			if err := ValidateLabel(l.Name, l.Value); err != nil {
				return 0, err
			}
		}
		if l.Value == "" {
			continue
		}
		switch l.Name {
		case "__name__":
			hasName = true
		case nanLabel:
			return 0, fmt.Errorf("label %s is reserved for Vigil's own use", nanLabel)
		}
		size += 4 + len(l.Name) + len(l.Value)
	}
	if nanShadow {
		size += 4 + len(nanLabel) + 1
	}
	if !hasName {
		return 0, fmt.Errorf("series %s has no metric name (label __name__)", LabelsString(labels))
	}
	return size, nil
}

// validateLabels checks every label with ValidateLabel.
func validateLabels(labels []Label) error {
	for i := range labels {
		if err := ValidateLabel(labels[i].Name, labels[i].Value); err != nil {
			return err
		}
	}
	return nil
}

// encodeName encodes labels (plus nanLabel for a NaN shadow), whose
// encoding nameSize found to take size bytes, the way
// MetricName.UnmarshalRaw reads them, and returns the encoded bytes,
// which stay valid until r is reset.
func (r *Rows) encodeName(labels []Label, nanShadow bool, size int) []byte {
	if cap(r.names)-len(r.names) < size {
		r.nextChunk(size)
	}
	// Appending to a local slice, stored into r once: every store of a
	// slice into r (on the heap) costs a write barrier while the garbage
	// collector runs, a sixth of the encoding's CPU in the profiles.
	b := r.names
	start := len(b)
	for i := range labels {
		l := &labels[i]
		if l.Value == "" {
			continue
		}
		name := l.Name
		if name == "__name__" {
			name = ""
		}
		b = encoding.MarshalUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = encoding.MarshalUint16(b, uint16(len(l.Value)))
		b = append(b, l.Value...)
	}
	if nanShadow {
		b = encoding.MarshalUint16(b, uint16(len(nanLabel)))
		b = append(b, nanLabel...)
		b = encoding.MarshalUint16(b, 1)
		b = append(b, '1')
	}
	r.names = b
	return b[start:len(b):len(b)]
}

// nextChunk retires the current name chunk and takes an empty one that
// holds at least size bytes.
func (r *Rows) nextChunk(size int) {
	if cap(r.names) > 0 {
		r.full = append(r.full, r.names)
	}
	for i, c := range r.full {
		if len(c) == 0 && cap(c) >= size {
			r.names = c
			r.full = append(r.full[:i], r.full[i+1:]...)
			return
		}
	}
	r.names = make([]byte, 0, max(size, 64*1024))
}

// ErrNotUTF8 is wrapped by the errors about a label name or value that is
// not valid UTF-8.
var ErrNotUTF8 = errors.New("not valid UTF-8")

// ValidateLabel reports why a label cannot be stored, or nil. Label names
// follow Prometheus' UTF-8 rules: any valid UTF-8 that is not empty.
func ValidateLabel(name, value string) error {
	// Nearly every label is short and ASCII: checked byte by byte, such a
	// label passes several times faster than through utf8.ValidString
	// (every scraped and pushed sample's labels come through here).
	if name != "" && len(name) <= MaxLabelLength && len(value) <= MaxLabelLength && isASCII(name) && isASCII(value) {
		return nil
	}
	switch {
	case name == "":
		return fmt.Errorf("empty label name (value %q)", value)
	case len(name) > MaxLabelLength:
		return fmt.Errorf("label name %.64q... is %d bytes long; the limit is %d", name, len(name), MaxLabelLength)
	case len(value) > MaxLabelLength:
		return fmt.Errorf("value of label %q is %d bytes long; the limit is %d", name, len(value), MaxLabelLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("label name %q is %w", name, ErrNotUTF8)
	case !utf8.ValidString(value):
		return fmt.Errorf("value %q of label %q is %w", value, name, ErrNotUTF8)
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// LabelsString formats labels as Prometheus does: name{a="b", c="d"}.
func LabelsString(labels []Label) string {
	return prompb.LabelsToString(labels)
}
