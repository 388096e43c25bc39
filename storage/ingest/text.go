package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/vigil-monitoring/vigil/storage"
)

// ParseText parses the Prometheus text exposition format, as
// VictoriaMetrics' /api/v1/import/prometheus accepts it, and appends one
// sample per sample line to rows.
//
// It accepts # HELP, # TYPE and # UNIT lines (returned in Result.Metadata),
// other comments, blank lines, an OpenMetrics "# EOF" line, samples with an
// optional timestamp in milliseconds (defaultTimestamp, also in
// milliseconds, is used when a line has none), NaN, +Inf and -Inf, the
// escapes \\, \" and \n in label values, metric and label names quoted as
// Prometheus 3 allows ({"my.metric", "label.x"="v"}), trailing whitespace,
// CRLF line ends and OpenMetrics exemplars (ignored). Histograms and
// summaries are their _bucket, _sum and _count series.
//
// extraLabels, from extra_label=name=value query arguments, are added to
// every series and override labels of the same name on the line; an extra
// label with an empty value removes that label.
//
// On error, an *InputError naming the line, nothing is appended.
func ParseText(data []byte, defaultTimestamp int64, extraLabels []storage.Label, rows *storage.Rows) (Result, error) {
	for i := range extraLabels {
		if err := storage.ValidateLabel(extraLabels[i].Name, extraLabels[i].Value); err != nil {
			return Result{}, inputErrorf("extra_label: %w", err)
		}
	}
	p := getTextParser()
	defer putTextParser(p)

	if err := p.parse(data, extraLabels); err != nil {
		return Result{}, err
	}
	for i := range p.samples {
		s := &p.samples[i]
		ts := defaultTimestamp
		if s.hasTimestamp {
			ts = s.timestamp
		}
		if err := rows.Add(p.sampleLabels(s), ts, s.value); err != nil {
			// parse validated every series, so this is unreachable unless
			// storage's rules change; rows then keeps the earlier lines.
			return Result{}, lineErrorf(s.line, "%w", err)
		}
	}
	return Result{Series: len(p.samples), Samples: len(p.samples), Metadata: p.ownedMetadata()}, nil
}

// textSample is one parsed sample line.
type textSample struct {
	line int
	// labels is p.labels[labelsStart:labelsEnd]; indexes rather than a
	// slice because p.labels grows while later lines are parsed.
	labelsStart, labelsEnd int
	value                  float64
	timestamp              int64
	hasTimestamp           bool
}

// textParser holds the result of one parse. The strings in labels and meta
// point into the parsed data or into unescaped, so they are valid only as
// long as the data is unchanged and the parser is not reset or pooled;
// callers that keep them copy them.
type textParser struct {
	samples   []textSample
	labels    []storage.Label
	unescaped []byte
	meta      []Metadata
	metaIndex map[string]int
}

var textParserPool sync.Pool

func getTextParser() *textParser {
	if p, ok := textParserPool.Get().(*textParser); ok {
		return p
	}
	return &textParser{metaIndex: make(map[string]int)}
}

func putTextParser(p *textParser) {
	p.reset()
	// Do not pin the buffers of an unusually big request.
	if cap(p.labels) > 1<<20 || cap(p.unescaped) > 8<<20 {
		return
	}
	textParserPool.Put(p)
}

func (p *textParser) reset() {
	p.samples = p.samples[:0]
	clear(p.labels) // drop references to the caller's data
	p.labels = p.labels[:0]
	p.unescaped = p.unescaped[:0]
	clear(p.meta)
	p.meta = p.meta[:0]
	clear(p.metaIndex)
}

// sampleLabels returns the labels of s, valid as long as p is.
func (p *textParser) sampleLabels(s *textSample) []storage.Label {
	return p.labels[s.labelsStart:s.labelsEnd:s.labelsEnd]
}

// ownedMetadata copies p.meta out of the parsed data for the caller.
func (p *textParser) ownedMetadata() []Metadata {
	if len(p.meta) == 0 {
		return nil
	}
	// One string holds all the text, rather than three allocations per
	// family: a scrape-sized input has hundreds of families.
	n := 0
	for _, m := range p.meta {
		n += len(m.Metric) + len(m.Help) + len(m.Unit)
	}
	var b strings.Builder
	b.Grow(n)
	for _, m := range p.meta {
		b.WriteString(m.Metric)
		b.WriteString(m.Help)
		b.WriteString(m.Unit)
	}
	all := b.String()
	md := make([]Metadata, len(p.meta))
	for i, m := range p.meta {
		md[i] = Metadata{Type: m.Type}
		md[i].Metric, all = all[:len(m.Metric)], all[len(m.Metric):]
		md[i].Help, all = all[:len(m.Help)], all[len(m.Help):]
		md[i].Unit, all = all[:len(m.Unit)], all[len(m.Unit):]
	}
	return md
}

