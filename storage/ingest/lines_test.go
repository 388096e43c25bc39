package ingest

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-monitoring/vigil/storage"
)

// The line-based import formats: Influx line protocol, JSON lines, CSV.

func TestParseInflux(t *testing.T) {
	const now = 1700000099000
	tests := []struct {
		name string
		in   string
		opts InfluxOptions
		want []string
	}{
		{
			name: "measurement_field names, tags as labels, db, nanoseconds",
			in:   "cpu,host=a,region=eu usage_idle=97.5,usage_user=2i 1700000000000000000\n",
			opts: InfluxOptions{DB: "telegraf", Precision: "ns"},
			want: []string{
				`__name__="cpu_usage_idle", host="a", region="eu", db="telegraf" 97.5 @1700000000000`,
				`__name__="cpu_usage_user", host="a", region="eu", db="telegraf" 2 @1700000000000`,
			},
		},
		{
			name: "a db tag wins over the query argument; escapes; CRLF; comments; no timestamp",
			in:   "# comment\r\nmy\\ disk,db=own,path=/var\\,x used=1u,ok=true,state=\"fine\",temp=\"21.5\"\r\n\r\n",
			opts: InfluxOptions{DB: "telegraf"},
			want: []string{
				`__name__="my disk_ok", db="own", path="/var,x" 1 @1700000099000`,
				`__name__="my disk_temp", db="own", path="/var,x" 21.5 @1700000099000`,
				`__name__="my disk_used", db="own", path="/var,x" 1 @1700000099000`,
			},
		},
		{
			name: "precisions",
			in:   "m v=1 1700000000\nm v=2 1700000001\n",
			opts: InfluxOptions{Precision: "s"},
			want: []string{`__name__="m_v" 1 @1700000000000`, `__name__="m_v" 2 @1700000001000`},
		},
		{
			name: "unit guessed from the size without precision",
			in:   "m v=1 1700000000\nm v=2 1700000001000\nm v=3 1700000002000000\nm v=4 1700000003000000000\n",
			want: []string{`__name__="m_v" 1 @1700000000000`, `__name__="m_v" 2 @1700000001000`, `__name__="m_v" 3 @1700000002000`, `__name__="m_v" 4 @1700000003000`},
		},
		{
			name: "a quoted string with spaces and commas is left out",
			in:   `syslog,host=a message="a, b = c",severity=3i 1700000000000`,
			opts: InfluxOptions{Precision: "ms"},
			want: []string{`__name__="syslog_severity", host="a" 3 @1700000000000`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = now
			rows := &storage.Rows{}
			res, err := ParseInflux([]byte(tc.in), tc.opts, rows)
			if err != nil {
				t.Fatal(err)
			}
			got := rowLines(t, rows)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if res.Samples != len(want) {
				t.Fatalf("Samples = %d; want %d", res.Samples, len(want))
			}
		})
	}
}

