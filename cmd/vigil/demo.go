package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigil-monitoring/vigil/appliance"
	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/internal/clock"
)

const demoUsage = `Usage:
  vigil demo [--url=URL] [--token-file=FILE | --user=NAME --password-file=FILE] [--backfill=24h]

Runs the simulated Panic platform of 'vigil --demo' against another
running Vigil, over HTTP: it writes up to --backfill of history through
remote write (POST /api/v1/write), then a step every 15 s until it is
stopped (Ctrl-C). Started again, it resumes where it stopped: it writes
only the steps missed and its counters go on from the values stored.

Finding Vigil:
  --url=URL             Vigil's address (default http://127.0.0.1:9595)
  --config=FILE         or take the address from Vigil's config file
  --listen=ADDR         or from its --listen address
  --ca-file=FILE        trust this PEM certificate or CA for https

Credentials (writing needs a writer; resuming reads the last values back,
which needs a viewer: give an admin's, or the demo starts its counters
from zero):
  --token-file=FILE     an API token, read from FILE
  --token=SECRET        or given on the command line (default: the
                        VIGIL_TOKEN environment variable)
  --user=NAME --password-file=FILE
                        or a user name and the file holding its password

What to write:
  --backfill=DURATION   history written at the first start (default 24h)
  --seed=N              the simulation's random seed (default: the time)

Progress goes to standard error.
Exit codes: 0 stopped by a signal, 1 failure, 2 usage error.
`

// runDemo is `vigil demo`.
func runDemo(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := demoCommand(ctx, args, stderr, getenv)
	return commandExit("vigil demo", demoUsage, err, stdout, stderr)
}

func demoCommand(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cf clientFlags
	cf.register(fs)
	backfill := appliance.Duration(24 * time.Hour)
	fs.Var(&durationValue{&backfill}, "backfill", "")
	seed := fs.Uint64("seed", uint64(time.Now().Unix()), "")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if backfill < 0 {
		return usageErrorf("--backfill=%s: must be 0 or greater", backfill)
	}
	base, authorization, client, err := cf.resolve(getenv)
	if err != nil {
		return err
	}
	client.Timeout = time.Minute // a step or a look-up, never a stream

	// Is Vigil there? /-/ready needs no credentials.
	resp, err := client.Get(base + "/-/ready")
	if err != nil {
		return reachError(base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s is not ready (%s); is it Vigil, and has it started?", base, resp.Status)
	}

	fmt.Fprintf(stderr, "demo: simulating the Panic platform into %s (job=%q); Ctrl-C stops it\n", base, demo.Job)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	progress := newProgressPrinter(stderr, "demo: backfill")
	progress.amount = func(done, total int64) string { return fmt.Sprintf("%d of %d steps", done, total) }
	err = demo.Simulate(ctx, &demo.Remote{URL: base, Client: client, Authorization: authorization}, demo.Options{
		Backfill: backfill.Std(),
		Clock:    clock.Wall{},
		Seed:     *seed,
		Log:      log,
		Progress: func(done, total int) { progress.update(int64(done), int64(total)) },
		Backfilled: func(from, to time.Time, took time.Duration) {
			progress.finish()
			fmt.Fprintf(stderr, "demo: backfill done: %d steps in %s; a step every %s from now on\n", demo.Steps(from, to), took.Round(time.Millisecond), demo.Step)
		},
	})
	progress.finish()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "demo: stopped")
		return nil
	}
	return err
}

// durationValue is a flag.Value of an appliance.Duration (30m, 24h, 2d).
type durationValue struct{ p *appliance.Duration }

func (d *durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d *durationValue) Set(s string) error {
	v, err := appliance.ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p = v
	return nil
}
