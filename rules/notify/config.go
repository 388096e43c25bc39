package notify

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// This file is the configuration in Alertmanager's format (alertmanager.yml):
// the structs, their defaults and the validation amtool check-config does.
// Vigil parses the format itself rather than importing
// github.com/prometheus/alertmanager/config, which pulls in 643 packages
// (330 that Vigil does not otherwise build: the AWS SDK, memberlist, Kafka,
// Telegram, gRPC). Matchers are parsed by Alertmanager's own
// pkg/labels (one package beyond what Vigil builds), so `matchers:` lines
// mean exactly what they mean to Alertmanager.

// The defaults Alertmanager gives fields that a config leaves out.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultResolveTimeout = 5 * time.Minute
)

// Config is an alertmanager.yml.
type Config struct {
	Global            *GlobalConfig   `yaml:"global,omitempty"`
	Route             *RouteConfig    `yaml:"route,omitempty"`
	InhibitRules      []InhibitRule   `yaml:"inhibit_rules,omitempty"`
	Receivers         []Receiver      `yaml:"receivers,omitempty"`
	Templates         []string        `yaml:"templates,omitempty"`
	TimeIntervals     []NamedInterval `yaml:"time_intervals,omitempty"`
	MuteTimeIntervals []NamedInterval `yaml:"mute_time_intervals,omitempty"` // the older name of time_intervals

	// File is where the config was read from ("" if parsed from bytes);
	// relative template paths are taken from its folder.
	File string `yaml:"-"`
}

// GlobalConfig holds the defaults of the receivers and resolve_timeout.
type GlobalConfig struct {
	ResolveTimeout       model.Duration `yaml:"resolve_timeout,omitempty"`
	SMTPFrom             string         `yaml:"smtp_from,omitempty"`
	SMTPHello            string         `yaml:"smtp_hello,omitempty"`
	SMTPSmarthost        string         `yaml:"smtp_smarthost,omitempty"`
	SMTPAuthUsername     string         `yaml:"smtp_auth_username,omitempty"`
	SMTPAuthPassword     string         `yaml:"smtp_auth_password,omitempty"`
	SMTPAuthPasswordFile string         `yaml:"smtp_auth_password_file,omitempty"`
	SMTPAuthSecret       string         `yaml:"smtp_auth_secret,omitempty"`
	SMTPAuthSecretFile   string         `yaml:"smtp_auth_secret_file,omitempty"`
	SMTPAuthIdentity     string         `yaml:"smtp_auth_identity,omitempty"`
	SMTPRequireTLS       *bool          `yaml:"smtp_require_tls,omitempty"` // default true
	SMTPTLSConfig        *TLSConfig     `yaml:"smtp_tls_config,omitempty"`
	SMTPForceImplicitTLS *bool          `yaml:"smtp_force_implicit_tls,omitempty"`
	SlackAPIURL          string         `yaml:"slack_api_url,omitempty"`
	SlackAPIURLFile      string         `yaml:"slack_api_url_file,omitempty"`
	PagerdutyURL         string         `yaml:"pagerduty_url,omitempty"`
	HTTPConfig           *HTTPConfig    `yaml:"http_config,omitempty"`
}

