package dashboards

import (
	"context"
	"fmt"
	"time"
)

// Status is the health of one component.
type Status string

// The states of a component. Unknown means there are no samples to judge
// by; it never makes the whole unhealthy.
const (
	StatusOK       Status = "ok"
	StatusDegraded Status = "degraded"
	StatusDown     Status = "down"
	StatusUnknown  Status = "unknown"
)

// Component is the health of one part, with the reason for its status and
// the number it was judged by, if any.
type Component struct {
	Name     string   `json:"name"`
	Status   Status   `json:"status"`
	Reason   string   `json:"reason"`
	Value    *float64 `json:"value,omitempty"`
	Critical bool     `json:"critical"`
}

// The thresholds of the platform's health, those of the built-in alerts
// where there is one.
const (
	errorRateDegraded = 0.05 // HighErrorRate
	errorRateDown     = 0.5
	cacheHitDegraded  = 0.5
)

// PlatformHealth judges the Panic platform from its latest samples: the
// scrape targets, database and Redis connections, the HTTP error rate,
// the cache hit rate and the WebSocket connections.
func (s Summaries) PlatformHealth(ctx context.Context, now time.Time) ([]Component, error) {
	one := func(q string) (float64, bool, error) {
		vs, err := s.values(ctx, q, now)
		if err != nil || len(vs) == 0 {
			return 0, false, err
		}
		return vs[0].Value, true, nil
	}
	var out []Component
	add := func(c Component, v float64, ok bool) {
		if ok {
			c.Value = &v
		}
		out = append(out, c)
	}

	// Targets.
	down, _, err := one(`count(up == 0) or vector(0)`)
	if err != nil {
		return nil, err
	}
	total, ok, err := one(`count(up)`)
	if err != nil {
		return nil, err
	}
	c := Component{Name: "targets", Critical: true}
	switch {
	case !ok:
		c.Status, c.Reason = StatusUnknown, "no scrape targets"
	case down == 0:
		c.Status, c.Reason = StatusOK, fmt.Sprintf("all %g targets up", total)
	case down == total:
		c.Status, c.Reason = StatusDown, fmt.Sprintf("all %g targets down", total)
	default:
		c.Status, c.Reason = StatusDegraded, fmt.Sprintf("%g of %g targets down", down, total)
	}
	add(c, total-down, ok)

	// Connections.
	for _, g := range []struct {
		name, metric string
		critical     bool
	}{
		{"database", "db_connections_active", true},
		{"redis", "redis_connections_active", false},
	} {
		v, ok, err := one(`sum(` + g.metric + `)`)
		if err != nil {
			return nil, err
		}
		c := Component{Name: g.name, Critical: g.critical}
		switch {
		case !ok:
			c.Status, c.Reason = StatusUnknown, "no samples of "+g.metric
		case v == 0:
			c.Status, c.Reason = StatusDegraded, "no open connections ("+g.metric+" is 0)"
			if g.critical {
				c.Status = StatusDown
			}
		default:
			c.Status, c.Reason = StatusOK, fmt.Sprintf("%g open connections", v)
		}
		add(c, v, ok)
	}

	// HTTP errors.
	v, ok, err := one(`sum(rate(http_requests_total{status_code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))`)
	if err != nil {
		return nil, err
	}
	c = Component{Name: "error_rate"}
	switch {
	case !ok:
		c.Status, c.Reason = StatusUnknown, "no HTTP requests in the last 5 minutes"
	case v > errorRateDown:
		c.Status, c.Reason = StatusDown, fmt.Sprintf("%.1f%% of HTTP requests fail with 5xx", v*100)
	case v > errorRateDegraded:
		c.Status, c.Reason = StatusDegraded, fmt.Sprintf("%.1f%% of HTTP requests fail with 5xx (above 5%%)", v*100)
	default:
		c.Status, c.Reason = StatusOK, fmt.Sprintf("%.2f%% of HTTP requests fail with 5xx", v*100)
	}
	add(c, v, ok)

	// Cache.
	v, ok, err = one(`sum(rate(cache_hits_total[5m])) / (sum(rate(cache_hits_total[5m])) + sum(rate(cache_misses_total[5m])))`)
	if err != nil {
		return nil, err
	}
	c = Component{Name: "cache_hit_rate"}
	switch {
	case !ok:
		c.Status, c.Reason = StatusUnknown, "no cache lookups in the last 5 minutes"
	case v < cacheHitDegraded:
		c.Status, c.Reason = StatusDegraded, fmt.Sprintf("only %.1f%% of cache lookups hit", v*100)
	default:
		c.Status, c.Reason = StatusOK, fmt.Sprintf("%.1f%% of cache lookups hit", v*100)
	}
	add(c, v, ok)

	// WebSockets: reported, never judged.
	v, ok, err = one(`sum(websocket_connections_active)`)
	if err != nil {
		return nil, err
	}
	c = Component{Name: "websockets", Status: StatusOK, Reason: fmt.Sprintf("%g open connections", v)}
	if !ok {
		c.Status, c.Reason = StatusUnknown, "no samples of websocket_connections_active"
	}
	add(c, v, ok)
	return out, nil
}

// Overall is the status of a set of components: down when a critical one
// is down, degraded when any is degraded or down, else ok.
func Overall(cs []Component) Status {
	st := StatusOK
	for _, c := range cs {
		switch c.Status {
		case StatusDown:
			if c.Critical {
				return StatusDown
			}
			st = StatusDegraded
		case StatusDegraded:
			st = StatusDegraded
		}
	}
	return st
}
