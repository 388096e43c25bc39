package ingest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/vigil-monitoring/vigil/storage"
)

// encodeFamilies encodes families as client_golang's push package does.
func encodeFamilies(t *testing.T, families ...*dto.MetricFamily) []byte {
	t.Helper()
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(b.String())
}

// pushHandler serves the Pushgateway API over g the way Vigil's web
// package is expected to: ParsePushPath on the escaped path, PUT, POST
// and DELETE, 400 for bad input.
func pushHandler(g *Groups) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		labels, err := ParsePushPath(r.URL.EscapedPath())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		mode := PushReplaceGroup
		switch r.Method {
		case http.MethodPut:
		case http.MethodPost:
			mode = PushReplaceMetrics
		case http.MethodDelete:
			g.Delete(labels)
			w.WriteHeader(http.StatusAccepted)
			return
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if _, err := g.Push(mode, labels, body, r.Header.Get("Content-Type"), t0); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, ErrBadInput) {
				code = http.StatusBadRequest
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// TestPushWithClientGolang pushes with Prometheus' Go client, in both of
// its formats, to a server on 127.0.0.1, and checks that both give the
// same series.
func TestPushWithClientGolang(t *testing.T) {
	reg := prometheus.NewRegistry()
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_processed_total", Help: "Jobs processed."}, []string{"queue"})
	counter.WithLabelValues("emails").Add(42)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "last_success_timestamp_seconds", Help: "When the job last succeeded."})
	gauge.Set(1.7e9)
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "job_duration_seconds", Help: "Duration.", Buckets: []float64{0.5, 2}})
	hist.Observe(0.3)
	hist.Observe(1)
	hist.Observe(10)
	summary := prometheus.NewSummary(prometheus.SummaryOpts{Name: "payload_bytes", Help: "Payload size.", Objectives: map[float64]float64{0.5: 0.05}})
	summary.Observe(100)
	reg.MustRegister(counter, gauge, hist, summary)

	const gl = `instance="host/1", job="nächtlich"`
	want := []string{
		`__name__="jobs_processed_total", ` + gl + `, queue="emails" 42`,
		`__name__="last_success_timestamp_seconds", ` + gl + ` 1.7e+09`,
		`__name__="job_duration_seconds_bucket", ` + gl + `, le="0.5" 1`,
		`__name__="job_duration_seconds_bucket", ` + gl + `, le="2" 2`,
		`__name__="job_duration_seconds_bucket", ` + gl + `, le="+Inf" 3`,
		`__name__="job_duration_seconds_sum", ` + gl + ` 11.3`,
		`__name__="job_duration_seconds_count", ` + gl + ` 3`,
		`__name__="payload_bytes", ` + gl + `, quantile="0.5" 100`,
		`__name__="payload_bytes_sum", ` + gl + ` 100`,
		`__name__="payload_bytes_count", ` + gl + ` 1`,
	}
	want = append(want, pushTimes(gl, secs(t0), 0)...)
	slices.Sort(want)
	wantMeta := []Metadata{
		{Metric: "job_duration_seconds", Type: "histogram", Help: "Duration."},
		{Metric: "jobs_processed_total", Type: "counter", Help: "Jobs processed."},
		{Metric: "last_success_timestamp_seconds", Type: "gauge", Help: "When the job last succeeded."},
		{Metric: "payload_bytes", Type: "summary", Help: "Payload size."},
	}

	for _, format := range []expfmt.Format{expfmt.NewFormat(expfmt.TypeProtoDelim), expfmt.NewFormat(expfmt.TypeTextPlain)} {
		t.Run(string(format), func(t *testing.T) {
			g := NewGroups(GroupsOptions{})
			srv := httptest.NewServer(pushHandler(g))
			defer srv.Close()

			// A job name with a non-ASCII letter and an instance with a slash make the
			// client use percent- and base64-encoding.
			pusher := push.New(srv.URL, "nächtlich").Grouping("instance", "host/1").Gatherer(reg).Format(format)
			if err := pusher.Push(); err != nil {
				t.Fatal(err)
			}
			if got := snapshot(g, t0); !reflect.DeepEqual(got, want) {
				t.Errorf("series:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
			}
			list := g.List()
			if len(list) != 1 || !reflect.DeepEqual(list[0].Metrics, wantMeta) {
				t.Errorf("List: %+v\nwant metrics %+v", list, wantMeta)
			}
			// Add (POST) of the gauge alone keeps the rest.
			gauge.Set(1.8e9)
			if err := push.New(srv.URL, "nächtlich").Grouping("instance", "host/1").Collector(gauge).Format(format).Add(); err != nil {
				t.Fatal(err)
			}
			gauge.Set(1.7e9)
			if got := snapshot(g, t0); !slices.Contains(got, `__name__="last_success_timestamp_seconds", `+gl+` 1.8e+09`) || len(got) != len(want) {
				t.Errorf("series after Add: %s", strings.Join(got, "\n     "))
			}
			if err := pusher.Delete(); err != nil {
				t.Fatal(err)
			}
			if len(g.List()) != 0 {
				t.Errorf("groups after Delete: %+v", g.List())
			}
		})
	}
}

func TestPushProtobufErrors(t *testing.T) {
	const ct = protobufPushType
	g := NewGroups(GroupsOptions{})
	labels := []storage.Label{{Name: "job", Value: "j"}}
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"length beyond the body", []byte{0x10, 0x0a}, "metric family 1: invalid length prefix in the delimited protobuf body (2 bytes left)"},
		{"bad message", []byte{0x02, 0xff, 0xff}, "metric family 1: cannot decode the protobuf message (2 bytes)"},
		{"no name", []byte{0x00}, "metric family 1 has no name"},
		{"timestamp", encodeFamilies(t,
			&dto.MetricFamily{Name: proto.String("ok"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}}},
			&dto.MetricFamily{Name: proto.String("m"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{
				Label: []*dto.LabelPair{{Name: proto.String("a"), Value: proto.String("b")}},
				Gauge: &dto.Gauge{Value: proto.Float64(1)}, TimestampMs: proto.Int64(1712345678000)}}}),
			`metric family 2 (m): series m{a="b"} has a timestamp (1712345678000); the Pushgateway protocol does not accept timestamps`},
		{"invalid UTF-8", encodeFamilies(t,
			&dto.MetricFamily{Name: proto.String("m"), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{
				Label:   []*dto.LabelPair{{Name: proto.String("a"), Value: proto.String("\xff")}},
				Counter: &dto.Counter{Value: proto.Float64(1)}}}}),
			`metric family 1 (m): series m{a="\xff"}: value "\xff" of label "a" is not valid UTF-8`},
		{"duplicate series", encodeFamilies(t,
			&dto.MetricFamily{Name: proto.String("m"), Type: dto.MetricType_UNTYPED.Enum(), Metric: []*dto.Metric{
				{Untyped: &dto.Untyped{Value: proto.Float64(1)}}, {Untyped: &dto.Untyped{Value: proto.Float64(2)}}}}),
			`metric family 1 (m): series m{job="j"} was already pushed at metric family 1 (m) of this request`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Push(PushReplaceGroup, labels, tt.body, ct, t0)
			if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want a bad-input error containing %q", err, tt.want)
			}
		})
	}
}
