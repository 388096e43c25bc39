package conformance

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/convertnhcb"
)

// This file decides, from the parsed case and the data loaded so far, which
// cases are out of scope (skipped, counted apart) and, for a failing case,
// which known storage difference explains it.

// seriesFacts is what the harness knows of one loaded series.
type seriesFacts struct {
	metric labels.Labels

	hist bool // has native histogram samples (or is an NHCB series)
	st   bool // was loaded with start timestamps

	negZero  bool  // has -0 values
	rejected error // storage.Rows refused the series

	// minAbs and maxAbs are the extremes of the finite non-zero |values|.
	minAbs, maxAbs float64
}

// wideRange reports whether the series' values span so many orders of
// magnitude that VictoriaMetrics' per-block decimal exponent cannot keep
// the small ones to promqltest's 1e-6 relative tolerance: a block stores
// int64 mantissas with one exponent, about 18 significant digits for the
// largest value, so a value 1e12 times smaller keeps about 6.
func (f *seriesFacts) wideRange() bool {
	return f.minAbs > 0 && f.maxAbs/f.minAbs > 1e12
}

// dataset is everything loaded since the last clear.
type dataset struct {
	series map[uint64]*seriesFacts
}

func newDataset() *dataset { return &dataset{series: map[uint64]*seriesFacts{}} }

func (d *dataset) facts(m labels.Labels) *seriesFacts {
	h := m.Hash()
	f, ok := d.series[h]
	if !ok {
		f = &seriesFacts{metric: m}
		d.series[h] = f
	}
	return f
}

// note records the facts of a load block; the samples themselves are
// appended by the caller.
func (d *dataset) note(cmd *loadCmd) {
	for _, ls := range cmd.series {
		f := d.facts(ls.metric)
		f.st = f.st || ls.withST
		for _, s := range ls.samples {
			switch {
			case s.Hist:
				f.hist = true
			case s.F == 0 && math.Signbit(s.F):
				f.negZero = true
			case s.F != 0 && !math.IsInf(s.F, 0) && !math.IsNaN(s.F):
				a := math.Abs(s.F)
				if f.minAbs == 0 || a < f.minAbs {
					f.minAbs = a
				}
				f.maxAbs = max(f.maxAbs, a)
			}
		}
	}
	if cmd.withNHCB {
		// load_with_nhcb also stores the classic histograms as native
		// histograms with custom buckets, under the base name.
		for _, ls := range cmd.series {
			suffix, name := convertnhcb.GetHistogramMetricBaseName(ls.metric.Get(model.MetricNameLabel))
			if suffix == convertnhcb.SuffixNone {
				continue
			}
			d.facts(convertnhcb.GetHistogramMetricBase(ls.metric, name)).hist = true
		}
	}
}

// selected returns the loaded series that any selector of expr matches.
func (d *dataset) selected(expr parser.Expr) []*seriesFacts {
	var out []*seriesFacts
	seen := map[*seriesFacts]bool{}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, f := range d.series {
			if !seen[f] && matchesAll(vs.LabelMatchers, f.metric) {
				seen[f] = true
				out = append(out, f)
			}
		}
		return nil
	})
	return out
}

func matchesAll(ms []*labels.Matcher, m labels.Labels) bool {
	for _, lm := range ms {
		if !lm.Matches(m.Get(lm.Name)) {
			return false
		}
	}
	return true
}

// skipReason returns why the case is out of scope: the feature class the
// skips are summed up by, and a detail; "" when the case is in scope.
func skipReason(ev *evalCmd, d *dataset) (class, detail string) {
	if ev.expectsHistogram() {
		return "native histograms", "the expected result holds histograms"
	}
	expr, err := permissiveParser.ParseExpr(ev.expr)
	if err != nil {
		return "", "" // cannot happen: the script parser checked it
	}
	if _, err := strictParser.ParseExpr(ev.expr); err != nil {
		return "experimental: " + experimentalFeature(expr), err.Error()
	}
	sel := d.selected(expr)
	for _, f := range sel {
		if f.hist {
			return "native histograms", "selects " + f.metric.String()
		}
	}
	for _, f := range sel {
		if f.st {
			return "experimental: start timestamps (use-start-timestamps)", "selects " + f.metric.String()
		}
	}
	if usesTypeAndUnit(ev, sel) {
		return "experimental: type-and-unit labels", "__type__ or __unit__ in the query, the data or the result"
	}
	if why := nameRemovalSensitive(expr, d); why != "" {
		return "experimental: delayed name removal", why
	}
	return "", ""
}

