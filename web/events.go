package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// registerEvents mounts the event API, POST /api/v1/events/<kind>: the
// Panic platform's record_*_metrics tasks as HTTP calls. The body is one
// JSON event, a JSON array of them or JSON lines; they are recorded all
// or none. The answer is {"recorded": n, "retried": m}, or 400 with
// {"error", "index", "field"} naming the first bad event.
func (s *Server) registerEvents(e *echo.Echo) {
	if s.deps.Storage == nil {
		return
	}
	rec := s.deps.Events
	if rec == nil {
		rec = ingest.NewRecorder(s.deps.Storage, nil)
	}
	e.POST("/api/v1/events/:kind", func(c echo.Context) error {
		kind := ingest.EventKind(c.Param("kind"))
		if !slices.Contains(ingest.EventKinds, kind) {
			return c.JSON(http.StatusBadRequest, map[string]any{"error": "unknown event type " + string(kind) + "; the types are panic-request, auth and notification"})
		}
		body := http.MaxBytesReader(c.Response(), c.Request().Body, s.opts.MaxRequestBodyBytes)
		n, retried, err := rec.Record(c.Request().Context(), kind, body)
		if err != nil {
			var ee *ingest.EventError
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &ee):
				return c.JSON(http.StatusBadRequest, map[string]any{"error": ee.Error(), "index": ee.Index, "field": ee.Field})
			case errors.As(err, &tooLarge):
				return c.JSON(http.StatusRequestEntityTooLarge, map[string]any{"error": bodyTooLargeMessage(s.opts.MaxRequestBodyBytes)})
			case errors.Is(err, ingest.ErrBadInput):
				return c.JSON(http.StatusBadRequest, map[string]any{"error": err.Error()})
			}
			return c.JSON(http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
		}
		return c.JSON(http.StatusOK, map[string]int{"recorded": n, "retried": retried})
	})
}
