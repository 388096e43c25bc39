// Command scrape measures what scraping costs Vigil, VictoriaMetrics
// single-node and Prometheus: each scrapes the same targets, served by
// this program on 127.0.0.1, and the program reports each server's CPU
// seconds per million samples scraped and its memory, in the BENCH lines
// and markdown table of the shared benchmark harness (bench/ of the
// workspace), with the ratios of Vigil to the others. By default the
// peers run side by side, each scraping every target under its own path,
// so that the load of a shared machine weighs on all of them alike.
//
//	go build -o /tmp/vigil ./cmd/vigil
//	go run ./bench/scrape -vigil=/tmp/vigil \
//	  -victoriametrics=~/.cache/vigil-bench/peers/victoria-metrics \
//	  -prometheus=~/.cache/vigil-bench/peers/prometheus
//
// Every peer runs with a fresh data directory, scrapes every target every
// -interval, and is measured over -measure after -warmup (in which it
// creates its series). Samples are counted on the targets' side: a peer's
// scrapes answered during the window × series per target.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// vigilBenchFlags turn off what Vigil does besides scraping that the
// peers do not do: the built-in Panic-platform rules and the platform's
// summary jobs (scheduled once a year), which would evaluate over the
// targets' http_* and panic_* series.
const vigilBenchFlags = "--rules.builtin=false --jobs.update-all-metrics.schedule=@yearly --jobs.update-performance-metrics.schedule=@yearly"

type options struct {
	targets, series  int
	interval         time.Duration
	warmup, measure  time.Duration
	bins             map[string]string // peer → binary
	order            []string
	profileSeconds   int
	out              string
	keepData         bool
	vigilExtraFlags  string
	vmExtraFlags     string
	promExtraFlags   string
	dataRoot         string
	clockTicksPerSec float64
	readyTimeout     time.Duration
	concurrent       bool
	addrs            []string
}

func main() {
	var o options
	o.bins = map[string]string{}
	var vigil, vigilB, vm, prom, peers string
	flag.IntVar(&o.targets, "targets", 200, "number of targets")
	flag.IntVar(&o.series, "series", 2000, "series per target")
	flag.DurationVar(&o.interval, "interval", 15*time.Second, "scrape interval")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Minute, "time before the measurement, in which the series are created")
	flag.DurationVar(&o.measure, "measure", 5*time.Minute, "measurement window")
	flag.StringVar(&vigil, "vigil", "/tmp/vigil", "the vigil binary")
	flag.StringVar(&vigilB, "vigil-b", "", "a second vigil binary, run as the peer vigil-b (with -peers=vigil,vigil-b,...) to compare two builds in one run")
	flag.StringVar(&vm, "victoriametrics", os.ExpandEnv("$HOME/.cache/vigil-bench/peers/victoria-metrics"), "the victoria-metrics binary")
	flag.StringVar(&prom, "prometheus", os.ExpandEnv("$HOME/.cache/vigil-bench/peers/prometheus"), "the prometheus binary")
	flag.StringVar(&peers, "peers", "vigil,victoriametrics,prometheus", "peers to run, in order (vigil, vigil-b, victoriametrics, prometheus)")
	flag.IntVar(&o.profileSeconds, "profile", 0, "if > 0, take a CPU profile of each peer for this many seconds in the window (PEER-cpu.pprof in -out)")
	flag.StringVar(&o.out, "out", os.ExpandEnv("$HOME/.cache/vigil-bench/results/scrape-"+time.Now().UTC().Format("2006-01-02T1504")), "results folder")
	flag.BoolVar(&o.keepData, "keep-data", false, "keep the peers' data directories")
	flag.BoolVar(&o.concurrent, "side-by-side", true, "run the peers at the same time, so that the load of a shared machine weighs on all alike; false runs them one after the other")
	flag.StringVar(&o.vigilExtraFlags, "vigil-flags", vigilBenchFlags, "extra flags for vigil")
	flag.StringVar(&o.vmExtraFlags, "victoriametrics-flags", "", "extra flags for victoria-metrics")
	flag.StringVar(&o.promExtraFlags, "prometheus-flags", "", "extra flags for prometheus")
	flag.Parse()
	o.bins["vigil"], o.bins["vigil-b"], o.bins["victoriametrics"], o.bins["prometheus"] = vigil, vigilB, vm, prom
	o.order = strings.Split(peers, ",")
	o.clockTicksPerSec = 100 // USER_HZ on Linux
	o.readyTimeout = 2 * time.Minute
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scrape bench:", err)
		os.Exit(1)
	}
}

// result is one peer's figures.
type result struct {
	peer                      string
	cpuWarmup, cpuMeasure     float64 // seconds
	samples                   int64   // scraped in the window
	window                    time.Duration
	rssMiB, peakMiB           float64
	upTargets, seriesScraped  float64 // from the peer's own query API
	loadBefore, loadAfter     string
	scrapesPerTargetPerWindow float64
}