func TestParseLinesBadInput(t *testing.T) {
	tests := []struct {
		name  string
		parse func(data []byte, rows *storage.Rows) (Result, error)
		in    string
		line  int
		want  string
	}{
		{"influx: no fields", influxParse, "cpu v=1\ncpu,host=a\n", 2, `cannot find Whitespace I in "cpu,host=a": "cpu,host=a"`},
		{"influx: bad value", influxParse, "cpu v=1\n\ncpu v=abc 1\n", 3, `field "v": "abc" is neither a number`},
		{"influx: bad integer", influxParse, "cpu v=1.5i\n", 1, `cannot parse field value for "v"`},
		{"influx: bad timestamp", influxParse, "cpu v=1 12x\n", 1, `cannot parse timestamp "12x"`},
		{"influx: invalid UTF-8", influxParse, "cpu,h=\xff v=1\n", 1, `not valid UTF-8`},
		{"json: not JSON", ParseJSONLines, "{\"metric\":{\"__name__\":\"a\"},\"values\":[1],\"timestamps\":[1]}\n{oops\n", 2, "invalid JSON"},
		{"json: no metric", ParseJSONLines, `{"values":[1],"timestamps":[1]}`, 1, `missing "metric" object`},
		{"json: label value not a string", ParseJSONLines, `{"metric":{"__name__":"a","n":1},"values":[1],"timestamps":[1]}`, 1, `label "n": the value must be a string, not number`},
		{"json: no name", ParseJSONLines, `{"metric":{"job":"a"},"values":[1],"timestamps":[1]}`, 1, "no metric name"},
		{"json: lengths differ", ParseJSONLines, `{"metric":{"__name__":"a"},"values":[1,2],"timestamps":[1]}`, 1, "2 values but 1 timestamps"},
		{"json: bad value", ParseJSONLines, `{"metric":{"__name__":"a"},"values":[1,"x"],"timestamps":[1,2]}`, 1, `values[1]: "x" is not a number`},
		{"json: bad timestamp", ParseJSONLines, `{"metric":{"__name__":"a"},"values":[1],"timestamps":[1.5]}`, 1, "timestamps[0]"},
		{"json: duplicate label", ParseJSONLines, `{"metric":{"__name__":"a","x":"1","x":"2"},"values":[1],"timestamps":[1]}`, 1, `label "x" appears more than once`},
		{"csv: bad number", csvParse, "a,1,1700000000\nb,x,1700000000\n", 2, `column 2 (metric cpu): "x" is not a number`},
		{"csv: bad time", csvParse, "a,1,1700000000\nb,2,yesterday\n", 2, `column 3: cannot parse time "yesterday"`},
		{"csv: too few columns", csvParse, "a,1,1700000000\nb,2\n", 2, "2 columns; the format names 3"},
		{"csv: bad quoting", csvParse, "a,1,1700000000\n\"b,2,1700000000\n", 2, "extraneous or missing \" in quoted-field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := filledRows()
			_, err := tc.parse([]byte(tc.in), rows)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want an input error on line %d containing %q", err, tc.line, tc.want)
			}
			if rows.Len() != 1 {
				t.Fatalf("rows.Len() = %d after an error; want 1: nothing of the request is kept", rows.Len())
			}
		})
	}
}

func influxParse(data []byte, rows *storage.Rows) (Result, error) {
	return ParseInflux(data, InfluxOptions{Now: 1}, rows)
}

func csvParse(data []byte, rows *storage.Rows) (Result, error) {
	return ParseCSV(data, "1:label:host,2:metric:cpu,3:time:unix_s", 1, rows)
}

func TestParseJSONLinesValues(t *testing.T) {
	in := `{"metric":{"__name__":"m","job":"a"},"values":[1.5,null,"NaN","Infinity","-Inf",1e300],"timestamps":[1,2,3,4,5,6]}` + "\r\n\n" +
		`{"metric":{"__name__":"n"},"values":[0],"timestamps":[7]}`
	rows := &storage.Rows{}
	res, err := ParseJSONLines([]byte(in), rows)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`__name__="m", job="a" +Inf @4`, `__name__="m", job="a" -Inf @5`, `__name__="m", job="a" 1.5 @1`,
		`__name__="m", job="a" 1e+300 @6`, `__name__="m", job="a" NaN @3`, `__name__="m", job="a" StaleNaN @2`, `__name__="n" 0 @7`,
	}
	if got := rowLines(t, rows); !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Series != 2 || res.Samples != 7 {
		t.Fatalf("result %+v; want 2 series, 7 samples", res)
	}
}

func TestParseCSV(t *testing.T) {
	in := "host,cpu,mem,time\n" + // a header, skipped
		"a,1.5,100,1700000000\n" +
		"\"b,c\",,200,1700000001\n" + // an empty cell is skipped
		"d,3,300,1700000002,extra\n" // columns past the format are ignored
	rows := &storage.Rows{}
	res, err := ParseCSV([]byte(in), "1:label:host,2:metric:cpu,3:metric:mem,4:time:unix_s", 1, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`__name__="cpu", host="a" 1.5 @1700000000000`, `__name__="cpu", host="d" 3 @1700000002000`,
		`__name__="mem", host="a" 100 @1700000000000`, `__name__="mem", host="b,c" 200 @1700000001000`, `__name__="mem", host="d" 300 @1700000002000`,
	}
	if got := rowLines(t, rows); !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Samples != 5 {
		t.Fatalf("Samples = %d; want 5", res.Samples)
	}
	for _, format := range []string{"", "1:label", "1:metric:m,2:time:unix_weeks", "1:label:host"} {
		if _, err := ParseCSV([]byte("a,1\n"), format, 1, rows); !errors.Is(err, ErrBadInput) {
			t.Errorf("format %q: error %v; want bad input", format, err)
		}
	}
	_ = math.NaN
}
