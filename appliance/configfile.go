package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-monitoring/vigil/internal/suggest"
)

// LoadFile reads a Vigil config file over the defaults. Keys the file does
// not set keep their defaults; unknown keys, wrong types and bad values are
// errors that name the file and line. Relative paths in the file are made
// relative to the file's directory.
func LoadFile(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return Config{}, fmt.Errorf("config file %s does not exist; check the path given to --config", path)
		case errors.Is(err, os.ErrPermission):
			return Config{}, fmt.Errorf("config file %s is not readable by this user; fix its permissions", path)
		}
		return Config{}, fmt.Errorf("cannot read the config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fileError(path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%s:%d: a second YAML document; a Vigil config file holds one (remove the ---)", path, next.Line)
	}
	if err := resolvePaths(&cfg, path, data); err != nil {
		return Config{}, fileError(path, err)
	}
	if err := alertmanagerSection(&cfg, path, data); err != nil {
		return Config{}, fileError(path, err)
	}
	if cfg.Alertmanager.Set() {
		if cfg.Files.Alertmanager != "" {
			return Config{}, fmt.Errorf("%s:%d: both an alertmanager section and config: {alertmanager: %s}; give the alertmanager config once, in one of them", path, cfg.Alertmanager.Line, cfg.Files.Alertmanager)
		}
		if _, err := cfg.Alertmanager.Parse(); err != nil {
			return Config{}, err
		}
	}
	if err := prometheusSection(&cfg, data); err != nil {
		return Config{}, fmt.Errorf("%s:%d: %w", path, cfg.Prometheus.Line, err)
	}
	cfg.ConfigFile = path
	return cfg, nil
}

// MarshalFile renders c as a --config file holding every setting.
func (c Config) MarshalFile() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// resolvePaths makes the relative paths the file sets relative to the
// file's directory, as Prometheus does for the files its config names.
func resolvePaths(cfg *Config, file string, data []byte) error {
	var set struct {
		DataDir           *string `yaml:"data_dir"`
		AdminPasswordFile *string `yaml:"admin_password_file"`
		Files             struct {
			Prometheus   *string `yaml:"prometheus"`
			Alertmanager *string `yaml:"alertmanager"`
		} `yaml:"config"`
		Web struct {
			TLSCertFile *string `yaml:"tls_cert_file"`
			TLSKeyFile  *string `yaml:"tls_key_file"`
		} `yaml:"web"`
		Backup struct {
			Dir *string `yaml:"dir"`
		} `yaml:"backup"`
		Rules struct {
			Files []string `yaml:"files"`
		} `yaml:"rules"`
		Dashboards struct {
			Dir *string `yaml:"dir"`
		} `yaml:"dashboards"`
	}
	if err := yaml.Unmarshal(data, &set); err != nil {
		return err
	}
	dir := filepath.Dir(file)
	resolve := func(fromFile *string, p *string) {
		if fromFile != nil && *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(set.DataDir, &cfg.DataDir)
	resolve(set.AdminPasswordFile, &cfg.AdminPasswordFile)
	resolve(set.Files.Prometheus, &cfg.Files.Prometheus)
	resolve(set.Files.Alertmanager, &cfg.Files.Alertmanager)
	resolve(set.Web.TLSCertFile, &cfg.Web.TLSCertFile)
	resolve(set.Web.TLSKeyFile, &cfg.Web.TLSKeyFile)
	resolve(set.Backup.Dir, &cfg.Backup.Dir)
	resolve(set.Dashboards.Dir, &cfg.Dashboards.Dir)
	if len(set.Rules.Files) > 0 {
		for i := range cfg.Rules.Files {
			resolve(&set.Rules.Files[0], &cfg.Rules.Files[i])
		}
	}
	return nil
}

var (
	yamlLineRE     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	notMappingRE   = regexp.MustCompile(`^cannot unmarshal \S+(?: .*)? into (appliance\.\w+)$`)
)

// fileError turns yaml.v3's errors into one line per problem, each as
// file:line: message, with a suggestion for unknown keys.
func fileError(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	errs := make([]error, 0, len(msgs))
	for _, msg := range msgs {
		line := ""
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, msg = m[1], m[2]
		}
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			msg = unknownKeyMessage(m[1], m[2])
		} else if m := notMappingRE.FindStringSubmatch(msg); m != nil && sectionMessage(m[1]) != "" {
			msg = sectionMessage(m[1])
		} else {
			msg = readableTypes.Replace(strings.TrimPrefix(msg, "yaml: "))
		}
		if line != "" {
			errs = append(errs, fmt.Errorf("%s:%s: %s", file, line, msg))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", file, msg))
		}
	}
	return errors.Join(errs...)
}

// sectionMessage explains that the section of Go type typeName must be a
// mapping, or returns "" if typeName is not a section.
func sectionMessage(typeName string) string {
	section, keys := configKeys(typeName)
	if keys == nil {
		return ""
	}
	if section == "" {
		section = "the file"
	}
	return fmt.Sprintf("%s must be a mapping with the keys %s", section, strings.Join(keys, ", "))
}

var readableTypes = strings.NewReplacer(
	" into appliance.AuthMode", " into on or none",
	" into int", " into a whole number",
	" into bool", " into true or false",
	" into []string", " into a list",
)

// unknownKeyMessage explains an unknown key found in the struct typeName
// and suggests the key that was probably meant.
func unknownKeyMessage(key, typeName string) string {
	key = strings.Trim(key, `"`)
	section, keys := configKeys(typeName)
	msg := fmt.Sprintf("unknown key %q", key)
	if section != "" {
		msg += " in " + section
	}
	if hint := suggestKey(key, section, keys); hint != "" {
		return msg + " (" + hint + ")"
	}
	return msg + " (the keys here are " + strings.Join(keys, ", ") + ")"
}

// suggestKey names the key that was probably meant, if any.
func suggestKey(key, section string, keys []string) string {
	normal := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	if first, rest, ok := strings.Cut(normal, "."); ok {
		// A flag name used as a key: query.timeout is written nested.
		sub := section
		if sub != "" {
			sub += "."
		}
		if s, subKeys := configKeysByPath(sub + first); s != "" {
			for _, k := range subKeys {
				if k == rest {
					return fmt.Sprintf("write it nested: %q, then %q indented under it", first+":", rest+":")
				}
			}
		}
	}
	if best := suggest.Closest(normal, keys); best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return ""
}

// configSection is one level of the config file: its dotted path ("" for
// the top level, "query" for the query: mapping), Go type and keys.
type configSection struct {
	path string
	typ  reflect.Type
	keys []string
}

// configSections lists the levels of the config file, derived from
// Config's yaml tags.
func configSections() []configSection {
	var out []configSection
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		sec := configSection{path: path, typ: t}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			sec.keys = append(sec.keys, name)
			// Sections are structs, and lists of them (remote_write);
			// the option structs of VictoriaMetrics in them count too.
			t := f.Type
			for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if t.Kind() == reflect.Struct && t.NumMethod() == 0 {
				walk(t, strings.TrimPrefix(path+"."+name, "."))
			}
		}
		out = append(out, sec)
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

// configKeys returns the section whose Go type is typeName (as yaml.v3
// names it, e.g. "appliance.QueryConfig").
func configKeys(typeName string) (section string, keys []string) {
	for _, s := range configSections() {
		if s.typ.String() == typeName {
			return s.path, s.keys
		}
	}
	return "", nil
}

// configKeysByPath returns the section at the dotted path, if any.
func configKeysByPath(path string) (string, []string) {
	for _, s := range configSections() {
		if s.path == path {
			return s.path, s.keys
		}
	}
	return "", nil
}
