package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/almost"
)

// This file restates promqltest's checks (evalCmd.compareResult,
// checkAnnotations and checkExpectedFailure in promql/promqltest/test.go)
// over queryResult, so that an answer that came through JSON is judged
// exactly as the reference run judges the engine's values.

// defaultEpsilon is promqltest's relative tolerance for sample values.
const defaultEpsilon = 0.000001

// unshift moves the result's timestamps back by the harness' time shift
// and its annotation positions back to the original query text.
func (r *queryResult) unshift(q shiftedExpr) {
	r.scalar.T -= shiftMillis
	for i := range r.series {
		s := &r.series[i]
		for j := range s.floats {
			s.floats[j].T -= shiftMillis
		}
		for j := range s.hists {
			s.hists[j] -= shiftMillis
		}
	}
	for i, w := range r.warnings {
		r.warnings[i] = q.unshiftMessage(w)
	}
	for i, w := range r.infos {
		r.infos[i] = q.unshiftMessage(w)
	}
}

func (ev *evalCmd) checkExpectedFailure(actual error) error {
	if ev.expectedFailMessage != "" && ev.expectedFailMessage != actual.Error() {
		return fmt.Errorf("expected error %q, but got: %s", ev.expectedFailMessage, actual.Error())
	}
	if ev.expectedFailRegexp != nil && !ev.expectedFailRegexp.MatchString(actual.Error()) {
		return fmt.Errorf("expected error matching pattern %q, but got: %s", ev.expectedFailRegexp.String(), actual.Error())
	}
	if exp := ev.expects[expectFail]; len(exp) > 0 && !exp[0].match(actual.Error()) {
		return fmt.Errorf("expected error matching %q, but got: %s", exp[0].String(), actual.Error())
	}
	return nil
}

func checkAnnotationsOfType(expected []expectation, actual []string, kind string) error {
	if len(expected) == 0 {
		return nil
	}
	if len(actual) == 0 {
		return fmt.Errorf("expected %s annotations but none were found", kind)
	}
	for _, e := range expected {
		if !slices.ContainsFunc(actual, e.match) {
			return fmt.Errorf("expected %s annotation matching %q but no matching annotation was found, found: %q", kind, e.String(), actual)
		}
	}
	for _, a := range actual {
		if !slices.ContainsFunc(expected, func(e expectation) bool { return e.match(a) }) {
			return fmt.Errorf("unexpected %s annotation %q", kind, a)
		}
	}
	return nil
}

func (ev *evalCmd) checkAnnotations(r *queryResult) error {
	switch {
	case ev.warn && len(r.warnings) == 0:
		return errors.New("expected warnings but got none")
	case ev.info && len(r.infos) == 0:
		return errors.New("expected info annotations but got none")
	}
	if err := checkAnnotationsOfType(ev.expects[expectWarn], r.warnings, "warn"); err != nil {
		return err
	}
	if err := checkAnnotationsOfType(ev.expects[expectInfo], r.infos, "info"); err != nil {
		return err
	}
	if ev.expects[expectNoWarn] != nil && len(r.warnings) > 0 {
		return fmt.Errorf("unexpected warning annotations: %q", r.warnings)
	}
	if ev.expects[expectNoInfo] != nil && len(r.infos) > 0 {
		return fmt.Errorf("unexpected info annotations: %q", r.infos)
	}
	return nil
}

func formatSeries(s resultSeries) string {
	return fmt.Sprintf("%d float points %v and %d histogram points", len(s.floats), s.floats, len(s.hists))
}

