package storage

import (
	"flag"
	"fmt"
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/fasttime"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/logger"
	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// The settings are process-wide: the first Open decides them, which is
// why Vigil opens one Storage per process.
//
// VictoriaMetrics' lib packages read their settings from flags registered
// on flag.CommandLine and panic when those are not parsed. This file is the
// one place where Vigil touches them: it parses the command line set with
// no arguments, sets the few flags Vigil derives from its own options, and
// never lets them reach the user's --help.

var vmOnce sync.Once
var vmErr error

func configureVictoriaMetrics(opts Options) error {
	vmOnce.Do(func() {
		if !flag.CommandLine.Parsed() {
			// Errors here would be Vigil's bug, not the user's input.
			_ = flag.CommandLine.Parse(nil)
		}
		set := func(name, value string) {
			if err := flag.Set(name, value); err != nil && vmErr == nil {
				vmErr = fmt.Errorf("cannot set the storage option %s=%s: %w", name, value, err)
			}
		}
		if allowed := cacheMemory(opts.MemoryAllowedBytes, systemMemory()); allowed > 0 {
			set("memory.allowedBytes", strconv.FormatInt(allowed, 10))
		} else {
			set("memory.allowedPercent", "25")
		}
		vmstorage.SetFreeDiskSpaceLimit(opts.MinFreeDiskBytes)
		// VictoriaMetrics logs merges and start-up details at INFO; Vigil
		// reports what matters itself.
		set("loggerLevel", "WARN")
		logger.InitNoLogFlags()
	})
	return vmErr
}

// DefaultMaxCacheMemory caps the storage caches' memory when
// Options.MemoryAllowedBytes is 0. VictoriaMetrics sizes its caches as
// shares of it (the series-ID cache 37%, the name cache 10%, ...), and
// each cache's bucket tables take about 1/2,700 of its share at once,
// filled or not: a quarter of 24 GiB made ~3 MiB of tables for a store of
// 10,000 series. 1 GiB holds the series IDs and names of about two million
// series; a larger store asks for more with Options.MemoryAllowedBytes.
const DefaultMaxCacheMemory = 1 << 30

// cacheMemory returns the bytes the storage caches may take: the option
// when set, else a quarter of the system's memory up to
// DefaultMaxCacheMemory; 0 when neither is known.
func cacheMemory(option, system int64) int64 {
	if option > 0 {
		return option
	}
	return min(system/4, DefaultMaxCacheMemory)
}

// noDeadline is a VictoriaMetrics search deadline far in the future, for
// look-ups that the caller bounds by other means.
func noDeadline() uint64 { return fasttime.UnixTimestamp() + 3600 }
