package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

// This file is the Alertmanager API v2 (/api/v2/...) in Alertmanager's
// JSON shapes, so that amtool, Grafana's Alertmanager data source and
// Prometheus or vmalert sending alerts work against Vigil. Errors are a
// JSON string, as Alertmanager answers them.

// AlertmanagerProvider is what the Alertmanager API needs of the
// notifier; *notify.Dispatcher implements it.
type AlertmanagerProvider interface {
	Put(alerts ...*notify.Alert)
	Alerts() []notify.AlertView
	Groups() []notify.GroupView
	Silences() *notify.Silences
	Receivers() []string
	ConfigYAML() string
}

func (s *Server) registerAlertmanagerAPI(e *echo.Echo) {
	if s.deps.Alertmanager == nil {
		// Servers built without a notifier (tests) serve an empty one
		// that routes nowhere and keeps nothing on disk.
		c, _ := notify.Parse([]byte("route: {receiver: none}\nreceivers: [{name: none}]\n"))
		d, err := notify.New(notify.Options{Config: c})
		if err != nil {
			panic(err) // a constant config
		}
		s.deps.Alertmanager = d
	}
	g := e.Group("/api/v2", s.whenReady)
	g.GET("/alerts", s.amGetAlerts)
	g.POST("/alerts", s.amPostAlerts)
	g.GET("/alerts/groups", s.amGetGroups)
	g.GET("/silences", s.amGetSilences)
	g.POST("/silences", s.amPostSilence)
	g.GET("/silence/:id", s.amGetSilence)
	g.DELETE("/silence/:id", s.amDeleteSilence)
	g.GET("/receivers", s.amGetReceivers)
	g.GET("/status", s.amGetStatus)
}

// amTime is strfmt.DateTime's format: UTC with milliseconds.
type amTime time.Time

func (t amTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

type amReceiver struct {
	Name string `json:"name"`
}

type amAlertStatus struct {
	InhibitedBy []string `json:"inhibitedBy"`
	MutedBy     []string `json:"mutedBy"`
	SilencedBy  []string `json:"silencedBy"`
	State       string   `json:"state"`
}

type amGettableAlert struct {
	Annotations  model.LabelSet `json:"annotations"`
	EndsAt       amTime         `json:"endsAt"`
	Fingerprint  string         `json:"fingerprint"`
	Receivers    []amReceiver   `json:"receivers"`
	StartsAt     amTime         `json:"startsAt"`
	Status       amAlertStatus  `json:"status"`
	UpdatedAt    amTime         `json:"updatedAt"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
	Labels       model.LabelSet `json:"labels"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func amAlert(v notify.AlertView) amGettableAlert {
	a := amGettableAlert{Annotations: v.Annotations, EndsAt: amTime(v.EndsAt), Fingerprint: v.Fingerprint, StartsAt: amTime(v.StartsAt),
		UpdatedAt: amTime(v.UpdatedAt), GeneratorURL: v.GeneratorURL, Labels: v.Labels, Receivers: []amReceiver{},
		Status: amAlertStatus{InhibitedBy: nonNil(v.InhibitedBy), MutedBy: nonNil(v.MutedBy), SilencedBy: nonNil(v.SilencedBy), State: string(v.State)}}
	if a.Annotations == nil {
		a.Annotations = model.LabelSet{}
	}
	for _, r := range v.Receivers {
		a.Receivers = append(a.Receivers, amReceiver{Name: r})
	}
	return a
}

func amError(c echo.Context, code int, err error) error {
	return c.JSON(code, err.Error())
}

// amFilter reads the filter, receiver, active, silenced, inhibited and
// unprocessed parameters of the alert endpoints.
type amFilter struct {
	matchers                    []*amlabels.Matcher
	receiver                    *regexp.Regexp
	active, silenced, inhibited bool
}

func parseAMFilter(c echo.Context) (amFilter, error) {
	f := amFilter{active: true, silenced: true, inhibited: true}
	q := c.QueryParams()
	for _, s := range q["filter"] {
		ms, err := amlabels.ParseMatchers(s)
		if err != nil {
			return f, fmt.Errorf("bad matcher format: %s", s)
		}
		f.matchers = append(f.matchers, ms...)
	}
	if r := q.Get("receiver"); r != "" {
		re, err := regexp.Compile("^(?:" + r + ")$")
		if err != nil {
			return f, fmt.Errorf("failed to parse receiver param: %s", err)
		}
		f.receiver = re
	}
	for name, dst := range map[string]*bool{"active": &f.active, "silenced": &f.silenced, "inhibited": &f.inhibited} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, fmt.Errorf("%s: %q is not a boolean", name, v)
			}
			*dst = b
		}
	}
	return f, nil
}

