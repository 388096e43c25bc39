package notify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// Route is one node of the routing tree, with its parent's settings
// inherited.
type Route struct {
	Receiver        string
	Matchers        []*amlabels.Matcher
	GroupBy         map[model.LabelName]bool
	GroupByAll      bool // group_by: ['...']
	GroupWait       time.Duration
	GroupInterval   time.Duration
	RepeatInterval  time.Duration
	Continue        bool
	MuteIntervals   []string
	ActiveIntervals []string
	Routes          []*Route

	key     string            // the matchers from the root, as Alertmanager writes them
	groupBy []model.LabelName // GroupBy's names in order, for groupKey
}

// NewRoute builds the tree of a validated config's route.
func NewRoute(c *RouteConfig, parent *Route) *Route {
	r := &Route{
		GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval,
		GroupBy: map[model.LabelName]bool{},
	}
	if parent != nil {
		r.Receiver, r.GroupWait, r.GroupInterval, r.RepeatInterval = parent.Receiver, parent.GroupWait, parent.GroupInterval, parent.RepeatInterval
		r.GroupBy, r.GroupByAll = parent.GroupBy, parent.GroupByAll
	}
	if c.Receiver != "" {
		r.Receiver = c.Receiver
	}
	if c.GroupBy != nil {
		r.GroupBy, r.GroupByAll = map[model.LabelName]bool{}, false
		for _, l := range c.GroupBy {
			if l == "..." {
				r.GroupByAll = true
			}
			r.GroupBy[model.LabelName(l)] = true
		}
	}
	if c.GroupWait != nil {
		r.GroupWait = time.Duration(*c.GroupWait)
	}
	if c.GroupInterval != nil {
		r.GroupInterval = time.Duration(*c.GroupInterval)
	}
	if c.RepeatInterval != nil {
		r.RepeatInterval = time.Duration(*c.RepeatInterval)
	}
	for l := range r.GroupBy {
		if l != "..." {
			r.groupBy = append(r.groupBy, l)
		}
	}
	slices.Sort(r.groupBy)
	r.Continue = c.Continue
	r.MuteIntervals, r.ActiveIntervals = c.MuteTimeIntervals, c.ActiveTimeIntervals
	r.Matchers, _ = compileMatchers(c.Match, c.MatchRE, c.Matchers) // validated
	ms := make([]string, len(r.Matchers))
	for i, m := range r.Matchers {
		ms[i] = m.String()
	}
	r.key = "{" + strings.Join(ms, ",") + "}"
	if parent != nil {
		r.key = parent.key + "/" + r.key
	}
	for i, ch := range c.Routes {
		child := NewRoute(ch, r)
		for _, sib := range r.Routes { // siblings with the same matchers get their index, as Alertmanager's route IDs do
			if sib.key == child.key {
				child.key = fmt.Sprintf("%s/%d", child.key, i)
			}
		}
		r.Routes = append(r.Routes, child)
	}
	return r
}

// Key identifies the route in group keys and the notification log.
func (r *Route) Key() string { return r.key }

func matches(ms []*amlabels.Matcher, ls model.LabelSet) bool {
	for _, m := range ms {
		if !m.Matches(string(ls[model.LabelName(m.Name)])) {
			return false
		}
	}
	return true
}

// Match returns the routes ls goes to: depth first, the first matching
// child (and its later siblings while a matched one has continue), or r
// itself when no child matches.
func (r *Route) Match(ls model.LabelSet) []*Route {
	if !matches(r.Matchers, ls) {
		return nil
	}
	var all []*Route
	for _, ch := range r.Routes {
		m := ch.Match(ls)
		all = append(all, m...)
		if m != nil && !ch.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = []*Route{r}
	}
	return all
}

// groupLabels are the labels of ls that r groups by.
func (r *Route) groupLabels(ls model.LabelSet) model.LabelSet {
	if r.GroupByAll {
		return ls.Clone()
	}
	out := model.LabelSet{}
	for l := range r.GroupBy {
		if v, ok := ls[l]; ok {
			out[l] = v
		}
	}
	return out
}

// groupKey identifies the group of ls under r: the route's key, ':' and
// the group labels as model.LabelSet's String writes them. It is built
// without the labels' map, which only a new group needs.
func (r *Route) groupKey(ls model.LabelSet) string {
	if r.GroupByAll {
		return r.key + ":" + ls.String()
	}
	var buf [256]byte // on the stack unless the key is longer
	b := append(append(buf[:0], r.key...), ":{"...)
	first := true
	for _, l := range r.groupBy {
		v, ok := ls[l]
		if !ok {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(append(b, l...), '=')
		b = strconv.AppendQuote(b, string(v))
	}
	return string(append(b, '}'))
}
