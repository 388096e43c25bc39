package rules

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"go.etcd.io/bbolt"
)

// The buckets of the state file that the rules own.
var (
	// alertStateBucket holds, per group key, every alert of the group's
	// alerting rules with all its timers, rewritten after each evaluation.
	alertStateBucket = []byte("rules.alert_state")
	// historyBucket holds every alert transition under a key of the
	// transition's time (Unix nanoseconds, big-endian) and a sequence
	// number, so that a time range is a cursor range.
	historyBucket = []byte("rules.alert_history")
)

// stateStore keeps alert state and history in the bbolt state file.
type stateStore struct {
	db        *bbolt.DB
	retention time.Duration
}

func newStateStore(db *bbolt.DB, retention time.Duration) (*stateStore, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{alertStateBucket, historyBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rules: cannot create the alert buckets in the state file: %w", err)
	}
	return &stateStore{db: db, retention: retention}, nil
}

// float is a float64 that survives JSON, NaN and infinities included.
type float float64

func (f float) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatFloat(float64(f), 'g', -1, 64)), nil
}

func (f *float) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	*f = float(v)
	return err
}

// storedAlert is an Alert as the state file holds it.
type storedAlert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           AlertState    `json:"state"`
	Value           float         `json:"value"`
	ActiveAt        time.Time     `json:"activeAt"`
	FiredAt         time.Time     `json:"firedAt"`
	ResolvedAt      time.Time     `json:"resolvedAt"`
	KeepFiringSince time.Time     `json:"keepFiringSince"`
}

// storedRule is the state of one alerting rule, found again by identity.
type storedRule struct {
	Identity string        `json:"identity"`
	Alerts   []storedAlert `json:"alerts"`
}

func toStored(a Alert) storedAlert {
	return storedAlert{a.Labels, a.Annotations, a.State, float(a.Value), a.ActiveAt, a.FiredAt, a.ResolvedAt, a.KeepFiringSince}
}

func (s storedAlert) alert() Alert {
	return Alert{Labels: s.Labels, Annotations: s.Annotations, State: s.State, Value: float64(s.Value),
		ActiveAt: s.ActiveAt, FiredAt: s.FiredAt, ResolvedAt: s.ResolvedAt, KeepFiringSince: s.KeepFiringSince}
}

// save writes the state of g's alerting rules and the transitions of its
// last evaluation, and drops history older than the retention, in one
// transaction.
func (st *stateStore) save(g *Group, changes []Transition, now time.Time) error {
	var rs []storedRule
	for _, rule := range g.rules {
		if r, ok := rule.(*alertingRule); ok {
			sr := storedRule{Identity: r.identity()}
			for _, a := range r.alerts() {
				sr.Alerts = append(sr.Alerts, toStored(a))
			}
			rs = append(rs, sr)
		}
	}
	if len(rs) == 0 && len(changes) == 0 {
		return nil
	}
	state, err := marshalSnappyJSON(rs)
	if err != nil {
		return err
	}
	return st.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(alertStateBucket).Put([]byte(g.key()), state); err != nil {
			return err
		}
		h := tx.Bucket(historyBucket)
		// Keys grow with time: pages filled to bbolt's default half would
		// leave the history's file twice its size.
		h.FillPercent = 0.95
		for len(changes) > 0 {
			// One entry per evaluation time: a key's time is the time of
			// every transition in it, so a time range stays a key range.
			n := 1
			for n < len(changes) && changes[n].At.Equal(changes[0].At) {
				n++
			}
			v, err := marshalHistory(changes[:n])
			if err != nil {
				return err
			}
			seq, _ := h.NextSequence()
			if err := h.Put(historyKey(changes[0].At, seq), v); err != nil {
				return err
			}
			changes = changes[n:]
		}
		if st.retention > 0 {
			cutoff := historyKey(now.Add(-st.retention), 0)
			c := h.Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) < 0; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// snappyJSON starts a stored value when the JSON after it is
// snappy-compressed; JSON never starts with a NUL byte, so values written
// as plain JSON by earlier versions still load. A group's state is
// rewritten after every evaluation and repeats its labels and annotations
// alert after alert: compressed it takes ~1/8 of the bytes, and the state
// file grows by as much less (bbolt writes a changed value to new pages).
const snappyJSON = 0

// marshalSnappyJSON returns v as snappyJSON and compressed JSON.
func marshalSnappyJSON(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+snappy.MaxEncodedLen(len(js)))
	out[0] = snappyJSON
	return out[:1+len(snappy.Encode(out[1:], js))], nil
}

