package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sourceHash computes what build.mjs writes to dist/SOURCE_HASH: the
// SHA-256 of the sorted lines "sha256(content)  path\n" over src/ and the
// build's inputs, paths relative to this directory with "/".
func sourceHash(root string) (string, error) {
	files := []string{"package.json", "package-lock.json", "build.mjs"}
	err := filepath.WalkDir(filepath.Join(root, "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	var list strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&list, "%s  %s\n", hex.EncodeToString(sum[:]), f)
	}
	sum := sha256.Sum256([]byte(list.String()))
	return hex.EncodeToString(sum[:]), nil
}

// TestBuildIsCurrent fails when the UI's sources changed since dist/ was
// built, so a change to the front end cannot land without its build (and
// CI needs no Node.js to know).
func TestBuildIsCurrent(t *testing.T) {
	want, err := sourceHash(".")
	if err != nil {
		t.Fatal(err)
	}
	if got := SourceHash(); got != want {
		t.Fatalf("the committed UI build is stale: run `npm ci && npm run build` in web/ui (dist/SOURCE_HASH is %q, the sources hash to %q)", got, want)
	}
}

// TestSourceHashSeesChanges: the hash covers file contents and names, so
// the staleness check cannot pass by accident.
func TestSourceHashSeesChanges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"package.json", "package-lock.json", "build.mjs", "src/main.jsx", "src/dashboard/grid.jsx"} {
		write(f, f)
	}
	base, err := sourceHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	write("src/dashboard/grid.jsx", "changed")
	changed, _ := sourceHash(dir)
	write("src/dashboard/grid.jsx", "src/dashboard/grid.jsx")
	write("src/new.js", "")
	added, _ := sourceHash(dir)
	if changed == base || added == base || changed == added {
		t.Errorf("the source hash does not follow the sources: %s, %s, %s", base, changed, added)
	}
}

// TestBundleSize keeps what a browser downloads small: the JavaScript and
// CSS of dist/assets, gzipped, under 300 KiB.
func TestBundleSize(t *testing.T) {
	const limit = 300 << 10
	total := 0
	err := fs.WalkDir(Assets(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css")) {
			return err
		}
		b, err := fs.ReadFile(Assets(), p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		t.Logf("%s: %d bytes, %d gzipped", p, len(b), buf.Len())
		total += buf.Len()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 {
		t.Fatal("dist/assets holds no JavaScript or CSS")
	}
	if total > limit {
		t.Errorf("the UI bundle is %d KiB gzipped, over the %d KiB budget", total>>10, limit>>10)
	}
}

func TestIndexCarriesTheCSRFTokenAndTheBundle(t *testing.T) {
	html, err := Index(Page{CSRFToken: `tok"<en>`})
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	if !strings.Contains(s, `<meta name="csrf-token" content="tok&#34;&lt;en&gt;">`) {
		t.Errorf("index.html does not carry the escaped CSRF token:\n%s", s)
	}
	entries, err := fs.ReadDir(Assets(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".js") || strings.HasSuffix(e.Name(), ".css") {
			if !strings.Contains(s, "/assets/"+e.Name()) {
				t.Errorf("index.html does not load %s (a leftover of an older build?)", e.Name())
			}
		}
	}
}
