package web

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigil-monitoring/vigil/storage"
)

// fallbackPrometheusVersion is reported when the binary carries no module
// information (see prometheusVersion).
const fallbackPrometheusVersion = "3.16.0"

// prometheusVersion is the Prometheus release whose PromQL engine and API
// semantics Vigil links, derived from the module version of
// github.com/prometheus/prometheus (v0.316.0 is Prometheus 3.16.0).
var prometheusVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != "github.com/prometheus/prometheus" {
				continue
			}
			if d.Replace != nil {
				d = d.Replace
			}
			if v, ok := prometheusReleaseOf(d.Version); ok {
				return v
			}
		}
	}
	return fallbackPrometheusVersion
}()

// prometheusReleaseOf maps a Go module version of Prometheus to its
// release: v0.3MM.P is 3.MM.P, v0.MM.P (MM < 300) is 2.MM.P. Pre-release
// and pseudo-version suffixes are dropped.
func prometheusReleaseOf(modVersion string) (string, bool) {
	v, ok := strings.CutPrefix(modVersion, "v0.")
	if !ok {
		return "", false
	}
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	minorStr, patchStr, ok := strings.Cut(v, ".")
	if !ok {
		return "", false
	}
	minor, err1 := strconv.Atoi(minorStr)
	patch, err2 := strconv.Atoi(patchStr)
	if err1 != nil || err2 != nil || minor < 0 || patch < 0 {
		return "", false
	}
	major := 2
	if minor >= 300 {
		major, minor = 3, minor-300
	}
	return fmt.Sprintf("%d.%d.%d", major, minor, patch), true
}

// buildInfoData is the shape of Prometheus' /api/v1/status/buildinfo.
//
// Version is the Prometheus release Vigil is compatible with, not Vigil's
// own version, and there is no "features" or "application" field: Grafana
// tells Prometheus from Mimir and Cortex by the buildinfo answer (no answer:
// Cortex; "features" present: Mimir; otherwise Prometheus) and its
// Prometheus data source "Detect" button reads `version`, which must be
// valid semver, to pick the Prometheus version that gates API features
// (e.g. label look-ups with match[], which need >= 2.24). Reporting the
// linked engine's release makes Grafana use everything Vigil serves.
// Vigil's own version goes in the extra field vigilVersion, which
// Prometheus clients ignore; revision, branch, build user and date are
// Vigil's own.
type buildInfoData struct {
	Version      string `json:"version"`
	Revision     string `json:"revision"`
	Branch       string `json:"branch"`
	BuildUser    string `json:"buildUser"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	VigilVersion string `json:"vigilVersion"`
}

func (s *Server) buildInfo(echo.Context) apiResult {
	b := s.deps.Build
	goVersion := b.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return apiResult{data: &buildInfoData{
		Version:      prometheusVersion,
		Revision:     b.Revision,
		Branch:       b.Branch,
		BuildUser:    b.BuildUser,
		BuildDate:    b.BuildDate,
		GoVersion:    goVersion,
		VigilVersion: b.Version,
	}}
}

func (s *Server) statusConfig(echo.Context) apiResult {
	yaml := ""
	if s.deps.Config != nil {
		yaml = s.deps.Config()
	}
	return apiResult{data: struct {
		YAML string `json:"yaml"`
	}{yaml}}
}

func (s *Server) statusFlags(echo.Context) apiResult {
	flags := s.deps.Flags
	if flags == nil {
		flags = map[string]string{}
	}
	return apiResult{data: flags}
}

// runtimeInfo is the shape of Prometheus' /api/v1/status/runtimeinfo.
type runtimeInfo struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

func (s *Server) runtimeInfo(echo.Context) apiResult {
	info := runtimeInfo{
		StartTime:           s.deps.StartTime,
		ServerTime:          time.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      s.deps.StartTime,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
	}
	info.CWD, _ = os.Getwd()
	info.Hostname, _ = os.Hostname()
	if rs, ok := s.deps.Reloader.(ReloadStatus); ok {
		if success, at := rs.LastReload(); !at.IsZero() {
			info.ReloadConfigSuccess, info.LastConfigTime = success, at
		}
	}
	if s.deps.Storage != nil {
		info.StorageRetention = model.Duration(s.deps.Storage.Retention()).String()
	}
	return apiResult{data: &info}
}

// tsdbStat is one entry of a top-N list of /api/v1/status/tsdb.
type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// tsdbStatus is the shape of Prometheus' /api/v1/status/tsdb, plus
// VictoriaMetrics' seriesCountByLabelName. The store does not track memory
// per label name, so memoryInBytesByLabelName is empty, and it has no head
// chunks, so chunkCount is 0. The report covers one UTC day; headStats'
// minTime and maxTime are that day's bounds (maxTime at most now).
type tsdbStatus struct {
	HeadStats struct {
		NumSeries     uint64 `json:"numSeries"`
		NumLabelPairs uint64 `json:"numLabelPairs"`
		ChunkCount    int64  `json:"chunkCount"`
		MinTime       int64  `json:"minTime"`
		MaxTime       int64  `json:"maxTime"`
	} `json:"headStats"`
	SeriesCountByMetricName     []tsdbStat `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []tsdbStat `json:"labelValueCountByLabelName"`
	MemoryInBytesByLabelName    []tsdbStat `json:"memoryInBytesByLabelName"`
	SeriesCountByLabelValuePair []tsdbStat `json:"seriesCountByLabelValuePair"`
	SeriesCountByLabelName      []tsdbStat `json:"seriesCountByLabelName"`
}

