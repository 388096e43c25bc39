package appliance

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// Features are the Prometheus feature flags (--enable-feature) Vigil
// honours, resolved into the parser and engine options they switch on.
type Features struct {
	Parser parser.Options

	// DelayedNameRemoval and PerStepStats are promql.EngineOpts settings.
	DelayedNameRemoval bool
	PerStepStats       bool
}

// FeatureNames lists the names --enable-feature accepts, sorted.
func FeatureNames() []string {
	return []string{
		"promql-binop-fill-modifiers",
		"promql-delayed-name-removal",
		"promql-duration-expr",
		"promql-experimental-functions",
		"promql-extended-range-selectors",
		"promql-per-step-stats",
		"promql-unquoted-utf8-names",
	}
}

// enableFeature switches on the feature name in f. It reports whether
// Vigil knows the name and whether it is a no-op because the Prometheus
// release Vigil embeds has the feature always on.
func enableFeature(name string, f *Features) (known, noop bool) {
	switch name {
	case "promql-experimental-functions":
		f.Parser.EnableExperimentalFunctions = true
	case "promql-delayed-name-removal":
		f.DelayedNameRemoval = true
	case "promql-binop-fill-modifiers":
		f.Parser.EnableBinopFillModifiers = true
	case "promql-unquoted-utf8-names":
		f.Parser.EnableUnquotedUTF8Names = true
	case "promql-per-step-stats":
		f.PerStepStats = true
	case "promql-duration-expr", "promql-extended-range-selectors":
		return true, true
	default:
		return false, false
	}
	return true, false
}

// ParseFeatures resolves feature names. Like Prometheus, it does not fail
// on names it does not know: it returns a warning for each, and for each
// name that no longer changes anything.
func ParseFeatures(names []string) (Features, []string) {
	var f Features
	var warnings []string
	for _, name := range names {
		name = strings.TrimSpace(name)
		known, noop := enableFeature(name, &f)
		switch {
		case !known:
			warnings = append(warnings, fmt.Sprintf("unknown option for --enable-feature: %q is ignored (Vigil knows %s)", name, strings.Join(FeatureNames(), ", ")))
		case noop:
			warnings = append(warnings, fmt.Sprintf("--enable-feature=%s is now permanently enabled and therefore a no-op", name))
		}
	}
	return f, warnings
}
