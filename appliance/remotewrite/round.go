package remotewrite

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
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
	s *settings

	series  []*roundSeries
	byKey   map[string]int
	samples int
	// filtered counts the samples write_relabel_configs dropped.
	filtered int

	// The labels of the stored series being added, and what they became:
	// consecutive samples of a series share the work.
	lastIn  []prompb.Label
	lastOut int // index into series, -1 when relabelling dropped it
	scratch []prompb.Label
	key     []byte
}

type roundSeries struct {
	labels  []prompb.Label
	hash    uint64
	samples []prompb.Sample
}

func newRound(s *settings) *round {
	return &round{s: s, byKey: map[string]int{}, lastOut: -1}
}

// add adds the samples of a block; a block that cannot be decoded is an
// error.
func (r *round) add(block []byte) error {
	_, payload, err := parseBlock(block)
	if err != nil {
		return err
	}
	r.lastIn = r.lastIn[:0]
	r.lastOut = -1
	first := true
	return storage.DecodeBatch(payload, func(labels []storage.Label, ts int64, v float64) {
		if first || !sameLabels(labels, r.lastIn) {
			first = false
			r.lastIn = append(r.lastIn[:0], labels...)
			r.lastOut = r.seriesFor(labels)
		}
		if r.lastOut < 0 {
			r.filtered++
			return
		}
		rs := r.series[r.lastOut]
		rs.samples = append(rs.samples, prompb.Sample{Timestamp: ts, Value: v})
		r.samples++
	})
}

func sameLabels(a, b []prompb.Label) bool {
	return slices.Equal(a, b)
}

// seriesFor returns the index of the round's series the stored series with
// labels goes to, or -1 when write_relabel_configs drop it.
func (r *round) seriesFor(labels []prompb.Label) int {
	out := append(r.scratch[:0], labels...)
	for _, el := range r.s.externalLabels {
		if !hasLabel(labels, el.Name) {
			out = append(out, el)
		}
	}
	out = r.s.relabel.Apply(out, 0)
	r.scratch = out
	if len(out) == 0 {
		return -1
	}
	slices.SortFunc(out, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
	r.key = r.key[:0]
	for _, l := range out {
		r.key = append(r.key, l.Name...)
		r.key = append(r.key, 0xff)
		r.key = append(r.key, l.Value...)
		r.key = append(r.key, 0xfe)
	}
	if i, ok := r.byKey[string(r.key)]; ok {
		return i
	}
	rs := &roundSeries{labels: slices.Clone(out), hash: xxhash.Sum64(r.key)}
	r.series = append(r.series, rs)
	r.byKey[string(r.key)] = len(r.series) - 1
	return len(r.series) - 1
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
		i := rs.hash % uint64(n)
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
				cur.series = append(cur.series, prompb.TimeSeries{Labels: rs.labels, Samples: samples[:take]})
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
