package conformance

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// The scripts place their samples at and after Unix time 0, but
// VictoriaMetrics' lib/storage drops every sample before 1970-01-02
// (minUnixMilli in lib/storage/time.go: the first day of the epoch marks its
// global index). The harness therefore moves each script one day later:
// samples are stored at t+shift, queries are asked at t+shift, and result
// timestamps are moved back before they are compared. PromQL is invariant
// under such a translation except where an expression reads the absolute
// time; those places are rewritten so that the query still computes the
// unshifted value:
//
//	@ 100            → @ 86500
//	time()           → (time() - 86400)
//	timestamp(x)     → (timestamp(x) - 86400)
//	hour()           → hour(vector(time() - 86400)), likewise for the other
//	                   date functions called without an argument
//
// @ start() and @ end() follow the query range and need nothing. The
// experimental functions that return absolute times (start(), end(),
// ts_of_*_over_time(), start_timestamp()) are skipped as experimental.
// Annotation positions are mapped back to the unshifted query text.
const shiftSeconds = 86400

var (
	shiftMillis = int64(shiftSeconds * 1000)
	shiftDur    = time.Duration(shiftSeconds) * time.Second
)

var dateFuncs = map[string]bool{
	"minute": true, "hour": true, "day_of_week": true, "day_of_month": true,
	"day_of_year": true, "days_in_month": true, "month": true, "year": true,
}

// shiftedExpr is a query rewritten for the shifted store, with the edits
// that map its positions back to the original text.
type shiftedExpr struct {
	orig, text string
	edits      []edit // ascending by pos
}

// edit replaces orig[pos:pos+oldLen] with text.
type edit struct {
	pos, oldLen int
	text        string
	order       int // among edits at one pos: closing before opening
}

func (s shiftedExpr) rewritten() bool { return len(s.edits) > 0 }

// origOffset maps a byte offset in s.text back to s.orig. An offset inside
// inserted text maps to the place of the insertion.
func (s shiftedExpr) origOffset(p int) int {
	delta := 0
	for _, e := range s.edits {
		if p < e.pos+delta {
			break
		}
		if p < e.pos+delta+len(e.text) {
			return e.pos
		}
		delta += len(e.text) - e.oldLen
	}
	return p - delta
}

var patAnnoPos = regexp.MustCompile(`\((\d+):(\d+)\)$`)

// unshiftMessage rewrites the "(line:col)" suffix of an annotation from a
// position in s.text to one in s.orig.
func (s shiftedExpr) unshiftMessage(msg string) string {
	if !s.rewritten() {
		return msg
	}
	m := patAnnoPos.FindStringSubmatchIndex(msg)
	if m == nil || msg[m[2]:m[3]] != "1" {
		return msg
	}
	col, _ := strconv.Atoi(msg[m[4]:m[5]])
	return msg[:m[4]] + strconv.Itoa(s.origOffset(col-1)+1) + msg[m[5]:]
}

func shiftExpr(expr string) (shiftedExpr, error) {
	s := shiftedExpr{orig: expr, text: expr}
	ast, err := permissiveParser.ParseExpr(expr)
	if err != nil {
		return s, err
	}
	var edits []edit
	minus := fmt.Sprintf(" - %d)", shiftSeconds)
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		c, ok := n.(*parser.Call)
		if !ok {
			return nil
		}
		pr := c.PositionRange()
		switch {
		case c.Func.Name == "time" || c.Func.Name == "timestamp":
			edits = append(edits, edit{pos: int(pr.Start), text: "(", order: 1}, edit{pos: int(pr.End), text: minus})
		case dateFuncs[c.Func.Name] && len(c.Args) == 0:
			end := int(pr.End) - 1
			if end < 0 || expr[end] != ')' {
				err = fmt.Errorf("cannot find the closing parenthesis of %s() in %q", c.Func.Name, expr)
				return err
			}
			edits = append(edits, edit{pos: end, text: fmt.Sprintf("vector(time() - %d)", shiftSeconds)})
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	at, err := atLiteralEdits(expr)
	if err != nil {
		return s, err
	}
	edits = append(edits, at...)
	sort.SliceStable(edits, func(i, j int) bool {
		if edits[i].pos != edits[j].pos {
			return edits[i].pos < edits[j].pos
		}
		return edits[i].order < edits[j].order
	})
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(expr[last:e.pos])
		b.WriteString(e.text)
		last = e.pos + e.oldLen
	}
	b.WriteString(expr[last:])
	s.text, s.edits = b.String(), edits
	if err := checkShift(ast, s.text); err != nil {
		return s, fmt.Errorf("shifting %q to %q: %w", expr, s.text, err)
	}
	return s, nil
}

