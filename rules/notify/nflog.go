package notify

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// This file is the notification log: for each aggregation group and
// integration, which alerts the last notification reported firing and
// resolved, and when it went out. It decides whether a group's flush
// must notify again, and it lives in bbolt so that a restart neither
// sends again what was sent nor forgets a repeat timer.

const nflogBucket = "notify_log"

// logEntry is the last notification of one group to one integration.
type logEntry struct {
	Firing   []uint64  `json:"firing"`   // fingerprints
	Resolved []uint64  `json:"resolved"` // fingerprints
	At       time.Time `json:"at"`
	ExpireAt time.Time `json:"expireAt"`
}

type nflog struct {
	db *bbolt.DB
	mu sync.Mutex
	m  map[string]logEntry
}

func newNflog(db *bbolt.DB, now time.Time) (*nflog, error) {
	l := &nflog{db: db, m: map[string]logEntry{}}
	if db == nil {
		return l, nil
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(nflogBucket))
		if err != nil {
			return err
		}
		var expired [][]byte
		err = b.ForEach(func(k, v []byte) error {
			var e logEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("notification log entry %q: %w", k, err)
			}
			if e.ExpireAt.Before(now) {
				expired = append(expired, k)
				return nil
			}
			l.m[string(k)] = e
			return nil
		})
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot load the notification log: %w", err)
	}
	return l, nil
}

func (l *nflog) get(key string) (logEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	return e, ok
}

func (l *nflog) put(key string, e logEntry) error {
	l.mu.Lock()
	l.m[key] = e
	l.mu.Unlock()
	if l.db == nil {
		return nil
	}
	v, _ := json.Marshal(e)
	// The flushes of a tick put their entries at about the same time:
	// Batch writes them in one transaction, one fsync rather than one
	// each, and returns once that is on disk. The put is idempotent, as
	// Batch wants, and a group's entries are put one flush at a time, in
	// order.
	return l.db.Batch(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(nflogBucket)).Put([]byte(key), v) })
}

func isSubset(set, of []uint64) bool {
	in := make(map[uint64]bool, len(of))
	for _, f := range of {
		in[f] = true
	}
	for _, f := range set {
		if !in[f] {
			return false
		}
	}
	return true
}

// The reasons to notify, as Alertmanager names them in the webhook's
// notification_reason and the templates' .NotificationReason.
const (
	reasonFirst          = "first notification"
	reasonNewAlerts      = "new alerts added"
	reasonNewResolved    = "some alerts resolved"
	reasonAllResolved    = "all alerts resolved"
	reasonRepeatInterval = "repeat interval elapsed"
)

// notifyReason is Alertmanager's deduplication: it returns why to notify,
// or "" not to. Notify when there is no entry and something fires (or
// the last notification was a resolution), when a new alert fires, when
// everything resolved after something fired, when a new alert resolved
// (for integrations that send resolved ones), or when repeat has passed.
func notifyReason(e logEntry, ok bool, firing, resolved []uint64, sendResolved bool, repeat time.Duration, now time.Time) string {
	switch {
	case !ok:
		if len(firing) > 0 {
			return reasonFirst
		}
	case !isSubset(firing, e.Firing):
		if len(e.Firing) == 0 {
			return reasonFirst
		}
		return reasonNewAlerts
	case len(firing) == 0:
		if len(e.Firing) > 0 {
			return reasonAllResolved
		}
	case sendResolved && !isSubset(resolved, e.Resolved):
		return reasonNewResolved
	case !e.At.Add(repeat).After(now):
		return reasonRepeatInterval
	}
	return ""
}

// gc forgets the entries past their ExpireAt (repeat_interval and a day
// after they were written).
func (l *nflog) gc(now time.Time) error {
	l.mu.Lock()
	var gone []string
	for k, e := range l.m {
		if e.ExpireAt.Before(now) {
			gone = append(gone, k)
			delete(l.m, k)
		}
	}
	l.mu.Unlock()
	if l.db == nil || len(gone) == 0 {
		return nil
	}
	return l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(nflogBucket))
		for _, k := range gone {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}
