package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// OTLP/HTTP metrics (the OpenTelemetry protocol's HTTP binding): the
// request is an ExportMetricsServiceRequest in protobuf or JSON, and the
// answer is in the same encoding:
//   - 200 with an ExportMetricsServiceResponse, empty when everything was
//     stored, with partial_success (rejected_data_points, error_message)
//     when some data points were not: delta temporality, histograms
//     without buckets, series past a cardinality limit. OTLP clients do
//     not retry a partial success, which is right: those would be refused
//     again;
//   - 400 with a google.rpc.Status for malformed input or a request past
//     the samples limit (nothing of it is stored), 413 past the body size
//     limit, 415 for another Content-Type;
//   - 503 with Retry-After when the disk is full: where remote write and
//     the import API answer 507, OTLP clients retry only 429, 502, 503
//     and 504 and would drop the data on a 507.

const (
	mimeProtobuf = "application/x-protobuf"
	mimeJSON     = "application/json"
)

var otlpMetrics = newIngestMetrics("opentelemetry")

// The google.rpc.Code values of the answers.
const (
	rpcInvalidArgument   = 3
	rpcResourceExhausted = 8
	rpcInternal          = 13
	rpcUnavailable       = 14
)

// handleOTLP serves POST /opentelemetry/v1/metrics (and VictoriaMetrics'
// /opentelemetry/api/v1/push, Prometheus' /api/v1/otlp/v1/metrics).
func (s *Server) handleOTLP(c echo.Context) error {
	m := otlpMetrics
	m.requests.Inc()
	r := c.Request()
	isJSON := false
	switch ct, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); ct {
	case mimeProtobuf, "application/protobuf", "":
	case mimeJSON:
		isJSON = true
	default:
		m.rejected.Inc()
		return otlpStatus(c, false, http.StatusUnsupportedMediaType, fmt.Errorf(
			"Content-Type %q is not OTLP/HTTP: send %s (protobuf) or %s (OTLP/JSON)", ct, mimeProtobuf, mimeJSON))
	}
	fail := func(err error) error {
		code, err := classifyIngestError(m, err)
		return otlpStatus(c, isJSON, code, err)
	}
	bp := bodyPool.Get().(*[]byte)
	defer putBody(bp)
	body, err := readBody(r, (*bp)[:0], s.opts.MaxRequestBodyBytes)
	*bp = body
	if err != nil {
		return fail(err)
	}
	rows := rowsPool.Get().(*storage.Rows)
	defer putRows(rows)
	opts := ingest.OTLPOptions{JSON: isJSON, TargetInfoInterval: s.opts.LookbackDelta / 2}
	res, err := ingest.DecodeOTLP(body, opts, rows)
	if err != nil {
		return fail(err)
	}
	if err := s.checkSamples(rows, m, "Send smaller batches (OpenTelemetry SDKs: a shorter export interval; the Collector: a batch processor with a lower send_batch_max_size)."); err != nil {
		return fail(err)
	}
	rejected, reason := int64(res.RejectedPoints), res.RejectedReason
	if err := s.store(rows, m); err != nil {
		var limitErr *storage.LimitError
		if !errors.As(err, &limitErr) {
			return fail(err)
		}
		m.limited.Inc()
		// A limit refuses samples, and a histogram point is several: the
		// count is of samples here.
		rejected += int64(limitErr.Rejected)
		if reason != "" {
			reason += "; "
		}
		reason += err.Error()
	}
	s.storeMetadata(res.Metadata)
	return otlpSuccess(c, isJSON, rejected, reason)
}

// otlpSuccess answers 200 with an ExportMetricsServiceResponse.
func otlpSuccess(c echo.Context, isJSON bool, rejected int64, reason string) error {
	if isJSON {
		type partialSuccess struct {
			RejectedDataPoints string `json:"rejectedDataPoints"` // int64: a string in protobuf's JSON
			ErrorMessage       string `json:"errorMessage"`
		}
		var resp struct {
			PartialSuccess *partialSuccess `json:"partialSuccess,omitempty"`
		}
		if rejected > 0 || reason != "" {
			resp.PartialSuccess = &partialSuccess{RejectedDataPoints: strconv.FormatInt(rejected, 10), ErrorMessage: reason}
		}
		return c.JSON(http.StatusOK, resp)
	}
	var b []byte
	if rejected > 0 || reason != "" {
		var ps []byte
		ps = protowire.AppendTag(ps, 1, protowire.VarintType)
		ps = protowire.AppendVarint(ps, uint64(rejected))
		ps = protowire.AppendTag(ps, 2, protowire.BytesType)
		ps = protowire.AppendString(ps, reason)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, ps)
	}
	return c.Blob(http.StatusOK, mimeProtobuf, b)
}

// otlpStatus answers code with a google.rpc.Status holding err.
func otlpStatus(c echo.Context, isJSON bool, code int, err error) error {
	rpc := rpcInternal
	switch {
	case code == http.StatusInsufficientStorage:
		code, rpc = http.StatusServiceUnavailable, rpcUnavailable
		c.Response().Header().Set("Retry-After", "30")
	case code == http.StatusRequestEntityTooLarge:
		rpc = rpcResourceExhausted
	case code < 500:
		rpc = rpcInvalidArgument
	}
	msg := err.Error()
	if isJSON {
		return c.JSON(code, struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}{rpc, msg})
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(rpc))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, msg)
	return c.Blob(code, mimeProtobuf, b)
}
