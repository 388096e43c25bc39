package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-monitoring/vigil/web"
	"github.com/vigil-monitoring/vigil/web/auth"
)

func importText(t *testing.T, a *Appliance, text string) {
	t.Helper()
	resp, err := http.Post(a.URL()+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("import = %d", resp.StatusCode)
	}
}

// queryValue returns the value of the one-element result of query at ts.
func queryValue(t *testing.T, a *Appliance, query string, ts time.Time) string {
	t.Helper()
	code, body := get(t, a.URL()+"/api/v1/query?"+url.Values{"query": {query}, "time": {ts.Format(time.RFC3339Nano)}}.Encode())
	if code != http.StatusOK {
		t.Fatalf("query %s = %d %s", query, code, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Result) != 1 {
		return ""
	}
	return r.Data.Result[0].Value[1].(string)
}

func TestBackupAndRestore(t *testing.T) {
	cfg := testConfig(t)
	a := startAppliance(t, cfg)
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	importText(t, a, "backup_sample{n=\"1\"} 1.5 "+itoa(ts.UnixMilli())+"\nbackup_sample{n=\"2\"} 2.5 "+itoa(ts.UnixMilli())+"\n")
	if err := a.users.AddUser("grafana", "grafana-password-1", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "backup")
	var last [2]int64
	m, err := a.Backup(context.Background(), dir, func(done, total int64) { last = [2]int64{done, total} })
	if err != nil {
		t.Fatal(err)
	}
	if last[0] != last[1] || last[1] != m.Bytes() {
		t.Errorf("the last progress was %d of %d; the backup holds %d bytes", last[0], last[1], m.Bytes())
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	for _, want := range []string{StateFileName, pushgatewayFile, "tsdb/metadata/minTimestampForCompositeIndex"} {
		if !slices.Contains(paths, want) {
			t.Errorf("the manifest lacks %s: %v", want, paths)
		}
	}
	if m.Format != backupFormat || m.Version != Build().Version || time.Since(m.Created) > time.Minute {
		t.Errorf("manifest header %d %q %s", m.Format, m.Version, m.Created)
	}
	var b strings.Builder
	metrics.WritePrometheus(&b, false)
	if !strings.Contains(b.String(), "vigil_backup_last_success_timestamp_seconds 1") ||
		!strings.Contains(b.String(), "vigil_backup_failures_total 0") {
		t.Errorf("the backup metrics do not show the backup:\n%s", grepLines(b.String(), "vigil_backup_"))
	}

	// Refusals.
	if _, err := a.Backup(context.Background(), dir, nil); !errors.Is(err, web.ErrBackupDir) {
		t.Errorf("a backup into a full directory = %v, want ErrBackupDir", err)
	}
	if _, err := a.Backup(context.Background(), "relative/dir", nil); !errors.Is(err, web.ErrBackupDir) {
		t.Errorf("a backup into a relative directory = %v, want ErrBackupDir", err)
	}
	a.backups.mu.Lock()
	_, err = a.Backup(context.Background(), filepath.Join(t.TempDir(), "b2"), nil)
	a.backups.mu.Unlock()
	if !errors.Is(err, web.ErrBackupRunning) {
		t.Errorf("a backup while another runs = %v, want ErrBackupRunning", err)
	}

	// A running data directory is refused, and left alone.
	if _, err := Restore(RestoreOptions{From: dir, DataDir: cfg.DataDir}); !errors.Is(err, ErrDataDirInUse) {
		t.Errorf("restore into a running data directory = %v, want ErrDataDirInUse", err)
	}
	importText(t, a, "backup_sample{n=\"3\"} 3.5 "+itoa(ts.UnixMilli())+"\n") // after the backup
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Restore over the data directory: the backup's data comes back, the
	// current data is moved aside.
	fixed := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	res, err := Restore(RestoreOptions{From: dir, DataDir: cfg.DataDir, Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tsdb", StateFileName, pushgatewayFile} {
		aside := filepath.Join(cfg.DataDir, name+".before-restore-20250601T120000Z")
		if !slices.Contains(res.MovedAside, aside) {
			t.Errorf("%s was not moved aside: %v", name, res.MovedAside)
		}
		if _, err := os.Stat(aside); err != nil {
			t.Error(err)
		}
	}
	b2 := startAppliance(t, cfg)
	for n, want := range map[string]string{"1": "1.5", "2": "2.5", "3": ""} {
		if got := queryValue(t, b2, `backup_sample{n="`+n+`"}`, ts); got != want {
			t.Errorf("after the restore, sample %s = %q, want %q", n, got, want)
		}
	}
	if u, err := b2.users.GetUser("grafana"); err != nil || u.Role != auth.RoleViewer {
		t.Errorf("after the restore, user grafana = %+v, %v", u, err)
	}
}

func TestRestoreRefusesBadBackups(t *testing.T) {
	a := startAppliance(t, testConfig(t))
	importText(t, a, "x 1\n")
	good := filepath.Join(t.TempDir(), "good")
	m, err := a.Backup(context.Background(), good, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Stop(context.Background())

	// copyOf copies the good backup and lets change alter the copy.
	copyOf := func(t *testing.T, change func(dir string)) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "backup")
		if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		change(dir)
		return dir
	}
	var biggest BackupFile
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "tsdb/") && f.Size > biggest.Size {
			biggest = f
		}
	}
	tests := []struct {
		name   string
		change func(dir string)
		want   string
	}{
		{"a changed byte", func(dir string) {
			path := filepath.Join(dir, filepath.FromSlash(biggest.Path))
			b, _ := os.ReadFile(path)
			b[len(b)/2] ^= 0x01
			os.WriteFile(path, b, 0o644)
		}, biggest.Path + " has SHA-256 "},
		{"a truncated file", func(dir string) {
			os.Truncate(filepath.Join(dir, StateFileName), 100)
		}, StateFileName + " has 100 bytes, the manifest says"},
		{"a missing file", func(dir string) {
			os.Remove(filepath.Join(dir, filepath.FromSlash(biggest.Path)))
		}, "the backup is incomplete"},
		{"no manifest", func(dir string) {
			os.Remove(filepath.Join(dir, BackupManifestFile))
		}, "holds no manifest.json, so it is not a complete Vigil backup"},
		{"a path outside the backup", func(dir string) {
			rewriteManifest(dir, func(m *BackupManifest) { m.Files[0].Path = "../../etc/passwd" })
		}, `the manifest names "../../etc/passwd"`},
		{"another format", func(dir string) {
			rewriteManifest(dir, func(m *BackupManifest) { m.Format = 99 })
		}, "the backup has format 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := copyOf(t, tt.change)
			dataDir := filepath.Join(t.TempDir(), "data")
			os.MkdirAll(filepath.Join(dataDir, "tsdb"), 0o755)
			os.WriteFile(filepath.Join(dataDir, StateFileName), []byte("current"), 0o600)
			_, err := Restore(RestoreOptions{From: from, DataDir: dataDir})
			if !errors.Is(err, ErrBackupInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Restore = %v, want ErrBackupInvalid saying %q", err, tt.want)
			}
			entries, _ := os.ReadDir(dataDir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{StateFileName, "tsdb", lockFileName}) && !slices.Equal(names, []string{StateFileName, "tsdb"}) {
				t.Errorf("the data directory was changed: %v", names)
			}
		})
	}
}

