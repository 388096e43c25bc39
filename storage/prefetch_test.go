package storage

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// TestPrefetchMatchesInline checks that series decoded ahead by the
// prefetcher carry the same samples as series decoded by the engine's
// goroutine, in and out of order, and that Close stops the workers.
func TestPrefetchMatchesInline(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	base := time.Now().Add(-2 * time.Hour).UnixMilli()
	var rows Rows
	const n = 300
	for i := 0; i < n; i++ {
		ls := lbls("__name__", "m", "i", strconv.Itoa(i))
		for k := 0; k < 50; k++ {
			if err := rows.Add(ls, base+int64(k)*15000, float64(i*1000+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Append(&rows); err != nil {
		t.Fatal(err)
	}
	s.ForceFlush()

	for _, order := range []string{"forward", "backward"} {
		q, _ := s.Querier(base, base+3600_000)
		ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
		var all []interface {
			Labels() labels.Labels
			Iterator(chunkenc.Iterator) chunkenc.Iterator
		}
		for ss.Next() {
			all = append(all, ss.At())
		}
		if len(all) != n {
			t.Fatalf("%s: %d series", order, len(all))
		}
		if order == "backward" {
			for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
				all[i], all[j] = all[j], all[i]
			}
		}
		var it chunkenc.Iterator
		for _, sr := range all {
			id, _ := strconv.Atoi(sr.Labels().Get("i"))
			it = sr.Iterator(it)
			k := 0
			for it.Next() == chunkenc.ValFloat {
				ts, v := it.At()
				if ts != base+int64(k)*15000 || v != float64(id*1000+k) {
					t.Fatalf("%s: series %d sample %d: %d %v", order, id, k, ts, v)
				}
				k++
			}
			if k != 50 {
				t.Fatalf("%s: series %d: %d samples", order, id, k)
			}
		}
		q.Close()
	}
}
