package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// InfluxDB line protocol: InfluxDB 1.x's /write (also under /influx/, as
// VictoriaMetrics serves it) and 2.x's /api/v2/write, answered as those
// versions answer, so that Telegraf and the InfluxDB client libraries
// report Vigil's errors: 204 on success, and errors as
// {"error": "..."} (1.x) or {"code": "invalid", "message": "..."} (2.x).
// /ping answers 204 as both versions do for clients that check it.

var influxMetrics = newIngestMetrics("influx")

// handleInfluxWrite serves the write endpoints: db (1.x) or bucket (2.x)
// becomes the label db, precision the unit of the timestamps.
func (s *Server) handleInfluxWrite(c echo.Context) error {
	q := c.Request().URL.Query()
	opts := ingest.InfluxOptions{DB: q.Get("db"), Precision: q.Get("precision"), Now: time.Now().UnixMilli()}
	if opts.DB == "" {
		opts.DB = q.Get("bucket")
	}
	reply := influxV1Reply
	if strings.HasSuffix(c.Path(), "/api/v2/write") {
		reply = influxV2Reply
	}
	return s.ingestBodyReply(c, influxMetrics, func(body []byte, rows *storage.Rows) (ingest.Result, error) {
		return ingest.ParseInflux(body, opts, rows)
	}, "Send fewer lines per request (Telegraf: a lower metric_batch_size).", reply)
}

func influxV1Reply(c echo.Context, code int, err error) error {
	if err == nil {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(code, map[string]string{"error": err.Error()})
}

func influxV2Reply(c echo.Context, code int, err error) error {
	if err == nil {
		return c.NoContent(http.StatusNoContent)
	}
	kind := "internal error"
	switch {
	case code == http.StatusRequestEntityTooLarge:
		kind = "request too large"
	case code == http.StatusInsufficientStorage:
		kind = "unavailable"
	case code < 500:
		kind = "invalid"
	}
	return c.JSON(code, map[string]string{"code": kind, "message": err.Error()})
}

// handleInfluxPing answers 204 with the headers InfluxDB sends.
func (s *Server) handleInfluxPing(c echo.Context) error {
	h := c.Response().Header()
	h.Set("X-Influxdb-Build", "Vigil")
	h.Set("X-Influxdb-Version", s.deps.Build.Version)
	return c.NoContent(http.StatusNoContent)
}
