package demo

import (
	"bytes"
	"strconv"

	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// The event half of the live platform: the panic requests, logins and
// notifications that the real platform records through the event API
// (its Celery tasks' record_*_metrics), as the JSON lines the event API
// takes. The appliance records them with the same recorder that serves
// POST /api/v1/events/...; the rest of the platform is scraped from the
// demo's exporter.

// eventBatch collects the events of one step as JSON lines, by kind. A
// nil *eventBatch collects nothing, so that simulate can always call it.
type eventBatch struct {
	panicRequests, auths, notifs bytes.Buffer
	n                            int
}

// byKind returns the collected events by kind.
func (b *eventBatch) byKind() map[ingest.EventKind][]byte {
	return map[ingest.EventKind][]byte{
		ingest.PanicRequestEvent: b.panicRequests.Bytes(),
		ingest.AuthEvent:         b.auths.Bytes(),
		ingest.NotificationEvent: b.notifs.Bytes(),
	}
}

func (b *eventBatch) reset() {
	b.panicRequests.Reset()
	b.auths.Reset()
	b.notifs.Reset()
	b.n = 0
}

// panicRequest adds a panic request; rt < 0 means no response time (a
// prank or a rejected request).
func (b *eventBatch) panicRequest(serviceType, status, zone, firm string, rt float64) {
	if b == nil {
		return
	}
	w := &b.panicRequests
	w.WriteString(`{"service_type":"` + serviceType + `","status":"` + status + `","zone":"` + zone + `","firm_id":"` + firm + `"`)
	if rt >= 0 {
		w.WriteString(`,"response_time":`)
		w.WriteString(strconv.FormatFloat(rt, 'g', -1, 64))
	}
	w.WriteString("}\n")
	b.n++
}

// logins adds ok successful and bad failed logins of userType, locked of
// the failed ones locking the account.
func (b *eventBatch) logins(userType string, ok, bad, locked int) {
	if b == nil {
		return
	}
	line := func(success, lock bool) {
		b.auths.WriteString(`{"user_type":"` + userType + `","success":` + strconv.FormatBool(success) + `,"account_locked":` + strconv.FormatBool(lock) + "}\n")
		b.n++
	}
	for range ok {
		line(true, false)
	}
	for i := range bad {
		line(false, i < locked)
	}
}

// notifications adds sent and failed notifications through channel.
func (b *eventBatch) notifications(channel string, sent, failed int) {
	if b == nil {
		return
	}
	for i := range sent + failed {
		status := "sent"
		if i >= sent {
			status = "failed"
		}
		b.notifs.WriteString(`{"channel":"` + channel + `","status":"` + status + "\"}\n")
		b.n++
	}
}
