package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promstorage "github.com/prometheus/prometheus/storage"
)

// queryResult is a query's answer in a form both runners produce: the
// HTTP API's JSON and the engine's values. Timestamps are those of the
// store, that is shifted.
type queryResult struct {
	kind     parser.ValueType
	series   []resultSeries // vector: one point per series
	scalar   promql.FPoint
	str      string
	warnings []string
	infos    []string
}

type resultSeries struct {
	metric labels.Labels
	floats []promql.FPoint
	hists  []int64 // timestamps of native histogram points
}

// queryError is a query that failed: msg is the error as the engine
// words it, which is what promqltest's expectations match.
type queryError struct {
	status  int    // HTTP status; 0 in engine mode
	errType string // the API's errorType
	msg     string
}

func (e *queryError) Error() string { return e.msg }

// transportError is a failure to get an answer at all: a web problem.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }

type runner interface {
	instant(ctx context.Context, q string, ts time.Time) (*queryResult, error)
	rangeQuery(ctx context.Context, q string, start, end time.Time, step time.Duration) (*queryResult, error)
}

// engineRunner asks the engine in-process: over Vigil's store, for working
// on the harness while the HTTP API is not there, or over memStore.
type engineRunner struct {
	engine *promql.Engine
	st     promstorage.Queryable
}

func (r *engineRunner) instant(ctx context.Context, q string, ts time.Time) (*queryResult, error) {
	qry, err := r.engine.NewInstantQuery(ctx, r.st, nil, q, ts)
	if err != nil {
		return nil, &queryError{errType: "bad_data", msg: err.Error()}
	}
	defer qry.Close()
	return fromEngine(q, qry.Exec(ctx))
}

func (r *engineRunner) rangeQuery(ctx context.Context, q string, start, end time.Time, step time.Duration) (*queryResult, error) {
	qry, err := r.engine.NewRangeQuery(ctx, r.st, nil, q, start, end, step)
	if err != nil {
		return nil, &queryError{errType: "bad_data", msg: err.Error()}
	}
	defer qry.Close()
	return fromEngine(q, qry.Exec(ctx))
}

func fromEngine(q string, res *promql.Result) (*queryResult, error) {
	if res.Err != nil {
		return nil, &queryError{errType: "execution", msg: res.Err.Error()}
	}
	out := &queryResult{kind: res.Value.Type()}
	// The API renders annotations the same way, at most 10 of each.
	out.warnings, out.infos = res.Warnings.AsStrings(q, 10, 10)
	switch v := res.Value.(type) {
	case promql.Scalar:
		out.scalar = promql.FPoint{T: v.T, F: v.V}
	case promql.String:
		out.str = v.V
	case promql.Vector:
		for _, s := range v {
			rs := resultSeries{metric: s.Metric}
			if s.H != nil {
				rs.hists = []int64{s.T}
			} else {
				rs.floats = []promql.FPoint{{T: s.T, F: s.F}}
			}
			out.series = append(out.series, rs)
		}
	case promql.Matrix:
		for _, s := range v {
			rs := resultSeries{metric: s.Metric, floats: slices.Clone(s.Floats)}
			for _, h := range s.Histograms {
				rs.hists = append(rs.hists, h.T)
			}
			out.series = append(out.series, rs)
		}
	}
	return out, nil
}

// httpRunner asks Vigil's Prometheus API with GET requests, as Grafana and
// promtool do, and checks the response envelope on the way.
type httpRunner struct {
	client *http.Client
	base   string // http://127.0.0.1:port
}

func (r *httpRunner) instant(ctx context.Context, q string, ts time.Time) (*queryResult, error) {
	v := url.Values{"query": {q}, "time": {formatTime(ts)}}
	return r.get(ctx, "/api/v1/query", v)
}

func (r *httpRunner) rangeQuery(ctx context.Context, q string, start, end time.Time, step time.Duration) (*queryResult, error) {
	v := url.Values{
		"query": {q},
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	return r.get(ctx, "/api/v1/query_range", v)
}

// formatTime writes Unix seconds with millisecond precision, as
// client_golang does.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

type apiEnvelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

type apiData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type apiSeries struct {
	Metric     map[string]string `json:"metric"`
	Value      json.RawMessage   `json:"value"`
	Values     []json.RawMessage `json:"values"`
	Histogram  json.RawMessage   `json:"histogram"`
	Histograms []json.RawMessage `json:"histograms"`
}

// invalidQueryPrefix is how the API wraps an error of the query parameter
// (parse and preprocessing errors), as Prometheus does.
const invalidQueryPrefix = `invalid parameter "query": `

func (r *httpRunner) get(ctx context.Context, path string, v url.Values) (*queryResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path+"?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, &transportError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &transportError{fmt.Errorf("reading the response of %s: %w", path, err)}
	}
	var env apiEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, &transportError{fmt.Errorf("%s answered %d with a body that is not the API's JSON: %w; body %.200q", path, resp.StatusCode, err, body)}
	}
	if resp.StatusCode != http.StatusOK || env.Status != "success" {
		if env.Status != "error" || resp.StatusCode == http.StatusOK || env.ErrorType == "" {
			return nil, &transportError{fmt.Errorf("%s answered %d with status %q, errorType %q: inconsistent envelope; body %.200q", path, resp.StatusCode, env.Status, env.ErrorType, body)}
		}
		if want := statusForErrorType[env.ErrorType]; want != 0 && want != resp.StatusCode {
			return nil, &transportError{fmt.Errorf("%s answered %d for errorType %q; Prometheus answers %d (error %q)", path, resp.StatusCode, env.ErrorType, want, env.Error)}
		}
		msg := env.Error
		if env.ErrorType == "bad_data" {
			msg = strings.TrimPrefix(msg, invalidQueryPrefix)
		}
		return nil, &queryError{status: resp.StatusCode, errType: env.ErrorType, msg: msg}
	}
	res, err := decodeData(env.Data)
	if err != nil {
		return nil, &transportError{fmt.Errorf("%s: %w; body %.300q", path, err, body)}
	}
	res.warnings, res.infos = env.Warnings, env.Infos
	return res, nil
}

