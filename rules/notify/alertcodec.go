package notify

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// This file is the encoding of the alerts and group timers the
// dispatcher keeps in bbolt. It is binary rather than JSON: the
// dispatcher saves every changed alert about every tickEvery, and
// encoding/json's reflection and sorted maps cost more CPU than the
// rest of a save. The first byte tells the encodings apart: '{' is the
// JSON of files written before, which are still read.

// stateCodecV1 starts a value in the binary encoding.
const stateCodecV1 = 1

// appendAlert appends a's binary encoding to b: the version, the
// labels and annotations (a count, then length-prefixed names and
// values), the three times (time.Time's own binary form, which keeps the
// zone offset, length-prefixed), the generator URL and the timeout flag.
func appendAlert(b []byte, a *Alert) []byte {
	b = append(b, stateCodecV1)
	b = appendLabelSet(b, a.Labels)
	b = appendLabelSet(b, a.Annotations)
	for _, t := range []time.Time{a.StartsAt, a.EndsAt, a.UpdatedAt} {
		b = appendTime(b, t)
	}
	b = appendString(b, a.GeneratorURL)
	if a.Timeout {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendLabelSet(b []byte, ls model.LabelSet) []byte {
	b = binary.AppendUvarint(b, uint64(len(ls)))
	for k, v := range ls {
		b = appendString(b, string(k))
		b = appendString(b, string(v))
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	n := len(b)
	b = append(b, 0) // the length, set below
	b, err := t.AppendBinary(b)
	if err != nil {
		// Only a zone offset in fractions of a minute before Go's
		// version-2 encoding fails; keep the instant in UTC.
		b, _ = t.UTC().AppendBinary(b[:n+1])
	}
	b[n] = byte(len(b) - n - 1)
	return b
}

// stateReader reads a binary value, remembering the first error.
type stateReader struct {
	b   []byte
	err error
}

var errStateTruncated = errors.New("truncated value")

func (r *stateReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errStateTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errStateTruncated
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) labelSet() model.LabelSet {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) { // each pair takes 2 bytes at least
		r.err = errStateTruncated
	}
	if r.err != nil {
		return nil
	}
	ls := make(model.LabelSet, n)
	for range n {
		k, v := r.bytes(), r.bytes()
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

func (r *stateReader) time() time.Time {
	var t time.Time
	if b := r.bytes(); r.err == nil {
		r.err = t.UnmarshalBinary(b)
	}
	return t
}

// decodeAlert reads a value of the alerts bucket, binary or JSON.
func decodeAlert(v []byte) (*Alert, error) {
	a := &Alert{}
	switch {
	case len(v) > 0 && v[0] == '{':
		if err := json.Unmarshal(v, a); err != nil {
			return nil, err
		}
		return a, nil
	case len(v) == 0 || v[0] != stateCodecV1:
		return nil, fmt.Errorf("unknown encoding (first byte %#x)", firstByte(v))
	}
	r := &stateReader{b: v[1:]}
	a.Labels, a.Annotations = r.labelSet(), r.labelSet()
	a.StartsAt, a.EndsAt, a.UpdatedAt = r.time(), r.time(), r.time()
	a.GeneratorURL = string(r.bytes())
	if r.err == nil && len(r.b) != 1 {
		r.err = fmt.Errorf("%d bytes after the generator URL, want 1", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	a.Timeout = r.b[0] == 1
	if len(a.Annotations) == 0 {
		a.Annotations = nil // as the JSON of an alert without them decodes
	}
	return a, nil
}

func firstByte(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// appendGroupRecord appends the binary encoding of a group's next flush.
func appendGroupRecord(b []byte, next time.Time) []byte {
	return appendTime(append(b, stateCodecV1), next)
}

// decodeGroupRecord reads a value of the groups bucket, binary or JSON.
func decodeGroupRecord(v []byte) (time.Time, error) {
	switch {
	case len(v) > 0 && v[0] == '{':
		var g groupRecord
		err := json.Unmarshal(v, &g)
		return g.Next, err
	case len(v) == 0 || v[0] != stateCodecV1:
		return time.Time{}, fmt.Errorf("unknown encoding (first byte %#x)", firstByte(v))
	}
	r := &stateReader{b: v[1:]}
	next := r.time()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the time", len(r.b))
	}
	return next, r.err
}
