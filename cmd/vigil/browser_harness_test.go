//go:build unix

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A headless Chromium (Debian's chromium package; .ci/run installs it)
// driven through the DevTools protocol, for the browser tests of the UI
// against the real binary: the dashboards (browser_test.go and its
// benchmark) and the other pages (browser_pages_test.go).

// pagesChromium finds Chromium. Without it the browser tests cannot run:
// under CI (CI set) that fails the test, elsewhere it skips with a note.
func pagesChromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the browser tests need Chromium at /usr/bin/chromium: install Debian's chromium package (.ci/run does)")
	}
	t.Skip("Chromium is not installed (/usr/bin/chromium): apt-get install chromium to run the browser tests")
	return ""
}

// pagesTab starts a headless Chromium of the test's own, with a fresh
// profile and nothing that reaches outside this machine, and returns its
// tab; it ends with the test.
func pagesTab(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := pagesChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// pagesDo runs browser actions within a minute, failing the test on error.
func pagesDo(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// pagesEval evaluates a JavaScript expression in the page into T.
func pagesEval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// pagesLocation is the page's current URL.
func pagesLocation(t testing.TB, ctx context.Context) *url.URL {
	t.Helper()
	u, err := url.Parse(pagesEval[string](t, ctx, `location.href`))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pagesWait polls cond (a JavaScript expression) until it is true.
func pagesWait(t testing.TB, ctx context.Context, what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !pagesEval[bool](t, ctx, "!!("+cond+")") {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s (%s)", timeout, what, cond)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pagesLogin opens path, is sent to the login form, logs in as user and
// is brought back to path.
func pagesLogin(t testing.TB, ctx context.Context, baseURL, path, user, password string) {
	t.Helper()
	pagesDo(t, ctx, "opening "+path, chromedp.Navigate(baseURL+path), chromedp.WaitVisible(chromedp.ID("username")))
	if u := pagesLocation(t, ctx); u.Path != "/login" || u.Query().Get("next") != path {
		t.Fatalf("without a session %s leads to %s, want the login page with next=%s", path, u, path)
	}
	pagesDo(t, ctx, "logging in",
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("user-name")),
	)
	if u := pagesLocation(t, ctx); u.Path != strings.SplitN(path, "?", 2)[0] {
		t.Fatalf("after the login the browser is at %s, want %s", u, path)
	}
}

// pagesWaitQuery polls an instant query until it has a result, for up to
// timeout: the first self-scrape comes within a scrape interval (15s)
// after the start, later on a loaded machine.
func pagesWaitQuery(t testing.TB, baseURL, query string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var res struct {
			Data struct{ Result []json.RawMessage } `json:"data"`
		}
		resp, err := adminClient().Get(baseURL + "/api/v1/query?query=" + url.QueryEscape(query))
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("query %s: %s %v", query, resp.Status, err)
		}
		if len(res.Data.Result) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %s had no result within %s", query, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