// maxTSDBLimit bounds `limit` of /api/v1/status/tsdb, as in Prometheus.
const maxTSDBLimit = 10000

// tsdbStatusHandler serves the cardinality report of today (or of `date`,
// YYYY-MM-DD, as VictoriaMetrics accepts it), narrowed to one `match[]`
// selector if given.
func (s *Server) tsdbStatusHandler(c echo.Context) apiResult {
	r := c.Request()
	limit := 10
	if v := r.FormValue("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return errResult(badData(errors.New("limit must be a positive number")))
		}
		if limit > maxTSDBLimit {
			return errResult(badData(fmt.Errorf("limit must not exceed %d", maxTSDBLimit)))
		}
	}
	date := time.Now()
	if v := r.FormValue("date"); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return errResult(invalidParam(fmt.Errorf("cannot parse %q as a date; use YYYY-MM-DD", v), "date"))
		}
		date = d
	}
	var matchers []*labels.Matcher
	switch sel := r.Form["match[]"]; len(sel) {
	case 0:
	case 1:
		sets, err := s.parseMatchersParam(sel)
		if err != nil {
			return errResult(invalidParam(err, "match[]"))
		}
		matchers = sets[0]
	default:
		return errResult(invalidParam(errors.New("only one selector is supported here"), "match[]"))
	}
	if s.deps.Storage == nil {
		return errResult(errNoQueryEngine)
	}
	st, err := s.deps.Storage.TSDBStatus(r.Context(), date, limit, matchers...)
	if err != nil {
		return errResult(&apiError{typ: errorInternal, err: err})
	}
	res := &tsdbStatus{
		SeriesCountByMetricName:     toTSDBStats(st.SeriesCountByMetricName),
		LabelValueCountByLabelName:  toTSDBStats(st.LabelValueCountByLabelName),
		MemoryInBytesByLabelName:    []tsdbStat{},
		SeriesCountByLabelValuePair: toTSDBStats(st.SeriesCountByLabelValuePair),
		SeriesCountByLabelName:      toTSDBStats(st.SeriesCountByLabelName),
	}
	res.HeadStats.NumSeries = st.TotalSeries
	res.HeadStats.NumLabelPairs = st.TotalLabelValuePairs
	// The report covers one UTC day: minTime and maxTime are its bounds.
	day := date.UTC().Truncate(24 * time.Hour)
	res.HeadStats.MinTime = day.UnixMilli()
	res.HeadStats.MaxTime = min(day.Add(24*time.Hour).UnixMilli()-1, time.Now().UnixMilli())
	return apiResult{data: res}
}

func toTSDBStats(in []storage.NameCount) []tsdbStat {
	out := make([]tsdbStat, len(in))
	for i, nc := range in {
		out[i] = tsdbStat{Name: nc.Name, Value: nc.Count}
	}
	return out
}

func (s *Server) walReplay(echo.Context) apiResult {
	return apiResult{data: struct {
		Min     int `json:"min"`
		Max     int `json:"max"`
		Current int `json:"current"`
	}{}}
}

// metadataEntry is one metadata entry of /api/v1/metadata.
type metadataEntry struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// metadata serves /api/v1/metadata from the store's metadata: `limit`
// bounds the metrics, `limit_per_metric` the entries of each.
func (s *Server) metadata(c echo.Context) apiResult {
	r := c.Request()
	limit := -1
	if v := r.FormValue("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil {
			return errResult(badData(errors.New("limit must be a number")))
		}
	}
	limitPerMetric := -1
	if v := r.FormValue("limit_per_metric"); v != "" {
		var err error
		if limitPerMetric, err = strconv.Atoi(v); err != nil {
			return errResult(badData(errors.New("limit_per_metric must be a number")))
		}
	}
	res := map[string][]metadataEntry{}
	if limit == 0 || s.deps.Storage == nil {
		return apiResult{data: res}
	}
	for _, md := range s.deps.Storage.Metadata(r.FormValue("metric"), max(limit, 0)) {
		entries, known := res[md.Metric]
		if !known && limit > 0 && len(res) >= limit {
			continue
		}
		if limitPerMetric > 0 && len(entries) >= limitPerMetric {
			continue
		}
		e := metadataEntry{Type: md.Type, Help: md.Help, Unit: md.Unit}
		if e.Type == "" {
			e.Type = "unknown"
		}
		if !slices.Contains(entries, e) {
			res[md.Metric] = append(entries, e)
		}
	}
	return apiResult{data: res}
}