// plainJSON returns the JSON of a stored value, decompressed if it was
// compressed.
func plainJSON(v []byte) ([]byte, error) {
	if len(v) > 0 && v[0] == snappyJSON {
		return snappy.Decode(nil, v[1:])
	}
	return v, nil
}

func unmarshalState(v []byte) ([]storedRule, error) {
	js, err := plainJSON(v)
	if err != nil {
		return nil, err
	}
	var rs []storedRule
	err = json.Unmarshal(js, &rs)
	return rs, err
}

// load returns the stored alerts of g's rules, by rule identity.
func (st *stateStore) load(key string) (map[string][]Alert, error) {
	out := map[string][]Alert{}
	err := st.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(alertStateBucket).Get([]byte(key))
		if v == nil {
			return nil
		}
		rs, err := unmarshalState(v)
		if err != nil {
			return fmt.Errorf("rules: the stored alert state of group %q is corrupt: %w", key, err)
		}
		for _, r := range rs {
			for _, a := range r.Alerts {
				out[r.Identity] = append(out[r.Identity], a.alert())
			}
		}
		return nil
	})
	return out, err
}

// forgetGroups drops the stored state of every group not in keep.
func (st *stateStore) forgetGroups(keep map[string]bool) error {
	return st.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(alertStateBucket)
		var gone [][]byte
		b.ForEach(func(k, _ []byte) error {
			if !keep[string(k)] {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

type storedTransition struct {
	Group  string        `json:"group"`
	Rule   string        `json:"rule"`
	Labels labels.Labels `json:"labels"`
	From   AlertState    `json:"from"`
	To     AlertState    `json:"to"`
	At     time.Time     `json:"at"`
	Value  float         `json:"value"`
}

// A history entry holds the transitions of one evaluation as a
// compressed JSON array (snappyJSON). An evaluation that fires or resolves
// an alert per zone writes dozens of transitions repeating the same group,
// rule and labels: compressed together they take ~1/12 of the bytes of one
// JSON object per transition, which is what earlier versions wrote (233
// transitions of the built-in SlowPanicResponse alert in the 10k-series
// benchmark: 5,993 bytes against ~72 KB; the state file stays at 64 KiB
// instead of growing to 256 KiB). Entries of earlier versions still load.
func marshalHistory(changes []Transition) ([]byte, error) {
	ts := make([]storedTransition, len(changes))
	for i, c := range changes {
		ts[i] = storedTransition{c.Group, c.Rule, c.Labels, c.From, c.To, c.At, float(c.Value)}
	}
	return marshalSnappyJSON(ts)
}

func unmarshalHistory(v []byte) ([]storedTransition, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("empty entry")
	}
	js, err := plainJSON(v)
	if err != nil {
		return nil, err
	}
	if len(js) > 0 && js[0] == '{' {
		var t storedTransition
		err := json.Unmarshal(js, &t)
		return []storedTransition{t}, err
	}
	var ts []storedTransition
	err = json.Unmarshal(js, &ts)
	return ts, err
}

func historyKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	binary.BigEndian.PutUint64(k, uint64(ns))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// history returns the transitions from start to end (inclusive) whose
// labels match any of the matcher sets (all when there are none), oldest
// first, at most limit of them (0: no limit).
func (st *stateStore) history(sets [][]*labels.Matcher, start, end time.Time, limit int) ([]Transition, error) {
	out := []Transition{}
	err := st.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(historyBucket).Cursor()
		last := historyKey(end, math.MaxUint64)
		for k, v := c.Seek(historyKey(start, 0)); k != nil && bytes.Compare(k, last) <= 0; k, v = c.Next() {
			ts, err := unmarshalHistory(v)
			if err != nil {
				return fmt.Errorf("rules: corrupt alert history entry %x: %w", k, err)
			}
			for _, t := range ts {
				if !matchesAny(t.Labels, sets) {
					continue
				}
				out = append(out, Transition{t.Group, t.Rule, t.Labels, t.From, t.To, t.At, float64(t.Value)})
				if limit > 0 && len(out) >= limit {
					return nil
				}
			}
		}
		return nil
	})
	return out, err
}

func matchesAny(ls labels.Labels, sets [][]*labels.Matcher) bool {
	if len(sets) == 0 {
		return true
	}
	for _, ms := range sets {
		ok := true
		for _, m := range ms {
			if !m.Matches(ls.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