// experimentalFeature names what the strict parser refused.
func experimentalFeature(expr parser.Expr) string {
	var what string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if what != "" {
			return nil
		}
		switch n := n.(type) {
		case *parser.Call:
			if n.Func.Experimental {
				what = "function " + n.Func.Name + "()"
			}
		case *parser.AggregateExpr:
			if n.Op.IsExperimentalAggregator() {
				what = "aggregation " + n.Op.String() + "()"
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil && (vm.FillValues.LHS != nil || vm.FillValues.RHS != nil) {
				what = "binop fill modifiers"
			}
		}
		return nil
	})
	if what != "" {
		return what
	}
	// The parser has one more gate, and the error tells little:
	// "unexpected character: '.'", "unexpected <bool>".
	return "unquoted UTF-8 names"
}

func usesTypeAndUnit(ev *evalCmd, sel []*seriesFacts) bool {
	isTU := func(name string) bool { return name == "__type__" || name == "__unit__" }
	if strings.Contains(ev.expr, "__type__") || strings.Contains(ev.expr, "__unit__") {
		return true
	}
	for _, f := range sel {
		if f.metric.Has("__type__") || f.metric.Has("__unit__") {
			return true
		}
	}
	for _, m := range ev.metrics {
		found := false
		m.Range(func(l labels.Label) { found = found || isTU(l.Name) })
		if found {
			return true
		}
	}
	return false
}

// keepsName are the functions whose output keeps the input's metric name
// (or has no input labels at all). Every other function drops the name, so
// it is where delayed name removal (promql-delayed-name-removal) can change
// a result.
var keepsName = map[string]bool{
	"last_over_time": true, "first_over_time": true, "label_replace": true, "label_join": true,
	"sort": true, "sort_desc": true, "sort_by_label": true, "sort_by_label_desc": true,
	"vector": true, "scalar": true, "time": true, "absent": true, "absent_over_time": true,
}

func dropsName(n parser.Node) bool {
	switch n := n.(type) {
	case *parser.Call:
		return !keepsName[n.Func.Name] && !(dateFuncs[n.Func.Name] && len(n.Args) == 0)
	case *parser.UnaryExpr:
		return n.Op == parser.SUB && n.Expr.Type() == parser.ValueTypeVector
	case *parser.BinaryExpr:
		vec := n.LHS.Type() == parser.ValueTypeVector || n.RHS.Type() == parser.ValueTypeVector
		if !vec || n.Op.IsSetOperator() {
			return false
		}
		return !n.Op.IsComparisonOperator() || n.ReturnBool
	}
	return false
}

// readsName reports whether n looks at the metric name of its input: there
// a name that is still present (delayed) or already gone (not delayed) can
// change the result. Set operators and the matching of binary operators
// leave the name out of their signatures, so they do not count unless the
// name is listed.
func readsName(n parser.Node) bool {
	switch n := n.(type) {
	case *parser.Call:
		if n.Func.Name == "label_replace" || n.Func.Name == "label_join" {
			for _, a := range n.Args {
				if s, ok := a.(*parser.StringLiteral); ok && s.Val == model.MetricNameLabel {
					return true
				}
			}
		}
	case *parser.AggregateExpr:
		if slices.Contains(n.Grouping, model.MetricNameLabel) {
			return true
		}
		if s, ok := n.Param.(*parser.StringLiteral); ok && n.Op == parser.COUNT_VALUES && s.Val == model.MetricNameLabel {
			return true
		}
	case *parser.BinaryExpr:
		if vm := n.VectorMatching; vm != nil && (slices.Contains(vm.MatchingLabels, model.MetricNameLabel) || slices.Contains(vm.Include, model.MetricNameLabel)) {
			return true
		}
	}
	return false
}

