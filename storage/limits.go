package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/VictoriaMetrics/metrics"
)

// The cardinality limiter bounds how many distinct series are written in a
// rolling window, in total (Options.MaxSeries) and per metric name
// (Options.MaxSeriesPerMetric). A series already written in the window
// always passes, whatever the counts: only new series are refused, so an
// explosion of one client's labels cannot push the steady series out.
//
// The window is rolling, made of two generations of DefaultSeriesLimitWindow
// each, as VictoriaMetrics' -storage.maxHourlySeries (lib/bloomfilter.Limiter)
// counts per hour but without its hard reset: a series counts from its first
// sample until one to two windows after its last one, and a series of the
// previous generation that writes again passes and is carried over. The
// counts compared with the limits are those of the union of both
// generations. One hour approximates "series in memory" the way Prometheus'
// head block does; a day would keep the churn of every deployment (pod
// names, instance addresses) counting until the next day.
//
// Membership is kept in register-blocked Bloom filters of 16 bits per
// series: 2 bytes per series per generation (at most 20 MB for 5 million
// series), with a false positive rate near 0.3% — about that share of new
// series past a limit is let through. The filters grow by chaining larger
// ones, so memory follows the series actually written, not the limit. The
// hot path — a series already admitted in the current generation — takes
// no lock and allocates nothing: one hash of the series' encoded name and
// one word of each filter in the chain.
//
// The limiter lives in memory only: after a restart it counts afresh, and
// the series written before it count again as they arrive.

// DefaultSeriesLimitWindow is the length of one generation of the
// cardinality limiter when Options.SeriesLimitWindow is 0.
const DefaultSeriesLimitWindow = time.Hour

// maxLimitReasons bounds LimitError.Reasons.
const maxLimitReasons = 5

// The reasons of vigil_rows_rejected_total that storage counts: the
// cardinality limits, and samples outside the time range the store keeps
// (timerange.go).
const (
	reasonSeriesLimit       = "series_limit"
	reasonMetricSeriesLimit = "metric_series_limit"
	reasonTooOld            = "too_old"
	reasonTooFuture         = "too_far_in_future"
)

var (
	rejectedBySeriesLimit       = metrics.GetOrCreateCounter(`vigil_rows_rejected_total{reason="` + reasonSeriesLimit + `"}`)
	rejectedByMetricSeriesLimit = metrics.GetOrCreateCounter(`vigil_rows_rejected_total{reason="` + reasonMetricSeriesLimit + `"}`)
	rejectedTooOld              = metrics.GetOrCreateCounter(`vigil_rows_rejected_total{reason="` + reasonTooOld + `"}`)
	rejectedTooFuture           = metrics.GetOrCreateCounter(`vigil_rows_rejected_total{reason="` + reasonTooFuture + `"}`)
)

// LimitError is returned by Append when some rows were refused: by the
// cardinality limits, or because their timestamps lie outside the range the
// store keeps (older than the retention, or more than FutureWindow ahead).
// The other rows of the batch WERE stored, written to the write-ahead log
// as every accepted row is: a caller must not send the batch again, and
// should tell its client what was refused.
type LimitError struct {
	// Stored is the number of rows that were stored.
	Stored int
	// Rejected is the number of rows that were refused; TooOld, TooFuture,
	// SeriesLimit and MetricSeriesLimit split it by the reason.
	Rejected          int
	TooOld            int
	TooFuture         int
	SeriesLimit       int
	MetricSeriesLimit int
	// MinTime and MaxTime are the range of timestamps (Unix milliseconds)
	// the store kept when TooOld or TooFuture are not zero.
	MinTime, MaxTime int64
	// Reasons describes the first series refused by the cardinality limits
	// (at most 5), each as the series, the limit and the count that
	// refused it.
	Reasons []string
	// RejectedSeries is the number of distinct refused series Reasons was
	// chosen from (a series repeated far apart in a batch counts twice).
	RejectedSeries int
}