// parse parses all of data into p, checking every series, and stops at the
// first bad line.
func (p *textParser) parse(data []byte, extraLabels []storage.Label) error {
	lineNo := 0
	eofLine := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		if n := bytes.IndexByte(data, '\n'); n >= 0 {
			line, data = data[:n], data[n+1:]
		} else {
			line, data = data, nil
		}
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		if eofLine > 0 {
			return lineErrorf(lineNo, "unexpected content after \"# EOF\" on line %d; # EOF must be the last line: remove it or split the input", eofLine)
		}
		if line[0] == '#' {
			eof, err := p.parseComment(line)
			if err != nil {
				return &InputError{Line: lineNo, Err: err}
			}
			if eof {
				eofLine = lineNo
			}
			continue
		}
		if err := p.parseSample(line, lineNo, extraLabels); err != nil {
			return &InputError{Line: lineNo, Err: err}
		}
	}
	return nil
}

// trimSpace removes the spaces, tabs and the '\r' of a CRLF line end that
// may surround a line.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// parseComment handles a line starting with '#': HELP, TYPE and UNIT lines
// record metadata, "# EOF" ends the input, anything else is a comment.
func (p *textParser) parseComment(line []byte) (eof bool, err error) {
	rest := line[1:]
	i := skipSpace(rest, 0)
	if i == 0 {
		return false, nil // "#HELP" is a comment, as in Prometheus
	}
	rest = rest[i:]
	j := 0
	for j < len(rest) && rest[j] != ' ' && rest[j] != '\t' {
		j++
	}
	keyword := rest[:j]
	rest = rest[j:]
	var kind byte
	switch string(keyword) {
	case "EOF":
		if len(rest) == 0 {
			return true, nil
		}
		return false, nil
	case "HELP", "TYPE", "UNIT":
		kind = keyword[0]
	default:
		return false, nil
	}
	if len(rest) == 0 || skipSpace(rest, 0) == len(rest) {
		return false, fmt.Errorf("# %s without a metric name; expected \"# %s <metric> ...\"", keyword, keyword)
	}
	rest = rest[skipSpace(rest, 0):]

	var name string
	var n int
	if rest[0] == '"' {
		name, n, err = p.parseQuoted(rest, 1, "metric name")
	} else {
		n = scanName(rest, 0, true)
		if n < len(rest) && rest[n] != ' ' && rest[n] != '\t' {
			return false, fmt.Errorf("invalid character %q in the metric name of # %s; quote names with other characters: # %s \"%s\"",
				rest[n], keyword, keyword, firstField(rest))
		}
		name = unsafeString(rest[:n])
	}
	if err != nil {
		return false, fmt.Errorf("# %s: %w", keyword, err)
	}
	if name == "" {
		return false, fmt.Errorf("# %s with an empty metric name", keyword)
	}
	rest = rest[n:]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' {
		return false, fmt.Errorf("# %s: unexpected %q right after the metric name %q; expected a space", keyword, rest[0], name)
	}
	text := rest[skipSpace(rest, 0):]
	m := p.metadata(name)
	switch kind {
	case 'H':
		m.Help = p.unescapeHelp(text)
	case 'U':
		m.Unit = unsafeString(text)
	case 'T':
		typ, ok := metricTypes[strings.ToLower(string(text))]
		if !ok {
			return false, fmt.Errorf("unknown type %q for metric %q; expected counter, gauge, histogram, summary or untyped", text, name)
		}
		m.Type = typ
	}
	return false, nil
}

// metricTypes maps the TYPE words of the text format and OpenMetrics to
// the types of Prometheus' metadata API.
var metricTypes = map[string]string{
	"counter":        "counter",
	"gauge":          "gauge",
	"histogram":      "histogram",
	"gaugehistogram": "gaugehistogram",
	"summary":        "summary",
	"untyped":        "unknown",
	"unknown":        "unknown",
	"info":           "info",
	"stateset":       "stateset",
}

// metadata returns the entry for the metric family name, creating it. The
// pointer is valid until the next call.
func (p *textParser) metadata(name string) *Metadata {
	if i, ok := p.metaIndex[name]; ok {
		return &p.meta[i]
	}
	p.meta = append(p.meta, Metadata{Metric: name, Type: "unknown"})
	p.metaIndex[name] = len(p.meta) - 1
	return &p.meta[len(p.meta)-1]
}

