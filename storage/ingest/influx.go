package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unsafe"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/influx"

	"github.com/vigil-monitoring/vigil/storage"
)

// InfluxOptions configures ParseInflux.
type InfluxOptions struct {
	// DB is the db (or bucket) query argument; it becomes the label db of
	// every series whose line has no db tag, as in VictoriaMetrics.
	DB string
	// Precision is the unit of the timestamps: ns (or n), us (u, µ), ms,
	// s, m or h. Empty guesses the unit of each timestamp from its size,
	// as VictoriaMetrics does.
	Precision string
	// Now is the time, in Unix milliseconds, of lines without a timestamp.
	Now int64
}

// ParseInflux parses InfluxDB line protocol, as InfluxDB 1.x /write and
// 2.x /api/v2/write accept it, with VictoriaMetrics' parser
// (lib/protoparser/influx) and appends one sample per field to rows:
// measurement cpu with field usage_idle is the series cpu_usage_idle, its
// tags are labels. Integers (5i), unsigned (5u), floats and booleans (1 or
// 0) are stored; string fields are stored when they hold a number (some
// agents quote numbers) and otherwise left out, since the store keeps
// numbers only.
//
// On error, an *InputError naming the line and showing it, nothing is
// appended.
func ParseInflux(data []byte, opts InfluxOptions, rows *storage.Rows) (Result, error) {
	mul, err := influxPrecision(opts.Precision)
	if err != nil {
		return Result{}, err
	}
	p := influxParserPool.Get().(*influxParser)
	defer func() {
		p.rows.Reset()
		clear(p.labels)
		influxParserPool.Put(p)
	}()
	return appendAll(rows, func() (Result, error) { return p.parse(data, opts, mul, rows) })
}

type influxParser struct {
	rows   influx.Rows
	labels []storage.Label
	quoted []influxFieldKind
}

var influxParserPool = sync.Pool{New: func() any { return &influxParser{} }}

// influxPrecision returns what a timestamp is multiplied by to give
// milliseconds: a positive m multiplies, a negative one divides by -m, 0
// means guessing.
func influxPrecision(precision string) (int64, error) {
	switch precision {
	case "":
		return 0, nil
	case "ns", "n":
		return -1e6, nil
	case "us", "u", "µ":
		return -1e3, nil
	case "ms":
		return 1, nil
	case "s":
		return 1e3, nil
	case "m":
		return 60e3, nil
	case "h":
		return 3600e3, nil
	}
	return 0, inputErrorf("precision=%q is not a precision; use ns, us, ms, s, m or h", precision)
}

// influxTimestamp converts a line's timestamp to milliseconds.
func influxTimestamp(ts, mul, now int64) int64 {
	switch {
	case ts == 0:
		// VictoriaMetrics' parser leaves 0 for a line without one.
		return now
	case mul > 0:
		return ts * mul
	case mul < 0:
		return ts / -mul
	}
	// Guess the unit from the size, as VictoriaMetrics does.
	switch {
	case ts >= 1e17:
		return ts / 1e6
	case ts >= 1e14:
		return ts / 1e3
	case ts >= 1e11:
		return ts
	}
	return ts * 1e3
}

