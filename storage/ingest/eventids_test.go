package ingest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/storage"
)

// TestEventIDsAcrossRestarts: an ID recorded, flushed to the state file
// and sent again after a restart counts once; after an hour it counts
// again, and the clean-up removes the expired IDs from the file.
func TestEventIDsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(filepath.Join(dir, "tsdb"), storage.Options{Retention: 100 * 365 * 24 * time.Hour, NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	openDB := func() *bbolt.DB {
		db, err := bbolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	now := time.Now().Add(-3 * time.Hour)
	clock := func() time.Time { return now }
	newRecorder := func(db *bbolt.DB) *Recorder {
		r := NewRecorder(st, clock)
		if err := r.KeepIDs(db); err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(r *Recorder, id string) (recorded, retried int) {
		t.Helper()
		n, rt, err := r.Record(context.Background(), NotificationEvent, strings.NewReader(`{"id":"`+id+`","channel":"sms","status":"sent"}`))
		if err != nil {
			t.Fatal(err)
		}
		return n, rt
	}
	db := openDB()
	r := newRecorder(db)
	if n, _ := send(r, "n1"); n != 1 {
		t.Fatal("n1 not recorded")
	}
	now = now.Add(10 * time.Minute)
	send(r, "n2")
	if err := r.FlushIDs(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// A restart twenty minutes later: both are retries.
	now = now.Add(20 * time.Minute)
	db = openDB()
	defer db.Close()
	r = newRecorder(db)
	if n, retried := send(r, "n1"); n != 0 || retried != 1 {
		t.Errorf("n1 after a restart: recorded %d, retried %d; want a retry", n, retried)
	}
	// 61 minutes after n1: it is new again, n2 (51 minutes old) is still
	// a retry.
	now = now.Add(30 * time.Minute)
	if n, _ := send(r, "n1"); n != 1 {
		t.Error("n1 an hour later was not recorded")
	}
	if _, retried := send(r, "n2"); retried != 1 {
		t.Error("n2 within its hour was not a retry")
	}
	if err := r.FlushIDs(); err != nil {
		t.Fatal(err)
	}
	// Two hours on, the clean-up removes both from the file.
	now = now.Add(2 * time.Hour)
	if n, err := r.ForgetExpiredIDs(now); err != nil || n != 2 {
		t.Errorf("ForgetExpiredIDs = %d, %v; want the 2 IDs in the file", n, err)
	}
	db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(eventIDsBucket).Stats().KeyN; n != 0 {
			t.Errorf("%d IDs left in the state file", n)
		}
		return nil
	})
}

// TestEventIDsBounded: past the bound, the oldest IDs are forgotten
// first.
func TestEventIDsBounded(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := NewRecorder(st, nil)
	r.maxIDs = 3
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, _, err := r.Record(context.Background(), NotificationEvent, strings.NewReader(`{"id":"`+id+`","channel":"sms","status":"sent"}`)); err != nil {
			t.Fatal(err)
		}
	}
	k := func(id string) string { return string(NotificationEvent) + "\x00" + id }
	if _, a := r.ids[k("a")]; len(r.ids) != 3 || a || r.ids[k("c")].IsZero() || r.ids[k("e")].IsZero() {
		t.Errorf("IDs remembered: %v, want c, d and e", r.ids)
	}
}