// unescapeHelp resolves the \\ and \n escapes of a HELP text; other
// backslashes stay as they are, as in Prometheus.
func (p *textParser) unescapeHelp(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return unsafeString(b)
	}
	start := len(p.unescaped)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '\\':
				i++
			case 'n':
				c = '\n'
				i++
			}
		}
		p.unescaped = append(p.unescaped, c)
	}
	return unsafeString(p.unescaped[start:])
}

// parseSample parses one sample line into p.samples, with its labels
// appended to p.labels.
func (p *textParser) parseSample(s []byte, lineNo int, extraLabels []storage.Label) error {
	start := len(p.labels)
	// On error, forget the labels of this line.
	ok := false
	defer func() {
		if !ok {
			clear(p.labels[start:])
			p.labels = p.labels[:start]
		}
	}()

	name := ""
	i := 0
	switch {
	case s[0] == '{':
	case s[0] == '"':
		var err error
		name, i, err = p.parseQuoted(s, 1, "metric name")
		if err != nil {
			return err
		}
	default:
		i = scanName(s, 0, true)
		if i == 0 {
			return fmt.Errorf("invalid character %q at the start of a sample line; expected a metric name, '{' or '#'", s[0])
		}
		name = unsafeString(s[:i])
		if i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '{' {
			return fmt.Errorf("invalid character %q in metric name %q; quote names with other characters: {\"%s\"}",
				s[i], name, firstField(s))
		}
	}
	if name != "" {
		p.labels = append(p.labels, storage.Label{Name: metricNameLabel, Value: name})
	}
	i = skipSpace(s, i)
	if i < len(s) && s[i] == '{' {
		var err error
		i, err = p.parseLabels(s, i+1, name == "")
		if err != nil {
			return err
		}
		i = skipSpace(s, i)
	} else if i > 0 && s[i-1] != ' ' && s[i-1] != '\t' && i < len(s) {
		return fmt.Errorf("expected a space after the metric name %q", name)
	}
	labels := p.labels[start:]
	if i >= len(s) {
		return fmt.Errorf("missing value for series %s; expected a sample line like: metric{label=\"value\"} 1.5", seriesString(labels))
	}

	// The value.
	j := scanField(s, i)
	value, err := strconv.ParseFloat(unsafeString(s[i:j]), 64)
	if err != nil {
		return fmt.Errorf("invalid value %q for series %s; expected a number such as 1.5, 2e-3, NaN, +Inf or -Inf",
			s[i:j], seriesString(labels))
	}
	sample := textSample{line: lineNo, value: value}

	// The optional timestamp, then an optional OpenMetrics exemplar.
	i = skipSpace(s, j)
	if i < len(s) && s[i] != '#' {
		j = scanField(s, i)
		ts, err := strconv.ParseInt(unsafeString(s[i:j]), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid timestamp %q for series %s; expected an integer number of milliseconds since 1970 (e.g. 1712345678901)",
				s[i:j], seriesString(labels))
		}
		sample.timestamp, sample.hasTimestamp = ts, true
		i = skipSpace(s, j)
	}
	if i < len(s) && s[i] != '#' {
		return fmt.Errorf("unexpected %q after the timestamp of series %s; expected the end of the line", s[i:], seriesString(labels))
	}

	p.labels = mergeLabels(p.labels, start, extraLabels)
	labels = p.labels[start:]
	// Extra labels were validated by ParseText; an ASCII line needs no
	// UTF-8 check.
	if err := validateSeriesASCII(labels, isASCII(s)); err != nil {
		return fmt.Errorf("series %s: %w", seriesString(labels), err)
	}
	sample.labelsStart, sample.labelsEnd = start, len(p.labels)
	p.samples = append(p.samples, sample)
	ok = true
	return nil
}

// mergeLabels applies extra labels to the line labels in dst[start:]: they
// replace labels of the same name and are appended otherwise.
func mergeLabels(dst []storage.Label, start int, extra []storage.Label) []storage.Label {
	end := len(dst)
	for _, e := range extra {
		replaced := false
		for k := start; k < end; k++ {
			if dst[k].Name == e.Name {
				dst[k].Value = e.Value
				replaced = true
			}
		}
		if !replaced {
			dst = append(dst, e)
		}
	}
	return dst
}

