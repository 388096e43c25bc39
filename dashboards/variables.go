package dashboards

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/promql/parser"
)

// refRE is Grafana's variable syntax: $name, ${name}, ${name:format},
// ${name.field} and the deprecated [[name]] and [[name:format]].
var refRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// Reference is one variable reference in a query: its byte span, the
// variable's name and the format asked for (${zone:regex} has "regex").
type Reference struct {
	Start, End int
	Name       string
	Format     string
}

// References lists the variable references in s, in order.
func References(s string) []Reference {
	var refs []Reference
	for _, m := range refRE.FindAllStringSubmatchIndex(s, -1) {
		r := Reference{Start: m[0], End: m[1]}
		group := func(i int) string {
			if m[2*i] < 0 {
				return ""
			}
			return s[m[2*i]:m[2*i+1]]
		}
		switch {
		case group(1) != "":
			r.Name = group(1)
		case group(2) != "":
			r.Name, r.Format = group(2), group(3)
		default:
			r.Name, r.Format = group(4), group(6)
		}
		refs = append(refs, r)
	}
	return refs
}

// Interpolate replaces each variable reference of s by what value returns
// for it; a reference value declines (false) stays as written, as Grafana
// leaves an unknown variable.
func Interpolate(s string, value func(r Reference) (string, bool)) string {
	refs := References(s)
	if len(refs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, r := range refs {
		b.WriteString(s[last:r.Start])
		if v, ok := value(r); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[r.Start:r.End])
		}
		last = r.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// refContext is where a reference stands in a PromQL expression, which
// decides the placeholder that keeps the expression parseable.
type refContext int

const (
	ctxBare     refContext = iota // anywhere else: a number, a name?
	ctxString                     // inside a quoted string
	ctxDuration                   // inside [...] or after offset
	ctxNumber                     // a macro that is a number ($__range_s), or after @
)

// numberMacros are Grafana's global variables that expand to numbers.
var numberMacros = map[string]bool{
	"__range_s": true, "__range_ms": true, "__interval_ms": true, "__rate_interval_ms": true,
	"__from": true, "__to": true,
}

// contexts classifies each reference of expr.
func contexts(expr string, refs []Reference) []refContext {
	out := make([]refContext, len(refs))
	quote, depth := byte(0), 0
	next := 0 // the next reference
	for i := 0; i < len(expr) && next < len(refs); i++ {
		if i == refs[next].Start {
			r := refs[next]
			switch {
			case numberMacros[r.Name]:
				out[next] = ctxNumber
			case quote != 0:
				out[next] = ctxString
			case depth > 0:
				out[next] = ctxDuration
			default:
				before := strings.TrimRight(expr[:r.Start], " \t\r\n")
				switch {
				case strings.HasSuffix(before, "@"):
					out[next] = ctxNumber
				case strings.HasSuffix(strings.ToLower(before), "offset"):
					out[next] = ctxDuration
				}
			}
			i = r.End - 1
			next++
			continue
		}
		ch := expr[i]
		switch {
		case quote != 0:
			if ch == '\\' && quote != '`' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'' || ch == '`':
			quote = ch
		case ch == '[':
			depth++
		case ch == ']':
			depth--
		case ch == '#':
			// A comment runs to the end of the line.
			if nl := strings.IndexByte(expr[i:], '\n'); nl >= 0 {
				i += nl
			} else {
				i = len(expr)
			}
		}
	}
	return out
}

// substitution records where a placeholder replaced a reference, to map
// parser positions back onto the expression as written.
type substitution struct {
	origStart, origEnd int
	newStart, newEnd   int
}

// placeholders returns expr with every reference replaced by a value that
// parses in its context, bare references by bare.
func placeholders(expr string, refs []Reference, ctx []refContext, bare string) (string, []substitution) {
	var b strings.Builder
	subs := make([]substitution, 0, len(refs))
	last := 0
	for i, r := range refs {
		b.WriteString(expr[last:r.Start])
		v := bare
		switch ctx[i] {
		case ctxString:
			v = "x"
		case ctxDuration:
			v = "5m"
		case ctxNumber:
			v = "1"
		}
		start := b.Len()
		b.WriteString(v)
		subs = append(subs, substitution{r.Start, r.End, start, b.Len()})
		last = r.End
	}
	b.WriteString(expr[last:])
	return b.String(), subs
}

// origOffset maps a byte offset of the substituted expression back to the
// expression as written.
func origOffset(pos int, subs []substitution) int {
	shift := 0
	for _, s := range subs {
		if pos < s.newStart {
			break
		}
		if pos < s.newEnd {
			return s.origStart
		}
		shift = s.origEnd - s.newEnd
	}
	return pos + shift
}

// promQL checks a panel's or variable's PromQL (a series selector when
// selector is set). Grafana variables and macros are first replaced by
// placeholders that fit where they stand ("5m" in a range, "x" in a
// string, 1 or a metric name elsewhere). An expression that parses with
// neither kind of bare placeholder is reported only when both fail alike:
// an error that moves with the placeholder depends on what the variable
// holds, which Vigil cannot know, and is not refused.
func (c *checker) promQL(path, expr string, selector bool) {
	parse := func(s string) error {
		if selector {
			_, err := c.parser.ParseMetricSelector(s)
			return err
		}
		_, err := c.parser.ParseExpr(s)
		return err
	}
	refs := References(expr)
	if len(refs) == 0 {
		if err := parse(expr); err != nil {
			c.add(path, "%s", parseMessage(expr, err, nil))
		}
		return
	}
	ctx := contexts(expr, refs)
	hasBare := false
	for _, k := range ctx {
		hasBare = hasBare || k == ctxBare
	}
	first, subs := placeholders(expr, refs, ctx, "1")
	err := parse(first)
	if err == nil {
		return
	}
	if hasBare {
		second, subs2 := placeholders(expr, refs, ctx, "vigil_variable")
		err2 := parse(second)
		if err2 == nil || parseMessage(expr, err, subs) != parseMessage(expr, err2, subs2) {
			// It parses with a name in place of the variable, or the
			// error moves with the placeholder: it depends on what the
			// variable holds.
			return
		}
	}
	c.add(path, "%s", parseMessage(expr, err, subs))
}

// parseMessage words a parser error as "parse error at char N: ..." with N
// counted in the expression as written (line and char on multi-line
// expressions).
func parseMessage(expr string, err error, subs []substitution) string {
	var pes parser.ParseErrors
	var pe *parser.ParseErr
	switch {
	case errors.As(err, &pes) && len(pes) > 0:
		pe = &pes[0]
	case errors.As(err, &pe):
	default:
		return "parse error: " + err.Error()
	}
	off := min(max(origOffset(int(pe.PositionRange.Start), subs), 0), len(expr))
	before := expr[:off]
	if nl := strings.LastIndexByte(before, '\n'); nl >= 0 {
		line := strings.Count(before, "\n") + 1
		return fmt.Sprintf("parse error at line %d, char %d: %v", line, utf8.RuneCountInString(before[nl+1:])+1, pe.Err)
	}
	return fmt.Sprintf("parse error at char %d: %v", utf8.RuneCountInString(before)+1, pe.Err)
}
