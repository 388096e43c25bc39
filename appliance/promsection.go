package appliance

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-monitoring/vigil/appliance/scrape"
)

// PrometheusSection is the prometheus: section of a --config file: the
// keys of a prometheus.yml (global, scrape_configs, rule_files,
// remote_write, alerting), written inline and checked as they are in a
// separate file, with relative paths taken from the config file's folder.
// --config.prometheus given on the command line wins over it (flags win
// over the file); a file that has both the section and config:
// {prometheus: FILE} is refused as ambiguous.
type PrometheusSection struct {
	// YAML is the section at its own lines of the file, the other lines
	// left empty, so that the line numbers of its errors are the file's.
	YAML []byte
	// Line is the line of the prometheus: key; 0 when there is no section.
	Line int

	set bool
}

// UnmarshalYAML notes that the section is there; LoadFile takes its text
// from the file (see sectionText).
func (p *PrometheusSection) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return lineError(n, "prometheus must be a mapping: the keys of a prometheus.yml (global, scrape_configs, rule_files, ...), indented under prometheus:")
	}
	p.set = true
	return nil
}

// MarshalYAML says where the section is rather than repeating it: it may
// hold credentials (basic_auth, bearer_token, remote_write's), and
// /api/v1/status/config is open to viewers.
func (p PrometheusSection) MarshalYAML() (any, error) {
	return fmt.Sprintf("<the prometheus.yml section at line %d of the config file>", p.Line), nil
}

// IsZero leaves the section out of a marshalled config when unset.
func (p PrometheusSection) IsZero() bool { return !p.set }

// prometheusSection fills in cfg.Prometheus from the file's text.
func prometheusSection(cfg *Config, data []byte) error {
	if !cfg.Prometheus.set {
		return nil
	}
	text, line, err := sectionText(data, "prometheus")
	if err != nil {
		return err
	}
	cfg.Prometheus.YAML, cfg.Prometheus.Line = text, line
	if cfg.Files.Prometheus != "" {
		return fmt.Errorf("both a prometheus section and config: {prometheus: %s}; give the Prometheus configuration once, in one of them", cfg.Files.Prometheus)
	}
	return nil
}

// scrapeSource is where the scraper takes its configuration from.
func scrapeSource(cfg Config) scrape.Source {
	if cfg.Files.Prometheus != "" {
		return scrape.Source{File: cfg.Files.Prometheus}
	}
	return scrape.Source{Section: cfg.Prometheus.YAML, In: cfg.ConfigFile, Line: cfg.Prometheus.Line}
}

// CheckScrape checks the scrape configuration c takes, from
// config.prometheus or the prometheus section, as the start does.
func (c Config) CheckScrape() error {
	_, err := scrapeSource(c).Load()
	if err != nil && c.Files.Prometheus != "" {
		return fmt.Errorf("--config.prometheus: %w", err)
	}
	return err
}