// nameRemovalSensitive reports why the result of expr may depend on
// delayed name removal, or "": a name-dropping node below one that reads
// the name, or a name-dropping node whose input series collide once their
// names are gone and that feeds a further operation. Without delayed name
// removal that collision is an error at once; with it, the further
// operation may resolve it (an aggregation, label_replace).
func nameRemovalSensitive(expr parser.Expr, d *dataset) string {
	why := ""
	parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
		if why != "" || !dropsName(n) {
			return nil
		}
		for _, a := range path {
			if readsName(a) {
				why = fmt.Sprintf("%s reads the name that %s drops", nodeName(a), nodeName(n))
				return nil
			}
		}
		if !hasConsumer(path) {
			return nil
		}
		for _, in := range vectorInputs(n) {
			vs := selectorOf(in)
			if vs == nil {
				continue
			}
			if m := collision(d.selected(vs)); m != "" {
				why = fmt.Sprintf("%s drops the names of series that then collide (%s) before a further operation", nodeName(n), m)
				return nil
			}
		}
		return nil
	})
	return why
}

// hasConsumer reports whether path holds an operation, not only
// parentheses and the root.
func hasConsumer(path []parser.Node) bool {
	for _, a := range path {
		switch a.(type) {
		case *parser.ParenExpr, *parser.EvalStmt:
		default:
			return true
		}
	}
	return false
}

// vectorInputs are the operands of n that carry series.
func vectorInputs(n parser.Node) []parser.Expr {
	var in []parser.Expr
	add := func(e parser.Expr) {
		if t := e.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
			in = append(in, e)
		}
	}
	switch n := n.(type) {
	case *parser.Call:
		for _, a := range n.Args {
			add(a)
		}
	case *parser.UnaryExpr:
		add(n.Expr)
	case *parser.BinaryExpr:
		add(n.LHS)
		add(n.RHS)
	}
	return in
}

// selectorOf returns the selector that e reads directly, through
// parentheses, a range or a subquery, or nil when e computes something.
func selectorOf(e parser.Expr) *parser.VectorSelector {
	for {
		switch x := e.(type) {
		case *parser.VectorSelector:
			return x
		case *parser.ParenExpr:
			e = x.Expr
		case *parser.MatrixSelector:
			e = x.VectorSelector
		case *parser.SubqueryExpr:
			e = x.Expr
		default:
			return nil
		}
	}
}

// collision returns a label set that two of the series share once their
// names are dropped, or "".
func collision(sel []*seriesFacts) string {
	seen := map[uint64]bool{}
	for _, f := range sel {
		h := f.metric.DropReserved(func(n string) bool { return n == model.MetricNameLabel }).Hash()
		if seen[h] {
			return f.metric.DropReserved(func(n string) bool { return n == model.MetricNameLabel }).String()
		}
		seen[h] = true
	}
	return ""
}

func nodeName(n parser.Node) string {
	switch n := n.(type) {
	case *parser.Call:
		return n.Func.Name + "()"
	case *parser.AggregateExpr:
		return n.Op.String()
	case *parser.BinaryExpr:
		return "operator " + n.Op.String()
	case *parser.UnaryExpr:
		return "unary " + n.Op.String()
	}
	return fmt.Sprintf("%T", n)
}

// storageCause names the known storage difference that explains a failure
// of a case over the selected series, or "".
func storageCause(sel []*seriesFacts) string {
	var causes []string
	add := func(c string) {
		if !slices.Contains(causes, c) {
			causes = append(causes, c)
		}
	}
	for _, f := range sel {
		switch {
		case f.rejected != nil:
			add("storage: series rejected by Rows.Add: " + f.rejected.Error())
		case f.negZero:
			add("storage: -0 is stored as 0")
		case f.wideRange():
			add("storage: values of very different magnitude share a block exponent and lose precision")
		}
	}
	slices.Sort(causes)
	return strings.Join(causes, "; ")
}
