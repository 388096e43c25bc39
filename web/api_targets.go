package web

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// targetJSON is one active target of /api/v1/targets.
type targetJSON struct {
	DiscoveredLabels   labels.Labels `json:"discoveredLabels"`
	Labels             labels.Labels `json:"labels"`
	ScrapePool         string        `json:"scrapePool"`
	ScrapeURL          string        `json:"scrapeUrl"`
	GlobalURL          string        `json:"globalUrl"`
	LastError          string        `json:"lastError"`
	LastScrape         time.Time     `json:"lastScrape"`
	LastScrapeDuration float64       `json:"lastScrapeDuration"`
	Health             TargetHealth  `json:"health"`
	ScrapeInterval     string        `json:"scrapeInterval"`
	ScrapeTimeout      string        `json:"scrapeTimeout"`
}

type droppedTargetJSON struct {
	DiscoveredLabels labels.Labels `json:"discoveredLabels"`
	ScrapePool       string        `json:"scrapePool"`
}

type targetDiscovery struct {
	ActiveTargets       []targetJSON        `json:"activeTargets"`
	DroppedTargets      []droppedTargetJSON `json:"droppedTargets"`
	DroppedTargetCounts map[string]int      `json:"droppedTargetCounts"`
}

func (s *Server) targets(c echo.Context) apiResult {
	return serveTargets(c, s.targetsProvider())
}

// serveTargets answers /api/v1/targets with `scrapePool` and `state`
// (active, dropped, any) as Prometheus does, targets sorted by pool.
func serveTargets(c echo.Context, p TargetsProvider) apiResult {
	r := c.Request()
	pool := r.FormValue("scrapePool")
	state := strings.ToLower(r.FormValue("state"))
	showActive := state == "" || state == "any" || state == "active"
	showDropped := state == "" || state == "any" || state == "dropped"

	res := &targetDiscovery{ActiveTargets: []targetJSON{}, DroppedTargets: []droppedTargetJSON{}}
	if showDropped {
		res.DroppedTargetCounts = map[string]int{}
	}
	if p == nil {
		return apiResult{data: res}
	}
	// The dropped list needs the active one too: both come from one
	// listing of the provider's.
	active := p.ActiveTargets()
	if showActive {
		slices.SortStableFunc(active, func(a, b Target) int { return cmp.Compare(a.ScrapePool, b.ScrapePool) })
		for _, t := range active {
			if pool != "" && t.ScrapePool != pool {
				continue
			}
			health := t.Health
			if health == "" {
				health = TargetHealthUnknown
			}
			res.ActiveTargets = append(res.ActiveTargets, targetJSON{
				DiscoveredLabels:   t.DiscoveredLabels,
				Labels:             t.Labels,
				ScrapePool:         t.ScrapePool,
				ScrapeURL:          t.ScrapeURL,
				GlobalURL:          cmp.Or(t.GlobalURL, t.ScrapeURL),
				LastError:          t.LastError,
				LastScrape:         t.LastScrape,
				LastScrapeDuration: t.LastScrapeDuration.Seconds(),
				Health:             health,
				ScrapeInterval:     model.Duration(t.ScrapeInterval).String(),
				ScrapeTimeout:      model.Duration(t.ScrapeTimeout).String(),
			})
		}
	}
	if showDropped {
		dropped, counts := p.DroppedTargets(active)
		if counts != nil {
			res.DroppedTargetCounts = counts
		}
		slices.SortStableFunc(dropped, func(a, b DroppedTarget) int { return cmp.Compare(a.ScrapePool, b.ScrapePool) })
		for _, t := range dropped {
			if pool != "" && t.ScrapePool != pool {
				continue
			}
			res.DroppedTargets = append(res.DroppedTargets, droppedTargetJSON(t))
		}
	}
	return apiResult{data: res}
}

// targetMetadataJSON is one entry of /api/v1/targets/metadata.
type targetMetadataJSON struct {
	Target labels.Labels `json:"target"`
	Metric string        `json:"metric,omitempty"`
	Type   string        `json:"type"`
	Help   string        `json:"help"`
	Unit   string        `json:"unit"`
}

func (s *Server) targetsMetadata(c echo.Context) apiResult {
	return s.serveTargetsMetadata(c, s.targetsProvider())
}

// serveTargetsMetadata answers /api/v1/targets/metadata (`match_target`,
// `metric`, `limit`) from a provider that implements
// TargetMetadataProvider, and an empty list otherwise.
func (s *Server) serveTargetsMetadata(c echo.Context, p TargetsProvider) apiResult {
	r := c.Request()
	limit := -1
	if v := r.FormValue("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil {
			return errResult(badData(errors.New("limit must be a number")))
		}
	}
	var matchers []*labels.Matcher
	if v := r.FormValue("match_target"); v != "" {
		var err error
		if matchers, err = s.promParser().ParseMetricSelector(v); err != nil {
			return errResult(invalidParam(err, "match_target"))
		}
	}
	metric := r.FormValue("metric")
	res := []targetMetadataJSON{}
	mp, ok := p.(TargetMetadataProvider)
	if !ok {
		return apiResult{data: res}
	}
	for _, t := range p.ActiveTargets() {
		if limit >= 0 && len(res) >= limit {
			break
		}
		if !matchLabels(t.Labels, matchers) {
			continue
		}
		for _, md := range mp.TargetMetadata(t, metric) {
			e := targetMetadataJSON{Target: t.Labels, Type: md.Type, Help: md.Help, Unit: md.Unit}
			if metric == "" {
				e.Metric = md.Metric
			}
			res = append(res, e)
		}
	}
	return apiResult{data: res}
}

func matchLabels(ls labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (s *Server) scrapePools(echo.Context) apiResult {
	return serveScrapePools(s.targetsProvider())
}

func serveScrapePools(p TargetsProvider) apiResult {
	pools := []string{}
	if p != nil {
		for _, t := range p.ActiveTargets() {
			pools = append(pools, t.ScrapePool)
		}
		slices.Sort(pools)
		pools = slices.Compact(pools)
	}
	return apiResult{data: struct {
		ScrapePools []string `json:"scrapePools"`
	}{pools}}
}

type alertmanagerJSON struct {
	URL string `json:"url"`
}

func (s *Server) alertmanagers(echo.Context) apiResult {
	return serveAlertmanagers(s.alertmanagersProvider())
}

func serveAlertmanagers(p AlertmanagersProvider) apiResult {
	res := struct {
		Active  []alertmanagerJSON `json:"activeAlertmanagers"`
		Dropped []alertmanagerJSON `json:"droppedAlertmanagers"`
	}{[]alertmanagerJSON{}, []alertmanagerJSON{}}
	if p != nil {
		active, dropped := p.Alertmanagers()
		for _, u := range active {
			res.Active = append(res.Active, alertmanagerJSON{u})
		}
		for _, u := range dropped {
			res.Dropped = append(res.Dropped, alertmanagerJSON{u})
		}
	}
	return apiResult{data: &res}
}
