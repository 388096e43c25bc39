package remotewrite

import (
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/golang/snappy"
)

// encoder turns requests into the bodies of remote write 1.0: a
// prompb.WriteRequest, snappy-compressed.
type encoder struct {
	raw []byte
}

// encode returns the body of req.
func (e *encoder) encode(req request) []byte {
	wr := prompb.WriteRequest{Timeseries: req.series}
	e.raw = wr.MarshalProtobuf(e.raw[:0])
	return snappy.Encode(nil, e.raw)
}
