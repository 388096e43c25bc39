package ingest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/storage"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// snapshot runs one AppendTo cycle and renders every series emitted,
// sorted: `labels value`.
func snapshot(g *Groups, now time.Time) []string {
	var got []string
	g.collect(now.UnixMilli(), func(labels []storage.Label, v float64) {
		got = append(got, fmtLabels(labels)+" "+fmtValue(v))
	})
	slices.Sort(got)
	return got
}

func mustPath(t *testing.T, path string) []storage.Label {
	t.Helper()
	labels, err := ParsePushPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return labels
}

func mustPush(t *testing.T, g *Groups, mode PushMode, path, body string, now time.Time) {
	t.Helper()
	if _, err := g.Push(mode, mustPath(t, path), []byte(body), "text/plain; version=0.0.4", now); err != nil {
		t.Fatalf("push to %s: %v", path, err)
	}
}

func checkSnapshot(t *testing.T, g *Groups, now time.Time, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := snapshot(g, now); !reflect.DeepEqual(got, want) {
		t.Errorf("series at %s:\n got %s\nwant %s", now.Format(time.TimeOnly), strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// pushTimes renders the two per-group gauges of the group with labels l.
func pushTimes(l string, push, failure float64) []string {
	return []string{
		fmt.Sprintf(`__name__="push_failure_time_seconds", %s %s`, l, fmtValue(failure)),
		fmt.Sprintf(`__name__="push_time_seconds", %s %s`, l, fmtValue(push)),
	}
}

func secs(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

func TestGroupsPutPostDelete(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	const path = "/metrics/job/backup/instance/db1"
	const gl = `instance="db1", job="backup"`
	t1, t2, t3, t4 := t0, t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)

	// PUT: the grouping labels override the line's and are added.
	mustPush(t, g, PushReplaceGroup, path, `# TYPE backup_duration_seconds gauge
# HELP backup_duration_seconds How long the last backup took.
backup_duration_seconds 12.5
backup_last_success_timestamp_seconds{instance="ignored",job="ignored",target="s3"} 1.7e+09
# TYPE backup_size_bytes histogram
backup_size_bytes_bucket{le="1e6"} 1
backup_size_bytes_bucket{le="+Inf"} 3
backup_size_bytes_sum 5e6
backup_size_bytes_count 3
`, t1)
	want := append(pushTimes(gl, secs(t1), 0),
		`__name__="backup_duration_seconds", `+gl+` 12.5`,
		`__name__="backup_last_success_timestamp_seconds", `+gl+`, target="s3" 1.7e+09`,
		`__name__="backup_size_bytes_bucket", `+gl+`, le="1e6" 1`,
		`__name__="backup_size_bytes_bucket", `+gl+`, le="+Inf" 3`,
		`__name__="backup_size_bytes_count", `+gl+` 3`,
		`__name__="backup_size_bytes_sum", `+gl+` 5e+06`,
	)
	checkSnapshot(t, g, t1, want...)
	// Every cycle emits the values again, so they never go stale.
	checkSnapshot(t, g, t1.Add(30*time.Second), want...)

	// POST replaces only the pushed families: the histogram as a whole
	// (its le="1e6" bucket ends with a staleness marker) and the gauge.
	mustPush(t, g, PushReplaceMetrics, path, `# TYPE backup_size_bytes histogram
backup_size_bytes_bucket{le="+Inf"} 4
backup_size_bytes_sum 6e6
backup_size_bytes_count 4
backup_duration_seconds 20
`, t2)
	checkSnapshot(t, g, t2, append(pushTimes(gl, secs(t2), 0),
		`__name__="backup_duration_seconds", `+gl+` 20`,
		`__name__="backup_last_success_timestamp_seconds", `+gl+`, target="s3" 1.7e+09`,
		`__name__="backup_size_bytes_bucket", `+gl+`, le="1e6" StaleNaN`,
		`__name__="backup_size_bytes_bucket", `+gl+`, le="+Inf" 4`,
		`__name__="backup_size_bytes_count", `+gl+` 4`,
		`__name__="backup_size_bytes_sum", `+gl+` 6e+06`,
	)...)

	// PUT replaces everything; the staleness markers come once.
	mustPush(t, g, PushReplaceGroup, path, "backup_duration_seconds 30\n", t3)
	checkSnapshot(t, g, t3, append(pushTimes(gl, secs(t3), 0),
		`__name__="backup_duration_seconds", `+gl+` 30`,
		`__name__="backup_last_success_timestamp_seconds", `+gl+`, target="s3" StaleNaN`,
		`__name__="backup_size_bytes_bucket", `+gl+`, le="+Inf" StaleNaN`,
		`__name__="backup_size_bytes_count", `+gl+` StaleNaN`,
		`__name__="backup_size_bytes_sum", `+gl+` StaleNaN`,
	)...)
	checkSnapshot(t, g, t3.Add(time.Second), append(pushTimes(gl, secs(t3), 0),
		`__name__="backup_duration_seconds", `+gl+` 30`)...)

	// A series that disappears and comes back before the next cycle gets
	// no staleness marker.
	mustPush(t, g, PushReplaceGroup, path, "other 1\n", t3)
	mustPush(t, g, PushReplaceGroup, path, "backup_duration_seconds 31\n", t3)
	checkSnapshot(t, g, t3.Add(2*time.Second), append(pushTimes(gl, secs(t3), 0),
		`__name__="backup_duration_seconds", `+gl+` 31`,
		`__name__="other", `+gl+` StaleNaN`)...)

	// DELETE removes the group; all its series end, once.
	if !g.Delete(mustPath(t, path)) {
		t.Fatal("Delete found no group")
	}
	checkSnapshot(t, g, t4, append(pushTimes(gl, staleNaN, staleNaN),
		`__name__="backup_duration_seconds", `+gl+` StaleNaN`)...)
	checkSnapshot(t, g, t4.Add(time.Second))
	if g.Delete(mustPath(t, path)) {
		t.Error("Delete of a deleted group found it")
	}
}

func TestGroupsEmptyPut(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	mustPush(t, g, PushReplaceGroup, "/metrics/job/j", "m 1\n", t0)
	// An empty PUT clears the metrics but keeps the group, as in the
	// Pushgateway; an empty POST changes nothing but the push time.
	mustPush(t, g, PushReplaceGroup, "/metrics/job/j", "", t0.Add(time.Second))
	checkSnapshot(t, g, t0.Add(time.Second), append(pushTimes(`job="j"`, secs(t0.Add(time.Second)), 0),
		`__name__="m", job="j" StaleNaN`)...)
	mustPush(t, g, PushReplaceMetrics, "/metrics/job/j", "n 2\n", t0.Add(2*time.Second))
	mustPush(t, g, PushReplaceMetrics, "/metrics/job/j", "", t0.Add(3*time.Second))
	checkSnapshot(t, g, t0.Add(3*time.Second), append(pushTimes(`job="j"`, secs(t0.Add(3*time.Second)), 0),
		`__name__="n", job="j" 2`)...)
}

func TestGroupsEmptyGroupingValue(t *testing.T) {
	// instance@base64/= removes the instance label from the pushed lines.
	g := NewGroups(GroupsOptions{})
	mustPush(t, g, PushReplaceGroup, "/metrics/job/j/instance@base64/=", `m{instance="10.0.0.1:80"} 1`+"\n", t0)
	checkSnapshot(t, g, t0, append(pushTimes(`job="j"`, secs(t0), 0), `__name__="m", job="j" 1`)...)
	// A group that differs only in that empty label would expose the same
	// push_time_seconds series: refused.
	_, err := g.Push(PushReplaceGroup, mustPath(t, "/metrics/job/j"), []byte("x 1\n"), "", t0)
	if err == nil || !strings.Contains(err.Error(), "would expose the same push_time_seconds series") {
		t.Errorf("error %v; want a push_time_seconds conflict", err)
	}
}

func TestGroupsPushErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		want string
	}{
		{"timestamp", "/metrics/job/j", "ok 1\nm{a=\"b\"} 1 1712345678000\n",
			`line 2: series m{a="b"} has a timestamp (1712345678000); the Pushgateway protocol does not accept timestamps`},
		{"syntax error", "/metrics/job/j", "ok 1\n\nm{a=\"b} 1\n", `line 3: label "a": unexpected end of label value; expected '"'`},
		{"duplicate series", "/metrics/job/j", "m{a=\"1\"} 1\nm{a=\"2\"} 2\nm{a=\"1\"} 3\n",
			`line 3: series m{a="1", job="j"} was already pushed at line 1 of this request`},
		{"duplicate after grouping labels override", "/metrics/job/j", "m{job=\"x\"} 1\nm{job=\"y\"} 2\n",
			`line 2: series m{job="j"} was already pushed at line 1`},
		{"reserved name", "/metrics/job/j", "push_time_seconds 1\n", `line 1: metric name push_time_seconds is reserved`},
		{"invalid UTF-8", "/metrics/job/j", "m{a=\"\xff\"} 1\n", `line 1: series m{a="\xff"}: value "\xff" of label "a" is not valid UTF-8`},
		{"conflict with another group", "/metrics/job/j", "shared{instance=\"a\"} 1\n",
			`series shared{instance="a", job="j"} is already pushed by the group {job="j", instance="a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGroups(GroupsOptions{})
			mustPush(t, g, PushReplaceGroup, "/metrics/job/j/instance/a", "shared 1\n", t0)
			before := snapshot(g, t0)

			// The failing group: pushed to successfully before, when it is
			// not the one the other test group uses.
			_, err := g.Push(PushReplaceGroup, mustPath(t, tt.path), []byte(tt.body), "", t0.Add(time.Minute))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadInput) {
				t.Errorf("error\n got %q\nwant a bad-input error containing %q", err, tt.want)
			}
			// No metric changed; the group's push_failure_time_seconds is
			// set, with a zero push_time_seconds for a new group.
			got := snapshot(g, t0.Add(time.Minute))
			gl := fmtLabels(ownedGroupLabelsSorted(mustPath(t, tt.path)))
			want := append(slices.Clone(before), pushTimes(gl, 0, secs(t0.Add(time.Minute)))...)
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after the failed push:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
			}
		})
	}
}

// ownedGroupLabelsSorted returns grouping labels sorted by name, the order
// of the per-group gauges' labels.
func ownedGroupLabelsSorted(labels []storage.Label) []storage.Label {
	out := slices.Clone(labels)
	sortLabels(out)
	return out
}

func TestGroupsFailureKeepsMetrics(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	mustPush(t, g, PushReplaceGroup, "/metrics/job/j", "m 1\n", t0)
	if _, err := g.Push(PushReplaceGroup, mustPath(t, "/metrics/job/j"), []byte("m 2 1000\n"), "", t0.Add(time.Second)); err == nil {
		t.Fatal("no error for a timestamp")
	}
	checkSnapshot(t, g, t0.Add(time.Second), append(pushTimes(`job="j"`, secs(t0), secs(t0.Add(time.Second))),
		`__name__="m", job="j" 1`)...)
}

func TestGroupsRejectsBadGroupLabels(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	for _, labels := range [][]storage.Label{
		nil,
		{{Name: "instance", Value: "a"}},
		{{Name: "job", Value: ""}},
		{{Name: "job", Value: "j"}, {Name: "__x", Value: "y"}},
	} {
		if _, err := g.Push(PushReplaceGroup, labels, []byte("m 1\n"), "", t0); err == nil || !errors.Is(err, ErrBadInput) {
			t.Errorf("Push with grouping key %s: error %v; want a bad-input error", fmtLabels(labels), err)
		}
	}
	if _, err := g.Push(PushMode(0), []storage.Label{{Name: "job", Value: "j"}}, nil, "", t0); err == nil {
		t.Error("Push with mode 0: no error")
	}
	if n := len(g.List()); n != 0 {
		t.Errorf("%d groups after rejected pushes; want 0", n)
	}
}

func TestGroupsTTL(t *testing.T) {
	g := NewGroups(GroupsOptions{TTL: time.Minute})
	mustPush(t, g, PushReplaceGroup, "/metrics/job/old", "m 1\n", t0)
	mustPush(t, g, PushReplaceGroup, "/metrics/job/new", "m 2\n", t0.Add(40*time.Second))
	checkSnapshot(t, g, t0.Add(59*time.Second), append(append(
		pushTimes(`job="old"`, secs(t0), 0), pushTimes(`job="new"`, secs(t0.Add(40*time.Second)), 0)...),
		`__name__="m", job="old" 1`, `__name__="m", job="new" 2`)...)
	// At the TTL the old group goes, as if deleted.
	checkSnapshot(t, g, t0.Add(time.Minute), append(append(
		pushTimes(`job="old"`, staleNaN, staleNaN), pushTimes(`job="new"`, secs(t0.Add(40*time.Second)), 0)...),
		`__name__="m", job="old" StaleNaN`, `__name__="m", job="new" 2`)...)
	if list := g.List(); len(list) != 1 || fmtLabels(list[0].Labels) != `job="new"` {
		t.Errorf("groups after expiry: %+v", list)
	}
	// A new push to the expired group starts it again.
	mustPush(t, g, PushReplaceGroup, "/metrics/job/old", "m 3\n", t0.Add(2*time.Minute))
	if n := len(g.List()); n != 2 {
		t.Errorf("%d groups; want 2", n)
	}
}

func TestGroupsAppendTo(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	mustPush(t, g, PushReplaceGroup, "/metrics/job/j", "a 1\nb{x=\"y\"} 2\n", t0)
	var rows storage.Rows
	g.AppendTo(&rows, t0.UnixMilli())
	if rows.Len() != 4 { // a, b, push_time_seconds, push_failure_time_seconds
		t.Errorf("rows.Len() = %d; want 4", rows.Len())
	}
	g.Delete(mustPath(t, "/metrics/job/j"))
	rows.Reset()
	g.AppendTo(&rows, t0.UnixMilli()+1000)
	if rows.Len() != 4 { // four staleness markers
		t.Errorf("rows.Len() = %d after Delete; want 4", rows.Len())
	}
}

func TestGroupsList(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	mustPush(t, g, PushReplaceGroup, "/metrics/job/b", `# HELP h Latency.
# TYPE h histogram
h_bucket{le="+Inf"} 1
h_count 1
h_sum 0.5
# TYPE c counter
c_total 3
untyped 1
`, t0)
	mustPush(t, g, PushReplaceGroup, "/metrics/job/a/zone/eu", "m 1\n", t0.Add(time.Second))
	if _, err := g.Push(PushReplaceMetrics, mustPath(t, "/metrics/job/a/zone/eu"), []byte("bad"), "", t0.Add(2*time.Second)); err == nil {
		t.Fatal("no error")
	}
	want := []GroupInfo{
		{
			Labels:      []storage.Label{{Name: "job", Value: "a"}, {Name: "zone", Value: "eu"}},
			LastPush:    t0.Add(time.Second),
			LastFailure: t0.Add(2 * time.Second),
			Metrics:     []Metadata{{Metric: "m", Type: "unknown"}},
			Series:      1,
		},
		{
			Labels:   []storage.Label{{Name: "job", Value: "b"}},
			LastPush: t0,
			Metrics: []Metadata{
				{Metric: "c", Type: "counter"},
				{Metric: "h", Type: "histogram", Help: "Latency."},
				{Metric: "untyped", Type: "unknown"},
			},
			Series: 5,
		},
	}
	got := g.List()
	for i := range got {
		// time.Time from UnixMilli is local; compare instants.
		if i < len(want) && got[i].LastPush.Equal(want[i].LastPush) && got[i].LastFailure.Equal(want[i].LastFailure) {
			got[i].LastPush, got[i].LastFailure = want[i].LastPush, want[i].LastFailure
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List:\n got %+v\nwant %+v", got, want)
	}
}

func TestGroupsSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "push_groups.json")

	// A missing file is an empty start.
	g, err := LoadGroups(path, GroupsOptions{})
	if err != nil || len(g.List()) != 0 {
		t.Fatalf("LoadGroups of a missing file: %v, %d groups", err, len(g.List()))
	}

	mustPush(t, g, PushReplaceGroup, "/metrics/job/j/path@base64/L3Zhci90bXA", `# HELP m Help with "quotes" and \\ backslash.
# TYPE m gauge
m{a="x"} NaN
m{a="y"} +Inf
m{a="z"} -1.5e-300
"utf8.name"{"label.x"="Zürich"} 0.1
`, t0)
	mustPush(t, g, PushReplaceGroup, "/metrics/job/k", "gone 1\n", t0)
	mustPush(t, g, PushReplaceGroup, "/metrics/job/k", "kept 2\n", t0.Add(time.Second))
	if _, err := g.Push(PushReplaceGroup, mustPath(t, "/metrics/job/k"), []byte("x 1 1\n"), "", t0.Add(2*time.Second)); err == nil {
		t.Fatal("no error")
	}
	// The staleness marker of "gone" is still pending: it must survive.
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := g.Save(path); err != nil { // over an existing file
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files in the directory after Save: %v; want only the groups file", entries)
	}

	loaded, err := LoadGroups(path, GroupsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loaded.List(), g.List(); !reflect.DeepEqual(fmt.Sprint(got), fmt.Sprint(want)) {
		t.Errorf("List after load:\n got %+v\nwant %+v", got, want)
	}
	now := t0.Add(time.Minute)
	want := snapshot(g, now)
	if got := snapshot(loaded, now); !reflect.DeepEqual(got, want) {
		t.Errorf("series after load:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if !slices.Contains(want, `__name__="gone", job="k" StaleNaN`) {
		t.Errorf("the pending staleness marker is missing: %s", want)
	}
	// The loaded groups keep working: conflicts are still detected.
	if _, err := loaded.Push(PushReplaceGroup, mustPath(t, "/metrics/job/j"), []byte(`m{a="x",path="/var/tmp"} 1`), "", now); err == nil ||
		!strings.Contains(err.Error(), "is already pushed by the group") {
		t.Errorf("push conflicting with a loaded group: %v", err)
	}
}

func TestLoadGroupsErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"not JSON", "{", "cannot decode the push groups in"},
		{"other version", `{"version":2,"groups":[]}`, "has version 2; this Vigil reads version 1"},
		{"group without job", `{"version":1,"groups":[{"labels":{"instance":"a"}}]}`, "the grouping key has no job label"},
		{"bad series", `{"version":1,"groups":[{"labels":{"job":"j"},"families":[{"metric":"m","series":[{"labels":{"a":"b"},"value":"1"}]}]}]}`,
			"no metric name"},
		{"bad value", `{"version":1,"groups":[{"labels":{"job":"j"},"families":[{"metric":"m","series":[{"labels":{"__name__":"m"},"value":"one"}]}]}]}`,
			`invalid value "one"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadGroups(path, GroupsOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v; want one naming %s and containing %q", err, path, tt.want)
			}
		})
	}
}

