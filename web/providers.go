package web

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The interfaces below are what the Prometheus API's targets, rules, alerts
// and alertmanagers endpoints need from the rest of Vigil. They are declared
// here, where they are used, and are small on purpose: appliance/scrape
// implements TargetsProvider, the rules package RulesProvider and
// AlertsProvider, the notifier AlertmanagersProvider. The values they return
// are views built for the API; web renders them in Prometheus' JSON shapes.
//
// A nil provider makes its endpoints serve Prometheus' empty shapes.

// TargetsProvider lists the scrape targets for /api/v1/targets,
// /api/v1/targets/metadata and /api/v1/scrape_pools.
type TargetsProvider interface {
	// ActiveTargets returns the targets being scraped, in any order.
	ActiveTargets() []Target
	// DroppedTargets returns the discovered targets that relabelling
	// dropped, and how many were dropped per scrape pool (the list may be
	// capped; the counts are not). active is what ActiveTargets returned:
	// a target dropped once and active now is not listed.
	DroppedTargets(active []Target) (targets []DroppedTarget, countsByPool map[string]int)
}

// TargetMetadataProvider is optionally implemented by a TargetsProvider to
// serve /api/v1/targets/metadata.
type TargetMetadataProvider interface {
	// TargetMetadata returns the metric metadata a target exposed in its
	// last scrape; metric == "" means all metrics of the target.
	TargetMetadata(t Target, metric string) []MetricMetadata
}

// Target is one active scrape target, as /api/v1/targets reports it.
type Target struct {
	DiscoveredLabels labels.Labels
	Labels           labels.Labels
	ScrapePool       string
	ScrapeURL        string
	GlobalURL        string
	LastError        string
	LastScrape       time.Time
	// LastScrapeDuration is how long the last scrape took.
	LastScrapeDuration time.Duration
	Health             TargetHealth
	ScrapeInterval     time.Duration
	ScrapeTimeout      time.Duration
}

// TargetHealth is the health of a target after its last scrape.
type TargetHealth string

// The values of TargetHealth, spelled as Prometheus reports them.
const (
	TargetHealthUnknown TargetHealth = "unknown"
	TargetHealthGood    TargetHealth = "up"
	TargetHealthBad     TargetHealth = "down"
)

// DroppedTarget is a discovered target that relabelling dropped.
type DroppedTarget struct {
	DiscoveredLabels labels.Labels
	ScrapePool       string
}

// MetricMetadata is the type, help and unit of one metric of a target.
type MetricMetadata struct {
	Metric string
	Type   string
	Help   string
	Unit   string
}

// RulesProvider lists the rule groups for /api/v1/rules.
type RulesProvider interface {
	// RuleGroups returns the groups in evaluation order.
	RuleGroups() []RuleGroup
}

// AlertsProvider lists the active (pending and firing) alerts for
// /api/v1/alerts.
type AlertsProvider interface {
	ActiveAlerts() []Alert
}

// AlertmanagersProvider lists the Alertmanagers alerts are sent to, for
// /api/v1/alertmanagers.
type AlertmanagersProvider interface {
	// Alertmanagers returns the URLs of the active and the dropped
	// Alertmanagers.
	Alertmanagers() (active, dropped []string)
}

// ReloadStatus is optionally implemented by the Reloader in Deps to report
// the outcome of the last configuration reload, however it was triggered
// (HTTP, SIGHUP, file watch), for /api/v1/status/runtimeinfo. Without it the
// server reports the outcome of the reloads it triggered itself.
type ReloadStatus interface {
	LastReload() (success bool, at time.Time)
}

// RuleGroup is one rule group, as /api/v1/rules reports it.
type RuleGroup struct {
	Name           string
	File           string
	Interval       time.Duration
	Limit          int
	Rules          []Rule
	EvaluationTime time.Duration
	LastEvaluation time.Time
}

// RuleType tells alerting and recording rules apart.
type RuleType string

// The rule types, spelled as Prometheus reports them.
const (
	RuleTypeAlerting  RuleType = "alerting"
	RuleTypeRecording RuleType = "recording"
)

// RuleHealth is the health of a rule after its last evaluation.
type RuleHealth string

// The values of RuleHealth, spelled as Prometheus reports them.
const (
	RuleHealthUnknown RuleHealth = "unknown"
	RuleHealthGood    RuleHealth = "ok"
	RuleHealthBad     RuleHealth = "err"
)

// Rule is one alerting or recording rule. The fields after Labels are
// meaningful for alerting rules only.
type Rule struct {
	Type           RuleType
	Name           string
	Query          string
	Labels         labels.Labels
	Health         RuleHealth
	LastError      string
	EvaluationTime time.Duration
	LastEvaluation time.Time

	// State is "inactive", "pending" or "firing".
	State         string
	Duration      time.Duration // the rule's `for`
	KeepFiringFor time.Duration
	Annotations   labels.Labels
	Alerts        []Alert
}

// Alert is one active alert.
type Alert struct {
	Labels          labels.Labels
	Annotations     labels.Labels
	State           string // "pending" or "firing"
	ActiveAt        time.Time
	KeepFiringSince time.Time // zero unless the alert keeps firing
	Value           float64
}

func (s *Server) targetsProvider() TargetsProvider             { return s.deps.Targets }
func (s *Server) rulesProvider() RulesProvider                 { return s.deps.Rules }
func (s *Server) alertsProvider() AlertsProvider               { return s.deps.Alerts }
func (s *Server) alertmanagersProvider() AlertmanagersProvider { return s.deps.Alertmanagers }
