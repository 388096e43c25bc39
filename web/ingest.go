package web

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// The ingestion endpoints answer as the systems they imitate: remote write
// and the import API with 204 and plain-text errors, the Pushgateway API
// with 200/202, OTLP and InfluxDB in their own shapes (ingest_otlp.go,
// ingest_influx.go). Bad input is 400 and nothing of the request is stored; a
// full disk is 507, which remote-write clients retry.
//
// Limits (see storage/limits.go for the cardinality limiter):
//   - A remote write or import request with more samples than
//     Options.MaxRequestSamples is 400 and nothing of it is stored.
//   - Series refused by the cardinality limits, and samples older than the
//     retention or more than 2 days ahead: the rest of the request is
//     stored and the answer is 400 naming what was refused and why.
//     (Prometheus' remote-write receiver answers 400 for its out-of-bounds
//     samples too; VictoriaMetrics drops them and answers 204.)
//     This is what Grafana Mimir answers for its per-tenant and per-metric
//     series limits; Prometheus drops a batch answered with 4xx instead of
//     retrying it, which is right for series that would be refused again,
//     and logs the message. (VictoriaMetrics' -storage.maxHourlySeries
//     answers 204 and only logs: the client would never know.) The
//     Pushgateway API answers the same 400 when the pushed values hit a
//     limit; the group is kept and written again on every interval.

func (s *Server) registerIngest(e *echo.Echo) {
	e.POST("/api/v1/write", s.handleRemoteWrite)
	e.POST("/api/v1/import/prometheus", s.handleImportPrometheus)
	e.POST("/api/v1/import", s.handleImportJSON)
	e.POST("/api/v1/import/csv", s.handleImportCSV)
	for _, path := range []string{"/api/v1/export"} {
		e.GET(path, s.export)
		e.POST(path, s.export)
	}
	// OTLP/HTTP, at the path its exporters default to under a base URL
	// and at VictoriaMetrics' and Prometheus' names for it, so that an
	// exporter pointed at either keeps working.
	for _, path := range []string{"/opentelemetry/v1/metrics", "/opentelemetry/api/v1/push", "/api/v1/otlp/v1/metrics"} {
		e.POST(path, s.handleOTLP)
	}
	// InfluxDB 1.x and 2.x, bare and under /influx as VictoriaMetrics
	// serves them.
	for _, path := range []string{"/write", "/influx/write", "/api/v2/write", "/influx/api/v2/write"} {
		e.POST(path, s.handleInfluxWrite)
	}
	for _, path := range []string{"/ping", "/influx/ping"} {
		e.GET(path, s.handleInfluxPing)
		e.HEAD(path, s.handleInfluxPing)
	}
	// The bare /metrics/job routes only exist to say what is missing.
	for _, prefix := range []string{"/metrics/job", "/metrics/job/*", "/metrics/job@base64/*"} {
		e.PUT(prefix, s.handlePush)
		e.POST(prefix, s.handlePush)
		e.DELETE(prefix, s.handlePush)
	}
}

var rowsPool = sync.Pool{New: func() any { return &storage.Rows{} }}

// bodyPool holds request body buffers. Buffers over 16 MiB are dropped
// rather than kept, so one large request does not pin its memory.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 64*1024); return &b }}

// readBody appends the request body to dst, decompressed when its
// Content-Encoding is gzip. The decompressed body is bounded by limit too
// (an *http.MaxBytesError past it), so that a small gzip bomb cannot fill
// the memory; the compressed one is bounded by the server's MaxBytes.
func readBody(r *http.Request, dst []byte, limit int64) ([]byte, error) {
	var body io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return dst, fmt.Errorf("%w: Content-Encoding is gzip but the body is not: %v", ingest.ErrBadInput, err)
		}
		defer zr.Close()
		body = &limitedReader{r: zr, left: limit}
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// limitedReader fails with *http.MaxBytesError once more than left bytes
// were read.
type limitedReader struct {
	r    io.Reader
	left int64
	read int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.left {
		return n, &http.MaxBytesError{Limit: l.left}
	}
	if err != nil && err != io.EOF && !isBodyTooLarge(err) {
		err = fmt.Errorf("%w: cannot decompress the gzip body: %v", ingest.ErrBadInput, err)
	}
	return n, err
}

