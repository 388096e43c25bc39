package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
		"tab\tnewline\nreturn\rbell\a\b\f\x00\x1f\x7f", "ünïcödé ✓ 日本語", "line\u2028para\u2029end",
		"invalid \xff\xfe utf-8 \xc3", "emoji 🚀",
	} {
		want, _ := json.Marshal(s)
		if got := Append(nil, s); string(got) != string(want) {
			t.Errorf("Append(%q) = %s, want %s", s, got, want)
		}
	}
}
