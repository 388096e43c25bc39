package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigil-monitoring/vigil/dashboards"
	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/rules/notify"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// The Panic platform's API (the seed's /api/v1/metrics/...), answered from
// stored data through the query engine. Its answers are plain JSON, as the
// platform's FastAPI endpoints gave them, not Prometheus' envelope; an
// error is Prometheus' error envelope ({"status":"error","errorType":
// "bad_data","error":"..."}) with a 4xx or 5xx status.

// Disk space below which the storage is degraded or down in the health.
const (
	healthDiskDegraded = 1 << 30
	healthDiskDown     = 64 << 20
)

func (s *Server) registerPlatform(e *echo.Echo) {
	e.GET("/api/v1/metrics/health", s.platformHealth)
	e.GET("/api/v1/metrics/business", s.platformBusiness)
	e.GET("/api/v1/metrics/performance", s.platformPerformance)
	e.GET("/api/v1/metrics/alerts", s.platformAlerts)
	e.GET("/api/v1/metrics/prometheus", s.platformPrometheus)
	e.POST("/api/v1/metrics/update-cache-metrics", s.platformUpdateCache)
}

// summaries are the dashboards' summaries over this server's engine and
// storage.
func (s *Server) summaries() dashboards.Summaries {
	return dashboards.Summaries{Query: s.instantVector}
}

// instantVector runs an instant query within the query timeout.
func (s *Server) instantVector(ctx context.Context, q string, t time.Time) (promql.Vector, error) {
	if s.deps.Engine == nil || s.queryable() == nil {
		return nil, errNoQueryEngine.err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	return rules.EngineQuery(s.deps.Engine, s.queryable())(ctx, q, t)
}

// platformError answers with Prometheus' error envelope, as every /api/
// path does.
func platformError(c echo.Context, code int, format string, args ...any) error {
	typ := errorInternal
	switch code {
	case http.StatusBadRequest:
		typ = errorBadData
	case http.StatusServiceUnavailable:
		typ = errorUnavailable
	}
	return c.JSON(code, errorBody{Status: "error", ErrorType: typ, Error: fmt.Sprintf(format, args...)})
}

// hoursParam reads the hours parameter, def when absent.
func hoursParam(c echo.Context, def int) (int, error) {
	v := c.QueryParam("hours")
	if v == "" {
		return def, nil
	}
	h, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("hours: %q is not a whole number of hours", v)
	}
	if err := dashboards.CheckHours(h); err != nil {
		return 0, err
	}
	return h, nil
}

func (s *Server) platformBusiness(c echo.Context) error {
	hours, err := hoursParam(c, 24)
	if err != nil {
		return platformError(c, http.StatusBadRequest, "%v", err)
	}
	b, err := s.summaries().Business(c.Request().Context(), time.Now(), hours)
	if err != nil {
		return platformError(c, http.StatusInternalServerError, "%v", err)
	}
	return c.JSON(http.StatusOK, b)
}

func (s *Server) platformPerformance(c echo.Context) error {
	hours, err := hoursParam(c, 12)
	if err != nil {
		return platformError(c, http.StatusBadRequest, "%v", err)
	}
	f := dashboards.Filter{FirmID: c.QueryParam("firm_id"), Zone: c.QueryParam("zone")}
	p, err := s.summaries().Performance(c.Request().Context(), time.Now(), hours, f)
	if err != nil {
		return platformError(c, http.StatusInternalServerError, "%v", err)
	}
	return c.JSON(http.StatusOK, p)
}

// health is the answer of /api/v1/metrics/health.
type health struct {
	Status   dashboards.Status      `json:"status"`
	Time     time.Time              `json:"time"`
	Vigil    []dashboards.Component `json:"vigil"`
	Platform []dashboards.Component `json:"platform"`
}

func (s *Server) platformHealth(c echo.Context) error {
	now := time.Now()
	h := health{Time: now, Vigil: s.vigilHealth()}
	platform, err := s.summaries().PlatformHealth(c.Request().Context(), now)
	if err != nil {
		platform = []dashboards.Component{{Name: "query", Status: dashboards.StatusDown, Critical: true, Reason: err.Error()}}
	}
	h.Platform = platform
	h.Status = dashboards.Overall(append(slices.Clone(h.Vigil), h.Platform...))
	code := http.StatusOK
	if h.Status == dashboards.StatusDown {
		code = http.StatusServiceUnavailable
	}
	return c.JSON(code, h)
}

