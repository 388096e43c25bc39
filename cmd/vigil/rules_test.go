package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vigil check rules answers like promtool check rules: SUCCESS with the
// rule count, or FAILED with file:line:column errors and exit code 1.
func TestCheckRules(t *testing.T) {
	builtin := filepath.Join("..", "..", "rules", "builtin", "panic_platform.yml")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("groups:\n  - name: a\n    rules:\n      - alert: A\n        expresion: up == 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runVigil(t, "check", "rules", builtin)
	if code != 0 || !strings.Contains(stdout, "SUCCESS: 19 rules found") {
		t.Errorf("check rules %s: code %d, stdout:\n%s\nstderr:\n%s", builtin, code, stdout, stderr)
	}

	stdout, stderr, code = runVigil(t, "check", "rules", builtin, bad)
	if code != 1 {
		t.Errorf("check rules with a bad file: exit code %d, want 1", code)
	}
	if want := bad + `:5:9: unknown field "expresion" (did you mean "expr"?)`; !strings.Contains(stderr, want) {
		t.Errorf("check rules does not report %q:\nstdout:\n%s\nstderr:\n%s", want, stdout, stderr)
	}

	if _, _, code := runVigil(t, "check", "rules"); code != 2 {
		t.Errorf("check rules without files: exit code %d, want 2", code)
	}
}

// The rules run in the real binary: alerts appear in /api/v1/alerts and
// /api/v1/rules next to the built-in groups, their transitions in
// /api/v1/alerts/history, and a restart restores them unchanged (pending
// mid-`for` with its ActiveAt, firing with its value) before any new
// evaluation.
func TestRulesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "alerts.yml")
	write := func(interval string) {
		yml := "groups:\n  - name: e2e\n    interval: " + interval + "\n    rules:\n" +
			"      - alert: Waiting\n        expr: vector(1)\n        for: 1h\n" +
			"      - alert: Burning\n        expr: vector(2)\n        annotations:\n          summary: 'value {{ $value }}'\n" +
			"      - record: e2e:one\n        expr: vector(1)\n"
		if err := os.WriteFile(rulesFile, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1s")
	dataDir := filepath.Join(dir, "data")
	p := startVigilProcess(t, "--data-dir="+dataDir, "--rules.files="+rulesFile)
	c := adminClient()
	type alert struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		State       string            `json:"state"`
		ActiveAt    time.Time         `json:"activeAt"`
		Value       string            `json:"value"`
	}
	alerts := func(base string) map[string]alert {
		var body struct {
			Data struct {
				Alerts []alert `json:"alerts"`
			} `json:"data"`
		}
		getJSON(t, c, base+"/api/v1/alerts", &body)
		out := map[string]alert{}
		for _, a := range body.Data.Alerts {
			out[a.Labels["alertname"]] = a
		}
		return out
	}
	var before map[string]alert
	deadline := time.Now().Add(20 * time.Second)
	for {
		before = alerts(p.BaseURL)
		if before["Waiting"].State == "pending" && before["Burning"].State == "firing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts did not appear: %+v\n%s", before, p.Stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := before["Burning"].Annotations["summary"]; got != "value 2" {
		t.Errorf("summary %q", got)
	}

	var rules struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				File  string `json:"file"`
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	getJSON(t, c, p.BaseURL+"/api/v1/rules", &rules)
	names := map[string]bool{}
	for _, g := range rules.Data.Groups {
		names[g.Name] = true
	}
	for _, want := range []string{"panic-platform-aggregations", "panic-platform-alerts", "e2e"} {
		if !names[want] {
			t.Errorf("/api/v1/rules has no group %s: %+v", want, rules.Data.Groups)
		}
	}

	var hist struct {
		Data []struct {
			Rule string `json:"rule"`
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"data"`
	}
	// The history is written right after the evaluation that the alerts
	// already show.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		getJSON(t, c, p.BaseURL+`/api/v1/alerts/history?match[]={alertname="Burning"}`, &hist)
		if len(hist.Data) > 0 || time.Now().After(end) {
			break
		}
	}
	if len(hist.Data) == 0 || hist.Data[0].Rule != "Burning" || hist.Data[0].From != "inactive" || hist.Data[0].To != "firing" {
		t.Errorf("history of Burning: %+v", hist.Data)
	}

	// Restart with the group evaluated only hourly: what /api/v1/alerts
	// shows right after the start is the restored state.
	p.Stop()
	write("1h")
	p = startVigilProcess(t, "--data-dir="+dataDir, "--rules.files="+rulesFile)
	after := alerts(p.BaseURL)
	for _, name := range []string{"Waiting", "Burning"} {
		b, a := before[name], after[name]
		if a.State != b.State || !a.ActiveAt.Equal(b.ActiveAt) || a.Value != b.Value || a.Annotations["summary"] != b.Annotations["summary"] {
			t.Errorf("%s changed across the restart:\nbefore %+v\nafter  %+v", name, b, a)
		}
	}
	p.Stop()
}

func getJSON(t *testing.T, c *http.Client, url string, into any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestRuleFilesFromPrometheusYML: the rule_files of --config.prometheus are
// evaluated like --rules.files, and a reload picks up a new list.
func TestRuleFilesFromPrometheusYML(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeFile("first.yml", "groups:\n  - name: from-prometheus-yml\n    interval: 1s\n    rules:\n      - record: promyml:one\n        expr: vector(1)\n")
	writeFile("second.yml", "groups:\n  - name: added-on-reload\n    interval: 1s\n    rules:\n      - record: promyml:two\n        expr: vector(2)\n")
	promFile := writeFile("prometheus.yml", "global:\n  scrape_interval: 15s\nrule_files:\n  - first.yml\n")

	p := startVigilProcess(t, "--config.prometheus="+promFile)
	c := adminClient()
	groups := func() map[string]bool {
		var body struct {
			Data struct {
				Groups []struct {
					Name string `json:"name"`
				} `json:"groups"`
			} `json:"data"`
		}
		getJSON(t, c, p.BaseURL+"/api/v1/rules", &body)
		out := map[string]bool{}
		for _, g := range body.Data.Groups {
			out[g.Name] = true
		}
		return out
	}
	if g := groups(); !g["from-prometheus-yml"] || g["added-on-reload"] {
		t.Fatalf("groups at start: %v", g)
	}

	writeFile("prometheus.yml", "global:\n  scrape_interval: 15s\nrule_files:\n  - first.yml\n  - second.yml\n")
	resp, err := c.Post(p.BaseURL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	if g := groups(); !g["from-prometheus-yml"] || !g["added-on-reload"] {
		t.Fatalf("groups after reload: %v\n%s", g, p.Stderr())
	}
}
