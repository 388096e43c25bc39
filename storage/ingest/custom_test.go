package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-monitoring/vigil/storage"
)

func TestCheckCustomMetrics(t *testing.T) {
	ok := CustomMetric{Name: "orders_total", Type: Counter, Labels: []CustomLabel{{Name: "channel", Values: []string{"web", "app"}}, {Name: "region", MaxValues: 50}}}
	if errs := CheckCustomMetrics([]CustomMetric{ok, {Name: "queue_seconds", Type: Histogram, Buckets: []float64{1, 5, 30}}}); len(errs) != 0 {
		t.Fatalf("valid declarations: %v", errs)
	}
	for _, tc := range []struct {
		name  string
		m     CustomMetric
		field string
		want  string
	}{
		{"bad name", CustomMetric{Name: "9lives", Type: Counter}, "name", "is not a metric name"},
		{"reserved name", CustomMetric{Name: "vigil_orders", Type: Counter}, "name", "reserved"},
		{"catalogue name", CustomMetric{Name: "panic_requests_total", Type: Counter}, "name", "the built-in metric panic_requests_total"},
		{"catalogue histogram series", CustomMetric{Name: "http_request_duration_seconds_count", Type: Gauge}, "name", "the built-in metric http_request_duration_seconds"},
		{"twice", CustomMetric{Name: "orders_total", Type: Gauge}, "name", "custom metric orders_total"},
		{"type", CustomMetric{Name: "x", Type: "summary"}, "type", `"summary" is not a type`},
		{"label name", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "a-b", MaxValues: 1}}}, "labels[0]", "not a label name"},
		{"reserved label", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "value", MaxValues: 1}}}, "labels[0]", "a field of every event"},
		{"le", CustomMetric{Name: "x", Type: Histogram, Labels: []CustomLabel{{Name: "le", MaxValues: 1}}}, "labels[0]", "bucket label"},
		{"label twice", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "a", MaxValues: 1}, {Name: "a", MaxValues: 2}}}, "labels[1]", "declared twice"},
		{"no constraint", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "a"}}}, "labels[0]", "give values"},
		{"both constraints", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "a", Values: []string{"b"}, MaxValues: 3}}}, "labels[0]", "not both"},
		{"cap too high", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "a", MaxValues: 1e6}}}, "labels[0]", "between 1 and 100000"},
		{"bad value", CustomMetric{Name: "x", Type: Counter, Labels: []CustomLabel{{Name: "a", Values: []string{"b c"}}}}, "labels[0]", "not a valid value"},
		{"buckets of a counter", CustomMetric{Name: "x", Type: Counter, Buckets: []float64{1}}, "buckets", "buckets are for histograms"},
		{"buckets unsorted", CustomMetric{Name: "x", Type: Histogram, Buckets: []float64{1, 5, 2}}, "buckets", "2 comes after 5"},
	} {
		errs := CheckCustomMetrics([]CustomMetric{ok, tc.m})
		var ce *CustomMetricError
		if len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Index != 1 || ce.Field != tc.field || !strings.Contains(ce.Error(), tc.want) {
			t.Errorf("%s: %v, want one error about metric 1's %s containing %q", tc.name, errs, tc.field, tc.want)
		}
	}
}

