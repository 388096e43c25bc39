package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/valyala/bytebufferpool"

	"github.com/vigil-monitoring/vigil/internal/jsonstr"
)

// errorType is the class of an API error, spelled as Prometheus spells it in
// the "errorType" field of its envelope. Each type has one status code.
type errorType string

const (
	errorTimeout       errorType = "timeout"
	errorCanceled      errorType = "canceled"
	errorExec          errorType = "execution"
	errorBadData       errorType = "bad_data"
	errorInternal      errorType = "internal"
	errorUnavailable   errorType = "unavailable"
	errorNotFound      errorType = "not_found"
	errorNotAcceptable errorType = "not_acceptable"
	// Vigil's own, for its APIs that change things (dashboards).
	errorConflict  errorType = "conflict"
	errorForbidden errorType = "forbidden"
)

// statusClientClosedConnection is nginx's non-standard code for a client
// that went away before the answer; Prometheus 3 answers canceled queries
// with it.
const statusClientClosedConnection = 499

// status returns the HTTP status code Prometheus answers errors of type t
// with (web/api/v1/api.go: getDefaultErrorCode).
func (t errorType) status() int {
	switch t {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return statusClientClosedConnection
	case errorTimeout, errorUnavailable:
		return http.StatusServiceUnavailable
	case errorNotFound:
		return http.StatusNotFound
	case errorNotAcceptable:
		return http.StatusNotAcceptable
	case errorConflict:
		return http.StatusConflict
	case errorForbidden:
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// apiError is an error answered with Prometheus' error envelope.
type apiError struct {
	typ errorType
	err error
	// code overrides typ's status code (413 for a too large body, 405).
	code int
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s", e.typ, e.err) }
func (e *apiError) Unwrap() error { return e.err }

func (e *apiError) status() int {
	if e.code != 0 {
		return e.code
	}
	return e.typ.status()
}

func badData(err error) *apiError { return &apiError{typ: errorBadData, err: err} }

// invalidParam is Prometheus' invalidParamError.
func invalidParam(err error, param string) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", param, err))
}

// queryError maps an error of the engine or the storage to an API error as
// Prometheus' returnAPIError does; in addition a passed deadline is a
// timeout rather than an execution error.
func queryError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled):
		return &apiError{typ: errorCanceled, err: err}
	case errors.As(err, &timeout):
		return &apiError{typ: errorTimeout, err: err}
	case errors.As(err, &storage):
		return &apiError{typ: errorInternal, err: err}
	case errors.Is(err, context.Canceled):
		return &apiError{typ: errorCanceled, err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{typ: errorTimeout, err: err}
	}
	return &apiError{typ: errorExec, err: err}
}

// apiResult is what an API handler returns: data (nil answers 204), or an
// error, plus the warnings and infos of the engine or storage.
type apiResult struct {
	data     any
	err      *apiError
	warnings annotations.Annotations
	// finalizer, if set, runs after the response is written: query results
	// and label values point into buffers that the query or the querier
	// owns until it is closed.
	finalizer func()
}

func errResult(err *apiError) apiResult { return apiResult{err: err} }

// jsonAppender is implemented by the data of hot endpoints (query results,
// series, label values) to write JSON without reflection.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

// apiFunc is an API handler. The request's form is parsed before it runs.
type apiFunc func(c echo.Context) apiResult

// api adapts an apiFunc to echo: it parses the form (query string and
// urlencoded or multipart body, merged as r.FormValue merges them),
// answers with Prometheus' envelope and runs the finalizer.
func (s *Server) api(f apiFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if err := parseForm(r); err != nil {
			return err
		}
		res := f(c)
		if res.finalizer != nil {
			defer res.finalizer()
		}
		if res.err != nil {
			writeAPIError(c, res.err)
			return nil
		}
		if res.data == nil {
			c.Response().WriteHeader(http.StatusNoContent)
			return nil
		}
		writeAPISuccess(c, res.data, res.warnings, r.FormValue("query"))
		return nil
	}
}

// parseForm parses the query string and a urlencoded or multipart body. A
// body over the limit answers 413, other failures 400.
func parseForm(r *http.Request) error {
	err := r.ParseForm()
	if err == nil {
		if ct, _, _ := strings.Cut(r.Header.Get(echo.HeaderContentType), ";"); strings.EqualFold(strings.TrimSpace(ct), echo.MIMEMultipartForm) {
			err = r.ParseMultipartForm(32 << 20)
		}
	}
	if err == nil {
		return nil
	}
	if isBodyTooLarge(err) {
		return err
	}
	return badData(fmt.Errorf("error parsing form values: %w", err))
}

// maxWarnings and maxInfos bound the annotations in one response, as in
// Prometheus.
const maxWarnings, maxInfos = 10, 10

