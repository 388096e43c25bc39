package appliance

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
	"go.etcd.io/bbolt"

	"github.com/vigil-monitoring/vigil/dashboards"
	"github.com/vigil-monitoring/vigil/web"
)

// DashboardsConfig is the dashboards capability: the built-in dashboards
// and user dashboards are always there; Dir adds provisioned ones.
type DashboardsConfig struct {
	// Dir holds Grafana dashboard JSON files (*.json, subdirectories
	// included), served read-only and read again on every reload.
	Dir string `yaml:"dir"`
}

func (c DashboardsConfig) validate(bad func(flag string, value any, format string, args ...any)) {
	if c.Dir == "" {
		return
	}
	info, err := os.Stat(c.Dir)
	switch {
	case os.IsNotExist(err):
		bad("dashboards.dir", c.Dir, "no such directory; check the path")
	case err != nil:
		bad("dashboards.dir", c.Dir, "%v", err)
	case !info.IsDir():
		bad("dashboards.dir", c.Dir, "is a file; give the directory that holds the dashboard files")
	}
}

// dashboardRunner is the dashboard store as the appliance runs it: opened
// over the state file, provisioned at start and on every reload.
type dashboardRunner struct {
	store *dashboards.Store
	log   *slog.Logger
}

var (
	_ web.DashboardStore = (*dashboards.Store)(nil)
	_ component          = (*dashboardRunner)(nil)
)

// startDashboards opens the store and loads cfg's dashboards directory.
// A provisioned file that does not load is logged and skipped, as Grafana
// does: a broken dashboard must not keep the monitoring from starting. The
// directory itself was checked by Validate.
func startDashboards(cfg Config, db *bbolt.DB, p parser.Parser, log *slog.Logger) (*dashboardRunner, error) {
	log = log.With("component", "dashboards")
	store, err := dashboards.Open(dashboards.Options{DB: db, Parser: p, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cannot open the dashboard store: %w", err)
	}
	// Provision logs what it skipped.
	_ = store.Provision(cfg.Dashboards.Dir)
	return &dashboardRunner{store: store, log: log}, nil
}

// Reload provisions the dashboards directory of cfg again. The files that
// load replace the provisioned dashboards even when others do not; the
// error names those skipped, so that POST /-/reload reports them.
func (d *dashboardRunner) Reload(cfg Config) (bool, error) {
	if err := d.store.Provision(cfg.Dashboards.Dir); err != nil {
		return true, err
	}
	return true, nil
}
