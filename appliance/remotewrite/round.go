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

	series  []*roundSeries
	byKey   map[string]int
	samples int
	// filtered counts the samples write_relabel_configs dropped.
	filtered int
}

type roundSeries struct {
	sent    *sentSeries
	samples []prompb.Sample
}

func newRound(s *settings, cache *seriesCache) *round {
	return &round{s: s, cache: cache, byKey: map[string]int{}}
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
		if e.dropped {
			r.filtered += len(samples)
			return
		}
		i, ok := r.byKey[e.key]
		if !ok {
			i = len(r.series)
			r.series = append(r.series, &roundSeries{sent: e})
			r.byKey[e.key] = i
		}
		rs := r.series[i]
		n := len(rs.samples)
		rs.samples = append(rs.samples, samples...)
		if e.nan {
			for j := n; j < len(rs.samples); j++ {
				rs.samples[j].Value = math.NaN()
			}
		}
		r.samples += len(samples)
	})
	if err == nil {
		err = seriesErr
	}
	return err
}

// seriesCache remembers, by a stored series' name (the store's encoding),
// what the series becomes when sent: its labels with the external labels
// added, relabelled and sorted, and their hash; or that relabelling drops
// it. A sender keeps one across its rounds, since most series come back
// in every round; it is not safe for concurrent use.
type seriesCache struct {
	s       *settings
	m       map[string]*sentSeries
	scratch []prompb.Label
	key     []byte
}

// sentSeries is a series as it is sent.
type sentSeries struct {
	labels  []prompb.Label // sorted by name
	key     string         // labels, encoded: the same key, the same series
	hash    uint64
	nan     bool // the store's NaN shadow: its samples are plain NaN
	dropped bool // by write_relabel_configs
}

// maxCachedSeries bounds the cache; past it, it starts again empty.
const maxCachedSeries = 100_000

func newSeriesCache(s *settings) *seriesCache {
	return &seriesCache{s: s, m: map[string]*sentSeries{}}
}

func (c *seriesCache) get(series []byte) (*sentSeries, error) {
	if e, ok := c.m[string(series)]; ok {
		return e, nil
	}
	if len(c.m) >= maxCachedSeries {
		clear(c.m)
	}
	labels, nan, err := storage.SeriesLabels(series, c.scratch[:0])
	if err != nil {
		return nil, err
	}
	n := len(labels)
	for _, el := range c.s.externalLabels {
		if !hasLabel(labels[:n], el.Name) {
			labels = append(labels, el)
		}
	}
	labels = c.s.relabel.Apply(labels, 0)
	c.scratch = labels
	e := &sentSeries{nan: nan}
	if len(labels) == 0 {
		e.dropped = true
	} else {
		slices.SortFunc(labels, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
		c.key = c.key[:0]
		for _, l := range labels {
			c.key = append(c.key, l.Name...)
			c.key = append(c.key, 0xff)
			c.key = append(c.key, l.Value...)
			c.key = append(c.key, 0xfe)
		}
		e.labels, e.key, e.hash = slices.Clone(labels), string(c.key), xxhash.Sum64(c.key)
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

// request is one remote write request of a round: its series' samples, in
// order, and its index in the round.
type request struct {
	index  uint32
	series []prompb.TimeSeries
	n      int
}

// shards splits the round into requests: as many shards as full requests
// (within min_shards and max_shards), each a list of requests to send in
// order. Request indexes number them shard after shard.
func (r *round) shards() [][]request {
	n := (r.samples + r.s.maxSamplesPerSend - 1) / r.s.maxSamplesPerSend
	n = min(max(n, r.s.minShards, 1), r.s.maxShards)
	perShard := make([][]*roundSeries, n)
	for _, rs := range r.series {
		i := rs.sent.hash % uint64(n)
		perShard[i] = append(perShard[i], rs)
	}
	out := make([][]request, n)
	var index uint32
	for i, list := range perShard {
		var cur request
		for _, rs := range list {
			samples := rs.samples
			for len(samples) > 0 {
				room := r.s.maxSamplesPerSend - cur.n
				take := min(room, len(samples))
				cur.series = append(cur.series, prompb.TimeSeries{Labels: rs.sent.labels, Samples: samples[:take]})
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
