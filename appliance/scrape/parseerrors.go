package scrape

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// How a malformed scrape fails, as in Prometheus.
//
// Prometheus fails a whole scrape at the first line it cannot parse: up is
// 0, the parse error is the target's lastError, nothing of the scrape is
// stored, and the series of the previous scrape get staleness markers.
// lib/promscrape instead skips the line, stores the others and writes
// up 1. The only trace of the line is a report to VictoriaMetrics' logger
// (the parser's errLogger, scrapeWork.logError), made while the body is
// parsed, on the goroutine that then hands the scrape's samples, its up
// among them, to push. So:
//
//   - libLog, the logger's output, takes those reports and keeps the first
//     one of each target's scrape in lib.parseErrs, under the target's
//     labels, which the report names;
//   - push, given that scrape's samples, finds the target's up among them
//     and takes the target's report; if there is one, up becomes 0 and
//     every other sample of the scrape a staleness marker;
//   - the Scraper keeps the error to report it as the target's lastError
//     (the library's own status says the target is up).
//
// A label that is not UTF-8, which Prometheus' parser refuses and the
// library's takes, is found by the storage's own check of every label;
// Scraper.append then fails the scrape the same way (failScrape).
//
// Only reports of a line that does not parse count ("cannot unmarshal
// ..."): the library reports other errors the same way (automatic series
// or staleness markers it could not write), which are not about the
// scrape's body. After a scrape the library parses once more the
// series that left the target, to write their staleness markers; it
// parses them from the keys of the lines that parsed, so that reports
// nothing. The streaming mode, in which the lines before a malformed one
// are stored before it is found, is turned off (lib.go and config.go).

// The words around a scrape error in the library's report
// (scrapeWork.logError).
const (
	scrapeErrorPrefix = "error when scraping "
	scrapeErrorSuffix = "; scrape errors can be disabled by -promscrape.suppressScrapeErrors command-line flag"
	// parseErrorPrefix starts the error of a report of a line that does
	// not parse, a sample's or a TYPE or HELP line's.
	parseErrorPrefix = "cannot unmarshal "
	// scrapeFailedPrefix starts the library's warning about a failed
	// scrape, whose error is the target's lastError already.
	scrapeFailedPrefix = "cannot scrape target "
)

// maxParseErrorLen caps a parse error as lastError shows it: the report
// quotes the whole line, which in a body of random bytes can be long.
const maxParseErrorLen = 512

// libLog is the output of VictoriaMetrics' logger, which writes each
// message with one Write. Scrape errors are taken; every other message
// goes on to out.
type libLog struct{ out io.Writer }

func (l *libLog) Write(p []byte) (int, error) {
	if i := bytes.Index(p, []byte("\t"+scrapeErrorPrefix)); i >= 0 {
		lib.parseErrs.add(string(bytes.TrimRight(p[i+1:], "\n")))
		return len(p), nil
	}
	if bytes.Contains(p, []byte("\t"+scrapeFailedPrefix)) {
		return len(p), nil
	}
	return l.out.Write(p)
}

// parseErrors holds, by target, the malformed lines reported for the
// scrape being processed, until push takes them.
type parseErrors struct {
	mu sync.Mutex
	m  map[string]*parseError
}

type parseError struct {
	first string // the first report's error
	more  int    // how many more lines were malformed
}

// add records one report of the library ("error when scraping ...").
func (pe *parseErrors) add(report string) {
	target, detail, ok := parseScrapeError(report)
	if !ok || !strings.HasPrefix(detail, parseErrorPrefix) {
		return
	}
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if pe.m == nil {
		pe.m = map[string]*parseError{}
	}
	if e := pe.m[target]; e != nil {
		e.more++
		return
	}
	pe.m[target] = &parseError{first: detail}
}

// take returns and forgets target's parse error, "" when it has none.
func (pe *parseErrors) take(target string) string {
	pe.mu.Lock()
	e := pe.m[target]
	delete(pe.m, target)
	pe.mu.Unlock()
	if e == nil {
		return ""
	}
	msg := truncate(e.first, maxParseErrorLen)
	if e.more > 0 {
		msg += fmt.Sprintf(" (and %d more malformed lines)", e.more)
	}
	return msg
}

// parseScrapeError reads a report written as
// "error when scraping %q from job %q with labels %s: %s; scrape errors
// can be disabled by ..." and returns its target's key and its error.
// VictoriaMetrics' logger shortens an argument longer than
// -loggerMaxArgLen (5000 bytes): the report of a target whose labels
// are longer cannot be read, and its scrape is not failed.
func parseScrapeError(report string) (target, detail string, ok bool) {
	s, ok := strings.CutPrefix(report, scrapeErrorPrefix)
	if !ok {
		return "", "", false
	}
	for _, next := range []string{" from job ", " with labels "} {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", false
		}
		if s, ok = strings.CutPrefix(s[len(q):], next); !ok {
			return "", "", false
		}
	}
	target, s, ok = parseLabels(s)
	if !ok {
		return "", "", false
	}
	if detail, ok = strings.CutPrefix(s, ": "); !ok {
		return "", "", false
	}
	return target, strings.TrimSuffix(detail, scrapeErrorSuffix), true
}