// vigilHealth judges Vigil itself: storage, rules and scraping.
func (s *Server) vigilHealth() []dashboards.Component {
	var out []dashboards.Component
	st := dashboards.Component{Name: "storage", Critical: true}
	if s.deps.Storage == nil {
		st.Status, st.Reason = dashboards.StatusDown, "no storage"
	} else {
		free := float64(s.deps.Storage.FreeDiskSpace())
		st.Value = &free
		switch {
		case free < healthDiskDown:
			st.Status, st.Reason = dashboards.StatusDown, fmt.Sprintf("%.0f MiB free on the data disk; ingestion stops below 64 MiB", free/(1<<20))
		case free < healthDiskDegraded:
			st.Status, st.Reason = dashboards.StatusDegraded, fmt.Sprintf("only %.0f MiB free on the data disk", free/(1<<20))
		default:
			st.Status, st.Reason = dashboards.StatusOK, fmt.Sprintf("%.1f GiB free on the data disk", free/(1<<30))
		}
	}
	out = append(out, st)

	rl := dashboards.Component{Name: "rules", Status: dashboards.StatusOK}
	if p := s.rulesProvider(); p == nil {
		rl.Status, rl.Reason = dashboards.StatusUnknown, "rules are not evaluated"
	} else {
		n, bad, first := 0, 0, ""
		for _, g := range p.RuleGroups() {
			for _, r := range g.Rules {
				n++
				if r.Health == RuleHealthBad {
					bad++
					if first == "" {
						first = fmt.Sprintf("%s: %s", r.Name, r.LastError)
					}
				}
			}
		}
		rl.Reason = fmt.Sprintf("%d rules evaluate without errors", n)
		if bad > 0 {
			rl.Status, rl.Reason = dashboards.StatusDegraded, fmt.Sprintf("%d of %d rules fail, e.g. %s", bad, n, first)
		}
	}
	out = append(out, rl)

	sc := dashboards.Component{Name: "scrape", Status: dashboards.StatusOK}
	if p := s.targetsProvider(); p == nil {
		sc.Status, sc.Reason = dashboards.StatusUnknown, "nothing is scraped"
	} else {
		ts := p.ActiveTargets()
		bad, first := 0, ""
		for _, t := range ts {
			if t.Health == TargetHealthBad {
				bad++
				if first == "" {
					first = fmt.Sprintf("%s: %s", t.ScrapeURL, t.LastError)
				}
			}
		}
		sc.Reason = fmt.Sprintf("%d targets scraped", len(ts))
		if bad > 0 {
			sc.Status, sc.Reason = dashboards.StatusDegraded, fmt.Sprintf("%d of %d targets fail, e.g. %s", bad, len(ts), first)
		}
	}
	return append(out, sc, s.notifierHealth(), s.jobsHealth())
}

// NotifierHealth is optionally implemented by Deps.Alertmanager: how the
// last notification through each integration went, for the health.
type NotifierHealth interface {
	Deliveries() []notify.Delivery
}

// notifierHealth judges the notifications: degraded while the last
// notification through some integration was given up.
func (s *Server) notifierHealth() dashboards.Component {
	c := dashboards.Component{Name: "notifier", Status: dashboards.StatusOK}
	nh, ok := s.deps.Alertmanager.(NotifierHealth)
	if !ok {
		c.Status, c.Reason = dashboards.StatusUnknown, "no notifier"
		return c
	}
	ds := nh.Deliveries()
	failing, first := 0, ""
	for _, d := range ds {
		if d.LastError != "" {
			failing++
			if first == "" {
				first = fmt.Sprintf("%s/%s at %s: %s", d.Receiver, d.Integration, d.LastAttempt.UTC().Format(time.RFC3339), d.LastError)
			}
		}
	}
	switch {
	case len(ds) == 0:
		c.Reason = "no notification sent yet"
	case failing > 0:
		c.Status, c.Reason = dashboards.StatusDegraded, fmt.Sprintf("the last notification of %d of %d integrations failed, e.g. %s", failing, len(ds), first)
	default:
		c.Reason = fmt.Sprintf("the last notification of each of %d integrations was delivered", len(ds))
	}
	return c
}

// jobsHealth judges the scheduled jobs by their last runs.
func (s *Server) jobsHealth() dashboards.Component {
	c := dashboards.Component{Name: "jobs", Status: dashboards.StatusOK}
	if s.deps.Jobs == nil {
		c.Status, c.Reason = dashboards.StatusUnknown, "no scheduled jobs"
		return c
	}
	js := s.deps.Jobs.Jobs()
	var failed []string
	first := ""
	for _, j := range js {
		if j.Result == jobFailed {
			failed = append(failed, j.Name)
			if first == "" {
				first = fmt.Sprintf("%s at %s: %s", j.Name, j.LastRun.UTC().Format(time.RFC3339), j.Detail)
			}
		}
	}
	c.Reason = fmt.Sprintf("the last run of each of %d jobs succeeded or is still to come", len(js))
	if len(failed) > 0 {
		c.Status, c.Reason = dashboards.StatusDegraded, fmt.Sprintf("the last run of %d of %d jobs (%s) failed, e.g. %s", len(failed), len(js), strings.Join(failed, ", "), first)
	}
	return c
}

