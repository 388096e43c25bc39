package appliance

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/appliance/scrape"
	"github.com/vigil-monitoring/vigil/storage"
)

// scrapeRunner is the scrape capability as the appliance runs it: the jobs
// of --config.prometheus plus Vigil's own metrics (job vigil), reloaded
// with the rest of the configuration.
type scrapeRunner struct {
	s *scrape.Scraper
}

var _ component = (*scrapeRunner)(nil)

// startScrape starts scraping; a prometheus.yml that does not validate
// stops the start, naming the file, the line and the option. selfURL is
// where Vigil is reached, whose host:port becomes the self-scrape's
// instance label. demoExporter, when not nil, is scraped as the simulated
// platform's targets.
func startScrape(cfg Config, st *storage.Storage, selfURL string, demoExporter *demo.Exporter, log *slog.Logger) (*scrapeRunner, error) {
	var instance string
	if u, err := url.Parse(selfURL); err == nil {
		instance = u.Host
	}
	opts := scrape.Options{Storage: st, Logger: log, SelfInstance: instance}
	if demoExporter != nil {
		for i, h := range demoExporter.Handlers() {
			opts.Internal = append(opts.Internal, scrape.InternalTarget{Job: demo.Job, Instance: demo.ExporterInstances[i], Interval: demo.Step, Handler: h})
		}
	}
	s := scrape.New(opts)
	if err := s.Start(scrapeSource(cfg)); err != nil {
		if cfg.Files.Prometheus != "" {
			return nil, fmt.Errorf("--config.prometheus: %w", err)
		}
		return nil, fmt.Errorf("cannot start scraping: %w", err)
	}
	return &scrapeRunner{s: s}, nil
}

// Reload re-reads --config.prometheus, or takes the prometheus section of
// the re-read config file; on error the running scrape configuration is
// kept.
func (r *scrapeRunner) Reload(cfg Config) (bool, error) {
	changed, err := r.s.Reload(scrapeSource(cfg))
	if err != nil && cfg.Files.Prometheus != "" {
		return false, fmt.Errorf("--config.prometheus: %w", err)
	}
	return changed, err
}

// ruleFiles returns the rule_files of the running prometheus.yml. The rules
// reload after the scrape configuration, so they see the new list.
func (r *scrapeRunner) ruleFiles() []string {
	if pc := r.s.Config(); pc != nil {
		return pc.RuleFiles
	}
	return nil
}

// evaluationInterval is prometheus.yml's global.evaluation_interval, 0 when
// it sets none.
func (r *scrapeRunner) evaluationInterval() time.Duration {
	if pc := r.s.Config(); pc != nil {
		return pc.Global.EvaluationInterval
	}
	return 0
}

// stop stops storing scraped samples; call it before the storage closes.
func (r *scrapeRunner) stop() { r.s.Stop() }
