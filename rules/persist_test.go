package rules

import (
	"bytes"
	"testing"
	"time"

	"github.com/golang/snappy"
	"go.etcd.io/bbolt"
)

// TestAlertStateCompressedAndPlainJSON: a group's state is stored
// snappy-compressed, and state that an earlier version stored as plain
// JSON still loads after an upgrade.
func TestAlertStateCompressedAndPlainJSON(t *testing.T) {
	h := newHarness(t, "", alertRulesYAML)
	h.q.set(0)
	h.at(0)
	h.at(time.Minute)
	before := h.alerts()
	if len(before) != 1 {
		t.Fatalf("set-up: %+v", before)
	}
	h.m.Stop()
	// Rewrite every group's state as plain JSON, as earlier versions did.
	err := h.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(alertStateBucket)
		plain := map[string][]byte{}
		err := b.ForEach(func(k, v []byte) error {
			if len(v) == 0 || v[0] != stateSnappy {
				t.Errorf("group %s: stored state starts with %q, not compressed", k, v[:min(len(v), 8)])
				return nil
			}
			js, err := snappy.Decode(nil, v[1:])
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(js, []byte("[")) {
				t.Errorf("group %s: decompressed state is not a JSON array: %.40q", k, js)
			}
			plain[string(k)] = js
			return nil
		})
		if err != nil {
			return err
		}
		if len(plain) == 0 {
			t.Error("no group state stored")
		}
		for k, js := range plain {
			if err := b.Put([]byte(k), js); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.db.Close()
	h.open(t, alertRulesYAML)
	defer h.db.Close()
	after := h.alerts()
	if len(after) != 1 || !equalAlert(before[0], after[0]) {
		t.Fatalf("state from plain JSON:\nbefore %+v\nafter  %+v", before, after)
	}
}
