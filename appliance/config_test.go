package appliance

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaults(t *testing.T) {
	cfg, rest, err := ParseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 {
		t.Errorf("rest = %q, want none", rest)
	}
	want := DefaultConfig()
	cfg.args = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ParseArgs(nil) = %+v, want the defaults %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestParseArgsFlagsWinOverFile(t *testing.T) {
	file := filepath.Join("testdata", "vigil.yml")
	cfg, _, err := ParseArgs([]string{
		"--config=" + file,
		"--retention=2w",
		"--query.timeout", "30s",
		"--enable-feature=promql-delayed-name-removal",
		"--enable-feature=promql-per-step-stats,promql-binop-fill-modifiers",
		"--log.level=warn",
		"--limits.max-series=200000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("testdata/vigil.yml with flags does not validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		// Given as flags: the flag wins.
		{"retention", cfg.Retention, Duration(14 * 24 * time.Hour)},
		{"query.timeout", cfg.Query.Timeout, Duration(30 * time.Second)},
		{"enable-feature", cfg.EnableFeature, []string{"promql-delayed-name-removal", "promql-per-step-stats", "promql-binop-fill-modifiers"}},
		{"log.level", cfg.Log.Level, "warn"},
		{"limits.max-series", cfg.Limits.MaxSeries, 200_000},
		// Only in the file: the file's value, paths relative to the file.
		{"listen", cfg.Listen, "127.0.0.1:9700"},
		{"data-dir", cfg.DataDir, filepath.Join("testdata", "data")},
		{"config.prometheus", cfg.Files.Prometheus, filepath.Join("testdata", "prometheus.yml")},
		{"auth", cfg.Auth, AuthNone},
		{"query.max-samples", cfg.Query.MaxSamples, 10_000_000},
		{"query.lookback-delta", cfg.Query.LookbackDelta, Duration(10 * time.Minute)},
		{"query.slow-log-threshold", cfg.Query.SlowLogThreshold, Duration(2 * time.Second)},
		{"web.max-request-bytes", cfg.Web.MaxRequestBytes, Bytes(16 << 20)},
		{"memory.allowed-bytes", cfg.Memory.AllowedBytes, Bytes(2 << 30)},
		{"log.format", cfg.Log.Format, "json"},
		{"limits.max-series-per-metric", cfg.Limits.MaxSeriesPerMetric, 0},
		// In neither: the default.
		{"limits.max-samples-per-request", cfg.Limits.MaxSamplesPerRequest, DefaultMaxSamplesPerRequest},
		{"query.max-series", cfg.Query.MaxSeries, 1_000_000},
		{"query.max-concurrency", cfg.Query.MaxConcurrency, 20},
		{"demo", cfg.Demo, false},
		{"config", cfg.ConfigFile, file},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"--retention=3x"}, `"3x" is not a duration`},
		{[]string{"--query.max-samples=many"}, `"many" is not a whole number`},
		{[]string{"--web.max-request-bytes=big"}, `"big" is not a size`},
		{[]string{"--demo=maybe"}, `"maybe" is not true or false`},
		{[]string{"--limits.max-series=lots"}, `"lots" is not a whole number`},
		{[]string{"--listen"}, "--listen needs a value"},
		{[]string{"--config=testdata/does-not-exist.yml"}, "config file testdata/does-not-exist.yml does not exist"},
		{[]string{"--config=testdata/unknown_key.yml"}, `testdata/unknown_key.yml:5: unknown key "max_sample" in query (did you mean "max_samples"?)`},
	}
	for _, tt := range tests {
		_, _, err := ParseArgs(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) error = %v, want it to contain %q", tt.args, err, tt.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "unknown top-level key with a dash",
			yaml: "listen: :9595\ndata-dir: /x\n",
			want: []string{`:2: unknown key "data-dir" (did you mean "data_dir"?)`},
		},
		{
			name: "typo in a section",
			yaml: "query:\n  timeout: 1m\n  lookback: 1m\n",
			want: []string{`:3: unknown key "lookback" in query`},
		},
		{
			name: "a flag name used as a key",
			yaml: "query.timeout: 1m\n",
			want: []string{`:1: unknown key "query.timeout" (write it nested: "query:", then "timeout:" indented under it)`},
		},
		{
			name: "no suggestion lists the keys",
			yaml: "log:\n  colour: red\n",
			want: []string{`:2: unknown key "colour" in log (the keys here are level, format)`},
		},
		{
			name: "bad values, all reported",
			yaml: "retention: forever\nweb:\n  max_request_bytes: lots\nquery:\n  max_series: many\n",
			want: []string{
				`:1: "forever" is not a duration`,
				`:3: "lots" is not a size`,
				`:5: cannot unmarshal !!str ` + "`many`" + ` into a whole number`,
			},
		},
		{
			name: "a section given a scalar",
			yaml: "query: fast\n",
			want: []string{`:1: query must be a mapping with the keys timeout, max_samples,`},
		},
		{
			name: "not a mapping at all",
			yaml: "- listen: :9595\n",
			want: []string{`:1: the file must be a mapping with the keys listen, data_dir,`},
		},
		{
			name: "syntax error",
			yaml: "listen: :9595\n  data_dir: x\n",
			want: []string{`:2: mapping values are not allowed`},
		},
		{
			name: "two documents",
			yaml: "listen: :9595\n---\nlisten: :9596\n",
			want: []string{`a second YAML document`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vigil.yml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(path)
			if err == nil {
				t.Fatalf("LoadFile succeeded, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if strings.HasPrefix(w, ":") {
					w = path + w // file:line: message
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFileEmptyKeepsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(path, []byte("# nothing set\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.ConfigFile = path
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("LoadFile(empty) = %+v, want the defaults", cfg)
	}
}

func TestLoadFileAbsolutePathsStay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yml")
	abs := filepath.Join(dir, "elsewhere", "data")
	if err := os.WriteFile(path, []byte("data_dir: "+abs+"\nauth: on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != abs {
		t.Errorf("data_dir = %q, want %q", cfg.DataDir, abs)
	}
	// YAML 1.1 read "on" as true; Vigil's auth key takes it as the word.
	if cfg.Auth != AuthOn {
		t.Errorf("auth = %q, want on", cfg.Auth)
	}
}

func TestMarshalFileRoundTrip(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"--config=testdata/vigil.yml", "--demo"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Files.Prometheus, _ = filepath.Abs(cfg.Files.Prometheus)
	cfg.DataDir, _ = filepath.Abs(cfg.DataDir)
	out, err := cfg.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatalf("the marshalled config does not load: %v\n%s", err, out)
	}
	back.ConfigFile, cfg.ConfigFile, cfg.args = "", "", nil
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v\n%s", back, cfg, out)
	}
}

func TestFlagValuesRoundTrip(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"--config=testdata/vigil.yml", "--demo", "--enable-feature=promql-per-step-stats"})
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for name, v := range cfg.FlagValues() {
		if name != "config" {
			args = append(args, "--"+name+"="+v)
		}
	}
	back, _, err := ParseArgs(args)
	if err != nil {
		t.Fatalf("ParseArgs(FlagValues()) = %v", err)
	}
	back.args, cfg.args, cfg.ConfigFile = nil, nil, ""
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("flag values round trip changed the config:\n got %+v\nwant %+v", back, cfg)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	readableFile := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(readableFile, []byte("route: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []validateCase{
		{"defaults", func(*Config) {}, ""},
		{"listen all interfaces", func(c *Config) { c.Listen = ":0" }, ""},
		{"listen ipv6", func(c *Config) { c.Listen = "[::1]:9595" }, ""},
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, "--listen=localhost: not a listen address"},
		{"listen bad port", func(c *Config) { c.Listen = ":99999" }, `--listen=:99999: "99999" is not a port number`},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, `--data-dir="": the data directory must not be empty`},
		{"retention too short", func(c *Config) { c.Retention = Duration(time.Hour) }, "--retention=1h: the minimum retention is 1d"},
		{"retention one day", func(c *Config) { c.Retention = Duration(24 * time.Hour) }, ""},
		{"auth", func(c *Config) { c.Auth = "off" }, "--auth=off: must be on or none"},
		{"prometheus config missing", func(c *Config) { c.Files.Prometheus = filepath.Join(dir, "nope.yml") }, "--config.prometheus=" + filepath.Join(dir, "nope.yml") + ": no such file"},
		{"alertmanager config readable", func(c *Config) { c.Files.Alertmanager = readableFile }, ""},
		{"alertmanager config is a directory", func(c *Config) { c.Files.Alertmanager = dir }, "is a directory"},
		{"admin password file missing", func(c *Config) { c.AdminPasswordFile = filepath.Join(dir, "pw") }, "--admin-password-file=" + filepath.Join(dir, "pw") + ": no such file"},
		{"query timeout", func(c *Config) { c.Query.Timeout = 0 }, "--query.timeout=0s: must be greater than 0"},
		{"max samples", func(c *Config) { c.Query.MaxSamples = -1 }, "--query.max-samples=-1: must be greater than 0"},
		{"max series", func(c *Config) { c.Query.MaxSeries = 0 }, "--query.max-series=0"},
		{"lookback", func(c *Config) { c.Query.LookbackDelta = 0 }, "--query.lookback-delta=0s"},
		{"slow log off", func(c *Config) { c.Query.SlowLogThreshold = 0 }, ""},
		{"concurrency", func(c *Config) { c.Query.MaxConcurrency = 0 }, "--query.max-concurrency=0"},
		{"request bytes", func(c *Config) { c.Web.MaxRequestBytes = 0 }, "--web.max-request-bytes=0"},
		{"limits off", func(c *Config) { c.Limits = LimitsConfig{} }, ""},
		{"limits samples per request", func(c *Config) { c.Limits.MaxSamplesPerRequest = -1 }, "--limits.max-samples-per-request=-1: must be 0 (no limit) or greater"},
		{"limits max series", func(c *Config) { c.Limits.MaxSeries = -5 }, "--limits.max-series=-5: must be 0 (no limit) or greater"},
		{"limits max series per metric", func(c *Config) { c.Limits.MaxSeriesPerMetric = -1 }, "--limits.max-series-per-metric=-1"},
		{"memory too small", func(c *Config) { c.Memory.AllowedBytes = 1 << 20 }, "--memory.allowed-bytes=1MiB: is too small"},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, "--log.level=trace: must be one of debug, info, warn, error"},
		{"log format", func(c *Config) { c.Log.Format = "text" }, "--log.format=text: must be one of logfmt, json"},
		{"unknown features are not errors", func(c *Config) { c.EnableFeature = []string{"no-such-feature"} }, ""},
	}
	runValidateCases(t, tests)
}

