//go:build !linux

package storage

// systemMemory returns 0 (unknown) outside Linux: the storage caches then
// take a quarter of the machine's memory, as VictoriaMetrics measures it.
func systemMemory() int64 { return 0 }