// platformAlert is one alert of /api/v1/metrics/alerts.
type platformAlert struct {
	Name        string            `json:"name"`
	Severity    string            `json:"severity"`
	State       string            `json:"state"`
	Summary     string            `json:"summary"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	ActiveAt    time.Time         `json:"active_at"`
	Value       float64           `json:"value"`
}

func (s *Server) platformAlerts(c echo.Context) error {
	out := struct {
		Alerts  []platformAlert `json:"alerts"`
		Firing  int             `json:"firing"`
		Pending int             `json:"pending"`
	}{Alerts: []platformAlert{}}
	if p := s.alertsProvider(); p != nil {
		for _, a := range p.ActiveAlerts() {
			out.Alerts = append(out.Alerts, platformAlert{
				Name: a.Labels.Get(labels.AlertName), Severity: a.Labels.Get("severity"), State: a.State,
				Summary: a.Annotations.Get("summary"), Description: a.Annotations.Get("description"),
				Labels: a.Labels.Map(), ActiveAt: a.ActiveAt, Value: a.Value,
			})
			if a.State == "firing" {
				out.Firing++
			} else {
				out.Pending++
			}
		}
	}
	// Firing first, then by severity and name.
	slices.SortStableFunc(out.Alerts, func(a, b platformAlert) int {
		return strings.Compare(a.State+a.Severity+a.Name, b.State+b.Severity+b.Name)
	})
	return c.JSON(http.StatusOK, out)
}

// platformUpdateCache runs the minute job now, when there is one, and
// answers with what it computes.
func (s *Server) platformUpdateCache(c echo.Context) error {
	if s.deps.Jobs != nil {
		if j, ok := s.deps.Jobs.RunJob(minuteJob); ok && j.Result != "ok" {
			return platformError(c, http.StatusInternalServerError, "the job %s failed: %s", j.Name, j.Detail)
		}
	}
	m, err := s.summaries().Minute(c.Request().Context(), time.Now())
	if err != nil {
		return platformError(c, http.StatusInternalServerError, "%v", err)
	}
	return c.JSON(http.StatusOK, m)
}

// platformPrometheus writes the latest value of every series of the
// catalogue and of the custom metrics declared in the config, in the
// Prometheus text format, then Vigil's own metrics.
func (s *Server) platformPrometheus(c echo.Context) error {
	cat := ingest.Catalogue()
	if s.deps.Events != nil {
		for _, m := range s.deps.Events.CustomMetrics() {
			cat = append(cat, ingest.CatalogueMetric{Name: m.Name, Type: m.Type, Help: m.Help})
		}
	}
	var names []string
	family := map[string]int{} // series name -> index in cat
	for i, m := range cat {
		ns := []string{m.Name}
		if m.Type == ingest.Histogram {
			ns = []string{m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
		}
		for _, n := range ns {
			names = append(names, regexp.QuoteMeta(n))
			family[n] = i
		}
	}
	vec, err := s.instantVector(c.Request().Context(), `{__name__=~"`+strings.Join(names, "|")+`"}`, time.Now())
	if err != nil {
		return platformError(c, http.StatusInternalServerError, "%v", err)
	}
	byFamily := make([]promql.Vector, len(cat))
	for _, smp := range vec {
		i := family[smp.Metric.Get(model.MetricNameLabel)]
		byFamily[i] = append(byFamily[i], smp)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	for i, m := range cat {
		if len(byFamily[i]) == 0 {
			continue
		}
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", m.Name, helpEscaper.Replace(m.Help), m.Name, m.Type)
		slices.SortFunc(byFamily[i], func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
		for _, smp := range byFamily[i] {
			bw.WriteString(smp.Metric.Get(model.MetricNameLabel))
			sep := "{"
			smp.Metric.Range(func(l labels.Label) {
				if l.Name == model.MetricNameLabel {
					return
				}
				bw.WriteString(sep + l.Name + `="` + escapeLabelValue(l.Value) + `"`)
				sep = ","
			})
			if sep == "," {
				bw.WriteString("}")
			}
			bw.WriteString(" " + strconv.FormatFloat(smp.F, 'g', -1, 64) + "\n")
		}
	}
	bw.Flush()
	metrics.WritePrometheus(w, true)
	return nil
}

// helpEscaper escapes a HELP text as the text format wants it.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

var labelValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabelValue(v string) string { return labelValueEscaper.Replace(v) }
