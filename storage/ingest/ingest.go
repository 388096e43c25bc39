// Package ingest decodes the push protocols — Prometheus remote write 1.0,
// the Prometheus text exposition format and Pushgateway-style groups — into
// storage.Rows.
//
// Every decoder validates its whole input before it appends anything: on
// error the rows passed in are left as they were, so an HTTP handler can
// answer 400 and the client can fix and resend the whole request without
// duplicating half of it.
package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vigil-monitoring/vigil/storage"
)

// ErrBadInput matches, through errors.Is, every error that a decoder in
// this package returns because of what the client sent. An HTTP handler
// answers those with 400 Bad Request; anything else is the server's fault.
var ErrBadInput = errors.New("bad input")

// InputError is the error type of the decoders: the client sent something
// that cannot be stored. Line is the 1-based line of text input where the
// problem is, or 0 when the input has no lines (remote write, a push path).
type InputError struct {
	Line int
	Err  error
}

// Error returns the reason, prefixed with "line N: " when Line is set.
func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Err)
	}
	return e.Err.Error()
}

// Unwrap returns the underlying reason.
func (e *InputError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBadInput, so that handlers need not know
// the concrete type.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

func inputErrorf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

func lineErrorf(line int, format string, args ...any) error {
	return &InputError{Line: line, Err: fmt.Errorf(format, args...)}
}

// Result tells what a decoder appended, for the caller's self-metrics and
// for /api/v1/metadata.
type Result struct {
	// Series is the number of series entries in the input. In the text
	// format every sample line is one entry.
	Series int
	// Samples is the number of samples appended.
	Samples int
	// Metadata holds the HELP, TYPE and UNIT information the input
	// carried, one entry per metric family, in input order. Its strings
	// are owned by the caller.
	Metadata []Metadata
}

// Metadata describes one metric family, as Prometheus' /api/v1/metadata
// serves it.
type Metadata struct {
	// Metric is the metric family name, e.g. http_request_duration_seconds
	// for a histogram whose series are ..._bucket, ..._sum and ..._count.
	Metric string `json:"metric"`
	// Type is one of Prometheus' metadata types: counter, gauge, histogram,
	// gaugehistogram, summary, info, stateset or unknown. The text format's
	// "untyped" is reported as "unknown", as Prometheus does.
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// appendAll runs parse, which appends to rows, and takes back what it
// appended if it fails: the decoders' promise that rows are left as they
// were on error.
func appendAll(rows *storage.Rows, parse func() (Result, error)) (Result, error) {
	start := rows.Len()
	res, err := parse()
	if err != nil {
		rows.Truncate(start)
		return Result{}, err
	}
	return res, nil
}

// cutLine splits data after its first line, which it returns without the
// newline.
func cutLine(data []byte) (line, rest []byte) {
	if n := bytes.IndexByte(data, '\n'); n >= 0 {
		return data[:n], data[n+1:]
	}
	return data, nil
}

// metricNameLabel is the label that holds the metric name.
const metricNameLabel = "__name__"

// validateSeries reports why rows.AddSeries would reject labels, or nil.
// It repeats storage's checks so that a decoder can check a whole request
// before it appends any of it, and adds one of Prometheus' own: a label
// name may appear only once.
func validateSeries(labels []storage.Label) error {
	return validateSeriesASCII(labels, false)
}

// validateSeriesASCII is validateSeries for a caller that may know that
// every label is ASCII, which spares the UTF-8 checks.
func validateSeriesASCII(labels []storage.Label, ascii bool) error {
	hasName := false
	for i := range labels {
		l := &labels[i]
		if ascii && l.Name != "" && len(l.Name) <= storage.MaxLabelLength && len(l.Value) <= storage.MaxLabelLength {
			// Valid: what storage.ValidateLabel checks besides UTF-8.
		} else if err := storage.ValidateLabel(l.Name, l.Value); err != nil {
			return err
		}
		if l.Name == metricNameLabel && l.Value != "" {
			hasName = true
		}
	}
	if !hasName {
		return errors.New("no metric name (label __name__)")
	}
	if name, ok := duplicateLabelName(labels); ok {
		return fmt.Errorf("label %q appears more than once", name)
	}
	return nil
}

// duplicateLabelName returns a label name that occurs twice in labels.
func duplicateLabelName(labels []storage.Label) (string, bool) {
	// Series have few labels: quadratic comparison beats a map up to a few
	// dozen, and the map bounds the cost of hostile input.
	if len(labels) <= 32 {
		for i := 1; i < len(labels); i++ {
			for j := 0; j < i; j++ {
				if labels[i].Name == labels[j].Name {
					return labels[i].Name, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(labels))
	for i := range labels {
		if _, ok := seen[labels[i].Name]; ok {
			return labels[i].Name, true
		}
		seen[labels[i].Name] = struct{}{}
	}
	return "", false
}

// seriesString formats labels for an error message as the user wrote
// them — name{a="b", c="d"}, in input order, names quoted where Prometheus
// would quote them — cut short so that one hostile label cannot make the
// message megabytes long.
func seriesString(labels []storage.Label) string {
	const limit = 256
	b := make([]byte, 0, 64)
	name := ""
	for _, l := range labels {
		if l.Name == metricNameLabel {
			name = l.Value
			break
		}
	}
	nameInside := name != "" && !isLegacyName(name, true)
	if !nameInside {
		b = append(b, name...)
	}
	b = append(b, '{')
	first := true
	if nameInside {
		b = strconv.AppendQuote(b, name)
		first = false
	}
	for _, l := range labels {
		if l.Name == metricNameLabel && l.Value == name {
			continue
		}
		if len(b) > limit {
			break
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		if isLegacyName(l.Name, false) {
			b = append(b, l.Name...)
		} else {
			b = strconv.AppendQuote(b, l.Name)
		}
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	b = append(b, '}')
	if len(b) > limit {
		// Cut on a rune boundary so that the message stays valid UTF-8.
		return strings.ToValidUTF8(string(b[:limit]), "") + "...}"
	}
	return string(b)
}

// isLegacyName reports whether s needs no quotes as a label name or, with
// colon, as a metric name.
func isLegacyName(s string, colon bool) bool {
	return s != "" && scanName(s, 0, colon) == len(s)
}