// ingestMetrics counts samples and requests per protocol. The rows the
// cardinality limits refuse are counted by storage, in
// vigil_rows_rejected_total{reason="series_limit|metric_series_limit"}.
type ingestMetrics struct {
	rows        *metrics.Counter
	requests    *metrics.Counter
	rejected    *metrics.Counter // requests refused for bad input
	limited     *metrics.Counter // requests refused, wholly or partly, by a limit
	failed      *metrics.Counter // requests refused for the server's reasons
	rowsStore   *metrics.Counter // rows refused because the store could not take them
	rowsSamples *metrics.Counter // rows refused by MaxRequestSamples
}

func newIngestMetrics(protocol string) *ingestMetrics {
	l := `{protocol="` + protocol + `"}`
	reason := func(name, reason string) *metrics.Counter {
		return metrics.GetOrCreateCounter(name + `{protocol="` + protocol + `",reason="` + reason + `"}`)
	}
	return &ingestMetrics{
		rows:        metrics.GetOrCreateCounter(`vigil_rows_ingested_total` + l),
		requests:    metrics.GetOrCreateCounter(`vigil_ingest_requests_total` + l),
		rejected:    reason(`vigil_ingest_requests_rejected_total`, "bad_input"),
		limited:     reason(`vigil_ingest_requests_rejected_total`, "limits"),
		failed:      reason(`vigil_ingest_requests_rejected_total`, "server"),
		rowsStore:   reason(`vigil_rows_rejected_total`, "storage_error"),
		rowsSamples: reason(`vigil_rows_rejected_total`, "samples_per_request"),
	}
}

var (
	remoteWriteMetrics = newIngestMetrics("remote_write")
	importMetrics      = newIngestMetrics("prometheus_text")
	pushMetrics        = newIngestMetrics("pushgateway")
)

// ingestError writes err as plain text with the status it deserves and
// counts it.
func ingestError(c echo.Context, m *ingestMetrics, err error) error {
	code, err := classifyIngestError(m, err)
	return c.String(code, err.Error()+"\n")
}

// classifyIngestError counts a failed ingestion request and returns the
// status it deserves and the message to answer with.
func classifyIngestError(m *ingestMetrics, err error) (int, error) {
	code := http.StatusInternalServerError
	var limitErr *storage.LimitError
	switch {
	case errors.Is(err, ingest.ErrBadInput):
		code = http.StatusBadRequest
	case errors.Is(err, errTooManySamples), errors.As(err, &limitErr):
		m.limited.Inc()
		return http.StatusBadRequest, err
	case isBodyTooLarge(err):
		var mbe *http.MaxBytesError
		errors.As(err, &mbe)
		err = errors.New(bodyTooLargeMessage(mbe.Limit))
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, storage.ErrReadOnly), errors.Is(err, storage.ErrDiskFull):
		code = http.StatusInsufficientStorage
	}
	if code < 500 {
		m.rejected.Inc()
	} else {
		m.failed.Inc()
	}
	return code, err
}

// store appends rows and counts them. A *storage.LimitError means that
// the rows it does not name were stored.
func (s *Server) store(rows *storage.Rows, m *ingestMetrics) error {
	n := rows.Len()
	if err := s.deps.Storage.Append(rows); err != nil {
		var limitErr *storage.LimitError
		if errors.As(err, &limitErr) {
			m.rows.Add(limitErr.Stored)
		} else {
			m.rowsStore.Add(n)
		}
		return err
	}
	m.rows.Add(n)
	return nil
}

// errTooManySamples matches the error of checkSamples.
var errTooManySamples = errors.New("too many samples in one request")

