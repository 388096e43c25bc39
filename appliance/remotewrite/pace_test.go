package remotewrite

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestPacerDecisions(t *testing.T) {
	t0 := time.Now()
	var p pacer
	steps := []struct {
		name    string
		full    bool
		backlog int64
		at      time.Duration
		want    bool
	}{
		{"a round that empties the queue is sent at full speed", false, 0, 0, false},
		{"the first full round is paced", true, 5000, time.Second, true},
		{"a full round while the queue grows is paced", true, 9000, 2 * time.Second, true},
		{"a full round while the queue shrinks is not", true, 8000, 3 * time.Second, false},
		{"growing again: paced again", true, 8500, 4 * time.Second, true},
		{"behind for a minute: full speed though the queue grows", true, 20000, time.Second + catchUpAfter, false},
		{"caught up", false, 0, 2 * catchUpAfter, false},
		{"a new burst is paced again", true, 3000, 2*catchUpAfter + time.Second, true},
	}
	for _, s := range steps {
		if got := p.next(s.full, s.backlog, t0.Add(s.at)); got != s.want {
			t.Errorf("%s: paced = %v, want %v", s.name, got, s.want)
		}
	}
}

// While samples are stored faster than the sender delivers them, it sends
// one request at a time; once the storing stops, it sends as many at once
// as it may to catch up; every sample arrives in order.
func TestSenderPacedWhileTheQueueGrows(t *testing.T) {
	r := newReceiver(t, nil)
	var inFlight, maxStoring, maxAfter atomic.Int64
	var storing atomic.Bool
	storing.Store(true)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if storing.Load() {
			maxStoring.Store(max(maxStoring.Load(), n))
		} else {
			maxAfter.Store(max(maxAfter.Load(), n))
		}
		time.Sleep(20 * time.Millisecond) // a remote that takes its time
		r.serve(w, req)
	}))
	t.Cleanup(front.Close)
	m, st := startManager(t, t.TempDir(), map[string]string{"replica": "a"}, Config{
		URL:  front.URL + "/api/v1/write",
		Name: "test",
		QueueConfig: QueueConfig{
			Capacity: 100, MaxSamplesPerSend: 100, MaxShards: 4,
			BatchSendDeadline: dur(50 * time.Millisecond),
		},
	})
	var want []sample
	for b := range 100 {
		// 100 samples every 10 ms: faster than one request of 100
		// samples every 20 ms and a rest.
		want = append(want, storeSeries(t, st, b, 1, 10, 10)...)
		time.Sleep(10 * time.Millisecond)
	}
	storing.Store(false)
	waitUntil(t, 60*time.Second, "every sample delivered", func() bool {
		return m.Status()[0].SamplesSent >= uint64(len(want)) && m.Status()[0].PendingBytes == 0
	})
	checkDelivered(t, r.accepted(), want)
	if got := maxStoring.Load(); got != 1 {
		t.Errorf("%d requests at once while the queue grew, want 1", got)
	}
	if got := maxAfter.Load(); got < 2 {
		t.Errorf("%d requests at once while catching up, want more than one", got)
	}
}
