package appliance

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Duration is a time span written the Prometheus way: 30d, 2w, 1y, 720h,
// 1h30m, 90s. It is both a flag value and a YAML scalar.
type Duration time.Duration

// ParseDuration parses a Prometheus-style duration. Negative durations are
// rejected.
func ParseDuration(s string) (Duration, error) {
	d, err := model.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write it like 30d, 2w, 12h or 90s)", s)
	}
	return Duration(d), nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way ParseDuration reads it, e.g. "30d" or "1h30m".
func (d Duration) String() string { return model.Duration(d).String() }

// UnmarshalYAML reads a duration scalar, reporting the line on error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "expected a duration such as 30d, got a %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d as in the flags, e.g. "30d".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// durationFlag is the flag.Value of a Duration.
type durationFlag struct{ p *Duration }

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f durationFlag) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*f.p = v
	return nil
}

// Bytes is a size in bytes, written as a plain number or with a unit:
// 64MiB, 512KiB, 2GiB (powers of 1024) or 500MB, 1GB (powers of 1000).
type Bytes int64

var byteUnits = []struct {
	suffix string
	n      int64
}{
	// Longer suffixes first so that "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// ParseBytes parses a size such as 64MiB, 1GB or 1048576.
func ParseBytes(s string) (Bytes, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*float64(mult) > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size (write it like 64MiB, 2GiB, 500MB or a number of bytes)", s)
	}
	return Bytes(f * float64(mult)), nil
}

// String formats b with the largest binary unit that divides it exactly,
// e.g. "64MiB"; other sizes are plain byte counts.
func (b Bytes) String() string {
	units := []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML reads a size scalar, reporting the line on error.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "expected a size such as 64MiB, got a %s", kindName(n))
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*b = v
	return nil
}

// MarshalYAML writes b as in the flags, e.g. "64MiB", or as a number.
func (b Bytes) MarshalYAML() (any, error) {
	if s := b.String(); s != strconv.FormatInt(int64(b), 10) {
		return s, nil
	}
	return int64(b), nil
}

// bytesFlag is the flag.Value of a Bytes.
type bytesFlag struct{ p *Bytes }

func (f bytesFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f bytesFlag) Set(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*f.p = v
	return nil
}

// listFlag is a comma-separated, repeatable flag. The first Set on the
// command line replaces what the config file said, so flags win over the
// file for lists too; later Sets append.
type listFlag struct {
	p       *[]string
	touched bool
}

func (f *listFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f *listFlag) Set(s string) error {
	if !f.touched {
		*f.p = nil
		f.touched = true
	}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*f.p = append(*f.p, item)
		}
	}
	return nil
}

// stringFlag is a flag.Value over a named string type.
type stringFlag[T ~string] struct{ p *T }

func (f stringFlag[T]) String() string {
	if f.p == nil {
		return ""
	}
	return string(*f.p)
}

func (f stringFlag[T]) Set(s string) error { *f.p = T(s); return nil }

// lineError is a YAML decoding error that names the line; the decoder
// collects it with the others, so a file's mistakes are reported together.
func lineError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)}}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	default:
		return "scalar"
	}
}
