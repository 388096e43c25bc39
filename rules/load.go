// Package rules evaluates Prometheus recording and alerting rules through
// the PromQL engine: it loads rule files, runs each group on a cron
// schedule, writes recorded series and ALERTS into storage, moves alerts
// through their state machine (alerting.go), keeps that state and its
// history in bbolt so that a restart changes nothing, and hands firing and
// resolved alerts to a Notifier. It knows no HTTP: appliance adapts its
// views to web's providers.
package rules

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-monitoring/vigil/internal/suggest"
)

// GroupConfig is one validated rule group and the file it came from.
type GroupConfig struct {
	File string
	rulefmt.RuleGroup
}

// Key identifies a group across reloads and restarts: its file and name.
func (g GroupConfig) Key() string { return groupKey(g.File, g.Name) }

func groupKey(file, name string) string { return file + ";" + name }

//go:embed builtin/*.yml
var builtinFS embed.FS

// BuiltinPrefix starts the File of the built-in groups, which live inside
// the binary rather than on disk.
const BuiltinPrefix = "<builtin>/"

// Builtin returns the built-in Panic-platform rule files, by name, as
// shipped in the binary.
func Builtin() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := builtinFS.ReadDir("builtin")
	for _, e := range entries {
		b, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err == nil {
			out[e.Name()] = b
		}
	}
	return out
}

