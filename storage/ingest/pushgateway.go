package ingest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"github.com/vigil-monitoring/vigil/storage"
)

// The Pushgateway's own per-group gauges.
const (
	pushTimeMetric        = "push_time_seconds"
	pushFailureTimeMetric = "push_failure_time_seconds"
)

// staleNaN is Prometheus' staleness marker: a sample with exactly these
// bits ends a series at once in PromQL instead of after the 5-minute
// lookback.
var staleNaN = math.Float64frombits(value.StaleNaN)

// PushMode says which metrics of a group a push replaces.
type PushMode int

const (
	// PushReplaceGroup is the Pushgateway's PUT: the pushed metrics replace
	// all metrics of the group.
	PushReplaceGroup PushMode = iota + 1
	// PushReplaceMetrics is the Pushgateway's POST: the pushed metrics
	// replace only the metric families of the same names.
	PushReplaceMetrics
)

// GroupsOptions configures Groups.
type GroupsOptions struct {
	// TTL removes a group, as DELETE would, when nothing was pushed to it
	// for this long. Zero keeps groups until they are deleted, as the
	// Pushgateway does.
	TTL time.Duration
}

// Groups holds the metrics pushed Pushgateway-style, one group per grouping
// key (job plus the labels of the push path). Unlike a Pushgateway, which
// Prometheus scrapes, Vigil stores samples: AppendTo re-emits every pushed
// series at the current time, and the caller runs it periodically, so a
// batch job's last value stays visible rather than going stale 5 minutes
// after the push. Series that a DELETE, a replacing push or the TTL removed
// get a staleness marker at the next AppendTo, so they vanish from queries
// at once.
//
// Groups is safe for concurrent use.
type Groups struct {
	opts GroupsOptions

	mu     sync.Mutex
	groups map[string]*group
	// owners maps every emitted series' key to the key of the group that
	// emits it: the Pushgateway refuses a push that would make two groups
	// expose the same series, and so does Groups.
	owners map[string]string
	// stale holds the series removed since the last AppendTo, which marks
	// them stale unless they were pushed again meanwhile.
	stale map[string][]storage.Label
}

// group is one grouping key's metrics. Its strings are owned (copied out of
// request bodies).
type group struct {
	key    string
	labels []storage.Label // job, then the grouping labels sorted by name
	// pushTimeLabels and failureTimeLabels are the labels of the group's
	// push_time_seconds and push_failure_time_seconds series.
	pushTimeLabels, failureTimeLabels []storage.Label
	pushMillis                        int64 // last successful push; 0 if none
	failureMillis                     int64 // last failed push; 0 if none
	families                          map[string]*family
}

// family is one metric family of a group: a histogram's _bucket, _sum and
// _count series belong to one family, so a POST replaces them together.
type family struct {
	meta   Metadata
	series []pushedSeries
}

type pushedSeries struct {
	key    string
	labels []storage.Label // sorted by name, no empty values
	value  float64
}

// NewGroups returns an empty Groups.
func NewGroups(opts GroupsOptions) *Groups {
	return &Groups{
		opts:   opts,
		groups: make(map[string]*group),
		owners: make(map[string]string),
		stale:  make(map[string][]storage.Label),
	}
}