func run(o options) error {
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux: CPU and memory come from /proc")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var err error
	if o.dataRoot, err = os.MkdirTemp("", "scrape-bench-"); err != nil {
		return err
	}
	if !o.keepData {
		defer os.RemoveAll(o.dataRoot)
	}
	t, err := startTargets(o.targets, o.series, o.order)
	if err != nil {
		return err
	}
	defer t.close()
	o.addrs = t.addrs
	mode := "one after the other"
	groups := [][]string{o.order}
	if !o.concurrent {
		groups = nil
		for _, p := range o.order {
			groups = append(groups, []string{p})
		}
	} else {
		mode = "side by side"
	}
	fmt.Fprintf(os.Stderr, "%d targets × %d series on 127.0.0.1, every %s; warm-up %s, window %s; peers %s; results in %s\n",
		o.targets, o.series, o.interval, o.warmup, o.measure, mode, o.out)
	var results []result
	for _, g := range groups {
		rs, err := runGroup(o, g, t)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	report := renderReport(o, results)
	fmt.Print(report)
	return os.WriteFile(filepath.Join(o.out, "scrape.md"), []byte(report), 0o644)
}

// scrapeConfig is peer's prometheus.yml: every target, under the path
// that counts peer's scrapes.
func scrapeConfig(o options, peer string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n  - job_name: bench\n    honor_timestamps: true\n    metrics_path: /metrics/%s\n    static_configs:\n      - targets:\n",
		o.interval, min(o.interval, 10*time.Second), peer)
	for _, a := range o.addrs {
		fmt.Fprintf(&b, "          - %q\n", a)
	}
	return b.String()
}

// peerRun is one peer being run.
type peerRun struct {
	peer, base string
	cmd        *exec.Cmd
	log        *os.File
	r          result
	cpu0, cpu1 float64
	scrapes1   int64
	start      time.Time
}

// runGroup runs peers side by side (one peer: alone): start, warm-up,
// measurement, stop.
func runGroup(o options, peers []string, t *targets) ([]result, error) {
	var runs []*peerRun
	defer func() {
		for _, p := range runs {
			stop(p.cmd)
			p.log.Close()
		}
	}()
	for _, peer := range peers {
		p, err := startPeer(o, peer)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", peer, err)
		}
		runs = append(runs, p)
	}
	for _, p := range runs {
		var err error
		if p.cpu0, err = cpuSeconds(p.cmd.Process.Pid, o.clockTicksPerSec); err != nil {
			return nil, err
		}
	}
	time.Sleep(o.warmup)
	for _, p := range runs {
		p.cpu1, _ = cpuSeconds(p.cmd.Process.Pid, o.clockTicksPerSec)
		p.scrapes1, p.start = t.count(p.peer), time.Now()
		if o.profileSeconds > 0 {
			go profile(p.base, o.profileSeconds, filepath.Join(o.out, p.peer+"-cpu.pprof"))
		}
	}
	time.Sleep(o.measure)
	var out []result
	for _, p := range runs {
		cpu2, err := cpuSeconds(p.cmd.Process.Pid, o.clockTicksPerSec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.peer, err)
		}
		scrapes2, window := t.count(p.peer), time.Since(p.start)
		r := &p.r
		r.cpuWarmup, r.cpuMeasure = p.cpu1-p.cpu0, cpu2-p.cpu1
		r.samples, r.window = (scrapes2-p.scrapes1)*int64(o.series), window
		r.scrapesPerTargetPerWindow = float64(scrapes2-p.scrapes1) / float64(o.targets)
		r.rssMiB, r.peakMiB = memMiB(p.cmd.Process.Pid)
		r.loadAfter = loadAvg()
	}
	for _, p := range runs {
		// What the peer itself says it scraped, a minute back
		// (VictoriaMetrics hides the last 30 s).
		r := &p.r
		at := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
		r.upTargets, _ = queryScalar(p.base, `count(up{job="bench"} == 1)`, at)
		r.seriesScraped, _ = queryScalar(p.base, `sum(scrape_samples_scraped{job="bench"})`, at)
		fmt.Fprintf(os.Stderr, "   %s: %.1f s CPU for %d samples in %s (warm-up %.1f s), RSS %.0f MiB, peak %.0f MiB; the peer says %v targets up, %v samples per round\n",
			p.peer, r.cpuMeasure, r.samples, r.window.Round(time.Second), r.cpuWarmup, r.rssMiB, r.peakMiB, r.upTargets, r.seriesScraped)
		out = append(out, *r)
	}
	return out, nil
}

