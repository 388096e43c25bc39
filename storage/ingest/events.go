package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/storage"
)

// The event API: the Panic platform's record_*_metrics Celery tasks as
// HTTP calls. Each event updates counters and histograms of the
// catalogue, whose cumulative values the Recorder keeps and writes as
// samples, exactly as a Prometheus client library would expose them.

// EventKind names an event type, as in /api/v1/events/<kind>.
type EventKind string

// The event kinds.
const (
	PanicRequestEvent EventKind = "panic-request"
	AuthEvent         EventKind = "auth"
	NotificationEvent EventKind = "notification"
)

// EventKinds are the kinds the Recorder accepts.
var EventKinds = []EventKind{PanicRequestEvent, AuthEvent, NotificationEvent}

// MaxLabelValues caps the distinct values of one label of the event
// metrics within a process, so that a client cannot create series without
// bound (a firm ID that is really a request ID, say).
const MaxLabelValues = 1000

// EventError is a rejected event: which one of a batch (from 0), which
// field, and why. A batch with one bad event is rejected as a whole.
type EventError struct {
	Index int
	Field string
	Err   error
}

func (e *EventError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("event %d: %v; nothing of the batch was recorded", e.Index, e.Err)
	}
	return fmt.Sprintf("event %d: field %q: %v; nothing of the batch was recorded", e.Index, e.Field, e.Err)
}

// panicRequest, authEvent and notification are the events' JSON bodies,
// with the arguments of the seed's Celery tasks. ID, optional, makes a
// retried event count once.
type panicRequest struct {
	ID           string   `json:"id"`
	ServiceType  *string  `json:"service_type"`
	Status       *string  `json:"status"`
	FirmID       *string  `json:"firm_id"`
	Zone         *string  `json:"zone"`
	ResponseTime *float64 `json:"response_time"`
}

type authEvent struct {
	ID            string  `json:"id"`
	UserType      *string `json:"user_type"`
	Success       *bool   `json:"success"`
	AccountLocked *bool   `json:"account_locked"`
}

type notification struct {
	ID      string  `json:"id"`
	Channel *string `json:"channel"`
	Status  *string `json:"status"`
}

// Recorder turns events into samples. It is safe for concurrent use.
type Recorder struct {
	st  *storage.Storage
	now func() time.Time

	mu     sync.Mutex
	values map[string]float64 // series key -> cumulative value
	// seen holds the values seen of each capped label, by scope: the
	// label name for the catalogue's events, metric and label for a
	// custom metric's. seenLoaded marks the scopes whose stored values
	// have been read, so that a cap holds across restarts.
	seen       map[string]map[string]bool
	seenLoaded map[string]bool
	ids        map[string]time.Time // event IDs recorded (kind, NUL, id), for retries
	idq        []idEntry            // the same in the order recorded, from idHead
	idHead     int
	idsDB      *bbolt.DB // where IDs are kept across restarts; nil: nowhere
	idsPending []idEntry // recorded since the last FlushIDs
	maxIDs     int       // MaxEventIDs; tests lower it
	lastTs     int64
	hist       map[string]*eventHistogram
	custom     map[string]*customMetric // by name; replaced whole by SetCustomMetrics
}

// eventHistogram is a histogram of the catalogue, its names and bucket
// bounds (+Inf last) prepared once.
type eventHistogram struct {
	bucket, sum, count string
	bounds             []float64
	le                 []string
}

// NewRecorder returns a recorder that stores into st; now is its clock
// (time.Now when nil).
func NewRecorder(st *storage.Storage, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{st: st, now: now, values: map[string]float64{}, seen: map[string]map[string]bool{}, seenLoaded: map[string]bool{},
		ids: map[string]time.Time{}, maxIDs: MaxEventIDs, hist: map[string]*eventHistogram{}, custom: map[string]*customMetric{}}
	for _, m := range Catalogue() {
		if m.Type == Histogram {
			r.hist[m.Name] = newEventHistogram(m.Name, m.Buckets)
		}
	}
	return r
}

func newEventHistogram(name string, buckets []float64) *eventHistogram {
	h := &eventHistogram{bucket: name + "_bucket", sum: name + "_sum", count: name + "_count"}
	for _, b := range append(slices.Clone(buckets), math.Inf(1)) {
		h.bounds = append(h.bounds, b)
		h.le = append(h.le, formatFloat(b))
	}
	return h
}

// update is one change an event makes: add inc to a counter (or gauge),
// set a gauge, or observe a value in a histogram.
type update struct {
	metric  string
	labels  []storage.Label // without the name
	inc     float64
	set     *float64 // a gauge's new value
	observe *float64
	hist    *eventHistogram // of observe; nil: the catalogue's for metric
	// caps are the labels whose distinct values are capped; nil means
	// every label, at MaxLabelValues, as for the catalogue's events.
	caps []labelCap
	// custom: the labels are the event's fields of the same names.
	custom bool
}

