//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// The proof tests of issue 2: a real Prometheus client library against the
// real binary, over data that went in through remote write exactly as a
// Prometheus sends it.

// proofVigil is a running vigil binary with the clients the proof tests
// talk to it through.
type proofVigil struct {
	*vigilProcess
	DataDir string
	API     promv1.API
	HTTP    *http.Client
}

// startProofVigil starts vigil on dataDir (a new temporary directory if
// empty) with authentication on, and clients that act as its admin: the
// force-flush endpoint the tests use is admin-only.
func startProofVigil(t *testing.T, dataDir string) *proofVigil {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	p := startVigilProcess(t, "--data-dir="+dataDir)
	// A transport of our own: no proxy from the environment, and idle
	// connections closed with the test.
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: adminTransport(tr), Timeout: 30 * time.Second}
	c, err := api.NewClient(api.Config{Address: p.BaseURL, Client: hc})
	if err != nil {
		t.Fatalf("client for %s: %v", p.BaseURL, err)
	}
	return &proofVigil{vigilProcess: p, DataDir: dataDir, API: promv1.NewAPI(c), HTTP: hc}
}

// write sends req as one remote write 1.0 request, snappy-compressed
// protobuf, and returns an error unless Vigil acknowledges it with 204.
func (v *proofVigil) write(ctx context.Context, req *prompb.WriteRequest) error {
	pb, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("marshalling the write request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, v.BaseURL+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, pb)))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := v.HTTP.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /api/v1/write = %d, want 204: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

func (v *proofVigil) mustWrite(t *testing.T, req *prompb.WriteRequest) {
	t.Helper()
	if err := v.write(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// importText posts the text exposition format to /api/v1/import/prometheus.
func (v *proofVigil) importText(t *testing.T, text string) {
	t.Helper()
	resp, err := v.HTTP.Post(v.BaseURL+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /api/v1/import/prometheus = %d, want 204: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
}

// flush makes everything ingested so far searchable.
func (v *proofVigil) flush(t *testing.T) {
	t.Helper()
	resp, err := v.HTTP.Get(v.BaseURL + "/internal/force_flush")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /internal/force_flush = %d, want 200", resp.StatusCode)
	}
}

// proofWait polls cond until it returns nil, and fails the test with its
// last error after timeout. Ingested rows become searchable asynchronously;
// tests wait for them this way, never by sleeping.
func proofWait(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// proofSeries builds a remote-write time series with the labels given as
// name, value pairs (the metric name first, as __name__), sorted as remote
// write requires.
func proofSeries(nameValues ...string) prompb.TimeSeries {
	var ts prompb.TimeSeries
	for i := 0; i+1 < len(nameValues); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: nameValues[i], Value: nameValues[i+1]})
	}
	slices.SortFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
	return ts
}

// The data set of TestPrometheusClientAPI: 21 samples 15 s apart per series,
// the last at end; each value is exact in binary floating point, so the
// tests compare with ==.
const (
	apiSamples = 21
	apiStep    = 15 * time.Second
)

// apiSeries are the counters of the data set and their value at sample i.
var apiSeries = []struct {
	instance, method string
	value            func(i int) float64
}{
	{"a", "GET", func(i int) float64 { return 10 * float64(i) }},
	{"a", "POST", func(i int) float64 { return 2 * float64(i) }},
	{"b", "GET", func(i int) float64 { return 5 * float64(i) }},
	{"b", "POST", func(i int) float64 { return 0.5 * float64(i) }},
}

func temperatureAt(i int) float64 { return 20 + 0.25*float64(i) }

// ingestAPIDataSet writes the data set ending at end: four counters and a
// gauge through remote write (with metadata, as Prometheus sends it) and
// one gauge through the text import (with # HELP and # TYPE).
func ingestAPIDataSet(t *testing.T, v *proofVigil, end time.Time) {
	t.Helper()
	start := end.Add(-(apiSamples - 1) * apiStep)
	req := &prompb.WriteRequest{}
	for _, s := range apiSeries {
		ts := proofSeries("__name__", "vigil_proof_requests_total", "job", "proof", "instance", s.instance, "method", s.method)
		for i := range apiSamples {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: start.Add(time.Duration(i) * apiStep).UnixMilli(), Value: s.value(i)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	temp := proofSeries("__name__", "vigil_proof_temperature_celsius", "job", "proof", "room", "kitchen")
	for i := range apiSamples {
		temp.Samples = append(temp.Samples, prompb.Sample{Timestamp: start.Add(time.Duration(i) * apiStep).UnixMilli(), Value: temperatureAt(i)})
	}
	req.Timeseries = append(req.Timeseries, temp)
	v.mustWrite(t, req)

	// Prometheus sends metadata in requests of their own.
	v.mustWrite(t, &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{
		{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "vigil_proof_requests_total", Help: "Requests served, for the proof tests."},
		{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "vigil_proof_temperature_celsius", Help: "Kitchen temperature.", Unit: "celsius"},
	}})

	v.importText(t, fmt.Sprintf("# HELP vigil_proof_jobs_queued Jobs waiting in a queue.\n"+
		"# TYPE vigil_proof_jobs_queued gauge\n"+
		"vigil_proof_jobs_queued{job=\"proof\",queue=\"mail\"} 7 %d\n", end.UnixMilli()))

	v.flush(t)
	proofWait(t, 10*time.Second, func() error {
		got, _, _, err := v.API.Query(context.Background(), `count({job="proof"})`, end)
		if err != nil {
			return err
		}
		if vec, ok := got.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != 6 {
			return fmt.Errorf(`count({job="proof"}) = %v, want 6`, got)
		}
		return nil
	})
}

func TestPrometheusClientAPI(t *testing.T) {
	v := startProofVigil(t, "")
	ctx := context.Background()
	// Samples on whole seconds, the newest a little in the past.
	end := time.Now().Add(-time.Second).Truncate(time.Second)
	start := end.Add(-(apiSamples - 1) * apiStep)
	last := apiSamples - 1
	ingestAPIDataSet(t, v, end)

	t.Run("Query", func(t *testing.T) {
		got, warnings, _, err := v.API.Query(ctx, `sum by (instance) (vigil_proof_requests_total)`, end)
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) > 0 {
			t.Errorf("warnings: %v", warnings)
		}
		want := map[string]float64{}
		for _, s := range apiSeries {
			want[s.instance] += s.value(last)
		}
		vec, ok := got.(model.Vector)
		if !ok {
			t.Fatalf("result is a %s, want a vector", got.Type())
		}
		if len(vec) != len(want) {
			t.Fatalf("got %d series, want %d: %v", len(vec), len(want), vec)
		}
		for _, s := range vec {
			inst := string(s.Metric["instance"])
			if len(s.Metric) != 1 || s.Value != model.SampleValue(want[inst]) || !s.Timestamp.Time().Equal(end) {
				t.Errorf("got %v, want {instance=%q} => %v @ %d", s, inst, want[inst], end.UnixMilli())
			}
		}

		// One exact series with all its labels.
		got, _, _, err = v.API.Query(ctx, `vigil_proof_requests_total{instance="b",method="POST"}`, end)
		if err != nil {
			t.Fatal(err)
		}
		wantSample := model.LabelSet{"__name__": "vigil_proof_requests_total", "job": "proof", "instance": "b", "method": "POST"}
		if vec := got.(model.Vector); len(vec) != 1 || !model.LabelSet(vec[0].Metric).Equal(wantSample) || vec[0].Value != 10 {
			t.Errorf("got %v, want %v => 10", got, wantSample)
		}

		// Range functions see every sample: 21 in 10 minutes.
		got, _, _, err = v.API.Query(ctx, `count_over_time(vigil_proof_temperature_celsius[10m])`, end)
		if err != nil {
			t.Fatal(err)
		}
		if vec := got.(model.Vector); len(vec) != 1 || vec[0].Value != apiSamples {
			t.Errorf("count_over_time = %v, want %d", got, apiSamples)
		}

		// A scalar, and a time before the data: an empty vector.
		got, _, _, err = v.API.Query(ctx, `scalar(sum(vigil_proof_requests_total))`, end)
		if err != nil {
			t.Fatal(err)
		}
		if sc, ok := got.(*model.Scalar); !ok || sc.Value != 10*20+2*20+5*20+0.5*20 {
			t.Errorf("scalar(sum(...)) = %v, want 350", got)
		}
		got, _, _, err = v.API.Query(ctx, `vigil_proof_requests_total`, start.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if vec := got.(model.Vector); len(vec) != 0 {
			t.Errorf("an hour before the data: %v, want nothing", vec)
		}
	})

	t.Run("QueryRange", func(t *testing.T) {
		got, _, _, err := v.API.QueryRange(ctx, `vigil_proof_temperature_celsius`, promv1.Range{Start: start, End: end, Step: apiStep})
		if err != nil {
			t.Fatal(err)
		}
		m, ok := got.(model.Matrix)
		if !ok || len(m) != 1 {
			t.Fatalf("got %v, want one series", got)
		}
		if want := (model.Metric{"__name__": "vigil_proof_temperature_celsius", "job": "proof", "room": "kitchen"}); !m[0].Metric.Equal(want) {
			t.Errorf("series %v, want %v", m[0].Metric, want)
		}
		if len(m[0].Values) != apiSamples {
			t.Fatalf("%d points, want %d: %v", len(m[0].Values), apiSamples, m[0].Values)
		}
		for i, p := range m[0].Values {
			if wantT := start.Add(time.Duration(i) * apiStep); !p.Timestamp.Time().Equal(wantT) || p.Value != model.SampleValue(temperatureAt(i)) {
				t.Errorf("point %d = %v, want %v @ %d", i, p, temperatureAt(i), wantT.UnixMilli())
			}
		}

		// An aggregation over a coarser step.
		got, _, _, err = v.API.QueryRange(ctx, `sum(vigil_proof_requests_total)`, promv1.Range{Start: start, End: end, Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		m = got.(model.Matrix)
		if len(m) != 1 || len(m[0].Values) != 6 {
			t.Fatalf("got %v, want one series of 6 points", got)
		}
		for k, p := range m[0].Values {
			i := 4 * k // a minute is 4 steps of the data
			want := 0.0
			for _, s := range apiSeries {
				want += s.value(i)
			}
			if p.Value != model.SampleValue(want) {
				t.Errorf("sum at minute %d = %v, want %v", k, p.Value, want)
			}
		}
	})

	t.Run("Series", func(t *testing.T) {
		got, _, _, err := v.API.Series(ctx, []string{`vigil_proof_requests_total{method="GET"}`, `vigil_proof_jobs_queued`}, start, end)
		if err != nil {
			t.Fatal(err)
		}
		want := []model.LabelSet{
			{"__name__": "vigil_proof_jobs_queued", "job": "proof", "queue": "mail"},
			{"__name__": "vigil_proof_requests_total", "job": "proof", "instance": "a", "method": "GET"},
			{"__name__": "vigil_proof_requests_total", "job": "proof", "instance": "b", "method": "GET"},
		}
		slices.SortFunc(got, func(a, b model.LabelSet) int { return strings.Compare(a.String(), b.String()) })
		if !slices.EqualFunc(got, want, model.LabelSet.Equal) {
			t.Errorf("series:\n got %v\nwant %v", got, want)
		}

		// Outside the time range: nothing. The store indexes series by
		// day (UTC), so a range earlier on the same day still finds them,
		// where Prometheus finds none; days before, nothing.
		got, _, _, err = v.API.Series(ctx, []string{`{job="proof"}`}, start.Add(-72*time.Hour), start.Add(-48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("series two days before the data: %v, want none", got)
		}
	})

	t.Run("LabelNames", func(t *testing.T) {
		got, _, _, err := v.API.LabelNames(ctx, []string{`{job="proof"}`}, start, end)
		if err != nil {
			t.Fatal(err)
		}
		want := model.LabelNames{"__name__", "instance", "job", "method", "queue", "room"}
		if !slices.Equal(got, want) {
			t.Errorf("label names %v, want %v", got, want)
		}
		got, _, _, err = v.API.LabelNames(ctx, []string{`vigil_proof_temperature_celsius`}, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if want := (model.LabelNames{"__name__", "job", "room"}); !slices.Equal(got, want) {
			t.Errorf("label names of the gauge %v, want %v", got, want)
		}
	})

	t.Run("LabelValues", func(t *testing.T) {
		got, _, _, err := v.API.LabelValues(ctx, "instance", []string{`vigil_proof_requests_total`}, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if want := (model.LabelValues{"a", "b"}); !slices.Equal(got, want) {
			t.Errorf("instance values %v, want %v", got, want)
		}
		got, _, _, err = v.API.LabelValues(ctx, "__name__", []string{`{job="proof"}`}, start, end)
		if err != nil {
			t.Fatal(err)
		}
		want := model.LabelValues{"vigil_proof_jobs_queued", "vigil_proof_requests_total", "vigil_proof_temperature_celsius"}
		if !slices.Equal(got, want) {
			t.Errorf("metric names %v, want %v", got, want)
		}
	})

	t.Run("Metadata", func(t *testing.T) {
		got, err := v.API.Metadata(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		// From the text import's # HELP and # TYPE lines.
		want := []promv1.Metadata{{Type: promv1.MetricTypeGauge, Help: "Jobs waiting in a queue."}}
		if g := got["vigil_proof_jobs_queued"]; !slices.Equal(g, want) {
			t.Errorf("metadata of vigil_proof_jobs_queued %+v, want %+v", g, want)
		}
		one, err := v.API.Metadata(ctx, "vigil_proof_jobs_queued", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(one) != 1 || !slices.Equal(one["vigil_proof_jobs_queued"], want) {
			t.Errorf("metadata?metric=vigil_proof_jobs_queued = %+v, want only %+v", one, want)
		}

		// From remote write metadata, as Prometheus sends it.
		fromRemoteWrite := map[string][]promv1.Metadata{
			"vigil_proof_requests_total":      {{Type: promv1.MetricTypeCounter, Help: "Requests served, for the proof tests."}},
			"vigil_proof_temperature_celsius": {{Type: promv1.MetricTypeGauge, Help: "Kitchen temperature.", Unit: "celsius"}},
		}
		for metric, want := range fromRemoteWrite {
			if g := got[metric]; !slices.Equal(g, want) {
				t.Errorf("metadata of %s (sent by remote write) %+v, want %+v", metric, g, want)
			}
		}
	})

	t.Run("Buildinfo", func(t *testing.T) {
		got, err := v.API.Buildinfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Grafana picks API features by this version: it must be the
		// Prometheus release whose engine Vigil links.
		if want := linkedPrometheusRelease(t); got.Version != want {
			t.Errorf("version %q, want %q", got.Version, want)
		}
		if got.GoVersion != runtime.Version() {
			t.Errorf("goVersion %q, want %q", got.GoVersion, runtime.Version())
		}
		// What the client library does not decode: Vigil's own version,
		// and no "features" field (Grafana would take Vigil for Mimir).
		var raw struct {
			Data map[string]any `json:"data"`
		}
		v.getJSON(t, "/api/v1/status/buildinfo", &raw)
		if raw.Data["vigilVersion"] != testVersion {
			t.Errorf("vigilVersion %v, want %q", raw.Data["vigilVersion"], testVersion)
		}
		if _, ok := raw.Data["features"]; ok {
			t.Error(`buildinfo has a "features" field: Grafana would detect Mimir`)
		}
	})

	t.Run("Status", func(t *testing.T) {
		if _, err := v.API.Flags(ctx); err != nil {
			t.Errorf("Flags: %v", err)
		}
		ri, err := v.API.Runtimeinfo(ctx)
		if err != nil {
			t.Fatalf("Runtimeinfo: %v", err)
		}
		if ri.StorageRetention != "30d" {
			t.Errorf("storageRetention %q, want 30d", ri.StorageRetention)
		}
		if ri.StartTime.IsZero() || ri.StartTime.After(time.Now()) || ri.GoroutineCount <= 0 {
			t.Errorf("implausible runtime info %+v", ri)
		}

		ts, err := v.API.TSDB(ctx, promv1.WithLimit(100))
		if err != nil {
			t.Fatalf("TSDB: %v", err)
		}
		// The report covers today (UTC); skip its checks in the rare run
		// whose data lies on another day.
		if today := time.Now().UTC().Truncate(24 * time.Hour); end.UTC().Truncate(24 * time.Hour).Equal(today) {
			counts := map[string]uint64{}
			for _, s := range ts.SeriesCountByMetricName {
				counts[s.Name] = s.Value
			}
			if counts["vigil_proof_requests_total"] != 4 || counts["vigil_proof_temperature_celsius"] != 1 || counts["vigil_proof_jobs_queued"] != 1 {
				t.Errorf("seriesCountByMetricName %v, want vigil_proof_requests_total=4, vigil_proof_temperature_celsius=1, vigil_proof_jobs_queued=1", ts.SeriesCountByMetricName)
			}
			if ts.HeadStats.NumSeries < 6 {
				t.Errorf("headStats.numSeries %d, want at least 6", ts.HeadStats.NumSeries)
			}
		}

		if _, err := v.API.Targets(ctx); err != nil {
			t.Errorf("Targets: %v", err)
		}
		if _, err := v.API.Rules(ctx, nil); err != nil {
			t.Errorf("Rules: %v", err)
		}
		if _, err := v.API.Alerts(ctx); err != nil {
			t.Errorf("Alerts: %v", err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		tests := []struct {
			name    string
			call    func() error
			typ     promv1.ErrorType
			message string
		}{
			{"syntax error", func() error {
				_, _, _, err := v.API.Query(ctx, `sum(vigil_proof_requests_total`, end)
				return err
			}, promv1.ErrBadData, "1:31: parse error: unclosed left parenthesis"},
			{"range end before start", func() error {
				_, _, _, err := v.API.QueryRange(ctx, `vigil_proof_requests_total`, promv1.Range{Start: end, End: start, Step: apiStep})
				return err
			}, promv1.ErrBadData, "end timestamp must not be before start time"},
			{"series without match[]", func() error {
				_, _, _, err := v.API.Series(ctx, nil, start, end)
				return err
			}, promv1.ErrBadData, "no match[] parameter provided"},
			{"duplicate output series", func() error {
				_, _, _, err := v.API.Query(ctx, `label_replace(vigil_proof_requests_total, "instance", "x", "", "")`, end)
				return err
			}, promv1.ErrExec, "vector cannot contain metrics with the same labelset"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.call()
				var apiErr *promv1.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v (%T), want a *v1.Error", err, err)
				}
				if apiErr.Type != tt.typ || !strings.Contains(apiErr.Msg, tt.message) {
					t.Errorf("error %s: %q, want %s containing %q", apiErr.Type, apiErr.Msg, tt.typ, tt.message)
				}
			})
		}
	})
}

// getJSON decodes the answer to GET path into into, requiring 200.
func (v *proofVigil) getJSON(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := v.HTTP.Get(v.BaseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// linkedPrometheusRelease is the Prometheus release of the
// github.com/prometheus/prometheus module this test (and so the binary) is
// built with: v0.316.0 is 3.16.0.
func linkedPrometheusRelease(t *testing.T) string {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in the test binary")
	}
	for _, d := range bi.Deps {
		if d.Path != "github.com/prometheus/prometheus" {
			continue
		}
		if d.Replace != nil {
			d = d.Replace
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(d.Version, "v0."), "-")
		minorStr, patch, _ := strings.Cut(v, ".")
		minor, err := strconv.Atoi(minorStr)
		if err != nil || minor < 300 {
			t.Fatalf("unexpected prometheus module version %s", d.Version)
		}
		return fmt.Sprintf("3.%d.%s", minor-300, patch)
	}
	t.Fatal("the test binary does not link github.com/prometheus/prometheus")
	return ""
}
