package web

import (
	"encoding/json"
	"math"
	"runtime"
	"strconv"
	"sync"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/stats"
	"github.com/valyala/bytebufferpool"

	"github.com/vigil-monitoring/vigil/internal/jsonstr"
)

// This file writes query results as JSON by appending to a []byte, without
// reflection: the byte-for-byte output of Prometheus' jsoniter encoders
// (web/api/v1/json_codec.go and util/jsonutil), several times faster than
// encoding/json on large matrices.

// queryData is the data of /api/v1/query and /api/v1/query_range.
type queryData struct {
	ResultType parser.ValueType
	Result     parser.Value
	Stats      stats.QueryStats // nil unless the request asked for stats
}

func (d *queryData) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"resultType":`...)
	b = jsonstr.Append(b, string(d.ResultType))
	b = append(b, `,"result":`...)
	var err error
	b, err = appendValue(b, d.Result)
	if err != nil {
		return b, err
	}
	if d.Stats != nil {
		enc, err := json.Marshal(d.Stats)
		if err != nil {
			return b, err
		}
		b = append(b, `,"stats":`...)
		b = append(b, enc...)
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v parser.Value) ([]byte, error) {
	switch v := v.(type) {
	case promql.Matrix:
		return appendMatrix(b, v), nil
	case promql.Vector:
		return appendVector(b, v), nil
	case promql.Scalar:
		// Prometheus encodes scalars and strings with encoding/json:
		// the timestamp as a JSON number, the value with 'f' formatting.
		b = append(b, '[')
		b = appendJSONFloat(b, float64(v.T)/1000)
		b = append(b, `,"`...)
		b = strconv.AppendFloat(b, v.V, 'f', -1, 64)
		return append(b, `"]`...), nil
	case promql.String:
		b = append(b, '[')
		b = appendJSONFloat(b, float64(v.T)/1000)
		b = append(b, ',')
		b = jsonstr.Append(b, v.V)
		return append(b, ']'), nil
	default:
		enc, err := json.Marshal(v)
		return append(b, enc...), err
	}
}

// A matrix with at least parallelMinPoints samples is encoded by several
// goroutines, each taking a run of series, to cut the latency of large
// range queries; the parts are then joined in order.
const parallelMinPoints = 20_000

// appendMatrix writes [series,...]; an empty matrix is [].
func appendMatrix(b []byte, m promql.Matrix) []byte {
	b = append(b, '[')
	workers := min(runtime.GOMAXPROCS(0), 8)
	if workers < 2 || len(m) < 2*workers || matrixPoints(m) < parallelMinPoints {
		enc := getSeriesEncoder()
		for i := range m {
			if i > 0 {
				b = append(b, ',')
			}
			b = enc.appendSeries(b, &m[i])
		}
		putSeriesEncoder(enc)
		return append(b, ']')
	}

	parts := make([]*bytebufferpool.ByteBuffer, workers)
	per := (len(m) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range parts {
		lo, hi := w*per, min((w+1)*per, len(m))
		buf := bytebufferpool.Get()
		parts[w] = buf
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			enc := getSeriesEncoder()
			out := buf.B[:0]
			for i := lo; i < hi; i++ {
				if i > lo {
					out = append(out, ',')
				}
				out = enc.appendSeries(out, &m[i])
			}
			buf.B = out
			putSeriesEncoder(enc)
		})
	}
	wg.Wait()
	first := true
	for _, part := range parts {
		if len(part.B) > 0 {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, part.B...)
		}
		bytebufferpool.Put(part)
	}
	return append(b, ']')
}

func matrixPoints(m promql.Matrix) int {
	n := 0
	for i := range m {
		n += len(m[i].Floats) + len(m[i].Histograms)
	}
	return n
}

// seriesEncoder writes series, remembering the formatted timestamps: the
// series of a range query share their timestamps, and formatting them is a
// third of the work. A seriesEncoder is not safe for concurrent use.
type seriesEncoder struct {
	ts [1 << 12]tsEntry // direct-mapped by a hash of the timestamp
}

type tsEntry struct {
	t int64
	n uint8 // length of b in use; 0 marks an empty entry
	b [23]byte
}

var seriesEncoders = sync.Pool{New: func() any { return new(seriesEncoder) }}

func getSeriesEncoder() *seriesEncoder    { return seriesEncoders.Get().(*seriesEncoder) }
func putSeriesEncoder(enc *seriesEncoder) { seriesEncoders.Put(enc) }

// appendTimestamp is appendTimestamp through the cache.
func (enc *seriesEncoder) appendTimestamp(b []byte, t int64) []byte {
	e := &enc.ts[(uint64(t)*0x9E3779B97F4A7C15)>>(64-12)]
	if e.n > 0 && e.t == t {
		return append(b, e.b[:e.n]...)
	}
	start := len(b)
	b = appendTimestamp(b, t)
	if n := len(b) - start; n <= len(e.b) {
		e.t, e.n = t, uint8(copy(e.b[:], b[start:]))
	}
	return b
}

