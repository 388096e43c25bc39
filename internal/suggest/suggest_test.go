package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"expr", "record", "alert", "for", "keep_firing_for", "labels"}
	for _, tc := range []struct{ name, want string }{
		{"expr", "expr"},
		{"expresion", "expr"}, // "expr" is its prefix
		{"exp", "expr"},
		{"lables", "labels"},
		{"fro", "for"},
		{"annotations", ""},
		{"", ""},
	} {
		if got := Closest(tc.name, known); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"timeout", "timout", 1}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