func (ev *evalCmd) compareResult(r *queryResult) error {
	switch r.kind {
	case parser.ValueTypeMatrix:
		if ev.isOrdered() {
			return errors.New("expected ordered result, but query returned a matrix")
		}
		if ev.expectScalar {
			return fmt.Errorf("expected scalar result, but got matrix %s", r.format())
		}
		if err := assertSorted(r.series); err != nil {
			return err
		}
		seen := map[uint64]bool{}
		for _, s := range r.series {
			h := s.metric.Hash()
			if _, ok := ev.metrics[h]; !ok {
				return fmt.Errorf("unexpected metric %s in result, has %s", s.metric, formatSeries(s))
			}
			seen[h] = true
			exp := ev.expected[h]
			var floats []promql.FPoint
			hists := 0
			for i, e := range exp.vals {
				ts := ev.start.Add(time.Duration(i) * ev.step)
				if ts.After(ev.end) {
					return fmt.Errorf("expected %d points for %s, but query time range cannot return this many points", len(exp.vals), ev.metrics[h])
				}
				switch {
				case e.Histogram != nil:
					hists++
				case !e.Omitted:
					floats = append(floats, promql.FPoint{T: ts.UnixMilli(), F: e.Value})
				}
			}
			if len(floats) != len(s.floats) || hists != len(s.hists) {
				return fmt.Errorf("expected %d float points and %d histogram points for %s, but got %s", len(floats), hists, ev.metrics[h], formatSeries(s))
			}
			for i, want := range floats {
				got := s.floats[i]
				if want.T != got.T {
					return fmt.Errorf("expected float value at index %d for %s to have timestamp %d, but it had timestamp %d (result has %s)", i, ev.metrics[h], want.T, got.T, formatSeries(s))
				}
				if !almost.Equal(got.F, want.F, defaultEpsilon) {
					return fmt.Errorf("expected float value at index %d (t=%d) for %s to be %v, but got %v (result has %s)", i, got.T, ev.metrics[h], want.F, got.F, formatSeries(s))
				}
			}
		}
		for h := range ev.expected {
			if !seen[h] {
				return fmt.Errorf("expected metric %s not found", ev.metrics[h])
			}
		}

	case parser.ValueTypeVector:
		if ev.expectScalar {
			return fmt.Errorf("expected scalar result, but got vector %s", r.format())
		}
		seen := map[uint64]bool{}
		for pos, s := range r.series {
			h := s.metric.Hash()
			if _, ok := ev.metrics[h]; !ok {
				return fmt.Errorf("unexpected metric %s in result, has %s", s.metric, formatSeries(s))
			}
			exp := ev.expected[h]
			if ev.isOrdered() && exp.pos != pos+1 {
				return fmt.Errorf("expected metric %s with %s at position %d but was at %d", s.metric, formatVals(exp.vals), exp.pos, pos+1)
			}
			e := exp.vals[0]
			if e.Histogram != nil || len(s.hists) > 0 {
				return fmt.Errorf("native histogram in expected or actual value of %s: %s", s.metric, formatSeries(s))
			}
			if len(s.floats) != 1 {
				return fmt.Errorf("vector element %s has %s, want exactly one point", s.metric, formatSeries(s))
			}
			if !almost.Equal(e.Value, s.floats[0].F, defaultEpsilon) {
				return fmt.Errorf("expected %v for %s but got %v", e.Value, s.metric, s.floats[0].F)
			}
			seen[h] = true
		}
		for h, e := range ev.expected {
			if !seen[h] {
				return fmt.Errorf("expected metric %s with %s not found", ev.metrics[h], formatVals(e.vals))
			}
		}

	case parser.ValueTypeScalar:
		if !ev.expectScalar {
			return fmt.Errorf("expected vector or matrix result, but got scalar %v", r.scalar.F)
		}
		e := ev.expected[0].vals[0]
		if !almost.Equal(e.Value, r.scalar.F, defaultEpsilon) {
			return fmt.Errorf("expected scalar %v but got %v", e.Value, r.scalar.F)
		}

	case parser.ValueTypeString:
		if ev.expectedString != r.str {
			return fmt.Errorf("expected string %q but got %q", ev.expectedString, r.str)
		}
	default:
		return fmt.Errorf("unexpected result type %q", r.kind)
	}
	return nil
}

func assertSorted(ss []resultSeries) error {
	for i := 1; i < len(ss); i++ {
		if labels.Compare(ss[i-1].metric, ss[i].metric) > 0 {
			return fmt.Errorf("matrix results should always be sorted by labels, but series %s comes before %s", ss[i-1].metric, ss[i].metric)
		}
	}
	return nil
}

// format prints a result compactly for the report.
func (r *queryResult) format() string {
	switch r.kind {
	case parser.ValueTypeScalar:
		return fmt.Sprintf("scalar %v", r.scalar.F)
	case parser.ValueTypeString:
		return fmt.Sprintf("string %q", r.str)
	}
	var b strings.Builder
	b.WriteString(string(r.kind))
	b.WriteString(" {")
	for i, s := range r.series {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 8 {
			fmt.Fprintf(&b, "... %d more", len(r.series)-i)
			break
		}
		b.WriteString(s.metric.String())
		b.WriteString(" ")
		var pts []string
		for _, p := range s.floats {
			if r.kind == parser.ValueTypeVector {
				pts = append(pts, fmt.Sprint(p.F))
			} else {
				pts = append(pts, fmt.Sprintf("%v@%gs", p.F, float64(p.T)/1000))
			}
		}
		if len(pts) > 12 {
			pts = append(pts[:12], "...")
		}
		b.WriteString(strings.Join(pts, " "))
		if len(s.hists) > 0 {
			fmt.Fprintf(&b, " +%d histograms", len(s.hists))
		}
	}
	b.WriteString("}")
	return b.String()
}

// formatExpected prints what the case expects, compactly, for the report.
func (ev *evalCmd) formatExpected() string {
	if ev.isFail() {
		return "an error"
	}
	if ev.expectString {
		return fmt.Sprintf("string %q", ev.expectedString)
	}
	if ev.expectScalar {
		return fmt.Sprintf("scalar %v", ev.expected[0].vals[0].Value)
	}
	var parts []string
	for h, e := range ev.expected {
		parts = append(parts, ev.metrics[h].String()+" "+formatVals(e.vals))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "empty result"
	}
	if len(parts) > 8 {
		parts = append(parts[:8], fmt.Sprintf("... %d more", len(parts)-8))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// formatVals prints expected values in the script's notation.
func formatVals(vs []parser.SequenceValue) string {
	var out []string
	for _, v := range vs {
		switch {
		case v.Omitted:
			out = append(out, "_")
		case v.Histogram != nil:
			out = append(out, "{{histogram}}")
		default:
			out = append(out, fmt.Sprint(v.Value))
		}
	}
	if len(out) > 12 {
		out = append(out[:12], "...")
	}
	return strings.Join(out, " ")
}
