package appliance

import (
	"io"
	"log/slog"
)

// NewLogger returns the logger for --log.level and --log.format, writing
// to w. Unknown values fall back to info and logfmt; Validate rejects them
// before they get here.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
