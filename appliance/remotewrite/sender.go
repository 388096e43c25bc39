package remotewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxSamplesPerSendLimit bounds max_samples_per_send: a request larger
// than this is refused by common receivers.
const maxSamplesPerSendLimit = 100_000

// maxRetryAfter caps how long a Retry-After answer makes Vigil wait.
const maxRetryAfter = 10 * time.Minute

// sender delivers a queue's samples to one remote: it takes blocks off the
// queue into rounds, sends each round's requests over its shards, retries
// what can be retried and records what was delivered. One sender runs per
// remote; a change of the remote's settings replaces it.
type sender struct {
	s      *settings
	q      *queue
	st     *stats
	log    *slog.Logger
	client *http.Client
	ua     string
	fp     uint64
	// cache is the rounds' series cache; only run's goroutine uses it.
	cache *seriesCache

	cancel context.CancelFunc
	done   chan struct{}

	// warnMu guards the rate limit of the delivery warnings.
	warnMu   sync.Mutex
	lastWarn time.Time
	failing  bool
}

func startSender(s *settings, q *queue, st *stats, version string, log *slog.Logger) *sender {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   s.maxShards,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A request (headers and body) goes out in one write: with the
		// default 4 KiB buffer a body of 2,000 samples took four.
		WriteBufferSize:   64 << 10,
		ForceAttemptHTTP2: s.enableHTTP2,
	}
	if s.proxyURL != nil {
		tr.Proxy = http.ProxyURL(s.proxyURL)
	}
	client := &http.Client{Transport: s.auth.NewRoundTripper(tr)}
	if !s.followRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	ctx, cancel := context.WithCancel(context.Background())
	sd := &sender{
		s: s, q: q, st: st, log: log, client: client,
		ua:     "Vigil/" + version,
		fp:     roundFingerprint(s),
		cache:  newSeriesCache(s),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go sd.run(ctx)
	return sd
}

// stop ends the sender: a request in flight is abandoned, and the round
// stays in the in-flight file for the next sender.
func (sd *sender) stop() {
	sd.cancel()
	<-sd.done
	sd.client.CloseIdleConnections()
}

func (sd *sender) run(ctx context.Context) {
	defer close(sd.done)
	held, err := sd.q.resume()
	if err != nil {
		sd.log.Error("cannot read what was in flight; it is not sent", "err", err)
	} else if len(held.blocks) > 0 {
		r := newRound(sd.s, sd.cache)
		for _, b := range held.blocks {
			if err := r.add(b); err != nil {
				sd.log.Warn("skipped a block in flight that cannot be read", "err", err)
			}
		}
		var done map[uint32]bool
		if held.fp == sd.fp {
			done = held.done
		}
		sd.log.Info("resending what was in flight", "samples", r.samples, "requests_delivered_before", len(done))
		if !sd.deliver(ctx, r, done, false) {
			return
		}
	}
	var buf []byte
	var p pacer
	limit := sd.s.capacity * sd.s.maxShards
	for {
		block, ok := sd.q.read(ctx, buf, -1)
		if !ok {
			return
		}
		start := time.Now()
		r := newRound(sd.s, sd.cache)
		sd.addBlock(r, block)
		buf = block
		deadline := start.Add(sd.s.batchSendDeadline)
		for r.samples+r.filtered < limit {
			block, ok := sd.q.read(ctx, buf, max(time.Until(deadline), 0))
			if !ok {
				break
			}
			sd.addBlock(r, block)
			buf = block
		}
		now := time.Now()
		paced := p.next(r.samples+r.filtered >= limit, sd.q.backlog(), now)
		if paced && !rest(ctx, now.Sub(start)) {
			return
		}
		if ctx.Err() != nil || !sd.deliver(ctx, r, nil, paced) {
			return
		}
	}
}

func (sd *sender) addBlock(r *round, block []byte) {
	if err := r.add(block); err != nil {
		sd.log.Warn("skipped a queued block that cannot be read", "err", err)
	}
}