func (f amFilter) keep(v notify.AlertView) bool {
	for _, m := range f.matchers {
		if !m.Matches(string(v.Labels[model.LabelName(m.Name)])) {
			return false
		}
	}
	if f.receiver != nil {
		ok := false
		for _, r := range v.Receivers {
			ok = ok || f.receiver.MatchString(r)
		}
		if !ok {
			return false
		}
	}
	switch {
	case !f.active && v.State == notify.AlertActive:
		return false
	case !f.silenced && len(v.SilencedBy) > 0:
		return false
	case !f.inhibited && len(v.InhibitedBy) > 0:
		return false
	}
	return true
}

func (s *Server) amGetAlerts(c echo.Context) error {
	f, err := parseAMFilter(c)
	if err != nil {
		return amError(c, http.StatusBadRequest, err)
	}
	out := []amGettableAlert{}
	for _, v := range s.deps.Alertmanager.Alerts() {
		if f.keep(v) {
			out = append(out, amAlert(v))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// amPostAlerts takes alerts as Prometheus sends them to Alertmanager; an
// invalid one fails the whole request with its index, as Alertmanager does.
func (s *Server) amPostAlerts(c echo.Context) error {
	bp := bodyPool.Get().(*[]byte)
	defer putBody(bp)
	body, err := readBody(c.Request(), (*bp)[:0], s.opts.MaxRequestBodyBytes)
	*bp = body
	if isBodyTooLarge(err) {
		return err // a 413 saying what the limit is
	}
	if err != nil {
		return amError(c, http.StatusBadRequest, fmt.Errorf("cannot read the alerts: %w", err))
	}
	alerts, err := decodeAMAlerts(body)
	if err != nil {
		return amError(c, http.StatusBadRequest, err)
	}
	for i, a := range alerts {
		if len(a.Labels) == 0 {
			return amError(c, http.StatusBadRequest, fmt.Errorf("alert %d: at least one label pair required", i))
		}
		if err := a.Labels.Validate(); err != nil {
			return amError(c, http.StatusBadRequest, fmt.Errorf("alert %d: %w", i, err))
		}
		if !a.StartsAt.IsZero() && !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
			return amError(c, http.StatusBadRequest, fmt.Errorf("alert %d: start time must be before end time", i))
		}
	}
	s.deps.Alertmanager.Put(alerts...)
	return c.NoContent(http.StatusOK)
}

type amAlertGroup struct {
	Alerts      []amGettableAlert `json:"alerts"`
	Labels      model.LabelSet    `json:"labels"`
	Receiver    amReceiver        `json:"receiver"`
	RouteLabels model.LabelSet    `json:"routeLabels"`
}

func (s *Server) amGetGroups(c echo.Context) error {
	f, err := parseAMFilter(c)
	if err != nil {
		return amError(c, http.StatusBadRequest, err)
	}
	out := []amAlertGroup{}
	for _, g := range s.deps.Alertmanager.Groups() {
		if f.receiver != nil && !f.receiver.MatchString(g.Receiver) {
			continue
		}
		ag := amAlertGroup{Labels: g.Labels, Receiver: amReceiver{Name: g.Receiver}, RouteLabels: model.LabelSet{}, Alerts: []amGettableAlert{}}
		for _, v := range g.Alerts {
			if f.keep(v) {
				ag.Alerts = append(ag.Alerts, amAlert(v))
			}
		}
		if len(ag.Alerts) > 0 {
			out = append(out, ag)
		}
	}
	return c.JSON(http.StatusOK, out)
}

type amSilenceStatus struct {
	State string `json:"state"`
}

type amGettableSilence struct {
	ID        string                  `json:"id"`
	Status    amSilenceStatus         `json:"status"`
	UpdatedAt amTime                  `json:"updatedAt"`
	Comment   string                  `json:"comment"`
	CreatedBy string                  `json:"createdBy"`
	EndsAt    amTime                  `json:"endsAt"`
	Matchers  []notify.SilenceMatcher `json:"matchers"`
	StartsAt  amTime                  `json:"startsAt"`
}

func amSilence(sil notify.Silence, now time.Time) amGettableSilence {
	return amGettableSilence{ID: sil.ID, Status: amSilenceStatus{State: string(sil.State(now))}, UpdatedAt: amTime(sil.UpdatedAt),
		Comment: sil.Comment, CreatedBy: sil.CreatedBy, EndsAt: amTime(sil.EndsAt), Matchers: sil.Matchers, StartsAt: amTime(sil.StartsAt)}
}

func (s *Server) amGetSilences(c echo.Context) error {
	var ms []*amlabels.Matcher
	for _, f := range c.QueryParams()["filter"] {
		m, err := amlabels.ParseMatchers(f)
		if err != nil {
			return amError(c, http.StatusBadRequest, fmt.Errorf("bad matcher format: %s", f))
		}
		ms = append(ms, m...)
	}
	now := time.Now()
	out := []amGettableSilence{}
	for _, sil := range s.deps.Alertmanager.Silences().List() {
		if silenceHasMatchers(sil, ms) {
			out = append(out, amSilence(sil, now))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// silenceHasMatchers is Alertmanager's silence filter: every filter
// matcher must match the value of a matcher of the silence on the same
// label (regex matchers are compared by their text).
func silenceHasMatchers(sil notify.Silence, ms []*amlabels.Matcher) bool {
	for _, m := range ms {
		found := false
		for _, sm := range sil.Matchers {
			if sm.Name == m.Name && m.Matches(sm.Value) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

type amPostableSilence struct {
	ID        string              `json:"id"`
	Comment   string              `json:"comment"`
	CreatedBy string              `json:"createdBy"`
	EndsAt    time.Time           `json:"endsAt"`
	StartsAt  time.Time           `json:"startsAt"`
	Matchers  []amPostableMatcher `json:"matchers"`
}

type amPostableMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual"` // default true
}

func (s *Server) amPostSilence(c echo.Context) error {
	var in amPostableSilence
	if err := json.NewDecoder(c.Request().Body).Decode(&in); err != nil {
		return amError(c, http.StatusBadRequest, fmt.Errorf("cannot decode the silence: %w", err))
	}
	sil := notify.Silence{ID: in.ID, Comment: in.Comment, CreatedBy: in.CreatedBy, StartsAt: in.StartsAt, EndsAt: in.EndsAt}
	for _, m := range in.Matchers {
		sil.Matchers = append(sil.Matchers, notify.SilenceMatcher{Name: m.Name, Value: m.Value, IsRegex: m.IsRegex, IsEqual: m.IsEqual == nil || *m.IsEqual})
	}
	id, err := s.deps.Alertmanager.Silences().Set(sil)
	switch {
	case errors.Is(err, notify.ErrNotFound):
		return amError(c, http.StatusNotFound, err)
	case err != nil:
		return amError(c, http.StatusBadRequest, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"silenceID": id})
}

func (s *Server) amGetSilence(c echo.Context) error {
	sil, err := s.deps.Alertmanager.Silences().Get(c.Param("id"))
	if err != nil {
		return amError(c, http.StatusNotFound, err)
	}
	return c.JSON(http.StatusOK, amSilence(sil, time.Now()))
}

func (s *Server) amDeleteSilence(c echo.Context) error {
	err := s.deps.Alertmanager.Silences().Expire(c.Param("id"))
	switch {
	case errors.Is(err, notify.ErrNotFound):
		return amError(c, http.StatusNotFound, err)
	case err != nil:
		return amError(c, http.StatusBadRequest, err)
	}
	return c.NoContent(http.StatusOK)
}

func (s *Server) amGetReceivers(c echo.Context) error {
	out := []amReceiver{}
	for _, r := range s.deps.Alertmanager.Receivers() {
		out = append(out, amReceiver{Name: r})
	}
	return c.JSON(http.StatusOK, out)
}

type amStatus struct {
	Cluster struct {
		Peers  []struct{} `json:"peers"`
		Status string     `json:"status"`
	} `json:"cluster"`
	Config struct {
		Original string `json:"original"`
	} `json:"config"`
	Uptime      amTime            `json:"uptime"`
	VersionInfo map[string]string `json:"versionInfo"`
}

// amGetStatus reports a cluster that is disabled (Vigil is one node) and
// the running alertmanager config with its secrets hidden.
func (s *Server) amGetStatus(c echo.Context) error {
	var st amStatus
	st.Cluster.Status, st.Cluster.Peers = "disabled", []struct{}{}
	st.Config.Original = s.deps.Alertmanager.ConfigYAML()
	st.Uptime = amTime(s.deps.StartTime)
	b := s.deps.Build
	st.VersionInfo = map[string]string{"branch": b.Branch, "buildDate": b.BuildDate, "buildUser": b.BuildUser,
		"goVersion": b.GoVersion, "revision": b.Revision, "version": b.Version}
	return c.JSON(http.StatusOK, st)
}
