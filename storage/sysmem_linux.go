package storage

import (
	"syscall"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/cgroup"
)

// systemMemory returns the memory the process may use, as VictoriaMetrics'
// lib/memory reckons it: the machine's RAM, or the cgroup's limit when it
// is lower. 0 means unknown.
func systemMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	total := int64(si.Totalram) * int64(si.Unit)
	for _, limit := range []int64{cgroup.GetMemoryLimit(), cgroup.GetHierarchicalMemoryLimit()} {
		if limit > 0 && limit < total {
			return limit
		}
	}
	return total
}
