package web

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// VictoriaMetrics' import API besides the text format: JSON lines
// (/api/v1/import, what /api/v1/export writes) and CSV
// (/api/v1/import/csv?format=...). They answer as the text import does:
// 204, or the error as plain text.

var (
	jsonImportMetrics = newIngestMetrics("json_lines")
	csvImportMetrics  = newIngestMetrics("csv")
)

// handleImportJSON serves POST /api/v1/import.
func (s *Server) handleImportJSON(c echo.Context) error {
	return s.ingestBody(c, jsonImportMetrics, ingest.ParseJSONLines,
		"Split the input into several requests (an export split with max_rows_per_line splits too).")
}

// handleImportCSV serves POST /api/v1/import/csv.
func (s *Server) handleImportCSV(c echo.Context) error {
	format := c.Request().URL.Query().Get("format")
	now := time.Now().UnixMilli()
	return s.ingestBody(c, csvImportMetrics, func(body []byte, rows *storage.Rows) (ingest.Result, error) {
		return ingest.ParseCSV(body, format, now, rows)
	}, "Split the input into several requests.")
}