// startPeer starts peer on a free port with a fresh data directory, its
// configuration scraping the targets under its own path, and waits until
// it is ready.
func startPeer(o options, peer string) (*peerRun, error) {
	data := filepath.Join(o.dataRoot, peer)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	config := filepath.Join(o.dataRoot, peer+".yml")
	if err := os.WriteFile(config, []byte(scrapeConfig(o, peer)), 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var args []string
	var ready string
	switch peer {
	case "vigil", "vigil-b":
		args = []string{"--listen=" + addr, "--data-dir=" + data, "--auth=none", "--retention=100y", "--config.prometheus=" + config}
		args = append(args, strings.Fields(o.vigilExtraFlags)...)
		ready = "/-/ready"
	case "victoriametrics":
		args = []string{"-httpListenAddr=" + addr, "-storageDataPath=" + data, "-retentionPeriod=100y", "-promscrape.config=" + config}
		args = append(args, strings.Fields(o.vmExtraFlags)...)
		ready = "/health"
	case "prometheus":
		args = []string{"--web.listen-address=" + addr, "--storage.tsdb.path=" + data, "--storage.tsdb.retention.time=100y", "--config.file=" + config}
		args = append(args, strings.Fields(o.promExtraFlags)...)
		ready = "/-/ready"
	default:
		return nil, fmt.Errorf("unknown peer (vigil, vigil-b, victoriametrics, prometheus)")
	}
	if o.bins[peer] == "" {
		return nil, fmt.Errorf("no binary: set -%s", peer)
	}
	p := &peerRun{peer: peer, base: "http://" + addr}
	if p.log, err = os.Create(filepath.Join(o.out, peer+".log")); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(o.bins[peer], args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.r = result{peer: peer, loadBefore: loadAvg()}
	if err := p.cmd.Start(); err != nil {
		p.log.Close()
		return nil, err
	}
	if err := waitReady(p.base+ready, o.readyTimeout); err != nil {
		stop(p.cmd)
		p.log.Close()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "== %s: pid %d, %s\n", peer, p.cmd.Process.Pid, p.base)
	return p, nil
}

// freeAddr returns a port of 127.0.0.1 free at the moment.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(u string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", u, timeout)
}

// stop sends SIGTERM and waits up to a minute before killing.
func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
	}
}

// cpuSeconds is the user+system CPU time of pid (/proc/PID/stat).
func cpuSeconds(pid int, ticks float64) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / ticks, nil
}

// memMiB returns VmRSS and VmHWM of pid.
func memMiB(pid int) (rss, peak float64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func queryScalar(base, q, at string) (float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q) + "&time=" + at)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || len(res.Data.Result) != 1 {
		return 0, fmt.Errorf("query %s: %v, %d results", q, err, len(res.Data.Result))
	}
	s, _ := res.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func profile(base string, seconds int, file string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+30)*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

// renderReport writes the BENCH lines and the markdown table.
func renderReport(o options, rs []result) string {
	var b strings.Builder
	type fig struct {
		name, unit string
		get        func(r result) float64
		ratio      bool
	}
	perMillion := func(r result) float64 { return r.cpuMeasure / (float64(r.samples) / 1e6) }
	figs := []fig{
		{"scrape_samples_per_sec", "samples/s", func(r result) float64 { return float64(r.samples) / r.window.Seconds() }, false},
		{"scrapes_per_target_in_window", "scrapes", func(r result) float64 { return r.scrapesPerTargetPerWindow }, false},
		{"cpu_seconds_per_million_samples", "s", perMillion, true},
		{"cpu_cores_used", "cores", func(r result) float64 { return r.cpuMeasure / r.window.Seconds() }, true},
		{"warmup_cpu_seconds", "s", func(r result) float64 { return r.cpuWarmup }, true},
		{"rss_mib", "MiB", func(r result) float64 { return r.rssMiB }, true},
		{"rss_peak_mib", "MiB", func(r result) float64 { return r.peakMiB }, true},
		{"targets_up", "targets", func(r result) float64 { return r.upTargets }, false},
		{"samples_per_round", "samples", func(r result) float64 { return r.seriesScraped }, false},
	}
	for _, r := range rs {
		for _, f := range figs {
			fmt.Fprintf(&b, "BENCH target=%s metric=%s value=%.4g unit=%s\n", r.peer, f.name, f.get(r), f.unit)
		}
	}
	b.WriteString("\n| figure | unit |")
	for _, r := range rs {
		b.WriteString(" " + r.peer + " |")
	}
	var vigil *result
	for i := range rs {
		if rs[i].peer == "vigil" {
			vigil = &rs[i]
		}
	}
	others := []result{}
	for _, r := range rs {
		if r.peer != "vigil" {
			others = append(others, r)
			if vigil != nil {
				b.WriteString(" Vigil ÷ " + r.peer + " |")
			}
		}
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(rs)))
	if vigil != nil {
		b.WriteString(strings.Repeat("---:|", len(others)))
	}
	b.WriteString("\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "| %s | %s |", f.name, f.unit)
		for _, r := range rs {
			fmt.Fprintf(&b, " %s |", num(f.get(r)))
		}
		if vigil != nil {
			for _, r := range others {
				if f.ratio && f.get(r) > 0 {
					fmt.Fprintf(&b, " %.2f |", f.get(*vigil)/f.get(r))
				} else {
					b.WriteString(" |")
				}
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nload average (1, 5, 15 min) before → after each peer: ")
	for i, r := range rs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s → %s", r.peer, r.loadBefore, r.loadAfter)
	}
	b.WriteString("\n")
	return b.String()
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
