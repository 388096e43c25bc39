package conformance

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// This file reads promqltest's scripting language (promql/promqltest/test.go
// and README.md in the Prometheus module) into commands. promqltest keeps its
// parser unexported, so the grammar is restated here, statement for
// statement, with the series notation parsed by parser.ParseSeriesDesc.

var (
	patSpace       = regexp.MustCompile("[\t ]+")
	patLoad        = regexp.MustCompile(`^load(?:_(with_nhcb))?\s+(.+?)$`)
	patEvalInstant = regexp.MustCompile(`^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$`)
	patEvalRange   = regexp.MustCompile(`^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$`)
	patExpect      = regexp.MustCompile(`^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$`)
	patExpectRange = regexp.MustCompile(`^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$`)
	patMatchAny    = regexp.MustCompile(`^.*$`)
)

const (
	rangeVectorPrefix  = "expect range vector"
	expectStringPrefix = "expect string"
)

// testParserOpts are promqltest.TestParserOpts: the parser of the reference
// run accepts every experimental syntax, so every script parses.
var testParserOpts = parser.Options{
	EnableExperimentalFunctions: true,
	EnableBinopFillModifiers:    true,
	EnableUnquotedUTF8Names:     true,
}

var (
	permissiveParser = parser.NewParser(testParserOpts)
	// strictParser accepts only what Prometheus accepts without
	// --enable-feature; a case it rejects uses an experimental feature.
	strictParser = parser.NewParser(parser.Options{})
)

// testStartTime is the origin of every time in a script.
var testStartTime = time.Unix(0, 0).UTC()

type script struct {
	file string
	cmds []any // *loadCmd, *clearCmd, *evalCmd
}

type clearCmd struct{ line int }

// loadCmd is one load block. Like promqltest, a later line for the same
// series replaces an earlier one of the same block.
type loadCmd struct {
	line     int
	gap      time.Duration
	withNHCB bool
	series   []*loadSeries
	byHash   map[uint64]*loadSeries
}

type loadSeries struct {
	line    int
	metric  labels.Labels
	samples []loadSample
	// withST is set when an "@st" line gives the series start timestamps.
	withST bool
}

type loadSample struct {
	T    int64 // milliseconds since testStartTime
	F    float64
	Hist bool // a native histogram sample; F is meaningless
}

type expectType int

const (
	expectOrdered expectType = iota
	expectFail
	expectWarn
	expectNoWarn
	expectInfo
	expectNoInfo
)

var expectTypeStr = map[string]expectType{
	"fail": expectFail, "ordered": expectOrdered, "warn": expectWarn,
	"no_warn": expectNoWarn, "info": expectInfo, "no_info": expectNoInfo,
}

type expectation struct {
	message string
	regex   *regexp.Regexp
}

func (e expectation) match(s string) bool {
	if e.regex == nil {
		return e.message == s
	}
	return e.regex.MatchString(s)
}

func (e expectation) String() string {
	if e.regex == nil {
		return e.message
	}
	return e.regex.String()
}

type entry struct {
	pos  int
	vals []parser.SequenceValue
}

// evalCmd is one eval statement and what it expects.
type evalCmd struct {
	file  string
	line  int
	expr  string
	start time.Time
	end   time.Time
	step  time.Duration
	eval  time.Time

	isRange                   bool
	fail, warn, ordered, info bool
	expectedFailMessage       string
	expectedFailRegexp        *regexp.Regexp
	expects                   map[expectType][]expectation

	metrics      map[uint64]labels.Labels
	expectScalar bool
	expected     map[uint64]entry

	expectString          bool
	expectedString        string
	excludeFromRangeQuery bool
}

func (ev *evalCmd) isOrdered() bool { return ev.ordered || len(ev.expects[expectOrdered]) > 0 }
func (ev *evalCmd) isFail() bool    { return ev.fail || len(ev.expects[expectFail]) > 0 }

// expectsHistogram reports whether any expected value is a native histogram.
func (ev *evalCmd) expectsHistogram() bool {
	for _, e := range ev.expected {
		for _, v := range e.vals {
			if v.Histogram != nil {
				return true
			}
		}
	}
	return false
}

func (ev *evalCmd) expect(pos int, vals ...parser.SequenceValue) {
	ev.expectScalar = true
	ev.expected[0] = entry{pos: pos, vals: vals}
}