// labelCap caps the distinct values of labels[i], named label, within
// scope.
type labelCap struct {
	i     int
	label string
	scope string
	max   int
	// metric is the series name whose stored label values count against
	// the cap; "" when only the values seen by this process count.
	metric string
	field  string // the event's field, for errors
	what   string // how the cap is set, for errors
}

var labelValueRE = regexp.MustCompile(`^[A-Za-z0-9_.:/@+-]{1,128}$`)

// decodeEvents reads one event, a JSON array of events, or JSON lines.
func decodeEvents(body io.Reader) ([]json.RawMessage, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty body: send a JSON object, an array of them or JSON lines", ErrBadInput)
	}
	if data[0] == '[' {
		var evs []json.RawMessage
		if err := json.Unmarshal(data, &evs); err != nil {
			return nil, fmt.Errorf("%w: the body is not a JSON array of events: %v", ErrBadInput, err)
		}
		return evs, nil
	}
	var evs []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var ev json.RawMessage
		if err := dec.Decode(&ev); err == io.EOF {
			return evs, nil
		} else if err != nil {
			return nil, &EventError{Index: len(evs), Err: fmt.Errorf("not JSON: %w", err)}
		}
		evs = append(evs, ev)
	}
}

// Record decodes the events of kind in body, and stores them all or none.
// It returns how many were recorded and how many were retries of events
// already recorded (same id).
func (r *Recorder) Record(ctx context.Context, kind EventKind, body io.Reader) (recorded, retried int, err error) {
	return r.record(ctx, string(kind), body, func(raw json.RawMessage) ([]update, string, error) { return parseEvent(kind, raw) })
}

