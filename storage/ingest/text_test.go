package ingest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-monitoring/vigil/storage"
)

// parseForTest parses data and renders every sample as
// `labels value` or `labels value @timestamp`.
func parseForTest(t *testing.T, data string, extra []storage.Label) ([]string, []Metadata, error) {
	t.Helper()
	p := getTextParser()
	defer putTextParser(p)
	if err := p.parse([]byte(data), extra); err != nil {
		return nil, nil, err
	}
	var got []string
	for i := range p.samples {
		s := &p.samples[i]
		line := fmtLabels(p.sampleLabels(s)) + " " + fmtValue(s.value)
		if s.hasTimestamp {
			line += fmt.Sprintf(" @%d", s.timestamp)
		}
		got = append(got, line)
	}
	return got, p.ownedMetadata(), nil
}

func TestParseText(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		extra []storage.Label
		want  []string
		meta  []Metadata
	}{
		{
			name: "plain sample",
			in:   "up 1\n",
			want: []string{`__name__="up" 1`},
		},
		{
			name: "no trailing newline",
			in:   "up 0",
			want: []string{`__name__="up" 0`},
		},
		{
			name: "labels and timestamp",
			in:   `http_requests_total{method="post",code="200"} 1027 1395066363000`,
			want: []string{`__name__="http_requests_total", method="post", code="200" 1027 @1395066363000`},
		},
		{
			name: "escapes in label values, as in the format's documentation",
			in:   `msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9`,
			want: []string{`__name__="msdos_file_access_time_seconds", path="C:\\DIR\\FILE.TXT", error="Cannot find file:\n\"FILE.TXT\"" 1.458255915e+09`},
		},
		{
			name: "unknown escape kept as written, as in Prometheus",
			in:   `m{a="x\ty"} 1`,
			want: []string{`__name__="m", a="x\\ty" 1`},
		},
		{
			name: "special values",
			in:   "a NaN\nb +Inf\nc -Inf\nd Inf\ne -0\nf 1e-3\ng 12345678901234567890",
			want: []string{
				`__name__="a" NaN`, `__name__="b" +Inf`, `__name__="c" -Inf`, `__name__="d" +Inf`,
				`__name__="e" -0`, `__name__="f" 0.001`, `__name__="g" 1.2345678901234567e+19`,
			},
		},
		{
			name: "negative timestamp",
			in:   "m 1 -1000",
			want: []string{`__name__="m" 1 @-1000`},
		},
		{
			name: "blank lines, comments, indentation, trailing whitespace, CRLF",
			in:   "\n# a comment\n#HELP not metadata\n  \t\n  m{a=\"b\"}  2 \t \r\n\r\nn 3\t\n",
			want: []string{`__name__="m", a="b" 2`, `__name__="n" 3`},
		},
		{
			name: "whitespace inside the label list and a trailing comma",
			in:   "m { a = \"1\" ,\tb=\"2\", } 3\nn{} 4",
			want: []string{`__name__="m", a="1", b="2" 3`, `__name__="n" 4`},
		},
		{
			name: "colons in metric names",
			in:   "job:request_rate:5m 0.5",
			want: []string{`__name__="job:request_rate:5m" 0.5`},
		},
		{
			name: "quoted UTF-8 metric and label names (Prometheus 3)",
			in: `{"my.metric", "label.x"="v"} 1
{"my.metric"} 2
"other.metric"{a="b"} 3
"plain.quoted" 4
{"名前"="値", "esc\"aped"="x", "metric.with.escape\\"} 5
{a="b", "late.name"} 6`,
			want: []string{
				`__name__="my.metric", label.x="v" 1`,
				`__name__="my.metric" 2`,
				`__name__="other.metric", a="b" 3`,
				`__name__="plain.quoted" 4`,
				`名前="値", esc"aped="x", __name__="metric.with.escape\\" 5`,
				`a="b", __name__="late.name" 6`,
			},
		},
		{
			name: "explicit __name__ label",
			in:   `{__name__="m", a="b"} 1`,
			want: []string{`__name__="m", a="b" 1`},
		},
		{
			name: "UTF-8 label values and empty values",
			in:   `m{city="Zürich", empty=""} 1`,
			want: []string{`__name__="m", city="Zürich", empty="" 1`},
		},
		{
			name: "HELP, TYPE and UNIT become metadata; a histogram is its series",
			in: `# HELP http_request_duration_seconds Request latency.\nSecond line with a \\ backslash.
# TYPE http_request_duration_seconds histogram
# UNIT http_request_duration_seconds seconds
http_request_duration_seconds_bucket{le="0.1"} 8
http_request_duration_seconds_bucket{le="+Inf"} 10
http_request_duration_seconds_sum 1.7
http_request_duration_seconds_count 10
# TYPE legacy untyped
# TYPE "my.gauge" GAUGE
# HELP "my.gauge"
legacy 1
`,
			want: []string{
				`__name__="http_request_duration_seconds_bucket", le="0.1" 8`,
				`__name__="http_request_duration_seconds_bucket", le="+Inf" 10`,
				`__name__="http_request_duration_seconds_sum" 1.7`,
				`__name__="http_request_duration_seconds_count" 10`,
				`__name__="legacy" 1`,
			},
			meta: []Metadata{
				{Metric: "http_request_duration_seconds", Type: "histogram", Help: "Request latency.\nSecond line with a \\ backslash.", Unit: "seconds"},
				{Metric: "legacy", Type: "unknown"},
				{Metric: "my.gauge", Type: "gauge"},
			},
		},
		{
			name: "OpenMetrics: exemplars ignored, # EOF ends the input",
			in: `# TYPE foo counter
foo_total 17 1520879607789 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="1"} 3 # {trace_id="x"} 0.5
# EOF

`,
			want: []string{`__name__="foo_total" 17 @1520879607789`, `__name__="foo_bucket", le="1" 3`},
			meta: []Metadata{{Metric: "foo", Type: "counter"}},
		},
		{
			name:  "extra labels override and add; an empty one removes",
			in:    "m{instance=\"a\", job=\"j\", keep=\"k\"} 1\nn 2",
			extra: []storage.Label{{Name: "instance", Value: "b"}, {Name: "env", Value: "prod"}, {Name: "job", Value: ""}},
			want: []string{
				`__name__="m", instance="b", job="", keep="k", env="prod" 1`,
				`__name__="n", instance="b", env="prod", job="" 2`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, meta, err := parseForTest(t, tt.in, tt.extra)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("samples:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(meta, tt.meta) {
				t.Errorf("metadata:\n got %+v\nwant %+v", meta, tt.meta)
			}

			rows := filledRows()
			res, err := ParseText([]byte(tt.in), 42, tt.extra, rows)
			if err != nil {
				t.Fatalf("ParseText: %v", err)
			}
			if res.Samples != len(tt.want) || res.Series != len(tt.want) || rows.Len() != 1+len(tt.want) {
				t.Errorf("ParseText: result %+v, rows.Len() %d; want %d samples", res, rows.Len(), len(tt.want))
			}
			if !reflect.DeepEqual(res.Metadata, tt.meta) {
				t.Errorf("ParseText metadata:\n got %+v\nwant %+v", res.Metadata, tt.meta)
			}
		})
	}
}

