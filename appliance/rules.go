package appliance

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/web"
)

// RulesConfig is the rule evaluation: Prometheus rule files and the
// built-in Panic-platform rules. The rule_files of --config.prometheus are
// loaded too, next to Files.
type RulesConfig struct {
	// Files are rule files or globs (rules/*.yml).
	Files []string `yaml:"files,omitempty"`
	// Builtin loads the built-in Panic-platform rules next to Files.
	Builtin bool `yaml:"builtin"`
	// EvaluationInterval is the interval of groups that give none.
	EvaluationInterval Duration `yaml:"evaluation_interval"`
	// HistoryRetention is how long alert transitions are kept.
	HistoryRetention Duration `yaml:"history_retention"`
}

func defaultRulesConfig() RulesConfig {
	return RulesConfig{Builtin: true, EvaluationInterval: Duration(time.Minute), HistoryRetention: Duration(30 * 24 * time.Hour)}
}

// ruleFiles expands the globs of c.Files and of extra (prometheus.yml's
// rule_files); a pattern that matches nothing is kept as is, so that
// loading it says the file is missing.
func (c RulesConfig) ruleFiles(extra []string) []string {
	var out []string
	for _, f := range append(slices.Clone(c.Files), extra...) {
		m, err := filepath.Glob(f)
		if err != nil || len(m) == 0 {
			out = append(out, f)
			continue
		}
		out = append(out, m...)
	}
	return out
}

// ruleRunner is the rules capability as the appliance runs it: the
// manager, its reload, and its views adapted to web's providers.
type ruleRunner struct {
	m      *rules.Manager
	parser parser.Parser
	log    *slog.Logger
	cfg    RulesConfig

	// promFiles returns the rule_files of the running prometheus.yml,
	// which the scrape capability reads and reloads.
	promFiles func() []string
}

var (
	_ web.RulesProvider        = (*ruleRunner)(nil)
	_ web.AlertsProvider       = (*ruleRunner)(nil)
	_ web.AlertHistoryProvider = (*ruleRunner)(nil)
	_ component                = (*ruleRunner)(nil)
)

// startRules loads the rules (a bad file stops the start, naming file and
// line), restores the alert state kept in db and starts the schedule.
//
// promFiles gives prometheus.yml's rule_files; promInterval is its
// global.evaluation_interval, which, when set, is the interval of groups
// that give none, as in Prometheus.
func startRules(cfg Config, engine *promql.Engine, st *storage.Storage, db *bbolt.DB, p parser.Parser, extURL string, promFiles func() []string, promInterval time.Duration, notifier rules.Notifier, log *slog.Logger) (*ruleRunner, error) {
	log = log.With("component", "rules")
	groups, err := rules.Load(cfg.Rules.ruleFiles(promFiles()), cfg.Rules.Builtin, p)
	if err != nil {
		return nil, fmt.Errorf("cannot load the rules:\n%w", err)
	}
	u, _ := url.Parse(extURL)
	m, err := rules.NewManager(rules.Options{
		Query:            rules.EngineQuery(engine, st),
		Appender:         st,
		DB:               db,
		DefaultInterval:  cmp.Or(promInterval, cfg.Rules.EvaluationInterval.Std()),
		HistoryRetention: cfg.Rules.HistoryRetention.Std(),
		ExternalURL:      u,
		Notifier:         notifier,
		Logger:           log,
	})
	if err != nil {
		return nil, err
	}
	if err := m.Update(groups); err != nil {
		return nil, err
	}
	m.Start()
	log.Info("rules loaded", "groups", len(groups), "files", len(cfg.Rules.Files)+len(promFiles()), "builtin", cfg.Rules.Builtin)
	return &ruleRunner{m: m, parser: p, log: log, cfg: cfg.Rules, promFiles: promFiles}, nil
}

func (r *ruleRunner) stop() { r.m.Stop() }

