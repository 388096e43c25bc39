package demo

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// Exporter serves the scraped half of the live platform, as the real
// platform's /metrics endpoints would: the API (instance demo-api:8000)
// exposes every series of the catalogue but the event API's, and the
// worker (instance demo-worker:8001) exposes nothing and fails while the
// scripted worker outage runs, so that its up is 0. Vigil scrapes both
// under job panic-platform. Until the backfill is written both answer
// with nothing: the scraped values would otherwise go back in time.
type Exporter struct {
	p atomic.Pointer[Platform]
}

// ExporterInstances are the instance labels of the exporter's two
// targets, in the order of Handlers.
var ExporterInstances = []string{Instance, worker}

// Handlers returns the handlers of the API's and the worker's targets.
func (e *Exporter) Handlers() []http.Handler {
	return []http.Handler{http.HandlerFunc(e.serveAPI), http.HandlerFunc(e.serveWorker)}
}

// serve starts exposing p.
func (e *Exporter) serve(p *Platform) { e.p.Store(p) }

func (e *Exporter) serveAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	p := e.p.Load()
	if p == nil {
		return
	}
	bw := bufio.NewWriter(w)
	p.writeExposition(bw)
	bw.Flush()
}

func (e *Exporter) serveWorker(w http.ResponseWriter, _ *http.Request) {
	p := e.p.Load()
	if p == nil {
		return
	}
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	if p.Active(WorkerDown, last) {
		http.Error(w, "the worker is down", http.StatusServiceUnavailable)
	}
}

// exposedLabels are left out of the exposition: the scrape adds them.
func exposedLabels(ls []storage.Label) []storage.Label {
	out := make([]storage.Label, 0, len(ls))
	for _, l := range ls[1:] {
		if l.Name != "job" && l.Name != "instance" {
			out = append(out, l)
		}
	}
	return out
}

var exposedValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// writeExposition writes the API's series in the Prometheus text format,
// family by family in the catalogue's order, without timestamps.
func (p *Platform) writeExposition(w *bufio.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := func(ls []storage.Label, v float64) {
		w.WriteString(ls[0].Value)
		if rest := exposedLabels(ls); len(rest) > 0 {
			w.WriteByte('{')
			for i, l := range rest {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(l.Name + `="` + exposedValueEscaper.Replace(l.Value) + `"`)
			}
			w.WriteByte('}')
		}
		w.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	}
	for _, m := range ingest.Catalogue() {
		if eventMetrics[m.Name] {
			continue
		}
		w.WriteString("# HELP " + m.Name + " " + m.Help + "\n# TYPE " + m.Name + " " + string(m.Type) + "\n")
		if m.Type != ingest.Histogram {
			for _, s := range p.all {
				if s.labels[0].Value == m.Name {
					line(s.labels, s.v)
				}
			}
			continue
		}
		for _, h := range p.hists {
			if h.bucketLs[0][0].Value != m.Name+"_bucket" {
				continue
			}
			cum := 0.0
			for i, c := range h.counts {
				cum += c
				line(h.bucketLs[i], cum)
			}
			line(h.sumLabels, h.sum)
			line(h.countLs, h.count)
		}
	}
}
