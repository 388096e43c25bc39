package notify

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
)

// An alert comes back from its binary encoding as it went in, the
// instants and zone offsets of its times included; a cut or unknown value
// is an error, not a half-read alert.
func TestAlertCodecRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, a := range []*Alert{
		{Labels: model.LabelSet{"alertname": "Down", "instance": "a:9100", "quote": `"é\n`}, Annotations: model.LabelSet{"summary": "it broke"},
			StartsAt: time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC), EndsAt: time.Date(2026, 11, 27, 13, 4, 0, 0, paris),
			UpdatedAt: time.Date(2026, 11, 27, 12, 1, 0, 0, time.UTC), GeneratorURL: "http://vigil.example/graph?g0.expr=up", Timeout: true},
		{Labels: model.LabelSet{"a": ""}}, // no annotations, zero times
	} {
		v := appendAlert(nil, a)
		got, err := decodeAlert(v)
		if err != nil {
			t.Fatalf("decoding %x: %v", v, err)
		}
		for _, ts := range [][2]time.Time{{got.StartsAt, a.StartsAt}, {got.EndsAt, a.EndsAt}, {got.UpdatedAt, a.UpdatedAt}} {
			_, gotOff := ts[0].Zone()
			_, wantOff := ts[1].Zone()
			if !ts[0].Equal(ts[1]) || gotOff != wantOff {
				t.Errorf("time %v came back as %v", ts[1], ts[0])
			}
		}
		got.StartsAt, got.EndsAt, got.UpdatedAt = a.StartsAt, a.EndsAt, a.UpdatedAt
		if !reflect.DeepEqual(got, a) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, a)
		}
		for n := range len(v) {
			if _, err := decodeAlert(v[:n]); err == nil {
				t.Errorf("%d of %d bytes decoded without an error", n, len(v))
			}
		}
	}
	if _, err := decodeAlert([]byte{7, 0}); err == nil {
		t.Error("an unknown encoding decoded")
	}
	next := time.Date(2026, 11, 27, 12, 5, 30, 0, time.UTC)
	if got, err := decodeGroupRecord(appendGroupRecord(nil, next)); err != nil || !got.Equal(next) {
		t.Errorf("group record: %v, %v", got, err)
	}
}

// A state.db written before the binary encoding, with the alerts and
// group timers in JSON, is read, and what is saved again is binary.
func TestDispatchReadsJSONState(t *testing.T) {
	h := newHook(t)
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := alert("alertname", "QueueStuck", "instance", "a")
	a.StartsAt, a.EndsAt, a.UpdatedAt = start.Add(-time.Minute), start.Add(time.Hour), start.Add(-time.Minute)
	key := NewRoute(mustParse(t, h).Route, nil).groupKey(a.Labels)
	err = db.Update(func(tx *bbolt.Tx) error {
		ab, err := tx.CreateBucket([]byte(alertsBucket))
		if err != nil {
			return err
		}
		gb, err := tx.CreateBucket([]byte(groupsBucket))
		if err != nil {
			return err
		}
		v, _ := json.Marshal(a)
		g, _ := json.Marshal(groupRecord{Next: start.Add(2 * time.Minute)})
		return errors.Join(ab.Put(fpKey(a.Fingerprint()), v), gb.Put([]byte(key), g))
	})
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDispatcher(t, h, clk, db)
	if got := d.Alerts(); len(got) != 1 || got[0].Labels["instance"] != "a" || !got[0].StartsAt.Equal(a.StartsAt) {
		t.Fatalf("alerts read from JSON: %+v", got)
	}
	step(d, clk, time.Minute) // the group's timer says 12:02: not yet
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("flushed before the saved timer: %+v", got)
	}
	step(d, clk, time.Minute)
	if got := h.take(t); len(got) != 1 {
		t.Fatalf("%d notifications at the saved timer, want 1", len(got))
	}
	savedAlert := func() (v []byte) {
		db.View(func(tx *bbolt.Tx) error {
			v = slices.Clone(tx.Bucket([]byte(alertsBucket)).Get(fpKey(a.Fingerprint())))
			return nil
		})
		return v
	}
	d.Put(a) // sent again as it was: only UpdatedAt differs, not saved again
	d.SaveState()
	if v := savedAlert(); len(v) == 0 || v[0] != '{' {
		t.Errorf("an alert sent again unchanged was saved again: %q", v)
	}
	a.EndsAt = start.Add(2 * time.Hour) // sent again with a new end: saved again
	d.Put(a)
	d.SaveState()
	err = db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(alertsBucket)).Get(fpKey(a.Fingerprint()))
		g := tx.Bucket([]byte(groupsBucket)).Get([]byte(key))
		if len(v) == 0 || v[0] != stateCodecV1 || len(g) == 0 || g[0] != stateCodecV1 {
			t.Errorf("saved again: alert %q, group %q; want the binary encoding", v, g)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, h *hook) *Config {
	t.Helper()
	c, err := Parse([]byte(strings.ReplaceAll(testConfig, "URL", h.URL)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// groupKey writes what the group labels' String writes, so that the keys
// of the notification log and the saved groups do not change.
func TestRouteGroupKey(t *testing.T) {
	ls := model.LabelSet{"a": "1", "a1": "2", "b_": `x"y`, "zone": "eu\n", "alertname": "Down"}
	for _, groupBy := range [][]string{{"alertname"}, {"a1", "a", "zone", "b_", "missing"}, {"missing"}, {}, {"..."}} {
		r := NewRoute(&RouteConfig{Receiver: "r", GroupBy: groupBy, Matchers: []string{`team="x"`}}, nil)
		if got, want := r.groupKey(ls), r.Key()+":"+r.groupLabels(ls).String(); got != want {
			t.Errorf("group_by %v: %q, want %q", groupBy, got, want)
		}
	}
}
