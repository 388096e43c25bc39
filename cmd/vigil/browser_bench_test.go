//go:build unix

package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-monitoring/vigil/appliance/demo"
	"github.com/vigil-monitoring/vigil/storage"
)

var uiScreenshots = flag.String("ui.screenshots", "", "TestUIScreenshots writes PNG screenshots of the built-in dashboards into this directory (e.g. ../../docs/screenshots)")

// backfillDemo writes the simulated Panic platform from from to to into
// the data directory dir of a stopped Vigil, as --demo would have.
func backfillDemo(tb testing.TB, dir string, from, to time.Time) {
	tb.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	p := demo.New(from, uint64(from.Unix()))
	st.AppendMetadata(demo.Metadata())
	if _, err := p.Backfill(context.Background(), st, from, to, nil); err != nil {
		tb.Fatal(err)
	}
	st.ForceFlush()
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkBusinessMetricsDashboard measures how long the Business
// Metrics dashboard over 24 hours of demo data takes to be fully drawn
// after navigation in headless Chromium: from the start of the navigation
// to the last panel drawn, as the page measures it (data-drawn-ms). Run:
//
//	go test ./cmd/vigil -run '^$' -bench BusinessMetricsDashboard -benchtime 10x
//
// It writes 18 hours of demo history before Vigil starts and lets --demo
// add the last 6, then waits up to five minutes for the recording rules'
// first run, whose series two panels show.
func BenchmarkBusinessMetricsDashboard(b *testing.B) {
	dataDir := b.TempDir()
	now := time.Now()
	backfillDemo(b, dataDir, now.Add(-24*time.Hour), now.Add(-6*time.Hour))
	p := startVigilProcess(b, "--demo", "--data-dir="+dataDir)
	const up = `count_over_time(up{job="panic-platform",instance="demo-api:8000"}[24h])`
	pagesWaitQuery(b, p.BaseURL, up+" >= 5700", 3*time.Minute)
	waitRecordedSeries(b, p.BaseURL, "vigil-business-metrics")

	ctx := pagesTab(b, 1400, 1000)
	pagesLogin(b, ctx, p.BaseURL, "/d/vigil-business-metrics?from=now-24h&to=now")
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
	pagesLogin(t, ctx, p.BaseURL, "/")
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