// Error explains what happened to the batch and what to do about it, then
// lists the reasons.
func (e *LimitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d samples were refused and not stored; the other %d were stored.",
		e.Rejected, e.Rejected+e.Stored, e.Stored)
	if e.TooOld > 0 {
		fmt.Fprintf(&b, " %d are older than the retention (the oldest time kept is %s); a longer --retention keeps older samples.",
			e.TooOld, time.UnixMilli(e.MinTime).UTC().Format(time.RFC3339))
	}
	if e.TooFuture > 0 {
		fmt.Fprintf(&b, " %d are more than %g days ahead of Vigil's clock (the newest time accepted is %s); check the sender's clock and the timestamps' unit.",
			e.TooFuture, FutureWindow.Hours()/24, time.UnixMilli(e.MaxTime).UTC().Format(time.RFC3339))
	}
	if n := e.SeriesLimit + e.MetricSeriesLimit; n > 0 {
		fmt.Fprintf(&b, " %d were refused by the cardinality limits. "+
			"New series past a limit are refused; series already written recently keep being stored. "+
			"Remove high-cardinality labels (IDs, timestamps, user input) from the refused series, or raise the limit. Refused: ", n)
	}
	for i, r := range e.Reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r)
	}
	if more := e.RejectedSeries - len(e.Reasons); more > 0 {
		fmt.Fprintf(&b, "; and %d more series", more)
	}
	return b.String()
}

// merge adds the refusals of a later filter, which saw only the rows e
// let through, to e.
func (e *LimitError) merge(later *LimitError) {
	e.Rejected += later.Rejected
	e.Stored = later.Stored
	e.SeriesLimit += later.SeriesLimit
	e.MetricSeriesLimit += later.MetricSeriesLimit
	e.Reasons = later.Reasons
	e.RejectedSeries = later.RejectedSeries
}

// seriesLimiter is the cardinality limiter. It is safe for concurrent use.
type seriesLimiter struct {
	maxSeries    int // 0: no total limit
	maxPerMetric int // 0: no per-metric limit
	window       time.Duration
	now          func() time.Time // replaced by tests
	seed         maphash.Seed

	gen atomic.Pointer[limiterGen]

	// mu serializes the admission of series that are not yet in the
	// current generation, rotations, and every access to the generation
	// fields marked "guarded by mu".
	mu sync.Mutex
}

// limiterGen is one generation of the limiter: the series written since
// start, and the previous generation's, which it carries over.
type limiterGen struct {
	end  int64 // Unix nanoseconds at which the next generation starts
	cur  *hashSet
	prev *hashSet // nil when the previous generation is older than a window

	// Guarded by mu.
	curSeries  int // series in cur: carried over from prev, plus fresh
	prevSeries int // series in prev
	fresh      int // series in cur that are not in prev
	// names counts the series of each metric name, only with a
	// per-metric limit. prevNames is the previous generation's names,
	// read-only once the generation has rotated.
	names     map[string]*nameSeries
	prevNames map[string]*nameSeries
	topMetric int // the largest per-metric count of the window
}

// nameSeries counts the series of one metric name in a generation.
type nameSeries struct {
	total int // all series of the name in cur
	fresh int // those not in prev
}

func newSeriesLimiter(maxSeries, maxPerMetric int, window time.Duration) *seriesLimiter {
	if maxSeries <= 0 && maxPerMetric <= 0 {
		return nil
	}
	if window <= 0 {
		window = DefaultSeriesLimitWindow
	}
	l := &seriesLimiter{
		maxSeries:    max(maxSeries, 0),
		maxPerMetric: max(maxPerMetric, 0),
		window:       window,
		now:          time.Now,
		seed:         maphash.MakeSeed(),
	}
	l.gen.Store(l.newGen(nil, l.now().UnixNano()))
	return l
}

