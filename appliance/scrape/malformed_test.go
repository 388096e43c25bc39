package scrape

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"github.com/vigil-monitoring/vigil/web"
)

// bodyServer serves whatever body it holds, as a misbehaving target would.
type bodyServer struct {
	*httptest.Server
	host        string
	body        atomic.Pointer[string]
	contentType string
}

func newBodyServer(t *testing.T, contentType, body string) *bodyServer {
	t.Helper()
	b := &bodyServer{contentType: contentType}
	b.set(body)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", b.contentType)
		fmt.Fprint(w, *b.body.Load())
	}))
	b.host = strings.TrimPrefix(b.URL, "http://")
	t.Cleanup(b.Close)
	return b
}

func (b *bodyServer) set(body string) { b.body.Store(&body) }

func randomBytes(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(r.UintN(256))
	}
	return string(buf)
}

const (
	htmlPage = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><p>Please sign in.</p></body></html>\n"
	// halfValid has good lines on either side of a malformed one.
	halfValid = "# HELP ok_total Fine.\n# TYPE ok_total counter\nok_total 5\n" +
		"broken_metric{path=\"/a\" 7\n" +
		"later_total 3\n"
	validBody = "# HELP ok_total Fine.\n# TYPE ok_total counter\nok_total 6\nlater_total 4\n"
)