// parseLabels reads labels as lib/promutil.Labels.String writes them,
// {a="x",b="y"}, and returns their key (see targetKey) and the rest of s.
func parseLabels(s string) (key, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, "{")
	if !ok {
		return "", "", false
	}
	b := labels.NewScratchBuilder(8)
	for !strings.HasPrefix(s, "}") {
		name, after, found := strings.Cut(s, "=")
		if !found || name == "" {
			return "", "", false
		}
		q, err := strconv.QuotedPrefix(after)
		if err != nil {
			return "", "", false
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return "", "", false
		}
		b.Add(name, v)
		s = after[len(q):]
		if !strings.HasPrefix(s, "}") {
			if s, ok = strings.CutPrefix(s, ","); !ok {
				return "", "", false
			}
		}
	}
	b.Sort()
	return b.Labels().String(), s[1:], true
}

// targetKey identifies a target by its labels (as /api/v1/targets shows
// them), whichever way they come: from a report, from the library's
// target status or from the series of a scrape.
func targetKey(ls labels.Labels) string { return ls.String() }

// keyOfSeries is targetKey of the labels of an automatic series (up),
// which are the target's labels and __name__.
func keyOfSeries(ls []prompb.Label) string {
	b := labels.NewScratchBuilder(len(ls))
	for _, l := range ls {
		if l.Name != "__name__" {
			b.Add(l.Name, l.Value)
		}
	}
	b.Sort()
	return targetKey(b.Labels())
}

// pushKind tells what a push from the library carries; the zero value
// is a push of samples or staleness markers of a target's series.
type pushKind int

const (
	_ pushKind = iota
	// pushScrape: one scrape of a target, its samples and its automatic
	// series (up last).
	pushScrape
	// pushGone: the staleness markers of the automatic series of a target
	// that went away.
	pushGone
)

// pushInfo is what push learns of a push's target.
type pushInfo struct {
	kind   pushKind
	target string // targetKey; "" for a push of series
	up     bool   // pushScrape: the scrape succeeded
	// parseErr is why a pushScrape failed when the library's up said it
	// succeeded: a malformed line, or a label that is not UTF-8.
	parseErr string
}

// examine classifies wr and, if it is a scrape with a malformed line,
// fails it as Prometheus does (failScrape). The library adds a scrape's
// automatic series after its samples, up last, and sends a target's
// removal as its automatic series alone, all stale.
func examine(wr *prompb.WriteRequest) pushInfo {
	n := len(wr.Timeseries)
	if n == 0 {
		return pushInfo{}
	}
	up := &wr.Timeseries[n-1]
	if len(up.Samples) != 1 || metricName(up.Labels) != "up" {
		return pushInfo{}
	}
	info := pushInfo{target: keyOfSeries(up.Labels)}
	v := up.Samples[0].Value
	if value.IsStaleNaN(v) {
		info.kind = pushGone
		return info
	}
	info.kind = pushScrape
	info.parseErr = lib.parseErrs.take(info.target)
	switch {
	case v != 1:
		// The library failed the scrape itself (sample_limit,
		// label_limit, an HTTP error): its error is the one to show.
		info.parseErr = ""
	case info.parseErr != "":
		failScrape(wr)
	default:
		info.up = true
	}
	return info
}

// failScrape turns a scrape the library took for a success into a
// failure, as Prometheus stores it: up 0, and every other sample a
// staleness marker. The series with a label that is not UTF-8 go: the
// storage refuses them, staleness markers included, and never had them.
func failScrape(wr *prompb.WriteRequest) {
	up := &wr.Timeseries[len(wr.Timeseries)-1]
	up.Samples[0].Value = 0
	scraped := wr.Timeseries[:autoSeriesStart(wr.Timeseries, len(up.Labels))]
	staleNaN := math.Float64frombits(value.StaleNaN)
	kept := scraped[:0]
	for _, ts := range scraped {
		if !validUTF8(ts.Labels) {
			continue
		}
		for j := range ts.Samples {
			ts.Samples[j].Value = staleNaN
		}
		kept = append(kept, ts)
	}
	wr.Timeseries = append(kept, wr.Timeseries[len(scraped):]...)
}

// autoSeriesStart returns where the automatic series (up,
// scrape_duration_seconds, ...) of a scrape begin in series: they come
// last, and have the target's labels only.
func autoSeriesStart(series []prompb.TimeSeries, nLabels int) int {
	i := len(series)
	for i > 0 && len(series[i-1].Labels) == nLabels && isAutoSeries(metricName(series[i-1].Labels)) {
		i--
	}
	return i
}

func isAutoSeries(name string) bool {
	switch name {
	case "up", "scrape_duration_seconds", "scrape_response_size_bytes", "scrape_samples_limit",
		"scrape_samples_post_metric_relabeling", "scrape_samples_scraped", "scrape_series_added",
		"scrape_series_current", "scrape_series_limit_samples_dropped", "scrape_series_limit",
		"scrape_labels_limit", "scrape_timeout_seconds":
		return true
	}
	return false
}

func validUTF8(ls []prompb.Label) bool {
	for _, l := range ls {
		if !utf8.ValidString(l.Name) || !utf8.ValidString(l.Value) {
			return false
		}
	}
	return true
}

func metricName(ls []prompb.Label) string {
	for _, l := range ls {
		if l.Name == "__name__" {
			return l.Value
		}
	}
	return ""
}

// truncate shortens s to at most n bytes, on a rune boundary, marking the
// cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