// statusForErrorType is the HTTP status Prometheus' API answers with for
// each error type.
var statusForErrorType = map[string]int{
	"bad_data":    http.StatusBadRequest,
	"execution":   http.StatusUnprocessableEntity,
	"canceled":    http.StatusServiceUnavailable,
	"timeout":     http.StatusServiceUnavailable,
	"internal":    http.StatusInternalServerError,
	"unavailable": http.StatusServiceUnavailable,
	"not_found":   http.StatusNotFound,
}

func decodeData(raw json.RawMessage) (*queryResult, error) {
	var d apiData
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("bad data field: %w", err)
	}
	res := &queryResult{}
	switch d.ResultType {
	case "scalar", "string":
		var p [2]json.RawMessage
		if err := json.Unmarshal(d.Result, &p); err != nil {
			return nil, fmt.Errorf("bad %s result: %w", d.ResultType, err)
		}
		t, err := decodeTime(p[0])
		if err != nil {
			return nil, err
		}
		var s string
		if err := json.Unmarshal(p[1], &s); err != nil {
			return nil, fmt.Errorf("bad %s value %s: %w", d.ResultType, p[1], err)
		}
		if d.ResultType == "string" {
			res.kind, res.str = parser.ValueTypeString, s
			return res, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("bad scalar value %q: %w", s, err)
		}
		res.kind, res.scalar = parser.ValueTypeScalar, promql.FPoint{T: t, F: f}
		return res, nil
	case "vector", "matrix":
		var ss []apiSeries
		if err := json.Unmarshal(d.Result, &ss); err != nil {
			return nil, fmt.Errorf("bad %s result: %w", d.ResultType, err)
		}
		if ss == nil {
			return nil, fmt.Errorf("%s result is null, want []", d.ResultType)
		}
		res.kind = parser.ValueTypeVector
		if d.ResultType == "matrix" {
			res.kind = parser.ValueTypeMatrix
		}
		for _, s := range ss {
			rs := resultSeries{metric: labels.FromMap(s.Metric)}
			points := s.Values
			if len(s.Value) > 0 {
				points = []json.RawMessage{s.Value}
			}
			for _, p := range points {
				fp, err := decodePoint(p)
				if err != nil {
					return nil, err
				}
				rs.floats = append(rs.floats, fp)
			}
			hists := s.Histograms
			if len(s.Histogram) > 0 {
				hists = []json.RawMessage{s.Histogram}
			}
			for _, h := range hists {
				var p [2]json.RawMessage
				if err := json.Unmarshal(h, &p); err != nil {
					return nil, fmt.Errorf("bad histogram point %s: %w", h, err)
				}
				t, err := decodeTime(p[0])
				if err != nil {
					return nil, err
				}
				rs.hists = append(rs.hists, t)
			}
			res.series = append(res.series, rs)
		}
		return res, nil
	}
	return nil, fmt.Errorf("unknown resultType %q", d.ResultType)
}

func decodePoint(raw json.RawMessage) (promql.FPoint, error) {
	var p [2]json.RawMessage
	if err := json.Unmarshal(raw, &p); err != nil {
		return promql.FPoint{}, fmt.Errorf("bad point %s: %w", raw, err)
	}
	t, err := decodeTime(p[0])
	if err != nil {
		return promql.FPoint{}, err
	}
	var s string
	if err := json.Unmarshal(p[1], &s); err != nil {
		return promql.FPoint{}, fmt.Errorf("bad value in point %s, want a string: %w", raw, err)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return promql.FPoint{}, fmt.Errorf("bad value %q: %w", s, err)
	}
	return promql.FPoint{T: t, F: f}, nil
}

// decodeTime reads a JSON number of Unix seconds into milliseconds.
func decodeTime(raw json.RawMessage) (int64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, fmt.Errorf("bad timestamp %s, want a number of seconds: %w", raw, err)
	}
	return int64(math.Round(f * 1000)), nil
}

// isWebError reports whether err means the API, not the query, failed.
func isWebError(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}
