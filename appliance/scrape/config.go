package scrape

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/flagutil"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promrelabel"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promscrape"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/promutil"
	"gopkg.in/yaml.v2"

	"github.com/vigil-monitoring/vigil/appliance/remotewrite"
)

// PrometheusConfig is what Vigil takes from a prometheus.yml: the scrape
// jobs (run by this package) and the sections other capabilities use
// later. Build it with LoadPrometheusConfig.
type PrometheusConfig struct {
	// File is the path the configuration was read from.
	File string
	// Global holds the global section's settings that are Vigil's rather
	// than the scraper's.
	Global Global
	// RuleFiles are the rule_files entries, relative ones made absolute
	// against the file's directory; globs are kept as written.
	RuleFiles []string
	// RemoteWrite are the remote_write entries, parsed strictly; the
	// remote write capability checks and runs them. Relative paths in
	// them are relative to File's directory.
	RemoteWrite []remotewrite.Config
	// Alerting is the alerting section as YAML, kept for the notification
	// capability; nil when absent.
	Alerting []byte
	// JobNames are the job_name of every scrape config, in file order.
	JobNames []string

	// jobs are the scrape_configs as parsed YAML, rewritten for
	// lib/promscrape (absolute paths, Prometheus' defaults made explicit).
	jobs []yaml.MapSlice
	// libGlobal is the global section as lib/promscrape reads it.
	libGlobal yaml.MapSlice
	// globalInterval is global.scrape_interval, 0 when not set.
	globalInterval time.Duration
}

// Global is the part of prometheus.yml's global section that is not the
// scraper's own.
type Global struct {
	EvaluationInterval time.Duration // 0 when not set
	// ExternalLabels are added to what leaves Vigil (remote write,
	// federation, alerts), as in Prometheus; they are not added to the
	// samples Vigil stores.
	ExternalLabels map[string]string
}

// fileConfig is a prometheus.yml as Vigil parses it strictly: every key
// lib/promscrape knows plus Vigil's own. An unknown key is an error that
// names it.
type fileConfig struct {
	Global            globalConfig               `yaml:"global"`
	ScrapeConfigs     []*promscrape.ScrapeConfig `yaml:"scrape_configs"`
	ScrapeConfigFiles []string                   `yaml:"scrape_config_files"`
	RuleFiles         []string                   `yaml:"rule_files"`
	RemoteWrite       []remotewrite.Config       `yaml:"remote_write"`
	Alerting          yaml.MapSlice              `yaml:"alerting"`
}

type globalConfig struct {
	promscrape.GlobalConfig `yaml:",inline"`
	EvaluationInterval      *promutil.Duration `yaml:"evaluation_interval"`
}

// ignoredUnknown are the Prometheus options lib/promscrape does not parse
// that Vigil accepts anyway, because it already does what they ask:
// file_sd_configs' refresh_interval (files are re-read every
// Options.FileSDCheckInterval, which is shorter than Prometheus' default
// of 5m).
var ignoredUnknown = map[string]string{
	"refresh_interval": "promscrape.FileSDConfig",
}

// lineMessage is how yaml.v2 reports a value it cannot take.
var lineMessage = regexp.MustCompile(`^line (\d+): (.*)$`)

// unknownField is how yaml.v2 reports a key UnmarshalStrict does not know.
var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// sectionOfType names, for an error message, where a yaml.v2 type sits in
// prometheus.yml; the discoveries' types (kubernetes.SDConfig, ...) are
// named after their sections by unsupported.
var sectionOfType = map[string]string{
	"scrape.fileConfig":             "at the top level",
	"scrape.globalConfig":           "in global",
	"promscrape.ScrapeConfig":       "in a scrape config",
	"promscrape.FileSDConfig":       "in file_sd_configs",
	"promscrape.StaticConfig":       "in static_configs",
	"promrelabel.RelabelConfig":     "in a relabel config",
	"promauth.TLSConfig":            "in tls_config",
	"promauth.BasicAuthConfig":      "in basic_auth",
	"promauth.Authorization":        "in authorization",
	"promauth.OAuth2Config":         "in oauth2",
	"promscrape.scrapeConfigTarget": "in a scrape config",
	"remotewrite.Config":            "in a remote_write entry",
	"remotewrite.QueueConfig":       "in queue_config",
	"remotewrite.MetadataConfig":    "in metadata_config",
}

