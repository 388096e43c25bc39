package web

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	gzip "github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/vigil-monitoring/vigil/internal/jsonstr"
)

// exportFlushBytes is how much of an export is buffered before it is
// written to the client.
const exportFlushBytes = 256 << 10

// export serves GET and POST /api/v1/export as VictoriaMetrics does: the
// stored samples of every series matching a match[] selector between start
// (default: the oldest sample) and end (default: now), one series per line
// in the JSON lines format that /api/v1/import reads, streamed as they are
// read. max_rows_per_line splits a series into lines of at most that many
// samples, so that each can be imported within the samples limit.
//
// Values round-trip: numbers are written in the shortest form that reads
// back to the same float64, a staleness marker as null (as VictoriaMetrics
// writes the only NaNs it keeps), a plain NaN as "NaN", infinities as
// "Infinity" and "-Infinity".
func (s *Server) export(c echo.Context) error {
	r := c.Request()
	if err := parseForm(r); err != nil {
		return err
	}
	if len(r.Form["match[]"]) == 0 {
		writeAPIError(c, badData(errors.New("no match[] parameter provided: name the series to export, e.g. match[]={job=\"api\"}")))
		return nil
	}
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		writeAPIError(c, invalidParam(err, "start"))
		return nil
	}
	end, err := parseTimeParam(r, "end", time.Now())
	if err != nil {
		writeAPIError(c, invalidParam(err, "end"))
		return nil
	}
	if end.Before(start) {
		writeAPIError(c, badData(errors.New("end timestamp must not be before start time")))
		return nil
	}
	maxRows := 0
	if v := r.FormValue("max_rows_per_line"); v != "" {
		if maxRows, err = strconv.Atoi(v); err != nil || maxRows < 0 {
			writeAPIError(c, invalidParam(fmt.Errorf("max_rows_per_line=%q is not a number of samples", v), "max_rows_per_line"))
			return nil
		}
	}
	matcherSets, err := s.parseMatchersParam(r.Form["match[]"])
	if err != nil {
		writeAPIError(c, invalidParam(err, "match[]"))
		return nil
	}
	if s.queryable() == nil {
		writeAPIError(c, errNoQueryEngine)
		return nil
	}
	mint, maxt := timestamp.FromTime(start), timestamp.FromTime(end)
	q, err := s.queryable().Querier(mint, maxt)
	if err != nil {
		writeAPIError(c, queryError(err))
		return nil
	}
	defer q.Close()

	ctx := r.Context()
	hints := &promstorage.SelectHints{Start: mint, End: maxt}
	var set promstorage.SeriesSet
	if len(matcherSets) == 1 {
		set = q.Select(ctx, false, hints, matcherSets[0]...)
	} else {
		sets := make([]promstorage.SeriesSet, 0, len(matcherSets))
		for _, ms := range matcherSets {
			sets = append(sets, q.Select(ctx, true, hints, ms...)) // sorted, to merge
		}
		set = promstorage.NewMergeSeriesSet(sets, 0, promstorage.ChainedSeriesMerge)
	}

	ew := &exportWriter{c: c}
	defer ew.close()
	var (
		it  chunkenc.Iterator
		ts  []int64
		vs  []float64
		buf []byte
	)
	for set.Next() {
		series := set.At()
		it = series.Iterator(it)
		ts, vs = ts[:0], vs[:0]
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue // the store holds floats only
			}
			t, v := it.At()
			if t >= mint && t <= maxt {
				ts, vs = append(ts, t), append(vs, v)
			}
		}
		if err := it.Err(); err != nil {
			return ew.fail(s.logger(), err)
		}
		for len(ts) > 0 {
			n := len(ts)
			if maxRows > 0 {
				n = min(n, maxRows)
			}
			buf = appendExportLine(buf, series.Labels(), ts[:n], vs[:n])
			ts, vs = ts[n:], vs[n:]
			if len(buf) >= exportFlushBytes {
				if err := ew.write(buf); err != nil {
					return nil // the client went away
				}
				buf = buf[:0]
			}
		}
	}
	if err := set.Err(); err != nil {
		return ew.fail(s.logger(), err)
	}
	_ = ew.write(buf)
	return nil
}

// exportWriter writes an export's lines, gzip-compressed when the client
// accepts it, starting the response at the first write.
type exportWriter struct {
	c       echo.Context
	w       io.Writer
	zw      *gzip.Writer
	started bool
}

func (ew *exportWriter) start() {
	ew.started = true
	resp := ew.c.Response()
	h := resp.Header()
	h.Set(echo.HeaderContentType, "application/stream+json")
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	ew.w = resp
	if acceptsGzip(ew.c.Request()) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		ew.zw = gzipWriters.Get().(*gzip.Writer)
		ew.zw.Reset(resp)
		ew.w = ew.zw
	}
	resp.WriteHeader(http.StatusOK)
}

func (ew *exportWriter) write(b []byte) error {
	if !ew.started {
		ew.start()
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := ew.w.Write(b); err != nil {
		return err
	}
	if ew.zw != nil {
		if err := ew.zw.Flush(); err != nil {
			return err
		}
	}
	ew.c.Response().Flush()
	return nil
}

func (ew *exportWriter) close() {
	if ew.zw != nil {
		_ = ew.zw.Close()
		ew.zw.Reset(io.Discard)
		gzipWriters.Put(ew.zw)
		ew.zw = nil
	}
}

// fail reports a read error: in the API's envelope before anything was
// sent, else by aborting the response, so that the client sees a broken
// transfer rather than an export that looks complete.
func (ew *exportWriter) fail(log *slog.Logger, err error) error {
	if !ew.started {
		writeAPIError(ew.c, queryError(err))
		return nil
	}
	log.Error("export failed after the response started; aborting it", "err", err)
	ew.close()
	panic(http.ErrAbortHandler)
}

// appendExportLine appends one line of the JSON lines format.
func appendExportLine(b []byte, ls labels.Labels, ts []int64, vs []float64) []byte {
	b = append(b, `{"metric":{`...)
	// The metric name first, as VictoriaMetrics writes it.
	b = jsonstr.Append(b, model.MetricNameLabel)
	b = append(b, ':')
	b = jsonstr.Append(b, ls.Get(model.MetricNameLabel))
	ls.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			return
		}
		b = append(b, ',')
		b = jsonstr.Append(b, l.Name)
		b = append(b, ':')
		b = jsonstr.Append(b, l.Value)
	})
	b = append(b, `},"values":[`...)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendExportValue(b, v)
	}
	b = append(b, `],"timestamps":[`...)
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	return append(b, "]}\n"...)
}

// appendExportValue writes v as ingest.ParseJSONLines reads it back.
func appendExportValue(b []byte, v float64) []byte {
	switch {
	case value.IsStaleNaN(v):
		return append(b, "null"...)
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	// The shortest form that reads back as v, as encoding/json writes it.
	return appendJSONFloat(b, v)
}