// TLSConfig is the part of Prometheus' tls_config Vigil's receivers use.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	CertFile           string `yaml:"cert_file,omitempty"`
	KeyFile            string `yaml:"key_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
	MinVersion         string `yaml:"min_version,omitempty"`
}

// HTTPConfig is the part of Prometheus' http_config Vigil's receivers use.
type HTTPConfig struct {
	BasicAuth *struct {
		Username     string `yaml:"username,omitempty"`
		Password     string `yaml:"password,omitempty"`
		PasswordFile string `yaml:"password_file,omitempty"`
	} `yaml:"basic_auth,omitempty"`
	Authorization *struct {
		Type            string `yaml:"type,omitempty"`
		Credentials     string `yaml:"credentials,omitempty"`
		CredentialsFile string `yaml:"credentials_file,omitempty"`
	} `yaml:"authorization,omitempty"`
	BearerToken     string     `yaml:"bearer_token,omitempty"`
	TLSConfig       *TLSConfig `yaml:"tls_config,omitempty"`
	ProxyURL        string     `yaml:"proxy_url,omitempty"`
	FollowRedirects *bool      `yaml:"follow_redirects,omitempty"`
	EnableHTTP2     *bool      `yaml:"enable_http2,omitempty"`
}

// RouteConfig is one node of the routing tree as written.
type RouteConfig struct {
	Receiver            string            `yaml:"receiver,omitempty"`
	GroupBy             []string          `yaml:"group_by,omitempty"`
	Match               map[string]string `yaml:"match,omitempty"`
	MatchRE             map[string]string `yaml:"match_re,omitempty"`
	Matchers            []string          `yaml:"matchers,omitempty"`
	Continue            bool              `yaml:"continue,omitempty"`
	Routes              []*RouteConfig    `yaml:"routes,omitempty"`
	GroupWait           *model.Duration   `yaml:"group_wait,omitempty"`
	GroupInterval       *model.Duration   `yaml:"group_interval,omitempty"`
	RepeatInterval      *model.Duration   `yaml:"repeat_interval,omitempty"`
	MuteTimeIntervals   []string          `yaml:"mute_time_intervals,omitempty"`
	ActiveTimeIntervals []string          `yaml:"active_time_intervals,omitempty"`
}

// InhibitRule mutes the alerts that match the target matchers while an
// alert that matches the source matchers fires with the same values of
// the Equal labels.
type InhibitRule struct {
	SourceMatch    map[string]string `yaml:"source_match,omitempty"`
	SourceMatchRE  map[string]string `yaml:"source_match_re,omitempty"`
	SourceMatchers []string          `yaml:"source_matchers,omitempty"`
	TargetMatch    map[string]string `yaml:"target_match,omitempty"`
	TargetMatchRE  map[string]string `yaml:"target_match_re,omitempty"`
	TargetMatchers []string          `yaml:"target_matchers,omitempty"`
	Equal          []string          `yaml:"equal,omitempty"`
}

// Receiver is a named set of integrations a route sends to.
type Receiver struct {
	Name             string             `yaml:"name"`
	WebhookConfigs   []*WebhookConfig   `yaml:"webhook_configs,omitempty"`
	EmailConfigs     []*EmailConfig     `yaml:"email_configs,omitempty"`
	SlackConfigs     []*SlackConfig     `yaml:"slack_configs,omitempty"`
	PagerdutyConfigs []*PagerdutyConfig `yaml:"pagerduty_configs,omitempty"`
	Unsupported      map[string]any     `yaml:",inline"`
}

// WebhookConfig sends Alertmanager's version-4 JSON payload.
type WebhookConfig struct {
	SendResolved *bool          `yaml:"send_resolved,omitempty"` // default true
	URL          string         `yaml:"url,omitempty"`
	URLFile      string         `yaml:"url_file,omitempty"`
	MaxAlerts    uint64         `yaml:"max_alerts,omitempty"`
	Timeout      model.Duration `yaml:"timeout,omitempty"`
	HTTPConfig   *HTTPConfig    `yaml:"http_config,omitempty"`
	// HMACSecret (Vigil's addition) signs each payload: the header
	// X-Vigil-Signature carries "sha256=" and the hex HMAC-SHA256 of the
	// body with this secret, as GitHub's webhooks do.
	HMACSecret     string `yaml:"hmac_secret,omitempty"`
	HMACSecretFile string `yaml:"hmac_secret_file,omitempty"`
}

// EmailConfig sends an email over SMTP. Validation fills in what it
// leaves out from global, as Alertmanager does.
type EmailConfig struct {
	SendResolved     *bool             `yaml:"send_resolved,omitempty"` // default false
	To               string            `yaml:"to,omitempty"`
	From             string            `yaml:"from,omitempty"`
	Hello            string            `yaml:"hello,omitempty"`
	Smarthost        string            `yaml:"smarthost,omitempty"`
	AuthUsername     string            `yaml:"auth_username,omitempty"`
	AuthPassword     string            `yaml:"auth_password,omitempty"`
	AuthPasswordFile string            `yaml:"auth_password_file,omitempty"`
	AuthSecret       string            `yaml:"auth_secret,omitempty"`
	AuthSecretFile   string            `yaml:"auth_secret_file,omitempty"`
	AuthIdentity     string            `yaml:"auth_identity,omitempty"`
	Headers          map[string]string `yaml:"headers,omitempty"`
	HTML             *string           `yaml:"html,omitempty"`
	Text             *string           `yaml:"text,omitempty"`
	RequireTLS       *bool             `yaml:"require_tls,omitempty"`
	TLSConfig        *TLSConfig        `yaml:"tls_config,omitempty"`
	// ForceImplicitTLS connects with TLS from the start (SMTPS) when
	// true, never when false; unset, it does so on port 465.
	ForceImplicitTLS *bool `yaml:"force_implicit_tls,omitempty"`
}

// SlackConfig posts to a Slack incoming webhook.
type SlackConfig struct {
	SendResolved *bool       `yaml:"send_resolved,omitempty"` // default false
	APIURL       string      `yaml:"api_url,omitempty"`
	APIURLFile   string      `yaml:"api_url_file,omitempty"`
	Channel      string      `yaml:"channel,omitempty"`
	Username     string      `yaml:"username,omitempty"`
	Color        string      `yaml:"color,omitempty"`
	Title        string      `yaml:"title,omitempty"`
	TitleLink    string      `yaml:"title_link,omitempty"`
	Pretext      string      `yaml:"pretext,omitempty"`
	Text         string      `yaml:"text,omitempty"`
	Footer       string      `yaml:"footer,omitempty"`
	Fallback     string      `yaml:"fallback,omitempty"`
	IconEmoji    string      `yaml:"icon_emoji,omitempty"`
	IconURL      string      `yaml:"icon_url,omitempty"`
	LinkNames    bool        `yaml:"link_names,omitempty"`
	MrkdwnIn     []string    `yaml:"mrkdwn_in,omitempty"`
	HTTPConfig   *HTTPConfig `yaml:"http_config,omitempty"`
}

// PagerdutyConfig sends PagerDuty Events API v2 events.
type PagerdutyConfig struct {
	SendResolved   *bool             `yaml:"send_resolved,omitempty"` // default true
	RoutingKey     string            `yaml:"routing_key,omitempty"`
	RoutingKeyFile string            `yaml:"routing_key_file,omitempty"`
	ServiceKey     string            `yaml:"service_key,omitempty"`
	ServiceKeyFile string            `yaml:"service_key_file,omitempty"`
	URL            string            `yaml:"url,omitempty"`
	Client         string            `yaml:"client,omitempty"`
	ClientURL      string            `yaml:"client_url,omitempty"`
	Description    string            `yaml:"description,omitempty"`
	Details        map[string]string `yaml:"details,omitempty"`
	Severity       string            `yaml:"severity,omitempty"`
	Class          string            `yaml:"class,omitempty"`
	Component      string            `yaml:"component,omitempty"`
	Group          string            `yaml:"group,omitempty"`
	Source         string            `yaml:"source,omitempty"`
	HTTPConfig     *HTTPConfig       `yaml:"http_config,omitempty"`
}

// NamedInterval is a named list of time intervals (time_intervals).
type NamedInterval struct {
	Name          string         `yaml:"name"`
	TimeIntervals []TimeInterval `yaml:"time_intervals"`
}

// TimeInterval is one entry of a time_intervals list: it contains a time
// when every given field (times, weekdays, days_of_month, months, years)
// contains it, in Location (UTC if empty).
type TimeInterval struct {
	Times       []TimeRange `yaml:"times,omitempty"`
	Weekdays    []string    `yaml:"weekdays,omitempty"`
	DaysOfMonth []string    `yaml:"days_of_month,omitempty"`
	Months      []string    `yaml:"months,omitempty"`
	Years       []string    `yaml:"years,omitempty"`
	Location    string      `yaml:"location,omitempty"`
}

// TimeRange is a start_time (inclusive) and end_time (exclusive), HH:MM.
type TimeRange struct {
	StartTime string `yaml:"start_time"`
	EndTime   string `yaml:"end_time"`
}

// LoadFile reads and validates an alertmanager.yml.
func LoadFile(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c.File = file
	c.ResolvePaths(filepath.Dir(file))
	return c, nil
}

// ResolvePaths makes the relative file paths of the receivers'
// http_config (ca_file, cert_file, key_file, password_file,
// credentials_file) absolute against dir, the config file's folder, as
// Alertmanager does. Templates are resolved when they are read
// (TemplateFiles); the smtp_* and *_file secrets of the receivers stay as
// written, relative to the working directory, as in Alertmanager.
func (c *Config) ResolvePaths(dir string) {
	if c.Global != nil && c.Global.HTTPConfig != nil {
		c.Global.HTTPConfig.resolvePaths(dir)
	}
	for _, r := range c.Receivers {
		for _, w := range r.WebhookConfigs {
			if w.HTTPConfig != nil {
				w.HTTPConfig.resolvePaths(dir)
			}
		}
		for _, sc := range r.SlackConfigs {
			if sc.HTTPConfig != nil {
				sc.HTTPConfig.resolvePaths(dir)
			}
		}
		for _, pd := range r.PagerdutyConfigs {
			if pd.HTTPConfig != nil {
				pd.HTTPConfig.resolvePaths(dir)
			}
		}
	}
}

// Parse reads and validates an alertmanager.yml's contents: unknown fields,
// bad matchers, unknown receiver or time interval names are errors.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ResolveTimeout is global.resolve_timeout or its default.
func (c *Config) ResolveTimeout() time.Duration {
	if c.Global != nil && c.Global.ResolveTimeout > 0 {
		return time.Duration(c.Global.ResolveTimeout)
	}
	return DefaultResolveTimeout
}

// TemplateFiles expands the templates globs, relative to the config's folder.
func (c *Config) TemplateFiles() ([]string, error) {
	var out []string
	for _, p := range c.Templates {
		if c.File != "" && !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(c.File), p)
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("templates: %q: %w", p, err)
		}
		out = append(out, m...)
	}
	return out, nil
}

func (c *Config) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Global == nil {
		c.Global = &GlobalConfig{}
	}
	if c.Global.SMTPAuthPassword != "" && c.Global.SMTPAuthPasswordFile != "" {
		add("global: give smtp_auth_password or smtp_auth_password_file, not both")
	}
	if c.Global.SMTPAuthSecret != "" && c.Global.SMTPAuthSecretFile != "" {
		add("global: give smtp_auth_secret or smtp_auth_secret_file, not both")
	}
	names := map[string]bool{}
	for i := range c.Receivers {
		r := &c.Receivers[i]
		if r.Name == "" {
			add("receivers[%d]: missing name", i)
			continue
		}
		if names[r.Name] {
			add("receivers: %q is defined twice", r.Name)
		}
		names[r.Name] = true
		for k := range r.Unsupported {
			add("receiver %q: %s are not supported by Vigil (it delivers webhook_configs, email_configs, slack_configs and pagerduty_configs; send the others through a webhook bridge)", r.Name, k)
		}
		for j, sc := range r.SlackConfigs {
			where := fmt.Sprintf("receiver %q: slack_configs[%d]", r.Name, j)
			if sc.APIURL == "" && sc.APIURLFile == "" {
				sc.APIURL, sc.APIURLFile = c.Global.SlackAPIURL, c.Global.SlackAPIURLFile
			}
			if sc.APIURL == "" && sc.APIURLFile == "" {
				add("%s: no api_url set (neither api_url, api_url_file nor global.slack_api_url)", where)
			}
		}
		for j, pd := range r.PagerdutyConfigs {
			where := fmt.Sprintf("receiver %q: pagerduty_configs[%d]", r.Name, j)
			if pd.URL == "" {
				pd.URL = c.Global.PagerdutyURL
			}
			if pd.URL == "" {
				pd.URL = "https://events.pagerduty.com/v2/enqueue"
			}
			switch {
			case pd.ServiceKey != "" || pd.ServiceKeyFile != "":
				add("%s: service_key is PagerDuty's Events API v1, which Vigil does not send; use routing_key (Events API v2)", where)
			case pd.RoutingKey == "" && pd.RoutingKeyFile == "":
				add("%s: missing routing_key or routing_key_file", where)
			}
		}
		for j, w := range r.WebhookConfigs {
			where := fmt.Sprintf("receiver %q: webhook_configs[%d]", r.Name, j)
			switch {
			case w.URL != "" && w.URLFile != "":
				add("%s: give url or url_file, not both", where)
			case w.URL == "" && w.URLFile == "":
				add("%s: one of url or url_file must be configured", where)
			case w.URL != "":
				if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					add("%s: url %q is not an http(s) URL", where, w.URL)
				}
			}
			if w.HMACSecret != "" && w.HMACSecretFile != "" {
				add("%s: give hmac_secret or hmac_secret_file, not both", where)
			}
		}
		for j, e := range r.EmailConfigs {
			c.validateEmail(e, fmt.Sprintf("receiver %q: email_configs[%d]", r.Name, j), add)
		}
	}

	intervals := map[string]bool{}
	for _, list := range [][]NamedInterval{c.TimeIntervals, c.MuteTimeIntervals} {
		for _, ti := range list {
			if ti.Name == "" {
				add("time_intervals: an interval has no name")
			}
			if intervals[ti.Name] {
				add("time_intervals: %q is defined twice", ti.Name)
			}
			intervals[ti.Name] = true
			if err := validateIntervals(ti); err != nil {
				add("time_intervals %q: %w", ti.Name, err)
			}
		}
	}

	if c.Route == nil {
		add("no route provided in config")
	} else {
		if c.Route.Receiver == "" {
			add("root route must specify a default receiver")
		}
		if len(c.Route.Match) > 0 || len(c.Route.MatchRE) > 0 || len(c.Route.Matchers) > 0 {
			add("root route must not have any matchers")
		}
		if len(c.Route.MuteTimeIntervals) > 0 || len(c.Route.ActiveTimeIntervals) > 0 {
			add("root route must not have any mute or active time intervals")
		}
		c.walkRoutes(c.Route, "route", names, intervals, add)
	}

	for i, ir := range c.InhibitRules {
		where := fmt.Sprintf("inhibit_rules[%d]", i)
		if _, err := compileMatchers(ir.SourceMatch, ir.SourceMatchRE, ir.SourceMatchers); err != nil {
			add("%s: source: %w", where, err)
		}
		if _, err := compileMatchers(ir.TargetMatch, ir.TargetMatchRE, ir.TargetMatchers); err != nil {
			add("%s: target: %w", where, err)
		}
		for _, l := range ir.Equal {
			if !model.UTF8Validation.IsValidLabelName(l) {
				add("%s: equal: invalid label name %q", where, l)
			}
		}
	}
	if _, err := c.TemplateFiles(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateEmail fills in e's settings from global (each on its own, as
// Alertmanager does) and checks them.
func (c *Config) validateEmail(e *EmailConfig, where string, add func(string, ...any)) {
	g := c.Global
	if e.To == "" {
		add("%s: missing to address", where)
	}
	e.Smarthost = cmp.Or(e.Smarthost, g.SMTPSmarthost)
	e.From = cmp.Or(e.From, g.SMTPFrom)
	e.Hello = cmp.Or(e.Hello, g.SMTPHello)
	e.AuthUsername = cmp.Or(e.AuthUsername, g.SMTPAuthUsername)
	if e.AuthPassword == "" && e.AuthPasswordFile == "" {
		e.AuthPassword, e.AuthPasswordFile = g.SMTPAuthPassword, g.SMTPAuthPasswordFile
	}
	if e.AuthSecret == "" && e.AuthSecretFile == "" {
		e.AuthSecret, e.AuthSecretFile = g.SMTPAuthSecret, g.SMTPAuthSecretFile
	}
	e.AuthIdentity = cmp.Or(e.AuthIdentity, g.SMTPAuthIdentity)
	if e.RequireTLS == nil {
		e.RequireTLS = g.SMTPRequireTLS
	}
	if e.ForceImplicitTLS == nil {
		e.ForceImplicitTLS = g.SMTPForceImplicitTLS
	}
	if e.TLSConfig == nil {
		e.TLSConfig = g.SMTPTLSConfig
	}
	if e.AuthPassword != "" && e.AuthPasswordFile != "" {
		add("%s: give auth_password or auth_password_file, not both", where)
	}
	if e.AuthSecret != "" && e.AuthSecretFile != "" {
		add("%s: give auth_secret or auth_secret_file, not both", where)
	}
	if e.Smarthost == "" {
		add("%s: no smarthost set (neither smarthost nor global.smtp_smarthost)", where)
	} else if _, port, err := net.SplitHostPort(e.Smarthost); err != nil || port == "" {
		add("%s: smarthost %q is not host:port (e.g. %s:587)", where, e.Smarthost, strings.TrimSuffix(e.Smarthost, ":"))
	}
	if e.From == "" {
		add("%s: no from address set (neither from nor global.smtp_from)", where)
	} else if _, err := mail.ParseAddress(e.From); err != nil && !strings.Contains(e.From, "{{") {
		add("%s: from %q: %v", where, e.From, err)
	}
}

func (c *Config) walkRoutes(r *RouteConfig, where string, receivers, intervals map[string]bool, add func(string, ...any)) {
	if r.Receiver != "" && !receivers[r.Receiver] {
		add("%s: undefined receiver %q used in route", where, r.Receiver)
	}
	if slices.Contains(r.GroupBy, "...") && len(r.GroupBy) > 1 {
		add("%s: group_by: '...' must be the only label when given", where)
	}
	seen := map[string]bool{}
	for _, l := range r.GroupBy {
		if l != "..." && !model.UTF8Validation.IsValidLabelName(l) {
			add("%s: group_by: invalid label name %q", where, l)
		}
		if seen[l] {
			add("%s: group_by: duplicated label %q", where, l)
		}
		seen[l] = true
	}
	if _, err := compileMatchers(r.Match, r.MatchRE, r.Matchers); err != nil {
		add("%s: %w", where, err)
	}
	if r.GroupInterval != nil && *r.GroupInterval == 0 {
		add("%s: group_interval cannot be zero", where)
	}
	if r.RepeatInterval != nil && *r.RepeatInterval == 0 {
		add("%s: repeat_interval cannot be zero", where)
	}
	for _, n := range append(slices.Clone(r.MuteTimeIntervals), r.ActiveTimeIntervals...) {
		if !intervals[n] {
			add("%s: undefined time interval %q used in route", where, n)
		}
	}
	for i, ch := range r.Routes {
		c.walkRoutes(ch, fmt.Sprintf("%s.routes[%d]", where, i), receivers, intervals, add)
	}
}

// compileMatchers turns match (equality), match_re (anchored regular
// expressions) and matchers (Alertmanager's matcher syntax) into one list.
func compileMatchers(match, matchRE map[string]string, matchers []string) ([]*amlabels.Matcher, error) {
	var out []*amlabels.Matcher
	for _, k := range sortedKeys(match) {
		if !model.UTF8Validation.IsValidLabelName(k) {
			return nil, fmt.Errorf("match: invalid label name %q", k)
		}
		m, _ := amlabels.NewMatcher(amlabels.MatchEqual, k, match[k])
		out = append(out, m)
	}
	for _, k := range sortedKeys(matchRE) {
		if !model.UTF8Validation.IsValidLabelName(k) {
			return nil, fmt.Errorf("match_re: invalid label name %q", k)
		}
		if _, err := regexp.Compile("^(?:" + matchRE[k] + ")$"); err != nil {
			return nil, fmt.Errorf("match_re: %s: %w", k, err)
		}
		m, err := amlabels.NewMatcher(amlabels.MatchRegexp, k, matchRE[k])
		if err != nil {
			return nil, fmt.Errorf("match_re: %s: %w", k, err)
		}
		out = append(out, m)
	}
	for _, s := range matchers {
		ms, err := amlabels.ParseMatchers(s)
		if err != nil {
			return nil, fmt.Errorf("matchers: %q: %w", s, err)
		}
		out = append(out, ms...)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
