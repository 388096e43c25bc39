package remotewrite

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Why samples were dropped, the reason label of
// vigil_remote_write_samples_dropped_total.
const (
	// reasonQueueFull: the queue reached vigil_max_disk_usage and its
	// oldest samples made room for new ones.
	reasonQueueFull = "queue_full"
	// reasonRejected: the remote answered 4xx (not 429): it will never
	// take the request, so retrying is pointless.
	reasonRejected = "rejected"
	// reasonTooOld: older than queue_config's sample_age_limit when sent.
	reasonTooOld = "too_old"
	// reasonWriteError: the queue could not be written (disk full or
	// failing).
	reasonWriteError = "write_error"
)

var dropReasons = []string{reasonQueueFull, reasonRejected, reasonTooOld, reasonWriteError}

// stats are one remote's self-metrics (vigil_remote_write_*{remote,url})
// and the state /api/v1/status/remote_write shows. They belong to the
// remote for as long as it is configured; counters carry over a change
// of its settings.
type stats struct {
	mu     sync.Mutex
	set    *metrics.Set
	labels string // remote="...",url="..."

	sent     *metrics.Counter
	retried  *metrics.Counter
	filtered *metrics.Counter
	dropped  map[string]*metrics.Counter

	lastError     string
	lastErrorAt   time.Time
	lastSendAt    time.Time
	highestSentMs int64
	shards        int
}

// newStats creates the metrics of the remote named name sending to url;
// register exposes them.
func newStats(name, url string) *stats {
	st := &stats{set: metrics.NewSet(), dropped: map[string]*metrics.Counter{}}
	st.labels = fmt.Sprintf(`remote=%q,url=%q`, name, redactURL(url))
	st.sent = st.set.NewCounter(st.metric("samples_sent_total"))
	st.retried = st.set.NewCounter(st.metric("samples_retried_total"))
	st.filtered = st.set.NewCounter(st.metric("samples_filtered_total"))
	for _, r := range dropReasons {
		st.dropped[r] = st.set.NewCounter(st.metric("samples_dropped_total", fmt.Sprintf(`reason=%q`, r)))
	}
	gauge := func(name string, f func() float64) {
		st.set.NewGauge(st.metric(name), func() float64 {
			st.mu.Lock()
			defer st.mu.Unlock()
			return f()
		})
	}
	gauge("last_send_timestamp_seconds", func() float64 { return unixSeconds(st.lastSendAt) })
	gauge("last_error_timestamp_seconds", func() float64 { return unixSeconds(st.lastErrorAt) })
	gauge("highest_sent_timestamp_seconds", func() float64 { return float64(st.highestSentMs) / 1e3 })
	gauge("shards", func() float64 { return float64(st.shards) })
	return st
}

func (st *stats) metric(name string, extra ...string) string {
	return "vigil_remote_write_" + name + "{" + strings.Join(append([]string{st.labels}, extra...), ",") + "}"
}

// register exposes the metrics on /metrics, with the queue's pending
// bytes and bound read from pending and maxPending.
func (st *stats) register(pending, maxPending func() int64) {
	st.set.NewGauge(st.metric("pending_bytes"), func() float64 { return float64(pending()) })
	st.set.NewGauge(st.metric("max_pending_bytes"), func() float64 { return float64(maxPending()) })
	metrics.RegisterSet(st.set)
}

// carryFrom takes over the counts and state of prev, the metrics of the
// same remote before a change of its settings.
func (st *stats) carryFrom(prev *stats) {
	st.sent.Set(prev.sent.Get())
	st.retried.Set(prev.retried.Get())
	st.filtered.Set(prev.filtered.Get())
	for r, c := range prev.dropped {
		st.dropped[r].Set(c.Get())
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastError, st.lastErrorAt, st.lastSendAt = prev.lastError, prev.lastErrorAt, prev.lastSendAt
	st.highestSentMs, st.shards = prev.highestSentMs, prev.shards
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func (st *stats) unregister() { metrics.UnregisterSet(st.set, true) }

func (st *stats) drop(reason string, samples int) {
	if samples > 0 {
		st.dropped[reason].Add(samples)
	}
}

// delivered records a request the remote took.
func (st *stats) delivered(samples int, newestMs int64) {
	st.sent.Add(samples)
	st.mu.Lock()
	st.lastSendAt = time.Now()
	st.highestSentMs = max(st.highestSentMs, newestMs)
	st.mu.Unlock()
}

func (st *stats) failed(err error) {
	st.mu.Lock()
	st.lastError, st.lastErrorAt = err.Error(), time.Now()
	st.mu.Unlock()
}

func (st *stats) setShards(n int) {
	st.mu.Lock()
	st.shards = n
	st.mu.Unlock()
}

// Status is a remote's state for /api/v1/status/remote_write.
type Status struct {
	// Name is the remote's name, or url-<hash> for one without.
	Name string
	URL  string // without the password of a URL that has one
	// QueueDir is the remote's directory under the data directory.
	QueueDir string

	PendingBytes    int64
	MaxPendingBytes int64

	SamplesSent     uint64
	SamplesRetried  uint64
	SamplesFiltered uint64
	SamplesDropped  map[string]uint64 // by reason

	LastError     string
	LastErrorTime time.Time // zero: no error since Vigil started
	LastSendTime  time.Time // zero: nothing delivered since Vigil started
	// HighestSentTimestamp is the newest sample delivered.
	HighestSentTimestamp time.Time
	Shards               int
}

func (st *stats) status() Status {
	out := Status{
		SamplesSent:     st.sent.Get(),
		SamplesRetried:  st.retried.Get(),
		SamplesFiltered: st.filtered.Get(),
		SamplesDropped:  map[string]uint64{},
	}
	for r, c := range st.dropped {
		out.SamplesDropped[r] = c.Get()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out.LastError, out.LastErrorTime, out.LastSendTime = st.lastError, st.lastErrorAt, st.lastSendAt
	if st.highestSentMs > 0 {
		out.HighestSentTimestamp = time.UnixMilli(st.highestSentMs)
	}
	out.Shards = st.shards
	return out
}