// parseLabels parses the label list that starts after the '{' at s[i-1]
// and returns the index after the closing '}'. When nameAllowed, a quoted
// string without '=' is the metric name (Prometheus 3's {"my.metric"}).
func (p *textParser) parseLabels(s []byte, i int, nameAllowed bool) (int, error) {
	for {
		i = skipSpace(s, i)
		if i >= len(s) {
			return i, fmt.Errorf("unexpected end of line in the label list; expected '}'")
		}
		if s[i] == '}' {
			return i + 1, nil
		}
		var name string
		quoted := s[i] == '"'
		if quoted {
			var err error
			name, i, err = p.parseQuoted(s, i+1, "label name")
			if err != nil {
				return i, err
			}
		} else {
			j := scanName(s, i, false)
			if j == i {
				return i, fmt.Errorf("invalid character %q where a label name should start; quote label names with other characters: {\"my.label\"=\"v\"}", s[i])
			}
			name = unsafeString(s[i:j])
			i = j
		}
		i = skipSpace(s, i)
		if quoted && nameAllowed && i < len(s) && (s[i] == ',' || s[i] == '}') {
			// {"my.metric", ...}: the metric name.
			if name == "" {
				return i, fmt.Errorf("empty quoted metric name")
			}
			p.labels = append(p.labels, storage.Label{Name: metricNameLabel, Value: name})
			nameAllowed = false
		} else {
			if i >= len(s) {
				return i, fmt.Errorf("unexpected end of line after label name %q; expected '='", name)
			}
			if s[i] != '=' {
				return i, fmt.Errorf("unexpected %q after label name %q; expected '='", s[i], name)
			}
			i = skipSpace(s, i+1)
			if i >= len(s) {
				return i, fmt.Errorf("unexpected end of line after %s=; expected '\"' to start the label value", name)
			}
			if s[i] != '"' {
				return i, fmt.Errorf("unexpected %q after %s=; label values must be quoted: %s=\"...\"", s[i], name, name)
			}
			value, j, err := p.parseQuoted(s, i+1, "label value")
			if err != nil {
				return j, fmt.Errorf("label %q: %w", name, err)
			}
			p.labels = append(p.labels, storage.Label{Name: name, Value: value})
			i = skipSpace(s, j)
		}
		if i >= len(s) {
			return i, fmt.Errorf("unexpected end of line after label %q; expected ',' or '}'", name)
		}
		switch s[i] {
		case ',':
			i++
		case '}':
		default:
			return i, fmt.Errorf("unexpected %q after label %q; expected ',' or '}'", s[i], name)
		}
	}
}

// parseQuoted reads the quoted string whose opening '"' is at s[i-1] and
// returns it with \\, \" and \n resolved (other escapes stay as written, as
// in Prometheus) and the index after the closing quote. what names the
// string in errors.
func (p *textParser) parseQuoted(s []byte, i int, what string) (string, int, error) {
	start := i
	for i < len(s) && s[i] != '"' && s[i] != '\\' {
		i++
	}
	if i < len(s) && s[i] == '"' {
		return unsafeString(s[start:i]), i + 1, nil
	}
	// Slow path: escapes.
	bufStart := len(p.unescaped)
	p.unescaped = append(p.unescaped, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch c {
		case '"':
			return unsafeString(p.unescaped[bufStart:]), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", i, fmt.Errorf("unexpected end of %s after '\\'; expected an escape (\\\\, \\\" or \\n) and a closing '\"'", what)
			}
			switch s[i+1] {
			case '\\', '"':
				c = s[i+1]
				i++
			case 'n':
				c = '\n'
				i++
			}
		}
		p.unescaped = append(p.unescaped, c)
		i++
	}
	return "", i, fmt.Errorf("unexpected end of %s; expected '\"'", what)
}

// scanName returns the end of the unquoted name starting at s[i]: letters,
// digits (not first), '_' and, in metric names, ':'.
func scanName[T string | []byte](s T, i int, colon bool) int {
	start := i
	for i < len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || (colon && c == ':') || (i > start && c >= '0' && c <= '9') {
			i++
			continue
		}
		break
	}
	return i
}

// scanField returns the end of the field starting at s[i]: the next space
// or tab, or the end of s.
func scanField(s []byte, i int) int {
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return i
}

// firstField returns the leading run of s up to a space, '{' or tab, for
// error messages.
func firstField(s []byte) string {
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '{' {
		i++
	}
	if i > 64 {
		i = 64
	}
	return strings.ToValidUTF8(string(s[:i]), "")
}

// isASCII reports whether b has only ASCII bytes, eight at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// unsafeString returns b as a string without copying. The string is valid
// only while b is unchanged: the parser uses it for the input, which the
// caller keeps unchanged during the parse, and for p.unescaped, which only
// grows by appending (a reallocation leaves old strings on the old array).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
