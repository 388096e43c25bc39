package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v2"
)

// This file is the alerting section of a prometheus.yml — the external
// Alertmanagers Vigil forwards its own alerts to — with the discovery of
// those Alertmanagers from static_configs and file_sd_configs, and their
// relabeling. Relabeling is Prometheus' own model/relabel (one package
// beyond what Vigil builds), so relabel_configs and alert_relabel_configs
// mean exactly what they mean to Prometheus.

// AlertingConfig is what Vigil takes from a prometheus.yml to forward its
// alerts: the alerting section and global.external_labels.
type AlertingConfig struct {
	// File is the prometheus.yml the section was read from.
	File string
	// ExternalLabels are added to every forwarded alert that lacks them.
	ExternalLabels labels.Labels
	// AlertRelabelConfigs apply to every forwarded alert, after the
	// external labels.
	AlertRelabelConfigs []*relabel.Config
	// Alertmanagers are the alertmanagers entries, in file order.
	Alertmanagers []*AlertmanagerConfig
}

// AlertmanagerConfig is one entry of alerting.alertmanagers: a set of
// Alertmanagers discovered alike and sent to alike.
type AlertmanagerConfig struct {
	HTTPConfig          `yaml:",inline"`
	Scheme              string            `yaml:"scheme,omitempty"`
	PathPrefix          string            `yaml:"path_prefix,omitempty"`
	Timeout             model.Duration    `yaml:"timeout,omitempty"`
	APIVersion          string            `yaml:"api_version,omitempty"`
	StaticConfigs       []TargetGroup     `yaml:"static_configs,omitempty"`
	FileSDConfigs       []FileSDConfig    `yaml:"file_sd_configs,omitempty"`
	RelabelConfigs      []*relabel.Config `yaml:"relabel_configs,omitempty"`
	AlertRelabelConfigs []*relabel.Config `yaml:"alert_relabel_configs,omitempty"`
}