// Prometheus fails the whole scrape at a line it cannot parse; so does
// Vigil, although lib/promscrape skips such lines.
func TestMalformedTargets(t *testing.T) {
	good := newExporter(t)
	html := newBodyServer(t, "text/html; charset=utf-8", htmlPage)
	random := newBodyServer(t, "application/octet-stream", randomBytes(64<<10))
	half := newBodyServer(t, "text/plain; version=0.0.4", validBody)
	badType := newBodyServer(t, "text/plain; version=0.0.4", "# TYPE foo_total bogus\nfoo_total 1\n")
	badUTF8 := newBodyServer(t, "text/plain; version=0.0.4", "bar_total{path=\"/\xff\xfe\"} 1\n")

	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: good
    static_configs: [{targets: [%q]}]
  - job_name: junk
    static_configs: [{targets: [%q, %q, %q, %q, %q]}]
`, good.host, html.host, random.host, half.host, badType.host, badUTF8.host))
	s, rec := startScraper(t, path)

	// half serves a valid body first, so that its series exist before it
	// breaks.
	waitFor(t, 30*time.Second, "the valid body of "+half.host, func() bool {
		v, ok := rec.value("ok_total", `instance="`+half.host+`"`)
		return ok && v == 6
	})
	half.set(halfValid)

	for _, tt := range []struct {
		name, host, wantErr string
	}{
		{"html", html.host, `cannot unmarshal Prometheus line "<!DOCTYPE html>"`},
		{"random bytes", random.host, "cannot unmarshal Prometheus line"},
		{"half valid", half.host, `cannot unmarshal Prometheus line "broken_metric{path=\"/a\" 7"`},
		{"bad TYPE", badType.host, `cannot unmarshal metadata line "# TYPE foo_total bogus": TYPE is invalid`},
		{"bad UTF-8", badUTF8.host, `invalid UTF-8 in a scraped series: value "/\xff\xfe" of label "path" is not valid UTF-8`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			waitFor(t, 30*time.Second, "the parse error of "+tt.host, func() bool {
				tg, _ := target(s, "junk", tt.host)
				return tg.Health == web.TargetHealthBad && strings.Contains(tg.LastError, tt.wantErr)
			})
			if v, ok := rec.value("up", `instance="`+tt.host+`"`); !ok || v != 0 {
				t.Errorf("up = %v, %v; want 0", v, ok)
			}
			tg, _ := target(s, "junk", tt.host)
			if len(tg.LastError) > maxParseErrorLen+len(" (and 1000000 more malformed lines)") {
				t.Errorf("lastError is %d bytes long: %.200s…", len(tg.LastError), tg.LastError)
			}
		})
	}

	// Nothing of a malformed scrape is stored: the good lines of half
	// became staleness markers, and the series of the body before left
	// instant queries with them.
	waitFor(t, 30*time.Second, "the staleness markers of "+half.host, func() bool {
		v, _ := rec.value("ok_total", `instance="`+half.host+`"`)
		later, _ := rec.value("later_total", `instance="`+half.host+`"`)
		return value.IsStaleNaN(v) && value.IsStaleNaN(later)
	})
	for _, v := range rec.history("ok_total", `instance="`+half.host+`"`) {
		if v != 6 && !value.IsStaleNaN(v) {
			t.Errorf("ok_total of the malformed body was stored: %v", v)
		}
	}
	for _, name := range []string{"foo_total", "bar_total"} {
		for _, v := range rec.history(name) {
			if !value.IsStaleNaN(v) {
				t.Errorf("%s of a malformed scrape was stored: %v", name, v)
			}
		}
	}
	if md := s.TargetMetadata(mustTarget(t, s, "junk", half.host), ""); len(md) != 1 || md[0].Metric != "ok_total" || md[0].Help != "Fine." {
		t.Errorf("metadata of the half-valid target = %+v; want that of its last good scrape", md)
	}

	// Nothing else is disturbed.
	if tg, _ := target(s, "good", good.host); tg.Health != web.TargetHealthGood || tg.LastError != "" {
		t.Errorf("the good target next to malformed ones: %+v", tg)
	}
	if v, _ := rec.value("requests_total", `instance="`+good.host+`"`); v != 3 {
		t.Errorf("requests_total of the good target = %v", v)
	}
	if n := s.appendFails.Get(); n != 0 {
		t.Errorf("%d scrapes could not be stored", n)
	}

	// half mends: its next scrape is up, and so are the ones after it (no
	// report of the malformed body is left over for them).
	half.set(validBody)
	waitFor(t, 30*time.Second, "the mended target", func() bool {
		tg, _ := target(s, "junk", half.host)
		v, _ := rec.value("up", `instance="`+half.host+`"`)
		return tg.Health == web.TargetHealthGood && tg.LastError == "" && v == 1
	})
	ups := len(rec.history("up", `instance="`+half.host+`"`))
	waitFor(t, 30*time.Second, "three more scrapes", func() bool {
		return len(rec.history("up", `instance="`+half.host+`"`)) >= ups+3
	})
	if h := rec.history("up", `instance="`+half.host+`"`); slices.Contains(h[ups-1:], 0) {
		t.Errorf("up after the target mended: %v", h[ups-1:])
	}
	if v, _ := rec.value("ok_total", `instance="`+half.host+`"`); v != 6 {
		t.Errorf("ok_total after the target mended = %v", v)
	}
}

func mustTarget(t *testing.T, s *Scraper, pool, host string) web.Target {
	t.Helper()
	tg, ok := target(s, pool, host)
	if !ok {
		t.Fatalf("no active target %s in %s", host, pool)
	}
	return tg
}

func TestTargetMetadata(t *testing.T) {
	e := newExporter(t)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	writeFile(t, path, fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: meta
    static_configs: [{targets: [%q]}]
`, e.host))
	s, rec := startScraper(t, path)
	waitFor(t, 30*time.Second, "the first scrape", func() bool {
		tg, ok := target(s, "meta", e.host)
		return ok && tg.Health == web.TargetHealthGood && len(s.TargetMetadata(tg, "")) > 0
	})
	tg := mustTarget(t, s, "meta", e.host)
	md := s.TargetMetadata(tg, "")
	want := map[string]web.MetricMetadata{
		"requests_total":      {Metric: "requests_total", Type: "counter", Help: "Requests."},
		"temperature_celsius": {Metric: "temperature_celsius", Type: "gauge", Help: "Temperature."},
	}
	if len(md) != len(want) {
		t.Errorf("TargetMetadata = %+v", md)
	}
	for _, m := range md {
		if m != want[m.Metric] {
			t.Errorf("metadata of %s = %+v, want %+v", m.Metric, m, want[m.Metric])
		}
	}
	if one := s.TargetMetadata(tg, "temperature_celsius"); len(one) != 1 || one[0] != want["temperature_celsius"] {
		t.Errorf("TargetMetadata(temperature_celsius) = %+v", one)
	}
	if none := s.TargetMetadata(tg, "nope"); len(none) != 0 {
		t.Errorf("TargetMetadata(nope) = %+v", none)
	}
	// Metadata is per target: the self-scrape has none of the app's.
	if self, ok := target(s, "vigil", ""); !ok || len(s.TargetMetadata(self, "requests_total")) != 0 {
		t.Errorf("the self-scrape target has the app's metadata")
	}
	// /api/v1/metadata is fed from the same scrapes.
	waitFor(t, 10*time.Second, "the metadata in the storage", func() bool {
		return rec.metadataOf("requests_total").Help == "Requests."
	})
}
