package remotewrite

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/klauspost/compress/s2"
)

// encoder turns requests into the bodies of remote write 1.0: a
// prompb.WriteRequest, snappy-compressed. It writes the protobuf itself,
// straight from a request's samples, with each series' labels encoded
// once (sentSeries.pb) rather than for every request; and it reuses its
// buffers from one request to the next. One encoder serves one goroutine.
type encoder struct {
	raw  []byte
	body []byte
}

// The protobuf tags of the remote write 1.0 messages (field number << 3 |
// wire type).
const (
	tagWriteRequestTimeseries = 1<<3 | 2 // WriteRequest.timeseries: TimeSeries
	tagTimeSeriesLabels       = 1<<3 | 2 // TimeSeries.labels: Label
	tagTimeSeriesSamples      = 2<<3 | 2 // TimeSeries.samples: Sample
	tagLabelName              = 1<<3 | 2 // Label.name: string
	tagLabelValue             = 2<<3 | 2 // Label.value: string
	tagSampleValue            = 1<<3 | 1 // Sample.value: double
	tagSampleTimestamp        = 2 << 3   // Sample.timestamp: int64 (wire type 0, varint)
)

// encode returns the body of req, valid until the next call.
func (e *encoder) encode(req request) []byte {
	raw := e.raw[:0]
	for _, p := range req.pieces {
		size := len(p.s.pb)
		for _, s := range p.samples {
			size += 2 + sampleSize(s.Timestamp, s.Value)
		}
		raw = append(raw, tagWriteRequestTimeseries)
		raw = binary.AppendUvarint(raw, uint64(size))
		raw = append(raw, p.s.pb...)
		for _, s := range p.samples {
			raw = appendSample(raw, s.Timestamp, s.Value)
		}
	}
	e.raw = raw
	// S2's snappy-compatible encoding: any snappy decoder reads it, and it
	// encodes faster than github.com/golang/snappy.
	if n := s2.MaxEncodedLen(len(raw)); cap(e.body) < n {
		e.body = make([]byte, n)
	}
	e.body = s2.EncodeSnappy(e.body[:cap(e.body)], raw)
	return e.body
}

// sampleSize is the encoded size of a Sample message. Like the generated
// protobuf code, it leaves out a zero timestamp and a +0 value (a -0 is
// written, so that it arrives as -0).
func sampleSize(ts int64, v float64) int {
	n := 0
	if math.Float64bits(v) != 0 {
		n += 1 + 8
	}
	if ts != 0 {
		n += 1 + uvarintSize(uint64(ts))
	}
	return n
}

// appendSample appends a TimeSeries.samples field: a Sample is at most 20
// bytes, so its length takes one byte.
func appendSample(dst []byte, ts int64, v float64) []byte {
	dst = append(dst, tagTimeSeriesSamples, byte(sampleSize(ts, v)))
	if b := math.Float64bits(v); b != 0 {
		dst = append(dst, tagSampleValue)
		dst = binary.LittleEndian.AppendUint64(dst, b)
	}
	if ts != 0 {
		dst = append(dst, tagSampleTimestamp)
		dst = binary.AppendUvarint(dst, uint64(ts))
	}
	return dst
}

// appendLabelsPB appends labels as the repeated labels field of a
// TimeSeries message.
func appendLabelsPB(dst []byte, labels []prompb.Label) []byte {
	for _, l := range labels {
		size := stringFieldSize(l.Name) + stringFieldSize(l.Value)
		dst = append(dst, tagTimeSeriesLabels)
		dst = binary.AppendUvarint(dst, uint64(size))
		dst = appendStringField(dst, tagLabelName, l.Name)
		dst = appendStringField(dst, tagLabelValue, l.Value)
	}
	return dst
}

// stringFieldSize is the encoded size of a string field; an empty string
// is left out.
func stringFieldSize(s string) int {
	if s == "" {
		return 0
	}
	return 1 + uvarintSize(uint64(len(s))) + len(s)
}

func appendStringField(dst []byte, tag byte, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// uvarintSize is the length of x as a protobuf varint.
func uvarintSize(x uint64) int {
	return (bits.Len64(x|1) + 6) / 7
}
