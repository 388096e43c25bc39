package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// Dashboard is a Grafana dashboard in the classic JSON model (the one
// Grafana 5 to 11 export: panels placed by gridPos, rows as panels of type
// "row", templating.list variables). The typed fields are a view of what
// Vigil reads; the JSON the dashboard came in is kept whole, unknown fields
// and key order included, so that exporting gives back what was imported
// and a Grafana export survives a trip through Vigil.
type Dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Tags          []string   `json:"tags"`
	Panels        []Panel    `json:"panels"`
	Templating    Templating `json:"templating"`
	Time          TimeRange  `json:"time"`
	Refresh       Refresh    `json:"refresh"`
	SchemaVersion int        `json:"schemaVersion"`

	// raw is the dashboard's JSON; it is never changed in place (SetUID
	// makes a new slice), so callers may keep what JSON returns.
	raw []byte
}

// Panel is one panel; a panel of type "row" holds the panels of a
// collapsed row in Panels (an expanded row's panels follow it at the top
// level, as in Grafana).
type Panel struct {
	ID            int             `json:"id"`
	Type          string          `json:"type"`
	Title         string          `json:"title"`
	Description   string          `json:"description"`
	GridPos       GridPos         `json:"gridPos"`
	Targets       []Target        `json:"targets"`
	FieldConfig   json.RawMessage `json:"fieldConfig"`
	Options       json.RawMessage `json:"options"`
	Interval      string          `json:"interval"`
	MaxDataPoints int             `json:"maxDataPoints"`
	Collapsed     bool            `json:"collapsed"`
	Panels        []Panel         `json:"panels"`
}

// GridPos places a panel on Grafana's grid of 24 columns.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Target is one query of a panel. Format is "time_series" (the default),
// "table" or "heatmap"; Instant asks for an instant query.
type Target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Instant      bool   `json:"instant"`
	Range        bool   `json:"range"`
	Format       string `json:"format"`
	Interval     string `json:"interval"`
	Hide         bool   `json:"hide"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is one dashboard variable. For a query variable, Query is
// label_values(...), label_names(...), metrics(...) or query_result(...);
// for a custom one, the comma-separated values.
type Variable struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Label      string        `json:"label"`
	Query      VariableQuery `json:"query"`
	Multi      bool          `json:"multi"`
	IncludeAll bool          `json:"includeAll"`
	AllValue   string        `json:"allValue"`
	Regex      string        `json:"regex"`
}

// VariableQuery is a variable's query: Grafana writes it as a string, or,
// since Grafana 10, as an object whose "query" field holds the string.
type VariableQuery string

// UnmarshalJSON accepts both forms.
func (q *VariableQuery) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*q = VariableQuery(s)
		return nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*q = VariableQuery(o.Query)
	return nil
}

// TimeRange is the dashboard's default time range, e.g. now-6h to now.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Refresh is the auto-refresh interval ("30s"); Grafana writes false or ""
// for none.
type Refresh string

// UnmarshalJSON accepts a string or a boolean (false is no refresh).
func (r *Refresh) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("false")) || bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("null")) {
		*r = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = Refresh(s)
	return nil
}

// JSON returns the dashboard's JSON as it was imported (with the uid set
// if Vigil gave it one). The caller must not modify it.
func (d *Dashboard) JSON() []byte { return d.raw }

// AllPanels yields every panel, the panels of collapsed rows included,
// each with its JSON path (panels[3], panels[5].panels[0]).
func (d *Dashboard) AllPanels() iter.Seq2[string, *Panel] {
	return func(yield func(string, *Panel) bool) {
		for i := range d.Panels {
			p := &d.Panels[i]
			path := fmt.Sprintf("panels[%d]", i)
			if !yield(path, p) {
				return
			}
			for j := range p.Panels {
				if !yield(fmt.Sprintf("%s.panels[%d]", path, j), &p.Panels[j]) {
					return
				}
			}
		}
	}
}

// Parse reads and validates a dashboard's JSON. p parses the panels'
// PromQL; nil uses the default parser. Every problem found is reported in
// a *ValidationError, each naming its place as a JSON path
// (panels[3].gridPos.w: must be 1..24), malformed JSON with its line and
// column.
func Parse(data []byte, p parser.Parser) (*Dashboard, error) {
	tree, err := decodeTree(data)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = parser.NewParser(parser.Options{})
	}
	c := checker{parser: p}
	c.dashboard(tree)
	if len(c.problems) > 0 {
		return nil, &ValidationError{Problems: c.problems}
	}
	return view(data)
}

// view decodes the typed view of a dashboard's JSON without validating
// it. The checks of Parse cover every field the view decodes; an error
// here is a field they missed.
func view(data []byte) (*Dashboard, error) {
	d := &Dashboard{raw: data}
	if err := json.Unmarshal(data, d); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Msg: fmt.Sprintf("cannot read the dashboard: %v", err)}}}
	}
	return d, nil
}

// SetUID returns the dashboard with its uid set to uid, in the typed view
// and in its JSON, where everything else stays as it was.
func (d *Dashboard) SetUID(uid string) (*Dashboard, error) {
	raw, err := setTopLevelString(d.raw, "uid", uid)
	if err != nil {
		return nil, err
	}
	out := *d
	out.UID, out.raw = uid, raw
	return &out, nil
}

// DecodeImport reads what Grafana's import takes: a dashboard's JSON, or
// the body of Grafana's POST /api/dashboards/db, {"dashboard": {...},
// "overwrite": true, ...}. It returns the dashboard's JSON (a sub-slice of
// body, byte for byte) and whether an existing dashboard of the same uid
// may be replaced.
func DecodeImport(body []byte) (dashboard []byte, overwrite bool, err error) {
	if _, err := decodeTree(body); err != nil {
		return nil, false, err
	}
	fields, err := topLevelFields(body)
	if err != nil {
		return nil, false, err
	}
	inner, ok := fields["dashboard"]
	if !ok || len(inner) == 0 || inner[0] != '{' {
		return body, false, nil
	}
	if ow, ok := fields["overwrite"]; ok {
		if err := json.Unmarshal(ow, &overwrite); err != nil {
			return nil, false, &ValidationError{Problems: []Problem{{Path: "overwrite", Msg: "must be true or false"}}}
		}
	}
	return inner, overwrite, nil
}

// Problem is one thing wrong with a dashboard, at a JSON path ("" for the
// whole document).
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// ValidationError is a dashboard that cannot be taken, with every problem
// found.
type ValidationError struct {
	Problems []Problem
}

// maxReported bounds the problems an error message lists.
const maxReported = 20

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i == maxReported {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxReported)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// IsInvalid reports whether err is a dashboard that does not parse or
// validate (the client's fault), as opposed to a failure of the store.
func IsInvalid(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}