func TestParseTextErrors(t *testing.T) {
	long := strings.Repeat("x", storage.MaxLabelLength+1)
	tests := []struct {
		name string
		bad  string // the bad line; the input is two good lines, then it
		want string // part of the error, which starts with "line 3: "
	}{
		{"unterminated label value", `foo{bar="baz} 1`, `label "bar": unexpected end of label value; expected '"'`},
		{"escape at end of line", `foo{bar="baz\`, `label "bar": unexpected end of label value after '\'`},
		{"unquoted label value", `foo{bar=baz} 1`, `unexpected 'b' after bar=; label values must be quoted: bar="..."`},
		{"label without value", `foo{bar} 1`, `unexpected '}' after label name "bar"; expected '='`},
		{"label name then end", `foo{bar`, `unexpected end of line after label name "bar"; expected '='`},
		{"missing comma", `foo{a="x" b="y"} 1`, `unexpected 'b' after label "a"; expected ',' or '}'`},
		{"unclosed label list", `foo{a="x",`, `unexpected end of line in the label list; expected '}'`},
		{"nothing after =", `foo{a=`, `unexpected end of line after a=; expected '"' to start the label value`},
		{"bad label name", `foo{="x"} 1`, `invalid character '=' where a label name should start`},
		{"label name with a dot", `foo{a.b="x"} 1`, `unexpected '.' after label name "a"; expected '='`},
		{"missing value", `foo`, `missing value for series foo{}; expected a sample line like: metric{label="value"} 1.5`},
		{"missing value after labels", `foo{a="b"}`, `missing value for series`},
		{"bad value", `foo 1,5`, `invalid value "1,5" for series foo{}; expected a number such as 1.5, 2e-3, NaN, +Inf or -Inf`},
		{"bad timestamp", `foo 1 yesterday`, `invalid timestamp "yesterday"`},
		{"float timestamp", `foo 1 1712345678.901`, `invalid timestamp "1712345678.901" for series foo{}; expected an integer number of milliseconds`},
		{"too many fields", `foo 1 2 3`, `unexpected "3" after the timestamp of series foo{}; expected the end of the line`},
		{"metric name with a dot", `foo.bar 1`, `invalid character '.' in metric name "foo"; quote names with other characters: {"foo.bar"}`},
		{"metric name starting with a digit", `1foo 1`, `invalid character '1' at the start of a sample line`},
		{"no metric name", `{bar="x"} 1`, `series {bar="x"}: no metric name (label __name__)`},
		{"empty quoted metric name", `{""} 1`, `empty quoted metric name`},
		{"unterminated quoted metric name", `"foo 1`, `unexpected end of metric name; expected '"'`},
		{"quoted name after a name", `foo{"x.y"} 1`, `unexpected '}' after label name "x.y"; expected '='`},
		{"quoted name without space", `"foo"1`, `expected a space after the metric name "foo"`},
		{"duplicate label", `foo{a="1",a="2"} 1`, `series foo{a="1", a="2"}: label "a" appears more than once`},
		{"name twice", `foo{__name__="bar"} 1`, `series foo{__name__="bar"}: label "__name__" appears more than once`},
		{"invalid UTF-8 label value", "foo{a=\"\xff\"} 1", `series foo{a="\xff"}: value "\xff" of label "a" is not valid UTF-8`},
		{"invalid UTF-8 label name", "foo{\"\xfe\"=\"v\"} 1", `series foo{"\xfe"="v"}: label name "\xfe" is not valid UTF-8`},
		{"invalid UTF-8 metric name", "{\"\xfe\"} 1", `series {"\xfe"}: value "\xfe" of label "__name__" is not valid UTF-8`},
		{"label value too long", `foo{a="` + long + `"} 1`, `xxx...}: value of label "a" is 65536 bytes long; the limit is 65535`},
		{"label name too long", `foo{` + long + `="v"} 1`, `xxx"... is 65536 bytes long; the limit is 65535`},
		{"unknown type", `# TYPE foo gauges`, `unknown type "gauges" for metric "foo"; expected counter, gauge, histogram, summary or untyped`},
		{"HELP without a name", `# HELP`, `# HELP without a metric name`},
		{"TYPE without a name", `# TYPE   `, `# TYPE without a metric name`},
		{"TYPE with a dotted name", `# TYPE foo.bar gauge`, `invalid character '.' in the metric name of # TYPE; quote names with other characters: # TYPE "foo.bar"`},
		{"HELP with an unterminated quoted name", `# HELP "foo bar`, `# HELP: unexpected end of metric name; expected '"'`},
		{"HELP with text glued to a quoted name", `# HELP "foo"bar`, `# HELP: unexpected 'b' right after the metric name "foo"; expected a space`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "ok_one 1\n# HELP ok_two fine\n" + tt.bad + "\nok_three 3\n"
			rows := filledRows()
			res, err := ParseText([]byte(in), 0, nil, rows)
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if !strings.HasPrefix(err.Error(), "line 3: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n got %q\nwant \"line 3: ...%s...\"", err, tt.want)
			}
			var ie *InputError
			if !errors.Is(err, ErrBadInput) || !errors.As(err, &ie) || ie.Line != 3 {
				t.Errorf("error %#v is not an *InputError for line 3 matching ErrBadInput", err)
			}
			if rows.Len() != 1 {
				t.Errorf("rows.Len() = %d after a failed parse; want 1 (untouched)", rows.Len())
			}
		})
	}
}

