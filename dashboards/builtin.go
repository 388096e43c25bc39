package dashboards

import (
	"embed"
	"fmt"
	"path"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// The built-in dashboards of the Panic platform, from the seed's Grafana
// dashboards and DESIGN.md's metric catalogue. They are plain Grafana
// dashboard JSON, embedded in the binary: Vigil renders them, and the same
// files import into Grafana.
//
//go:embed builtin/*.json
var builtinFS embed.FS

// The uids of the built-in dashboards.
const (
	SystemOverviewUID  = "vigil-system-overview"
	BusinessMetricsUID = "vigil-business-metrics"
)

// Builtin returns the built-in dashboards' JSON by file name.
func Builtin() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := builtinFS.ReadDir("builtin")
	for _, e := range entries {
		if b, err := builtinFS.ReadFile(path.Join("builtin", e.Name())); err == nil {
			out[e.Name()] = b
		}
	}
	return out
}

// loadBuiltin parses the built-in dashboards; they date from at. One that
// does not parse is a bug of the build, reported as an error.
func loadBuiltin(p parser.Parser, at time.Time) (map[string]Entry, error) {
	out := map[string]Entry{}
	for name, raw := range Builtin() {
		d, err := Parse(raw, p)
		if err != nil {
			return nil, fmt.Errorf("the built-in dashboard %s: %w", name, err)
		}
		if err := CheckUID(d.UID); err != nil {
			return nil, fmt.Errorf("the built-in dashboard %s: uid %w", name, err)
		}
		if _, dup := out[d.UID]; dup {
			return nil, fmt.Errorf("the built-in dashboard %s: uid %s is used twice", name, d.UID)
		}
		out[d.UID] = Entry{Dashboard: d, Meta: Meta{UID: d.UID, Source: SourceBuiltin, ReadOnly: true, Created: at, Updated: at}}
	}
	return out, nil
}
