//go:build unix

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPeerToolsRun builds the real peers the end-to-end tests talk to
// (VictoriaMetrics, Alertmanager and amtool) and checks that each runs and
// is the version the tests expect. .ci/run runs it on its own before the
// suite, so that building them is not counted in the suite's time.
func TestPeerToolsRun(t *testing.T) {
	alertmanager, amtool := alertmanagerTools(t)
	for _, tool := range []struct {
		bin, flag, want string
	}{
		{victoriaMetricsTool.binary(t), "-version", "github.com/VictoriaMetrics/VictoriaMetrics\tv1.151.0"},
		// Built from a copy of the module's source (see
		// buildAlertmanagerTools), so its build information says (devel).
		{alertmanager, "--version", alertmanagerModule + "\t(devel)"},
		{amtool, "--version", alertmanagerModule + "\t" + alertmanagerVersion},
	} {
		if out, err := exec.Command(tool.bin, tool.flag).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", tool.bin, tool.flag, err, out)
			continue
		}
		// Binaries built by go install carry no version string of their
		// own; the module version is in their build information.
		out, err := exec.Command("go", "version", "-m", tool.bin).CombinedOutput()
		if err != nil {
			t.Errorf("go version -m %s: %v\n%s", tool.bin, err, out)
			continue
		}
		if !strings.Contains(string(out), tool.want) {
			t.Errorf("%s was built from another module version than %q:\n%s", tool.bin, tool.want, lastLines(out, 3))
		}
	}
}
