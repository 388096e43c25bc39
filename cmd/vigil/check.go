package main

import (
	"fmt"
	"io"

	"github.com/vigil-monitoring/vigil/appliance"
)

const checkUsage = `Usage:
  vigil check config FILE...   validate Vigil config files (the --config format)

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
	case "rules", "alertmanager":
		fmt.Fprintf(stderr, "vigil check %s: not available yet in this build; only 'vigil check config' is\n", what)
		return exitUsage
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
