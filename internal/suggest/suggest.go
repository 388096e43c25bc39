// Package suggest finds the name a user probably meant when they wrote one
// that does not exist: "did you mean ...?" in configuration and rule file
// errors.
package suggest

import "strings"

// maxDistance is the largest number of edits a suggestion may be away:
// beyond it, guesses confuse more than they help.
const maxDistance = 2

// Closest returns the name in known that name most probably stands for:
// itself, one it is a prefix of or that is a prefix of it (for names of
// three letters or more), or the nearest within two edits. It returns ""
// when none is close.
func Closest(name string, known []string) string {
	best, bestD := "", maxDistance+1
	for _, k := range known {
		if k == name {
			return k
		}
		if len(name) > 2 && (strings.HasPrefix(name, k) || strings.HasPrefix(k, name)) {
			return k
		}
		if d := Distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