func (ev *evalCmd) expectMetric(pos int, m labels.Labels, vals ...parser.SequenceValue) {
	ev.expectScalar = false
	h := m.Hash()
	ev.metrics[h] = m
	ev.expected[h] = entry{pos: pos, vals: vals}
}

func parseScript(file, input string) (*script, error) {
	s := &script{file: file}
	lines := strings.Split(input, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") {
			l = ""
		}
		lines[i] = l
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		var (
			cmd any
			err error
		)
		switch c := strings.ToLower(patSpace.Split(l, 2)[0]); {
		case c == "clear":
			cmd = &clearCmd{line: i + 1}
		case strings.HasPrefix(c, "load"):
			i, cmd, err = parseLoad(lines, i)
		case strings.HasPrefix(c, "eval"):
			i, cmd, err = parseEval(file, lines, i)
		default:
			err = fmt.Errorf("invalid command %q", l)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, i+1, err)
		}
		s.cmds = append(s.cmds, cmd)
	}
	return s, nil
}

func parseSeries(def string) (labels.Labels, []parser.SequenceValue, error) {
	return permissiveParser.ParseSeriesDesc(def)
}

func parseLoad(lines []string, i int) (int, *loadCmd, error) {
	parts := patLoad.FindStringSubmatch(lines[i])
	if parts == nil {
		return i, nil, errors.New("invalid load command (load[_with_nhcb] <step:duration>)")
	}
	gap, err := model.ParseDuration(parts[2])
	if err != nil {
		return i, nil, fmt.Errorf("invalid step definition %q: %w", parts[2], err)
	}
	cmd := &loadCmd{line: i + 1, gap: time.Duration(gap), withNHCB: parts[1] == "with_nhcb", byHash: map[uint64]*loadSeries{}}
	var stMetric *labels.Labels
	for i+1 < len(lines) {
		i++
		def := lines[i]
		if def == "" {
			i--
			break
		}
		if isSTLine(def) {
			// Only the fact matters here: Vigil's store keeps no start
			// timestamps, so cases reading such series are skipped.
			sp := strings.IndexAny(def, " \t")
			m, _, err := parseSeries(strings.TrimSuffix(def[:sp], "@st") + " _")
			if err != nil {
				return i, nil, fmt.Errorf("invalid @st line: %w", err)
			}
			stMetric = &m
			continue
		}
		m, vals, err := parseSeries(def)
		if err != nil {
			return i, nil, err
		}
		ls := &loadSeries{line: i + 1, metric: m}
		if stMetric != nil {
			ls.withST = labels.Equal(*stMetric, m)
			stMetric = nil
		}
		ts := int64(0)
		for _, v := range vals {
			if !v.Omitted {
				ls.samples = append(ls.samples, loadSample{T: ts, F: v.Value, Hist: v.Histogram != nil})
			}
			ts += cmd.gap.Milliseconds()
		}
		h := m.Hash()
		if old, ok := cmd.byHash[h]; ok {
			*old = *ls
			continue
		}
		cmd.byHash[h] = ls
		cmd.series = append(cmd.series, ls)
	}
	return i, cmd, nil
}

func isSTLine(def string) bool {
	sp := strings.IndexAny(def, " \t")
	return sp >= 0 && strings.HasSuffix(def[:sp], "@st")
}

func parseDurations(from, to, step string) (start, end time.Time, d time.Duration, err error) {
	f, err := model.ParseDuration(from)
	if err != nil {
		return start, end, 0, fmt.Errorf("invalid start timestamp definition %q: %w", from, err)
	}
	t, err := model.ParseDuration(to)
	if err != nil {
		return start, end, 0, fmt.Errorf("invalid end timestamp definition %q: %w", to, err)
	}
	if t < f {
		return start, end, 0, fmt.Errorf("end timestamp (%s) is before start timestamp (%s)", to, from)
	}
	s, err := model.ParseDuration(step)
	if err != nil {
		return start, end, 0, fmt.Errorf("invalid step definition %q: %w", step, err)
	}
	return testStartTime.Add(time.Duration(f)), testStartTime.Add(time.Duration(t)), time.Duration(s), nil
}