// newGen starts the generation that follows old (nil for the first) at now.
func (l *seriesLimiter) newGen(old *limiterGen, now int64) *limiterGen {
	capacity := initialHashSetCapacity
	if l.maxSeries > 0 {
		capacity = min(capacity, l.maxSeries)
	}
	g := &limiterGen{end: now + int64(l.window)}
	if old != nil && now < old.end+int64(l.window) {
		// old covered the window just ended: it becomes the previous one.
		g.prev, g.prevSeries, g.prevNames = old.cur, old.curSeries, old.names
		capacity = max(capacity, old.curSeries)
		for _, n := range old.names {
			g.topMetric = max(g.topMetric, n.total)
		}
	}
	g.cur = newHashSet(capacity, l.maxSeries)
	if l.maxPerMetric > 0 {
		g.names = make(map[string]*nameSeries, len(g.prevNames))
	}
	return g
}

// current returns the generation in force at now, rotating if it is due.
func (l *seriesLimiter) current(now int64) *limiterGen {
	g := l.gen.Load()
	if now < g.end {
		return g
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.currentLocked(now)
}

func (l *seriesLimiter) currentLocked(now int64) *limiterGen {
	g := l.gen.Load()
	if now >= g.end {
		g = l.newGen(g, now)
		l.gen.Store(g)
	}
	return g
}

// The reasons admit gives.
type limitVerdict uint8

const (
	admitted limitVerdict = iota
	refusedSeriesLimit
	refusedMetricSeriesLimit
)

// filter returns the rows of mrs that the limits admit, registering their
// series, and a *LimitError describing the others, or nil when every row
// passed. When every row passes it returns mrs itself; otherwise the
// admitted rows are appended to scratch[:0], whose backing array the
// result then shares.
func (l *seriesLimiter) filter(mrs, scratch []vmstorage.MetricRow) ([]vmstorage.MetricRow, *LimitError) {
	out, lerr, _ := l.filterKnown(mrs, scratch, nil, 0)
	return out, lerr
}

// filterKnown is filter for rows of which known[i] tells that the series
// of mrs[i] was admitted in the generation that ends at knownGen (see
// SeriesMemo): in that generation they pass without a look-up. It also
// returns the end of the generation that decided.
func (l *seriesLimiter) filterKnown(mrs, scratch []vmstorage.MetricRow, known []bool, knownGen int64) ([]vmstorage.MetricRow, *LimitError, int64) {
	now := l.now().UnixNano()
	g := l.current(now)
	if g.end != knownGen {
		known = nil
	}
	var (
		lerr     *LimitError
		out      []vmstorage.MetricRow
		prevName []byte
		verdict  limitVerdict
		reasonHs [maxLimitReasons]uint64
	)
	for i := range mrs {
		if known != nil && known[i] {
			if lerr != nil {
				out = append(out, mrs[i])
			}
			continue
		}
		name := mrs[i].MetricNameRaw
		// Rows shares one name among the samples of a series added
		// together: decide once per series.
		if i == 0 || len(name) != len(prevName) || unsafe.SliceData(name) != unsafe.SliceData(prevName) {
			prevName = name
			key := seriesKey(name)
			h := maphash.Bytes(l.seed, key)
			verdict = admitted
			if !g.cur.has(h) {
				verdict = l.admitSlow(now, h, key)
				if verdict != admitted {
					if lerr == nil {
						lerr = &LimitError{}
						out = append(scratch[:0], mrs[:i]...)
					}
					seen := false
					for _, rh := range reasonHs[:len(lerr.Reasons)] {
						seen = seen || rh == h
					}
					if !seen {
						lerr.RejectedSeries++
						if len(lerr.Reasons) < maxLimitReasons {
							reasonHs[len(lerr.Reasons)] = h
							lerr.Reasons = append(lerr.Reasons, formatSeries(key)+": "+l.refusal(verdict, key))
						}
					}
				}
			}
		}
		switch verdict {
		case admitted:
			if lerr != nil {
				out = append(out, mrs[i])
			}
		case refusedSeriesLimit:
			lerr.SeriesLimit++
		case refusedMetricSeriesLimit:
			lerr.MetricSeriesLimit++
		}
	}
	if lerr == nil {
		return mrs, nil, g.end
	}
	lerr.Rejected = lerr.SeriesLimit + lerr.MetricSeriesLimit
	lerr.Stored = len(out)
	rejectedBySeriesLimit.Add(lerr.SeriesLimit)
	rejectedByMetricSeriesLimit.Add(lerr.MetricSeriesLimit)
	return out, lerr, g.end
}

// admitSlow decides on a series that is not in the current generation:
// one carried over from the previous generation always passes, a new one
// passes if the limits leave room.
func (l *seriesLimiter) admitSlow(now int64, h uint64, key []byte) limitVerdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.currentLocked(now)
	if g.cur.has(h) {
		return admitted // admitted by a concurrent Append meanwhile
	}
	carried := g.prev != nil && g.prev.has(h)
	var metric []byte
	var ns *nameSeries
	prevOfName := 0
	if l.maxPerMetric > 0 {
		metric = metricNameOf(key)
		ns = g.names[string(metric)]
		if p := g.prevNames[string(metric)]; p != nil {
			prevOfName = p.total
		}
	}
	if !carried {
		if l.maxSeries > 0 && g.prevSeries+g.fresh >= l.maxSeries {
			return refusedSeriesLimit
		}
		n := prevOfName
		if ns != nil {
			n += ns.fresh
		}
		if l.maxPerMetric > 0 && n >= l.maxPerMetric {
			return refusedMetricSeriesLimit
		}
	}
	g.cur.add(h)
	g.curSeries++
	if !carried {
		g.fresh++
	}
	if l.maxPerMetric > 0 {
		if ns == nil {
			ns = &nameSeries{}
			g.names[string(metric)] = ns
		}
		ns.total++
		if !carried {
			ns.fresh++
			g.topMetric = max(g.topMetric, prevOfName+ns.fresh)
		}
	}
	return admitted
}

