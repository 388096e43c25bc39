package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/golang/snappy"
	"github.com/prometheus/common/model"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// Remote is another Vigil reached over HTTP (vigil demo --url=...). Steps
// go in through remote write, POST /api/v1/write, which a writer's
// credentials may call; resuming reads the demo's last step through the
// query API, which needs a viewer's or an admin's.
type Remote struct {
	// URL is the Vigil's base URL, such as https://vigil.example.com:9595.
	URL    string
	Client *http.Client
	// Authorization is the Authorization header to send, if any.
	Authorization string

	metadataSent bool
}

var _ Target = (*Remote)(nil)

// remoteAttempts bounds the tries of one remote write: a Vigil that
// restarts or is briefly overloaded (503, 507, a refused connection) is
// waited for, up to about 15 s.
const remoteAttempts = 6

// Append sends rows in one remote-write request, each series once with
// its samples in order, and the catalogue's metadata with the first.
func (r *Remote) Append(rows *storage.Rows) error {
	var wr prompb.WriteRequest
	index := map[string]int{}
	err := rows.ForEach(func(ls []storage.Label, t int64, v float64) {
		k := Key(ls)
		i, ok := index[k]
		if !ok {
			i = len(wr.Timeseries)
			index[k] = i
			wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: append([]prompb.Label(nil), ls...)})
		}
		wr.Timeseries[i].Samples = append(wr.Timeseries[i].Samples, prompb.Sample{Timestamp: t, Value: v})
	})
	if err != nil {
		return err
	}
	if !r.metadataSent {
		for _, m := range ingest.Catalogue() {
			wr.Metadata = append(wr.Metadata, prompb.MetricMetadata{Type: promType(m.Type), MetricFamilyName: m.Name, Help: m.Help})
		}
	}
	body := snappy.Encode(nil, wr.MarshalProtobuf(nil))
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := r.write(body)
		if err == nil {
			r.metadataSent = true
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt == remoteAttempts {
			return err
		}
		time.Sleep(backoff)
		backoff *= 2
	}
}

// permanentError is an answer that a retry would not change.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (r *Remote) write(body []byte) error {
	req, err := http.NewRequest(http.MethodPost, r.URL+"/api/v1/write", bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	r.authorize(req)
	resp, err := r.Client.Do(req)
	if err != nil {
		return fmt.Errorf("remote write to %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	err = fmt.Errorf("remote write to %s: %s: %s", r.URL, resp.Status, answerText(resp.Body))
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return &permanentError{fmt.Errorf("%w; the demo needs a writer's or an admin's credentials", err)}
	case http.StatusTooManyRequests, http.StatusInsufficientStorage:
		return err
	}
	if resp.StatusCode/100 == 4 {
		return &permanentError{err}
	}
	return err
}

func (r *Remote) authorize(req *http.Request) {
	if r.Authorization != "" {
		req.Header.Set("Authorization", r.Authorization)
	}
}

// answerText is the error of a JSON error envelope, else the body's start.
func answerText(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 4096))
	var env struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error != "" {
		return env.Error
	}
	return strings.TrimSpace(string(b))
}

func promType(t ingest.MetricType) prompb.MetricType {
	switch t {
	case ingest.Counter:
		return prompb.MetricTypeCounter
	case ingest.Gauge:
		return prompb.MetricTypeGauge
	case ingest.Histogram:
		return prompb.MetricTypeHistogram
	}
	return prompb.MetricTypeUnknown
}

// querySample is one series of a query's answer: an instant vector's
// value, or a range's values.
type querySample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

// Retention reads the retention from /api/v1/status/runtimeinfo, which
// needs a viewer's or an admin's credentials, as the queries do.
func (r *Remote) Retention(ctx context.Context) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/api/v1/status/runtimeinfo", nil)
	if err != nil {
		return 0, err
	}
	r.authorize(req)
	resp, err := r.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("runtime information of %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("runtime information of %s: %s: %s", r.URL, resp.Status, answerText(resp.Body))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = fmt.Errorf("%w; reading the retention needs a viewer's or an admin's credentials", err)
		}
		return 0, err
	}
	var env struct {
		Data struct {
			StorageRetention string `json:"storageRetention"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return 0, fmt.Errorf("runtime information of %s: unexpected answer: %w", r.URL, err)
	}
	d, err := model.ParseDuration(env.Data.StorageRetention)
	if err != nil {
		return 0, fmt.Errorf("runtime information of %s: storageRetention: %w", r.URL, err)
	}
	return time.Duration(d), nil
}

// query runs an instant PromQL query at t.
func (r *Remote) query(ctx context.Context, q string, t time.Time) ([]querySample, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.authorize(req)
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", q, r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("query %s at %s: %s: %s", q, r.URL, resp.Status, answerText(resp.Body))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = fmt.Errorf("%w; reading the demo's last values needs a viewer's or an admin's credentials", err)
		}
		return nil, err
	}
	var env struct {
		Data struct {
			Result []querySample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("query %s at %s: unexpected answer: %w", q, r.URL, err)
	}
	return env.Data.Result, nil
}

// LastStep finds the newest sample of the demo API's up between from and
// to.
func (r *Remote) LastStep(ctx context.Context, from, to time.Time) (time.Time, bool, error) {
	secs := int64(to.Sub(from).Seconds())
	res, err := r.query(ctx, fmt.Sprintf(`up{job=%q,instance=%q}[%ds]`, Job, Instance, secs), to)
	if err != nil {
		return time.Time{}, false, err
	}
	var last time.Time
	found := false
	for _, s := range res {
		for _, p := range s.Values {
			t, _, err := parsePoint(p)
			if err != nil {
				return time.Time{}, false, err
			}
			if !found || t.After(last) {
				last, found = t, true
			}
		}
	}
	return last, found, nil
}

// ValuesAt reads every demo series' value at t: vigil demo writes every
// series at each step, through remote write, so the values at t are the
// newest.
func (r *Remote) ValuesAt(ctx context.Context, t time.Time) (map[string]float64, error) {
	res, err := r.query(ctx, fmt.Sprintf(`{job=%q} or {__name__=~%q}`, Job, eventNamesRE()), t)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(res))
	for _, s := range res {
		_, v, err := parsePoint(s.Value)
		if err != nil {
			return nil, err
		}
		ls := make([]storage.Label, 0, len(s.Metric))
		for k, val := range s.Metric {
			ls = append(ls, storage.Label{Name: k, Value: val})
		}
		out[Key(ls)] = v
	}
	if len(out) == 0 {
		return nil, noValuesAt(t)
	}
	return out, nil
}

// parsePoint reads a [unix seconds, "value"] pair of the query API.
func parsePoint(p [2]any) (time.Time, float64, error) {
	ts, ok1 := p[0].(float64)
	vs, ok2 := p[1].(string)
	if !ok1 || !ok2 {
		return time.Time{}, 0, fmt.Errorf("unexpected sample %v in a query answer", p)
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("unexpected value %q in a query answer", vs)
	}
	return time.UnixMilli(int64(ts*1e3 + 0.5)), v, nil
}