func parseEval(file string, lines []string, i int) (int, *evalCmd, error) {
	instant := patEvalInstant.FindStringSubmatch(lines[i])
	rng := patEvalRange.FindStringSubmatch(lines[i])
	if instant == nil && rng == nil {
		return i, nil, errors.New("invalid evaluation command")
	}
	cmd := &evalCmd{
		file:     file,
		line:     i + 1,
		metrics:  map[uint64]labels.Labels{},
		expected: map[uint64]entry{},
		expects:  map[expectType][]expectation{},
	}
	var mod string
	if instant != nil {
		mod, cmd.expr = instant[1], instant[3]
		at, err := model.ParseDuration(instant[2])
		if err != nil {
			return i, nil, fmt.Errorf("invalid timestamp definition %q: %w", instant[2], err)
		}
		cmd.start = testStartTime.Add(time.Duration(at))
		cmd.eval = cmd.start
	} else {
		mod, cmd.expr = rng[1], rng[5]
		var err error
		cmd.start, cmd.end, cmd.step, err = parseDurations(rng[2], rng[3], rng[4])
		if err != nil {
			return i, nil, err
		}
		cmd.isRange = true
	}
	if _, err := permissiveParser.ParseExpr(cmd.expr); err != nil {
		return i, nil, fmt.Errorf("cannot parse %q: %w", cmd.expr, err)
	}
	switch mod {
	case "ordered":
		cmd.ordered = true
	case "fail":
		cmd.fail = true
	case "warn":
		cmd.warn = true
	case "info":
		cmd.info = true
	}

	expectRangeVector := false
	for j := 1; i+1 < len(lines); j++ {
		i++
		def := lines[i]
		if def == "" {
			i--
			break
		}
		if cmd.fail && strings.HasPrefix(def, "expected_fail_message") {
			cmd.expectedFailMessage = strings.TrimSpace(strings.TrimPrefix(def, "expected_fail_message"))
			break
		}
		if cmd.fail && strings.HasPrefix(def, "expected_fail_regexp") {
			re, err := regexp.Compile(strings.TrimSpace(strings.TrimPrefix(def, "expected_fail_regexp")))
			if err != nil {
				return i, nil, err
			}
			cmd.expectedFailRegexp = re
			break
		}
		if strings.HasPrefix(def, rangeVectorPrefix) {
			p := patExpectRange.FindStringSubmatch(def)
			if p == nil {
				return i, nil, fmt.Errorf("invalid range vector definition %q", def)
			}
			start, end, step, err := parseDurations(p[1], p[2], p[3])
			if err != nil {
				return i, nil, err
			}
			expectRangeVector = true
			cmd.start, cmd.end, cmd.step, cmd.eval = start, end, step, end
			cmd.excludeFromRangeQuery = true
			continue
		}
		if strings.HasPrefix(def, expectStringPrefix) {
			s, err := strconv.Unquote(strings.TrimPrefix(def, expectStringPrefix+" "))
			if err != nil {
				return i, nil, fmt.Errorf("invalid expected string in %q", def)
			}
			cmd.expectString, cmd.expectedString = true, s
			cmd.excludeFromRangeQuery = true
			continue
		}
		if strings.Split(def, " ")[0] == "expect" {
			typ, e, err := parseExpect(def)
			if err != nil {
				return i, nil, err
			}
			cmd.expects[typ] = append(cmd.expects[typ], e)
			j--
			continue
		}
		if f, err := parseNumber(def); err == nil {
			cmd.expect(0, parser.SequenceValue{Value: f})
			break
		}
		m, vals, err := parseSeries(def)
		if err != nil {
			return i, nil, err
		}
		if len(vals) > 1 && instant != nil && !expectRangeVector {
			return i, nil, errors.New("expecting multiple values in instant evaluation not allowed")
		}
		cmd.expectMetric(j, m, vals...)
	}
	return i, cmd, nil
}

func parseExpect(def string) (expectType, expectation, error) {
	p := patExpect.FindStringSubmatch(strings.TrimSpace(def))
	if p == nil {
		return 0, expectation{}, fmt.Errorf("invalid expect statement %q", def)
	}
	typ := expectTypeStr[p[1]]
	switch p[2] {
	case "":
		return typ, expectation{regex: patMatchAny}, nil
	case "msg":
		return typ, expectation{message: strings.TrimSpace(p[3])}, nil
	default:
		re, err := regexp.Compile(strings.TrimSpace(p[3]))
		if err != nil {
			return 0, expectation{}, fmt.Errorf("invalid regex in %q: %w", def, err)
		}
		return typ, expectation{regex: re}, nil
	}
}

func parseNumber(s string) (float64, error) {
	n, err := strconv.ParseInt(s, 0, 64)
	f := float64(n)
	if err != nil {
		f, err = strconv.ParseFloat(s, 64)
	}
	return f, err
}
