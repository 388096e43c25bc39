package scrape

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promscrape"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v2"

	"github.com/vigil-monitoring/vigil/web"
)

// The target status lives in lib/promscrape's unexported globals; the only
// exported view of it is WriteAPIV1Targets, Prometheus' JSON. The methods
// below read that JSON back into web's types, keeping only the targets of
// the jobs this Scraper runs (the library's list of dropped targets is
// process-wide and keeps entries of jobs that a reload removed).

// libTargets is what WriteAPIV1Targets writes.
type libTargets struct {
	Data struct {
		ActiveTargets []struct {
			DiscoveredLabels   map[string]string `json:"discoveredLabels"`
			Labels             map[string]string `json:"labels"`
			ScrapePool         string            `json:"scrapePool"`
			ScrapeURL          string            `json:"scrapeUrl"`
			LastError          string            `json:"lastError"`
			LastScrape         time.Time         `json:"lastScrape"`
			LastScrapeDuration float64           `json:"lastScrapeDuration"`
			Health             string            `json:"health"`
		} `json:"activeTargets"`
		DroppedTargets []struct {
			DiscoveredLabels map[string]string `json:"discoveredLabels"`
		} `json:"droppedTargets"`
	} `json:"data"`
}

func (s *Scraper) libTargets(state string) *libTargets {
	var buf bytes.Buffer
	promscrape.WriteAPIV1Targets(&buf, state, "")
	var lt libTargets
	if err := json.Unmarshal(buf.Bytes(), &lt); err != nil {
		s.warnRarely("cannot read the scrape targets' status", err)
	}
	return &lt
}

func (s *Scraper) scrapes(job string) bool {
	jobs := s.jobs.Load()
	return jobs != nil && slices.Contains(*jobs, job)
}

// ActiveTargets implements web.TargetsProvider.
func (s *Scraper) ActiveTargets() []web.Target {
	lt := s.libTargets("active")
	var out []web.Target
	for _, t := range lt.Data.ActiveTargets {
		if !s.scrapes(t.ScrapePool) {
			continue
		}
		wt := web.Target{
			DiscoveredLabels:   labels.FromMap(t.DiscoveredLabels),
			Labels:             labels.FromMap(t.Labels),
			ScrapePool:         t.ScrapePool,
			ScrapeURL:          t.ScrapeURL,
			LastError:          t.LastError,
			LastScrape:         t.LastScrape,
			LastScrapeDuration: time.Duration(t.LastScrapeDuration * float64(time.Second)),
			Health:             web.TargetHealth(t.Health),
			ScrapeInterval:     labelDuration(t.DiscoveredLabels, "__scrape_interval__"),
			ScrapeTimeout:      labelDuration(t.DiscoveredLabels, "__scrape_timeout__"),
		}
		if err := s.targets.parseError(targetKey(wt.Labels)); err != "" && wt.Health == web.TargetHealthGood {
			// The library counts a scrape with malformed lines as a
			// success; Vigil, as Prometheus, does not (parseerrors.go).
			wt.Health = web.TargetHealthBad
			wt.LastError = err
		}
		if t.LastScrape.Unix() <= 0 {
			// Not scraped yet: the library says "down" at the Unix epoch,
			// Prometheus "unknown" at the zero time.
			wt.Health = web.TargetHealthUnknown
			wt.LastScrape = time.Time{}
		}
		out = append(out, wt)
	}
	return out
}

// TargetMetadata implements web.TargetMetadataProvider: the TYPE and HELP
// of the metric families t exposed in its last successful scrape.
func (s *Scraper) TargetMetadata(t web.Target, metric string) []web.MetricMetadata {
	return s.targets.metadata(targetKey(t.Labels), metric)
}

// DroppedTargets implements web.TargetsProvider. The library keeps at
// most -promscrape.maxDroppedTargets (10,000) of them, so the counts are
// of that list.
//
// The library's list only grows: a target dropped once stays in it after
// a reload keeps it, or after its discovery no longer yields it. Vigil
// leaves out what it can tell is stale: a dropped target whose discovered
// labels are those of an active one, and, in a job whose targets are all
// static_configs, one whose address the job no longer lists. Targets of
// the other service discoveries that disappeared stay listed until Vigil
// restarts (README, "Where Vigil differs from Prometheus").
func (s *Scraper) DroppedTargets(activeTargets []web.Target) ([]web.DroppedTarget, map[string]int) {
	lt := s.libTargets("dropped")
	active := make(map[string]bool, len(activeTargets))
	for _, t := range activeTargets {
		active[t.DiscoveredLabels.String()] = true
	}
	static := staticTargets(s.cfg.Load())
	var out []web.DroppedTarget
	counts := map[string]int{}
	for _, t := range lt.Data.DroppedTargets {
		job := t.DiscoveredLabels["job"]
		if !s.scrapes(job) {
			continue
		}
		ls := labels.FromMap(t.DiscoveredLabels)
		if active[ls.String()] {
			continue
		}
		if addrs, ok := static[job]; ok && !addrs[t.DiscoveredLabels["__address__"]] {
			continue
		}
		out = append(out, web.DroppedTarget{DiscoveredLabels: ls, ScrapePool: job})
		counts[job]++
	}
	return out, counts
}

// staticTargets returns, for every job of pc whose targets all come from
// static_configs, the set of addresses it lists.
func staticTargets(pc *PrometheusConfig) map[string]map[string]bool {
	if pc == nil {
		return nil
	}
	out := map[string]map[string]bool{}
jobs:
	for _, job := range pc.jobs {
		for _, it := range job {
			key, _ := it.Key.(string)
			switch {
			case key == "static_configs", key == "relabel_configs", key == "metric_relabel_configs":
			case strings.HasSuffix(key, "_configs"):
				// A service discovery (the *_sd_configs, vultr_configs).
				continue jobs
			}
		}
		name, _ := lookup(job, "job_name").(string)
		addrs := map[string]bool{}
		groups, _ := lookup(job, "static_configs").([]any)
		for _, g := range groups {
			m, _ := g.(yaml.MapSlice)
			targets, _ := lookup(m, "targets").([]any)
			for _, t := range targets {
				if addr, ok := t.(string); ok {
					addrs[addr] = true
				}
			}
		}
		out[name] = addrs
	}
	return out
}

func labelDuration(ls map[string]string, name string) time.Duration {
	d, err := model.ParseDuration(ls[name])
	if err != nil {
		return 0
	}
	return time.Duration(d)
}
