package ingest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// Event IDs: an event sent again with the same id within idTTL (a Celery
// retry) counts once. The recorder remembers the IDs in memory, at most
// MaxEventIDs of them, and with KeepIDs also in the state file, written
// once a second by FlushIDs, so that a retry after a restart still counts
// once. A crash can lose the IDs of the last second, as the write-ahead
// log can lose its samples.

// idTTL is how long an event ID is remembered: longer than Celery's
// retries take.
const idTTL = time.Hour

// MaxEventIDs bounds the IDs remembered: past it the oldest are forgotten
// before their hour is up, so that a client sending a new ID with every
// event cannot take the memory.
const MaxEventIDs = 1_000_000

// eventIDsBucket holds the IDs in the state file: key the scoped ID,
// value the Unix nanoseconds of its recording, big-endian.
var eventIDsBucket = []byte("event_ids")

// idEntry is an ID and when it was recorded.
type idEntry struct {
	id string
	at time.Time
}

// rememberIDLocked notes id as recorded at t. r.mu is held.
func (r *Recorder) rememberIDLocked(id string, t time.Time) {
	r.ids[id] = t
	r.idq = append(r.idq, idEntry{id, t})
	if r.idsDB != nil {
		r.idsPending = append(r.idsPending, idEntry{id, t})
	}
}

// evictIDsLocked forgets the IDs past idTTL at now, and the oldest beyond
// r.maxIDs (MaxEventIDs), and says how many it forgot. r.mu is held.
func (r *Recorder) evictIDsLocked(now time.Time) int {
	n := 0
	for r.idHead < len(r.idq) {
		e := r.idq[r.idHead]
		if now.Sub(e.at) < idTTL && len(r.ids) <= r.maxIDs {
			break
		}
		// An ID forgotten and recorded again has a newer entry further on.
		if t, ok := r.ids[e.id]; ok && t.Equal(e.at) {
			delete(r.ids, e.id)
			n++
		}
		r.idq[r.idHead] = idEntry{}
		r.idHead++
	}
	if r.idHead > 1024 && r.idHead > len(r.idq)/2 {
		r.idq = slices.Clone(r.idq[r.idHead:])
		r.idHead = 0
	}
	return n
}

// KeepIDs keeps the event IDs in db across restarts, in its own bucket:
// it loads those of the last hour (and removes older ones) now, and
// FlushIDs writes new ones. Call it before the first Record.
func (r *Recorder) KeepIDs(db *bbolt.DB) error {
	now := r.now()
	var loaded []idEntry
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(eventIDsBucket)
		if err != nil {
			return err
		}
		var old [][]byte
		err = b.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				old = append(old, slices.Clone(k))
				return nil
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if now.Sub(at) >= idTTL {
				old = append(old, slices.Clone(k))
				return nil
			}
			loaded = append(loaded, idEntry{string(k), at})
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading the event IDs of the last hour: %w", err)
	}
	slices.SortFunc(loaded, func(a, b idEntry) int { return a.at.Compare(b.at) })
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range loaded {
		r.ids[e.id] = e.at
		r.idq = append(r.idq, e)
	}
	r.idsDB = db
	r.evictIDsLocked(now)
	return nil
}

// FlushIDs writes the IDs recorded since the last flush to the state
// file; the appliance calls it once a second and at shutdown.
func (r *Recorder) FlushIDs() error {
	r.mu.Lock()
	pending, db := r.idsPending, r.idsDB
	r.idsPending = nil
	r.mu.Unlock()
	if db == nil || len(pending) == 0 {
		return nil
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(eventIDsBucket)
		if err != nil {
			return err
		}
		// bbolt keeps the key and value slices until the commit: one
		// buffer for all, each in its own place.
		buf := make([]byte, 8*len(pending))
		for i, e := range pending {
			v := buf[8*i : 8*i+8]
			binary.BigEndian.PutUint64(v, uint64(e.at.UnixNano()))
			if err := b.Put([]byte(e.id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving %d event IDs: %w", len(pending), err)
	}
	return nil
}

// ForgetExpiredIDs forgets the event IDs recorded longer ago than retries
// are recognised (an hour), in memory and in the state file, and returns
// how many it forgot. Record forgets them in memory as it goes; the daily
// clean-up calls this to keep the state file small.
func (r *Recorder) ForgetExpiredIDs(now time.Time) (int, error) {
	r.mu.Lock()
	n := r.evictIDsLocked(now)
	db := r.idsDB
	r.mu.Unlock()
	if db == nil {
		return n, nil
	}
	n = 0
	err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(eventIDsBucket)
		if b == nil {
			return nil
		}
		// Deleting under a cursor can skip the next key: collect first.
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(v) != 8 || now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) >= idTTL {
				old = append(old, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("forgetting the expired event IDs: %w", err)
	}
	return n, nil
}