// record decodes the events in body with parse and stores them all or
// none. IDs are scoped by scope: the same id in events of two kinds is
// two events.
func (r *Recorder) record(ctx context.Context, scope string, body io.Reader, parse func(json.RawMessage) ([]update, string, error)) (recorded, retried int, err error) {
	raws, err := decodeEvents(body)
	if err != nil {
		return 0, 0, err
	}
	evs := make([][]update, len(raws))
	ids := make([]string, len(raws))
	for i, raw := range raws {
		u, id, err := parse(raw)
		if err != nil {
			var ee *EventError
			if errors.As(err, &ee) {
				ee.Index = i
				return 0, 0, ee
			}
			return 0, 0, &EventError{Index: i, Err: err}
		}
		if id != "" {
			id = scope + "\x00" + id
		}
		ids[i], evs[i] = id, u
		for _, up := range u {
			for _, l := range up.labels {
				if !labelValueRE.MatchString(l.Value) {
					field := l.Name
					if !up.custom {
						field = fieldOf(l.Name)
					}
					return 0, 0, &EventError{Index: i, Field: field, Err: fmt.Errorf("%q is not a valid value: use 1 to 128 letters, digits and _.:/@+-", l.Value)}
				}
			}
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// Caps and retries are checked before anything changes.
	now := r.now()
	added := map[string]map[string]bool{}
	skip := make([]bool, len(raws))
	batchIDs := map[string]bool{}
	for i, id := range ids {
		if id == "" {
			continue
		}
		if t, ok := r.ids[id]; (ok && now.Sub(t) < idTTL) || batchIDs[id] {
			skip[i] = true
			retried++
		}
		batchIDs[id] = true
	}
	for i, ups := range evs {
		if skip[i] {
			continue
		}
		for _, up := range ups {
			if err := r.checkCaps(ctx, i, up, added); err != nil {
				return 0, 0, err
			}
		}
	}

	// Apply to a copy of the touched values, store, then commit. Keys are
	// built in one buffer and looked up without allocating; a series'
	// labels are built only the first time the batch touches it.
	next := map[string]*float64{}
	var touched []touchedSeries
	var kb []byte
	var lookupErr error
	apply := func(name string, ls []storage.Label, le string, v float64, set bool) {
		kb = append(kb[:0], "__name__\x00"...)
		kb = append(append(kb, name...), 0)
		for _, l := range ls {
			kb = append(append(kb, l.Name...), 0)
			kb = append(append(kb, l.Value...), 0)
		}
		if le != "" {
			kb = append(append(append(kb, "le\x00"...), le...), 0)
		}
		if p, ok := next[string(kb)]; ok {
			if set {
				*p = v
			} else {
				*p += v
			}
			return
		}
		key := string(kb)
		full := withName(name, ls)
		if le != "" {
			full = append(full, storage.Label{Name: "le", Value: le})
		}
		// A series new to the store starts with a 0 just before its
		// first value, as client libraries initialise counters: otherwise
		// increase() and rate() could not see its first events. A gauge
		// that is set needs neither its old value nor the 0.
		old, ok := r.values[key]
		born := false
		if set {
			old = 0
		} else if !ok {
			var err error
			if old, ok, err = r.stored(ctx, full); err != nil && lookupErr == nil {
				lookupErr = fmt.Errorf("reading the stored value of %s: %w", storage.LabelsString(full), err)
			}
			born = !ok
		}
		old += v
		next[key] = &old
		touched = append(touched, touchedSeries{key, full, born})
	}
	for i, ups := range evs {
		if skip[i] {
			continue
		}
		for _, up := range ups {
			switch {
			case up.set != nil:
				apply(up.metric, up.labels, "", *up.set, true)
			case up.observe == nil:
				apply(up.metric, up.labels, "", up.inc, false)
			default:
				h := up.hist
				if h == nil {
					h = r.hist[up.metric]
				}
				v := *up.observe
				for k, b := range h.bounds {
					inc := 0.0
					if v <= b {
						inc = 1
					}
					apply(h.bucket, up.labels, h.le[k], inc, false)
				}
				apply(h.sum, up.labels, "", v, false)
				apply(h.count, up.labels, "", 1, false)
			}
		}
	}
	if lookupErr != nil {
		return 0, 0, lookupErr
	}
	ts := max(now.UnixMilli(), r.lastTs+2)
	var rows storage.Rows
	for _, t := range touched {
		if t.born {
			if err := rows.Add(t.labels, ts-1, 0); err != nil {
				return 0, 0, err
			}
		}
		if err := rows.Add(t.labels, ts, *next[t.key]); err != nil {
			return 0, 0, err
		}
	}
	if err := r.st.Append(&rows); err != nil {
		return 0, 0, fmt.Errorf("storing the events: %w", err)
	}
	r.lastTs = ts
	for k, v := range next {
		r.values[k] = *v
	}
	for scope, vs := range added {
		if r.seen[scope] == nil {
			r.seen[scope] = map[string]bool{}
		}
		for v := range vs {
			r.seen[scope][v] = true
		}
	}
	for i, id := range ids {
		if id != "" && !skip[i] {
			r.rememberIDLocked(id, now)
		}
	}
	r.evictIDsLocked(now)
	return len(raws) - retried, retried, nil
}

// checkCaps checks that the capped labels of up, event i of a batch,
// stay within their caps, counting the values the batch adds in added.
// r.mu is held.
func (r *Recorder) checkCaps(ctx context.Context, i int, up update, added map[string]map[string]bool) error {
	caps := up.caps
	if caps == nil {
		caps = make([]labelCap, len(up.labels))
		for k, l := range up.labels {
			caps[k] = labelCap{i: k, label: l.Name, scope: l.Name, max: MaxLabelValues, field: fieldOf(l.Name), what: "the cap of the built-in events"}
		}
	}
	for _, c := range caps {
		l := up.labels[c.i]
		if c.metric != "" && !r.seenLoaded[c.scope] {
			if err := r.loadSeen(ctx, c); err != nil {
				return err
			}
		}
		if r.seen[c.scope][l.Value] || added[c.scope][l.Value] {
			continue
		}
		if n := len(r.seen[c.scope]) + len(added[c.scope]); n >= c.max {
			return &EventError{Index: i, Field: c.field, Err: fmt.Errorf("%q would be value number %d of %s; %s is %d, so no new series is made", l.Value, n+1, l.Name, c.what, c.max)}
		}
		if added[c.scope] == nil {
			added[c.scope] = map[string]bool{}
		}
		added[c.scope][l.Value] = true
	}
	return nil
}

// loadSeen reads the values of c's label that the store holds for its
// metric, so that a cap counts the values of earlier runs. r.mu is held.
func (r *Recorder) loadSeen(ctx context.Context, c labelCap) error {
	now := r.now()
	q, err := r.st.Querier(now.Add(-r.st.Retention()).UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("reading the stored values of %s: %w", c.scope, err)
	}
	defer q.Close()
	vs, _, err := q.LabelValues(ctx, c.label, nil, labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, c.metric))
	if err != nil {
		return fmt.Errorf("reading the stored values of %s: %w", c.scope, err)
	}
	if r.seen[c.scope] == nil {
		r.seen[c.scope] = map[string]bool{}
	}
	for _, v := range vs {
		r.seen[c.scope][v] = true
	}
	r.seenLoaded[c.scope] = true
	return nil
}

type touchedSeries struct {
	key    string
	labels []storage.Label
	born   bool // new: neither in memory nor in the store
}

// stored is the last value of series ls in the store, so that counters
// resume after a restart, and whether there is one. An error (a cancelled
// request, a failing store) is not "none": taking it for a new series
// would start the counter again from 0, a reset.
func (r *Recorder) stored(ctx context.Context, ls []storage.Label) (float64, bool, error) {
	now := r.now()
	q, err := r.st.Querier(now.Add(-r.st.Retention()).UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, false, err
	}
	defer q.Close()
	ms := make([]*labels.Matcher, len(ls))
	for i, l := range ls {
		ms[i] = labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value)
	}
	set := q.Select(ctx, false, nil, ms...)
	var lastT int64 = math.MinInt64
	v, found := 0.0, false
	for set.Next() {
		if set.At().Labels().Len() != len(ls) {
			continue // a series with more labels
		}
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			if t, x := it.At(); t > lastT && !math.IsNaN(x) {
				lastT, v, found = t, x, true
			}
		}
		if err := it.Err(); err != nil {
			return 0, false, err
		}
	}
	if err := set.Err(); err != nil {
		return 0, false, err
	}
	return v, found, nil
}

