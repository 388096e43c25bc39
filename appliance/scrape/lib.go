package scrape

import (
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/auth"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/logger"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promscrape"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/protoparserutil"
)

// VictoriaMetrics lib/promscrape is a process-wide singleton, and that
// shapes this file:
//
//   - its settings are flags on flag.CommandLine, read once by Init;
//   - Init may run once per process: Stop followed by Init panics, because
//     Init registers metrics (vm_promscrape_config_changes_total{type=...}
//     and others) on the default VictoriaMetrics/metrics set without ever
//     unregistering them;
//   - it reads its configuration from the location named by
//     -promscrape.config itself, and re-reads it on SIGHUP (a handler it
//     installs and that cannot be removed without removing Vigil's own) and
//     every -promscrape.configCheckInterval;
//   - it reports a malformed line of a scrape only to VictoriaMetrics'
//     logger (see parseerrors.go).
//
// So the library is started once, on the first Scraper.Start, and runs
// until the process exits. What it reads is a document only this package
// writes, after Vigil has validated the configuration it comes from: an
// empty configuration while no Scraper is attached, the attached
// Scraper's otherwise. The document lives in this process' memory and the
// library fetches it over HTTP from a listener on 127.0.0.1 under a random
// path (the location may be a URL): a file would have to live somewhere
// for as long as the process, and the process is not tied to one data
// directory (tests run several appliances in turn), so every run left a
// temporary directory behind. A change is picked up by the library within
// configCheckInterval; its SIGHUP handler re-reads the same document and
// changes nothing. The samples it scrapes go to the attached Scraper, or
// nowhere while none is attached. One Scraper can be attached at a time.

// configCheckInterval is how soon lib/promscrape applies a configuration
// Vigil has written.
const configCheckInterval = time.Second

// emptyConfig is what the library runs while no Scraper is attached.
const emptyConfig = "scrape_configs: []\n"

var lib struct {
	once    sync.Once
	initErr error
	// config is the document the library reads, served by serveConfig.
	config atomic.Pointer[[]byte]

	// mu is held for reading while a scrape's samples are handed to the
	// attached Scraper, and for writing to attach or detach one, so that
	// after detaching no push is still running into a closed storage.
	mu       sync.RWMutex
	attached *Scraper

	// parseErrs are the malformed lines of the scrapes being processed, by
	// target (see parseerrors.go).
	parseErrs parseErrors
}

// startLibrary sets lib/promscrape's flags (the one place this package
// touches them) and starts it, once per process. fileSDInterval is
// process-wide: the first call decides it. VictoriaMetrics' logger must
// have been initialised before (storage.Open does it), as initialising it
// resets where it writes.
func startLibrary(fileSDInterval time.Duration) error {
	lib.once.Do(func() {
		lib.initErr = initLibrary(fileSDInterval)
	})
	return lib.initErr
}

func initLibrary(fileSDInterval time.Duration) error {
	configURL, err := serveConfig()
	if err != nil {
		return err
	}
	removeStaleConfigDirs()
	if !flag.CommandLine.Parsed() {
		_ = flag.CommandLine.Parse(nil) // VictoriaMetrics panics on unparsed flags
	}
	for name, value := range map[string]string{
		"promscrape.config":              configURL,
		"promscrape.configCheckInterval": configCheckInterval.String(),
		"promscrape.fileSDCheckInterval": fileSDInterval.String(),
		// The library reports a malformed line only through its logger;
		// parseerrors.go reads those reports to fail the scrape, and keeps
		// them and the other scrape errors out of Vigil's log: they are in
		// each target's lastError and up.
		"promscrape.suppressScrapeErrors": "false",
		// A response is parsed whole, never in the streaming mode the
		// library switches to above 1 MB: in that mode the lines before a
		// malformed one have already been stored when it is found, where
		// Prometheus stores nothing of a scrape that fails.
		"promscrape.minResponseSizeForStreamParse": "0",
	} {
		if err := flag.Set(name, value); err != nil {
			return fmt.Errorf("cannot set -%s=%s: %w", name, value, err)
		}
	}
	logger.SetOutputForTests(&libLog{out: os.Stderr})
	// The library parses stale series through the stream parser's
	// worker pool, which VictoriaMetrics' binaries start at start-up;
	// without it, the first staleness marker blocks forever. It may be
	// started only once per process: nothing else in Vigil uses it.
	protoparserutil.StartUnmarshalWorkers()
	promscrape.Init(push)
	return nil
}

// serveConfig starts the listener the library reads its configuration
// from and returns the URL to give it. The listener runs as long as the
// process, as the library does. The configuration may hold credentials:
// the URL's path is a random token that only this process knows, and
// nothing else is served.
func serveConfig() (string, error) {
	empty := []byte(emptyConfig)
	lib.config.Store(&empty)
	token, err := randomToken()
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot listen for the scraper's configuration: %w", err)
	}
	path := "/" + token + "/promscrape.yml"
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || subtle.ConstantTimeCompare([]byte(r.URL.Path), []byte(path)) != 1 {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/yaml")
			w.Write(*lib.config.Load())
		}),
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + path, nil
}

// staleConfigAge is how long a configuration directory left in the
// temporary directory by an older Vigil must have been untouched before it
// is removed: such a Vigil still running rewrites it only when its
// configuration changes.
const staleConfigAge = 24 * time.Hour

// removeStaleConfigDirs removes the vigil-scrape-* directories that Vigil
// versions which kept the scraper's configuration in a file left in the
// temporary directory, one per run. Only directories that hold nothing
// but that file, untouched for staleConfigAge, are removed.
func removeStaleConfigDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "vigil-scrape-*"))
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		stale := true
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() || time.Since(info.ModTime()) < staleConfigAge ||
				(e.Name() != "promscrape.yml" && e.Name() != "promscrape.yml.tmp") {
				stale = false
				break
			}
		}
		if info, err := os.Stat(dir); err != nil || time.Since(info.ModTime()) < staleConfigAge {
			stale = false
		}
		if stale {
			os.RemoveAll(dir)
		}
	}
}

// push receives every scrape's samples from the library. wr is valid only
// during the call.
func push(_ *auth.Token, wr *prompb.WriteRequest) {
	info := examine(wr)
	lib.mu.RLock()
	defer lib.mu.RUnlock()
	if s := lib.attached; s != nil {
		s.append(wr, info)
	}
}

// errAttached is returned by attach when another Scraper runs.
var errAttached = errors.New("another Vigil in this process already scrapes: VictoriaMetrics lib/promscrape runs once per process")

func attach(s *Scraper) error {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.attached != nil && lib.attached != s {
		return errAttached
	}
	lib.attached = s
	return nil
}

// detach stops handing samples to s and empties the library's
// configuration, so that its scrapers stop within configCheckInterval.
// The staleness markers they write when they stop go nowhere, as
// Prometheus writes none on shutdown.
func detach(s *Scraper) {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.attached != s {
		return
	}
	lib.attached = nil
	writeLibraryConfig([]byte(emptyConfig))
}

// writeLibraryConfig hands data to the library; it applies it within
// configCheckInterval.
func writeLibraryConfig(data []byte) {
	lib.config.Store(&data)
}