func writeAPISuccess(c echo.Context, data any, warnings annotations.Annotations, query string) {
	warns, infos := warnings.AsStrings(query, maxWarnings, maxInfos)
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	b := append(buf.B[:0], `{"status":"success","data":`...)
	var err error
	switch d := data.(type) {
	case jsonAppender:
		b, err = d.appendJSON(b)
	default:
		var enc []byte
		enc, err = json.Marshal(d)
		b = append(b, enc...)
	}
	if err != nil {
		slog.Error("cannot encode an API response", "url", c.Request().URL.String(), "err", err)
		writeAPIError(c, &apiError{typ: errorInternal, err: fmt.Errorf("cannot encode the response: %w", err)})
		return
	}
	if len(warns) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStringArray(b, warns)
	}
	if len(infos) > 0 {
		b = append(b, `,"infos":`...)
		b = appendStringArray(b, infos)
	}
	b = append(b, '}')
	buf.B = b
	writeCompressed(c, http.StatusOK, "application/json", b)
}

func writeAPIError(c echo.Context, e *apiError) {
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	b := append(buf.B[:0], `{"status":"error","errorType":`...)
	b = jsonstr.Append(b, string(e.typ))
	b = append(b, `,"error":`...)
	b = jsonstr.Append(b, e.err.Error())
	b = append(b, '}')
	buf.B = b
	writeCompressed(c, e.status(), "application/json", b)
}

// minCompressBytes is the smallest body worth compressing.
const minCompressBytes = 1024

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// writeCompressed writes body, gzipped if the client accepts gzip and the
// body is large enough. Prometheus compresses every API response at gzip's
// default level; Vigil uses the fastest level, which on JSON still shrinks
// query results about tenfold at a fraction of the CPU.
func writeCompressed(c echo.Context, code int, contentType string, body []byte) {
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, contentType)
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if c.Request().Method == http.MethodHead {
		w.WriteHeader(code)
		return
	}
	if len(body) < minCompressBytes || !acceptsGzip(c.Request()) {
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	h.Set(echo.HeaderContentEncoding, "gzip")
	h.Del(echo.HeaderContentLength)
	w.WriteHeader(code)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	_, _ = zw.Write(body)
	_ = zw.Close()
	zw.Reset(io.Discard)
	gzipWriters.Put(zw)
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values(echo.HeaderAcceptEncoding) {
		for part := range strings.SplitSeq(v, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.TrimSpace(enc) != "gzip" {
				continue
			}
			// gzip;q=0 refuses gzip.
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// handleError is the server's echo.HTTPErrorHandler: under /api/ it keeps
// Prometheus' envelope (unknown endpoints answer not_found, too large bodies
// 413); elsewhere, and under the Alertmanager API's /api/v2/, which has
// its own error shape, it falls back to echo's default.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if path := c.Request().URL.Path; !strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/api/v2/") {
		var he *echo.HTTPError
		if isBodyTooLarge(err) {
			err = echo.NewHTTPError(http.StatusRequestEntityTooLarge, bodyTooLargeMessage(s.opts.MaxRequestBodyBytes))
		} else if errors.As(err, &he) && he.Code == http.StatusNotFound {
			err = echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no endpoint at %s %s", c.Request().Method, c.Request().URL.Path))
		}
		s.e.DefaultHTTPErrorHandler(err, c)
		return
	}
	writeAPIError(c, s.toAPIError(err, c))
}

func (s *Server) toAPIError(err error, c echo.Context) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if isBodyTooLarge(err) {
		return &apiError{typ: errorBadData, err: errors.New(bodyTooLargeMessage(s.opts.MaxRequestBodyBytes)), code: http.StatusRequestEntityTooLarge}
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return &apiError{typ: errorInternal, err: err}
	}
	msg := fmt.Sprint(he.Message)
	switch he.Code {
	case http.StatusNotFound:
		return &apiError{typ: errorNotFound, err: fmt.Errorf("no API endpoint at %s %s", c.Request().Method, c.Request().URL.Path)}
	case http.StatusMethodNotAllowed:
		return &apiError{typ: errorBadData, err: fmt.Errorf("method %s is not allowed on %s", c.Request().Method, c.Request().URL.Path), code: he.Code}
	case http.StatusUnprocessableEntity:
		return &apiError{typ: errorExec, err: errors.New(msg)}
	case http.StatusNotAcceptable:
		return &apiError{typ: errorNotAcceptable, err: errors.New(msg)}
	case http.StatusServiceUnavailable:
		return &apiError{typ: errorUnavailable, err: errors.New(msg)}
	}
	typ := errorInternal
	if he.Code >= 400 && he.Code < 500 {
		typ = errorBadData
	}
	return &apiError{typ: typ, err: errors.New(msg), code: he.Code}
}