// refusal says why the limit named by v refused the series key.
func (l *seriesLimiter) refusal(v limitVerdict, key []byte) string {
	if v == refusedSeriesLimit {
		return fmt.Sprintf("%s: the limit of %d series written in the last %s (--limits.max-series) is reached",
			reasonSeriesLimit, l.maxSeries, windowString(l.window))
	}
	return fmt.Sprintf("%s: metric %q reached the limit of %d series per metric name written in the last %s (--limits.max-series-per-metric)",
		reasonMetricSeriesLimit, metricNameOf(key), l.maxPerMetric, windowString(l.window))
}

// limiterUsage is what the limiter's gauges show.
type limiterUsage struct {
	series    int // distinct series in the window
	topMetric int // series of the metric name that has most
}

func (l *seriesLimiter) usage() limiterUsage {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.currentLocked(l.now().UnixNano())
	return limiterUsage{series: g.prevSeries + g.fresh, topMetric: g.topMetric}
}

// windowString says how far back the limiter counts: one to two windows.
func windowString(d time.Duration) string {
	return shortDuration(d) + " to " + shortDuration(2*d)
}

// shortDuration formats d as 1h or 1h30m rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// nanSuffix ends the encoded name of a series' NaN shadow (see nanLabel).
var nanSuffix = func() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(len(nanLabel)))
	b = append(b, nanLabel...)
	b = binary.BigEndian.AppendUint16(b, 1)
	return append(b, '1')
}()

// seriesKey is the encoded name the limiter identifies a series by: the
// NaN shadow of a series counts as the series itself.
func seriesKey(raw []byte) []byte {
	if k, ok := bytes.CutSuffix(raw, nanSuffix); ok {
		return k
	}
	return raw
}

// metricNameOf returns the metric name in an encoded series name (the
// label with the empty name, as Rows encodes __name__), or nil. The result
// points into raw.
func metricNameOf(raw []byte) []byte {
	for len(raw) >= 4 {
		kn := int(binary.BigEndian.Uint16(raw))
		if len(raw) < 2+kn+2 {
			return nil
		}
		vn := int(binary.BigEndian.Uint16(raw[2+kn:]))
		if len(raw) < 4+kn+vn {
			return nil
		}
		if kn == 0 {
			return raw[4 : 4+vn]
		}
		raw = raw[4+kn+vn:]
	}
	return nil
}

