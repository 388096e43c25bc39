package storage

import (
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// TestSelectAfterReuse reads different selections on several goroutines at
// once, each querier closed after its read: the arrays a closed querier
// gives back to the pools are reused by the next Select while others are
// still being read, and every read must still see its own series and
// samples (run with -race as well).
func TestSelectAfterReuse(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	const end = int64(1_700_000_000_000)
	for _, m := range []struct {
		name string
		k    int
	}{{"a", 3}, {"b", 40}, {"c", 200}} {
		appendSeries(t, s, m.name, m.k, 300, end, func(j int) float64 { return float64(j * m.k) })
	}
	mint, maxt := end-300*tailTestStep, end
	want := map[string]map[string][]point{}
	for _, name := range []string{"a", "b", "c"} {
		want[name] = readUncached(t, s, mint, maxt, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 30 {
				name := []string{"a", "b", "c"}[(g+i)%3]
				got := readAll(t, s, mint, maxt, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
				if err := samePoints(got, want[name]); err != nil {
					t.Errorf("goroutine %d, read %d of %s: %v", g, i, name, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
