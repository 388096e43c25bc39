package remotewrite

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/cespare/xxhash/v2"
	"gopkg.in/yaml.v2"

	"github.com/vigil-monitoring/vigil/storage"
)

// A round is the samples of the blocks the sender took off the queue
// together, grouped by series as they will be sent: external labels added,
// write_relabel_configs applied, labels sorted. Its series are spread over
// shards by a hash of their labels and each shard's series are cut into
// requests of at most max_samples_per_send, so that the samples of a
// series go out in the order they were stored, over one shard.
//
// Building a round from the same blocks with the same settings gives the
// same requests, which is what lets a restarted sender skip the requests
// of an interrupted round that were already delivered.
type round struct {
	s     *settings
	cache *seriesCache

	// series are the round's series in the order they first came; each
	// holds its samples of the round.
	series  []*sentSeries
	samples int
	// filtered counts the samples write_relabel_configs dropped.
	filtered int
}

func newRound(s *settings, cache *seriesCache) *round {
	cache.rounds++
	return &round{s: s, cache: cache}
}

// add adds the samples of a block; a block that cannot be decoded is an
// error.
func (r *round) add(block []byte) error {
	_, payload, err := parseBlock(block)
	if err != nil {
		return err
	}
	var seriesErr error
	err = storage.DecodeBatchSeries(payload, func(series []byte, samples []storage.Sample) {
		e, err := r.cache.get(series)
		if err != nil {
			seriesErr = err
			return
		}
		if e.sent == nil {
			r.filtered += len(samples)
			return
		}
		ss := e.sent
		if ss.round != r.cache.rounds {
			// The series' first samples in this round: its buffer, kept
			// from earlier rounds, is reused.
			ss.round = r.cache.rounds
			if cap(ss.samples) > maxKeptSamples {
				ss.samples = nil
			}
			ss.samples = ss.samples[:0]
			r.series = append(r.series, ss)
		}
		n := len(ss.samples)
		ss.samples = append(ss.samples, samples...)
		if e.nan {
			for j := n; j < len(ss.samples); j++ {
				ss.samples[j].Value = math.NaN()
			}
		}
		r.samples += len(samples)
	})
	if err == nil {
		err = seriesErr
	}
	return err
}

// maxKeptSamples bounds the buffer a series keeps from one round to the
// next: a series that took more in one round allocates anew.
const maxKeptSamples = 512

// seriesCache remembers, by a stored series' name (the store's encoding),
// what the series becomes when sent: its labels with the external labels
// added, relabelled and sorted, their hash and protobuf encoding; or that
// relabelling drops it. A sender keeps one across its rounds, since most
// series come back in every round; it is not safe for concurrent use, and
// only one of its rounds is built or sent at a time.
type seriesCache struct {
	s *settings
	m map[string]cacheEntry
	// sent holds the series as sent by their key: stored series that
	// become the same labels (a NaN shadow and its series, or series
	// that relabelling makes equal) are sent as one.
	sent    map[string]*sentSeries
	rounds  uint64 // rounds built, numbering them
	scratch []prompb.Label
	key     []byte
}

// cacheEntry is what a stored series becomes: sent nil means that
// write_relabel_configs drops it; nan marks the store's NaN shadow of a
// series, whose samples are plain NaN.
type cacheEntry struct {
	sent *sentSeries
	nan  bool
}

// sentSeries is a series as it is sent, and its samples of the round
// being built.
type sentSeries struct {
	// pb is the series' labels encoded as the repeated labels field of a
	// prompb.TimeSeries, ready to be copied into every request.
	pb   []byte
	hash uint64

	round   uint64 // the round samples belong to
	samples []storage.Sample
}

// maxCachedSeries bounds the cache; past it, it starts again empty.
const maxCachedSeries = 100_000

func newSeriesCache(s *settings) *seriesCache {
	return &seriesCache{s: s, m: map[string]cacheEntry{}, sent: map[string]*sentSeries{}}
}

func (c *seriesCache) get(series []byte) (cacheEntry, error) {
	if e, ok := c.m[string(series)]; ok {
		return e, nil
	}
	if len(c.m) >= maxCachedSeries {
		// The series of the round being built keep their samples: they
		// are referenced by it.
		clear(c.m)
		clear(c.sent)
	}
	labels, nan, err := storage.SeriesLabels(series, c.scratch[:0])
	if err != nil {
		return cacheEntry{}, err
	}
	n := len(labels)
	for _, el := range c.s.externalLabels {
		if !hasLabel(labels[:n], el.Name) {
			labels = append(labels, el)
		}
	}
	labels = c.s.relabel.Apply(labels, 0)
	c.scratch = labels
	e := cacheEntry{nan: nan}
	if len(labels) > 0 {
		slices.SortFunc(labels, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
		c.key = c.key[:0]
		for _, l := range labels {
			c.key = append(c.key, l.Name...)
			c.key = append(c.key, 0xff)
			c.key = append(c.key, l.Value...)
			c.key = append(c.key, 0xfe)
		}
		ss, ok := c.sent[string(c.key)]
		if !ok {
			ss = &sentSeries{pb: appendLabelsPB(nil, labels), hash: xxhash.Sum64(c.key)}
			c.sent[string(c.key)] = ss
		}
		e.sent = ss
	}
	c.m[string(series)] = e
	return e, nil
}

func hasLabel(labels []prompb.Label, name string) bool {
	for _, l := range labels {
		if l.Name == name {
			return true
		}
	}
	return false
}

// request is one remote write request of a round: pieces of its series,
// each with samples in order, and its index in the round.
type request struct {
	index  uint32
	pieces []piece
	n      int
}

// piece is a series and some of its samples of a round.
type piece struct {
	s       *sentSeries
	samples []storage.Sample
}

// shards splits the round into requests: as many shards as full requests
// (within min_shards and max_shards), each a list of requests to send in
// order. Request indexes number them shard after shard.
func (r *round) shards() [][]request {
	n := (r.samples + r.s.maxSamplesPerSend - 1) / r.s.maxSamplesPerSend
	n = min(max(n, r.s.minShards, 1), r.s.maxShards)
	perShard := make([][]*sentSeries, n)
	for _, ss := range r.series {
		i := ss.hash % uint64(n)
		perShard[i] = append(perShard[i], ss)
	}
	out := make([][]request, n)
	var index uint32
	for i, list := range perShard {
		var cur request
		for _, ss := range list {
			samples := ss.samples
			for len(samples) > 0 {
				room := r.s.maxSamplesPerSend - cur.n
				take := min(room, len(samples))
				cur.pieces = append(cur.pieces, piece{s: ss, samples: samples[:take]})
				cur.n += take
				samples = samples[take:]
				if cur.n == r.s.maxSamplesPerSend {
					cur.index = index
					index++
					out[i] = append(out[i], cur)
					cur = request{}
				}
			}
		}
		if cur.n > 0 {
			cur.index = index
			index++
			out[i] = append(out[i], cur)
		}
	}
	return out
}

// roundFingerprint identifies the settings that decide how a round is cut
// into requests: a round resumed after a restart skips the requests
// already delivered only if it is cut the same way.
func roundFingerprint(s *settings) uint64 {
	h := sha256.New()
	relabel, _ := yaml.Marshal(s.cfg.WriteRelabelConfigs)
	h.Write(relabel)
	for _, l := range s.externalLabels {
		h.Write([]byte(l.Name + "\xff" + l.Value + "\xfe"))
	}
	var b []byte
	for _, n := range []int{s.minShards, s.maxShards, s.maxSamplesPerSend} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	h.Write(b)
	return binary.BigEndian.Uint64(h.Sum(nil))
}
