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
		if opts.MemoryAllowedBytes > 0 {
			set("memory.allowedBytes", strconv.FormatInt(opts.MemoryAllowedBytes, 10))
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

// noDeadline is a VictoriaMetrics search deadline far in the future, for
// look-ups that the caller bounds by other means.
func noDeadline() uint64 { return fasttime.UnixTimestamp() + 3600 }
