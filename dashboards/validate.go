package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// checker walks a decoded dashboard and collects every problem, each at its
// JSON path. It checks what Vigil reads and what Grafana would refuse or
// misplace; fields it does not know are left alone, so that a newer
// Grafana's export still imports. Datasource references are not checked:
// Vigil is the only data source, so ${DS_PROMETHEUS} and the like are
// fine.
type checker struct {
	parser   parser.Parser
	problems []Problem
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func at(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// MaxUIDLength is the longest uid Grafana accepts.
const MaxUIDLength = 40

// uidRE is what Grafana allows in a uid; it also keeps uids safe in URLs.
var uidRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// CheckUID reports why uid cannot name a dashboard, or nil.
func CheckUID(uid string) error {
	switch {
	case uid == "":
		return fmt.Errorf("must not be empty")
	case len(uid) > MaxUIDLength:
		return fmt.Errorf("%q is %d characters long; the most is %d", uid, len(uid), MaxUIDLength)
	case !uidRE.MatchString(uid):
		return fmt.Errorf("%q may hold only letters, digits, - and _", uid)
	}
	return nil
}

func (c *checker) dashboard(d map[string]any) {
	if v, ok := d["uid"]; ok && v != nil {
		if s, ok := c.str(d, "", "uid"); ok && s != "" {
			if err := CheckUID(s); err != nil {
				c.add("uid", "%v", err)
			}
		}
	}
	c.requiredString(d, "", "title", "required: give the dashboard a title")
	c.str(d, "", "description")
	c.stringList(d, "", "tags")
	if rows, ok := d["rows"].([]any); ok && len(rows) > 0 {
		c.add("rows", "this dashboard uses the row layout of Grafana before 5.0 (schemaVersion < 16); open it in a current Grafana, save it and export it again")
	}
	if v, ok := d["schemaVersion"]; ok {
		c.integer(v, "schemaVersion", 0, -1)
	}
	if t, ok := c.object(d, "", "time"); ok {
		c.requiredString(t, "time", "from", "required, e.g. now-6h")
		c.requiredString(t, "time", "to", "required, e.g. now")
	}
	switch v := d["refresh"].(type) {
	case nil, string, bool:
	default:
		c.add("refresh", "must be an interval such as \"30s\", or false; not %s", jsonKind(v))
	}
	c.variables(d)
	if panels, ok := c.array(d, "", "panels"); ok {
		for i, p := range panels {
			c.panel(p, at("panels", i), true)
		}
	}
}

func (c *checker) variables(d map[string]any) {
	tmpl, ok := c.object(d, "", "templating")
	if !ok {
		return
	}
	list, ok := c.array(tmpl, "templating", "list")
	if !ok {
		return
	}
	seen := map[string]int{}
	for i, v := range list {
		path := at("templating.list", i)
		obj, ok := v.(map[string]any)
		if !ok {
			c.add(path, "a variable is an object, not %s", jsonKind(v))
			continue
		}
		name, ok := c.str(obj, path, "name")
		switch {
		case obj["name"] == nil || (ok && name == ""):
			c.add(join(path, "name"), "required")
		case !ok:
		case strings.HasPrefix(name, "__"):
			c.add(join(path, "name"), "%q: names starting with __ are reserved for Grafana's global variables", name)
		case !variableNameRE.MatchString(name):
			c.add(join(path, "name"), "%q: a variable name holds only letters, digits and _", name)
		default:
			if first, dup := seen[name]; dup {
				c.add(join(path, "name"), "%q is already the name of templating.list[%d]", name, first)
			} else {
				seen[name] = i
			}
		}
		typ, ok := c.str(obj, path, "type")
		if ok && !slices.Contains(variableTypes, typ) {
			c.add(join(path, "type"), "%q is not a variable type; use one of %s", typ, strings.Join(variableTypes, ", "))
		} else if _, present := obj["type"]; !present {
			c.add(join(path, "type"), "required: one of %s", strings.Join(variableTypes, ", "))
		}
		c.boolean(obj, path, "multi")
		c.boolean(obj, path, "includeAll")
		c.str(obj, path, "allValue")
		c.str(obj, path, "regex")
		if typ == "query" {
			c.variableQuery(obj, path)
		}
	}
}

// variableTypes are the variable types of Grafana's dashboard model.
var variableTypes = []string{"query", "custom", "constant", "interval", "textbox", "datasource", "adhoc", "groupby", "switch"}

// variableNameRE is what a variable reference can name ($name, ${name}).
var variableNameRE = regexp.MustCompile(`^\w+$`)

// variableQuery checks the PromQL inside a query variable's
// label_values(selector, label) or query_result(expr).
func (c *checker) variableQuery(obj map[string]any, path string) {
	q, qpath := "", join(path, "query")
	switch v := obj["query"].(type) {
	case string:
		q = v
	case map[string]any:
		s, ok := c.str(v, qpath, "query")
		if !ok {
			return
		}
		q, qpath = s, join(qpath, "query")
	case nil:
		return
	default:
		c.add(qpath, "must be a string such as label_values(up, job), not %s", jsonKind(v))
		return
	}
	fn, arg, ok := variableFunction(q)
	if !ok {
		return
	}
	switch fn {
	case "query_result":
		c.promQL(qpath, arg, false)
	case "label_values":
		selector, _, hasSelector := cutLastArg(arg)
		if hasSelector {
			c.promQL(qpath, selector, true)
		}
	}
}

var variableFuncRE = regexp.MustCompile(`(?s)^\s*(label_values|label_names|metrics|query_result)\s*\((.*)\)\s*$`)

// variableFunction splits a query variable's query into its function and
// argument text.
func variableFunction(q string) (fn, arg string, ok bool) {
	m := variableFuncRE.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// cutLastArg splits "selector, label" at its last top-level comma.
func cutLastArg(arg string) (before, last string, found bool) {
	depth, quote := 0, rune(0)
	cut := -1
	for i, r := range arg {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case r == '(' || r == '{' || r == '[':
			depth++
		case r == ')' || r == '}' || r == ']':
			depth--
		case r == ',' && depth == 0:
			cut = i
		}
	}
	if cut < 0 {
		return "", arg, false
	}
	return arg[:cut], arg[cut+1:], true
}

// panel checks one panel; top is false inside a collapsed row.
func (c *checker) panel(v any, path string, top bool) {
	p, ok := v.(map[string]any)
	if !ok {
		c.add(path, "a panel is an object, not %s", jsonKind(v))
		return
	}
	typ, ok := c.str(p, path, "type")
	if _, present := p["type"]; !present {
		// A library panel's reference carries no type; its model is in
		// __elements.
		if _, lib := p["libraryPanel"]; !lib {
			c.add(join(path, "type"), "required, e.g. timeseries, stat, table or row")
		}
	} else if ok && typ == "" {
		c.add(join(path, "type"), "required, e.g. timeseries, stat, table or row")
	}
	if v, ok := p["id"]; ok && v != nil {
		c.integer(v, join(path, "id"), 0, -1)
	}
	c.str(p, path, "title")
	c.str(p, path, "description")
	c.str(p, path, "interval")
	if v, ok := p["maxDataPoints"]; ok && v != nil {
		c.integer(v, join(path, "maxDataPoints"), 1, -1)
	}
	c.gridPos(p, path)
	if fc, ok := c.object(p, path, "fieldConfig"); ok {
		c.fieldConfig(fc, join(path, "fieldConfig"))
	}
	c.object(p, path, "options")
	if targets, ok := c.array(p, path, "targets"); ok {
		for i, t := range targets {
			c.target(t, at(join(path, "targets"), i))
		}
	}
	if typ == "row" {
		collapsed, _ := c.boolean(p, path, "collapsed")
		nested, ok := c.array(p, path, "panels")
		if !ok {
			return
		}
		if !top && len(nested) > 0 {
			c.add(join(path, "panels"), "a row inside a row; rows hold panels only at the top level")
			return
		}
		if len(nested) > 0 && !collapsed {
			c.add(join(path, "panels"), "an expanded row (collapsed: false) holds no panels: they follow it in the top-level panels; set collapsed to true or move them out")
		}
		for i, n := range nested {
			if np, ok := n.(map[string]any); ok && np["type"] == "row" {
				c.add(at(join(path, "panels"), i), "a row inside a row; rows hold panels only at the top level")
				continue
			}
			c.panel(n, at(join(path, "panels"), i), false)
		}
	} else if _, present := p["panels"]; present && top {
		// Only rows nest panels in the classic model.
		if nested, ok := p["panels"].([]any); ok && len(nested) > 0 {
			c.add(join(path, "panels"), "only a panel of type row holds panels")
		}
	}
}

func (c *checker) gridPos(p map[string]any, path string) {
	gp, ok := c.object(p, path, "gridPos")
	if !ok {
		if p["gridPos"] == nil {
			c.add(join(path, "gridPos"), `required: the panel's place, e.g. {"x": 0, "y": 0, "w": 12, "h": 8}`)
		}
		return
	}
	gpath := join(path, "gridPos")
	w, wok := c.gridField(gp, gpath, "w", 1, 24, "must be 1..24 (the grid has 24 columns)")
	x, xok := c.gridField(gp, gpath, "x", 0, 23, "must be 0..23 (the grid has 24 columns)")
	c.gridField(gp, gpath, "h", 1, -1, "must be 1 or more")
	c.gridField(gp, gpath, "y", 0, -1, "must be 0 or more")
	if wok && xok && x+w > 24 {
		c.add(gpath, "x + w is %d; a panel must end within the 24 columns (x + w <= 24)", x+w)
	}
}

// gridField checks an integer of gridPos in [lo, hi] (hi < 0: no upper
// bound).
func (c *checker) gridField(gp map[string]any, path, key string, lo, hi int, rangeMsg string) (int, bool) {
	v, present := gp[key]
	if !present || v == nil {
		c.add(join(path, key), "required; %s", rangeMsg)
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		c.add(join(path, key), "must be a number, not %s", jsonKind(v))
		return 0, false
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < lo || (hi >= 0 && i > hi) {
		c.add(join(path, key), "%s, not %s", rangeMsg, n)
		return 0, false
	}
	return i, true
}

// targetFormats are the formats of a Prometheus query in Grafana.
var targetFormats = []string{"time_series", "table", "heatmap"}

func (c *checker) target(v any, path string) {
	t, ok := v.(map[string]any)
	if !ok {
		c.add(path, "a query is an object, not %s", jsonKind(v))
		return
	}
	c.str(t, path, "refId")
	c.str(t, path, "legendFormat")
	c.str(t, path, "interval")
	c.boolean(t, path, "instant")
	c.boolean(t, path, "range")
	c.boolean(t, path, "hide")
	if f, ok := c.str(t, path, "format"); ok && f != "" && !slices.Contains(targetFormats, f) {
		c.add(join(path, "format"), "%q is not a query format; use one of %s", f, strings.Join(targetFormats, ", "))
	}
	if expr, ok := c.str(t, path, "expr"); ok && strings.TrimSpace(expr) != "" {
		c.promQL(join(path, "expr"), expr, false)
	}
}

func (c *checker) fieldConfig(fc map[string]any, path string) {
	if defaults, ok := c.object(fc, path, "defaults"); ok {
		c.fieldDefaults(defaults, join(path, "defaults"))
	}
	overrides, ok := c.array(fc, path, "overrides")
	if !ok {
		return
	}
	c.eachObject(overrides, join(path, "overrides"), "an override is an object", func(obj map[string]any, opath string) {
		if m, ok := c.object(obj, opath, "matcher"); ok {
			c.str(m, join(opath, "matcher"), "id")
		}
		if props, ok := c.array(obj, opath, "properties"); ok {
			c.eachObject(props, join(opath, "properties"), "a property is an object with id and value", func(p map[string]any, ppath string) {
				c.str(p, ppath, "id")
			})
		}
	})
}

func (c *checker) fieldDefaults(d map[string]any, path string) {
	c.str(d, path, "unit")
	for _, k := range []string{"min", "max"} {
		if v, ok := d[k]; ok && v != nil {
			if _, ok := v.(json.Number); !ok {
				c.add(join(path, k), "must be a number or null, not %s", jsonKind(v))
			}
		}
	}
	if v, ok := d["decimals"]; ok && v != nil {
		c.integer(v, join(path, "decimals"), 0, 20)
	}
	c.array(d, path, "mappings")
	th, ok := c.object(d, path, "thresholds")
	if !ok {
		return
	}
	tpath := join(path, "thresholds")
	if m, ok := c.str(th, tpath, "mode"); ok && m != "absolute" && m != "percentage" {
		c.add(join(tpath, "mode"), "%q: must be absolute or percentage", m)
	}
	steps, ok := c.array(th, tpath, "steps")
	if !ok {
		return
	}
	base := at(join(tpath, "steps"), 0)
	c.eachObject(steps, join(tpath, "steps"), "a threshold step is an object with color and value", func(step map[string]any, spath string) {
		c.str(step, spath, "color")
		switch v := step["value"].(type) {
		case nil:
			if spath != base {
				c.add(join(spath, "value"), "only the first step may have no value (it is the base)")
			}
		case json.Number:
		default:
			c.add(join(spath, "value"), "must be a number, not %s", jsonKind(v))
		}
	})
}

// eachObject calls f with each element of list that is an object and its
// path (path[i]); other elements are reported as not being what.
func (c *checker) eachObject(list []any, path, what string, f func(obj map[string]any, path string)) {
	for i, v := range list {
		p := at(path, i)
		obj, ok := v.(map[string]any)
		if !ok {
			c.add(p, "%s, not %s", what, jsonKind(v))
			continue
		}
		f(obj, p)
	}
}

// requiredString reports a missing, null or blank string field with msg
// (a field of another type is reported as such).
func (c *checker) requiredString(obj map[string]any, path, key, msg string) {
	s, ok := c.str(obj, path, key)
	if v := obj[key]; v == nil || (ok && strings.TrimSpace(s) == "") {
		c.add(join(path, key), "%s", msg)
	}
}

// The typed accessors below check one field of obj (at path) and report a
// wrong type; a missing or null field is not a problem for them.

func (c *checker) str(obj map[string]any, path, key string) (string, bool) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		c.add(join(path, key), "must be a string, not %s", jsonKind(v))
	}
	return s, ok
}

func (c *checker) boolean(obj map[string]any, path, key string) (bool, bool) {
	v, ok := obj[key]
	if !ok || v == nil {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		c.add(join(path, key), "must be true or false, not %s", jsonKind(v))
	}
	return b, ok
}

func (c *checker) object(obj map[string]any, path, key string) (map[string]any, bool) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, false
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.add(join(path, key), "must be an object, not %s", jsonKind(v))
	}
	return o, ok
}

func (c *checker) array(obj map[string]any, path, key string) ([]any, bool) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		c.add(join(path, key), "must be an array, not %s", jsonKind(v))
	}
	return a, ok
}

func (c *checker) stringList(obj map[string]any, path, key string) {
	list, ok := c.array(obj, path, key)
	if !ok {
		return
	}
	for i, v := range list {
		if _, ok := v.(string); !ok {
			c.add(at(join(path, key), i), "must be a string, not %s", jsonKind(v))
		}
	}
}

// integer checks that v is a whole number in [lo, hi] (hi < 0: no upper
// bound).
func (c *checker) integer(v any, path string, lo, hi int) {
	n, ok := v.(json.Number)
	if !ok {
		c.add(path, "must be a number, not %s", jsonKind(v))
		return
	}
	i, err := strconv.Atoi(n.String())
	switch {
	case err != nil:
		c.add(path, "must be a whole number, not %s", n)
	case i < lo:
		c.add(path, "must be %d or more, not %d", lo, i)
	case hi >= 0 && i > hi:
		c.add(path, "must be at most %d, not %d", hi, i)
	}
}