func rewriteManifest(dir string, change func(*BackupManifest)) {
	path := filepath.Join(dir, BackupManifestFile)
	b, _ := os.ReadFile(path)
	var m BackupManifest
	json.Unmarshal(b, &m)
	change(&m)
	b, _ = json.Marshal(&m)
	os.WriteFile(path, b, 0o644)
}

func TestRotateBackups(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, complete bool) {
		os.MkdirAll(filepath.Join(dir, name, "tsdb"), 0o755)
		if complete {
			os.WriteFile(filepath.Join(dir, name, BackupManifestFile), []byte("{}"), 0o644)
		}
	}
	mk("vigil-backup-20250101T030000Z", true)
	mk("vigil-backup-20250102T030000Z", true)
	mk("vigil-backup-20250102T120000Z", false) // interrupted
	mk("vigil-backup-20250103T030000Z", true)
	mk("vigil-backup-20250104T030000Z", true)
	mk("vigil-backup-manual", true) // not a scheduled name
	mk("other", false)
	os.WriteFile(filepath.Join(dir, "vigil-backup-20240101T000000Z"), nil, 0o644) // a file

	removed, err := rotateBackups(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range removed {
		removed[i] = filepath.Base(removed[i])
	}
	slices.Sort(removed)
	want := []string{"vigil-backup-20250101T030000Z", "vigil-backup-20250102T030000Z", "vigil-backup-20250102T120000Z"}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	wantLeft := []string{"other", "vigil-backup-20240101T000000Z", "vigil-backup-20250103T030000Z", "vigil-backup-20250104T030000Z", "vigil-backup-manual"}
	if !slices.Equal(left, wantLeft) {
		t.Errorf("left %v, want %v", left, wantLeft)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestValidateBackup(t *testing.T) {
	tests := []validateCase{
		{"backup schedule cron", func(c *Config) { c.Backup.Schedule = "30 2 * * 1-5" }, ""},
		{"backup schedule every", func(c *Config) { c.Backup.Schedule = "@every 6h" }, ""},
		{"backup schedule bad", func(c *Config) { c.Backup.Schedule = "daily" }, "--backup.schedule=daily: not a schedule"},
		{"backup schedule empty", func(c *Config) { c.Backup.Schedule = "" }, `--backup.schedule="": not a schedule`},
		{"backup keep", func(c *Config) { c.Backup.Keep = 0 }, "--backup.keep=0: must be at least 1"},
	}
	runValidateCases(t, tests)
}

func TestConfigFileBackupKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(file, []byte("backup:\n  dir: backups\n  schedule: \"0 3 * * *\"\n  keep: 14\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := (BackupConfig{Dir: filepath.Join(dir, "backups"), Schedule: "0 3 * * *", Keep: 14}); cfg.Backup != want {
		t.Errorf("backup = %+v, want %+v", cfg.Backup, want)
	}
	flags, _, err := ParseArgs([]string{"--config=" + file, "--backup.keep=3"})
	if err != nil {
		t.Fatal(err)
	}
	if flags.Backup.Keep != 3 || flags.Backup.Dir != cfg.Backup.Dir {
		t.Errorf("flags over the file: %+v", flags.Backup)
	}
}

func TestClientURL(t *testing.T) {
	tests := []struct {
		listen string
		tls    bool
		want   string
	}{
		{":9595", false, "http://127.0.0.1:9595"},
		{"0.0.0.0:9595", true, "https://127.0.0.1:9595"},
		{"[::]:9000", false, "http://127.0.0.1:9000"},
		{"10.1.2.3:9595", false, "http://10.1.2.3:9595"},
		{"[::1]:9595", true, "https://[::1]:9595"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Listen = tt.listen
		if tt.tls {
			cfg.Web.TLSCertFile = "x.crt"
		}
		if got := ClientURL(cfg); got != tt.want {
			t.Errorf("ClientURL(listen %s, tls %v) = %s, want %s", tt.listen, tt.tls, got, tt.want)
		}
	}
}
