package ingest

import (
	"math"
	"strconv"
	"strings"

	"github.com/vigil-monitoring/vigil/storage"
)

// fmtLabels writes labels in their order as name="value" pairs joined by
// ", ", the form the tests' expectations are written in.
func fmtLabels(labels []storage.Label) string {
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.Value))
	}
	return b.String()
}

// fmtValue spells a sample value, telling the staleness marker apart from
// an ordinary NaN.
func fmtValue(v float64) string {
	if math.Float64bits(v) == math.Float64bits(staleNaN) {
		return "StaleNaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// filledRows returns rows holding one sample, so that tests can check that
// a failed decode leaves it as it was.
func filledRows() *storage.Rows {
	var rows storage.Rows
	if err := rows.Add([]storage.Label{{Name: "__name__", Value: "before"}}, 1, 1); err != nil {
		panic(err)
	}
	return &rows
}
