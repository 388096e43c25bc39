// Command vigil is Vigil, one binary that replaces a Prometheus,
// Alertmanager and Grafana stack: it stores metrics, evaluates rules,
// routes alerts and serves dashboards.
//
// Usage:
//
//	vigil [run] [FLAGS]
//	vigil check config FILE...
//	vigil user add|passwd|del|list|token ...
//	vigil backup --to=DIR
//	vigil restore --from=DIR
//	vigil demo --url=URL
//	vigil version
//
// Run vigil --help for the flags. Exit codes: 0 success, 1 runtime
// failure, 2 usage error (a bad flag, value or config file).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/vigil-monitoring/vigil/appliance"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "", "run":
		return runServer(args, stdout, stderr)
	case "check":
		return runCheck(args, stdout, stderr)
	case "version":
		return runVersion(args, stdout, stderr)
	case "help":
		printUsage(stdout)
		return exitOK
	case "user":
		return runUser(args, os.Stdin, stdout, stderr)
	case "backup":
		return runBackup(args, stdout, stderr, os.Getenv)
	case "restore":
		return runRestore(args, stdout, stderr)
	case "demo":
		return runDemo(args, stdout, stderr, os.Getenv)
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\nRun 'vigil --help' for the commands and flags.\n", cmd)
		return exitUsage
	}
}

// runServer is `vigil run`: it starts Vigil and serves until SIGINT or
// SIGTERM, then shuts down gracefully. SIGHUP reloads the configuration.
func runServer(args []string, stdout, stderr io.Writer) int {
	cfg, rest, err := appliance.ParseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return exitOK
	}
	if err != nil {
		printError(stderr, err)
		return exitUsage
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "vigil: unexpected argument %q; flags are written --name=value\nRun 'vigil --help' for the flags.\n", rest[0])
		return exitUsage
	}
	a, err := appliance.New(cfg)
	if err != nil {
		printError(stderr, err)
		return exitUsage
	}
	log := a.Logger()

	// Take the signals before starting, so that one arriving during
	// start-up stops Vigil cleanly once it has started.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigc)

	if err := a.Start(context.Background()); err != nil {
		printError(stderr, err)
		return exitFailure
	}
	trimCtx, stopTrim := context.WithCancel(context.Background())
	defer stopTrim()
	go trimMemory(trimCtx)
	fmt.Fprintf(stdout, "Vigil %s listening on %s (data: %s, retention %s)\n",
		appliance.Build().Version, a.URL(), cfg.DataDir, cfg.Retention)
	if n := a.AuthNotice(); n != "" {
		fmt.Fprintln(stdout, n)
	}
	for _, n := range a.Notices() {
		fmt.Fprintln(stdout, n)
	}

	code := exitOK
wait:
	for {
		select {
		case sig := <-sigc:
			if sig == syscall.SIGHUP {
				_ = a.Reload() // Reload logs the outcome
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			break wait
		case err := <-a.Errors():
			log.Error("shutting down after a failure", "err", err)
			code = exitFailure
			break wait
		}
	}
	// A second SIGINT or SIGTERM does not wait for the drain.
	go func() {
		for sig := range sigc {
			if sig != syscall.SIGHUP {
				log.Warn("second signal; exiting without a clean shutdown", "signal", sig.String())
				os.Exit(exitFailure)
			}
		}
	}()
	if err := a.Stop(context.Background()); err != nil {
		log.Error("shutdown was not clean", "err", err)
		return exitFailure
	}
	return code
}

// runVersion is `vigil version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if isHelp(args[0]) {
			fmt.Fprintln(stdout, "Usage: vigil version\n\nPrints the version, revision and build details of this binary.")
			return exitOK
		}
		fmt.Fprintf(stderr, "vigil version: unexpected argument %q\n", args[0])
		return exitUsage
	}
	b := appliance.Build()
	fmt.Fprintf(stdout, "vigil, version %s", b.Version)
	if b.Revision != "" || b.Branch != "" {
		fmt.Fprintf(stdout, " (branch: %s, revision: %s)", b.Branch, b.Revision)
	}
	fmt.Fprintln(stdout)
	if b.BuildUser != "" {
		fmt.Fprintf(stdout, "  build user:       %s\n", b.BuildUser)
	}
	if b.BuildDate != "" {
		fmt.Fprintf(stdout, "  build date:       %s\n", b.BuildDate)
	}
	fmt.Fprintf(stdout, "  go version:       %s\n", b.GoVersion)
	fmt.Fprintf(stdout, "  platform:         %s/%s\n", runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// printError writes err to w, one line per error joined in it.
func printError(w io.Writer, err error) { printLines(w, "vigil: ", err) }

// printLines writes each line of err to w after prefix.
func printLines(w io.Writer, prefix string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(w, "%s%s\n", prefix, line)
	}
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