// checkSamples refuses a request whose rows exceed MaxRequestSamples;
// advice says how the client sends smaller ones.
func (s *Server) checkSamples(rows *storage.Rows, m *ingestMetrics, advice string) error {
	limit := s.opts.MaxRequestSamples
	if limit <= 0 || rows.Len() <= limit {
		return nil
	}
	m.rowsSamples.Add(rows.Len())
	return fmt.Errorf("%w: the request holds %d samples and the limit is %d (--limits.max-samples-per-request); nothing of it was stored. %s",
		errTooManySamples, rows.Len(), limit, advice)
}

// handleRemoteWrite serves Prometheus remote write 1.0: a snappy-compressed
// protobuf WriteRequest.
func (s *Server) handleRemoteWrite(c echo.Context) error {
	return s.ingestBody(c, remoteWriteMetrics, ingest.DecodeRemoteWrite,
		"Send smaller batches: lower queue_config.max_samples_per_send in the remote_write section of prometheus.yml (default 2000).")
}

// handleImportPrometheus serves VictoriaMetrics' /api/v1/import/prometheus:
// the text exposition format with optional timestamps. Lines without one
// get the `timestamp` query arg (Unix seconds or milliseconds, as
// VictoriaMetrics takes it) or the time of the request; every
// `extra_label=name=value` is added to each series, replacing a label of
// the same name.
func (s *Server) handleImportPrometheus(c echo.Context) error {
	m := importMetrics
	q := c.Request().URL.Query()
	extra, err := parseExtraLabels(q["extra_label"])
	if err != nil {
		m.requests.Inc()
		return ingestError(c, m, err)
	}
	ts := time.Now().UnixMilli()
	if v := q.Get("timestamp"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			m.requests.Inc()
			return ingestError(c, m, fmt.Errorf("%w: invalid timestamp=%q: %v", ingest.ErrBadInput, v, err))
		}
		ts = t.UnixMilli()
	}
	return s.ingestBody(c, m, func(body []byte, rows *storage.Rows) (ingest.Result, error) {
		return ingest.ParseText(body, ts, extra, rows)
	}, "Split the input into several requests.")
}

// ingestBody is what remote write and the text import share: read the
// body, decode it into pooled rows, refuse it whole past the samples limit
// (advice says how to send less), store it and its metadata, answer 204.
// The rows a cardinality limit lets through are stored with their
// metadata even though the answer is an error.
func (s *Server) ingestBody(c echo.Context, m *ingestMetrics, decode func(body []byte, rows *storage.Rows) (ingest.Result, error), advice string) error {
	return s.ingestBodyReply(c, m, decode, advice, plainReply)
}

// ingestReply answers an ingestion request in its protocol's shape: a nil
// err is success; otherwise code and err are classifyIngestError's.
type ingestReply func(c echo.Context, code int, err error) error

// plainReply answers as remote write and the import API do: 204, or the
// error as plain text.
func plainReply(c echo.Context, code int, err error) error {
	if err == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return c.String(code, err.Error()+"\n")
}

// ingestBodyReply is ingestBody with the answer written by reply.
func (s *Server) ingestBodyReply(c echo.Context, m *ingestMetrics, decode func(body []byte, rows *storage.Rows) (ingest.Result, error), advice string, reply ingestReply) error {
	m.requests.Inc()
	fail := func(err error) error {
		code, err := classifyIngestError(m, err)
		return reply(c, code, err)
	}
	bp := bodyPool.Get().(*[]byte)
	defer putBody(bp)
	body, err := readBody(c.Request(), (*bp)[:0], s.opts.MaxRequestBodyBytes)
	*bp = body
	if err != nil {
		return fail(err)
	}
	rows := rowsPool.Get().(*storage.Rows)
	defer putRows(rows)
	res, err := decode(body, rows)
	if err != nil {
		return fail(err)
	}
	if err := s.checkSamples(rows, m, advice); err != nil {
		return fail(err)
	}
	if err := s.store(rows, m); err != nil {
		var limitErr *storage.LimitError
		if errors.As(err, &limitErr) {
			s.storeMetadata(res.Metadata)
		}
		return fail(err)
	}
	s.storeMetadata(res.Metadata)
	return reply(c, 0, nil)
}

