package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// registerEvents mounts the event API: POST /api/v1/events/<kind>, the
// Panic platform's record_*_metrics tasks as HTTP calls, and POST
// /api/v1/events/custom/<metric> for the metrics declared in Vigil's
// config. The body is one JSON event, a JSON array of them or JSON
// lines; they are recorded all or none. The answer is
// {"status":"success","recorded":n,"retried":m}, or Prometheus' error
// envelope with "index" and "field" naming the first bad event.
func (s *Server) registerEvents(e *echo.Echo) {
	if s.deps.Storage == nil {
		return
	}
	rec := s.deps.Events
	e.POST("/api/v1/events/:kind", func(c echo.Context) error {
		kind := ingest.EventKind(c.Param("kind"))
		if !slices.Contains(ingest.EventKinds, kind) {
			return eventError(c, http.StatusBadRequest, errorBadData, "unknown event type "+string(kind)+"; the types are panic-request, auth and notification, and custom/<metric> for the metrics declared in Vigil's config", nil)
		}
		return s.recordEvents(c, func(ctx context.Context, body io.Reader) (int, int, error) { return rec.Record(ctx, kind, body) })
	})
	e.POST("/api/v1/events/custom/:metric", func(c echo.Context) error {
		metric := c.Param("metric")
		return s.recordEvents(c, func(ctx context.Context, body io.Reader) (int, int, error) {
			return rec.RecordCustom(ctx, metric, body)
		})
	})
}

// recordEvents records the request's body with record and answers.
func (s *Server) recordEvents(c echo.Context, record func(ctx context.Context, body io.Reader) (int, int, error)) error {
	body := http.MaxBytesReader(c.Response(), c.Request().Body, s.opts.MaxRequestBodyBytes)
	n, retried, err := record(c.Request().Context(), body)
	if err != nil {
		var ee *ingest.EventError
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &ee):
			return eventError(c, http.StatusBadRequest, errorBadData, ee.Error(), ee)
		case errors.As(err, &tooLarge):
			return eventError(c, http.StatusRequestEntityTooLarge, errorBadData, bodyTooLargeMessage(s.opts.MaxRequestBodyBytes), nil)
		case errors.Is(err, ingest.ErrBadInput):
			return eventError(c, http.StatusBadRequest, errorBadData, err.Error(), nil)
		}
		return eventError(c, http.StatusServiceUnavailable, errorUnavailable, err.Error(), nil)
	}
	return c.JSON(http.StatusOK, struct {
		Status   string `json:"status"`
		Recorded int    `json:"recorded"`
		Retried  int    `json:"retried"`
	}{"success", n, retried})
}

// errorBody is Prometheus' error envelope, in its order, with the index
// and field of the bad event of a batch where there is one.
type errorBody struct {
	Status    string    `json:"status"`
	ErrorType errorType `json:"errorType"`
	Error     string    `json:"error"`
	Index     *int      `json:"index,omitempty"`
	Field     *string   `json:"field,omitempty"`
}

// eventError answers with Prometheus' error envelope, plus the index and
// field of the bad event when there is one.
func eventError(c echo.Context, code int, typ errorType, msg string, ee *ingest.EventError) error {
	out := errorBody{Status: "error", ErrorType: typ, Error: msg}
	if ee != nil {
		out.Index, out.Field = &ee.Index, &ee.Field
	}
	return c.JSON(code, out)
}
