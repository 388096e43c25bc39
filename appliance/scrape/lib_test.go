package scrape

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The library reads its configuration from this process' memory, over
// HTTP on 127.0.0.1, under a path only the process knows: nothing is
// written to disk.
func TestLibraryConfigIsServedFromMemory(t *testing.T) {
	e := newExporter(t)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, fmt.Sprintf("scrape_configs:\n  - job_name: served\n    static_configs: [{targets: [%q]}]\n", e.host))
	startScraper(t, path)

	loc := flag.Lookup("promscrape.config").Value.String()
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("-promscrape.config = %q; want a URL on 127.0.0.1", loc)
	}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(loc); code != http.StatusOK || !strings.Contains(body, "job_name: served") {
		t.Errorf("GET the configuration: %d %s", code, body)
	}
	for _, other := range []string{"/", "/promscrape.yml", strings.Replace(u.Path, u.Path[1:9], "00000000", 1)} {
		if code, body := get("http://" + u.Host + other); code != http.StatusNotFound || strings.Contains(body, "job_name") {
			t.Errorf("GET %s: %d %s; want 404", other, code, body)
		}
	}
}

func TestRemoveStaleConfigDirs(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	old := time.Now().Add(-2 * staleConfigAge)
	mk := func(name string, files []string, mtime time.Time) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.WriteFile(p, []byte("scrape_configs: []\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, mtime, mtime)
		}
		os.Chtimes(dir, mtime, mtime)
		return dir
	}
	stale := mk("vigil-scrape-111", []string{"promscrape.yml"}, old)
	staleTmp := mk("vigil-scrape-222", []string{"promscrape.yml", "promscrape.yml.tmp"}, old)
	fresh := mk("vigil-scrape-333", []string{"promscrape.yml"}, time.Now())
	foreign := mk("vigil-scrape-444", []string{"promscrape.yml", "notes.txt"}, old)
	other := mk("other-555", []string{"promscrape.yml"}, old)

	removeStaleConfigDirs()
	for dir, wantGone := range map[string]bool{stale: true, staleTmp: true, fresh: false, foreign: false, other: false} {
		_, err := os.Stat(dir)
		if gone := os.IsNotExist(err); gone != wantGone {
			t.Errorf("%s: removed = %v, want %v", filepath.Base(dir), gone, wantGone)
		}
	}
}
