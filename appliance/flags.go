package appliance

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// FlagGroup is a titled group of flags, in the order --help shows them.
type FlagGroup struct {
	Title string
	Flags []FlagDoc
}

// FlagDoc names a flag and the placeholder of its value for --help, as in
// --listen=ADDR. Arg is empty for boolean flags. The usage text and the
// default are the flag's own (flag.Flag.Usage and DefValue).
type FlagDoc struct {
	Name string
	Arg  string
}

// BindFlags defines Vigil's flags on fs, bound to c's fields: parsing fs
// overwrites exactly the settings given on the command line, and the
// defaults --help shows are c's current values. It returns the flags in
// groups for --help.
func BindFlags(fs *flag.FlagSet, c *Config) []FlagGroup {
	var groups []FlagGroup
	group := func(title string) { groups = append(groups, FlagGroup{Title: title}) }
	def := func(name, arg, usage string, v flag.Value) {
		fs.Var(v, name, usage)
		g := &groups[len(groups)-1]
		g.Flags = append(g.Flags, FlagDoc{Name: name, Arg: arg})
	}
	str := func(p *string) flag.Value { return stringFlag[string]{p} }

	group("Server")
	def("listen", "ADDR", "HTTP listen address: HOST:PORT, or :PORT for every interface", str(&c.Listen))
	def("data-dir", "DIR", "directory for the samples and Vigil's state", str(&c.DataDir))
	def("retention", "DURATION", "how long samples are kept, e.g. 30d, 2w, 1y or 720h; at least 1d", durationFlag{&c.Retention})
	def("demo", "", "also run a simulated Panic platform that feeds every dashboard and alert", boolFlag{&c.Demo})
	def("demo-backfill", "DURATION", "how much history --demo writes at its first start", durationFlag{&c.DemoBackfill})

	group("Security")
	def("auth", "on|none", "require authentication on every endpoint; none leaves them open", stringFlag[AuthMode]{&c.Auth})
	def("admin-password-file", "FILE", "set the password of the first admin user, admin, from FILE (automation, tests)", str(&c.AdminPasswordFile))
	def("web.tls-cert-file", "FILE", "serve HTTPS and HTTP/2 with this PEM certificate (and its chain); it is reloaded when the file changes", str(&c.Web.TLSCertFile))
	def("web.tls-key-file", "FILE", "the PEM private key of --web.tls-cert-file", str(&c.Web.TLSKeyFile))
	def("web.external-url", "URL", "the URL users reach Vigil at (behind a proxy, under a name), for the links Vigil makes, e.g. https://vigil.example.com", str(&c.Web.ExternalURL))

	group("Configuration")
	def("config", "FILE", "Vigil's own YAML config; every flag has a key there, and flags given on the command line win", str(&c.ConfigFile))
	def("config.prometheus", "FILE", "a prometheus.yml to take global, scrape_configs, rule_files and remote_write from", str(&c.Files.Prometheus))
	def("config.alertmanager", "FILE", "an alertmanager.yml to take routes, receivers and inhibit_rules from", str(&c.Files.Alertmanager))

	group("Queries")
	def("query.timeout", "DURATION", "longest time a query may run", durationFlag{&c.Query.Timeout})
	def("query.max-samples", "N", "most samples a query may hold in memory at once", intFlag{&c.Query.MaxSamples})
	def("query.max-series", "N", "most series a single selector may match", intFlag{&c.Query.MaxSeries})
	def("query.lookback-delta", "DURATION", "how far back a query looks for the latest sample of a series", durationFlag{&c.Query.LookbackDelta})
	def("query.slow-log-threshold", "DURATION", "log queries that take longer; 0 turns the log off", durationFlag{&c.Query.SlowLogThreshold})
	def("query.max-concurrency", "N", "most queries evaluated at once; the others wait", intFlag{&c.Query.MaxConcurrency})
	def("enable-feature", "NAME,...", "enable Prometheus feature flags ("+strings.Join(FeatureNames(), ", ")+"); repeatable", &listFlag{p: &c.EnableFeature})

	group("Pushgateway API")
	def("pushgateway.interval", "DURATION", "how often pushed groups are written again so that they stay visible", durationFlag{&c.Pushgateway.Interval})
	def("pushgateway.group-ttl", "DURATION", "forget a pushed group after this long without a push; 0 keeps it until deleted", durationFlag{&c.Pushgateway.GroupTTL})

	group("Ingestion limits (0 turns a limit off)")
	def("limits.max-samples-per-request", "N", "most samples in one remote write or import request; a larger request is refused whole", intFlag{&c.Limits.MaxSamplesPerRequest})
	def("limits.max-series", "N", "most series written in the last hour or two; new series past it are refused, existing ones keep flowing", intFlag{&c.Limits.MaxSeries})
	def("limits.max-series-per-metric", "N", "most series of one metric name written in the last hour or two, refused as with --limits.max-series", intFlag{&c.Limits.MaxSeriesPerMetric})

	group("Resources")
	def("web.max-request-bytes", "SIZE", "largest HTTP request body accepted, e.g. 64MiB", bytesFlag{&c.Web.MaxRequestBytes})
	def("memory.allowed-bytes", "SIZE", "memory for the storage caches, e.g. 2GiB; 0 means a quarter of the machine's memory, at most 1GiB", bytesFlag{&c.Memory.AllowedBytes})

	group("Scheduled jobs (cron specs: \"*/5 * * * *\", \"0 4 * * *\", @hourly, @every 10m)")
	def("jobs.update-all-metrics.schedule", "SPEC", "when to judge the Panic platform's health and summaries (the minute job)", str(&c.Jobs.UpdateAllMetrics.Schedule))
	def("jobs.update-performance-metrics.schedule", "SPEC", "when to compute the firms' completion rates", str(&c.Jobs.UpdatePerformanceMetrics.Schedule))
	def("jobs.cleanup.schedule", "SPEC", "when to clean up old metrics: quiet series of jobs.cleanup.delete_series, old snapshots", str(&c.Jobs.Cleanup.Schedule))
	def("jobs.cleanup.snapshot-max-age", "DURATION", "the clean-up removes TSDB snapshots older than this; 0 keeps them", durationFlag{&c.Jobs.Cleanup.SnapshotMaxAge})

	group("Scheduled backups (vigil backup makes one now)")
	def("backup.dir", "DIR", "write a backup into a new directory of DIR on --backup.schedule; empty turns scheduled backups off", str(&c.Backup.Dir))
	def("backup.schedule", "SPEC", "when to back up: a cron spec (\"0 3 * * *\"), @daily, @hourly or @every DURATION", str(&c.Backup.Schedule))
	def("backup.keep", "N", "how many scheduled backups to keep; the oldest beyond are removed", intFlag{&c.Backup.Keep})

	group("Rules")
	def("rules.files", "FILE,...", "Prometheus rule files or globs to evaluate; repeatable", &listFlag{p: &c.Rules.Files})
	def("rules.builtin", "", "load the built-in rules: the Panic platform's, and Vigil's own alerts on remote_write", boolFlag{&c.Rules.Builtin})
	def("rules.evaluation-interval", "DURATION", "interval of the rule groups that give none", durationFlag{&c.Rules.EvaluationInterval})
	def("rules.history-retention", "DURATION", "how long the alert history is kept", durationFlag{&c.Rules.HistoryRetention})

	group("Forwarding to Alertmanagers (alerting.alertmanagers of --config.prometheus)")
	def("alerting.resend-delay", "DURATION", "how long an alert that did not change waits before it is sent again to the Alertmanagers", durationFlag{&c.Alerting.ResendDelay})
	def("alerting.queue-capacity", "N", "most alerts queued for each Alertmanager; past it the oldest are dropped", intFlag{&c.Alerting.QueueCapacity})

	group("Dashboards")
	def("dashboards.dir", "DIR", "a directory of Grafana dashboard JSON files to serve read-only; read at start and on reload", str(&c.Dashboards.Dir))

	group("Logging")
	def("log.level", "LEVEL", "least severe level logged: "+strings.Join(logLevels, ", "), str(&c.Log.Level))
	def("log.format", "FORMAT", "log line format: "+strings.Join(logFormats, " or "), str(&c.Log.Format))
	return groups
}

