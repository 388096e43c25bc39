package ingest

import (
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/golang/snappy"

	"github.com/vigil-monitoring/vigil/storage"
)

// The fuzzers check the decoders' contract: never panic; on error, return
// a bad-input error and leave rows as they were; on success, append
// exactly the samples reported, every one of a valid series. Seed inputs
// are under testdata/fuzz/<FuzzName>/ besides the f.Add calls.

// FuzzDecodeRemoteWrite feeds the input both as a body and, snappy
// encoded, as the protobuf inside one, so that the fuzzer reaches the
// protobuf decoder without having to produce valid snappy.
func FuzzDecodeRemoteWrite(f *testing.F) {
	for _, wr := range []*struct{ n, s int }{{0, 0}, {1, 1}, {3, 2}} {
		data, err := benchmarkWriteRequest(wr.n, wr.s).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0x0a, 0x05, 0x0a})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, body := range [][]byte{data, snappy.Encode(nil, data)} {
			rows := filledRows()
			res, err := DecodeRemoteWrite(body, rows)
			if err != nil {
				if !errors.Is(err, ErrBadInput) {
					t.Fatalf("error %v is not bad input", err)
				}
				if rows.Len() != 1 {
					t.Fatalf("rows.Len() = %d after error %v; want 1", rows.Len(), err)
				}
				continue
			}
			if rows.Len() != 1+res.Samples {
				t.Fatalf("rows.Len() = %d; want 1 + %d samples", rows.Len(), res.Samples)
			}
			d := getRemoteWriteDecoder()
			wr, err := d.decode(body)
			if err != nil {
				t.Fatalf("second decode failed: %v", err)
			}
			samples := 0
			for _, ts := range wr.Timeseries {
				if err := validateSeries(ts.Labels); err != nil {
					t.Fatalf("appended an invalid series %s: %v", seriesString(ts.Labels), err)
				}
				samples += len(ts.Samples)
			}
			if samples != res.Samples {
				t.Fatalf("result says %d samples; the request has %d", res.Samples, samples)
			}
			putRemoteWriteDecoder(d)
		}
	})
}

const protobufPushType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

// FuzzParseText parses the input as an import and as Pushgateway pushes,
// in the text format and as delimited protobuf.
func FuzzParseText(f *testing.F) {
	f.Add([]byte("up 1\n"))
	f.Add([]byte("# HELP m h\n# TYPE m counter\nm_total{a=\"b\\n\\\"\",c=\"d\"} 1.5 1712345678000\n"))
	f.Add([]byte("{\"my.metric\", \"label.x\"=\"v\"} NaN\n# EOF\n"))
	f.Add([]byte("h_bucket{le=\"+Inf\"} 1 # {trace_id=\"x\"} 1\nh_count 1\r\n"))
	extra := []storage.Label{{Name: "instance", Value: "fuzz"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := filledRows()
		res, err := ParseText(data, 1000, extra, rows)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Line < 1 {
				t.Fatalf("error %v is not an *InputError with a line", err)
			}
			if rows.Len() != 1 {
				t.Fatalf("rows.Len() = %d after error %v; want 1", rows.Len(), err)
			}
		} else {
			if rows.Len() != 1+res.Samples {
				t.Fatalf("rows.Len() = %d; want 1 + %d samples", rows.Len(), res.Samples)
			}
			p := getTextParser()
			if err := p.parse(data, extra); err != nil {
				t.Fatalf("second parse failed: %v", err)
			}
			for i := range p.samples {
				labels := p.sampleLabels(&p.samples[i])
				if err := validateSeries(labels); err != nil {
					t.Fatalf("appended an invalid series %s: %v", seriesString(labels), err)
				}
			}
			putTextParser(p)
		}

		g := NewGroups(GroupsOptions{})
		gl := []storage.Label{{Name: "job", Value: "fuzz"}, {Name: "instance", Value: "i"}}
		if _, err := g.Push(PushReplaceGroup, gl, data, "", time.Unix(1, 0)); err != nil && !errors.Is(err, ErrBadInput) {
			t.Fatalf("push error %v is not bad input", err)
		}
		if _, err := g.Push(PushReplaceMetrics, gl, data, "", time.Unix(2, 0)); err != nil && !errors.Is(err, ErrBadInput) {
			t.Fatalf("push error %v is not bad input", err)
		}
		// The same bytes as a delimited protobuf push, as Go clients send.
		if _, err := g.Push(PushReplaceMetrics, gl, data, protobufPushType, time.Unix(2, 0)); err != nil && !errors.Is(err, ErrBadInput) {
			t.Fatalf("protobuf push error %v is not bad input", err)
		}
		g.collect(3000, func(labels []storage.Label, v float64) {
			if err := validateSeries(labels); err != nil {
				t.Fatalf("a group emits an invalid series %s: %v", seriesString(labels), err)
			}
			if labelValue(labels, "job") != "fuzz" || labelValue(labels, "instance") != "i" {
				t.Fatalf("series %s lacks the grouping labels", seriesString(labels))
			}
		})
	})
}

// FuzzParsePushPath checks that a parsed grouping key is valid and that
// encoding it back into a path gives the same key.
func FuzzParsePushPath(f *testing.F) {
	f.Add("/metrics/job/backup/instance/db1")
	f.Add("/metrics/job@base64/L3Zhci90bXA/path@base64/=")
	f.Add("job/a%2Fb/x/")
	f.Fuzz(func(t *testing.T, path string) {
		labels, err := ParsePushPath(path)
		if err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v is not bad input", err)
			}
			return
		}
		if err := validateGroupLabels(labels); err != nil {
			t.Fatalf("ParsePushPath(%q) = %s, which is invalid: %v", path, fmtLabels(labels), err)
		}
		again := "/metrics"
		for _, l := range labels {
			again += "/" + url.PathEscape(l.Name) + "@base64/" + base64.URLEncoding.EncodeToString([]byte(l.Value))
		}
		labels2, err := ParsePushPath(again)
		if err != nil {
			t.Fatalf("ParsePushPath(%q), re-encoded from %q: %v", again, path, err)
		}
		if !reflect.DeepEqual(labels, labels2) {
			t.Fatalf("round trip: %s from %q, %s from %q", fmtLabels(labels), path, fmtLabels(labels2), again)
		}
	})
}
