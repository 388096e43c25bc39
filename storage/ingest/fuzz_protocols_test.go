package ingest

import (
	"errors"
	"testing"

	"github.com/vigil-monitoring/vigil/storage"
)

// The fuzzers of the OTLP, Influx, JSON lines and CSV decoders check the
// same contract as those of fuzz_test.go: never panic; on error, a
// bad-input error and rows as they were; on success, exactly the samples
// reported, every one of a valid series. Seeds are under
// testdata/fuzz/<FuzzName>/ besides the f.Add calls.

// checkDecoded checks the contract for one call of decode on rows that
// held one sample before.
func checkDecoded(t *testing.T, rows *storage.Rows, samples int, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrBadInput) {
			t.Fatalf("error %v is not bad input", err)
		}
		if rows.Len() != 1 {
			t.Fatalf("rows.Len() = %d after error %v; want 1", rows.Len(), err)
		}
		return
	}
	if rows.Len() != 1+samples {
		t.Fatalf("rows.Len() = %d; want 1 + %d samples", rows.Len(), samples)
	}
	if err := rows.ForEach(func(ls []storage.Label, _ int64, _ float64) {
		if err := validateSeries(ls); err != nil {
			t.Fatalf("appended an invalid series %s: %v", seriesString(ls), err)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeOTLP feeds the input as a protobuf request and as a JSON one.
func FuzzDecodeOTLP(f *testing.F) {
	f.Add([]byte(`{"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "a"}}, {"key": "x", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}}]},` +
		`"scopeMetrics": [{"metrics": [{"name": "h", "unit": "s", "histogram": {"aggregationTemporality": 2, "dataPoints": [{"timeUnixNano": "1000000", "count": "1", "bucketCounts": ["0", "1"], "explicitBounds": [1]}]}}]}]}]}`))
	f.Add(otlpProtobuf(f, `{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "s", "sum": {"isMonotonic": true, "aggregationTemporality": 2, "dataPoints": [{"timeUnixNano": "1000000", "asDouble": 1, "attributes": [{"key": "k.1", "value": {"stringValue": "v"}}]}]}}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, isJSON := range []bool{false, true} {
			rows := filledRows()
			res, err := DecodeOTLP(data, OTLPOptions{JSON: isJSON}, rows)
			checkDecoded(t, rows, res.Samples, err)
		}
	})
}

func FuzzParseInflux(f *testing.F) {
	f.Add([]byte("cpu,host=a usage=1.5,n=2i,u=3u,ok=t,s=\"x\" 1700000000000000000\n"))
	f.Add([]byte("m\\ x,t=a\\,b v=\"1\\\"2\",w=1\r\n# c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, precision := range []string{"", "ms"} {
			rows := filledRows()
			res, err := ParseInflux(data, InfluxOptions{DB: "db", Precision: precision, Now: 1}, rows)
			checkDecoded(t, rows, res.Samples, err)
		}
	})
}

func FuzzParseJSONLines(f *testing.F) {
	f.Add([]byte(`{"metric":{"__name__":"m","a":"b"},"values":[1,null,"NaN","-Infinity"],"timestamps":[1,2,3,4]}` + "\n"))
	f.Add([]byte(`{"metric":{"__name__":"m"},"values":[1],"timestamps":[1]}` + "\r\n\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := filledRows()
		res, err := ParseJSONLines(data, rows)
		checkDecoded(t, rows, res.Samples, err)
	})
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("host,v,t\na,1.5,1700000000\n\"b,\"\"c\",2,1700000001\n"), "1:label:host,2:metric:v,3:time:unix_s")
	f.Add([]byte("2024-01-01T00:00:00Z,x,3\n"), "1:time:rfc3339,2:label:l,3:metric:m")
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		rows := filledRows()
		res, err := ParseCSV(data, format, 1, rows)
		checkDecoded(t, rows, res.Samples, err)
	})
}
