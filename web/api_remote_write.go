package web

import (
	"time"

	"github.com/labstack/echo/v4"
)

// RemoteWriteProvider reports the remotes Vigil sends its samples to
// (remote_write), for /api/v1/status/remote_write and the status page; the
// composition root implements it. With nil, the list is empty.
type RemoteWriteProvider interface {
	RemoteWrites() []RemoteWriteStatus
}

// RemoteWriteStatus is one remote's state.
type RemoteWriteStatus struct {
	Name     string
	URL      string // without a password it may hold
	QueueDir string // relative to the data directory

	PendingBytes    int64 // waiting on disk to be delivered
	MaxPendingBytes int64 // the queue's bound; past it the oldest samples are dropped

	SamplesSent     uint64
	SamplesRetried  uint64
	SamplesFiltered uint64            // dropped on purpose by write_relabel_configs
	SamplesDropped  map[string]uint64 // by reason: queue_full, rejected, too_old, write_error

	LastError            string
	LastErrorTime        time.Time // zero: none since Vigil started
	LastSendTime         time.Time // zero: nothing delivered since Vigil started
	HighestSentTimestamp time.Time // the newest sample delivered
	Shards               int       // requests sent at once in the last round
}

type remoteWriteJSON struct {
	Name                 string            `json:"name"`
	URL                  string            `json:"url"`
	QueueDir             string            `json:"queueDir"`
	PendingBytes         int64             `json:"pendingBytes"`
	MaxPendingBytes      int64             `json:"maxPendingBytes"`
	SamplesSent          uint64            `json:"samplesSent"`
	SamplesRetried       uint64            `json:"samplesRetried"`
	SamplesFiltered      uint64            `json:"samplesFiltered"`
	SamplesDropped       map[string]uint64 `json:"samplesDropped"`
	LastError            string            `json:"lastError"`
	LastErrorTime        *time.Time        `json:"lastErrorTime"`
	LastSendTime         *time.Time        `json:"lastSendTime"`
	HighestSentTimestamp *time.Time        `json:"highestSentTimestamp"`
	Shards               int               `json:"shards"`
}

// timeOrNull is nil for the zero time, which JSON shows as null.
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// remoteWriteStatus serves /api/v1/status/remote_write in Prometheus'
// envelope: {"remotes": [...]}, one entry per remote.
func (s *Server) remoteWriteStatus(echo.Context) apiResult {
	out := []remoteWriteJSON{}
	if s.deps.RemoteWrite != nil {
		for _, r := range s.deps.RemoteWrite.RemoteWrites() {
			dropped := r.SamplesDropped
			if dropped == nil {
				dropped = map[string]uint64{}
			}
			out = append(out, remoteWriteJSON{
				Name: r.Name, URL: r.URL, QueueDir: r.QueueDir,
				PendingBytes: r.PendingBytes, MaxPendingBytes: r.MaxPendingBytes,
				SamplesSent: r.SamplesSent, SamplesRetried: r.SamplesRetried,
				SamplesFiltered: r.SamplesFiltered, SamplesDropped: dropped,
				LastError:            r.LastError,
				LastErrorTime:        timeOrNull(r.LastErrorTime),
				LastSendTime:         timeOrNull(r.LastSendTime),
				HighestSentTimestamp: timeOrNull(r.HighestSentTimestamp),
				Shards:               r.Shards,
			})
		}
	}
	return apiResult{data: map[string]any{"remotes": out}}
}
