package rules

import (
	"bytes"
	"strings"
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
			if len(v) == 0 || v[0] != snappyJSON {
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

// TestHistoryOneCompressedEntryPerEvaluation: the transitions of one
// evaluation are stored as one compressed entry, and an entry that an
// earlier version stored as one JSON object per transition still reads.
func TestHistoryOneCompressedEntryPerEvaluation(t *testing.T) {
	h := newHarness(t, "", alertRulesYAML)
	defer h.db.Close()
	h.q.set(0, 0, 0)
	h.at(0)
	entries := 0
	err := h.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(historyBucket).ForEach(func(k, v []byte) error {
			entries++
			if len(v) == 0 || v[0] != snappyJSON {
				t.Errorf("entry %x starts with %q, not compressed", k, v[:min(len(v), 8)])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if entries != 1 {
		t.Fatalf("three alerts going pending in one evaluation made %d history entries, want 1", entries)
	}

	// An entry as earlier versions wrote it, a minute later.
	old := `{"group":"g","rule":"InstanceDown","labels":{"alertname":"InstanceDown","instance":"z"},"from":"pending","to":"firing","at":"` +
		t0.Add(time.Minute).Format(time.RFC3339Nano) + `","value":"0"}`
	err = h.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(historyBucket).Put(historyKey(t0.Add(time.Minute), 1<<40), []byte(old))
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := h.m.History(nil, t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range all {
		got = append(got, tr.Labels.Get("instance")+":"+string(tr.From)+"->"+string(tr.To)+"@"+tr.At.Sub(t0).String())
	}
	const want = "a:inactive->pending@0s b:inactive->pending@0s c:inactive->pending@0s z:pending->firing@1m0s"
	if strings.Join(got, " ") != want {
		t.Fatalf("history %v\nwant %s", got, want)
	}
	if two, _ := h.m.History(nil, t0, t0.Add(time.Hour), 2); len(two) != 2 {
		t.Fatalf("limit 2 returned %d transitions", len(two))
	}
}
