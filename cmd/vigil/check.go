package main

import (
	"fmt"
	"io"
	"os"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-monitoring/vigil/appliance"
	"github.com/vigil-monitoring/vigil/rules"
	"github.com/vigil-monitoring/vigil/rules/notify"
)

const checkUsage = `Usage:
  vigil check config FILE...   validate Vigil config files (the --config format), with the
                               prometheus.yml they name or hold
  vigil check rules FILE...    validate Prometheus rule files, as promtool check rules does
  vigil check alertmanager FILE...   validate alertmanager.yml files, as amtool check-config does

Exit codes: 0 every file is valid, 1 a file is not, 2 usage error.
`

// runCheck is `vigil check`.
func runCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "vigil check: say what to check\n%s", checkUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, checkUsage)
		return exitOK
	}
	switch what := args[0]; what {
	case "config":
		return checkConfig(args[1:], stdout, stderr)
	case "rules":
		return checkRules(args[1:], stdout, stderr)
	case "alertmanager":
		return checkAlertmanager(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vigil check: unknown kind %q\n%s", what, checkUsage)
		return exitUsage
	}
}

// checkConfig validates each Vigil config file as `vigil --config=FILE`
// would load it, without flags.
func checkConfig(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintf(stderr, "vigil check config: name the file(s) to check, e.g. vigil check config vigil.yml\n")
		return exitUsage
	}
	code := exitOK
	for _, file := range files {
		if isHelp(file) {
			fmt.Fprint(stdout, checkUsage)
			return exitOK
		}
		fmt.Fprintf(stdout, "Checking %s\n", file)
		cfg, err := appliance.LoadFile(file)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			err = cfg.CheckScrape()
		}
		if err != nil {
			fmt.Fprintln(stderr, "  FAILED:")
			printLines(stderr, "    ", err)
			code = exitFailure
			continue
		}
		_, warnings := appliance.ParseFeatures(cfg.EnableFeature)
		for _, w := range warnings {
			fmt.Fprintf(stdout, "  WARNING: %s\n", w)
		}
		fmt.Fprintf(stdout, "  SUCCESS: %s is valid\n", file)
	}
	return code
}

// checkRules validates each Prometheus rule file as Vigil would load it
// (rulefmt, unknown fields refused), printing promtool's lines:
// "SUCCESS: N rules found" or "FAILED:" and one file:line:column error a
// line.
func checkRules(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintf(stderr, "vigil check rules: name the rule file(s) to check, e.g. vigil check rules alerts.yml\n")
		return exitUsage
	}
	p := parser.NewParser(parser.Options{})
	code := exitOK
	for _, file := range files {
		if isHelp(file) {
			fmt.Fprint(stdout, checkUsage)
			return exitOK
		}
		fmt.Fprintf(stdout, "Checking %s\n", file)
		data, err := os.ReadFile(file)
		var groups []rules.GroupConfig
		if err == nil {
			groups, err = rules.Parse(file, data, p)
		}
		if err != nil {
			fmt.Fprintln(stderr, "  FAILED:")
			printLines(stderr, "    ", err)
			code = exitFailure
			continue
		}
		n := 0
		for _, g := range groups {
			n += len(g.Rules)
		}
		fmt.Fprintf(stdout, "  SUCCESS: %d rules found\n", n)
	}
	return code
}

// checkAlertmanager validates each alertmanager.yml as Vigil would load
// it, printing amtool check-config's lines: "Checking 'FILE'  SUCCESS" and
// what was found, or "FAILED:" and one error a line.
func checkAlertmanager(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintf(stderr, "vigil check alertmanager: name the file(s) to check, e.g. vigil check alertmanager alertmanager.yml\n")
		return exitUsage
	}
	code := exitOK
	for _, file := range files {
		if isHelp(file) {
			fmt.Fprint(stdout, checkUsage)
			return exitOK
		}
		c, err := notify.LoadFile(file)
		var tmpls []string
		if err == nil {
			tmpls, err = notify.CheckTemplates(c)
		}
		if err != nil {
			fmt.Fprintf(stdout, "Checking '%s'  FAILED:\n", file)
			printLines(stderr, "  ", err)
			code = exitFailure
			continue
		}
		fmt.Fprintf(stdout, "Checking '%s'  SUCCESS\nFound:\n", file)
		fmt.Fprintf(stdout, " - global config\n - route\n - %d inhibit rules\n - %d receivers\n - %d templates\n",
			len(c.InhibitRules), len(c.Receivers), len(tmpls))
	}
	return code
}
