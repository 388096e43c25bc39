package appliance

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-monitoring/vigil/internal/readable"
	"github.com/vigil-monitoring/vigil/rules/notify"
)

// DefaultListen is Vigil's HTTP port. It is not taken by the stack Vigil
// replaces or sits next to: Prometheus 9090, Pushgateway 9091, Alertmanager
// 9093, node_exporter 9100, Grafana 3000 and VictoriaMetrics 8428.
const DefaultListen = ":9595"

// Config is Vigil's configuration. Every command-line flag has a key in
// the --config file: the flag's name with its dots as nesting levels and
// its dashes as underscores (--query.max-samples is query: max_samples:).
// Flags given on the command line win over the file. Relative paths in the
// file are relative to the file's directory; on the command line, to the
// working directory.
type Config struct {
	// ConfigFile is the --config file the rest was read from, if any.
	ConfigFile string `yaml:"-"`

	Listen    string   `yaml:"listen"`
	DataDir   string   `yaml:"data_dir"`
	Retention Duration `yaml:"retention"`

	Files FilesConfig `yaml:"config"`
	// Alertmanager is the alertmanager.yml written inline, in place of
	// --config.alertmanager.
	Alertmanager AlertmanagerSection `yaml:"alertmanager,omitempty"`
	// Prometheus is the prometheus.yml written inline, in place of
	// --config.prometheus.
	Prometheus PrometheusSection `yaml:"prometheus,omitempty"`

	Auth              AuthMode `yaml:"auth"`
	AdminPasswordFile string   `yaml:"admin_password_file"`
	Demo              bool     `yaml:"demo"`
	// DemoBackfill is how much history --demo writes at its first start.
	DemoBackfill Duration `yaml:"demo_backfill"`

	Query       QueryConfig       `yaml:"query"`
	Pushgateway PushgatewayConfig `yaml:"pushgateway"`
	Limits      LimitsConfig      `yaml:"limits"`
	Web         WebConfig         `yaml:"web"`
	Memory      MemoryConfig      `yaml:"memory"`
	Backup      BackupConfig      `yaml:"backup"`
	Rules       RulesConfig       `yaml:"rules"`
	Alerting    AlertingConfig    `yaml:"alerting"`
	Jobs        JobsConfig        `yaml:"jobs"`
	Events      EventsConfig      `yaml:"events"`
	Dashboards  DashboardsConfig  `yaml:"dashboards"`

	// EnableFeature lists Prometheus feature names (--enable-feature).
	EnableFeature []string `yaml:"enable_feature,flow"`

	Log LogConfig `yaml:"log"`

	// args are the command-line arguments the configuration came from, so
	// that Reload can re-read the file and let the same flags win again.
	args []string
}

// FilesConfig names the existing Prometheus and Alertmanager files that
// Vigil takes its scrape, rule and routing configuration from.
type FilesConfig struct {
	Prometheus   string `yaml:"prometheus"`
	Alertmanager string `yaml:"alertmanager"`
}

// QueryConfig bounds PromQL queries.
type QueryConfig struct {
	Timeout          Duration `yaml:"timeout"`
	MaxSamples       int      `yaml:"max_samples"`
	MaxSeries        int      `yaml:"max_series"`
	LookbackDelta    Duration `yaml:"lookback_delta"`
	SlowLogThreshold Duration `yaml:"slow_log_threshold"`
	MaxConcurrency   int      `yaml:"max_concurrency"`
}

// PushgatewayConfig configures the groups pushed to /metrics/job/....
type PushgatewayConfig struct {
	// Interval is how often the pushed values are written again, so that
	// they stay visible as a Pushgateway scraped by Prometheus would keep
	// them.
	Interval Duration `yaml:"interval"`
	// GroupTTL removes a group nothing was pushed to for this long; 0
	// keeps groups until they are deleted, as the Pushgateway does.
	GroupTTL Duration `yaml:"group_ttl"`
}

// LimitsConfig bounds ingestion. Zero turns a limit off.
type LimitsConfig struct {
	// MaxSamplesPerRequest bounds one remote write or import request;
	// a larger one is refused whole (400).
	MaxSamplesPerRequest int `yaml:"max_samples_per_request"`
	// MaxSeries bounds the distinct series written in the last hour or
	// two; new series past it are refused, existing ones keep flowing.
	MaxSeries int `yaml:"max_series"`
	// MaxSeriesPerMetric does the same per metric name.
	MaxSeriesPerMetric int `yaml:"max_series_per_metric"`
}