func TestValidateReportsEveryError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.Retention, cfg.Log.Level = "nope", 0, "loud"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 3 {
		t.Errorf("Validate() reported %d errors, want 3:\n%v", n, err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"1y", 365 * 24 * time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"0", 0, false},
		{"", 0, true},
		{"-1d", 0, true},
		{"30 days", 0, true},
		{"1.5h", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || (err == nil && got.Std() != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if s := Duration(30 * 24 * time.Hour).String(); s != "30d" {
		t.Errorf("30 days formats as %q, want 30d", s)
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want Bytes
		err  bool
	}{
		{"64MiB", 64 << 20, false},
		{"64mib", 64 << 20, false},
		{"512KiB", 512 << 10, false},
		{"2GiB", 2 << 30, false},
		{"1.5GiB", 3 << 29, false},
		{"500MB", 500e6, false},
		{"1GB", 1e9, false},
		{"1048576", 1 << 20, false},
		{"100B", 100, false},
		{"0", 0, false},
		{"", 0, true},
		{"-1MiB", 0, true},
		{"lots", 0, true},
		{"1PiB", 0, true},
		{"1e30", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err != nil) != tt.err || (err == nil && got != tt.want) {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	for b, want := range map[Bytes]string{64 << 20: "64MiB", 0: "0", 1000: "1000", 3 << 29: "1536MiB"} {
		if got := b.String(); got != want {
			t.Errorf("Bytes(%d).String() = %q, want %q", int64(b), got, want)
		}
	}
}

func TestParseFeatures(t *testing.T) {
	f, warnings := ParseFeatures([]string{
		"promql-experimental-functions",
		"promql-delayed-name-removal",
		"promql-duration-expr",
		"exemplar-storage",
	})
	if !f.Parser.EnableExperimentalFunctions {
		t.Error("promql-experimental-functions did not enable the parser's experimental functions")
	}
	if !f.DelayedNameRemoval {
		t.Error("promql-delayed-name-removal did not enable delayed name removal")
	}
	if f.PerStepStats || f.Parser.EnableBinopFillModifiers {
		t.Error("features not asked for were enabled")
	}
	if len(warnings) != 2 ||
		!strings.Contains(warnings[0], "promql-duration-expr is now permanently enabled") ||
		!strings.Contains(warnings[1], `unknown option for --enable-feature: "exemplar-storage"`) {
		t.Errorf("warnings = %q, want a no-op notice and an unknown-option warning", warnings)
	}
	for _, name := range FeatureNames() {
		if known, _ := enableFeature(name, &Features{}); !known {
			t.Errorf("FeatureNames lists %q, which enableFeature does not know", name)
		}
	}
}

// Rule file globs in the config file are relative to the file, like the
// other paths it names.
func TestConfigFileRuleFilesRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(file, []byte("rules:\n  files: [\"rules/*.yml\", \"/etc/vigil/alerts.yml\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := ParseArgs([]string{"--config=" + file})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "rules/*.yml"), "/etc/vigil/alerts.yml"}
	if !slices.Equal(cfg.Rules.Files, want) {
		t.Fatalf("rules.files %v, want %v", cfg.Rules.Files, want)
	}
}

// validateCase is one setting changed from the defaults and the error
// Validate must give ("" for a valid configuration).
type validateCase struct {
	name   string
	modify func(*Config)
	want   string
}

func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
