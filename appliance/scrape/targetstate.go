package scrape

import (
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/web"
)

// targetStates is what a Scraper keeps of each target beyond the
// library's own status, by targetKey: the parse error of its last scrape
// (the library does not know the scrape failed) and the metadata of its
// last scrape that succeeded (the library passes metadata on with each
// scrape and keeps none). A target's entry is made by its first scrape
// and removed when it goes away.
type targetStates struct {
	mu sync.Mutex
	m  map[string]*targetState
}

type targetState struct {
	// parseErr is why the last scrape failed although the library says
	// it succeeded; "" otherwise.
	parseErr string
	// metadata are the TYPE and HELP of the metric families of the last
	// scrape that succeeded, in the target's order. Unit is empty: the
	// library's parser reads the text format, which has no UNIT lines.
	metadata []web.MetricMetadata
	// stored is when metadata was last handed to the storage.
	stored time.Time
	// memo is the storage's memo of the series of the target's last
	// scrape; nil while a scrape uses it (takeMemo).
	memo *storage.SeriesMemo
}

// metadataRefresh is how often a target's unchanged metadata is handed to
// the storage again; the storage forgets metadata not seen for an hour.
const metadataRefresh = 10 * time.Minute

func (ts *targetStates) reset() {
	ts.mu.Lock()
	ts.m = nil
	ts.mu.Unlock()
}

// scraped records the outcome of a scrape, md being the metadata it
// carried (valid only during the call), and reports whether md should be
// handed to the storage: when it changed, or has not been for
// metadataRefresh.
func (ts *targetStates) scraped(info pushInfo, md []prompb.MetricMetadata) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]*targetState{}
	}
	st := ts.m[info.target]
	if st == nil {
		st = &targetState{}
		ts.m[info.target] = st
	}
	st.parseErr = info.parseErr
	if !info.up {
		// As Prometheus, a failed scrape leaves the metadata alone.
		return false
	}
	now := time.Now()
	if !sameMetadata(st.metadata, md) {
		// A new slice: readers may hold the old one.
		meta := make([]web.MetricMetadata, 0, len(md))
		for _, m := range md {
			meta = append(meta, web.MetricMetadata{
				Metric: strings.Clone(m.MetricFamilyName),
				Type:   storage.MetricTypeName(m.Type),
				Help:   strings.Clone(m.Help),
				Unit:   strings.Clone(m.Unit),
			})
		}
		st.metadata = meta
		st.stored = now
		return len(md) > 0
	}
	if len(md) > 0 && now.Sub(st.stored) >= metadataRefresh {
		st.stored = now
		return true
	}
	return false
}

func sameMetadata(have []web.MetricMetadata, md []prompb.MetricMetadata) bool {
	if len(have) != len(md) {
		return false
	}
	for i, m := range md {
		h := &have[i]
		if h.Metric != m.MetricFamilyName || h.Help != m.Help || h.Unit != m.Unit || h.Type != storage.MetricTypeName(m.Type) {
			return false
		}
	}
	return true
}

// takeMemo returns target's series memo, a new one for a new target,
// for the caller alone until putMemo. A second scrape of the target at the
// same time gets a fresh one and nothing is shared.
func (ts *targetStates) takeMemo(target string) *storage.SeriesMemo {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]*targetState{}
	}
	st := ts.m[target]
	if st == nil {
		st = &targetState{}
		ts.m[target] = st
	}
	m := st.memo
	st.memo = nil
	if m == nil {
		m = new(storage.SeriesMemo)
	}
	return m
}

// putMemo gives back the memo takeMemo returned, unless the target went
// away meanwhile.
func (ts *targetStates) putMemo(target string, m *storage.SeriesMemo) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if st := ts.m[target]; st != nil {
		st.memo = m
	}
}

func (ts *targetStates) forget(target string) {
	ts.mu.Lock()
	delete(ts.m, target)
	ts.mu.Unlock()
}

// parseError returns the parse error of target's last scrape.
func (ts *targetStates) parseError(target string) string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if st := ts.m[target]; st != nil {
		return st.parseErr
	}
	return ""
}

// metadata returns the metadata of target's last successful scrape, of
// every metric family or of metric's only. The caller must not modify
// it.
func (ts *targetStates) metadata(target, metric string) []web.MetricMetadata {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	st := ts.m[target]
	if st == nil {
		return nil
	}
	if metric == "" {
		return st.metadata
	}
	for i := range st.metadata {
		if st.metadata[i].Metric == metric {
			return st.metadata[i : i+1]
		}
	}
	return nil
}

// storageMetadata converts the metadata of a scrape for the storage.
func storageMetadata(md []prompb.MetricMetadata) []storage.Metadata {
	out := make([]storage.Metadata, len(md))
	for i, m := range md {
		out[i] = storage.Metadata{Metric: m.MetricFamilyName, Type: storage.MetricTypeName(m.Type), Help: m.Help, Unit: m.Unit}
	}
	return out
}
