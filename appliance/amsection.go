package appliance

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

// AlertmanagerSection is the alertmanager: section of a --config file:
// the contents of an alertmanager.yml, written inline. --config.alertmanager
// given on the command line wins over it (flags win over the file); a
// file that has both the section and config: {alertmanager: FILE} is
// refused as ambiguous.
type AlertmanagerSection struct {
	// YAML is the section at its own lines of the file, the other lines
	// left empty, so that the line numbers of its errors are the file's.
	YAML []byte
	// File is the --config file; relative template paths are taken from
	// its folder.
	File string
	// Line is the line of the alertmanager: key.
	Line int

	set bool
}

// Set says whether the file has the section.
func (s AlertmanagerSection) Set() bool { return s.set }

// IsZero leaves the section out of a marshalled config when unset.
func (s AlertmanagerSection) IsZero() bool { return !s.set }

// UnmarshalYAML notes that the section is there; LoadFile takes its text
// from the file (see alertmanagerSection).
func (s *AlertmanagerSection) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return lineError(n, "alertmanager must be a mapping: the contents of an alertmanager.yml (route, receivers, ...), indented under alertmanager:")
	}
	s.set = true
	return nil
}

// MarshalYAML writes the section as it runs, with its secrets hidden, as
// /api/v2/status shows an alertmanager.yml: /api/v1/status/config is
// open to viewers.
func (s AlertmanagerSection) MarshalYAML() (any, error) {
	c, err := s.Parse()
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(notify.RedactedYAML(c)), &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 {
		return nil, errors.New("the alertmanager section renders empty")
	}
	return n.Content[0], nil
}

var yamlV2Line = regexp.MustCompile(`(?m)^(\s*)(?:yaml: )?line (\d+): `)

// Parse reads and checks the section as an alertmanager.yml, its
// templates included; errors name the file and line.
func (s AlertmanagerSection) Parse() (*notify.Config, error) {
	c, err := notify.Parse(s.YAML)
	if err == nil {
		c.File = s.File
		c.ResolvePaths(filepath.Dir(s.File))
		_, err = notify.CheckTemplates(c)
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
		msg = yamlV2Line.ReplaceAllString(msg, "${1}"+s.File+":${2}: ")
		return nil, fmt.Errorf("%s:%d: the alertmanager section:\n%s", s.File, s.Line, msg)
	}
	return c, nil
}

// alertmanagerSection fills in cfg.Alertmanager from the file's text:
// the lines of the section, the rest of the file blanked.
func alertmanagerSection(cfg *Config, file string, data []byte) error {
	if !cfg.Alertmanager.set {
		return nil
	}
	text, line, err := sectionText(data, "alertmanager")
	if err != nil || line == 0 {
		return err
	}
	cfg.Alertmanager.YAML = text
	cfg.Alertmanager.File, cfg.Alertmanager.Line = file, line
	return nil
}

// sectionText returns the value of the top-level key of data, a config
// file, as a YAML document of its own at the file's own lines (every other
// line blanked), so that errors in parsing it name the file's lines; and
// the line of the key, 0 when the file has no such key.
func sectionText(data []byte, key string) (text []byte, line int, err error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, 0, err
	}
	if len(root.Content) == 0 {
		return nil, 0, nil
	}
	doc := root.Content[0]
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, val := doc.Content[i], doc.Content[i+1]
		if k.Value != key {
			continue
		}
		end := len(lines) // the line after the section's last
		if i+2 < len(doc.Content) {
			end = doc.Content[i+2].Line - 1
		}
		out := make([]string, len(lines))
		for l := k.Line; l < end; l++ { // 0-based: the lines after the key
			out[l] = lines[l]
		}
		if val.Line == k.Line { // a flow mapping on the key's line
			first := lines[k.Line-1]
			out[k.Line-1] = strings.Repeat(" ", val.Column-1) + first[val.Column-1:]
		}
		return []byte(strings.Join(out, "\n")), k.Line, nil
	}
	return nil, 0, nil
}