func TestParseTextAfterEOF(t *testing.T) {
	_, err := ParseText([]byte("a 1\n# EOF\n\nb 2\n"), 0, nil, filledRows())
	want := `line 4: unexpected content after "# EOF" on line 2`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v; want it to contain %q", err, want)
	}
}

func TestParseTextExtraLabelValidated(t *testing.T) {
	_, err := ParseText([]byte("a 1\n"), 0, []storage.Label{{Name: "bad", Value: "\xff"}}, filledRows())
	if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "extra_label") {
		t.Fatalf("error %v; want a bad-input error about extra_label", err)
	}
}

func TestParseTextDefaultTimestamp(t *testing.T) {
	// The default applies only to lines without their own timestamp; the
	// Rows API offers no read-back yet, so check the intermediate form.
	p := getTextParser()
	defer putTextParser(p)
	if err := p.parse([]byte("a 1\nb 2 7\n"), nil); err != nil {
		t.Fatal(err)
	}
	if p.samples[0].hasTimestamp || !p.samples[1].hasTimestamp || p.samples[1].timestamp != 7 {
		t.Errorf("samples %+v", p.samples)
	}
}

func TestParseTextEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "# EOF\n"} {
		rows := filledRows()
		res, err := ParseText([]byte(in), 0, nil, rows)
		if err != nil || res.Samples != 0 || rows.Len() != 1 {
			t.Errorf("ParseText(%q) = %+v, %v; rows.Len() %d", in, res, err, rows.Len())
		}
	}
}

