package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeBackuper reports progress in steps, then returns err.
type fakeBackuper struct {
	steps int
	err   error
	dir   string
}

func (f *fakeBackuper) Backup(ctx context.Context, dir string, progress func(done, total int64)) (BackupSummary, error) {
	f.dir = dir
	for i := 0; i <= f.steps; i++ {
		progress(int64(i*100), int64(f.steps*100))
	}
	if f.err != nil {
		return BackupSummary{}, f.err
	}
	return BackupSummary{Dir: dir, Files: 3, Bytes: int64(f.steps * 100), Took: 1500 * time.Millisecond}, nil
}

func backupLines(t *testing.T, r response) []BackupLine {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("Content-Type %q, want application/x-ndjson; body %s", ct, r.body)
	}
	var lines []BackupLine
	for _, l := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
		var bl BackupLine
		if err := json.Unmarshal([]byte(l), &bl); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, bl)
	}
	return lines
}

func TestBackupEndpointStreams(t *testing.T) {
	f := &fakeBackuper{steps: 3}
	s := newTestServer(t, openStorage(t), Options{}, Deps{Backup: f})
	r := post(t, s, "/api/v1/admin/backup", url.Values{"to": {"/var/backups/vigil/x/"}})
	if r.code != http.StatusOK {
		t.Fatalf("POST = %d %s", r.code, r.body)
	}
	if f.dir != "/var/backups/vigil/x" {
		t.Errorf("the backup went to %q, want the cleaned path", f.dir)
	}
	lines := backupLines(t, r)
	first, last := lines[0], lines[len(lines)-1]
	if first.Progress == nil || first.Progress.Done != 0 || first.Progress.Total != 300 {
		t.Errorf("first line %+v, want progress 0 of 300", first)
	}
	if p := lines[len(lines)-2].Progress; p == nil || p.Done != 300 {
		t.Errorf("the line before the last is %+v, want progress 300 of 300 (the end is always reported)", lines[len(lines)-2])
	}
	if last.Status != "success" || last.Data == nil || *last.Data != (BackupResult{Dir: "/var/backups/vigil/x", Files: 3, Bytes: 300, Seconds: 1.5}) {
		t.Errorf("last line %+v, want success", last)
	}
}

func TestBackupEndpointErrors(t *testing.T) {
	running := &fakeBackuper{steps: -1, err: fmt.Errorf("%w: into /b since 10:00", ErrBackupRunning)}
	notEmpty := &fakeBackuper{steps: -1, err: fmt.Errorf("%w: /b is not empty", ErrBackupDir)}
	tests := []struct {
		name     string
		backuper Backuper
		form     url.Values
		code     int
		want     string
	}{
		{"no backuper", nil, url.Values{"to": {"/b"}}, http.StatusServiceUnavailable, "cannot make backups"},
		{"no to", &fakeBackuper{}, nil, http.StatusBadRequest, "missing the parameter to"},
		{"relative", &fakeBackuper{}, url.Values{"to": {"backups/b"}}, http.StatusBadRequest, "must be an absolute path"},
		{"running", running, url.Values{"to": {"/b"}}, http.StatusConflict, "a backup is already running: into /b"},
		{"not empty", notEmpty, url.Values{"to": {"/b"}}, http.StatusBadRequest, "/b is not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, openStorage(t), Options{}, Deps{Backup: tt.backuper})
			r := post(t, s, "/api/v1/admin/backup", tt.form)
			if r.code != tt.code || !strings.Contains(string(r.body), tt.want) {
				t.Errorf("POST = %d %s, want %d saying %q", r.code, r.body, tt.code, tt.want)
			}
			if m := r.json(t); m["status"] != "error" {
				t.Errorf("not an error envelope: %s", r.body)
			}
		})
	}

	// Once streaming, a failure is the last line.
	s := newTestServer(t, openStorage(t), Options{}, Deps{Backup: &fakeBackuper{steps: 2, err: errors.New("disk full")}})
	r := post(t, s, "/api/v1/admin/backup", url.Values{"to": {"/b"}})
	lines := backupLines(t, r)
	if last := lines[len(lines)-1]; r.code != http.StatusOK || last.Status != "error" || last.Error != "disk full" || last.ErrorType != "internal" {
		t.Errorf("a failure after progress: %d, last line %+v", r.code, last)
	}
}
