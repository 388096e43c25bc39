package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vigil-monitoring/vigil/appliance"
	"github.com/vigil-monitoring/vigil/web"
)

const backupUsage = `Usage:
  vigil backup --to=DIR [--url=URL] [--token-file=FILE | --user=NAME --password-file=FILE]

Asks the running Vigil for a consistent backup of its samples, users,
tokens and pushed groups, written into DIR: a new (or empty) directory on
the machine Vigil runs on, written by the Vigil process. Ingestion and
queries go on meanwhile. Restore it with 'vigil restore'.

Finding Vigil:
  --url=URL             Vigil's address (default http://127.0.0.1:9595)
  --config=FILE         or take the address from Vigil's config file
  --listen=ADDR         or from its --listen address
  --ca-file=FILE        trust this PEM certificate or CA for https (default:
                        the --web.tls-cert-file of --config, if any)

Credentials of an admin:
  --token-file=FILE     an API token, read from FILE
  --token=SECRET        or given on the command line (default: the
                        VIGIL_TOKEN environment variable)
  --user=NAME --password-file=FILE
                        or a user name and the file holding its password

Progress goes to standard error, the summary to standard output.
Exit codes: 0 backup written, 1 failure, 2 usage error.
`

const restoreUsage = `Usage:
  vigil restore --from=DIR [--data-dir=DIR | --config=FILE]

Restores a backup made by 'vigil backup' (or --backup.dir) into the data
directory of a stopped Vigil (default ./vigil-data, or the data_dir of
--config). Every file of the backup is checked against the backup's
manifest before anything changes. The data there now is not deleted: it
is moved aside, next to it, as NAME.before-restore-TIME.

Exit codes: 0 restored, 1 failure (Vigil running, damaged backup), 2 usage
error.
`

// runBackup is `vigil backup`.
func runBackup(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := backup(args, stdout, stderr, getenv)
	return commandExit("vigil backup", backupUsage, err, stdout, stderr)
}

// runRestore is `vigil restore`.
func runRestore(args []string, stdout, stderr io.Writer) int {
	err := restore(args, stdout, stderr)
	return commandExit("vigil restore", restoreUsage, err, stdout, stderr)
}

// commandExit prints err as the command's failure and returns the exit
// code: 2 for usage errors, 1 for the others.
func commandExit(name, usage string, err error, stdout, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for the flags.\n", name, msg, name)
		return exitUsage
	}
	printLines(stderr, name+": ", err)
	return exitFailure
}

func backup(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.String("to", "", "")
	var cf clientFlags
	cf.register(fs)
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *to == "" {
		return usageErrorf("--to=DIR is required: the directory to write the backup into")
	}
	dir, err := filepath.Abs(*to)
	if err != nil {
		return err
	}
	base, authorization, client, err := cf.resolve(getenv)
	if err != nil {
		return err
	}

	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/admin/backup", strings.NewReader(url.Values{"to": {dir}}.Encode()))
	if err != nil {
		return usageErrorf("--url=%s: %v", base, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	fmt.Fprintf(stderr, "backup: asking Vigil at %s to write a backup into %s\n", base, dir)
	resp, err := client.Do(req)
	if err != nil {
		return reachError(base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(base, resp, authorization != "")
	}

	p := newProgressPrinter(stderr, "backup")
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line web.BackupLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("unexpected answer from %s: %q", base, sc.Text())
		}
		switch {
		case line.Progress != nil:
			p.update(line.Progress.Done, line.Progress.Total)
		case line.Status == "success" && line.Data != nil:
			p.finish()
			d := line.Data
			fmt.Fprintf(stdout, "Backup written to %s: %d files, %s in %s.\n", d.Dir, d.Files, humanBytes(d.Bytes), (time.Duration(d.Seconds * float64(time.Second))).Round(time.Millisecond))
			fmt.Fprintf(stdout, "Restore it into a stopped Vigil with: vigil restore --from=%s --data-dir=DIR\n", d.Dir)
			return nil
		case line.Status == "error":
			p.finish()
			return fmt.Errorf("the backup failed: %s", line.Error)
		}
	}
	p.finish()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the connection to Vigil at %s broke before the backup was done (%v); Vigil removes a backup it could not finish, see its log", base, err)
	}
	return fmt.Errorf("the connection to Vigil at %s ended before the backup was done; Vigil removes a backup it could not finish, see its log", base)
}

