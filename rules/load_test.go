package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

var testParser = parser.NewParser(parser.Options{})

// Prometheus' own rule test data (model/rulefmt/testdata, rules/fixtures,
// cmd/promtool/testdata), copied into testdata/prometheus: what promtool
// check rules accepts, Vigil accepts, and what it refuses, Vigil refuses.
func TestParsePrometheusTestData(t *testing.T) {
	bad := map[string]string{
		"bad-rules-syntax.yml":                "bad-rules-syntax.yml:7:15:",
		"bad_expr.bad.yaml":                   "bad_expr.bad.yaml:5:15:",
		"bad_field.bad.yaml":                  `bad_field.bad.yaml:8:9: unknown field "annotation" (did you mean "annotations"?)`,
		"duplicate_grp.bad.yaml":              `duplicate_grp.bad.yaml:3:11: group "yolo" is defined twice`,
		"invalid_label_name.bad.yaml":         "invalid label name: __name__",
		"invalid_record_name.bad.yaml":        "braces present in the recording rule name",
		"invalid_rules.yaml":                  `invalid_rules.yaml:6:9: unknown field "unexpected_field"`,
		"no_rec_alert.bad.yaml":               "no_rec_alert.bad.yaml:4:9:",
		"noexpr.bad.yaml":                     "noexpr.bad.yaml:4:9:",
		"record_and_alert.bad.yaml":           "record_and_alert.bad.yaml:4:17:",
		"record_and_for.bad.yaml":             "invalid field 'for' in recording rule",
		"record_and_keep_firing_for.bad.yaml": "invalid field 'keep_firing_for'",
		"rules-bad.yml":                       `rules-bad.yml:6:9: group "alerts", rule 1 (InstanceDown): annotation "summary"`,
		"rules_extrafields.yml":               `rules_extrafields.yml:7:5: unknown field "namespace"`,
		// Bad only under Prometheus' legacy name validation; Vigil, like
		// Prometheus 3 by default, validates names as UTF-8.
		"legacy_validation_annotation.bad.yaml": "",
	}
	files, err := filepath.Glob("testdata/prometheus/*")
	if err != nil || len(files) < 20 {
		t.Fatalf("testdata: %v, %d files", err, len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			groups, err := Parse(f, data, testParser)
			want := bad[name]
			switch {
			case want == "" && err != nil:
				t.Fatalf("refused a valid file: %v", err)
			case want == "" && len(groups) == 0:
				t.Fatal("no groups")
			case want != "" && err == nil:
				t.Fatalf("accepted; want an error with %q", want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Fatalf("error %q\nwant it to contain %q", err, want)
			}
		})
	}
}

func TestParseErrorsHaveFileAndLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"syntax", "groups:\n  - name: a\n    rules: [\n", "r.yml:3: did not find expected node content"},
		{"bad duration", "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        for: 5x\n", `r.yml:6:14: for: "5x" is not a duration`},
		{"bad interval", "groups:\n  - name: a\n    interval: soon\n    rules: []\n", `r.yml:3:15: interval: "soon"`},
		{"unknown field", "groups:\n  - name: a\n    rules:\n      - alert: A\n        expresion: up\n", `r.yml:5:9: unknown field "expresion" (did you mean "expr"?)`},
		{"template", "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          summary: '{{ $labels.x '\n", `r.yml:4:9: group "a", rule 1 (A): annotation "summary"`},
		{"bad query", "groups:\n  - name: a\n    rules:\n      - record: r\n        expr: sum(\n", `r.yml:5:15: group "a", rule 1 (r): could not parse expression`},
		{"duplicate group", "groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n", `r.yml:4:11: group "a" is defined twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yml", []byte(tt.yaml), testParser)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// The built-in rules carry every alert of the seed and DESIGN.md, each
// with a summary and a description, and the 5-minute aggregation group.
func TestBuiltinRules(t *testing.T) {
	groups, err := Load(nil, true, testParser)
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]string{}
	intervals := map[string]string{}
	for _, g := range groups {
		if !strings.HasPrefix(g.File, BuiltinPrefix) {
			t.Errorf("group %s: file %q", g.Name, g.File)
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				intervals[r.Record] = g.Interval.String()
				continue
			}
			alerts[r.Alert] = r.Labels["severity"]
			if len(r.Annotations["summary"]) < 20 || len(r.Annotations["description"]) < 80 {
				t.Errorf("%s: the summary and description must tell the person on call what happened and what to do", r.Alert)
			}
		}
	}
	want := map[string]string{
		"ServiceDown": "critical", "DatabaseConnectionLost": "critical", "VerySlowPanicResponse": "critical",
		"SlowPanicResponse": "critical",
		"HighErrorRate":     "warning", "SlowResponseTime": "warning", "HighFailedLoginRate": "warning",
		"PoorZonePerformance": "warning", "HighPrankRate": "warning",
		// Vigil's own, on remote_write.
		"RemoteWriteFailing": "warning", "RemoteWriteQueueGrowing": "warning",
		"RemoteWriteQueueNearlyFull": "critical", "RemoteWriteDroppingSamples": "critical",
	}
	for name, sev := range want {
		if alerts[name] != sev {
			t.Errorf("alert %s: severity %q, want %q", name, alerts[name], sev)
		}
	}
	for _, rec := range []string{"zone:panic_requests:rate5m", "firm:panic_requests:rate5m", "zone:panic_request_response_time_seconds:p95_10m", "firm:panic_request_response_time_seconds:p95_10m",
		// What the Business Metrics dashboard reads.
		"zone_firm_service:panic_requests:rate5m", "zone_firm_status:panic_requests:rate5m",
		"zone_firm:panic_request_response_time_seconds_bucket:rate5m", "zone_firm_service:panic_request_response_time_seconds_bucket:rate5m"} {
		if intervals[rec] != "5m" {
			t.Errorf("recording rule %s: interval %q, want 5m", rec, intervals[rec])
		}
	}
}

func TestLoadReadsFilesAfterBuiltin(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "mine.yml")
	os.WriteFile(f, []byte("groups:\n  - name: mine\n    rules:\n      - record: x\n        expr: vector(1)\n"), 0o644)
	groups, err := Load([]string{f}, true, testParser)
	if err != nil {
		t.Fatal(err)
	}
	if last := groups[len(groups)-1]; last.File != f || last.Name != "mine" {
		t.Fatalf("last group %s %s", last.File, last.Name)
	}
	if _, err := Load([]string{filepath.Join(dir, "missing.yml")}, false, testParser); err == nil || !strings.Contains(err.Error(), "missing.yml: cannot read") {
		t.Fatalf("missing file: %v", err)
	}
}