// ParseArgs builds the configuration from command-line arguments: the
// defaults, then the --config file if one is named, then the flags given,
// which win over the file. It returns the arguments left after the flags.
// A -h or --help argument yields flag.ErrHelp.
func ParseArgs(args []string) (Config, []string, error) {
	cfg := DefaultConfig()
	fs := newFlagSet(&cfg)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, flagError(err)
	}
	rest := fs.Args()
	if cfg.ConfigFile != "" {
		fromFile, err := LoadFile(cfg.ConfigFile)
		if err != nil {
			return Config{}, nil, err
		}
		// Parse the same arguments again over the file's settings: those
		// given on the command line win, the rest keep the file's values.
		if err := newFlagSet(&fromFile).Parse(args); err != nil {
			return Config{}, nil, flagError(err)
		}
		cfg = fromFile
	}
	cfg.args = slices.Clone(args)
	return cfg, rest, nil
}

// reread re-reads the --config file and applies the same command-line
// flags over it, for Reload.
func (c Config) reread() (Config, error) {
	if c.ConfigFile == "" {
		return c, nil
	}
	if c.args == nil {
		return LoadFile(c.ConfigFile)
	}
	cfg, _, err := ParseArgs(c.args)
	return cfg, err
}

// FlagValues returns every setting by flag name, formatted as the flag
// takes it: the effective command line, for /api/v1/status/flags.
func (c Config) FlagValues() map[string]string {
	fs := newFlagSet(&c)
	m := make(map[string]string)
	fs.VisitAll(func(f *flag.Flag) { m[f.Name] = f.Value.String() })
	return m
}

func newFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	BindFlags(fs, c)
	return fs
}

// flagError rewords the flag package's errors in --flag terms.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Errorf("unknown flag --%s; run vigil --help for the flags", strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		return fmt.Errorf("--%s needs a value, e.g. --%s=VALUE", name, name)
	}
	return errors.New(strings.Replace(msg, " for flag -", " for --", 1))
}

// intFlag is the flag.Value of an int.
type intFlag struct{ p *int }

func (f intFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f intFlag) Set(s string) error {
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 10, 0)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*f.p = int(n)
	return nil
}

// boolFlag is the flag.Value of a bool: --demo, --demo=false.
type boolFlag struct{ p *bool }

func (f boolFlag) IsBoolFlag() bool { return true }

func (f boolFlag) String() string {
	if f.p == nil {
		return "false"
	}
	return strconv.FormatBool(*f.p)
}

func (f boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*f.p = v
	return nil
}
