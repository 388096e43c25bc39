package ingest

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/golang/snappy"

	"github.com/vigil-monitoring/vigil/storage"
)

// MaxRemoteWriteSize is the largest decompressed remote write request that
// DecodeRemoteWrite accepts. Prometheus sends a few hundred kilobytes per
// request (max_samples_per_send: 2000), so this only stops a body whose
// snappy header claims gigabytes from allocating them.
const MaxRemoteWriteSize = 64 << 20

// maxSnappyRatio bounds how much a snappy block can expand: the densest
// element, a 3-byte copy, yields 64 bytes. A header claiming more than this
// times the body's size is a lie, rejected before allocating.
const maxSnappyRatio = 22

// snappyStreamMagic starts a body in snappy's framed (stream) format, which
// some clients send by mistake; remote write uses the block format.
var snappyStreamMagic = []byte("\xff\x06\x00\x00sNaPpY")

// DecodeRemoteWrite decodes a Prometheus remote write 1.0 request — a
// snappy block-compressed prometheus.WriteRequest protobuf — and appends
// its samples to rows.
//
// Native histograms are stored as VictoriaMetrics stores them: _count and
// _sum series plus _bucket series with a vmrange label. Metadata entries
// are returned in the Result, not stored as samples.
//
// On error, which is always an *InputError, nothing is appended: every
// series is checked before the first one is added.
func DecodeRemoteWrite(body []byte, rows *storage.Rows) (Result, error) {
	d := getRemoteWriteDecoder()
	defer putRemoteWriteDecoder(d)

	wr, err := d.decode(body)
	if err != nil {
		return Result{}, err
	}
	// One pass: storage validates each series as it adds it, and a bad
	// series rolls back what this request added before it. Validating
	// everything first, then adding, checked every label twice.
	start := rows.Len()
	res := Result{Series: len(wr.Timeseries)}
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		err := rows.AddSeries(ts.Labels, ts.Samples)
		if err == nil {
			if name, dup := duplicateLabelName(ts.Labels); dup {
				err = fmt.Errorf("label %q appears more than once", name)
			}
		}
		if err != nil {
			rows.Truncate(start)
			return Result{}, inputErrorf("remote write series %d of %d, %s: %w; nothing of this request was stored",
				i+1, len(wr.Timeseries), seriesString(ts.Labels), err)
		}
		res.Samples += len(ts.Samples)
	}
	res.Metadata = remoteWriteMetadata(wr.Metadata)
	return res, nil
}

// remoteWriteDecoder holds the buffers of one DecodeRemoteWrite call. They
// are pooled because remote write is the hottest ingestion path: a
// Prometheus sends a request every few hundred milliseconds.
type remoteWriteDecoder struct {
	// buf holds the decompressed body. The labels of the WriteRequest that
	// decode returns point into it, so they are valid only until the
	// decoder is put back into the pool.
	buf []byte
	wru prompb.WriteRequestUnmarshaler
}

var remoteWriteDecoderPool sync.Pool

func getRemoteWriteDecoder() *remoteWriteDecoder {
	if d, ok := remoteWriteDecoderPool.Get().(*remoteWriteDecoder); ok {
		return d
	}
	return &remoteWriteDecoder{}
}

// maxPooledBuffer is the largest decompression buffer kept for reuse, so
// that one huge request does not pin its memory for the life of the process.
const maxPooledBuffer = 8 << 20

func putRemoteWriteDecoder(d *remoteWriteDecoder) {
	d.wru.Reset()
	if cap(d.buf) > maxPooledBuffer {
		d.buf = nil
	}
	d.buf = d.buf[:0]
	remoteWriteDecoderPool.Put(d)
}

// decode decompresses and unmarshals body. The returned request is valid
// until d is reset or put back into the pool.
func (d *remoteWriteDecoder) decode(body []byte) (*prompb.WriteRequest, error) {
	if bytes.HasPrefix(body, snappyStreamMagic) {
		return nil, inputErrorf("cannot decompress the remote write body: it is in snappy's framed (stream) format; " +
			"remote write needs snappy block format (Go: snappy.Encode, not snappy.NewWriter)")
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, inputErrorf("cannot decompress the remote write body (%d bytes): %w; "+
			"the body must be snappy block-compressed (Content-Encoding: snappy)", len(body), err)
	}
	if n > MaxRemoteWriteSize {
		return nil, inputErrorf("the remote write body decompresses to %d bytes; the limit is %d: "+
			"send smaller batches (Prometheus: lower queue_config.max_samples_per_send)", n, MaxRemoteWriteSize)
	}
	if n > maxSnappyRatio*len(body) {
		return nil, inputErrorf("cannot decompress the remote write body (%d bytes): its snappy header claims %d bytes, "+
			"more than snappy can encode in it; the body must be snappy block-compressed", len(body), n)
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	buf, err := snappy.Decode(d.buf[:cap(d.buf)], body)
	if err != nil {
		return nil, inputErrorf("cannot decompress the remote write body (%d bytes): %w; "+
			"the body must be snappy block-compressed (Content-Encoding: snappy)", len(body), err)
	}
	d.buf = buf
	wr, err := d.wru.UnmarshalProtobuf(buf)
	if err != nil {
		// The unmarshaler reuses the labels and samples of earlier
		// requests without zeroing the fields a message leaves out, and a
		// failed decode leaves entries that its Reset does not clear: the
		// next request would take their values for absent (zero) fields,
		// storing a sample of 0 as the failed request's value. Start over.
		d.wru = prompb.WriteRequestUnmarshaler{}
		return nil, inputErrorf("cannot decode the remote write request (%d bytes after snappy): %w; "+
			"the body must be a protobuf prometheus.WriteRequest (remote write 1.0)", len(buf), err)
	}
	return wr, nil
}

// remoteWriteMetadata copies the request's metadata out of the pooled
// buffer that its strings point into (strings.Clone copies).
func remoteWriteMetadata(mms []prompb.MetricMetadata) []Metadata {
	if len(mms) == 0 {
		return nil
	}
	md := make([]Metadata, 0, len(mms))
	for i := range mms {
		mm := &mms[i]
		md = append(md, Metadata{
			Metric: strings.Clone(mm.MetricFamilyName),
			Type:   storage.MetricTypeName(mm.Type),
			Help:   strings.Clone(mm.Help),
			Unit:   strings.Clone(mm.Unit),
		})
	}
	return md
}