// Push stores the metrics of body in the group of groupLabels (as
// ParsePushPath returns them), replacing what mode says, and records now as
// the group's push time.
//
// The body is in the text exposition format, or in length-delimited
// protobuf when contentType (the request's Content-Type) is
// "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
// encoding=delimited", which Go's client_golang push package sends by
// default; the Pushgateway decides the same way.
//
// As in the Pushgateway, the grouping labels override labels of the same
// name on the pushed lines and are added to every series, samples must not
// carry timestamps, a series may appear only once, and a push that would
// expose a series another group already exposes is refused. A refused push
// changes no metric but sets the group's push_failure_time_seconds, creating
// the group if needed, so that alerts can see failing pushes. Errors are
// *InputError.
//
// The pushed values become visible at the next AppendTo.
func (g *Groups) Push(mode PushMode, groupLabels []storage.Label, body []byte, contentType string, now time.Time) (Result, error) {
	if mode != PushReplaceGroup && mode != PushReplaceMetrics {
		return Result{}, inputErrorf("unknown push mode %d; use PushReplaceGroup (PUT) or PushReplaceMetrics (POST)", mode)
	}
	if err := validateGroupLabels(groupLabels); err != nil {
		return Result{}, &InputError{Err: err}
	}
	gl := ownedGroupLabels(groupLabels)
	key := seriesKey(gl)
	nowMillis := now.UnixMilli()

	// Parse outside the lock: it is the expensive part.
	families, res, err := parsePush(body, contentType, gl)
	if err != nil {
		g.mu.Lock()
		g.recordFailure(key, gl, nowMillis)
		g.mu.Unlock()
		return Result{}, err
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.commit(mode, key, gl, families, nowMillis); err != nil {
		g.recordFailure(key, gl, nowMillis)
		return Result{}, err
	}
	return res, nil
}

// parsePush parses a push body into families whose series carry the
// grouping labels. The result owns its strings.
func parsePush(body []byte, contentType string, groupLabels []storage.Label) (map[string]*family, Result, error) {
	p := getTextParser()
	defer putTextParser(p)
	// place names where sample s.line is: its line in a text body, its
	// metric family in a protobuf one; errAt puts an error there.
	place := func(line int) string { return fmt.Sprintf("line %d", line) }
	errAt := func(s *textSample, format string, args ...any) error { return lineErrorf(s.line, format, args...) }
	switch pushFormatOf(contentType) {
	case pushProtobuf:
		names, err := p.parseProtobuf(body)
		if err != nil {
			return nil, Result{}, err
		}
		place = func(n int) string { return fmt.Sprintf("metric family %d (%s)", n, names[n-1]) }
		errAt = func(s *textSample, format string, args ...any) error {
			return inputErrorf("%s: %s", place(s.line), fmt.Sprintf(format, args...))
		}
	default:
		if err := p.parse(body, nil); err != nil {
			return nil, Result{}, err
		}
	}

	families := make(map[string]*family)
	firstLine := make(map[string]int, len(p.samples))
	for i := range p.samples {
		s := &p.samples[i]
		lineLabels := p.sampleLabels(s)
		if s.hasTimestamp {
			return nil, Result{}, errAt(s, "series %s has a timestamp (%d); the Pushgateway protocol does not accept timestamps: "+
				"remove it, or send timestamped samples to /api/v1/import/prometheus", seriesString(lineLabels), s.timestamp)
		}
		labels := pushedLabels(lineLabels, groupLabels)
		name := labelValue(labels, metricNameLabel)
		if name == pushTimeMetric || name == pushFailureTimeMetric {
			return nil, Result{}, errAt(s, "metric name %s is reserved for the time of the group's last push; rename the metric", name)
		}
		k := seriesKey(labels)
		if prev, ok := firstLine[k]; ok {
			return nil, Result{}, errAt(s, "series %s was already pushed at %s of this request; a push may hold each series once",
				seriesString(labels), place(prev))
		}
		firstLine[k] = s.line

		fname := familyName(p, name)
		f := families[fname]
		if f == nil {
			f = &family{meta: Metadata{Metric: strings.Clone(fname), Type: "unknown"}}
			if j, ok := p.metaIndex[fname]; ok {
				m := p.meta[j]
				f.meta = Metadata{Metric: f.meta.Metric, Type: m.Type, Help: strings.Clone(m.Help), Unit: strings.Clone(m.Unit)}
			}
			families[fname] = f
		}
		f.series = append(f.series, pushedSeries{key: k, labels: labels, value: s.value})
	}
	res := Result{Series: len(p.samples), Samples: len(p.samples), Metadata: p.ownedMetadata()}
	return families, res, nil
}

// familySuffixes lists, per series-name suffix, the family types whose
// series carry it, so that x_bucket belongs to family x when x is a
// histogram.
var familySuffixes = []struct {
	suffix string
	types  []string
}{
	{"_bucket", []string{"histogram", "gaugehistogram"}},
	{"_count", []string{"histogram", "summary"}},
	{"_sum", []string{"histogram", "summary"}},
	{"_gcount", []string{"gaugehistogram"}},
	{"_gsum", []string{"gaugehistogram"}},
	{"_created", []string{"counter", "histogram", "summary"}},
	{"_total", []string{"counter"}},
	{"_info", []string{"info"}},
}

// familyName returns the metric family of the series name, from the TYPE
// lines of the push.
func familyName(p *textParser, name string) string {
	for _, fs := range familySuffixes {
		base, ok := strings.CutSuffix(name, fs.suffix)
		if !ok {
			continue
		}
		if j, ok := p.metaIndex[base]; ok && slices.Contains(fs.types, p.meta[j].Type) {
			return base
		}
	}
	return name
}

// pushedLabels returns owned copies of the line labels with the grouping
// labels overriding and added, sorted by name, without empty values.
func pushedLabels(line, groupLabels []storage.Label) []storage.Label {
	out := make([]storage.Label, 0, len(line)+len(groupLabels))
	for _, l := range line {
		if l.Value == "" || labelValueIndex(groupLabels, l.Name) >= 0 {
			continue
		}
		out = append(out, storage.Label{Name: strings.Clone(l.Name), Value: strings.Clone(l.Value)})
	}
	for _, l := range groupLabels {
		if l.Value != "" {
			out = append(out, l) // already owned
		}
	}
	sortLabels(out)
	return out
}

// ownedGroupLabels copies the grouping labels: job first, the rest sorted.
func ownedGroupLabels(labels []storage.Label) []storage.Label {
	out := make([]storage.Label, len(labels))
	for i, l := range labels {
		out[i] = storage.Label{Name: strings.Clone(l.Name), Value: strings.Clone(l.Value)}
	}
	sortLabels(out[1:])
	return out
}

// groupSeriesLabels returns the labels of a per-group gauge such as
// push_time_seconds: the metric name and the non-empty grouping labels.
func groupSeriesLabels(name string, groupLabels []storage.Label) []storage.Label {
	out := make([]storage.Label, 0, len(groupLabels)+1)
	out = append(out, storage.Label{Name: metricNameLabel, Value: name})
	for _, l := range groupLabels {
		if l.Value != "" {
			out = append(out, l)
		}
	}
	sortLabels(out)
	return out
}

func sortLabels(labels []storage.Label) {
	slices.SortFunc(labels, func(a, b storage.Label) int { return strings.Compare(a.Name, b.Name) })
}

func labelValueIndex(labels []storage.Label, name string) int {
	for i := range labels {
		if labels[i].Name == name {
			return i
		}
	}
	return -1
}

func labelValue(labels []storage.Label, name string) string {
	if i := labelValueIndex(labels, name); i >= 0 {
		return labels[i].Value
	}
	return ""
}

// seriesKey identifies a series or a grouping key by its labels in the
// given order. 0xff never occurs in valid UTF-8, so the key is unambiguous.
func seriesKey(labels []storage.Label) string {
	n := 0
	for _, l := range labels {
		n += len(l.Name) + len(l.Value) + 2
	}
	b := make([]byte, 0, n)
	for _, l := range labels {
		b = append(b, l.Name...)
		b = append(b, 0xff)
		b = append(b, l.Value...)
		b = append(b, 0xff)
	}
	return string(b)
}

// commit applies a parsed push to the group key. g.mu must be held.
func (g *Groups) commit(mode PushMode, key string, groupLabels []storage.Label, pushed map[string]*family, nowMillis int64) error {
	old := g.groups[key]
	if old == nil {
		var err error
		if old, err = g.newGroup(key, groupLabels); err != nil {
			return err
		}
	}
	next := pushed
	if mode == PushReplaceMetrics {
		next = make(map[string]*family, len(old.families)+len(pushed))
		pushedKeys := make(map[string]struct{})
		for _, f := range pushed {
			for _, s := range f.series {
				pushedKeys[s.key] = struct{}{}
			}
		}
		for name, f := range old.families {
			// A family kept from before must not hold a series the push
			// carries in another family (x_count pushed untyped before and
			// now as part of summary x): the push wins.
			if !slices.ContainsFunc(f.series, func(s pushedSeries) bool { _, ok := pushedKeys[s.key]; return ok }) {
				next[name] = f
			}
		}
		for name, f := range pushed {
			next[name] = f
		}
	}
	for _, f := range pushed {
		for _, s := range f.series {
			if owner, ok := g.owners[s.key]; ok && owner != key {
				if g.groups[key] == nil {
					g.dropGroupSeries(old, false)
				}
				return &InputError{Err: fmt.Errorf("series %s is already pushed by the group %s; "+
					"a series may belong to one group only: delete that group or push with other labels",
					seriesString(s.labels), seriesString(g.groups[owner].labels))}
			}
		}
	}

	// Series of the old families that the push does not carry any more
	// end with a staleness marker.
	for name, f := range old.families {
		if next[name] == f {
			continue
		}
		for _, s := range f.series {
			delete(g.owners, s.key)
			g.stale[s.key] = s.labels
		}
	}
	for _, f := range pushed {
		for _, s := range f.series {
			g.owners[s.key] = key
			delete(g.stale, s.key)
		}
	}
	old.families = next
	old.pushMillis = nowMillis
	g.groups[key] = old
	return nil
}

// newGroup returns a group for key with its own gauges registered in
// g.owners, without adding it to g.groups. g.mu must be held.
func (g *Groups) newGroup(key string, groupLabels []storage.Label) (*group, error) {
	gr := &group{
		key:               key,
		labels:            groupLabels,
		pushTimeLabels:    groupSeriesLabels(pushTimeMetric, groupLabels),
		failureTimeLabels: groupSeriesLabels(pushFailureTimeMetric, groupLabels),
		families:          make(map[string]*family),
	}
	for _, ls := range [][]storage.Label{gr.pushTimeLabels, gr.failureTimeLabels} {
		if owner, ok := g.owners[seriesKey(ls)]; ok && owner != key {
			// Only possible when an empty grouping label makes two grouping
			// keys expose the same push_time_seconds series.
			return nil, &InputError{Err: fmt.Errorf("the group %s would expose the same %s series as the group %s; "+
				"push with a grouping key that differs in a non-empty label", seriesString(groupLabels), pushTimeMetric,
				seriesString(g.groups[owner].labels))}
		}
	}
	g.owners[seriesKey(gr.pushTimeLabels)] = key
	g.owners[seriesKey(gr.failureTimeLabels)] = key
	delete(g.stale, seriesKey(gr.pushTimeLabels))
	delete(g.stale, seriesKey(gr.failureTimeLabels))
	return gr, nil
}

// recordFailure sets the group's push_failure_time_seconds, creating the
// group when it does not exist. g.mu must be held.
func (g *Groups) recordFailure(key string, groupLabels []storage.Label, nowMillis int64) {
	gr := g.groups[key]
	if gr == nil {
		var err error
		if gr, err = g.newGroup(key, groupLabels); err != nil {
			return // the push error already says what is wrong
		}
		g.groups[key] = gr
	}
	gr.failureMillis = nowMillis
}

// dropGroupSeries forgets every series of gr, marking them stale when
// markStale. g.mu must be held.
func (g *Groups) dropGroupSeries(gr *group, markStale bool) {
	for _, f := range gr.families {
		for _, s := range f.series {
			delete(g.owners, s.key)
			if markStale {
				g.stale[s.key] = s.labels
			}
		}
	}
	for _, ls := range [][]storage.Label{gr.pushTimeLabels, gr.failureTimeLabels} {
		k := seriesKey(ls)
		delete(g.owners, k)
		if markStale {
			g.stale[k] = ls
		}
	}
}

// Delete removes the group of groupLabels, as the Pushgateway's DELETE
// does; its series get a staleness marker at the next AppendTo. It reports
// whether the group existed.
func (g *Groups) Delete(groupLabels []storage.Label) bool {
	if len(groupLabels) == 0 {
		return false
	}
	key := seriesKey(ownedGroupLabels(groupLabels))
	g.mu.Lock()
	defer g.mu.Unlock()
	gr := g.groups[key]
	if gr == nil {
		return false
	}
	g.dropGroupSeries(gr, true)
	delete(g.groups, key)
	return true
}

// AppendTo appends every pushed series, and each group's push_time_seconds
// and push_failure_time_seconds, to rows at nowMillis; before that it
// removes groups older than the TTL and appends staleness markers for the
// series removed since the last call.
func (g *Groups) AppendTo(rows *storage.Rows, nowMillis int64) {
	g.collect(nowMillis, func(labels []storage.Label, v float64) {
		// Every label was validated when it was pushed or loaded, so Add
		// cannot fail; a failure would drop only this one series.
		_ = rows.Add(labels, nowMillis, v)
	})
}

// collect does the work of AppendTo, handing each series to emit.
func (g *Groups) collect(nowMillis int64, emit func(labels []storage.Label, v float64)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opts.TTL > 0 {
		ttl := g.opts.TTL.Milliseconds()
		for key, gr := range g.groups {
			if max(gr.pushMillis, gr.failureMillis)+ttl <= nowMillis {
				g.dropGroupSeries(gr, true)
				delete(g.groups, key)
			}
		}
	}
	for key, labels := range g.stale {
		if _, live := g.owners[key]; !live {
			emit(labels, staleNaN)
		}
	}
	clear(g.stale)
	for _, gr := range g.groups {
		emit(gr.pushTimeLabels, float64(gr.pushMillis)/1e3)
		emit(gr.failureTimeLabels, float64(gr.failureMillis)/1e3)
		for _, f := range gr.families {
			for i := range f.series {
				emit(f.series[i].labels, f.series[i].value)
			}
		}
	}
}

// GroupInfo describes one group for a status page.
type GroupInfo struct {
	// Labels is the grouping key: job first, then the other labels by name.
	Labels []storage.Label
	// LastPush is the time of the last successful push; zero if none.
	LastPush time.Time
	// LastFailure is the time of the last refused push; zero if none.
	LastFailure time.Time
	// Metrics lists the group's metric families, sorted by name, with their
	// HELP, TYPE and UNIT as last pushed.
	Metrics []Metadata
	// Series is the number of series in the group, not counting
	// push_time_seconds and push_failure_time_seconds.
	Series int
}

// List returns every group, sorted by grouping key. The result is the
// caller's.
func (g *Groups) List() []GroupInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := make([]string, 0, len(g.groups))
	for k := range g.groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	infos := make([]GroupInfo, 0, len(keys))
	for _, k := range keys {
		gr := g.groups[k]
		info := GroupInfo{
			Labels:      slices.Clone(gr.labels),
			LastPush:    millisToTime(gr.pushMillis),
			LastFailure: millisToTime(gr.failureMillis),
		}
		for _, f := range gr.families {
			info.Metrics = append(info.Metrics, f.meta)
			info.Series += len(f.series)
		}
		slices.SortFunc(info.Metrics, func(a, b Metadata) int { return strings.Compare(a.Metric, b.Metric) })
		infos = append(infos, info)
	}
	return infos
}

func millisToTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
