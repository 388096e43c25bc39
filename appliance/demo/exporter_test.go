package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-monitoring/vigil/storage"
)

// TestExporter scrapes the exporter's two targets as Vigil would and
// checks that the API's exposition holds exactly the series the demo would
// append, without the event API's, and the worker fails while it is down.
func TestExporter(t *testing.T) {
	var e Exporter
	api := httptest.NewServer(e.Handlers()[0])
	defer api.Close()
	wrk := httptest.NewServer(e.Handlers()[1])
	defer wrk.Close()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get(api.URL); code != 200 || body != "" {
		t.Fatalf("before the backfill: %d %q, want 200 and nothing", code, body)
	}

	p := New(anchor, 3)
	var rows storage.Rows
	for i := range 8 {
		rows.Reset()
		if err := p.Advance(anchor.Add(time.Duration(i)*Step), &rows); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{}
	rows.ForEach(func(ls []storage.Label, _ int64, v float64) {
		if ls[0].Value == "up" || EventMetric(ls[0].Value) {
			return
		}
		m := model.Metric{}
		for _, l := range exposedLabels(ls) {
			m[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
		m[model.MetricNameLabel] = model.LabelValue(ls[0].Value)
		want[m.String()] = v
	})
	e.serve(p)
	code, body := get(api.URL)
	if code != 200 {
		t.Fatalf("API: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mf)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range vec {
			got[s.Metric.String()] = float64(s.Value)
		}
	}
	if len(got) != len(want) || len(want) < 300 {
		t.Errorf("%d series exposed, want the %d the demo appends", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v exposed, want %v", k, got[k], v)
			break
		}
	}
	if code, _ := get(wrk.URL); code != 200 {
		t.Errorf("worker before its outage: %d", code)
	}
	rows.Reset()
	if err := p.Advance(anchor.Add(3*time.Minute), &rows); err != nil { // the worker is down from 2 to 7 minutes
		t.Fatal(err)
	}
	if code, body := get(wrk.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "the worker is down") {
		t.Errorf("worker during its outage: %d %q", code, body)
	}
}