// The default ingestion limits: generous for one node, finite so that a
// runaway client (a label holding request IDs) is stopped before it takes
// the appliance's memory. Prometheus sends 2,000 samples per remote write
// request by default; VictoriaMetrics needs roughly 1 KiB of memory per
// active series, so 5 million series are already a large machine; and a
// metric with more than 200,000 series can hardly be queried as a whole
// within --query.max-samples.
const (
	DefaultMaxSamplesPerRequest = 1_000_000
	DefaultMaxSeries            = 5_000_000
	DefaultMaxSeriesPerMetric   = 200_000
)

// WebConfig configures the HTTP server.
type WebConfig struct {
	MaxRequestBytes Bytes `yaml:"max_request_bytes"`

	// TLSCertFile and TLSKeyFile, both set, make Vigil serve HTTPS (and
	// HTTP/2) with that PEM certificate and key; it takes them again when
	// the files change.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`

	// ExternalURL is where users reach Vigil (behind a proxy, under a
	// name), for the links Vigil makes; empty means the listen address.
	ExternalURL string `yaml:"external_url"`
}

// BackupConfig is the backup job: a backup of the running Vigil into a
// new directory of Dir on Schedule, keeping the Keep newest.
type BackupConfig struct {
	// Dir holds the scheduled backups; empty turns the job off.
	Dir string `yaml:"dir"`
	// Schedule is a cron spec ("0 3 * * *", @daily, @every 6h).
	Schedule string `yaml:"schedule"`
	// Keep is how many scheduled backups are kept; older ones are removed.
	Keep int `yaml:"keep"`
}

// MemoryConfig bounds the storage caches.
type MemoryConfig struct {
	// AllowedBytes caps the storage caches; 0 sizes them automatically.
	AllowedBytes Bytes `yaml:"allowed_bytes"`
}

// LogConfig configures Vigil's log (standard error).
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// AuthMode says whether the HTTP endpoints require authentication.
type AuthMode string

// The authentication modes.
const (
	AuthOn   AuthMode = "on"
	AuthNone AuthMode = "none"
)

// The log levels and formats.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"logfmt", "json"}
)

// minRetention is the shortest retention the storage supports: it keeps
// and drops whole days.
const minRetention = 24 * time.Hour

// DefaultConfig returns the configuration Vigil runs with when given no
// flags and no file.
func DefaultConfig() Config {
	return Config{
		Listen:       DefaultListen,
		DataDir:      "./vigil-data",
		Retention:    Duration(30 * 24 * time.Hour),
		Auth:         AuthOn,
		DemoBackfill: Duration(defaultDemoBackfill),
		Pushgateway: PushgatewayConfig{
			Interval: Duration(15 * time.Second),
		},
		Query: QueryConfig{
			Timeout:          Duration(2 * time.Minute),
			MaxSamples:       50_000_000,
			MaxSeries:        1_000_000,
			LookbackDelta:    Duration(5 * time.Minute),
			SlowLogThreshold: Duration(5 * time.Second),
			MaxConcurrency:   20,
		},
		Limits: LimitsConfig{
			MaxSamplesPerRequest: DefaultMaxSamplesPerRequest,
			MaxSeries:            DefaultMaxSeries,
			MaxSeriesPerMetric:   DefaultMaxSeriesPerMetric,
		},
		Web:    WebConfig{MaxRequestBytes: 64 << 20},
		Memory: MemoryConfig{AllowedBytes: 0},
		Backup: BackupConfig{Schedule: "@daily", Keep: 7},
		Rules:  defaultRulesConfig(),
		Alerting: AlertingConfig{
			ResendDelay:   Duration(notify.DefaultResendDelay),
			QueueCapacity: notify.DefaultQueueCapacity,
		},
		Jobs: defaultJobsConfig(),
		Log:  LogConfig{Level: "info", Format: "logfmt"},
	}
}