// atLiteralEdits finds the numbers and durations after @ outside string
// literals and moves them by the shift.
func atLiteralEdits(expr string) ([]edit, error) {
	var edits []edit
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				i++
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'', '`':
			quote = c
			continue
		case '@':
		default:
			continue
		}
		j := i + 1
		for j < len(expr) && (expr[j] == ' ' || expr[j] == '\t') {
			j++
		}
		k := j
		if k < len(expr) && (expr[k] == '-' || expr[k] == '+') {
			k++
		}
		for k < len(expr) {
			ch := expr[k]
			if ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch == '.' || ch == '_' {
				k++
				continue
			}
			// An exponent's sign: 1e+3.
			if (ch == '+' || ch == '-') && (expr[k-1] == 'e' || expr[k-1] == 'E') && k-1 > j && expr[j] >= '0' && expr[j] <= '9' {
				k++
				continue
			}
			break
		}
		tok := expr[j:k]
		if tok == "start" || tok == "end" {
			continue
		}
		secs, err := parseAtLiteral(tok)
		if err != nil {
			return nil, fmt.Errorf("cannot shift @ %q in %q: %w", tok, expr, err)
		}
		edits = append(edits, edit{pos: j, oldLen: len(tok), text: strconv.FormatFloat(secs+shiftSeconds, 'f', -1, 64)})
		i = k - 1
	}
	return edits, nil
}

func parseAtLiteral(tok string) (float64, error) {
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return f, nil
	}
	sign := 1.0
	t := tok
	switch {
	case strings.HasPrefix(t, "-"):
		sign, t = -1, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	d, err := model.ParseDuration(t)
	if err != nil {
		return 0, err
	}
	return sign * time.Duration(d).Seconds(), nil
}

// checkShift parses the rewritten text and checks that every @ timestamp
// moved by exactly the shift, and nothing else about them changed.
func checkShift(orig parser.Expr, text string) error {
	shifted, err := permissiveParser.ParseExpr(text)
	if err != nil {
		return err
	}
	a, b := atTimestamps(orig), atTimestamps(shifted)
	if len(a) != len(b) {
		return fmt.Errorf("%d @ modifiers became %d", len(a), len(b))
	}
	for i := range a {
		if a[i]+shiftMillis != b[i] {
			return fmt.Errorf("@ modifier %d is at %d ms, want %d ms", i, b[i], a[i]+shiftMillis)
		}
	}
	return nil
}

func atTimestamps(e parser.Expr) []int64 {
	var ts []int64
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if n.Timestamp != nil {
				ts = append(ts, *n.Timestamp)
			}
		case *parser.SubqueryExpr:
			if n.Timestamp != nil {
				ts = append(ts, *n.Timestamp)
			}
		}
		return nil
	})
	return ts
}

func TestShiftExpr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`metric`, `metric`},
		{`metric @ 100`, `metric @ 86500`},
		{`metric @ -50s offset 1m`, `metric @ 86350 offset 1m`},
		{`metric offset -50 @ 0`, `metric offset -50 @ 86400`},
		{`metric_ms @ 1.234`, `metric_ms @ 86401.234`},
		{`metric @ 1m40s`, `metric @ 86500`},
		{`metric{a="x@1"} @ start()`, `metric{a="x@1"} @ start()`},
		{`sum_over_time(metric[2m1s:30s] @ 2m)`, `sum_over_time(metric[2m1s:30s] @ 86520)`},
		{`time()`, `(time() - 86400)`},
		{`timestamp(timestamp(m @ 10))`, `(timestamp((timestamp(m @ 86410) - 86400)) - 86400)`},
		{`hour()`, `hour(vector(time() - 86400))`},
		{`hour(m)`, `hour(m)`},
		{`vector(time())+time()`, `vector((time() - 86400))+(time() - 86400)`},
	} {
		s, err := shiftExpr(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if s.text != tc.want {
			t.Errorf("shiftExpr(%q) = %q, want %q", tc.in, s.text, tc.want)
		}
	}
	s, err := shiftExpr(`vector(time()) + timestamp(foo)`)
	if err != nil {
		t.Fatal(err)
	}
	// The text is "vector((time() - 86400)) + (timestamp(foo) - 86400)":
	// offsets inside inserted text map to the place of the insertion.
	for _, c := range []struct{ shifted, orig int }{{0, 0}, {7, 7}, {8, 7}, {10, 9}, {14, 13}, {23, 13}, {27, 17}, {28, 17}, {38, 27}} {
		if got := s.origOffset(c.shifted); got != c.orig {
			t.Errorf("origOffset(%d) in %q = %d, want %d", c.shifted, s.text, got, c.orig)
		}
	}
	if got := s.unshiftMessage("PromQL warning: x (1:39)"); got != "PromQL warning: x (1:28)" {
		t.Errorf("unshiftMessage: %q", got)
	}
}