// backfillRecordings records the history from from to to with the
// recording rules, for the demo's backfill: the dashboards' panels over
// recorded series then show the whole history, not only what came after
// the start. It records up to the present, which the backfill took time to
// reach, so that the recorded series stay fresh until the first live
// evaluation, an interval after the start.
func (r *ruleRunner) backfillRecordings(ctx context.Context, from, to time.Time) {
	t0 := time.Now()
	if to.Before(t0) {
		to = t0
	}
	n, err := r.m.BackfillRecordings(ctx, from, to)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("recording rules not recorded over the whole backfill", "err", err)
	}
	r.log.Info("recording rules recorded over the backfill", "samples", n, "took", time.Since(t0).Round(time.Millisecond))
}

// Reload re-reads the rule files; a file that does not load keeps the
// running rules. Rules that did not change keep their alerts.
func (r *ruleRunner) Reload(cfg Config) (bool, error) {
	groups, err := rules.Load(cfg.Rules.ruleFiles(r.promFiles()), cfg.Rules.Builtin, r.parser)
	if err != nil {
		r.log.Error("rules not reloaded; the running rules stay", "err", err)
		return false, fmt.Errorf("cannot load the rules:\n%w", err)
	}
	if err := r.m.Update(groups); err != nil {
		return false, err
	}
	r.cfg = cfg.Rules
	r.log.Info("rules reloaded", "groups", len(groups))
	return true, nil
}

// RuleGroups is web's RulesProvider.
func (r *ruleRunner) RuleGroups() []web.RuleGroup {
	gs := r.m.Groups()
	out := make([]web.RuleGroup, len(gs))
	for i, g := range gs {
		wg := web.RuleGroup{Name: g.Name, File: g.File, Interval: g.Interval, Limit: g.Limit,
			EvaluationTime: g.EvaluationTime, LastEvaluation: g.LastEvaluation}
		for _, rl := range g.Rules {
			wr := web.Rule{Name: rl.Name, Query: rl.Query, Labels: rl.Labels, Health: web.RuleHealth(rl.Health),
				LastError: rl.LastError, EvaluationTime: rl.EvaluationTime, LastEvaluation: rl.LastEvaluation}
			if rl.Kind == rules.KindAlerting {
				wr.Type, wr.State, wr.Duration, wr.KeepFiringFor = web.RuleTypeAlerting, string(rl.State), rl.For, rl.KeepFiringFor
				wr.Annotations, wr.Alerts = rl.Annotations, webAlerts(rl.Alerts)
			} else {
				wr.Type = web.RuleTypeRecording
			}
			wg.Rules = append(wg.Rules, wr)
		}
		out[i] = wg
	}
	return out
}

// ActiveAlerts is web's AlertsProvider.
func (r *ruleRunner) ActiveAlerts() []web.Alert { return webAlerts(r.m.ActiveAlerts()) }

// AlertHistory is web's AlertHistoryProvider.
func (r *ruleRunner) AlertHistory(sets [][]*labels.Matcher, start, end time.Time, limit int) ([]web.AlertTransition, error) {
	ts, err := r.m.History(sets, start, end, limit)
	if err != nil {
		return nil, err
	}
	out := make([]web.AlertTransition, len(ts))
	for i, t := range ts {
		out[i] = web.AlertTransition{Group: t.Group, Rule: t.Rule, Labels: t.Labels, From: string(t.From), To: string(t.To), At: t.At, Value: t.Value}
	}
	return out, nil
}

func webAlerts(as []rules.Alert) []web.Alert {
	out := make([]web.Alert, 0, len(as))
	for _, a := range as {
		out = append(out, web.Alert{Labels: a.Labels, Annotations: a.Annotations, State: string(a.State),
			ActiveAt: a.ActiveAt, KeepFiringSince: a.KeepFiringSince, Value: a.Value})
	}
	return out
}

// validateRules checks the rules settings; the files themselves are
// checked when they load.
func (c RulesConfig) validate(bad func(flag string, value any, format string, args ...any)) {
	if c.EvaluationInterval.Std() < time.Second {
		bad("rules.evaluation-interval", c.EvaluationInterval, "must be at least 1s")
	}
	if c.HistoryRetention.Std() < time.Hour {
		bad("rules.history-retention", c.HistoryRetention, "must be at least 1h")
	}
	if slices.Contains(c.Files, "") {
		bad("rules.files", `""`, "names an empty file")
	}
}