// responseError explains an answer other than 200.
func responseError(base string, resp *http.Response, sentCredentials bool) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(body))
	var env struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != "" {
		msg = env.Error
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if !sentCredentials {
			return fmt.Errorf("%s needs an admin's credentials: pass --token (or set VIGIL_TOKEN), or --user and --password-file", base)
		}
		return fmt.Errorf("%s refused the credentials (%s); check the token or password", base, msg)
	case http.StatusForbidden:
		return fmt.Errorf("%s refused the backup (%s): backups need an admin's credentials", base, msg)
	case http.StatusNotFound:
		return fmt.Errorf("%s has no backup API (404); is it Vigil, and as recent as this command (%s)?", base, appliance.Build().Version)
	case http.StatusBadRequest:
		if strings.Contains(msg, "HTTP request to an HTTPS server") {
			return fmt.Errorf("%s serves HTTPS; pass --url=https://%s", base, strings.TrimPrefix(base, "http://"))
		}
	}
	return fmt.Errorf("%s refused the backup: %s (%s)", base, msg, resp.Status)
}

func restore(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "")
	dataDir := fs.String("data-dir", "", "")
	configFile := fs.String("config", "", "")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *from == "" {
		return usageErrorf("--from=DIR is required: the backup directory")
	}
	dir := *dataDir
	if dir == "" && *configFile != "" {
		cfg, err := appliance.LoadFile(*configFile)
		if err != nil {
			return err
		}
		dir = cfg.DataDir
	}
	if dir == "" {
		dir = appliance.DefaultConfig().DataDir
	}

	var p *progressPrinter
	step := ""
	res, err := appliance.Restore(appliance.RestoreOptions{
		From:    *from,
		DataDir: dir,
		Progress: func(s string, done, total int64) {
			if s != step {
				if p != nil {
					p.finish()
				}
				step, p = s, newProgressPrinter(stderr, "restore: "+s)
			}
			p.update(done, total)
		},
	})
	if p != nil {
		p.finish()
	}
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "Restored the backup of %s (Vigil %s; %d files, %s) into %s.\n",
		m.Created.Format(time.RFC3339), m.Version, len(m.Files), humanBytes(m.Bytes()), dir)
	if len(res.MovedAside) > 0 {
		fmt.Fprintln(stdout, "The data that was there is moved aside, not deleted:")
		for _, a := range res.MovedAside {
			fmt.Fprintf(stdout, "  %s\n", a)
		}
	}
	fmt.Fprintf(stdout, "Next: start Vigil with --data-dir=%s. Users, passwords and API tokens are those of the backup.\n", dir)
	if len(res.MovedAside) > 0 {
		fmt.Fprintln(stdout, "Once it serves what you expect, delete what was moved aside.")
	}
	return nil
}

// progressPrinter shows how far a copy is on standard error: one line
// rewritten in place on a terminal, else a line every 10%.
type progressPrinter struct {
	w     io.Writer
	label string
	// amount formats how far it is, "12.0 MiB of 80.0 MiB" by default.
	amount  func(done, total int64) string
	tty     bool
	printed int // the last percentage printed, -1 for none
	last    time.Time
	wrote   bool
	done    bool
}

func newProgressPrinter(w io.Writer, label string) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressPrinter{w: w, label: label, tty: tty, printed: -1, amount: func(done, total int64) string {
		return humanBytes(done) + " of " + humanBytes(total)
	}}
}

func (p *progressPrinter) update(done, total int64) {
	pct := 100
	if total > 0 {
		pct = int(done * 100 / total)
	}
	line := fmt.Sprintf("%s: %3d%% (%s)", p.label, pct, p.amount(done, total))
	if p.tty {
		now := time.Now()
		if pct < 100 && now.Sub(p.last) < 100*time.Millisecond {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r%s\033[K", line)
		p.wrote = true
		return
	}
	if step := pct / 10 * 10; step > p.printed {
		p.printed = step
		fmt.Fprintln(p.w, line)
	}
}

// finish ends the progress line.
func (p *progressPrinter) finish() {
	if p.tty && p.wrote && !p.done {
		fmt.Fprintln(p.w)
	}
	p.done = true
}

// humanBytes formats n as 12.3 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
