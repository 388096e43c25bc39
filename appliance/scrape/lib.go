package scrape

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/auth"
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
//   - it reads its configuration from the file named by -promscrape.config
//     itself, and re-reads it on SIGHUP (a handler it installs and that
//     cannot be removed without removing Vigil's own) and every
//     -promscrape.configCheckInterval.
//
// So the library is started once, on the first Scraper.Start, and runs
// until the process exits. What it reads is a file only this package
// writes, in a private temporary directory, and only after Vigil has
// validated the configuration it comes from: an empty configuration while
// no Scraper is attached, the attached Scraper's otherwise. A change is
// picked up by the library within configCheckInterval; its SIGHUP handler
// re-reads the same file and changes nothing. The samples it scrapes go to
// the attached Scraper, or nowhere while none is attached. One Scraper can
// be attached at a time.

// configCheckInterval is how soon lib/promscrape applies a configuration
// Vigil has written.
const configCheckInterval = time.Second

// emptyConfig is what the library runs while no Scraper is attached.
const emptyConfig = "scrape_configs: []\n"

var lib struct {
	once    sync.Once
	initErr error
	file    string // the configuration file the library reads

	// mu is held for reading while a scrape's samples are handed to the
	// attached Scraper, and for writing to attach or detach one, so that
	// after detaching no push is still running into a closed storage.
	mu       sync.RWMutex
	attached *Scraper
}

// startLibrary sets lib/promscrape's flags (the one place this package
// touches them) and starts it, once per process. fileSDInterval is
// process-wide: the first call decides it.
func startLibrary(fileSDInterval time.Duration) error {
	lib.once.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-scrape-")
		if err != nil {
			lib.initErr = fmt.Errorf("cannot create the scraper's directory: %w", err)
			return
		}
		lib.file = filepath.Join(dir, "promscrape.yml")
		if err := writeFileAtomic(lib.file, []byte(emptyConfig)); err != nil {
			lib.initErr = err
			return
		}
		if !flag.CommandLine.Parsed() {
			_ = flag.CommandLine.Parse(nil) // VictoriaMetrics panics on unparsed flags
		}
		for name, value := range map[string]string{
			"promscrape.config":              lib.file,
			"promscrape.configCheckInterval": configCheckInterval.String(),
			"promscrape.fileSDCheckInterval": fileSDInterval.String(),
			// Scrape errors are in each target's lastError and up; logged,
			// a down target would write a line to standard error on every
			// scrape, in VictoriaMetrics' log format.
			"promscrape.suppressScrapeErrors": "true",
		} {
			if err := flag.Set(name, value); err != nil {
				lib.initErr = fmt.Errorf("cannot set -%s=%s: %w", name, value, err)
				return
			}
		}
		// The library parses stale series through the stream parser's
		// worker pool, which VictoriaMetrics' binaries start at start-up;
		// without it, the first staleness marker blocks forever. It may be
		// started only once per process: nothing else in Vigil uses it.
		protoparserutil.StartUnmarshalWorkers()
		promscrape.Init(push)
	})
	return lib.initErr
}

// push receives every scrape's samples from the library. wr is valid only
// during the call.
func push(_ *auth.Token, wr *prompb.WriteRequest) {
	lib.mu.RLock()
	defer lib.mu.RUnlock()
	if s := lib.attached; s != nil {
		s.append(wr)
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
func detach(s *Scraper) error {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.attached != s {
		return nil
	}
	lib.attached = nil
	return writeFileAtomic(lib.file, []byte(emptyConfig))
}

// writeLibraryConfig hands data to the library; it applies it within
// configCheckInterval.
func writeLibraryConfig(data []byte) error {
	old, _ := os.ReadFile(lib.file)
	if bytes.Equal(old, data) {
		return nil
	}
	return writeFileAtomic(lib.file, data)
}

// writeFileAtomic replaces path with data so that a reader sees the old or
// the new content, never a part. The file may hold credentials: only its
// owner can read it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("cannot write the scraper's configuration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot write the scraper's configuration: %w", err)
	}
	return nil
}
