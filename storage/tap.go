package storage

import (
	"fmt"
	"math"

	vmstorage "github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// Tap receives every batch of samples the store takes, in the order Append
// stored them: scraped, pushed through any ingestion endpoint, recorded by
// rules, written by the demo. The composition root sets one to replicate
// what Vigil stores (remote_write); the store does not know what it does.
//
// Stored is called by Append on the appender's goroutine, after the rows
// are in the write-ahead log and the store, and Append returns only after
// it: it must be quick, must not fail, and must not call back into the
// Storage. Calls for different batches may run concurrently.
type Tap interface {
	Stored(b Batch)
}

// Batch is a batch of stored samples in the store's compact encoding:
// series names are written once per run of samples of the same series.
// A Batch passed to Tap.Stored is valid only during the call; keep its
// Encoded bytes, copied, and read them back with DecodeBatch.
type Batch struct {
	data []byte
	n    int
}

// Len returns the number of samples in b.
func (b Batch) Len() int { return b.n }

// Encoded returns b's encoding, which DecodeBatch reads. It is b's own
// memory: copy it to keep it.
func (b Batch) Encoded() []byte { return b.data }

// Split calls f with consecutive parts of b, in order, each of at most
// maxBytes encoded (a single sample larger than that makes a part of its
// own). The parts are valid only during the call.
func (b Batch) Split(maxBytes int, f func(part Batch)) error {
	if len(b.data) <= maxBytes {
		f(b)
		return nil
	}
	mrs, err := decodeWALRecord(b.data, nil)
	if err != nil {
		return fmt.Errorf("storage: corrupted batch: %w", err)
	}
	var buf []byte
	start := 0
	size := 0
	for i := range mrs {
		rowSize := 1 + 10 + 8
		if i == 0 || !sameBytes(mrs[i].MetricNameRaw, mrs[i-1].MetricNameRaw) {
			rowSize += 10 + len(mrs[i].MetricNameRaw)
		}
		if size+rowSize > maxBytes && i > start {
			buf = appendRowsPayload(buf[:0], mrs[start:i])
			f(Batch{data: buf, n: i - start})
			start, size = i, 10+len(mrs[i].MetricNameRaw)+1+10+8
			continue
		}
		size += rowSize
	}
	buf = appendRowsPayload(buf[:0], mrs[start:])
	f(Batch{data: buf, n: len(mrs) - start})
	return nil
}

// DecodeBatch calls f with the samples of a Batch's encoding, in order,
// a run of consecutive samples of one series at a time. The labels and
// samples passed to f are valid only during the call and must not be
// changed; the metric name comes first. Plain NaN samples come back as
// NaN (in a run of their own), staleness markers bit for bit.
func DecodeBatch(data []byte, f func(labels []Label, samples []Sample)) error {
	var ls []Label
	var decodeErr error
	err := DecodeBatchSeries(data, func(series []byte, samples []Sample) {
		var nan bool
		var err error
		if ls, nan, err = SeriesLabels(series, ls[:0]); err != nil {
			decodeErr = err
			return
		}
		if nan {
			for i := range samples {
				samples[i].Value = math.NaN()
			}
		}
		f(ls, samples)
	})
	if err == nil {
		err = decodeErr
	}
	return err
}

// DecodeBatchSeries calls f with each run of consecutive samples of one
// series in a Batch's encoding, in order. series is the series' name in
// the store's encoding: an identity (the same bytes, the same series)
// that SeriesLabels turns into labels, cheaper to compare and remember
// than labels. Values are as stored: the samples of a series that
// SeriesLabels reports as a NaN shadow are plain NaN. series and samples
// are valid only during the call.
func DecodeBatchSeries(data []byte, f func(series []byte, samples []Sample)) error {
	var (
		name    []byte
		samples []Sample
	)
	d := rowDecoder{data: data}
	for len(d.data) > 0 {
		newName, err := d.next()
		if err != nil {
			return fmt.Errorf("storage: corrupted batch: %w", err)
		}
		if newName {
			if len(samples) > 0 {
				f(name, samples)
				samples = samples[:0]
			}
			name = d.name
		}
		samples = append(samples, Sample{Timestamp: d.ts, Value: d.v})
	}
	if len(samples) > 0 {
		f(name, samples)
	}
	return nil
}

// SeriesLabels appends the labels of a series of DecodeBatchSeries to
// dst, the metric name first, and reports whether it is the NaN shadow of
// a series (its samples are plain NaN; its labels are the series').
func SeriesLabels(series []byte, dst []Label) ([]Label, bool, error) {
	var mn vmstorage.MetricName
	if err := mn.UnmarshalRaw(series); err != nil {
		return dst, false, fmt.Errorf("storage: corrupted batch: %w", err)
	}
	nan := false
	dst = append(dst, Label{Name: "__name__", Value: string(mn.MetricGroup)})
	for _, t := range mn.Tags {
		if string(t.Key) == nanLabel {
			nan = true
			continue
		}
		dst = append(dst, Label{Name: string(t.Key), Value: string(t.Value)})
	}
	return dst, nan, nil
}

// forEachRow calls f with the labels, timestamp and value of every row,
// decoding a series name once per run of rows that share it.
func forEachRow(mrs []vmstorage.MetricRow, f func(labels []Label, timestamp int64, value float64)) error {
	var (
		mn   vmstorage.MetricName
		ls   []Label
		prev []byte
		nan  bool
	)
	for i := range mrs {
		mr := &mrs[i]
		if i == 0 || !sameBytes(mr.MetricNameRaw, prev) {
			if err := mn.UnmarshalRaw(mr.MetricNameRaw); err != nil {
				return fmt.Errorf("storage: corrupted row: %w", err)
			}
			prev = mr.MetricNameRaw
			nan = false
			ls = append(ls[:0], Label{Name: "__name__", Value: string(mn.MetricGroup)})
			for _, t := range mn.Tags {
				if string(t.Key) == nanLabel {
					nan = true
					continue
				}
				ls = append(ls, Label{Name: string(t.Key), Value: string(t.Value)})
			}
		}
		v := mr.Value
		if nan {
			v = math.NaN()
		}
		f(ls, mr.Timestamp, v)
	}
	return nil
}
