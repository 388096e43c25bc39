//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"

	"github.com/vigil-monitoring/vigil/internal/testcert"
)

// Backups end to end: vigil backup against the running binary, vigil
// restore into a stopped one, and the scheduled job.

// runVigilEnv is runVigil with extra environment variables.
func runVigilEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, vigilBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		code = exitErr.ExitCode()
	default:
		t.Fatalf("vigil %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// The data set of the backup test: backupSeries series of backupSamples
// samples, backupStep apart, exact in binary floating point.
const (
	backupSeries  = 60
	backupSamples = 90
	backupStep    = 15 * time.Second
)

func backupValue(s, i int) float64 { return float64(s*1000+i) + 0.5 }

func TestBackupRestoreEndToEnd(t *testing.T) {
	v := startProofVigil(t, "")
	end := time.Now().Add(-time.Second).Truncate(time.Second)
	start := end.Add(-(backupSamples - 1) * backupStep)
	for first := 0; first < backupSeries; first += 10 {
		req := &prompb.WriteRequest{}
		for s := first; s < first+10; s++ {
			ts := proofSeries("__name__", "vigil_backup_sample", "series", fmt.Sprintf("%02d", s), "job", "backup")
			for i := range backupSamples {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: start.Add(time.Duration(i) * backupStep).UnixMilli(), Value: backupValue(s, i)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		v.mustWrite(t, req)
	}
	v.importText(t, fmt.Sprintf("vigil_backup_imported{job=\"backup\"} 42 %d\n", end.UnixMilli()))
	viewerPassword := createUserViaAPI(t, v.BaseURL, "grafana", "viewer")
	_, adminToken := createTokenViaAPI(t, v.BaseURL, "admin", "backups", "")
	// No flush: the backup itself must take what was acknowledged.

	dir := filepath.Join(t.TempDir(), "backup-1")
	t0 := time.Now()
	stdout, stderr, code := runVigilEnv(t, []string{"VIGIL_TOKEN=" + adminToken}, "backup", "--to="+dir, "--url="+v.BaseURL)
	if code != 0 {
		t.Fatalf("vigil backup: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("vigil backup took %s:\n%s%s", time.Since(t0).Round(time.Millisecond), stdout, stderr)
	written := regexp.MustCompile(`^Backup written to ` + regexp.QuoteMeta(dir) + `: (\d+) files, [\d.]+ [KMG]iB in \S+\.\n`)
	if !written.MatchString(stdout) {
		t.Errorf("stdout does not say where the backup is:\n%s", stdout)
	}
	if !regexp.MustCompile(`(?m)^backup: 100% \([\d.]+ [KMG]iB of [\d.]+ [KMG]iB\)$`).MatchString(stderr) {
		t.Errorf("stderr shows no progress up to 100%%:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	_, metricsText := statusOf(t, v.HTTP, http.MethodGet, v.BaseURL+"/metrics", "", nil)
	if last := metricValue(metricsText, "vigil_backup_last_success_timestamp_seconds"); time.Since(time.Unix(int64(last), 0)) > time.Minute ||
		metricValue(metricsText, "vigil_backup_failures_total") != 0 {
		t.Errorf("/metrics does not show the backup:\n%s", grepMetrics(metricsText, "vigil_backup_"))
	}

	// A restore into the data directory of the running Vigil is refused.
	_, stderr, code = runVigil(t, "restore", "--from="+dir, "--data-dir="+v.DataDir)
	if code != 1 || !strings.Contains(stderr, "vigil restore: Vigil is running with the data directory "+v.DataDir) {
		t.Errorf("restore into a running data dir: exit %d, stderr:\n%s", code, stderr)
	}
	v.Stop()

	// A tampered backup is refused before anything is touched.
	tampered := filepath.Join(t.TempDir(), "tampered")
	if err := os.CopyFS(tampered, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	flipped := flipByteOfLargestFile(t, tampered)
	untouched := filepath.Join(t.TempDir(), "untouched")
	_, stderr, code = runVigil(t, "restore", "--from="+tampered, "--data-dir="+untouched)
	if code != 1 || !strings.Contains(stderr, flipped+" has SHA-256") || !strings.Contains(stderr, "the backup was changed or damaged") {
		t.Errorf("restore of a tampered backup: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(untouched); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused restore created the data directory: %v", err)
	}

	// The real restore, into a fresh data directory.
	restored := filepath.Join(t.TempDir(), "restored")
	stdout, stderr, code = runVigil(t, "restore", "--from="+dir, "--data-dir="+restored)
	if code != 0 || !strings.HasPrefix(stdout, "Restored the backup of ") || !strings.Contains(stdout, "Next: start Vigil with --data-dir="+restored) {
		t.Fatalf("vigil restore: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("vigil restore:\n%s", stdout)

	w := startProofVigil(t, restored)
	defer w.Stop()
	ctx := context.Background()
	got, _, _, err := w.API.QueryRange(ctx, `vigil_backup_sample`, promv1.Range{Start: start, End: end, Step: backupStep})
	if err != nil {
		t.Fatal(err)
	}
	m := got.(model.Matrix)
	if len(m) != backupSeries {
		t.Fatalf("after the restore %d series, want %d", len(m), backupSeries)
	}
	wrong, total := 0, 0
	for _, ss := range m {
		s, _ := strconv.Atoi(string(ss.Metric["series"]))
		if len(ss.Values) != backupSamples {
			t.Errorf("series %02d: %d samples, want %d", s, len(ss.Values), backupSamples)
		}
		for i, p := range ss.Values {
			total++
			if !p.Timestamp.Time().Equal(start.Add(time.Duration(i)*backupStep)) || float64(p.Value) != backupValue(s, i) {
				if wrong++; wrong <= 5 {
					t.Errorf("series %02d sample %d = %v", s, i, p)
				}
			}
		}
	}
	t.Logf("after the restore: %d series, %d samples, %d wrong", len(m), total, wrong)
	res, _, _, err := w.API.Query(ctx, `vigil_backup_imported`, end)
	if err != nil {
		t.Fatal(err)
	}
	if vec := res.(model.Vector); len(vec) != 1 || vec[0].Value != 42 {
		t.Errorf("the imported sample after the restore = %v", res)
	}
	// The user made before the backup logs in with its password.
	if code, body := statusOf(t, clientAs("grafana", viewerPassword), http.MethodGet, w.BaseURL+"/api/v1/query?query=vigil_backup_imported", "", nil); code != http.StatusOK || !strings.Contains(body, `"42"`) {
		t.Errorf("the viewer of the backup queries the restored Vigil: %d %s", code, body)
	}
}

// flipByteOfLargestFile changes one byte in the middle of the largest
// file under dir, keeping its size, and returns its slash path.
func flipByteOfLargestFile(t *testing.T, dir string) string {
	t.Helper()
	var largest string
	var size int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() && d.Name() != "manifest.json" && info.Size() > size {
			largest, size = path, info.Size()
		}
		return nil
	})
	b, err := os.ReadFile(largest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(largest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, largest)
	return filepath.ToSlash(rel)
}

func TestBackupCommandErrors(t *testing.T) {
	baseURL, stop := startVigil(t)
	defer stop()
	viewerPassword := createUserViaAPI(t, baseURL, "vera", "viewer")
	pwDir := t.TempDir()
	pwFile := func(name, password string) string {
		path := filepath.Join(pwDir, name)
		if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	adminPW, veraPW, wrongPW := pwFile("admin", testAdminPassword), pwFile("vera", viewerPassword), pwFile("wrong", "not-the-password")
	to := func() string { return "--to=" + filepath.Join(t.TempDir(), "b") }
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "something"), []byte("x"), 0o644)

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"as admin by password", []string{to(), "--url=" + baseURL, "--user=admin", "--password-file=" + adminPW}, 0, ""},
		{"no --to", []string{"--url=" + baseURL}, 2, "vigil backup: --to=DIR is required"},
		{"user without password", []string{to(), "--url=" + baseURL, "--user=admin"}, 2, "--user and --password-file go together"},
		{"bad url", []string{to(), "--url=127.0.0.1:9595"}, 2, "--url=127.0.0.1:9595: not an http:// or https:// URL"},
		{"not running", []string{to(), "--url=http://127.0.0.1:1", "--token=x"}, 1, "vigil backup: cannot reach Vigil at http://127.0.0.1:1: is it running? pass --url"},
		{"no credentials", []string{to(), "--url=" + baseURL}, 1, "needs an admin's credentials: pass --token (or set VIGIL_TOKEN), or --user and --password-file"},
		{"wrong password", []string{to(), "--url=" + baseURL, "--user=admin", "--password-file=" + wrongPW}, 1, "refused the credentials"},
		{"a viewer", []string{to(), "--url=" + baseURL, "--user=vera", "--password-file=" + veraPW}, 1, "backups need an admin's credentials"},
		{"a directory in use", []string{"--to=" + full, "--url=" + baseURL, "--user=admin", "--password-file=" + adminPW}, 1, full + " is not empty; name a new directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runVigilEnv(t, []string{"VIGIL_TOKEN="}, append([]string{"backup"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", code, tt.code, tt.want, stderr)
			}
		})
	}

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no --from", []string{"--data-dir=" + t.TempDir()}, 2, "vigil restore: --from=DIR is required"},
		{"not a backup", []string{"--from=" + full, "--data-dir=" + t.TempDir()}, 1, "holds no manifest.json, so it is not a complete Vigil backup"},
	} {
		t.Run("restore "+tt.name, func(t *testing.T) {
			_, stderr, code := runVigil(t, append([]string{"restore"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", code, tt.code, tt.want, stderr)
			}
		})
	}
}

// The scheduled job, on a fast schedule, keeps the newest --backup.keep.
func TestScheduledBackupsRotate(t *testing.T) {
	backups := t.TempDir()
	v := startVigilProcess(t, "--backup.dir="+backups, "--backup.schedule=@every 1s", "--backup.keep=2")
	if code, body := statusOf(t, adminClient(), http.MethodPost, v.BaseURL+"/api/v1/import/prometheus", "text/plain", []byte("vigil_scheduled_backup_sample 7\n")); code != http.StatusNoContent {
		t.Fatalf("import = %d %s", code, body)
	}
	writtenRE := regexp.MustCompile(`msg="backup written" dir=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for len(writtenRE.FindAllString(v.Stderr(), -1)) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 4 scheduled backups within 30s:\n%s", v.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, metricsText := statusOf(t, adminClient(), http.MethodGet, v.BaseURL+"/metrics", "", nil)
	if last := metricValue(metricsText, "vigil_backup_last_success_timestamp_seconds"); time.Since(time.Unix(int64(last), 0)) > 5*time.Second ||
		metricValue(metricsText, "vigil_backup_last_duration_seconds") <= 0 ||
		metricValue(metricsText, "vigil_backup_failures_total") != 0 {
		t.Errorf("/metrics does not show the scheduled backups:\n%s", grepMetrics(metricsText, "vigil_backup_"))
	}
	v.Stop()

	var written []string
	for _, m := range writtenRE.FindAllStringSubmatch(v.Stderr(), -1) {
		written = append(written, filepath.Base(m[1]))
	}
	entries, err := os.ReadDir(backups)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
		if _, err := os.Stat(filepath.Join(backups, e.Name(), "manifest.json")); err != nil {
			t.Errorf("%s is not a complete backup: %v", e.Name(), err)
		}
	}
	if want := written[len(written)-2:]; !slices.Equal(left, want) {
		t.Errorf("after %d scheduled backups %v are left, want the 2 newest %v", len(written), left, want)
	}
	t.Logf("%d scheduled backups written, kept %v", len(written), left)
	if n := strings.Count(v.Stderr(), `msg="removed an old backup"`); n != len(written)-2 {
		t.Errorf("%d removals logged, want %d", n, len(written)-2)
	}

	// The newest one restores.
	stdout, stderr, code := runVigil(t, "restore", "--from="+filepath.Join(backups, left[1]), "--data-dir="+filepath.Join(t.TempDir(), "d"))
	if code != 0 {
		t.Errorf("restoring the newest scheduled backup: exit %d\n%s%s", code, stdout, stderr)
	}
}

// metricValue returns the value of the sample named name (without labels)
// in the text exposition, or NaN.
func metricValue(text, name string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return math.NaN()
}

func grepMetrics(text, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// vigil backup over https: the address, the scheme and the certificate to
// trust come from Vigil's config file; --url needs --ca-file.
func TestBackupOverTLS(t *testing.T) {
	dir := t.TempDir()
	_, certPEM, keyPEM := testcert.New(t, "vigil")
	replaceFile(t, filepath.Join(dir, "vigil.crt"), certPEM)
	replaceFile(t, filepath.Join(dir, "vigil.key"), keyPEM)
	replaceFile(t, filepath.Join(dir, "admin-pw"), []byte(testAdminPassword+"\n"))
	config := filepath.Join(dir, "vigil.yml")
	replaceFile(t, config, []byte("web:\n  tls_cert_file: vigil.crt\n  tls_key_file: vigil.key\n"))
	p := startVigilProcess(t, "--config="+config)
	if !strings.HasPrefix(p.BaseURL, "https://127.0.0.1:") {
		t.Fatalf("Vigil listens on %s, want https", p.BaseURL)
	}
	listen := strings.TrimPrefix(p.BaseURL, "https://")
	creds := []string{"--user=admin", "--password-file=" + filepath.Join(dir, "admin-pw")}

	stdout, stderr, code := runVigil(t, append([]string{"backup", "--to=" + filepath.Join(t.TempDir(), "a"), "--config=" + config, "--listen=" + listen}, creds...)...)
	if code != 0 || !strings.Contains(stderr, "asking Vigil at "+p.BaseURL) {
		t.Errorf("vigil backup --config over https: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runVigil(t, append([]string{"backup", "--to=" + filepath.Join(t.TempDir(), "b"), "--url=" + p.BaseURL, "--ca-file=" + filepath.Join(dir, "vigil.crt")}, creds...)...)
	if code != 0 {
		t.Errorf("vigil backup --url --ca-file over https: exit %d\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = runVigil(t, append([]string{"backup", "--to=" + filepath.Join(t.TempDir(), "c"), "--url=" + p.BaseURL}, creds...)...)
	if code != 1 || !strings.Contains(stderr, "cannot trust the certificate of Vigil at "+p.BaseURL) || !strings.Contains(stderr, "pass --ca-file=FILE") {
		t.Errorf("vigil backup without --ca-file: exit %d, stderr:\n%s", code, stderr)
	}
	plain := "http://" + listen
	_, stderr, code = runVigil(t, append([]string{"backup", "--to=" + filepath.Join(t.TempDir(), "d"), "--url=" + plain}, creds...)...)
	if code != 1 || !strings.Contains(stderr, plain+" serves HTTPS; pass --url="+p.BaseURL) {
		t.Errorf("vigil backup over plain HTTP to a TLS port: exit %d, stderr:\n%s", code, stderr)
	}
	p.Stop()
}
