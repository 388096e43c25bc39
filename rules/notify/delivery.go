package notify

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Delivery is how the notifications through one integration of a
// receiver went last, for the health of the notifier.
type Delivery struct {
	Receiver    string
	Integration string // email, webhook, slack, pagerduty
	LastAttempt time.Time
	// LastError is why the last notification was given up; "" when it
	// was delivered.
	LastError   string
	LastSuccess time.Time // zero before the first success
}

// deliveries keeps the Delivery of every integration that has sent. The
// zero value is ready to use.
type deliveries struct {
	mu sync.Mutex
	m  map[[2]string]*Delivery
}

// record notes the outcome of a notification through receiver's
// integration at t: err nil means delivered.
func (ds *deliveries) record(receiver, integration string, t time.Time, err error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.m == nil {
		ds.m = map[[2]string]*Delivery{}
	}
	k := [2]string{receiver, integration}
	d := ds.m[k]
	if d == nil {
		d = &Delivery{Receiver: receiver, Integration: integration}
		ds.m[k] = d
	}
	d.LastAttempt = t
	if err != nil {
		d.LastError = err.Error()
		return
	}
	d.LastError, d.LastSuccess = "", t
}

// Deliveries returns how the last notification through each integration
// went, by receiver and integration.
func (d *Dispatcher) Deliveries() []Delivery {
	d.deliveries.mu.Lock()
	defer d.deliveries.mu.Unlock()
	out := make([]Delivery, 0, len(d.deliveries.m))
	for _, v := range d.deliveries.m {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		return strings.Compare(a.Receiver+"\x00"+a.Integration, b.Receiver+"\x00"+b.Integration)
	})
	return out
}