// TestParseTextStringsOwned checks that the metadata returned does not
// share memory with the input, which the caller may reuse.
func TestParseTextStringsOwned(t *testing.T) {
	in := []byte("# HELP m some help\n# TYPE m gauge\nm 1\n")
	var rows storage.Rows
	res, err := ParseText(in, 0, nil, &rows)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if want := (Metadata{Metric: "m", Type: "gauge", Help: "some help"}); len(res.Metadata) != 1 || res.Metadata[0] != want {
		t.Errorf("metadata %+v after the input changed; want [%+v]", res.Metadata, want)
	}
}

// benchmarkText returns n sample lines shaped like a client library's
// exposition: families with HELP and TYPE, a few labels, histogram buckets.
func benchmarkText(n int) []byte {
	var b strings.Builder
	endpoints := []string{"/api/v1/panic", "/api/v1/auth/login", "/api/v1/metrics/business", "/healthz"}
	lines := 0
	for f := 0; lines < n; f++ {
		name := fmt.Sprintf("http_request_duration_seconds_%d", f)
		fmt.Fprintf(&b, "# HELP %s Request latency in seconds.\n# TYPE %s histogram\n", name, name)
		for _, ep := range endpoints {
			for _, le := range []string{"0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"} {
				fmt.Fprintf(&b, "%s_bucket{method=\"POST\",endpoint=\"%s\",le=\"%s\"} %d\n", name, ep, le, lines)
				lines++
			}
			fmt.Fprintf(&b, "%s_sum{method=\"POST\",endpoint=\"%s\"} %g 1712345678901\n", name, ep, float64(lines)*0.37)
			fmt.Fprintf(&b, "%s_count{method=\"POST\",endpoint=\"%s\"} %d 1712345678901\n", name, ep, lines)
			lines += 2
		}
	}
	return []byte(b.String())
}

func BenchmarkParseText(b *testing.B) {
	data := benchmarkText(10_000)
	var rows storage.Rows
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	samples := 0
	for b.Loop() {
		rows.Reset()
		res, err := ParseText(data, 1712345678000, nil, &rows)
		if err != nil {
			b.Fatal(err)
		}
		samples += res.Samples
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
}
