package appliance

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/internal/clock"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// A backfill longer than the retention would write samples the store
// refuses; the demo writes what fits instead of stopping.
func TestDemoBackfillFitsTheRetention(t *testing.T) {
	const retention = 2 * time.Hour
	st, err := storage.Open(t.TempDir(), storage.Options{Retention: retention})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var (
		mu       sync.Mutex
		logBuf   bytes.Buffer
		from, to time.Time
	)
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logBuf}, nil))
	done := make(chan struct{})
	start := time.Now()
	d := startDemo(st, ingest.NewRecorder(st, nil), &demo.Exporter{}, clock.Wall{}, 3*time.Hour, log, func(_ context.Context, f, t time.Time) {
		from, to = f, t
		close(done)
	})
	defer d.close()
	deadline := time.Now().Add(2 * time.Minute)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-time.After(100 * time.Millisecond):
		}
		mu.Lock()
		logged := logBuf.String()
		mu.Unlock()
		if strings.Contains(logged, "the demo stopped") || time.Now().After(deadline) {
			t.Fatalf("the backfill did not finish; log:\n%s", logged)
		}
	}
	if from.Before(start.Add(-retention)) || to.Sub(from) < retention-2*time.Minute {
		t.Errorf("backfilled %s to %s, want the last %s but a minute or two", from, to, retention)
	}
	mu.Lock()
	defer mu.Unlock()
	if logged := logBuf.String(); !strings.Contains(logged, "demo backfill shortened to fit the retention") || strings.Contains(logged, "the demo stopped") {
		t.Errorf("log:\n%s", logged)
	}
}

// lockedWriter serializes the writes of the demo's goroutines to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