// unsupported says why the option field of the yaml.v2 type typ is not
// accepted, and what to do.
func unsupported(field, typ string) string {
	where := sectionOfType[typ]
	sdKind, isSD := strings.CutSuffix(typ, ".SDConfig")
	if isSD {
		where = "in " + sdKind + "_sd_configs"
	}
	if where == "" {
		where = "in " + typ
	}
	switch {
	case isSD && field == "refresh_interval":
		// The discoveries re-read their sources at intervals that are
		// process-wide flags of the library.
		every := "at its own interval"
		if f := flag.Lookup("promscrape." + sdKind + "SDCheckInterval"); f != nil {
			every = "every " + f.Value.String()
		}
		return fmt.Sprintf("unsupported option %q %s: Vigil's scraper re-reads %s_sd_configs %s, whatever a job says; remove it", field, where, sdKind, every)
	case strings.HasPrefix(typ, "remotewrite."):
		return fmt.Sprintf("unsupported option %q %s: Vigil's remote write does not implement it; remove it", field, where)
	case field == "vultr_sd_configs":
		return fmt.Sprintf("unsupported option %q %s: Vigil's scraper (VictoriaMetrics lib/promscrape) reads the same settings under vultr_configs; rename it", field, where)
	}
	return fmt.Sprintf("unsupported option %q %s: Vigil's scraper (VictoriaMetrics lib/promscrape) does not implement it; remove it", field, where)
}

// LoadPrometheusConfig reads and checks a prometheus.yml. Every problem is
// reported with the file, the line where yaml gives one, and what to do;
// options Vigil does not support are errors that name them.
func LoadPrometheusConfig(path string) (*PrometheusConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the Prometheus config: %w", err)
	}
	return parsePrometheusConfig(data, path)
}

// Source is where a Scraper's scrape configuration comes from: a
// prometheus.yml, or the prometheus: section of Vigil's own config file,
// which holds the same keys. The zero Source has none: only the
// self-scrape runs.
type Source struct {
	// File is a prometheus.yml.
	File string
	// Section, when File is empty, is the prometheus: section of the
	// config file In as a document of its own, at In's own lines (the
	// others blank), so that errors name In's lines; Line is the line of
	// its key.
	Section []byte
	In      string
	Line    int
}

// Load reads and checks the configuration src names, nil for none. Errors
// name the file and, where yaml gives one, its line.
func (src Source) Load() (*PrometheusConfig, error) {
	switch {
	case src.File != "":
		return LoadPrometheusConfig(src.File)
	case len(src.Section) > 0:
		pc, err := parsePrometheusConfig(src.Section, src.In)
		if err != nil {
			return nil, fmt.Errorf("the prometheus section (line %d): %w", src.Line, err)
		}
		return pc, nil
	}
	return nil, nil
}