// Load parses and validates the built-in rules (when builtin is set) and
// every file in files, in that order. A group name used twice in one file
// is an error, as in Prometheus; the same name in two files is two groups.
// The error lists every problem found, one "file:line:column: message" per
// line, so that a user can fix them all at once.
func Load(files []string, builtin bool, p parser.Parser) ([]GroupConfig, error) {
	var groups []GroupConfig
	var errs []error
	if builtin {
		b := Builtin()
		names := make([]string, 0, len(b))
		for name := range b {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			gs, err := Parse(BuiltinPrefix+name, b[name], p)
			if err != nil {
				errs = append(errs, err)
			}
			groups = append(groups, gs...)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read the rule file: %w", f, err))
			continue
		}
		gs, err := Parse(f, data, p)
		if err != nil {
			errs = append(errs, err)
		}
		groups = append(groups, gs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return groups, nil
}

// Parse parses and validates the rule file named file with rulefmt, the
// parser Prometheus and promtool use, with unknown fields refused. Each
// problem becomes one "file:line:column: message" error (joined).
func Parse(file string, data []byte, p parser.Parser) ([]GroupConfig, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	idx := indexNodes(&root)
	// Durations and unknown fields first: rulefmt reports them without a
	// line (durations) or in yaml's own words.
	if errs := idx.precheck(file); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rgs, errs := rulefmt.Parse(data, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		out := make([]error, len(errs))
		for i, err := range errs {
			out[i] = idx.locate(file, err)
		}
		return nil, errors.Join(out...)
	}
	groups := make([]GroupConfig, len(rgs.Groups))
	for i, g := range rgs.Groups {
		groups[i] = GroupConfig{File: file, RuleGroup: g}
	}
	return groups, nil
}

// nodeIndex finds the lines of a rule file's groups and rules.
type nodeIndex struct {
	groups []*yaml.Node // the mapping node of each group
	rules  [][]*yaml.Node
	root   *yaml.Node
}

func indexNodes(root *yaml.Node) *nodeIndex {
	idx := &nodeIndex{root: root}
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	groups := mapValue(doc, "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return idx
	}
	for _, g := range groups.Content {
		idx.groups = append(idx.groups, g)
		var rs []*yaml.Node
		if rules := mapValue(g, "rules"); rules != nil && rules.Kind == yaml.SequenceNode {
			rs = rules.Content
		}
		idx.rules = append(idx.rules, rs)
	}
	return idx
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var (
	groupFields = []string{"name", "interval", "query_offset", "limit", "rules", "labels"}
	ruleFields  = []string{"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)

// precheck finds the unknown fields and bad durations with their lines,
// suggesting the field meant.
func (idx *nodeIndex) precheck(file string) []error {
	var errs []error
	check := func(m *yaml.Node, known []string, durations ...string) {
		if m == nil || m.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if k.Value == "<<" { // a YAML merge key, resolved by the decoder
				continue
			}
			if !slices.Contains(known, k.Value) {
				msg := fmt.Sprintf("unknown field %q", k.Value)
				if s := suggest.Closest(k.Value, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				errs = append(errs, fmt.Errorf("%s:%d:%d: %s", file, k.Line, k.Column, msg))
				continue
			}
			if slices.Contains(durations, k.Value) {
				if _, err := model.ParseDuration(v.Value); err != nil {
					errs = append(errs, fmt.Errorf("%s:%d:%d: %s: %q is not a duration; write it like 30s, 5m or 1h", file, v.Line, v.Column, k.Value, v.Value))
				}
			}
		}
	}
	seen := map[string]bool{}
	for gi, g := range idx.groups {
		if n := mapValue(g, "name"); n != nil {
			if seen[n.Value] {
				errs = append(errs, fmt.Errorf("%s:%d:%d: group %q is defined twice in this file; rename one of them", file, n.Line, n.Column, n.Value))
			}
			seen[n.Value] = true
		}
		check(g, groupFields, "interval", "query_offset")
		for _, r := range idx.rules[gi] {
			check(r, ruleFields, "for", "keep_firing_for")
		}
	}
	return errs
}

var (
	lineCol  = regexp.MustCompile(`^(\d+):(\d+): `)
	yamlLine = regexp.MustCompile(`line (\d+): (.*)`)
)

// locate turns one of rulefmt's errors into "file:line:column: message".
func (idx *nodeIndex) locate(file string, err error) error {
	var re *rulefmt.Error
	if errors.As(err, &re) {
		line, col, inner := splitPos(re.Err.Error())
		if line == 0 {
			// Label and template errors carry no position: use the rule's.
			line, col, _ = idx.rulePos(re.Group, re.Rule)
		}
		where := fmt.Sprintf("group %q, rule %d (%s)", re.Group, re.Rule, re.RuleName)
		if line == 0 {
			return fmt.Errorf("%s: %s: %s", file, where, inner)
		}
		return fmt.Errorf("%s:%d:%d: %s: %s", file, line, col, where, inner)
	}
	if line, col, msg := splitPos(err.Error()); line > 0 {
		return fmt.Errorf("%s:%d:%d: %s", file, line, col, msg)
	}
	return yamlError(file, err)
}

// splitPos takes the leading "line:col: " positions off msg (rulefmt may
// give two), returning the first that is not 0:0.
func splitPos(msg string) (line, col int, rest string) {
	for {
		m := lineCol.FindStringSubmatch(msg)
		if m == nil {
			return line, col, msg
		}
		if l, _ := strconv.Atoi(m[1]); l > 0 && line == 0 {
			line = l
			col, _ = strconv.Atoi(m[2])
		}
		msg = msg[len(m[0]):]
	}
}

func (idx *nodeIndex) rulePos(group string, rule int) (int, int, bool) {
	for gi, g := range idx.groups {
		if n := mapValue(g, "name"); n == nil || n.Value != group {
			continue
		}
		if rule >= 1 && rule <= len(idx.rules[gi]) {
			r := idx.rules[gi][rule-1]
			return r.Line, r.Column, true
		}
	}
	return 0, 0, false
}

// yamlError rewrites yaml's "yaml: line N: msg" (possibly several) as
// "file:N: msg" lines.
func yamlError(file string, err error) error {
	var out []error
	for _, m := range yamlLine.FindAllStringSubmatch(err.Error(), -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, fmt.Errorf("%s:%d: %s", file, n, strings.TrimSpace(m[2])))
	}
	if len(out) == 0 {
		return fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return errors.Join(out...)
}

// evalInterval is the group's interval, or def when the file gives none.
func (g GroupConfig) evalInterval(def time.Duration) time.Duration {
	if g.Interval > 0 {
		return time.Duration(g.Interval)
	}
	return def
}
