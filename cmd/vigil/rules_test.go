package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vigil check rules answers like promtool check rules: SUCCESS with the
// rule count, or FAILED with file:line:column errors and exit code 1.
func TestCheckRules(t *testing.T) {
	builtin := filepath.Join("..", "..", "rules", "builtin", "panic_platform.yml")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("groups:\n  - name: a\n    rules:\n      - alert: A\n        expresion: up == 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runVigil(t, "check", "rules", builtin)
	if code != 0 || !strings.Contains(stdout, "SUCCESS: 15 rules found") {
		t.Errorf("check rules %s: code %d, stdout:\n%s\nstderr:\n%s", builtin, code, stdout, stderr)
	}

	stdout, stderr, code = runVigil(t, "check", "rules", builtin, bad)
	if code != 1 {
		t.Errorf("check rules with a bad file: exit code %d, want 1", code)
	}
	if want := bad + `:5:9: unknown field "expresion" (did you mean "expr"?)`; !strings.Contains(stderr, want) {
		t.Errorf("check rules does not report %q:\nstdout:\n%s\nstderr:\n%s", want, stdout, stderr)
	}

	if _, _, code := runVigil(t, "check", "rules"); code != 2 {
		t.Errorf("check rules without files: exit code %d, want 2", code)
	}
}
