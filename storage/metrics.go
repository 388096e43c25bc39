package storage

import (
	"sync"
	"time"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/VictoriaMetrics/metrics"
)

// storeMetrics exposes the store's size, series and merges as Vigil's
// self-metrics (vigil_storage_*), and the cardinality limiter's usage
// (vigil_series_limit_*, vigil_metric_series_limit_*; the rows it refuses
// are counted in vigil_rows_rejected_total, see limits.go). The store's
// figures come from one UpdateMetrics call per scrape, cached briefly
// because each gauge asks.
type storeMetrics struct {
	s   *Storage
	set *metrics.Set

	mu      sync.Mutex
	updated time.Time
	m       vmstorage.Metrics

	checkpoints       *metrics.Counter
	checkpointSeconds *metrics.FloatCounter

	// series is the count of series in the store, counted at seriesAt.
	series   uint64
	seriesAt time.Time
}

// seriesCountEvery is how often vigil_storage_series is counted afresh.
// Counting walks the whole index: at every self-scrape it took 2% of
// Vigil's CPU while scraping 400,000 series (the scrape benchmark), and
// the count moves slowly (vigil_storage_new_series_created_total shows
// new series at once).
const seriesCountEvery = 5 * time.Minute

// seriesCount returns the number of series in the store, at most
// seriesCountEvery old.
func (sm *storeMetrics) seriesCount() uint64 {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.seriesAt.IsZero() || time.Since(sm.seriesAt) >= seriesCountEvery {
		if n, err := sm.s.vm.GetSeriesCount(noDeadline()); err == nil {
			sm.series, sm.seriesAt = n, time.Now()
		}
	}
	return sm.series
}

func newStoreMetrics(s *Storage) *storeMetrics {
	sm := &storeMetrics{s: s, set: metrics.NewSet()}
	sm.checkpoints = sm.set.NewCounter(`vigil_storage_wal_checkpoints_total`)
	sm.checkpointSeconds = sm.set.NewFloatCounter(`vigil_storage_wal_checkpoint_seconds_total`)
	gauge := func(name string, f func(m *vmstorage.Metrics) uint64) {
		sm.set.NewGauge(name, func() float64 {
			sm.mu.Lock()
			defer sm.mu.Unlock()
			if time.Since(sm.updated) > time.Second {
				sm.m = vmstorage.Metrics{}
				sm.s.vm.UpdateMetrics(&sm.m)
				sm.updated = time.Now()
			}
			return float64(f(&sm.m))
		})
	}
	gauge(`vigil_storage_data_size_bytes{type="samples"}`, func(m *vmstorage.Metrics) uint64 {
		return m.TableMetrics.InmemorySizeBytes + m.TableMetrics.SmallSizeBytes + m.TableMetrics.BigSizeBytes
	})
	sm.set.NewGauge(`vigil_storage_disk_usage_bytes`, func() float64 { return float64(s.DiskUsage()) })
	sm.set.NewGauge(`vigil_storage_free_disk_bytes`, func() float64 { return float64(s.FreeDiskSpace()) })
	gauge(`vigil_storage_rows{type="samples"}`, func(m *vmstorage.Metrics) uint64 { return m.TableMetrics.TotalRowsCount() })
	gauge(`vigil_storage_pending_rows`, func(m *vmstorage.Metrics) uint64 { return m.TableMetrics.PendingRows })
	gauge(`vigil_storage_new_series_created_total`, func(m *vmstorage.Metrics) uint64 { return m.NewTimeseriesCreated })
	gauge(`vigil_storage_rows_added_total`, func(m *vmstorage.Metrics) uint64 { return m.RowsAddedTotal })
	gauge(`vigil_storage_rows_out_of_retention_total{reason="too_old"}`, func(m *vmstorage.Metrics) uint64 { return m.TooSmallTimestampRows })
	gauge(`vigil_storage_rows_out_of_retention_total{reason="too_new"}`, func(m *vmstorage.Metrics) uint64 { return m.TooBigTimestampRows })
	gauge(`vigil_storage_merges_total{type="inmemory"}`, func(m *vmstorage.Metrics) uint64 { return m.TableMetrics.InmemoryMergesCount })
	gauge(`vigil_storage_merges_total{type="small"}`, func(m *vmstorage.Metrics) uint64 { return m.TableMetrics.SmallMergesCount })
	gauge(`vigil_storage_merges_total{type="big"}`, func(m *vmstorage.Metrics) uint64 { return m.TableMetrics.BigMergesCount })
	gauge(`vigil_storage_active_merges`, func(m *vmstorage.Metrics) uint64 {
		return m.TableMetrics.ActiveInmemoryMerges + m.TableMetrics.ActiveSmallMerges + m.TableMetrics.ActiveBigMerges
	})
	sm.set.NewGauge(`vigil_storage_series`, func() float64 { return float64(sm.seriesCount()) })
	if c := s.tail; c != nil {
		sm.set.NewGauge(`vigil_storage_tail_cache_bytes`, func() float64 { return float64(c.sizeBytes()) })
		sm.set.NewGauge(`vigil_storage_tail_cache_max_bytes`, func() float64 { return float64(c.maxBytes) })
		sm.set.NewGauge(`vigil_storage_tail_cache_requests_total{result="hit"}`, func() float64 { return float64(c.hits.Load()) })
		sm.set.NewGauge(`vigil_storage_tail_cache_requests_total{result="miss"}`, func() float64 { return float64(c.misses.Load()) })
	}
	if c := s.labels; c != nil {
		sm.set.NewGauge(`vigil_storage_label_cache_bytes`, func() float64 { return float64(c.sizeBytes()) })
		sm.set.NewGauge(`vigil_storage_label_cache_max_bytes`, func() float64 { return float64(c.maxBytes) })
		sm.set.NewGauge(`vigil_storage_label_cache_requests_total{result="hit"}`, func() float64 { return float64(c.hits.Load()) })
		sm.set.NewGauge(`vigil_storage_label_cache_requests_total{result="miss"}`, func() float64 { return float64(c.misses.Load()) })
	}
	if l := s.limits; l != nil {
		// As VictoriaMetrics' vm_hourly_series_limit_*: alert on
		// current / max before the limit refuses series.
		sm.set.NewGauge(`vigil_series_limit_current_series`, func() float64 { return float64(l.usage().series) })
		if l.maxSeries > 0 {
			sm.set.NewGauge(`vigil_series_limit_max_series`, func() float64 { return float64(l.maxSeries) })
		}
		if l.maxPerMetric > 0 {
			sm.set.NewGauge(`vigil_metric_series_limit_current_series`, func() float64 { return float64(l.usage().topMetric) })
			sm.set.NewGauge(`vigil_metric_series_limit_max_series`, func() float64 { return float64(l.maxPerMetric) })
		}
	}
	metrics.RegisterSet(sm.set)
	return sm
}

// checkpointed counts a checkpoint of the write-ahead log and its time.
func (sm *storeMetrics) checkpointed(d time.Duration) {
	sm.checkpoints.Inc()
	sm.checkpointSeconds.Add(d.Seconds())
}

func (sm *storeMetrics) unregister() {
	metrics.UnregisterSet(sm.set, true)
}
