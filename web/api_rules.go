package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/prometheus/model/labels"
)

// alertJSON is one alert of /api/v1/alerts and /api/v1/rules.
type alertJSON struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

func toAlertsJSON(alerts []Alert) []alertJSON {
	out := make([]alertJSON, len(alerts))
	for i, a := range alerts {
		out[i] = alertJSON{
			Labels:      a.Labels,
			Annotations: a.Annotations,
			State:       a.State,
			ActiveAt:    &alerts[i].ActiveAt,
			// Prometheus formats alert values in exponent notation.
			Value: strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			out[i].KeepFiringSince = &alerts[i].KeepFiringSince
		}
	}
	return out
}

func (s *Server) alerts(echo.Context) apiResult {
	return serveAlerts(s.alertsProvider())
}

func serveAlerts(p AlertsProvider) apiResult {
	alerts := []alertJSON{}
	if p != nil {
		alerts = toAlertsJSON(p.ActiveAlerts())
	}
	return apiResult{data: struct {
		Alerts []alertJSON `json:"alerts"`
	}{alerts}}
}

type ruleGroupJSON struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Rules          []any     `json:"rules"`
	Interval       float64   `json:"interval"`
	Limit          int       `json:"limit"`
	EvaluationTime float64   `json:"evaluationTime"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

type alertingRuleJSON struct {
	State          string        `json:"state"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       float64       `json:"duration"`
	KeepFiringFor  float64       `json:"keepFiringFor"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations"`
	Alerts         []alertJSON   `json:"alerts"`
	Health         RuleHealth    `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           RuleType      `json:"type"`
}

type recordingRuleJSON struct {
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Labels         labels.Labels `json:"labels"`
	Health         RuleHealth    `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           RuleType      `json:"type"`
}

type ruleDiscovery struct {
	Groups         []ruleGroupJSON `json:"groups"`
	GroupNextToken string          `json:"groupNextToken,omitempty"`
}

func (s *Server) rules(c echo.Context) apiResult {
	return s.serveRules(c, s.rulesProvider())
}

// serveRules answers /api/v1/rules with Prometheus 3's filters: type
// (alert, record), rule_name[], rule_group[], file[], match[] (on the rule
// labels), exclude_alerts, and paging with group_limit and
// group_next_token.
func (s *Server) serveRules(c echo.Context, p RulesProvider) apiResult {
	r := c.Request()
	toSet := func(values []string) map[string]bool {
		set := make(map[string]bool, len(values))
		for _, v := range values {
			set[v] = true
		}
		return set
	}
	names, groups, files := toSet(r.Form["rule_name[]"]), toSet(r.Form["rule_group[]"]), toSet(r.Form["file[]"])
	matcherSets, err := s.parseMatchersParam(r.Form["match[]"])
	if err != nil {
		return errResult(badData(err))
	}
	typ := strings.ToLower(r.FormValue("type"))
	if typ != "" && typ != "alert" && typ != "record" {
		return errResult(invalidParam(fmt.Errorf("not supported value %q", typ), "type"))
	}
	excludeAlerts := false
	if v := strings.ToLower(r.FormValue("exclude_alerts")); v != "" {
		if excludeAlerts, err = strconv.ParseBool(v); err != nil {
			return errResult(invalidParam(fmt.Errorf("error converting exclude_alerts: %w", err), "exclude_alerts"))
		}
	}
	maxGroups := -1
	nextToken := r.FormValue("group_next_token")
	if v := r.FormValue("group_limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return errResult(invalidParam(fmt.Errorf("group_limit needs to be a valid number: %w", err), "group_limit"))
		}
		if n <= 0 {
			return errResult(invalidParam(errors.New("group_limit needs to be greater than 0"), "group_limit"))
		}
		maxGroups = int(n)
	} else if nextToken != "" {
		return errResult(invalidParam(errors.New("group_limit needs to be present in order to paginate over the groups"), "group_next_token"))
	}

	res := &ruleDiscovery{Groups: []ruleGroupJSON{}}
	if p == nil {
		return apiResult{data: res}
	}
	foundToken := false
	for _, g := range p.RuleGroups() {
		if maxGroups > 0 && nextToken != "" && !foundToken {
			if nextToken != ruleGroupToken(g.File, g.Name) {
				continue
			}
			foundToken = true
		}
		if len(groups) > 0 && !groups[g.Name] || len(files) > 0 && !files[g.File] {
			continue
		}
		gj := ruleGroupJSON{
			Name:           g.Name,
			File:           g.File,
			Rules:          []any{},
			Interval:       g.Interval.Seconds(),
			Limit:          g.Limit,
			EvaluationTime: g.EvaluationTime.Seconds(),
			LastEvaluation: g.LastEvaluation,
		}
		for _, rule := range g.Rules {
			if len(names) > 0 && !names[rule.Name] || !matchesAnySet(rule.Labels, matcherSets) {
				continue
			}
			switch rule.Type {
			case RuleTypeAlerting:
				if typ == "record" {
					continue
				}
				var alerts []alertJSON
				if !excludeAlerts {
					alerts = toAlertsJSON(rule.Alerts)
				}
				gj.Rules = append(gj.Rules, alertingRuleJSON{
					State:          rule.State,
					Name:           rule.Name,
					Query:          rule.Query,
					Duration:       rule.Duration.Seconds(),
					KeepFiringFor:  rule.KeepFiringFor.Seconds(),
					Labels:         rule.Labels,
					Annotations:    rule.Annotations,
					Alerts:         alerts,
					Health:         rule.Health,
					LastError:      rule.LastError,
					EvaluationTime: rule.EvaluationTime.Seconds(),
					LastEvaluation: rule.LastEvaluation,
					Type:           RuleTypeAlerting,
				})
			case RuleTypeRecording:
				if typ == "alert" {
					continue
				}
				gj.Rules = append(gj.Rules, recordingRuleJSON{
					Name:           rule.Name,
					Query:          rule.Query,
					Labels:         rule.Labels,
					Health:         rule.Health,
					LastError:      rule.LastError,
					EvaluationTime: rule.EvaluationTime.Seconds(),
					LastEvaluation: rule.LastEvaluation,
					Type:           RuleTypeRecording,
				})
			default:
				return errResult(&apiError{typ: errorInternal, err: fmt.Errorf("rule %q of group %q has unknown type %q", rule.Name, g.Name, rule.Type)})
			}
		}
		// A group whose rules were all filtered out is left out.
		if len(gj.Rules) == 0 {
			continue
		}
		if maxGroups > 0 && len(res.Groups) == maxGroups {
			res.GroupNextToken = ruleGroupToken(g.File, g.Name)
			break
		}
		res.Groups = append(res.Groups, gj)
	}
	if maxGroups > 0 && nextToken != "" && !foundToken {
		return errResult(invalidParam(fmt.Errorf("invalid group_next_token '%v'. were rule groups changed?", nextToken), "group_next_token"))
	}
	return apiResult{data: res}
}

func matchesAnySet(ls labels.Labels, sets [][]*labels.Matcher) bool {
	if len(sets) == 0 {
		return true
	}
	for _, ms := range sets {
		if matchLabels(ls, ms) {
			return true
		}
	}
	return false
}

// ruleGroupToken is Prometheus' paging token of a rule group.
func ruleGroupToken(file, group string) string {
	h := sha256.Sum256([]byte(file + ";" + group))
	return hex.EncodeToString(h[:])
}
