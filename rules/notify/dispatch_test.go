package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// hook is a real HTTP webhook receiver on 127.0.0.1 that keeps what it got.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	fail   int // answer 500 to this many requests first
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail > 0 {
			h.fail--
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		h.bodies = append(h.bodies, b)
	}))
	t.Cleanup(h.Close)
	return h
}

// take returns the messages received since the last take.
func (h *hook) take(t *testing.T) []WebhookMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []WebhookMessage
	for _, b := range h.bodies {
		var m WebhookMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	h.bodies = nil
	return out
}

const testConfig = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      group_by: ['...']
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [zone]
receivers:
  - name: team
    webhook_configs: [{url: 'URL/team'}]
  - name: pager
    webhook_configs: [{url: 'URL/pager', send_resolved: false}]
`

func newTestDispatcher(t *testing.T, h *hook, clk *clock, db *bbolt.DB) *Dispatcher {
	t.Helper()
	c, err := Parse([]byte(strings.ReplaceAll(testConfig, "URL", h.URL)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Config: c, DB: db, Now: clk.Now, ExternalURL: "http://vigil.example"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func alert(ls ...string) *Alert {
	a := &Alert{Labels: model.LabelSet{}, Annotations: model.LabelSet{"summary": "it broke"}}
	for i := 0; i < len(ls); i += 2 {
		a.Labels[model.LabelName(ls[i])] = model.LabelValue(ls[i+1])
	}
	return a
}

func step(d *Dispatcher, clk *clock, by time.Duration) {
	clk.Add(by)
	d.Tick()
	d.Wait()
}

func statuses(m WebhookMessage) []string {
	var out []string
	for _, a := range m.Alerts {
		out = append(out, a.Labels["instance"]+":"+a.Status)
	}
	slices.Sort(out)
	return out
}

// One group's life: group_wait, nothing new within group_interval,
// repeat_interval, a resolved alert, everything resolved.
func TestDispatchGroupLifecycle(t *testing.T) {
	h := newHook(t)
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d := newTestDispatcher(t, h, clk, nil)
	d.Put(alert("alertname", "HighErrorRate", "instance", "a"), alert("alertname", "HighErrorRate", "instance", "b"))

	step(d, clk, 29*time.Second)
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("sent before group_wait: %v", got)
	}
	step(d, clk, time.Second)
	got := h.take(t)
	if len(got) != 1 || len(got[0].Alerts) != 2 || got[0].Status != "firing" || got[0].GroupKey != `{}:{alertname="HighErrorRate"}` ||
		got[0].Receiver != "team" || got[0].Version != "4" || got[0].GroupLabels["alertname"] != "HighErrorRate" || got[0].NotificationReason != "first notification" {
		t.Fatalf("first notification = %+v", got)
	}
	for range 59 { // the rules send the alerts every minute; nothing new within repeat_interval
		d.Put(alert("alertname", "HighErrorRate", "instance", "a"), alert("alertname", "HighErrorRate", "instance", "b"))
		step(d, clk, time.Minute)
		if got := h.take(t); len(got) != 0 {
			t.Fatalf("sent again within repeat_interval at %s: %+v", clk.Now(), got)
		}
	}
	d.Put(alert("alertname", "HighErrorRate", "instance", "a"), alert("alertname", "HighErrorRate", "instance", "b"))
	step(d, clk, time.Minute) // 1h after the first notification
	if got := h.take(t); len(got) != 1 || got[0].NotificationReason != "repeat interval elapsed" {
		t.Fatalf("repeat_interval: %+v, want 1 notification", got)
	}
	resolved := alert("alertname", "HighErrorRate", "instance", "b")
	resolved.EndsAt = clk.Now()
	stillFiring := alert("alertname", "HighErrorRate", "instance", "a")
	stillFiring.EndsAt = clk.Now().Add(6 * time.Minute) // as Prometheus sends it: valid for a few evaluations
	d.Put(stillFiring, resolved)
	step(d, clk, 5*time.Minute)
	got = h.take(t)
	if len(got) != 1 || !slices.Equal(statuses(got[0]), []string{"a:firing", "b:resolved"}) || got[0].NotificationReason != "some alerts resolved" {
		t.Fatalf("after b resolved: %+v", got)
	}
	// a is no longer sent: it resolves at its EndsAt.
	step(d, clk, 5*time.Minute)
	got = h.take(t)
	if len(got) != 1 || got[0].Status != "resolved" || !slices.Equal(statuses(got[0]), []string{"a:resolved"}) || got[0].NotificationReason != "all alerts resolved" {
		t.Fatalf("after a timed out: %+v", got)
	}
	step(d, clk, 5*time.Minute)
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("sent after everything resolved: %+v", got)
	}
}

// A critical alert goes to the pager (grouped by all labels) and, as the
// child route has no continue, not to the team; it inhibits the warning
// of the same zone but not of another zone. A silence mutes an alert.
func TestDispatchRoutingInhibitionSilence(t *testing.T) {
	h := newHook(t)
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d := newTestDispatcher(t, h, clk, nil)
	if _, err := d.Silences().Set(Silence{Matchers: []SilenceMatcher{{Name: "instance", Value: "silenced", IsEqual: true}},
		EndsAt: clk.Now().Add(time.Hour), CreatedBy: "ops", Comment: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	d.Put(
		alert("alertname", "DatabaseConnectionLost", "severity", "critical", "zone", "downtown"),
		alert("alertname", "SlowResponseTime", "severity", "warning", "zone", "downtown", "instance", "x"),
		alert("alertname", "SlowResponseTime", "severity", "warning", "zone", "uptown", "instance", "y"),
		alert("alertname", "SlowResponseTime", "severity", "warning", "zone", "uptown", "instance", "silenced"),
	)
	step(d, clk, 30*time.Second)
	got := h.take(t)
	byReceiver := map[string][]string{}
	for _, m := range got {
		for _, a := range m.Alerts {
			byReceiver[m.Receiver] = append(byReceiver[m.Receiver], a.Labels["alertname"]+"/"+a.Labels["zone"]+"/"+a.Labels["instance"])
		}
	}
	if len(got) != 2 || !slices.Equal(byReceiver["pager"], []string{"DatabaseConnectionLost/downtown/"}) ||
		!slices.Equal(byReceiver["team"], []string{"SlowResponseTime/uptown/y"}) {
		t.Fatalf("notifications = %v", byReceiver)
	}
	_, inhibitedBy := d.Muted(alert("alertname", "SlowResponseTime", "severity", "warning", "zone", "downtown", "instance", "x").Labels)
	if len(inhibitedBy) != 1 {
		t.Errorf("inhibitedBy = %v", inhibitedBy)
	}
}

// A restart in the middle of a group: the notification log in bbolt
// keeps what was sent, so nothing is sent twice and the resolution still
// goes out.
func TestDispatchRestartNoDuplicateNoLoss(t *testing.T) {
	h := newHook(t)
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDispatcher(t, h, clk, db)
	d.Put(alert("alertname", "ServiceDown", "instance", "a"))
	step(d, clk, 30*time.Second)
	if got := h.take(t); len(got) != 1 {
		t.Fatalf("%d notifications, want 1", len(got))
	}
	db.Close()

	clk.Add(2 * time.Minute)
	db, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d = newTestDispatcher(t, h, clk, db)
	d.Put(alert("alertname", "ServiceDown", "instance", "a")) // the rules send it again after their restart
	step(d, clk, 30*time.Second)
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("sent again after a restart: %+v", got)
	}
	r := alert("alertname", "ServiceDown", "instance", "a")
	r.EndsAt = clk.Now()
	d.Put(r)
	step(d, clk, 5*time.Minute)
	if got := h.take(t); len(got) != 1 || got[0].Status != "resolved" {
		t.Fatalf("resolved notification after a restart: %+v", got)
	}
}

// A restart with nothing sent again: the alerts and the group's flush
// time come back from bbolt, so the group flushes on its schedule (not
// group_wait after the start), the resolution that was due and the alert
// that arrived just before the stop go out once, and nothing already
// notified is sent again before repeat_interval. The state is saved at
// the stop (SIGTERM) or at the last tick before the process dies
// (kill -9).
func TestDispatchRestartKeepsAlertsAndGroupTimers(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) { testRestartKeeps(t, (*Dispatcher).SaveState) })
	t.Run("kill -9 after a tick", func(t *testing.T) {
		testRestartKeeps(t, func(d *Dispatcher) { d.Tick(); d.Wait() })
	})
}

func testRestartKeeps(t *testing.T, beforeStop func(*Dispatcher)) {
	h := newHook(t)
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDispatcher(t, h, clk, db)
	firing := func(inst string) *Alert {
		a := alert("alertname", "QueueStuck", "instance", inst)
		a.EndsAt = start.Add(24 * time.Hour) // posted once, valid for a day
		return a
	}
	d.Put(firing("a"), firing("b"))
	step(d, clk, 30*time.Second) // group_wait: the first notification; next flush at 12:05:30
	if got := h.take(t); len(got) != 1 || !slices.Equal(statuses(got[0]), []string{"a:firing", "b:firing"}) {
		t.Fatalf("first notification: %+v", got)
	}
	clk.Add(30 * time.Second)
	resolved := firing("b")
	resolved.EndsAt = clk.Now()
	d.Put(resolved, firing("c"))
	beforeStop(d) // stopped before the group's next flush
	db.Close()

	clk.Add(time.Minute) // 12:02, down for a minute
	db, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d = newTestDispatcher(t, h, clk, db)
	if got := len(d.Alerts()); got != 2 {
		t.Errorf("%d alerts firing after the restart, want 2 (a and c)", got)
	}
	step(d, clk, 3*time.Minute) // 12:05: a new group would have flushed at 12:02:30
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("sent before the group's flush time: %+v", got)
	}
	step(d, clk, 30*time.Second) // 12:05:30
	got := h.take(t)
	if len(got) != 1 || !slices.Equal(statuses(got[0]), []string{"a:firing", "b:resolved", "c:firing"}) {
		t.Fatalf("the flush after the restart: %+v", got)
	}
	for range 6 { // 30 more minutes, within repeat_interval (1h)
		step(d, clk, 5*time.Minute)
	}
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("sent again within repeat_interval: %+v", got)
	}
	step(d, clk, 30*time.Minute) // past repeat_interval
	if got := h.take(t); len(got) != 1 || !slices.Equal(statuses(got[0]), []string{"a:firing", "c:firing"}) {
		t.Fatalf("after repeat_interval: %+v", got)
	}
}

// A new group whose first alert started longer than group_wait ago
// flushes at once, as in Alertmanager; one with a fresh alert waits.
func TestDispatchOldAlertFlushesAtOnce(t *testing.T) {
	h := newHook(t)
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d := newTestDispatcher(t, h, clk, nil)
	old := alert("alertname", "DiskFull", "instance", "a")
	old.StartsAt = clk.Now().Add(-10 * time.Minute) // a rule with for: 10m
	d.Put(old, alert("alertname", "Fresh", "instance", "b"))
	step(d, clk, 100*time.Millisecond)
	got := h.take(t)
	if len(got) != 1 || got[0].GroupLabels["alertname"] != "DiskFull" {
		t.Fatalf("at once: %+v, want only DiskFull's group", got)
	}
	if !got[0].Alerts[0].EndsAt.IsZero() {
		t.Errorf("a firing alert's endsAt %s is shown; Alertmanager sends the zero time", got[0].Alerts[0].EndsAt)
	}
	step(d, clk, 30*time.Second)
	if got := h.take(t); len(got) != 1 || got[0].GroupLabels["alertname"] != "Fresh" {
		t.Fatalf("after group_wait: %+v", got)
	}
}

// A webhook answering 500 is retried until it answers 200; the message
// arrives once.
func TestDispatchRetry(t *testing.T) {
	h := newHook(t)
	h.fail = 2
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d := newTestDispatcher(t, h, clk, nil)
	d.Put(alert("alertname", "ServiceDown"))
	step(d, clk, 30*time.Second)
	if got := h.take(t); len(got) != 1 {
		t.Fatalf("%d notifications after two failures, want 1", len(got))
	}
}

// A webhook that hangs is given up at the group's next flush, counted as
// failed, and the alert is notified again at the next flush (nothing is
// dropped silently).
func TestDispatchHangingWebhook(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handler
	c, err := Parse([]byte("route: {receiver: r, group_wait: 0s, group_interval: 1s}\nreceivers: [{name: r, webhook_configs: [{url: '" + srv.URL + "'}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d, err := New(Options{Config: c, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	failed := metrics.GetOrCreateCounter(`vigil_notifications_failed_total{receiver="r",integration="webhook"}`)
	before := failed.Get()
	d.Put(&Alert{Labels: model.LabelSet{"alertname": "Hang"}})
	start := time.Now()
	step(d, clk, 0)
	if took := time.Since(start); took < time.Second || took > 10*time.Second {
		t.Errorf("the hanging delivery took %v, want about group_interval (1s)", took)
	}
	if failed.Get() != before+1 {
		t.Errorf("vigil_notifications_failed_total went from %d to %d", before, failed.Get())
	}
	if ds := d.Deliveries(); len(ds) != 1 || ds[0].Receiver != "r" || ds[0].Integration != "webhook" ||
		!strings.HasPrefix(ds[0].LastError, "gave up after") || !ds[0].LastSuccess.IsZero() {
		t.Errorf("deliveries after the failure: %+v", ds)
	}
	step(d, clk, time.Second)
	mu.Lock()
	defer mu.Unlock()
	if calls < 2 {
		t.Errorf("%d calls: the alert was not notified again after the failure", calls)
	}
	if ds := d.Deliveries(); len(ds) != 1 || ds[0].LastError != "" || ds[0].LastSuccess.IsZero() {
		t.Errorf("deliveries after the success: %+v", ds)
	}
}

// An alert resolved while the flush that reports it firing is still
// delivering stays in its group, and the next flush reports the
// resolution (the flush must not drop what it did not report).
func TestDispatchResolvedDuringFlush(t *testing.T) {
	inFlight, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var got []WebhookMessage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, m)
		first := len(got) == 1
		mu.Unlock()
		if first {
			close(inFlight)
			<-release
		}
	}))
	defer srv.Close()
	c, err := Parse([]byte("route: {receiver: r, group_wait: 0s, group_interval: 10s}\nreceivers: [{name: r, webhook_configs: [{url: '" + srv.URL + "', send_resolved: true}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d, err := New(Options{Config: c, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	a := &Alert{Labels: model.LabelSet{"alertname": "PanicBacklog"}, EndsAt: clk.Now().Add(time.Hour)}
	d.Put(a)
	d.Tick()
	<-inFlight
	resolved := *a
	resolved.EndsAt = clk.Now()
	d.Put(&resolved)
	close(release)
	d.Wait()

	step(d, clk, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Status != "firing" || got[1].Status != "resolved" {
		t.Fatalf("notifications %+v, want firing then resolved", got)
	}
}

// Between its full ticks, Run ticks when a group is due: tick says when
// that is next, and Put tells Run when it created a group.
func TestDispatchNextDue(t *testing.T) {
	h := newHook(t)
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	d := newTestDispatcher(t, h, clk, nil)
	if next := d.tick(false); !next.IsZero() {
		t.Errorf("without groups, due next at %v", next)
	}
	d.Put(alert("alertname", "ServiceDown", "instance", "a"))
	select {
	case <-d.newGroup:
	default:
		t.Error("Put created a group without telling Run")
	}
	if next := d.tick(false); !next.Equal(start.Add(30 * time.Second)) {
		t.Errorf("due next at %v, want after group_wait (30s)", next)
	}
	clk.Add(30 * time.Second)
	if next := d.tick(false); !next.Equal(clk.Now().Add(5 * time.Minute)) {
		t.Errorf("after the flush, due next at %v, want after group_interval (5m)", next)
	}
	d.Wait()
	if got := h.take(t); len(got) != 1 {
		t.Errorf("%d notifications at the group's time, want 1", len(got))
	}
}