func TestSaveToMissingDirectory(t *testing.T) {
	g := NewGroups(GroupsOptions{})
	err := g.Save(filepath.Join(t.TempDir(), "missing", "groups.json"))
	if err == nil || !strings.Contains(err.Error(), "check that") {
		t.Errorf("error %v; want one saying what to check", err)
	}
}

// TestGroupsConcurrent is for the race detector: pushes, deletes, cycles,
// saves and lists at once.
func TestGroupsConcurrent(t *testing.T) {
	g := NewGroups(GroupsOptions{TTL: time.Hour})
	path := filepath.Join(t.TempDir(), "groups.json")
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				labels := []storage.Label{{Name: "job", Value: fmt.Sprintf("j%d", i%5)}, {Name: "w", Value: fmt.Sprint(w)}}
				body := fmt.Sprintf("m{i=\"%d\"} %d\n", i%7, i)
				mode := PushReplaceGroup
				if i%2 == 0 {
					mode = PushReplaceMetrics
				}
				if _, err := g.Push(mode, labels, []byte(body), "", t0.Add(time.Duration(i)*time.Second)); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					g.Delete(labels)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			var rows storage.Rows
			g.AppendTo(&rows, t0.Add(time.Duration(i)*time.Second).UnixMilli())
			_ = g.List()
			if err := g.Save(path); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
}
