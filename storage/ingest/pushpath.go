package ingest

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vigil-monitoring/vigil/storage"
)

// base64Suffix marks a path segment whose value is base64url-encoded, as
// in the Pushgateway: /metrics/job@base64/<b64> or /<label>@base64/<b64>.
const base64Suffix = "@base64"

// ParsePushPath parses the grouping key of a Pushgateway URL:
//
//	/metrics/job/<job>{/<label>/<value>}
//
// path may be given with or without the leading "/metrics/" and must be
// the escaped form (url.URL.EscapedPath), because a %2F inside a value must
// not split it; each segment is unescaped here. A label name (or "job")
// with the suffix @base64 has a base64url value, padding optional, so that
// values may hold '/' or be empty ("@base64/=").
//
// The result has the job label first and the other grouping labels after
// it, sorted by name. Errors are *InputError.
func ParsePushPath(path string) ([]storage.Label, error) {
	rest := strings.TrimPrefix(path, "/")
	rest = strings.TrimPrefix(rest, "metrics/")
	if rest == "" || rest == "metrics" || rest == "metrics/" {
		return nil, inputErrorf("push path %q has no job; expected /metrics/job/<job>{/<label>/<value>}", path)
	}
	segments := strings.Split(rest, "/")
	// As in the Pushgateway, a slash after a complete name/value pair adds
	// nothing, while one after a label name gives it an empty value.
	if len(segments)%2 != 0 && segments[len(segments)-1] == "" {
		segments = segments[:len(segments)-1]
	}
	if len(segments) == 1 && strings.TrimSuffix(segments[0], base64Suffix) == "job" {
		return nil, inputErrorf("push path %q has no job name; expected /metrics/job/<job>{/<label>/<value>}", path)
	}
	if len(segments)%2 != 0 {
		return nil, inputErrorf("push path %q has an odd number of segments after /metrics/; "+
			"expected /metrics/job/<job>{/<label>/<value>} (base64-encode values that contain '/': <label>@base64/<value>)", path)
	}
	labels := make([]storage.Label, 0, len(segments)/2)
	for i := 0; i < len(segments); i += 2 {
		name, value, err := pushPathLabel(segments[i], segments[i+1])
		if err != nil {
			return nil, inputErrorf("push path %q: %w", path, err)
		}
		if i == 0 && name != "job" {
			return nil, inputErrorf("push path %q must start with job/<job> after /metrics/; it starts with %q", path, segments[0])
		}
		labels = append(labels, storage.Label{Name: name, Value: value})
	}
	if err := validateGroupLabels(labels); err != nil {
		return nil, inputErrorf("push path %q: %w", path, err)
	}
	slices.SortFunc(labels[1:], func(a, b storage.Label) int { return strings.Compare(a.Name, b.Name) })
	return labels, nil
}

// pushPathLabel decodes one name/value pair of a push path.
func pushPathLabel(rawName, rawValue string) (name, value string, err error) {
	name, err = url.PathUnescape(rawName)
	if err != nil {
		return "", "", fmt.Errorf("invalid percent-encoding in label name %q: %w", rawName, err)
	}
	value, err = url.PathUnescape(rawValue)
	if err != nil {
		return "", "", fmt.Errorf("invalid percent-encoding in the value %q of label %q: %w", rawValue, name, err)
	}
	if trimmed, ok := strings.CutSuffix(name, base64Suffix); ok {
		name = trimmed
		// The Pushgateway accepts base64url with or without '=' padding.
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
		if err != nil {
			return "", "", fmt.Errorf("invalid base64url value %q for label %q: %w; encode it with base64url (RFC 4648 §5: '-' and '_' instead of '+' and '/')",
				value, name, err)
		}
		value = string(b)
	}
	if !utf8.ValidString(name) {
		return "", "", fmt.Errorf("label name %q is not valid UTF-8", name)
	}
	if !utf8.ValidString(value) {
		return "", "", fmt.Errorf("value %q of label %q is not valid UTF-8", value, name)
	}
	return name, value, nil
}

// validateGroupLabels checks a grouping key: job first and not empty, the
// other names valid, not reserved and not repeated.
func validateGroupLabels(labels []storage.Label) error {
	if len(labels) == 0 || labels[0].Name != "job" {
		return fmt.Errorf("the grouping key has no job label; expected /metrics/job/<job>")
	}
	if labels[0].Value == "" {
		return fmt.Errorf("the job name is empty; a push needs a job: /metrics/job/<job>")
	}
	for i := range labels {
		l := &labels[i]
		if err := storage.ValidateLabel(l.Name, l.Value); err != nil {
			return err
		}
		if strings.HasPrefix(l.Name, "__") {
			return fmt.Errorf("label name %q is reserved (names starting with __ are); use another name", l.Name)
		}
	}
	if name, ok := duplicateLabelName(labels); ok {
		return fmt.Errorf("label %q appears more than once in the grouping key", name)
	}
	return nil
}
