//go:build unix

package rules

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordingRound evaluates 1,000 recording rules over 10,000
// series (100 counters of 100 series each; each rule aggregates one of
// them by zone) as one group with a 15s interval, and reports the CPU time
// of a round (user + system, all cores) and its share of the interval.
// The goal is a round within 10% of its interval:
//
//	go test ./rules -run '^$' -bench RecordingRound -benchtime 10x
func BenchmarkRecordingRound(b *testing.B) {
	st, engine := openStore(b)
	for i := range 100 {
		pushCounters(b, st, fmt.Sprintf("bench_metric_%d_total", i), 100, t0.Add(-10*time.Minute), 10*time.Minute)
	}
	var yml strings.Builder
	yml.WriteString("groups:\n  - name: bench\n    interval: 15s\n    rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&yml, "      - record: bench:zone:rate5m_%d\n        expr: sum by (zone) (rate(bench_metric_%d_total[5m]))\n", i, i%100)
	}
	groups, err := Parse("bench.yml", []byte(yml.String()), testParser)
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewManager(Options{Query: EngineQuery(engine, st), Appender: st})
	if err != nil {
		b.Fatal(err)
	}
	m.Update(groups)
	m.EvalAll(t0) // warm the caches
	if g := m.Groups()[0]; g.Health != HealthGood {
		b.Fatalf("group health %s: %s", g.Health, g.LastError)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		m.EvalAll(t0.Add(time.Duration(i+1) * 15 * time.Second))
	}
	b.StopTimer()
	perRound := (cpuTime() - cpu0) / time.Duration(b.N)
	b.ReportMetric(perRound.Seconds(), "cpu-s/round")
	b.ReportMetric(100*perRound.Seconds()/15, "%-of-15s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
