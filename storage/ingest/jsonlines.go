package ingest

import (
	"bytes"
	"fmt"
	"math"
	"sync"

	"github.com/valyala/fastjson"

	"github.com/vigil-monitoring/vigil/storage"
)

// ParseJSONLines parses VictoriaMetrics' JSON lines import format
// (/api/v1/import), one series per line:
//
//	{"metric":{"__name__":"up","job":"api"},"values":[1,0.5],"timestamps":[1700000000000,1700000015000]}
//
// Timestamps are Unix milliseconds. A value is a JSON number; null is a
// staleness marker (VictoriaMetrics exports the staleness markers it keeps,
// its only NaNs, as null); the strings "NaN" (also "nan", "null", "Null")
// are a plain NaN, "Inf", "+Inf", "-Inf", "Infinity" and "-Infinity" the
// infinities. This is what /api/v1/export writes, so that an export
// imports back sample for sample.
//
// VictoriaMetrics' own parser (lib/protoparser/vmimport) logs and skips a
// bad line and takes a label value that is not a string as empty; Vigil
// refuses the request instead, naming the line and the field, so this
// parser follows the format with fastjson, the JSON parser VictoriaMetrics
// uses for it.
//
// On error, an *InputError naming the line, nothing is appended.
func ParseJSONLines(data []byte, rows *storage.Rows) (Result, error) {
	p := jsonLinesPool.Get().(*jsonLinesParser)
	defer p.put()
	return appendAll(rows, func() (Result, error) { return p.parse(data, rows) })
}

type jsonLinesParser struct {
	p       fastjson.Parser
	labels  []storage.Label
	samples []storage.Sample
}

var jsonLinesPool = sync.Pool{New: func() any { return &jsonLinesParser{} }}

func (p *jsonLinesParser) put() {
	clear(p.labels)
	p.labels = p.labels[:0]
	if cap(p.samples) > 1<<20 {
		p.samples = nil
	}
	jsonLinesPool.Put(p)
}

func (p *jsonLinesParser) parse(data []byte, rows *storage.Rows) (Result, error) {
	var res Result
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = cutLine(data)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := p.parseLine(line); err != nil {
			return Result{}, lineErrorf(lineNo, "%v; a line is {\"metric\":{\"__name__\":\"name\",...},\"values\":[...],\"timestamps\":[...]}", err)
		}
		if err := validateSeries(p.labels); err != nil {
			return Result{}, lineErrorf(lineNo, "series %s: %v", seriesString(p.labels), err)
		}
		if err := rows.AddSeries(p.labels, p.samples); err != nil {
			return Result{}, lineErrorf(lineNo, "series %s: %v", seriesString(p.labels), err)
		}
		res.Series++
		res.Samples += len(p.samples)
	}
	return res, nil
}

// parseLine reads one line into p.labels and p.samples. The label strings
// are copies: fastjson's values live only until the next Parse.
func (p *jsonLinesParser) parseLine(line []byte) error {
	v, err := p.p.ParseBytes(line)
	if err != nil {
		return fmt.Errorf("invalid JSON: %w: %s", err, quoteLine(line))
	}
	if v.Type() != fastjson.TypeObject {
		return fmt.Errorf("the line is a JSON %s, not an object: %s", v.Type(), quoteLine(line))
	}
	metric := v.Get("metric")
	if metric == nil || metric.Type() != fastjson.TypeObject {
		return fmt.Errorf("missing \"metric\" object: %s", quoteLine(line))
	}
	p.labels = p.labels[:0]
	obj, _ := metric.Object()
	var labelErr error
	obj.Visit(func(key []byte, lv *fastjson.Value) {
		if labelErr != nil {
			return
		}
		s, err := lv.StringBytes()
		if err != nil {
			labelErr = fmt.Errorf("metric: label %q: the value must be a string, not %s", key, lv.Type())
			return
		}
		if len(key) == 0 {
			labelErr = fmt.Errorf("metric: a label with an empty name (value %q)", s)
			return
		}
		p.labels = append(p.labels, storage.Label{Name: string(key), Value: string(s)})
	})
	if labelErr != nil {
		return labelErr
	}
	values, err := jsonArray(v, "values")
	if err != nil {
		return err
	}
	timestamps, err := jsonArray(v, "timestamps")
	if err != nil {
		return err
	}
	if len(values) != len(timestamps) {
		return fmt.Errorf("%d values but %d timestamps; they must pair up", len(values), len(timestamps))
	}
	p.samples = p.samples[:0]
	for i := range values {
		f, err := jsonSampleValue(values[i])
		if err != nil {
			return fmt.Errorf("values[%d]: %w", i, err)
		}
		ts, err := timestamps[i].Int64()
		if err != nil {
			return fmt.Errorf("timestamps[%d]: %s is not a Unix time in milliseconds: %w", i, timestamps[i], err)
		}
		p.samples = append(p.samples, storage.Sample{Value: f, Timestamp: ts})
	}
	return nil
}

func jsonArray(v *fastjson.Value, key string) ([]*fastjson.Value, error) {
	a := v.Get(key)
	if a == nil {
		return nil, fmt.Errorf("missing %q array", key)
	}
	vs, err := a.Array()
	if err != nil {
		return nil, fmt.Errorf("%q must be an array, not %s", key, a.Type())
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%q is empty", key)
	}
	return vs, nil
}

// jsonSampleValue reads a value as the doc of ParseJSONLines says.
func jsonSampleValue(v *fastjson.Value) (float64, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return v.Float64()
	case fastjson.TypeNull:
		return staleNaN, nil
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		switch string(s) {
		case "NaN", "nan", "null", "Null":
			return math.NaN(), nil
		case "Inf", "+Inf", "inf", "+inf", "Infinity", "+Infinity", "infinity":
			return math.Inf(1), nil
		case "-Inf", "-inf", "-Infinity", "-infinity":
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("%q is not a number (strings may be NaN, Inf, -Inf, Infinity or -Infinity)", s)
	}
	return 0, fmt.Errorf("%s is not a number", v)
}