// appendSeries writes {"metric":{...},"values":[[t,"v"],...],"histograms":[[t,{...}],...]},
// leaving out values or histograms when there are none. A value equal to
// the previous one is copied rather than formatted again.
func (enc *seriesEncoder) appendSeries(b []byte, s *promql.Series) []byte {
	b = append(b, `{"metric":`...)
	b = appendLabels(b, s.Metric)
	if len(s.Floats) > 0 {
		b = append(b, `,"values":[`...)
		var prevBits uint64
		prevStart, prevEnd := -1, -1
		for i, p := range s.Floats {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = enc.appendTimestamp(b, p.T)
			b = append(b, ',')
			if bits := math.Float64bits(p.F); prevStart >= 0 && bits == prevBits {
				b = append(b, b[prevStart:prevEnd]...)
			} else {
				prevStart = len(b)
				b = appendSampleValue(b, p.F)
				prevBits, prevEnd = bits, len(b)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	if len(s.Histograms) > 0 {
		b = append(b, `,"histograms":[`...)
		for i, p := range s.Histograms {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = enc.appendTimestamp(b, p.T)
			b = append(b, ',')
			b = appendHistogram(b, p.H)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendVector writes [sample,...]; an empty vector is [].
func appendVector(b []byte, v promql.Vector) []byte {
	b = append(b, '[')
	for i := range v {
		if i > 0 {
			b = append(b, ',')
		}
		s := &v[i]
		b = append(b, `{"metric":`...)
		b = appendLabels(b, s.Metric)
		if s.H == nil {
			b = append(b, `,"value":[`...)
			b = appendTimestamp(b, s.T)
			b = append(b, ',')
			b = appendSampleValue(b, s.F)
		} else {
			b = append(b, `,"histogram":[`...)
			b = appendTimestamp(b, s.T)
			b = append(b, ',')
			b = appendHistogram(b, s.H)
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

// appendLabels writes {"name":"value",...} in the labels' order.
func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonstr.Append(b, l.Name)
		b = append(b, ':')
		b = jsonstr.Append(b, l.Value)
	})
	return append(b, '}')
}

// appendTimestamp writes a millisecond timestamp as seconds, as
// jsonutil.MarshalTimestamp does: the fraction, when not zero, always has
// three digits (1.500, not 1.5).
func appendTimestamp(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// appendSampleValue writes a sample value as a JSON string, as
// jsonutil.MarshalFloat does: shortest representation, exponent notation
// below 1e-6 and from 1e21, and "+Inf", "-Inf", "NaN".
func appendSampleValue(b []byte, f float64) []byte {
	b = append(b, '"')
	// Integers below 1e15 (exact in a float64) format as integers: a
	// faster path for counters, gauges and 0/1 values.
	if f == math.Trunc(f) && f > -1e15 && f < 1e15 && (f != 0 || !math.Signbit(f)) {
		b = strconv.AppendInt(b, int64(f), 10)
		return append(b, '"')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	return append(b, '"')
}

// appendJSONFloat writes a finite float as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendHistogram writes a native histogram as jsonutil.MarshalHistogram
// does: count, sum and the non-empty buckets as [boundaries, lower, upper,
// count], boundaries being 0 (upper inclusive), 1 (lower inclusive),
// 2 (exclusive) or 3 (inclusive).
func appendHistogram(b []byte, h *histogram.FloatHistogram) []byte {
	b = append(b, `{"count":`...)
	b = appendSampleValue(b, h.Count)
	b = append(b, `,"sum":`...)
	b = appendSampleValue(b, h.Sum)
	found := false
	it := h.AllBucketIterator()
	for it.Next() {
		bucket := it.At()
		if bucket.Count == 0 {
			continue
		}
		if !found {
			b = append(b, `,"buckets":[`...)
			found = true
		} else {
			b = append(b, ',')
		}
		boundaries := 2
		switch {
		case bucket.LowerInclusive && bucket.UpperInclusive:
			boundaries = 3
		case bucket.LowerInclusive:
			boundaries = 1
		case bucket.UpperInclusive:
			boundaries = 0
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(boundaries), 10)
		b = append(b, ',')
		b = appendSampleValue(b, bucket.Lower)
		b = append(b, ',')
		b = appendSampleValue(b, bucket.Upper)
		b = append(b, ',')
		b = appendSampleValue(b, bucket.Count)
		b = append(b, ']')
	}
	if found {
		b = append(b, ']')
	}
	return append(b, '}')
}

// stringList is a []string answered as a JSON array ([] when empty).
type stringList []string

func (l stringList) appendJSON(b []byte) ([]byte, error) { return appendStringArray(b, l), nil }

func appendStringArray(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, s)
	}
	return append(b, ']')
}

// labelsList is a list of label sets answered as [{...},...].
type labelsList []labels.Labels

func (l labelsList) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '[')
	for i, ls := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLabels(b, ls)
	}
	return append(b, ']'), nil
}
