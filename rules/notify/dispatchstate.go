package notify

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
)

// This file keeps the dispatcher's alerts and the flush times of its
// aggregation groups in bbolt, next to the notification log, so that a
// restart resumes each group where it was: an alert posted once (by a
// Prometheus that will not send it again) is still there, a resolution
// that was due is still sent, and a group flushes on its schedule rather
// than group_wait after the start. What changed is written in one
// transaction after each tick (tickEvery) by Run's saver, which takes
// every change since the last save, and once more when Run ends: a clean
// stop loses nothing, a crash at most the changes of the last tick.

const (
	alertsBucket = "notify_alerts" // fingerprint (8 bytes, big endian) → alert (alertcodec.go)
	groupsBucket = "notify_groups" // group key → next flush time (alertcodec.go)
)

// groupRecord is the JSON of a group's next flush time in the files of
// Vigil versions before the binary encoding.
type groupRecord struct {
	Next time.Time `json:"next"` // when it flushes next
}

// stateBatch is the changes taken from the dispatcher under its lock, to
// be written after it is released. A nil alert or a zero time is a
// deletion. The alerts are the dispatcher's own: an alert is never
// modified once stored, so they can be read without the lock.
type stateBatch struct {
	alerts map[model.Fingerprint]*Alert
	groups map[string]time.Time
}

type dispatchStore struct{ db *bbolt.DB }

func fpKey(fp model.Fingerprint) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(fp))
}

// load returns the alerts and the groups' flush times kept in the file.
func (s *dispatchStore) load() (map[model.Fingerprint]*Alert, map[string]time.Time, error) {
	alerts := map[model.Fingerprint]*Alert{}
	timers := map[string]time.Time{}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		ab, err := tx.CreateBucketIfNotExists([]byte(alertsBucket))
		if err != nil {
			return err
		}
		gb, err := tx.CreateBucketIfNotExists([]byte(groupsBucket))
		if err != nil {
			return err
		}
		err = ab.ForEach(func(k, v []byte) error {
			a, err := decodeAlert(v)
			if err != nil {
				return fmt.Errorf("alert %x: %w", k, err)
			}
			a.fp = a.Labels.Fingerprint()
			alerts[a.fp] = a
			return nil
		})
		if err != nil {
			return err
		}
		return gb.ForEach(func(k, v []byte) error {
			next, err := decodeGroupRecord(v)
			if err != nil {
				return fmt.Errorf("group %q: %w", k, err)
			}
			timers[string(k)] = next
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot load the notifier's alerts and groups: %w", err)
	}
	return alerts, timers, nil
}

// save writes b in one transaction. The values are encoded before it
// starts, so that bbolt's writer lock, which the notification log's
// writes wait for, is held only for the puts; the keys are put in order,
// so that each leaf page of the bucket is walked to once.
func (s *dispatchStore) save(b stateBatch) error {
	type put struct {
		key      []byte
		from, to int // the value in buf; from == to deletes
	}
	alerts := make([]put, 0, len(b.alerts))
	var buf []byte
	for fp, a := range b.alerts {
		p := put{key: fpKey(fp), from: len(buf)}
		if a != nil {
			buf = appendAlert(buf, a)
		}
		p.to = len(buf)
		alerts = append(alerts, p)
	}
	groups := make([]put, 0, len(b.groups))
	for key, next := range b.groups {
		p := put{key: []byte(key), from: len(buf)}
		if !next.IsZero() {
			buf = appendGroupRecord(buf, next)
		}
		p.to = len(buf)
		groups = append(groups, p)
	}
	byKey := func(a, b put) int { return bytes.Compare(a.key, b.key) }
	slices.SortFunc(alerts, byKey)
	slices.SortFunc(groups, byKey)
	write := func(bk *bbolt.Bucket, puts []put) error {
		for _, p := range puts {
			var err error
			if p.from == p.to {
				err = bk.Delete(p.key)
			} else {
				err = bk.Put(p.key, buf[p.from:p.to:p.to])
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := write(tx.Bucket([]byte(alertsBucket)), alerts); err != nil {
			return err
		}
		return write(tx.Bucket([]byte(groupsBucket)), groups)
	})
}

// markAlertLocked notes that the alert fp changed (or went away); d.mu is
// held.
func (d *Dispatcher) markAlertLocked(fp model.Fingerprint) {
	if d.store != nil {
		d.dirtyAlerts[fp] = true
	}
}

// markGroupLocked notes that the group key was created, flushed or
// removed; d.mu is held.
func (d *Dispatcher) markGroupLocked(key string) {
	if d.store != nil {
		d.dirtyGroups[key] = true
	}
}

// SaveState writes what changed since the last save; Run calls it when
// it ends.
func (d *Dispatcher) SaveState() {
	d.mu.Lock()
	d.saveAndUnlock()
}

// startSaver starts the goroutine that saves after each tick, until ctx
// ends; the channel closes when it has returned.
func (d *Dispatcher) startSaver(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	d.saverRunning.Store(true)
	go func() {
		defer close(done)
		defer d.saverRunning.Store(false)
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.saveNow:
				d.SaveState()
			}
		}
	}()
	return done
}

// saveAfterTick ends a Tick: it releases d.mu and has the changes saved,
// by the saver when Run runs one, at once otherwise (tests that drive
// Tick themselves).
func (d *Dispatcher) saveAfterTick() {
	if !d.saverRunning.Load() {
		d.saveAndUnlock()
		return
	}
	dirty := len(d.dirtyAlerts)+len(d.dirtyGroups) > 0
	d.mu.Unlock()
	if dirty {
		select {
		case d.saveNow <- struct{}{}:
		default: // a save is already asked for; it takes these changes too
		}
	}
}

// saveAndUnlock writes what changed under d.mu and releases d.mu. The
// state lock is taken before d.mu is released, so that the batches are
// written in the order they were taken, while d.mu is free for others
// during the write.
func (d *Dispatcher) saveAndUnlock() {
	if d.store == nil || len(d.dirtyAlerts)+len(d.dirtyGroups) == 0 {
		d.mu.Unlock()
		return
	}
	b := stateBatch{alerts: make(map[model.Fingerprint]*Alert, len(d.dirtyAlerts)), groups: make(map[string]time.Time, len(d.dirtyGroups))}
	for fp := range d.dirtyAlerts {
		b.alerts[fp] = d.alerts[fp]
	}
	for key := range d.dirtyGroups {
		if g, ok := d.groups[key]; ok {
			b.groups[key] = g.next
		} else {
			b.groups[key] = time.Time{}
		}
	}
	clear(d.dirtyAlerts)
	clear(d.dirtyGroups)
	d.stateMu.Lock()
	d.mu.Unlock()
	defer d.stateMu.Unlock()
	if err := d.store.save(b); err != nil {
		d.opts.Logger.Error("the notifier's alerts and groups not saved; a restart may lose them", "err", err)
	}
}

// restoreLocked gives the groups rebuilt from the restored alerts the
// flush times they had, and forgets those of groups that are gone; d.mu
// is held.
func (d *Dispatcher) restoreLocked(timers map[string]time.Time) {
	for key, g := range d.groups {
		if next, ok := timers[key]; ok {
			g.next = next
		}
		d.markGroupLocked(key)
	}
	for key := range timers {
		d.markGroupLocked(key)
	}
}
