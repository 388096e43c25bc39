package remotewrite

import (
	"context"
	"time"
)

// Pacing: what the sender does while Vigil ingests faster than it sends.
//
// Sending costs CPU (reading the queue, building and compressing the
// requests, HTTP), and so does a remote on the same machine. While a burst
// of ingestion (a backfill, an import, many pushing clients) fills the
// queue, the sender would take that CPU from the ingestion itself. So
// while the queue grows the sender delivers paced: min_shards requests at
// a time (one by default), resting after each step of its work twice as
// long as the step took, which leaves the ingestion the rest of the
// cores. The samples wait on disk meanwhile. The sender goes back to full
// speed (as many requests at once as the round has shards, up to
// max_shards) as soon as the queue stops growing, or once it has been
// behind for catchUpAfter, so that an ingestion rate that the paced
// sender cannot follow is still delivered, at most that much later. A
// sender that keeps up, which is the steady state of scraping, is never
// paced.

// catchUpAfter is how long the sender stays paced while behind.
const catchUpAfter = time.Minute

// pacedRest is how long a paced sender rests for each unit of time it
// worked: 2 leaves it a third of the time of the goroutine it runs on.
const pacedRest = 2

// pacer decides, round after round, whether the sender is paced. Only the
// sender's goroutine uses it.
type pacer struct {
	behindSince time.Time // when the first full round of a run of full rounds was built
	lastBacklog int64     // the queue's backlog after the previous full round
}

// next decides for a round just built: full tells whether it stopped at
// its size limit (the queue held more), backlog is what the queue holds
// after it, in samples. It returns whether the round is sent paced.
func (p *pacer) next(full bool, backlog int64, now time.Time) bool {
	if !full {
		*p = pacer{}
		return false
	}
	if p.behindSince.IsZero() {
		// The first full round: the queue filled it faster than it
		// was taken, which is what a burst of ingestion does.
		p.behindSince = now
		p.lastBacklog = backlog
		return true
	}
	growing := backlog > p.lastBacklog
	p.lastBacklog = backlog
	return growing && now.Sub(p.behindSince) < catchUpAfter
}

// maxRest bounds one rest: a step slowed down by something else than
// work (a slow remote) does not stall the sender for long.
const maxRest = time.Second

// rest waits pacedRest times worked (at most maxRest), or until ctx ends;
// false means ctx ended.
func rest(ctx context.Context, worked time.Duration) bool {
	t := time.NewTimer(min(pacedRest*worked, maxRest))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