// TargetGroup is a static_configs entry, or one entry of a file_sd file.
type TargetGroup struct {
	Targets []string          `yaml:"targets" json:"targets"`
	Labels  map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// FileSDConfig names files holding target groups, in JSON or YAML.
// They are read again every FileSDInterval; refresh_interval is
// accepted for compatibility and changes nothing.
type FileSDConfig struct {
	Files           []string       `yaml:"files"`
	RefreshInterval model.Duration `yaml:"refresh_interval,omitempty"`
}

// FileSDInterval is how often file_sd_configs files are read again:
// the same 5s as the scrape jobs' files.
const FileSDInterval = 5 * time.Second

// The defaults Prometheus gives an alertmanagers entry.
const (
	defaultAMScheme  = "http"
	defaultAMTimeout = 10 * time.Second
)

// alertingFile is the part of a prometheus.yml read here; the inline maps
// take the sections that belong to the scrape jobs and the rules.
type alertingFile struct {
	Global struct {
		ExternalLabels map[string]string `yaml:"external_labels"`
		Other          map[string]any    `yaml:",inline"`
	} `yaml:"global"`
	Alerting struct {
		AlertRelabelConfigs []*relabel.Config     `yaml:"alert_relabel_configs"`
		Alertmanagers       []*AlertmanagerConfig `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	Other map[string]any `yaml:",inline"`
}

// unsupportedSD are the service discoveries of Prometheus that Vigil
// does not run for Alertmanagers.
var unsupportedSD = regexp.MustCompile(`^\w+_sd_configs$`)

var yamlUnknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// LoadAlertingFile reads the alerting section of a prometheus.yml. An
// option Vigil does not support is an error naming it and its line.
func LoadAlertingFile(file string) (*AlertingConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the Prometheus config: %w", err)
	}
	c, err := ParseAlerting(data, filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c.File = file
	return c, nil
}

// ParseAlerting reads the alerting section of a prometheus.yml's
// contents; relative file paths are taken from dir.
func ParseAlerting(data []byte, dir string) (*AlertingConfig, error) {
	var f alertingFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, alertingYAMLError(err)
	}
	c := &AlertingConfig{AlertRelabelConfigs: f.Alerting.AlertRelabelConfigs, Alertmanagers: f.Alerting.Alertmanagers}
	b := labels.NewBuilder(labels.EmptyLabels())
	for k, v := range f.Global.ExternalLabels {
		b.Set(k, v)
	}
	c.ExternalLabels = b.Labels()

	var errs []error
	if err := validateRelabel(c.AlertRelabelConfigs); err != nil {
		errs = append(errs, fmt.Errorf("alerting.alert_relabel_configs: %w", err))
	}
	for i, am := range c.Alertmanagers {
		if am == nil {
			errs = append(errs, fmt.Errorf("alerting.alertmanagers[%d] is empty", i))
			continue
		}
		if err := am.validate(dir); err != nil {
			errs = append(errs, fmt.Errorf("alerting.alertmanagers[%d]: %w", i, err))
		}
	}
	return c, errors.Join(errs...)
}

// alertingYAMLError rewrites yaml.v2's unknown-field errors as options
// Vigil does not support, with their line.
func alertingYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var errs []error
	for _, msg := range te.Errors {
		m := yamlUnknownField.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, errors.New(msg))
			continue
		}
		line, field := m[1], m[2]
		switch {
		case unsupportedSD.MatchString(field):
			errs = append(errs, fmt.Errorf("line %s: %s is not supported for Alertmanagers: list them in static_configs, or in a file of file_sd_configs that something else keeps up to date", line, field))
		case m[3] == "notify.AlertmanagerConfig" || strings.HasPrefix(m[3], "struct"):
			errs = append(errs, fmt.Errorf("line %s: unsupported option %q in alerting.alertmanagers: Vigil sends with scheme, path_prefix, timeout, api_version, basic_auth, authorization, bearer_token, tls_config, proxy_url, follow_redirects and enable_http2; remove it", line, field))
		default:
			errs = append(errs, fmt.Errorf("line %s: unknown option %q", line, field))
		}
	}
	return errors.Join(errs...)
}

func validateRelabel(rcs []*relabel.Config) error {
	for i, rc := range rcs {
		if rc == nil {
			return fmt.Errorf("[%d] is empty", i)
		}
		if err := rc.Validate(model.UTF8Validation); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

// validate fills in Prometheus' defaults, makes relative file paths
// absolute against dir and checks everything that can be checked before
// sending.
func (am *AlertmanagerConfig) validate(dir string) error {
	if am.Scheme == "" {
		am.Scheme = defaultAMScheme
	}
	if am.Timeout == 0 {
		am.Timeout = model.Duration(defaultAMTimeout)
	}
	switch am.APIVersion {
	case "", "v2":
		am.APIVersion = "v2"
	case "v1":
		return errors.New("api_version v1: Alertmanager's API v1 is gone (Alertmanager 0.27, Prometheus 3); use v2")
	default:
		return fmt.Errorf("api_version %q: only v2 exists", am.APIVersion)
	}
	if am.Scheme != "http" && am.Scheme != "https" {
		return fmt.Errorf("scheme %q: must be http or https", am.Scheme)
	}
	if am.Timeout < 0 {
		return fmt.Errorf("timeout %s: must be greater than 0", am.Timeout)
	}
	am.HTTPConfig.resolvePaths(dir)
	if _, err := newHTTPClient(&am.HTTPConfig); err != nil {
		return err
	}
	if h := am.HTTPConfig; h.BasicAuth != nil && (h.Authorization != nil || h.BearerToken != "") || h.Authorization != nil && h.BearerToken != "" {
		return errors.New("give one of basic_auth, authorization and bearer_token")
	}
	if err := validateRelabel(am.RelabelConfigs); err != nil {
		return fmt.Errorf("relabel_configs: %w", err)
	}
	if err := validateRelabel(am.AlertRelabelConfigs); err != nil {
		return fmt.Errorf("alert_relabel_configs: %w", err)
	}
	if len(am.StaticConfigs)+len(am.FileSDConfigs) == 0 {
		return errors.New("no Alertmanager given: add static_configs or file_sd_configs")
	}
	if len(am.RelabelConfigs) == 0 { // relabeling may turn a URL into an address
		for _, tg := range am.StaticConfigs {
			if err := checkTargets(tg); err != nil {
				return fmt.Errorf("static_configs: %w", err)
			}
		}
	}
	for i := range am.FileSDConfigs {
		sd := &am.FileSDConfigs[i]
		if len(sd.Files) == 0 {
			return fmt.Errorf("file_sd_configs[%d]: no files given", i)
		}
		for j, f := range sd.Files {
			if !filepath.IsAbs(f) {
				sd.Files[j] = filepath.Join(dir, f)
			}
			if _, err := filepath.Match(sd.Files[j], ""); err != nil {
				return fmt.Errorf("file_sd_configs[%d]: %q is not a valid glob: %w", i, f, err)
			}
		}
	}
	return nil
}

// checkTargets refuses what Prometheus refuses: a target must be
// host:port, not a URL.
func checkTargets(tg TargetGroup) error {
	for _, t := range tg.Targets {
		if t == "" || strings.Contains(t, "/") {
			return fmt.Errorf("%q is not host:port; give the scheme in scheme and the path in path_prefix", t)
		}
	}
	return nil
}

// resolvePaths makes the relative *_file paths of h absolute against dir,
// as Prometheus takes them from the config file's folder.
func (h *HTTPConfig) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if h.BasicAuth != nil {
		abs(&h.BasicAuth.PasswordFile)
	}
	if h.Authorization != nil {
		abs(&h.Authorization.CredentialsFile)
	}
	if t := h.TLSConfig; t != nil {
		abs(&t.CAFile)
		abs(&t.CertFile)
		abs(&t.KeyFile)
	}
}

// discoveredAM is one Alertmanager of a set, after relabeling.
type discoveredAM struct {
	url    string
	labels labels.Labels // before relabeling, for the dropped ones
}

// alertsPath is where an Alertmanager takes alerts: the path prefix and
// /api/v2/alerts.
func (am *AlertmanagerConfig) alertsPath() string {
	return path.Join("/", am.PathPrefix, "/api/"+am.APIVersion+"/alerts")
}

// targetGroups returns the static groups and those of the file_sd files
// as they are now. A file that cannot be read or parsed is an error, and
// its groups are those it had when last read well (kept in lastGood, by
// file, which targetGroups updates), as Prometheus' file discovery keeps
// them, so that a file caught half written does not stop forwarding.
func (am *AlertmanagerConfig) targetGroups(lastGood map[string][]TargetGroup) ([]TargetGroup, error) {
	groups := slices.Clone(am.StaticConfigs)
	var errs []error
	seen := map[string]bool{}
	for _, sd := range am.FileSDConfigs {
		for _, pattern := range sd.Files {
			files, _ := filepath.Glob(pattern) // validated
			for _, f := range files {
				seen[f] = true
				tgs, err := readTargetFile(f)
				if err != nil {
					errs = append(errs, err)
					tgs = lastGood[f]
				} else {
					lastGood[f] = tgs
				}
				groups = append(groups, tgs...)
			}
		}
	}
	for f := range lastGood {
		if !seen[f] { // the file is gone, and its Alertmanagers with it
			delete(lastGood, f)
		}
	}
	return groups, errors.Join(errs...)
}

// readTargetFile reads a file_sd file: a list of target groups in JSON
// (.json) or YAML (.yml, .yaml). Each group gets __meta_filepath, as in
// Prometheus.
func readTargetFile(file string) ([]TargetGroup, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("file_sd: %w", err)
	}
	var tgs []TargetGroup
	switch ext := filepath.Ext(file); ext {
	case ".json":
		err = json.Unmarshal(data, &tgs)
	case ".yml", ".yaml":
		err = yaml.UnmarshalStrict(data, &tgs)
	default:
		return nil, fmt.Errorf("file_sd: %s: the file name must end in .json, .yml or .yaml", file)
	}
	if err != nil {
		return nil, fmt.Errorf("file_sd: %s: %w", file, err)
	}
	for i := range tgs {
		if tgs[i].Labels == nil {
			tgs[i].Labels = map[string]string{}
		}
		tgs[i].Labels["__meta_filepath"] = file
		if err := checkTargets(tgs[i]); err != nil {
			return nil, fmt.Errorf("file_sd: %s: %w", file, err)
		}
	}
	return tgs, nil
}

// discover turns target groups into Alertmanager URLs as Prometheus'
// notifier does: each target's labels are the group's labels, __address__,
// __scheme__ and __alerts_path__; relabel_configs may rewrite or drop
// them. Active URLs are deduplicated.
func (am *AlertmanagerConfig) discover(groups []TargetGroup) (active, dropped []discoveredAM) {
	seen := map[string]bool{}
	b := labels.NewBuilder(labels.EmptyLabels())
	for _, tg := range groups {
		for _, t := range tg.Targets {
			b.Reset(labels.EmptyLabels())
			for k, v := range tg.Labels {
				b.Set(k, v)
			}
			b.Set(model.AddressLabel, t)
			b.Set(model.SchemeLabel, am.Scheme)
			b.Set("__alerts_path__", am.alertsPath())
			before := b.Labels()
			if !relabel.ProcessBuilder(b, am.RelabelConfigs...) {
				dropped = append(dropped, discoveredAM{url: amURL(before), labels: before})
				continue
			}
			after := b.Labels()
			if addr := after.Get(model.AddressLabel); addr == "" || strings.Contains(addr, "/") {
				dropped = append(dropped, discoveredAM{url: amURL(before), labels: before})
				continue
			}
			u := amURL(after)
			if !seen[u] {
				seen[u] = true
				active = append(active, discoveredAM{url: u, labels: after})
			}
		}
	}
	return active, dropped
}

func amURL(ls labels.Labels) string {
	return (&url.URL{Scheme: ls.Get(model.SchemeLabel), Host: ls.Get(model.AddressLabel), Path: ls.Get("__alerts_path__")}).String()
}