// parsePrometheusConfig checks data, read from path. Relative paths in it
// are relative to path's directory.
func parsePrometheusConfig(data []byte, path string) (*PrometheusConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	baseDir := filepath.Dir(abs)
	name := filepath.Base(path)

	var fc fileConfig
	if err := yaml.UnmarshalStrict(data, &fc); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var errs []error
		for _, msg := range te.Errors {
			m := unknownField.FindStringSubmatch(msg)
			if m == nil {
				if lm := lineMessage.FindStringSubmatch(msg); lm != nil {
					errs = append(errs, fmt.Errorf("%s:%s: %s", name, lm[1], lm[2]))
				} else {
					errs = append(errs, fmt.Errorf("%s: %s", name, msg))
				}
				continue
			}
			line, field, typ := m[1], m[2], m[3]
			if ignoredUnknown[field] == typ {
				continue
			}
			errs = append(errs, fmt.Errorf("%s:%s: %s", name, line, unsupported(field, typ)))
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
		}
	}
	if len(fc.ScrapeConfigFiles) > 0 {
		return nil, fmt.Errorf("%s: unsupported option \"scrape_config_files\": list the jobs under scrape_configs instead", path)
	}

	pc := &PrometheusConfig{File: path}
	pc.Global.EvaluationInterval = fc.Global.EvaluationInterval.Duration()
	if fc.Global.ExternalLabels != nil {
		pc.Global.ExternalLabels = fc.Global.ExternalLabels.ToMap()
	}
	pc.globalInterval = fc.Global.ScrapeInterval.Duration()
	for _, f := range fc.RuleFiles {
		pc.RuleFiles = append(pc.RuleFiles, absPath(baseDir, f))
	}
	pc.RemoteWrite = fc.RemoteWrite
	if err := remotewrite.Check([]remotewrite.Source{{File: name, BaseDir: baseDir, Entries: fc.RemoteWrite}}, pc.Global.ExternalLabels); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fc.Alerting != nil {
		if pc.Alerting, err = yaml.Marshal(fc.Alerting); err != nil {
			return nil, err
		}
	}

	var errs []error
	for i, sc := range fc.ScrapeConfigs {
		if err := checkScrapeConfig(sc, &fc.Global.GlobalConfig, baseDir); err != nil {
			errs = append(errs, fmt.Errorf("scrape_configs[%d] (job_name %q): %w", i, sc.JobName, err))
			continue
		}
		if slices.Contains(pc.JobNames, sc.JobName) {
			errs = append(errs, fmt.Errorf("scrape_configs[%d]: job_name %q is used twice; job names must be unique", i, sc.JobName))
			continue
		}
		pc.JobNames = append(pc.JobNames, sc.JobName)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}

	// The checks passed on the typed form; what lib/promscrape gets is the
	// generic form, so that nothing (secrets included) is lost in a
	// round trip through its types.
	var raw struct {
		Global        yaml.MapSlice   `yaml:"global"`
		ScrapeConfigs []yaml.MapSlice `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, it := range raw.Global {
		switch it.Key {
		case "evaluation_interval", "external_labels":
		default:
			pc.libGlobal = append(pc.libGlobal, it)
		}
	}
	for _, job := range raw.ScrapeConfigs {
		job = absPaths(job, baseDir).(yaml.MapSlice)
		if lookup(job, "honor_timestamps") == nil {
			// Prometheus' default; lib/promscrape's is false.
			job = append(job, yaml.MapItem{Key: "honor_timestamps", Value: true})
		}
		pc.jobs = append(pc.jobs, job)
	}
	return pc, nil
}

// checkScrapeConfig makes the checks lib/promscrape makes when it loads a
// scrape config. It only logs the ones that fail and skips the job, which
// would be a job silently not scraped.
func checkScrapeConfig(sc *promscrape.ScrapeConfig, g *promscrape.GlobalConfig, baseDir string) error {
	if sc.JobName == "" {
		return errors.New("job_name is missing")
	}
	// As in Prometheus, a timeout written in the job may not exceed the
	// interval; one inherited is cut to it.
	interval := cmpDuration(sc.ScrapeInterval.Duration(), g.ScrapeInterval.Duration(), time.Minute)
	if timeout := sc.ScrapeTimeout.Duration(); timeout > interval {
		return fmt.Errorf("scrape_timeout %s is greater than scrape_interval %s; make it at most the interval", timeout, interval)
	}
	if sc.MaxScrapeSize != "" {
		if _, err := flagutil.ParseBytes(sc.MaxScrapeSize); err != nil {
			return fmt.Errorf("max_scrape_size %q: %w", sc.MaxScrapeSize, err)
		}
	}
	if sc.StreamParse {
		return errors.New("stream_parse: Vigil parses each response whole, so that a malformed line fails the scrape as in Prometheus; remove it")
	}
	switch strings.ToLower(sc.Scheme) {
	case "", "http", "https":
	default:
		return fmt.Errorf("scheme %q: must be http or https", sc.Scheme)
	}
	if _, err := sc.HTTPClientConfig.NewConfig(baseDir); err != nil {
		return fmt.Errorf("HTTP client options: %w", err)
	}
	if _, err := sc.ProxyClientConfig.NewConfig(baseDir); err != nil {
		return fmt.Errorf("proxy options: %w", err)
	}
	if _, err := promrelabel.ParseRelabelConfigs(append(slices.Clone(g.RelabelConfigs), sc.RelabelConfigs...)); err != nil {
		return fmt.Errorf("relabel_configs: %w", err)
	}
	if _, err := promrelabel.ParseRelabelConfigs(append(slices.Clone(g.MetricRelabelConfigs), sc.MetricRelabelConfigs...)); err != nil {
		return fmt.Errorf("metric_relabel_configs: %w", err)
	}
	return nil
}

// cmpDuration returns the first positive duration.
func cmpDuration(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// lookup returns the value of key in m, or nil.
func lookup(m yaml.MapSlice, key string) any {
	for _, it := range m {
		if it.Key == key {
			return it.Value
		}
	}
	return nil
}

// absPaths rewrites, in a parsed scrape config, every file path relative to
// baseDir into an absolute one: the values of keys ending in "_file" and
// file_sd_configs' files. lib/promscrape resolves relative paths against
// the directory of the file it reads, which is Vigil's generated copy, not
// the user's prometheus.yml.
func absPaths(v any, baseDir string) any {
	switch v := v.(type) {
	case yaml.MapSlice:
		out := make(yaml.MapSlice, 0, len(v))
		for _, it := range v {
			key, _ := it.Key.(string)
			switch {
			case strings.HasSuffix(key, "_file"):
				if s, ok := it.Value.(string); ok {
					it.Value = absPath(baseDir, s)
				}
			case key == "file_sd_configs":
				if list, ok := it.Value.([]any); ok {
					for i, sd := range list {
						if m, ok := sd.(yaml.MapSlice); ok {
							list[i] = fileSD(m, baseDir)
						}
					}
				}
			default:
				it.Value = absPaths(it.Value, baseDir)
			}
			out = append(out, it)
		}
		return out
	case []any:
		for i := range v {
			v[i] = absPaths(v[i], baseDir)
		}
		return v
	}
	return v
}

// fileSD makes a file_sd_configs entry's files absolute and drops its
// refresh_interval (see ignoredUnknown).
func fileSD(m yaml.MapSlice, baseDir string) yaml.MapSlice {
	out := yaml.MapSlice{}
	for _, it := range m {
		switch it.Key {
		case "refresh_interval":
			continue
		case "files":
			if list, ok := it.Value.([]any); ok {
				for i, f := range list {
					if s, ok := f.(string); ok {
						list[i] = absPath(baseDir, s)
					}
				}
			}
		}
		out = append(out, it)
	}
	return out
}

func absPath(baseDir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(baseDir, p)
}