// formatSeries formats an encoded series name as Prometheus prints a
// metric: name{label="value", ...}, labels sorted.
func formatSeries(raw []byte) string {
	var mn vmstorage.MetricName
	if err := mn.UnmarshalRaw(raw); err != nil {
		return fmt.Sprintf("<undecodable series %q>", raw)
	}
	slices.SortFunc(mn.Tags, func(a, b vmstorage.Tag) int { return bytes.Compare(a.Key, b.Key) })
	b := append([]byte(nil), mn.MetricGroup...)
	for i, t := range mn.Tags {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ", "...)
		}
		b = append(b, t.Key...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, string(t.Value))
	}
	if len(mn.Tags) > 0 {
		b = append(b, '}')
	}
	return string(b)
}

// hashSet is an approximate set of series hashes: a chain of blocked
// Bloom filters, each four times the capacity of the one before, so that
// memory follows the series added. has is safe to call concurrently with
// add; add must be serialized by the caller.
type hashSet struct {
	filters  atomic.Pointer[[]*bloomFilter]
	limit    int // the most series it will hold, if > 0: bounds the growth
	capacity int // the sum of the filters' capacities
}

// initialHashSetCapacity is the series capacity of a limiter's first filter:
// 128 KiB, which stays in the CPU caches of a small deployment.
const initialHashSetCapacity = 1 << 16

func newHashSet(capacity, limit int) *hashSet {
	f := newBloomFilter(capacity)
	s := &hashSet{limit: limit, capacity: f.capacity}
	fs := []*bloomFilter{f}
	s.filters.Store(&fs)
	return s
}

func (s *hashSet) has(h uint64) bool {
	for _, f := range *s.filters.Load() {
		if f.has(h) {
			return true
		}
	}
	return false
}

// add adds h, which the caller has checked is not in s yet.
func (s *hashSet) add(h uint64) {
	fs := *s.filters.Load()
	last := fs[len(fs)-1]
	if last.n >= last.capacity {
		grow := 4 * last.capacity
		if s.limit > 0 && s.limit > s.capacity {
			grow = min(grow, max(s.limit-s.capacity, initialHashSetCapacity))
		}
		last = newBloomFilter(grow)
		s.capacity += last.capacity
		next := append(fs[:len(fs):len(fs)], last)
		s.filters.Store(&next)
	}
	last.add(h)
	last.n++
}

// bloomFilter is a register-blocked Bloom filter: an item sets 5 bits of
// one 64-bit word, so that a look-up is one load and a compare.
type bloomFilter struct {
	words    []uint64
	capacity int
	n        int // items added; written under the limiter's mu
}

// bloomBitsPerItem sizes the filter: 16 bits (2 bytes) per item give a
// false positive rate of about 0.3%.
const bloomBitsPerItem = 16

func newBloomFilter(capacity int) *bloomFilter {
	capacity = max(capacity, 64)
	return &bloomFilter{words: make([]uint64, (capacity*bloomBitsPerItem+63)/64), capacity: capacity}
}

// slot returns the word and the bits of h: the word from the high bits of
// h, the bits from the low 30.
func (f *bloomFilter) slot(h uint64) (*uint64, uint64) {
	i, _ := bits.Mul64(h, uint64(len(f.words)))
	mask := uint64(1)<<(h&63) | uint64(1)<<(h>>6&63) | uint64(1)<<(h>>12&63) | uint64(1)<<(h>>18&63) | uint64(1)<<(h>>24&63)
	return &f.words[i], mask
}

func (f *bloomFilter) has(h uint64) bool {
	w, mask := f.slot(h)
	return atomic.LoadUint64(w)&mask == mask
}

func (f *bloomFilter) add(h uint64) {
	w, mask := f.slot(h)
	atomic.OrUint64(w, mask)
}