func (p *influxParser) parse(data []byte, opts InfluxOptions, mul int64, rows *storage.Rows) (Result, error) {
	var res Result
	var name []byte
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = cutLine(data)
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimLeft(line, " \t")) == 0 || line[0] == '#' {
			continue
		}
		// The parser keeps strings pointing into line, which stays
		// unchanged until the row is appended below.
		s := unsafe.String(unsafe.SliceData(line), len(line))
		if err := p.rows.Unmarshal(s, false); err != nil {
			// The parser wraps the reason with the rest of the input.
			reason := err
			if inner := errors.Unwrap(err); inner != nil {
				reason = inner
			}
			return Result{}, lineErrorf(lineNo, "%v: %s; the line protocol is measurement[,tag=value...] field=value[,field=value...] [timestamp]",
				reason, quoteLine(line))
		}
		if len(p.rows.Rows) != 1 {
			continue
		}
		r := &p.rows.Rows[0]
		var err error
		if p.quoted, err = influxFieldKinds(p.quoted[:0], s); err != nil {
			return Result{}, lineErrorf(lineNo, "%v: %s", err, quoteLine(line))
		}
		if len(p.quoted) != len(r.Fields) {
			return Result{}, lineErrorf(lineNo, "Vigil read %d fields where the parser read %d; quote string values: %s",
				len(p.quoted), len(r.Fields), quoteLine(line))
		}
		ts := influxTimestamp(r.Timestamp, mul, opts.Now)
		p.labels = p.labels[:0]
		hasDB := false
		for _, t := range r.Tags {
			if t.Key == "db" {
				hasDB = true
			}
			p.labels = append(p.labels, storage.Label{Name: t.Key, Value: t.Value})
		}
		if !hasDB && opts.DB != "" {
			p.labels = append(p.labels, storage.Label{Name: "db", Value: opts.DB})
		}
		nameAt := len(p.labels)
		p.labels = append(p.labels, storage.Label{Name: metricNameLabel})
		for i, f := range r.Fields {
			if p.quoted[i] == influxFieldText {
				continue
			}
			name = append(name[:0], r.Measurement...)
			if len(name) > 0 {
				name = append(name, '_')
			}
			name = append(name, f.Key...)
			p.labels[nameAt].Value = string(name)
			if err := validateSeries(p.labels); err != nil {
				return Result{}, lineErrorf(lineNo, "field %q: %v: %s", f.Key, err, quoteLine(line))
			}
			if err := rows.Add(p.labels, ts, f.Value); err != nil {
				return Result{}, lineErrorf(lineNo, "field %q: %v: %s", f.Key, err, quoteLine(line))
			}
			res.Series++
			res.Samples++
		}
	}
	return res, nil
}

// quoteLine quotes a line for an error message, cut short.
func quoteLine(line []byte) string {
	const limit = 200
	if len(line) > limit {
		return strconv.Quote(string(line[:limit])) + "..."
	}
	return strconv.Quote(string(line))
}

// influxFieldKind tells a line's fields apart by what the store can keep.
type influxFieldKind uint8

const (
	influxFieldNumber     influxFieldKind = iota // 1.5, 5i, 5u, true
	influxFieldNumberText                        // "1.5": a number in quotes
	influxFieldText                              // "ok": a string
)

// influxFieldKinds appends the kind of each field of a line that
// VictoriaMetrics' parser accepted, in order. That parser reads a quoted
// string that is not a number as 0, and so an unquoted value that is not a
// number; this tells the first apart, to leave them out, and refuses the
// second, as InfluxDB does.
func influxFieldKinds(dst []influxFieldKind, line string) ([]influxFieldKind, error) {
	// The fields start after the first space not escaped by a backslash.
	i := 0
	for ; i < len(line) && line[i] != ' '; i++ {
		if line[i] == '\\' {
			i++
		}
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	keyStart := i
	for ; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
			continue
		case '=':
		default:
			continue
		}
		key := line[keyStart:i]
		i++
		if i < len(line) && line[i] == '"' {
			// A quoted value: up to the next quote not escaped.
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			kind := influxFieldText
			if _, err := strconv.ParseFloat(line[i+1:min(j, len(line))], 64); err == nil {
				kind = influxFieldNumberText
			}
			dst = append(dst, kind)
			i = j + 1
		} else {
			j := i
			for j < len(line) && line[j] != ',' && line[j] != ' ' {
				j++
			}
			if !influxNumber(line[i:j]) {
				return dst, fmt.Errorf("field %q: %q is neither a number (1.5, 5i, 5u), a boolean nor a quoted string", key, line[i:j])
			}
			dst = append(dst, influxFieldNumber)
			i = j
		}
		// i is at the separator after the value: a comma or the space
		// before the timestamp.
		if i >= len(line) || line[i] != ',' {
			return dst, nil
		}
		keyStart = i + 1
	}
	return dst, nil
}

// influxNumber reports whether v is an unquoted field value of the line
// protocol: a float, an integer (5i), an unsigned (5u) or a boolean.
func influxNumber(v string) bool {
	switch v {
	case "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE":
		return true
	case "":
		return false
	}
	var err error
	switch v[len(v)-1] {
	case 'i':
		_, err = strconv.ParseInt(v[:len(v)-1], 10, 64)
	case 'u':
		_, err = strconv.ParseUint(v[:len(v)-1], 10, 64)
	default:
		_, err = strconv.ParseFloat(v, 64)
	}
	return err == nil
}
