package web

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/prometheus/model/labels"
)

// AlertHistoryProvider serves the alert history, every state change of
// every alert, for GET /api/v1/alerts/history. The rules package keeps
// it; appliance adapts it.
type AlertHistoryProvider interface {
	// AlertHistory returns the transitions from start to end (inclusive)
	// whose labels match any of the matcher sets (all when there are
	// none), oldest first, at most limit of them.
	AlertHistory(sets [][]*labels.Matcher, start, end time.Time, limit int) ([]AlertTransition, error)
}

// AlertTransition is one change of an alert's state.
type AlertTransition struct {
	Group  string
	Rule   string
	Labels labels.Labels
	From   string // inactive, pending, firing or resolved
	To     string
	At     time.Time
	Value  float64
}

type alertTransitionJSON struct {
	Labels labels.Labels `json:"labels"`
	Group  string        `json:"group"`
	Rule   string        `json:"rule"`
	From   string        `json:"from"`
	To     string        `json:"to"`
	At     time.Time     `json:"time"`
	Value  string        `json:"value"`
}

// historyDefaultRange and historyMaxEntries bound a request without
// start, and every answer.
const (
	historyDefaultRange = 24 * time.Hour
	historyMaxEntries   = 10_000
)

func (s *Server) registerAlertHistory(e *echo.Echo) {
	e.GET("/api/v1/alerts/history", s.api(s.alertHistory), s.whenReady)
}

// alertHistory answers GET /api/v1/alerts/history?match[]=&start=&end=
// &limit=: the transitions in the range (default: the last day), oldest
// first, at most limit (default and cap 10,000).
func (s *Server) alertHistory(c echo.Context) apiResult {
	r := c.Request()
	now := time.Now()
	end, err := parseTimeParam(r, "end", now)
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	start, err := parseTimeParam(r, "start", end.Add(-historyDefaultRange))
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	if end.Before(start) {
		return errResult(invalidParam(errors.New("end timestamp must not be before start time"), "end"))
	}
	limit := historyMaxEntries
	if v := r.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errResult(invalidParam(fmt.Errorf("limit must be a positive integer, got %q", v), "limit"))
		}
		limit = min(n, historyMaxEntries)
	}
	var sets [][]*labels.Matcher
	if ms := r.Form["match[]"]; len(ms) > 0 {
		if sets, err = s.parseMatchersParam(ms); err != nil {
			return errResult(badData(err))
		}
	}
	out := []alertTransitionJSON{}
	if p := s.deps.History; p != nil {
		ts, err := p.AlertHistory(sets, start, end, limit)
		if err != nil {
			return errResult(&apiError{typ: errorInternal, err: err})
		}
		for _, t := range ts {
			out = append(out, alertTransitionJSON{t.Labels, t.Group, t.Rule, t.From, t.To, t.At, strconv.FormatFloat(t.Value, 'e', -1, 64)})
		}
	}
	return apiResult{data: out}
}
