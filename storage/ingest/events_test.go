package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/storage"
)

// lastValues reads the newest value of every series of metric.
func lastValues(t *testing.T, st *storage.Storage, metric string) map[string]float64 {
	t.Helper()
	st.ForceFlush()
	q, err := st.Querier(0, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, metric))
	out := map[string]float64{}
	for set.Next() {
		it := set.At().Iterator(nil)
		var last int64 = math.MinInt64
		for it.Next() != 0 {
			if ts, v := it.At(); ts > last {
				last = ts
				out[set.At().Labels().String()] = v
			}
		}
	}
	return out
}

type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func TestRecorder(t *testing.T) {
	dir := t.TempDir()
	open := func() *storage.Storage {
		st, err := storage.Open(dir, storage.Options{Retention: 100 * 365 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	clock := &stepClock{t: time.Now().Add(-time.Hour)}
	r := NewRecorder(st, clock.now)
	ctx := context.Background()
	record := func(kind EventKind, body string) (int, int, error) {
		return r.Record(ctx, kind, strings.NewReader(body))
	}

	// A single event, a batch (array) and JSON lines.
	if n, _, err := record(PanicRequestEvent, `{"service_type":"security","status":"accepted","firm_id":"firm123","zone":"downtown","response_time":180.5}`); err != nil || n != 1 {
		t.Fatalf("one event: %d %v", n, err)
	}
	if n, _, err := record(PanicRequestEvent, `[{"service_type":"security","status":"accepted","firm_id":"firm123","zone":"downtown","response_time":20},
		{"service_type":"security","status":"accepted","firm_id":"firm123","zone":"downtown"}]`); err != nil || n != 2 {
		t.Fatalf("array: %d %v", n, err)
	}
	if n, _, err := record(AuthEvent, "{\"user_type\":\"registered_user\",\"success\":false,\"account_locked\":true}\n{\"user_type\":\"registered_user\",\"success\":true}\n"); err != nil || n != 2 {
		t.Fatalf("JSON lines: %d %v", n, err)
	}
	// Retried events count once, within a batch and across calls.
	if n, retried, err := record(NotificationEvent, `[{"id":"n1","channel":"sms","status":"sent"},{"id":"n1","channel":"sms","status":"sent"}]`); err != nil || n != 1 || retried != 1 {
		t.Fatalf("retry in a batch: %d %d %v", n, retried, err)
	}
	if n, retried, err := record(NotificationEvent, `{"id":"n1","channel":"sms","status":"sent"}`); err != nil || n != 0 || retried != 1 {
		t.Fatalf("retry: %d %d %v", n, retried, err)
	}

	// Bad input: 400-worthy errors naming the event and the field, and
	// nothing of the batch recorded.
	for _, tc := range []struct {
		kind  EventKind
		body  string
		index int
		field string
	}{
		{PanicRequestEvent, `[{"service_type":"security","status":"accepted","firm_id":"f","zone":"z"},{"service_type":"security","status":"accepted","firm_id":"f"}]`, 1, "zone"},
		{PanicRequestEvent, `{"service_type":"security","status":"accepted","firm_id":"f","zone":"z","extra":1}`, 0, "extra"},
		{PanicRequestEvent, `{"service_type":"security","status":"accepted","firm_id":"f","zone":"z","response_time":-1}`, 0, "response_time"},
		{PanicRequestEvent, `{"service_type":"security","status":"accepted","firm_id":"f","zone":"z","response_time":"fast"}`, 0, "response_time"},
		{PanicRequestEvent, `{"service_type":"security","status":"accepted","firm_id":"f","zone":"a b"}`, 0, "zone"},
		{AuthEvent, `{"user_type":"u"}`, 0, "success"},
		{NotificationEvent, `{"channel":"sms","status":"sent"} {"channel":"sms"}`, 1, "status"},
	} {
		_, _, err := record(tc.kind, tc.body)
		var ee *EventError
		if !errors.As(err, &ee) || ee.Index != tc.index || ee.Field != tc.field {
			t.Errorf("%s %s: %v, want an error about event %d field %q", tc.kind, tc.body, err, tc.index, tc.field)
		}
	}
	if _, _, err := record(PanicRequestEvent, `nope`); !errors.As(err, new(*EventError)) {
		t.Errorf("not JSON: %v", err)
	}

	got := lastValues(t, st, "panic_requests_total")
	want := map[string]float64{`{__name__="panic_requests_total", firm_id="firm123", service_type="security", status="accepted", zone="downtown"}`: 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("panic_requests_total = %v, want %v (the rejected batches must not count)", got, want)
	}
	buckets := lastValues(t, st, "panic_request_response_time_seconds_bucket")
	for le, w := range map[string]float64{"+Inf": 2, "30": 1, "180": 1, "240": 2} {
		k := `{__name__="panic_request_response_time_seconds_bucket", firm_id="firm123", le="` + le + `", service_type="security", zone="downtown"}`
		if buckets[k] != w {
			t.Errorf("bucket le=%s = %v, want %v", le, buckets[k], w)
		}
	}
	if sum := lastValues(t, st, "panic_request_response_time_seconds_sum"); len(sum) != 1 || fmt.Sprint(sum) != `map[{__name__="panic_request_response_time_seconds_sum", firm_id="firm123", service_type="security", zone="downtown"}:200.5]` {
		t.Errorf("sum = %v, want 200.5", sum)
	}
	logins := lastValues(t, st, "auth_login_attempts_total")
	if logins[`{__name__="auth_login_attempts_total", result="failure", user_type="registered_user"}`] != 1 || len(logins) != 2 {
		t.Errorf("logins = %v", logins)
	}
	if n := lastValues(t, st, "notifications_sent_total"); fmt.Sprint(n) != `map[{__name__="notifications_sent_total", channel="sms", status="sent"}:1]` {
		t.Errorf("notifications = %v, want 1 despite the retries", n)
	}

	// After a restart the counters go on from their stored values.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open()
	defer st.Close()
	r = NewRecorder(st, clock.now)
	if _, _, err := r.Record(ctx, PanicRequestEvent, strings.NewReader(`{"service_type":"security","status":"accepted","firm_id":"firm123","zone":"downtown","response_time":1000}`)); err != nil {
		t.Fatal(err)
	}
	if got := lastValues(t, st, "panic_requests_total"); got[`{__name__="panic_requests_total", firm_id="firm123", service_type="security", status="accepted", zone="downtown"}`] != 4 {
		t.Errorf("after a restart panic_requests_total = %v, want 4", got)
	}
	if got := lastValues(t, st, "panic_request_response_time_seconds_count"); len(got) != 1 || fmt.Sprint(got) != `map[{__name__="panic_request_response_time_seconds_count", firm_id="firm123", service_type="security", zone="downtown"}:3]` {
		t.Errorf("after a restart the histogram count = %v, want 3", got)
	}
}

func TestRecorderCardinalityCap(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := NewRecorder(st, nil)
	var b strings.Builder
	for i := range MaxLabelValues {
		fmt.Fprintf(&b, `{"channel":"c%d","status":"sent"}`+"\n", i)
	}
	if n, _, err := r.Record(context.Background(), NotificationEvent, strings.NewReader(b.String())); err != nil || n != MaxLabelValues {
		t.Fatalf("%d channels: %d %v", MaxLabelValues, n, err)
	}
	_, _, err = r.Record(context.Background(), NotificationEvent, strings.NewReader(`{"channel":"one-too-many","status":"sent"}`))
	var ee *EventError
	if !errors.As(err, &ee) || ee.Field != "channel" {
		t.Errorf("channel number %d: %v, want a refusal naming channel", MaxLabelValues+1, err)
	}
	if _, _, err := r.Record(context.Background(), NotificationEvent, strings.NewReader(`{"channel":"c7","status":"sent"}`)); err != nil {
		t.Errorf("a known channel past the cap: %v", err)
	}
}

// TestRecorderCancelledLookup: a request cancelled while the recorder reads
// a series' stored value fails whole; it does not take the series for a
// new one and start it again from 0, which rate() would read as a reset.
func TestRecorderCancelledLookup(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const event = `{"channel":"sms","status":"sent"}`
	if _, _, err := NewRecorder(st, nil).Record(context.Background(), NotificationEvent, strings.NewReader(event)); err != nil {
		t.Fatal(err)
	}
	st.ForceFlush()
	r := NewRecorder(st, nil) // as after a restart: nothing in memory
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Record(ctx, NotificationEvent, strings.NewReader(event)); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled lookup: %v, want context.Canceled", err)
	}
	if _, _, err := r.Record(context.Background(), NotificationEvent, strings.NewReader(event)); err != nil {
		t.Fatal(err)
	}
	if got := lastValues(t, st, "notifications_sent_total"); fmt.Sprint(got) != `map[{__name__="notifications_sent_total", channel="sms", status="sent"}:2]` {
		t.Errorf("notifications_sent_total = %v, want 2", got)
	}
}
