package storage

import (
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/fasttime"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// FutureWindow is how far ahead of the clock a sample may be: the store's
// own bound (lib/storage's future retention, 2 days at least), past which
// it drops samples without a word.
const FutureWindow = 2 * 24 * time.Hour

// acceptedRange returns the oldest and newest timestamps, in Unix
// milliseconds, that the store keeps now. The store reads its clock in
// whole seconds (fasttime); reading it the same way makes the two agree,
// so that no sample Vigil lets through is dropped by the store after all.
func (s *Storage) acceptedRange() (minTs, maxTs int64) {
	now := int64(fasttime.UnixTimestamp()) * 1000
	return now - s.opts.Retention.Milliseconds(), now + FutureWindow.Milliseconds()
}

// inTimeRange reports whether every row of mrs lies inside [minTs, maxTs].
func inTimeRange(mrs []vmstorage.MetricRow, minTs, maxTs int64) bool {
	for i := range mrs {
		if ts := mrs[i].Timestamp; ts < minTs || ts > maxTs {
			return false
		}
	}
	return true
}

// filterTimeRange appends the rows of mrs inside [minTs, maxTs] to
// scratch[:0] and returns them, with a *LimitError counting the others
// (nil when there are none).
func filterTimeRange(mrs, scratch []vmstorage.MetricRow, minTs, maxTs int64) ([]vmstorage.MetricRow, *LimitError) {
	out := scratch[:0]
	var tooOld, tooFuture int
	for i := range mrs {
		switch ts := mrs[i].Timestamp; {
		case ts < minTs:
			tooOld++
		case ts > maxTs:
			tooFuture++
		default:
			out = append(out, mrs[i])
		}
	}
	if tooOld+tooFuture == 0 {
		return out, nil
	}
	rejectedTooOld.Add(tooOld)
	rejectedTooFuture.Add(tooFuture)
	return out, &LimitError{
		Stored: len(out), Rejected: tooOld + tooFuture, TooOld: tooOld, TooFuture: tooFuture,
		MinTime: minTs, MaxTime: maxTs,
	}
}
