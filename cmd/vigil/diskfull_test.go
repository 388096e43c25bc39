//go:build linux

package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull runs Vigil on a 200 MiB tmpfs, fills the file system until
// less than the 64 MiB reserve is free, and checks that ingestion is
// refused with 507 while queries keep answering with what was stored, and
// that ingestion resumes by itself once space returns.
func TestDiskFull(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "small-disk")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=200m"); err != nil {
		// A full disk can only be made for real on a file system of our
		// own; mounting one needs root (as CI runs) or CAP_SYS_ADMIN.
		t.Skipf("cannot mount a 200 MiB tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })

	p := startVigilProcess(t, "--data-dir="+filepath.Join(mnt, "data"))
	client := adminClient()
	importText := func(text string) (int, string) {
		t.Helper()
		resp, err := client.Post(p.BaseURL+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	query := func(q string) string {
		t.Helper()
		resp, err := client.Get(p.BaseURL + "/internal/force_flush")
		if err == nil {
			resp.Body.Close()
		}
		resp, err = client.Get(p.BaseURL + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("query %s while the disk is full: %d %s", q, resp.StatusCode, b)
		}
		return string(b)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if code, body := importText("disk_test_before 1\n"); code != http.StatusNoContent {
		t.Fatalf("import before filling: %d %s", code, body)
	}

	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	filler := filepath.Join(mnt, "filler")
	fillTo(t, filler, free-32<<20)

	var lastBody string
	poll("ingestion refused with 507", func() bool {
		code, body := importText("disk_test_during 2\n")
		lastBody = body
		return code == http.StatusInsufficientStorage
	})
	if !strings.Contains(lastBody, "free") {
		t.Errorf("the 507 does not say what to do: %q", lastBody)
	}
	// The other push protocols are refused alike; OTLP with the 503 and
	// Retry-After that its clients retry (they drop data on a 507).
	now := time.Now()
	ms, ns := strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.UnixNano(), 10)
	for _, tc := range []struct {
		path, contentType, body string
		want                    int
	}{
		{"/influx/write?db=d", "text/plain", "disk_test m=1\n", http.StatusInsufficientStorage},
		{"/api/v1/import", "", `{"metric":{"__name__":"disk_test_json"},"values":[1],"timestamps":[` + ms + `]}`, http.StatusInsufficientStorage},
		{"/api/v1/import/csv?format=1:metric:disk_test_csv", "", "1\n", http.StatusInsufficientStorage},
		{"/opentelemetry/v1/metrics", "application/json",
			`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"disk_test_otlp","gauge":{"dataPoints":[{"timeUnixNano":"` + ns + `","asInt":"1"}]}}]}]}]}`,
			http.StatusServiceUnavailable},
	} {
		resp, err := client.Post(p.BaseURL+tc.path, tc.contentType, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(b), "free") {
			t.Errorf("%s while the disk is full: %d %s; want %d saying why", tc.path, resp.StatusCode, b, tc.want)
		}
		if tc.want == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.path)
		}
	}
	if got := query("disk_test_before"); !strings.Contains(got, `"1"`) {
		t.Fatalf("data stored before the disk filled: %s", got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	poll("ingestion resumed", func() bool {
		code, _ := importText("disk_test_after 3\n")
		return code == http.StatusNoContent
	})
	if got := query("disk_test_after"); !strings.Contains(got, `"3"`) {
		t.Fatalf("data stored after space returned: %s", got)
	}
	if got := query("disk_test_before"); !strings.Contains(got, `"1"`) {
		t.Fatalf("data stored before the disk filled, after: %s", got)
	}
	p.Stop()
}

// fillTo writes size bytes to path for real (tmpfs does not reserve space
// for sparse files).
func fillTo(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 0xA5
	}
	for written := int64(0); written < size; {
		n := min(int64(len(chunk)), size-written)
		if _, err := f.Write(chunk[:n]); err != nil {
			t.Fatalf("filling the disk: %v", err)
		}
		written += n
	}
}
