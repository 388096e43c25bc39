//go:build unix

package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var uiScreenshots = flag.String("ui.screenshots", "", "TestUIScreenshots writes PNG screenshots of the built-in dashboards into this directory (e.g. ../../docs/screenshots)")

// BenchmarkBusinessMetricsDashboard measures how long the Business
// Metrics dashboard over 24 hours of demo data takes to be fully drawn
// after navigation in headless Chromium: from the start of the navigation
// to the last panel drawn, as the page measures it (data-drawn-ms). Run:
//
//	go test ./cmd/vigil -run '^$' -bench BusinessMetricsDashboard -benchtime 10x
//
// --demo writes the 24 hours of history at start (--demo-backfill=24h)
// and records the rules over them.
func BenchmarkBusinessMetricsDashboard(b *testing.B) {
	p := startVigilProcess(b, "--demo", "--demo-backfill=24h")
	const up = `count_over_time(up{job="panic-platform",instance="demo-api:8000"}[24h])`
	pagesWaitQuery(b, p.BaseURL, up+" >= 5700", 5*time.Minute)
	waitRecordedSeries(b, p.BaseURL, "vigil-business-metrics")

	ctx := pagesTab(b, 1400, 1000)
	pagesLogin(b, ctx, p.BaseURL, "/d/vigil-business-metrics?from=now-24h&to=now", testAdminUser, testAdminPassword)
	settledPanels(b, ctx)

	var total, queries float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pagesDo(b, ctx, "opening the dashboard", chromedp.Navigate(p.BaseURL+"/d/vigil-business-metrics?from=now-24h&to=now"))
		pagesWait(b, ctx, "the dashboard to be drawn", `document.querySelector('.dashboard[data-drawn-ms]')`, 60*time.Second)
		ms, err := strconv.ParseFloat(pagesEval[string](b, ctx, `document.querySelector('.dashboard').dataset.drawnMs`), 64)
		if err != nil {
			b.Fatal(err)
		}
		// When the last query's answer arrived: the rest is drawing.
		q := pagesEval[float64](b, ctx, `Math.max(...performance.getEntriesByType('resource').filter((e) => /\/api\/v1\/query/.test(e.name)).map((e) => e.responseEnd))`)
		b.Logf("drawn %.0f ms after navigation; the last query answered at %.0f ms", ms, q)
		total += ms
		queries += q
	}
	b.StopTimer()
	panels := settledPanels(b, ctx)
	checkAllPanelsDrawData(b, panels)
	b.ReportMetric(total/float64(b.N), "ms-to-drawn")
	b.ReportMetric(queries/float64(b.N), "ms-to-last-answer")
	b.ReportMetric(float64(len(panels)), "panels")
}

// TestUIScreenshots takes the screenshots of the built-in dashboards that
// the README shows, when -ui.screenshots names a directory:
//
//	go test ./cmd/vigil -run TestUIScreenshots -ui.screenshots=$PWD/docs/screenshots
func TestUIScreenshots(t *testing.T) {
	if *uiScreenshots == "" {
		t.Skip("pass -ui.screenshots=DIR to take the README's screenshots")
	}
	if err := os.MkdirAll(*uiScreenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startDemoForBrowser(t)
	waitRecordedSeries(t, p.BaseURL, "vigil-business-metrics")
	ctx := pagesTab(t, 1400, 1000)
	pagesLogin(t, ctx, p.BaseURL, "/", testAdminUser, testAdminPassword)
	// The screenshots show the light theme whatever the system prefers.
	pagesEval[bool](t, ctx, `(localStorage.setItem('vigil.theme', 'light'), true)`)
	for _, uid := range []string{"vigil-system-overview", "vigil-business-metrics"} {
		checkAllPanelsDrawData(t, openDashboard(t, ctx, p.BaseURL, "/d/"+uid+"?from=now-6h&to=now"))
		// Let the charts settle their last frame and hide the cursor.
		time.Sleep(500 * time.Millisecond)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(*uiScreenshots, uid+".png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d KiB)", out, len(png)>>10)
	}
}
