package storage

import "hash/maphash"

// SeriesMemo makes appending the same series in the same order, batch
// after batch, cheaper: the scrapes of one target do that. It remembers,
// by position in the batch, a hash of the encoded name of each series
// that passed the label checks and, in the cardinality limiter's current
// generation, the limits. A series of the next batch whose name hashes the
// same at the same position skips both: one hash of its name replaces the
// UTF-8 check of every byte of its labels and the look-up in the limiter's
// filters, which are random reads of memory (together 7-8% of the CPU of
// scraping, by the profile of the 200-target benchmark). A series that
// moved, changed or is new is checked in full. The hash has 64 bits: a
// different series passing unchecked because it hashes the same as the
// one at its position has odds of 2^-64.
//
// The limiter's verdict is remembered only within one of its
// generations: after it rotates, every series is looked up again (and so
// carried over into the new generation). When a batch fails to store, or
// the limits refuse some of its rows, the memo forgets everything.
//
// A SeriesMemo belongs to one source whose batches go to one Storage, one
// batch at a time: it is not safe for concurrent use. The zero value is
// ready to use.
type SeriesMemo struct {
	seed   maphash.Seed
	seeded bool

	// prev holds, by position, the hash of the series of the last batch
	// stored, 0 for a position whose series was not stored. next is being
	// filled by the batch under way (Rows.AddSeries).
	prev, next []uint64

	// limiter and genEnd identify the limiter generation that admitted
	// prev's series; nil when the Storage has no limits.
	limiter *seriesLimiter
	genEnd  int64
}

// start begins a batch.
func (m *SeriesMemo) start() {
	if !m.seeded {
		m.seed, m.seeded = maphash.MakeSeed(), true
	}
	m.next = m.next[:0]
}

// hash returns the hash of an encoded series name, never 0.
func (m *SeriesMemo) hash(name []byte) uint64 {
	return max(maphash.Bytes(m.seed, name), 1)
}

// knownAt reports whether the series at position pos of the last batch
// had hash h.
func (m *SeriesMemo) knownAt(pos int, h uint64) bool {
	return pos < len(m.prev) && m.prev[pos] == h
}

// limiterGen returns the generation of l whose admissions prev records, 0
// if none of l's.
func (m *SeriesMemo) limiterGen(l *seriesLimiter) int64 {
	if m.limiter != l || l == nil {
		return 0
	}
	return m.genEnd
}

// commit makes the batch under way the one to compare the next with: its
// series passed the limits of l's generation genEnd (l nil: no limits).
func (m *SeriesMemo) commit(l *seriesLimiter, genEnd int64) {
	m.prev, m.next = m.next, m.prev[:0]
	m.limiter, m.genEnd = l, genEnd
}

// forget drops everything remembered: the next batch is checked in full.
func (m *SeriesMemo) forget() {
	m.prev, m.next = m.prev[:0], m.next[:0]
	m.limiter, m.genEnd = nil, 0
}