// TestRecordCustom records the three types through the custom event API,
// with the bad input it refuses, a restart and a reload.
func TestRecordCustom(t *testing.T) {
	dir := t.TempDir()
	open := func() *storage.Storage {
		st, err := storage.Open(dir, storage.Options{Retention: 100 * 365 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	decls := []CustomMetric{
		{Name: "orders_total", Type: Counter, Help: "Orders placed.", Labels: []CustomLabel{{Name: "channel", Values: []string{"web", "app"}}, {Name: "region", MaxValues: 3}}},
		{Name: "queue_depth", Type: Gauge, Labels: []CustomLabel{{Name: "queue", Values: []string{"dispatch"}}}},
		{Name: "dispatch_seconds", Type: Histogram, Buckets: []float64{10, 60}},
	}
	st := open()
	clock := &stepClock{t: time.Now().Add(-time.Hour)}
	r := NewRecorder(st, clock.now)
	if err := r.SetCustomMetrics(decls); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	record := func(metric, body string) (int, int, error) {
		return r.RecordCustom(ctx, metric, strings.NewReader(body))
	}
	must := func(metric, body string, wantRecorded, wantRetried int) {
		t.Helper()
		if n, retried, err := record(metric, body); err != nil || n != wantRecorded || retried != wantRetried {
			t.Fatalf("%s %s: recorded %d, retried %d, %v; want %d and %d", metric, body, n, retried, err, wantRecorded, wantRetried)
		}
	}
	must("orders_total", `{"channel":"web","region":"north"}`, 1, 0)
	must("orders_total", `[{"channel":"web","region":"north","inc":2.5},{"id":"o1","channel":"app","region":"south"}]`, 2, 0)
	must("orders_total", "{\"id\":\"o1\",\"channel\":\"app\",\"region\":\"south\"}\n{\"channel\":\"app\",\"region\":\"south\",\"inc\":0}", 1, 1)
	must("queue_depth", `[{"queue":"dispatch","value":7},{"queue":"dispatch","inc":-2}]`, 2, 0)
	must("dispatch_seconds", `[{"value":5},{"value":45},{"value":600}]`, 3, 0)
	// The same id for another metric is another event.
	must("queue_depth", `{"id":"o1","queue":"dispatch","inc":1}`, 1, 0)

	for _, tc := range []struct {
		metric, body string
		index        int
		field, want  string
	}{
		{"orders_total", `{"channel":"fax","region":"north"}`, 0, "channel", `"fax" is not one of the declared values web, app`},
		{"orders_total", `{"channel":"web"}`, 0, "region", "missing"},
		{"orders_total", `{"channel":"web","region":"north","colour":"red"}`, 0, "colour", "unknown field (the events of orders_total take channel, region, inc (default 1) and id)"},
		{"orders_total", `{"channel":"web","region":"north","value":3}`, 0, "value", "a counter takes inc"},
		{"orders_total", `{"channel":"web","region":"north","inc":-1}`, 0, "inc", "negative"},
		{"orders_total", `{"channel":"web","region":"north","inc":"one"}`, 0, "inc", "must be a number, not a JSON string"},
		{"orders_total", `{"channel":"web","region":7}`, 0, "region", "must be a string, not a JSON number"},
		{"orders_total", `{"channel":"web","region":"a b"}`, 0, "region", "not a valid value"},
		{"orders_total", `[{"channel":"web","region":"east"},{"channel":"web","region":"west"}]`, 1, "region", `"west" would be value number 4 of region; the max_values of orders_total's label region is 3`},
		{"queue_depth", `{"queue":"dispatch"}`, 0, "value", "missing: a gauge takes value"},
		{"queue_depth", `{"queue":"dispatch","value":1,"inc":1}`, 0, "inc", "not both"},
		{"dispatch_seconds", `{"value":1e400}`, 0, "value", "1e400 is out of range"},
		{"dispatch_seconds", `{"inc":1}`, 0, "inc", "a histogram takes value"},
		{"dispatch_seconds", `[{"value":1},2]`, 1, "", "not a JSON object"},
	} {
		_, _, err := record(tc.metric, tc.body)
		var ee *EventError
		if !errors.As(err, &ee) || ee.Index != tc.index || ee.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v; want event %d, field %q: %q", tc.metric, tc.body, err, tc.index, tc.field, tc.want)
		}
	}
	_, _, err := record("signups_total", `{}`)
	var ue *UnknownMetricError
	if !errors.As(err, &ue) || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "the custom metrics are dispatch_seconds, orders_total, queue_depth") {
		t.Errorf("unknown metric: %v", err)
	}

	check := func(metric string, want map[string]float64) {
		t.Helper()
		got := lastValues(t, st, metric)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v\nwant %v", metric, got, want)
		}
	}
	check("orders_total", map[string]float64{
		`{__name__="orders_total", channel="app", region="south"}`: 1,
		`{__name__="orders_total", channel="web", region="north"}`: 3.5,
	})
	check("queue_depth", map[string]float64{`{__name__="queue_depth", queue="dispatch"}`: 6})
	check("dispatch_seconds_bucket", map[string]float64{
		`{__name__="dispatch_seconds_bucket", le="+Inf"}`: 3,
		`{__name__="dispatch_seconds_bucket", le="10"}`:   1,
		`{__name__="dispatch_seconds_bucket", le="60"}`:   2,
	})
	check("dispatch_seconds_sum", map[string]float64{`{__name__="dispatch_seconds_sum"}`: 650})
	if md := st.Metadata("orders_total", 0); len(md) != 1 || md[0].Type != "counter" || md[0].Help != "Orders placed." {
		t.Errorf("metadata of orders_total: %+v", md)
	}

	// After a restart: counters go on, and the cap counts the regions
	// stored before it (north, south), so a third is the last.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open()
	defer st.Close()
	r = NewRecorder(st, clock.now)
	if err := r.SetCustomMetrics(decls); err != nil {
		t.Fatal(err)
	}
	must("orders_total", `[{"channel":"web","region":"north"},{"channel":"web","region":"east"}]`, 2, 0)
	if _, _, err := record("orders_total", `{"channel":"web","region":"west"}`); err == nil || !strings.Contains(err.Error(), "value number 4 of region") {
		t.Errorf("a fourth region after the restart: %v", err)
	}
	must("dispatch_seconds", `{"value":20}`, 1, 0)
	check("orders_total", map[string]float64{
		`{__name__="orders_total", channel="app", region="south"}`: 1,
		`{__name__="orders_total", channel="web", region="east"}`:  1,
		`{__name__="orders_total", channel="web", region="north"}`: 4.5,
	})
	check("dispatch_seconds_count", map[string]float64{`{__name__="dispatch_seconds_count"}`: 4})

	// A reload that drops a metric and adds one.
	if err := r.SetCustomMetrics([]CustomMetric{decls[0], {Name: "signups_total", Type: Counter}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := record("queue_depth", `{"queue":"dispatch","value":1}`); !errors.As(err, &ue) {
		t.Errorf("a metric removed by a reload: %v", err)
	}
	must("signups_total", `{}`, 1, 0)
	if err := r.SetCustomMetrics([]CustomMetric{{Name: "x", Type: "summary"}}); err == nil {
		t.Error("an invalid declaration was taken")
	}
	if got := r.CustomMetrics(); len(got) != 2 || got[0].Name != "orders_total" || got[1].Name != "signups_total" {
		t.Errorf("after a refused declaration: %+v", got)
	}
}
