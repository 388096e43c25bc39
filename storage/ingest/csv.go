package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/csvimport"

	"github.com/vigil-monitoring/vigil/storage"
)

// ParseCSV parses CSV as VictoriaMetrics' /api/v1/import/csv does: format
// describes the columns, comma-separated entries <column>:<type>:<arg>
// (columns count from 1) with the types
//
//	time:unix_s|unix_ms|unix_ns|rfc3339|custom:<Go layout>  the sample's time
//	label:<name>                                             a label's value
//	metric:<name>                                            a sample of metric <name>
//
// e.g. format=1:label:host,2:metric:cpu_usage,3:time:unix_s. Each row gives
// one sample per metric column, with the row's labels and time (now, in
// Unix milliseconds, without a time column). Empty cells are skipped,
// columns past the format are ignored, and a first row whose time or
// metric cells do not parse is taken for a header and skipped.
//
// The format is read by VictoriaMetrics' lib/protoparser/csvimport; the
// rows by encoding/csv, since VictoriaMetrics' row parser logs and skips a
// bad row where Vigil refuses the request, naming the line and the column.
//
// On error, an *InputError naming the line, nothing is appended.
func ParseCSV(data []byte, format string, now int64, rows *storage.Rows) (Result, error) {
	if format == "" {
		return Result{}, inputErrorf("missing format query argument: describe the columns, e.g. format=1:label:host,2:metric:cpu_usage,3:time:unix_s")
	}
	cds, err := csvimport.ParseColumnDescriptors(format)
	if err != nil {
		return Result{}, inputErrorf("format=%q: %w", format, err)
	}
	return appendAll(rows, func() (Result, error) { return parseCSVRows(data, cds, now, rows) })
}

func parseCSVRows(data []byte, cds []csvimport.ColumnDescriptor, now int64, rows *storage.Rows) (Result, error) {
	var res Result
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var labels []storage.Label
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Result{}, lineErrorf(pe.Line, "column %d: %v", pe.Column, pe.Err)
			}
			return Result{}, inputErrorf("%w", err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) < len(cds) {
			return Result{}, lineErrorf(line, "%d columns; the format names %d", len(rec), len(cds))
		}
		ts := now
		labels = labels[:0]
		// rowErr is the row's first error; unparsable says it is one a
		// header row would have.
		var rowErr error
		unparsable := false
		for i := range cds {
			cd, cell := &cds[i], rec[i]
			if cell == "" || cd.ParseTimestamp == nil || rowErr != nil {
				continue
			}
			t, err := cd.ParseTimestamp(cell)
			if err != nil {
				rowErr, unparsable = fmt.Errorf("column %d: cannot parse time %q: %w", i+1, cell, err), true
			}
			ts = t
		}
		for i := range cds {
			cd, cell := &cds[i], rec[i]
			if cell != "" && cd.TagName != "" {
				labels = append(labels, storage.Label{Name: cd.TagName, Value: cell})
			}
		}
		nameAt := len(labels)
		labels = append(labels, storage.Label{Name: metricNameLabel})
		n := rows.Len()
		for i := range cds {
			cd, cell := &cds[i], rec[i]
			if cell == "" || cd.MetricName == "" || rowErr != nil {
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				rowErr, unparsable = fmt.Errorf("column %d (metric %s): %q is not a number", i+1, cd.MetricName, cell), true
				continue
			}
			labels[nameAt].Value = cd.MetricName
			if err := validateSeries(labels); err != nil {
				rowErr = fmt.Errorf("column %d: series %s: %w", i+1, seriesString(labels), err)
				continue
			}
			if err := rows.Add(labels, ts, v); err != nil {
				rowErr = fmt.Errorf("column %d: series %s: %w", i+1, seriesString(labels), err)
			}
		}
		if rowErr != nil {
			if first && unparsable {
				// A header row, as VictoriaMetrics detects one.
				rows.Truncate(n)
				continue
			}
			return Result{}, lineErrorf(line, "%v", rowErr)
		}
		res.Series += rows.Len() - n
		res.Samples += rows.Len() - n
	}
}
