package notify

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
)

func TestSilenceStates(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSilences(db, 24*time.Hour, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	zone := []SilenceMatcher{{Name: "zone", Value: "down.*", IsRegex: true, IsEqual: true}}
	id, err := s.Set(Silence{Matchers: zone, StartsAt: clk.Now().Add(time.Hour), EndsAt: clk.Now().Add(2 * time.Hour), CreatedBy: "ops", Comment: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	sil, _ := s.Get(id)
	for _, tc := range []struct {
		after time.Duration
		want  SilenceState
	}{{0, SilencePending}, {time.Hour, SilenceActive}, {2 * time.Hour, SilenceExpired}} {
		if got := sil.State(clk.Now().Add(tc.after)); got != tc.want {
			t.Errorf("state after %v = %s, want %s", tc.after, got, tc.want)
		}
	}
	clk.Add(90 * time.Minute)
	if ids := s.Mutes(model.LabelSet{"zone": "downtown"}, clk.Now()); len(ids) != 1 || ids[0] != id {
		t.Errorf("Mutes = %v", ids)
	}
	if ids := s.Mutes(model.LabelSet{"zone": "uptown"}, clk.Now()); len(ids) != 0 {
		t.Errorf("Mutes(uptown) = %v", ids)
	}
	if err := s.Expire(id); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(id); !errors.Is(err, ErrExpired) {
		t.Errorf("expiring twice: %v", err)
	}
	db.Close()

	db, _ = bbolt.Open(path, 0o600, nil)
	defer db.Close()
	s, err = NewSilences(db, 24*time.Hour, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if l := s.List(); len(l) != 1 || l[0].State(clk.Now()) != SilenceExpired || l[0].CreatedBy != "ops" {
		t.Fatalf("after reopening: %+v", l)
	}
	clk.Add(25 * time.Hour)
	if err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("kept past the retention: %+v", l)
	}

	for _, tc := range []struct {
		name string
		sil  Silence
		want string
	}{
		{"no matchers", Silence{EndsAt: clk.Now().Add(time.Hour), CreatedBy: "a", Comment: "b"}, "at least one matcher"},
		{"matches everything", Silence{Matchers: []SilenceMatcher{{Name: "x", Value: ".*", IsRegex: true, IsEqual: true}}, EndsAt: clk.Now().Add(time.Hour), CreatedBy: "a", Comment: "b"}, "must not match the empty string"},
		{"ends before start", Silence{Matchers: zone, EndsAt: clk.Now().Add(-time.Hour), CreatedBy: "a", Comment: "b"}, "must be after startsAt"},
		{"no author", Silence{Matchers: zone, EndsAt: clk.Now().Add(time.Hour), Comment: "b"}, "createdBy is missing"},
		{"unknown id", Silence{ID: "nope", Matchers: zone, EndsAt: clk.Now().Add(time.Hour), CreatedBy: "a", Comment: "b"}, "silence not found"},
	} {
		if _, err := s.Set(tc.sil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRouteMatch(t *testing.T) {
	c, err := LoadFile("testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	root := NewRoute(c.Route, nil)
	for _, tc := range []struct {
		name   string
		labels model.LabelSet
		want   []string // receivers
	}{
		{"default", model.LabelSet{"alertname": "X"}, []string{"email-alerts"}},
		{"critical continues", model.LabelSet{"severity": "critical", "team": "payments", "service": "billing"}, []string{"pager", "email-alerts"}},
		{"critical only", model.LabelSet{"severity": "critical"}, []string{"pager"}},
		{"match_re anchored", model.LabelSet{"team": "payments", "service": "billing-v2"}, []string{"email-alerts"}},
	} {
		var got []string
		for _, r := range root.Match(tc.labels) {
			got = append(got, r.Receiver)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: receivers %v, want %v", tc.name, got, tc.want)
		}
	}
	pay := root.Match(model.LabelSet{"team": "payments", "service": "credits", "zone": "z"})[0]
	if !pay.GroupByAll || pay.GroupWait != 30*time.Second || pay.RepeatInterval != 4*time.Hour || len(pay.groupLabels(model.LabelSet{"a": "1", "b": "2"})) != 2 {
		t.Errorf("payments route = %+v", pay)
	}
	if crit := root.Routes[0]; crit.GroupWait != 10*time.Second || crit.GroupInterval != 5*time.Minute || crit.Key() != `{}/{severity="critical"}` {
		t.Errorf("critical route = %+v key %s", crit, crit.Key())
	}
}

// The notification log forgets an entry a day after its repeat_interval,
// in memory and in bbolt.
func TestNflogGC(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	l, err := newNflog(db, now)
	if err != nil {
		t.Fatal(err)
	}
	l.put("old", logEntry{At: now, ExpireAt: now.Add(time.Hour)})
	l.put("new", logEntry{At: now, ExpireAt: now.Add(3 * time.Hour)})
	if err := l.gc(now.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.get("old"); ok {
		t.Error("an expired entry is kept")
	}
	l, _ = newNflog(db, now)
	if _, ok := l.get("old"); ok {
		t.Error("an expired entry is still in bbolt")
	}
	if _, ok := l.get("new"); !ok {
		t.Error("a live entry was lost")
	}
}