// Validate reports every setting that Vigil cannot run with, each naming
// its flag, the value and what to do. Unknown --enable-feature names are
// not errors (as in Prometheus); Features reports them.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag string, value any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s=%v: %s", flag, value, fmt.Sprintf(format, args...)))
	}
	// badKey is bad for the settings that only the config file has.
	badKey := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("listen", quoteIfEmpty(c.Listen), "not a listen address; write it as HOST:PORT, or :PORT for every interface (e.g. %s)", DefaultListen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("listen", c.Listen, "%q is not a port number (0-65535)", port)
	}

	if strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir", `""`, "the data directory must not be empty; pass --data-dir=DIR")
	}
	if c.DemoBackfill < 0 {
		bad("demo-backfill", c.DemoBackfill, "must be 0 (no history) or greater, e.g. 24h")
	}
	if c.Retention.Std() < minRetention {
		bad("retention", c.Retention, "the minimum retention is 1d (the storage keeps and drops whole days)")
	}

	switch c.Auth {
	case AuthOn, AuthNone:
	default:
		bad("auth", quoteIfEmpty(string(c.Auth)), "must be on or none")
	}
	checkReadable := func(flag, path string) {
		if path == "" {
			return
		}
		if err := readable.File(path); err != nil {
			bad(flag, path, "%v", err)
		}
	}
	checkReadable("config.prometheus", c.Files.Prometheus)
	checkReadable("config.alertmanager", c.Files.Alertmanager)
	checkReadable("admin-password-file", c.AdminPasswordFile)

	positiveDuration := func(flag string, d Duration) {
		if d <= 0 {
			bad(flag, d, "must be greater than 0")
		}
	}
	positiveInt := func(flag string, n int) {
		if n <= 0 {
			bad(flag, n, "must be greater than 0")
		}
	}
	positiveDuration("query.timeout", c.Query.Timeout)
	positiveInt("query.max-samples", c.Query.MaxSamples)
	positiveInt("query.max-series", c.Query.MaxSeries)
	positiveDuration("query.lookback-delta", c.Query.LookbackDelta)
	if c.Query.SlowLogThreshold < 0 {
		bad("query.slow-log-threshold", c.Query.SlowLogThreshold, "must be 0 (off) or greater")
	}
	positiveInt("query.max-concurrency", c.Query.MaxConcurrency)
	if c.Pushgateway.Interval < Duration(time.Second) {
		bad("pushgateway.interval", c.Pushgateway.Interval, "must be at least 1s")
	}
	if c.Pushgateway.GroupTTL < 0 {
		bad("pushgateway.group-ttl", c.Pushgateway.GroupTTL, "must be 0 (keep groups) or greater")
	}
	nonNegativeInt := func(flag string, n int) {
		if n < 0 {
			bad(flag, n, "must be 0 (no limit) or greater")
		}
	}
	nonNegativeInt("limits.max-samples-per-request", c.Limits.MaxSamplesPerRequest)
	nonNegativeInt("limits.max-series", c.Limits.MaxSeries)
	nonNegativeInt("limits.max-series-per-metric", c.Limits.MaxSeriesPerMetric)
	if c.Web.MaxRequestBytes <= 0 {
		bad("web.max-request-bytes", c.Web.MaxRequestBytes, "must be greater than 0, e.g. 64MiB")
	}
	if c.Memory.AllowedBytes < 0 {
		bad("memory.allowed-bytes", c.Memory.AllowedBytes, "must be 0 (automatic) or a size such as 2GiB")
	} else if c.Memory.AllowedBytes > 0 && c.Memory.AllowedBytes < 64<<20 {
		bad("memory.allowed-bytes", c.Memory.AllowedBytes, "is too small for the storage caches; give at least 64MiB, or 0 for automatic")
	}
	c.validateTLS(bad, checkReadable)
	c.validateBackup(bad)
	c.Rules.validate(bad)
	c.Alerting.validate(bad)
	c.Jobs.validate(bad, badKey)
	c.Events.validate(badKey)
	c.Dashboards.validate(bad)

	if !slices.Contains(logLevels, c.Log.Level) {
		bad("log.level", quoteIfEmpty(c.Log.Level), "must be one of %s", strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		bad("log.format", quoteIfEmpty(c.Log.Format), "must be one of %s", strings.Join(logFormats, ", "))
	}
	return errors.Join(errs...)
}

func quoteIfEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