func withName(name string, ls []storage.Label) []storage.Label {
	return append([]storage.Label{{Name: "__name__", Value: name}}, ls...)
}

// fieldOf is the JSON field a label comes from.
func fieldOf(label string) string {
	if label == "result" {
		return "success"
	}
	return label
}

// parseEvent decodes one event of kind into the updates it makes.
func parseEvent(kind EventKind, raw json.RawMessage) ([]update, string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	str := func(field string, p *string) (string, error) {
		if p == nil {
			return "", &EventError{Field: field, Err: errors.New("missing")}
		}
		return *p, nil
	}
	decode := func(into any) error {
		if err := dec.Decode(into); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return &EventError{Field: te.Field, Err: fmt.Errorf("must be a %s, not a JSON %s", te.Type, te.Value)}
			}
			if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				return &EventError{Field: strings.Trim(f, `"`), Err: fmt.Errorf("unknown field (the %s event takes %s)", kind, eventFields[kind])}
			}
			return fmt.Errorf("not a JSON object: %w", err)
		}
		return nil
	}
	switch kind {
	case PanicRequestEvent:
		var e panicRequest
		if err := decode(&e); err != nil {
			return nil, "", err
		}
		var vals [4]string
		for i, f := range []struct {
			name string
			p    *string
		}{{"service_type", e.ServiceType}, {"status", e.Status}, {"firm_id", e.FirmID}, {"zone", e.Zone}} {
			v, err := str(f.name, f.p)
			if err != nil {
				return nil, "", err
			}
			vals[i] = v
		}
		ups := []update{{metric: "panic_requests_total", inc: 1, labels: []storage.Label{
			{Name: "service_type", Value: vals[0]}, {Name: "status", Value: vals[1]}, {Name: "zone", Value: vals[3]}, {Name: "firm_id", Value: vals[2]}}}}
		if e.ResponseTime != nil {
			if *e.ResponseTime < 0 || math.IsNaN(*e.ResponseTime) {
				return nil, "", &EventError{Field: "response_time", Err: fmt.Errorf("%v is negative; it is in seconds", *e.ResponseTime)}
			}
			ups = append(ups, update{metric: "panic_request_response_time_seconds", observe: e.ResponseTime, labels: []storage.Label{
				{Name: "service_type", Value: vals[0]}, {Name: "zone", Value: vals[3]}, {Name: "firm_id", Value: vals[2]}}})
		}
		return ups, e.ID, nil
	case AuthEvent:
		var e authEvent
		if err := decode(&e); err != nil {
			return nil, "", err
		}
		ut, err := str("user_type", e.UserType)
		if err != nil {
			return nil, "", err
		}
		if e.Success == nil {
			return nil, "", &EventError{Field: "success", Err: errors.New("missing")}
		}
		result := "failure"
		if *e.Success {
			result = "success"
		}
		ups := []update{{metric: "auth_login_attempts_total", inc: 1, labels: []storage.Label{{Name: "user_type", Value: ut}, {Name: "result", Value: result}}}}
		if e.AccountLocked != nil && *e.AccountLocked {
			ups = append(ups, update{metric: "auth_account_lockouts_total", inc: 1, labels: []storage.Label{{Name: "user_type", Value: ut}}})
		}
		return ups, e.ID, nil
	case NotificationEvent:
		var e notification
		if err := decode(&e); err != nil {
			return nil, "", err
		}
		ch, err := str("channel", e.Channel)
		if err != nil {
			return nil, "", err
		}
		st, err := str("status", e.Status)
		if err != nil {
			return nil, "", err
		}
		return []update{{metric: "notifications_sent_total", inc: 1, labels: []storage.Label{{Name: "channel", Value: ch}, {Name: "status", Value: st}}}}, e.ID, nil
	}
	return nil, "", fmt.Errorf("unknown event type %q; the types are panic-request, auth and notification", kind)
}

var eventFields = map[EventKind]string{
	PanicRequestEvent: "service_type, status, firm_id, zone, response_time and id",
	AuthEvent:         "user_type, success, account_locked and id",
	NotificationEvent: "channel, status and id",
}