func (s *Server) storeMetadata(md []ingest.Metadata) {
	if len(md) == 0 {
		return
	}
	out := make([]storage.Metadata, len(md))
	for i, m := range md {
		out[i] = storage.Metadata{Metric: m.Metric, Type: m.Type, Help: m.Help, Unit: m.Unit}
	}
	s.deps.Storage.AppendMetadata(out)
}

func parseExtraLabels(args []string) ([]storage.Label, error) {
	var out []storage.Label
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: extra_label=%q must be name=value", ingest.ErrBadInput, a)
		}
		if err := storage.ValidateLabel(name, value); err != nil {
			return nil, fmt.Errorf("%w: extra_label=%q: %v", ingest.ErrBadInput, a, err)
		}
		out = append(out, storage.Label{Name: name, Value: value})
	}
	return out, nil
}

// handlePush serves the Pushgateway API: PUT replaces a group, POST
// replaces the pushed metric families of a group, DELETE removes it.
// Pushed values are stored at once and then again at every Groups tick,
// so they stay visible until the group is deleted or expires.
func (s *Server) handlePush(c echo.Context) error {
	m := pushMetrics
	m.requests.Inc()
	groups := s.deps.Pushgateway
	if groups == nil {
		return c.String(http.StatusNotFound, "the Pushgateway API is not enabled\n")
	}
	groupLabels, err := ingest.ParsePushPath(c.Request().URL.EscapedPath())
	if err != nil {
		return ingestError(c, m, err)
	}
	now := time.Now()
	r := c.Request()
	switch r.Method {
	case http.MethodDelete:
		groups.Delete(groupLabels)
		var limitErr *storage.LimitError
		if err := s.emitPushed(now); err != nil && !errors.As(err, &limitErr) {
			// A limit refusing other groups' series is no failure of
			// the delete.
			return ingestError(c, m, err)
		}
		return c.NoContent(http.StatusAccepted)
	case http.MethodPut, http.MethodPost:
		mode := ingest.PushReplaceGroup
		if r.Method == http.MethodPost {
			mode = ingest.PushReplaceMetrics
		}
		bp := bodyPool.Get().(*[]byte)
		defer putBody(bp)
		body, err := readBody(r, (*bp)[:0], s.opts.MaxRequestBodyBytes)
		*bp = body
		if err != nil {
			return ingestError(c, m, err)
		}
		res, err := groups.Push(mode, groupLabels, body, r.Header.Get("Content-Type"), now)
		if err != nil {
			return ingestError(c, m, err)
		}
		if err := s.emitPushed(now); err != nil {
			var limitErr *storage.LimitError
			if errors.As(err, &limitErr) {
				s.storeMetadata(res.Metadata)
				err = fmt.Errorf("%w. The pushed group was kept and is written again every --pushgateway.interval; its refused series stay refused while the limit holds", err)
			}
			return ingestError(c, m, err)
		}
		s.storeMetadata(res.Metadata)
		return c.NoContent(http.StatusOK)
	}
	return c.NoContent(http.StatusMethodNotAllowed)
}

// emitPushed stores the pushed groups' current values (and the staleness
// markers of removed series) at now.
func (s *Server) emitPushed(now time.Time) error {
	rows := rowsPool.Get().(*storage.Rows)
	defer putRows(rows)
	s.deps.Pushgateway.AppendTo(rows, now.UnixMilli())
	return s.store(rows, pushMetrics)
}

func putRows(rows *storage.Rows) {
	rows.Reset()
	rowsPool.Put(rows)
}

func putBody(bp *[]byte) {
	if cap(*bp) > 16<<20 {
		return
	}
	*bp = (*bp)[:0]
	bodyPool.Put(bp)
}
