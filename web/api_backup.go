package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"github.com/labstack/echo/v4"
)

// Backuper makes a backup of the running Vigil into dir, a directory on
// the server's machine, calling progress with the bytes written so far and
// the total expected. The composition root implements it.
type Backuper interface {
	Backup(ctx context.Context, dir string, progress func(done, total int64)) (BackupSummary, error)
}

// BackupSummary describes a backup that was written.
type BackupSummary struct {
	Dir   string
	Files int
	Bytes int64
	Took  time.Duration
}

// The errors a Backuper's error may wrap, for the endpoint's status code:
// ErrBackupRunning when another backup is running (409), ErrBackupDir
// when the directory cannot take a backup (not empty, not writable: 400).
var (
	ErrBackupRunning = errors.New("a backup is already running")
	ErrBackupDir     = errors.New("unusable backup directory")
)

// backupProgressEvery bounds how often the endpoint reports progress.
const backupProgressEvery = 200 * time.Millisecond

// BackupLine is one line of the answer of POST /api/v1/admin/backup,
// which streams newline-delimited JSON (application/x-ndjson): lines with
// Progress while the backup is written, then one line with Status
// "success" and Data, or "error" with ErrorType and Error. Errors found
// before anything is written (a bad parameter, a backup already running)
// are answered instead with the usual envelope and status code.
type BackupLine struct {
	Progress  *BackupProgress `json:"progress,omitempty"`
	Status    string          `json:"status,omitempty"`
	Data      *BackupResult   `json:"data,omitempty"`
	ErrorType string          `json:"errorType,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// BackupProgress is how far a backup is, in bytes.
type BackupProgress struct {
	Done  int64 `json:"done_bytes"`
	Total int64 `json:"total_bytes"`
}

// BackupResult is the data of a successful backup.
type BackupResult struct {
	Dir     string  `json:"dir"`
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// registerBackup mounts POST /api/v1/admin/backup (admin, routeAccess).
func (s *Server) registerBackup(e *echo.Echo) {
	e.POST("/api/v1/admin/backup", s.backup, s.whenReady)
}

// backup writes a backup into the directory of the `to` parameter, an
// absolute path on the server's machine that must not exist or be empty.
// The backup stops if the client goes away.
func (s *Server) backup(c echo.Context) error {
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	if s.deps.Backup == nil {
		writeAPIError(c, &apiError{typ: errorUnavailable, err: errors.New("this server cannot make backups")})
		return nil
	}
	dir := r.FormValue("to")
	switch {
	case dir == "":
		writeAPIError(c, badData(errors.New("missing the parameter to: the directory to write the backup into, on the server's machine, e.g. to=/var/backups/vigil/2025-06-01")))
		return nil
	case !filepath.IsAbs(dir):
		writeAPIError(c, invalidParam(errors.New("the backup directory must be an absolute path: the server writes it, whatever its working directory"), "to"))
		return nil
	}

	w := c.Response()
	enc := json.NewEncoder(w)
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
		}
	}
	var last time.Time
	progress := func(done, total int64) {
		now := time.Now()
		if started && done < total && now.Sub(last) < backupProgressEvery {
			return
		}
		last = now
		start()
		_ = enc.Encode(BackupLine{Progress: &BackupProgress{Done: done, Total: total}})
		w.Flush()
	}
	sum, err := s.deps.Backup.Backup(r.Context(), filepath.Clean(dir), progress)
	if err != nil {
		typ := errorInternal
		code := 0
		switch {
		case errors.Is(err, ErrBackupRunning):
			code = http.StatusConflict
		case errors.Is(err, ErrBackupDir):
			typ = errorBadData
		}
		if errors.Is(err, context.Canceled) {
			typ = errorCanceled
		}
		if !started {
			writeAPIError(c, &apiError{typ: typ, err: err, code: code})
			return nil
		}
		_ = enc.Encode(BackupLine{Status: "error", ErrorType: string(typ), Error: err.Error()})
		w.Flush()
		return nil
	}
	start()
	_ = enc.Encode(BackupLine{Status: "success", Data: &BackupResult{
		Dir: sum.Dir, Files: sum.Files, Bytes: sum.Bytes, Seconds: sum.Took.Seconds(),
	}})
	w.Flush()
	return nil
}
