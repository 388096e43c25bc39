package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vigil-monitoring/vigil/appliance"
)

const usageHeader = `Vigil: metrics, alerts and dashboards in one binary.

Usage:
  vigil [run] [FLAGS]          start Vigil (the default command)
  vigil check config FILE...   validate Vigil config files
  vigil user add|passwd|del|list|token ...
                               manage users and API tokens of a stopped
                               Vigil (vigil user --help)
  vigil backup --to=DIR        back up the running Vigil into DIR
                               (vigil backup --help)
  vigil restore --from=DIR     restore a backup into the data directory of
                               a stopped Vigil (vigil restore --help)
  vigil demo --url=URL         run the simulated Panic platform against another
                               running Vigil (vigil demo --help)
  vigil version                print the version
  vigil help                   show this help

Every flag has a key in the --config file: the flag's name with its dots
as nesting and its dashes as underscores (--query.max-samples is
query: {max_samples: ...}). Flags on the command line win over the file.
Durations are written 30d, 2w, 1y, 720h, 90s; sizes 64MiB, 2GiB, 500MB.
`

const usageFooter = `
Signals: SIGHUP reloads --config; SIGINT and SIGTERM shut down gracefully.
Exit codes: 0 success, 1 runtime failure, 2 usage error.
`

// Layout of the flag list.
const (
	helpWidth  = 80
	flagColumn = 30
)

// printUsage writes `vigil --help`: Vigil's own flags, grouped, with
// their defaults. Flags that libraries register on flag.CommandLine never
// appear here.
func printUsage(w io.Writer) {
	defaults := appliance.DefaultConfig()
	fs := flag.NewFlagSet("vigil", flag.ContinueOnError)
	groups := appliance.BindFlags(fs, &defaults)

	var b strings.Builder
	b.WriteString(usageHeader)
	for _, g := range groups {
		fmt.Fprintf(&b, "\n%s:\n", g.Title)
		for _, doc := range g.Flags {
			f := fs.Lookup(doc.Name)
			if f == nil {
				continue
			}
			left := "  --" + f.Name
			if doc.Arg != "" {
				left += "=" + doc.Arg
			}
			usage := f.Usage
			if d := f.DefValue; d != "" && d != "false" && d != "0" {
				usage += " (default " + d + ")"
			}
			writeFlag(&b, left, usage)
		}
	}
	b.WriteString(usageFooter)
	io.WriteString(w, b.String())
}

// writeFlag writes one flag: its name in the left column and its usage
// wrapped in the right one, or under it when the name is too long.
func writeFlag(b *strings.Builder, left, usage string) {
	lines := wrap(usage, helpWidth-flagColumn)
	indent := strings.Repeat(" ", flagColumn)
	if len(left) < flagColumn-1 {
		b.WriteString(left + strings.Repeat(" ", flagColumn-len(left)) + lines[0] + "\n")
		lines = lines[1:]
	} else {
		b.WriteString(left + "\n")
	}
	for _, l := range lines {
		b.WriteString(indent + l + "\n")
	}
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	return append(lines, line)
}
