package appliance

import (
	"context"
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-monitoring/vigil/dashboards"
	"github.com/vigil-monitoring/vigil/storage"
)

// The Panic platform's periodic jobs (the seed's "Update All Metrics" and
// "Update Performance Metrics"). Each writes what it computed as series of
// its own, so that dashboards and rules can use them.

// componentStatusValue is how a component's status is stored in
// vigil_platform_component_status.
var componentStatusValue = map[dashboards.Status]float64{
	dashboards.StatusOK: 0, dashboards.StatusDegraded: 1, dashboards.StatusDown: 2, dashboards.StatusUnknown: -1,
}

// addPlatformJobs adds the minute and five-minute jobs over sum, storing
// into st, on the schedules of cfg.
func addPlatformJobs(r *jobRunner, set *metrics.Set, cfg JobsConfig, sum dashboards.Summaries, st *storage.Storage) error {
	err := r.add(set, jobUpdateAllMetrics, cfg.UpdateAllMetrics.Schedule, func(ctx context.Context, now time.Time) (string, error) {
		m, err := sum.Minute(ctx, now)
		if err != nil {
			return "", err
		}
		var rows storage.Rows
		for _, c := range m.Health {
			if err := rows.Add([]storage.Label{{Name: "__name__", Value: "vigil_platform_component_status"}, {Name: "component", Value: c.Name}}, now.UnixMilli(), componentStatusValue[c.Status]); err != nil {
				return "", err
			}
		}
		if err := st.Append(&rows); err != nil {
			return "", fmt.Errorf("storing vigil_platform_component_status: %w", err)
		}
		return fmt.Sprintf("platform %s; %d components, %d plans, %d caches, %d zones", dashboards.Overall(m.Health), len(m.Health), len(m.ActiveSubscriptions), len(m.CacheHitRates), len(m.PanicRequestRates)), nil
	})
	if err != nil {
		return err
	}
	return r.add(set, jobUpdatePerformanceMetrics, cfg.UpdatePerformanceMetrics.Schedule, func(ctx context.Context, now time.Time) (string, error) {
		p, err := sum.Performance(ctx, now, 1, dashboards.Filter{})
		if err != nil {
			return "", err
		}
		var rows storage.Rows
		for _, v := range p.CompletionRates {
			if err := rows.Add([]storage.Label{{Name: "__name__", Value: "vigil_platform_firm_completion_ratio_1h"}, {Name: "firm_id", Value: v.Labels["firm_id"]}}, now.UnixMilli(), v.Value); err != nil {
				return "", err
			}
		}
		if err := st.Append(&rows); err != nil {
			return "", fmt.Errorf("storing vigil_platform_firm_completion_ratio_1h: %w", err)
		}
		return fmt.Sprintf("%d zones, %d firms", len(p.ZoneResponseTimes), len(p.CompletionRates)), nil
	})
}
