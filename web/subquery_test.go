package web

import (
	"net/http"
	"strings"
	"testing"
)

// A subquery with too many steps is refused before the engine allocates
// for it; ordinary subqueries are not affected.
func TestSubqueryStepLimit(t *testing.T) {
	st := openStorage(t)
	fixture(t, st)
	s := newTestServer(t, st, Options{}, Deps{})
	for _, tc := range []struct {
		name, path string
		params     []string
		code       int
		want       string
	}{
		{"instant, 1y at 1ms", "/api/v1/query", []string{"query", "max_over_time(up[1y:1ms])", "time", baseAt(0)}, http.StatusBadRequest, "more than the limit of 1000000"},
		{"nested", "/api/v1/query", []string{"query", "max_over_time(max_over_time(up[1h:1ms])[10d:1h])", "time", baseAt(0)}, http.StatusBadRequest, "the subquery up[1h:1ms] would evaluate"},
		{"range span counts", "/api/v1/query_range", []string{"query", "max_over_time(up[5m:1s])", "start", "0", "end", "1000000000", "step", "100000"}, http.StatusBadRequest, "more than the limit"},
		{"ordinary", "/api/v1/query", []string{"query", "max_over_time(rate(up[5m])[1h:1m])", "time", baseAt(0)}, http.StatusOK, ""},
		// Without a step a subquery steps by a minute: 3 years of 365 days are 1,576,800.
		{"default step", "/api/v1/query", []string{"query", "max_over_time(up[3y:])", "time", baseAt(0)}, http.StatusBadRequest, "1576800 steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, s, tc.path, vals(tc.params...))
			if r.code != tc.code || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("%d %s, want %d containing %q", r.code, r.body, tc.code, tc.want)
			}
		})
	}
}
