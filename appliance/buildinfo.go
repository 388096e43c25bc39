package appliance

import (
	"runtime"
	"runtime/debug"

	"github.com/vigil-monitoring/vigil/web"
)

// Build metadata, set at link time, e.g.
//
//	go build -ldflags "-X github.com/vigil-monitoring/vigil/appliance.Version=1.2.0 \
//	  -X github.com/vigil-monitoring/vigil/appliance.Revision=$(git rev-parse HEAD)" ./cmd/vigil
//
// What is left empty is taken from the build information the Go toolchain
// records in the binary. These are never written at run time.
var (
	Version   string
	Revision  string
	Branch    string
	BuildUser string
	BuildDate string
)

// Build describes the running binary.
func Build() web.BuildInfo {
	b := web.BuildInfo{
		Version:   Version,
		Revision:  Revision,
		Branch:    Branch,
		BuildUser: BuildUser,
		BuildDate: BuildDate,
		GoVersion: runtime.Version(),
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Revision == "" {
					b.Revision = s.Value
				}
			case "vcs.time":
				if b.BuildDate == "" {
					b.BuildDate = s.Value
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}
