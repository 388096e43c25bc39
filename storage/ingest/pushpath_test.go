package ingest

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePushPath(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"/metrics/job/backup", `job="backup"`},
		{"metrics/job/backup", `job="backup"`},
		{"job/backup", `job="backup"`},
		{"/job/backup/", `job="backup"`},
		{"/metrics/job/backup/instance/db1", `job="backup", instance="db1"`},
		{"/metrics/job/backup/instance/", `job="backup", instance=""`},
		// Grouping labels come after job, sorted by name.
		{"/metrics/job/j/zone/eu/firm_id/7/a/x", `job="j", a="x", firm_id="7", zone="eu"`},
		// base64url, with and without padding, for values holding '/'.
		{"/metrics/job@base64/L3Zhci90bXA", `job="/var/tmp"`},
		{"/metrics/job@base64/L3Zhci90bXA=", `job="/var/tmp"`},
		{"/metrics/job/j/path@base64/L3Zhci90bXA", `job="j", path="/var/tmp"`},
		// base64url alphabet: '-' and '_' ("\xfb\xff" is "-_8", but must
		// be UTF-8, so use "?>?" -> "Pz4_").
		{"/metrics/job/j/q@base64/Pz4_", `job="j", q="?>?"`},
		// An empty value, as the Pushgateway documents it.
		{"/metrics/job/j/instance@base64/=", `job="j", instance=""`},
		{"/metrics/job/j/instance@base64/", `job="j", instance=""`},
		// Percent-encoding of the escaped path is undone per segment.
		{"/metrics/job/my%20job/path/a%2Fb", `job="my job", path="a/b"`},
		{"/metrics/job/j/città/Zürich", `job="j", città="Zürich"`},
		{"/metrics/job/j/label.with.dots/v", `job="j", label.with.dots="v"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			labels, err := ParsePushPath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmtLabels(labels); got != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
}

func TestParsePushPathErrors(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"/metrics/", `push path "/metrics/" has no job; expected /metrics/job/<job>{/<label>/<value>}`},
		{"", `has no job`},
		{"/metrics/job", `push path "/metrics/job" has no job name`},
		{"/metrics/job/", `the job name is empty`},
		{"/metrics/job//instance/x", `the job name is empty; a push needs a job`},
		{"/metrics/job@base64/=", `the job name is empty`},
		{"/metrics/instance/x/job/j", `must start with job/<job> after /metrics/; it starts with "instance"`},
		{"/metrics/job/j/instance", `has an odd number of segments after /metrics/`},
		{"/metrics/job/j/a/1/b", `odd number of segments`},
		{"/metrics/job/j/a@base64/!!!", `invalid base64url value "!!!" for label "a"`},
		{"/metrics/job/j/a@base64/L3Zhci90bXA+", `invalid base64url value`}, // '+' is standard, not url, base64
		{"/metrics/job/j/a@base64/_w", `value "\xff" of label "a" is not valid UTF-8`},
		{"/metrics/job/j/a%ff/v", `label name "a\xff" is not valid UTF-8`},
		{"/metrics/job/j/a/%zz", `invalid percent-encoding in the value "%zz" of label "a"`},
		{"/metrics/job/j/__x/v", `label name "__x" is reserved`},
		{"/metrics/job/j/a/1/a/2", `label "a" appears more than once in the grouping key`},
		{"/metrics/job/j/job/k", `label "job" appears more than once`},
		{"/metrics/job/j//v", `empty label name`},
		{"/metrics/job/j/a/" + strings.Repeat("v", 65536), `value of label "a" is 65536 bytes long; the limit is 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.path[:min(len(tt.path), 40)], func(t *testing.T) {
			labels, err := ParsePushPath(tt.path)
			if err == nil {
				t.Fatalf("no error; labels %s", fmtLabels(labels))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n got %q\nwant it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v does not match ErrBadInput", err)
			}
		})
	}
}