// deliver sends the round's requests, skipping those in done, and records
// the round as delivered. Each of the round's shards is a list of
// requests sent in order; as many shards are sent at once as the round
// has, or min_shards when paced (see pace.go). It returns false when ctx
// ended it first.
func (sd *sender) deliver(ctx context.Context, r *round, done map[uint32]bool, paced bool) bool {
	sd.st.filtered.Add(r.filtered)
	shards := r.shards()
	workers := len(shards)
	if paced {
		workers = min(workers, sd.s.minShards)
	}
	sd.st.setShards(workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var enc encoder
			for {
				i := next.Add(1) - 1
				if i >= int64(len(shards)) {
					return
				}
				for _, req := range shards[i] {
					if done[req.index] {
						continue
					}
					start := time.Now()
					ok, waited := sd.send(ctx, req, &enc)
					if !ok {
						return
					}
					if err := sd.q.inflight.markDone(req.index, sd.fp); err != nil {
						sd.log.Warn("cannot record a delivered request", "err", err)
					}
					if paced && !rest(ctx, time.Since(start)-waited) {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false
	}
	if err := sd.q.delivered(); err != nil {
		sd.log.Warn("cannot record a delivered round; it may be sent again after a restart", "err", err)
	}
	return true
}

// send delivers one request, retrying with backoff on network errors, 5xx
// and 429, and dropping it (counted) on another answer. enc encodes it;
// false means ctx ended it. waited is the time spent between attempts.
func (sd *sender) send(ctx context.Context, req request, enc *encoder) (ok bool, waited time.Duration) {
	if limit := sd.s.sampleAgeLimit; limit > 0 {
		n := req.n
		req = dropOlder(req, time.Now().Add(-limit).UnixMilli())
		sd.st.drop(reasonTooOld, n-req.n)
		if req.n == 0 {
			return true, waited
		}
	}
	n := req.n
	newest := int64(0)
	for _, p := range req.pieces {
		newest = max(newest, p.samples[len(p.samples)-1].Timestamp)
	}
	body := enc.encode(req)

	backoff := sd.s.minBackoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, msg, err := sd.post(ctx, body)
		if ctx.Err() != nil {
			return false, waited
		}
		switch {
		case err == nil && status/100 == 2:
			sd.st.delivered(n, newest)
			sd.recovered()
			return true, waited
		case err == nil && status != http.StatusTooManyRequests && status/100 != 5:
			// The remote will never take it: retrying would block the
			// queue behind it for ever.
			err = fmt.Errorf("%s answered %d: %s", redactURL(sd.s.url), status, msg)
			sd.st.drop(reasonRejected, n)
			sd.st.failed(err)
			sd.log.Warn("the remote rejected a request; its samples are dropped", "samples", n, "err", err)
			return true, waited
		case err == nil:
			err = fmt.Errorf("%s answered %d: %s", redactURL(sd.s.url), status, msg)
		}
		sd.st.retried.Add(n)
		sd.st.failed(err)
		wait := backoff
		if retryAfter > wait {
			wait = min(retryAfter, maxRetryAfter)
		}
		sd.warnFailing(err, attempt, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, waited
		case <-t.C:
		}
		waited += wait
		backoff = min(2*backoff, sd.s.maxBackoff)
	}
}

// post sends body once. It returns the status and Retry-After of an
// answer, with the start of its body as msg, or the error that left none.
func (sd *sender) post(ctx context.Context, body []byte) (status int, retryAfter time.Duration, msg string, err error) {
	ctx, cancel := context.WithTimeout(ctx, sd.s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sd.s.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	if err := sd.s.auth.SetHeaders(req, true); err != nil {
		return 0, 0, "", err
	}
	h := req.Header
	h.Set("Content-Encoding", "snappy")
	h.Set("Content-Type", "application/x-protobuf")
	h.Set("User-Agent", sd.ua)
	h.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := sd.client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	start, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After")), string(bytes.TrimSpace(start)), nil
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when
// absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// dropOlder removes the samples older than minMs from req, keeping the
// rest in order.
func dropOlder(req request, minMs int64) request {
	out := request{index: req.index}
	for _, p := range req.pieces {
		i := 0
		for i < len(p.samples) && p.samples[i].Timestamp < minMs {
			i++
		}
		if len(p.samples[i:]) > 0 {
			out.pieces = append(out.pieces, piece{s: p.s, samples: p.samples[i:]})
			out.n += len(p.samples) - i
		}
	}
	return out
}

// warnFailing logs a failed attempt: the first of a run of failures, then
// at most one every 10 seconds.
func (sd *sender) warnFailing(err error, attempt int, wait time.Duration) {
	sd.warnMu.Lock()
	defer sd.warnMu.Unlock()
	if sd.failing && time.Since(sd.lastWarn) < 10*time.Second {
		return
	}
	sd.failing, sd.lastWarn = true, time.Now()
	sd.log.Warn("cannot deliver to the remote; retrying (the samples wait in the queue on disk)", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
}

func (sd *sender) recovered() {
	sd.warnMu.Lock()
	defer sd.warnMu.Unlock()
	if sd.failing {
		sd.failing = false
		sd.log.Info("the remote takes samples again")
	}
}
