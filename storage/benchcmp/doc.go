// Package benchcmp holds benchmarks that put Vigil's storage beside
// Prometheus' own TSDB under the same PromQL engine and the same data, so
// that instruction counts (valgrind --tool=callgrind) and allocations can
// be compared without HTTP, JSON or background work in the way. It has no
// code of its own; see docs/benchmarks.md for how the figures were taken.
package benchcmp
