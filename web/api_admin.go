package web

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// The TSDB admin endpoints. registerAPI mounts them on one echo group so
// that the authorization middleware can wrap all of them.

// deleteSeries deletes the series matching any match[] selector. The store
// deletes whole series only, so start and end, when given, must cover all
// of the retention up to now: anything narrower is refused rather than
// silently deleting more than asked.
func (s *Server) deleteSeries(c echo.Context) apiResult {
	r := c.Request()
	if len(r.Form["match[]"]) == 0 {
		return errResult(badData(errors.New("no match[] parameter provided")))
	}
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return errResult(invalidParam(err, "start"))
	}
	end, err := parseTimeParam(r, "end", maxTime)
	if err != nil {
		return errResult(invalidParam(err, "end"))
	}
	// Unlike Prometheus, a selector that matches everything is refused.
	matcherSets, err := s.parseMatchersParam(r.Form["match[]"])
	if err != nil {
		return errResult(invalidParam(err, "match[]"))
	}
	if s.deps.Storage == nil {
		return errResult(errNoQueryEngine)
	}
	now := time.Now()
	oldest := now.Add(-s.deps.Storage.Retention())
	if start.After(oldest) || end.Before(now) {
		return errResult(badData(fmt.Errorf(
			"start=%s end=%s does not cover all samples of the matching series (from %s, the start of the retention, to now), and Vigil deletes whole series only; omit start and end to delete the matching series entirely",
			r.FormValue("start"), r.FormValue("end"), oldest.UTC().Format(time.RFC3339))))
	}
	n, err := s.deps.Storage.DeleteSeries(r.Context(), matcherSets)
	if err != nil {
		return errResult(&apiError{typ: errorInternal, err: err})
	}
	s.logger().Info("deleted series", "match", r.Form["match[]"], "count", n)
	return apiResult{}
}

// snapshot creates a snapshot of the store and answers its name.
// skip_head is accepted for compatibility; the store has no head.
func (s *Server) snapshot(c echo.Context) apiResult {
	if v := c.Request().FormValue("skip_head"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return errResult(invalidParam(fmt.Errorf("unable to parse boolean: %w", err), "skip_head"))
		}
	}
	if s.deps.Storage == nil {
		return errResult(errNoQueryEngine)
	}
	name, _, err := s.deps.Storage.Snapshot()
	if err != nil {
		return errResult(&apiError{typ: errorInternal, err: fmt.Errorf("create snapshot: %w", err)})
	}
	return apiResult{data: struct {
		Name string `json:"name"`
	}{name}}
}

// cleanTombstones does nothing: deleted series leave no tombstones to clean.
func (s *Server) cleanTombstones(echo.Context) apiResult {
	return apiResult{}
}
