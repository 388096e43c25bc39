package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vigil check alertmanager answers like amtool check-config: SUCCESS and
// what it found, or FAILED and the errors, exit code 1.
func TestCheckAlertmanager(t *testing.T) {
	good, err := filepath.Abs("../../rules/notify/testdata/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runVigil(t, "check", "alertmanager", good)
	if code != 0 {
		t.Fatalf("check alertmanager %s: code %d, stdout:\n%s\nstderr:\n%s", good, code, stdout, stderr)
	}
	for _, want := range []string{"Checking '" + good + "'  SUCCESS", " - 1 inhibit rules", " - 2 receivers"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("route:\n  receiver: nobody\nreceivers:\n  - name: team\n"), 0o644)
	stdout, stderr, code = runVigil(t, "check", "alertmanager", good, bad)
	if code != 1 {
		t.Errorf("check alertmanager with a bad file: exit code %d, want 1", code)
	}
	if !strings.Contains(stdout, "Checking '"+bad+"'  FAILED") || !strings.Contains(stderr, `undefined receiver "nobody" used in route`) {
		t.Errorf("the bad file is not reported:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}
