package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestRowsTruncateForEachReuse(t *testing.T) {
	var r Rows
	big := strings.Repeat("v", 40*1024) // forces several name chunks
	for i := 0; i < 5; i++ {
		if err := r.Add(lbls("__name__", "m", "pad", big, "i", string(rune('a'+i))), int64(i), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	r.Truncate(3)
	var got []string
	if err := r.ForEach(func(ls []Label, ts int64, v float64) {
		got = append(got, ls[0].Value+"/"+ls[len(ls)-1].Value)
		if len(ls[1].Value) != len(big) || ts != int64(v) {
			t.Fatalf("row %v %d %v", ls[len(ls)-1], ts, v)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "m/a,m/b,m/c" {
		t.Fatalf("got %v", got)
	}
	chunks := len(r.full) + 1
	r.Reset()
	for i := 0; i < 5; i++ {
		_ = r.Add(lbls("__name__", "m", "pad", big), 0, 0)
	}
	if len(r.full)+1 > chunks {
		t.Fatalf("Reset did not reuse name chunks: %d then %d", chunks, len(r.full)+1)
	}
	for _, bad := range [][]Label{
		lbls("job", "no name"),
		lbls("__name__", "m", "bad", "\xff"),
		lbls("__name__", "m", "", "empty name"),
		lbls("__name__", "m", "long", strings.Repeat("x", MaxLabelLength+1)),
	} {
		n := r.Len()
		if err := r.Add(bad, 0, 0); err == nil || r.Len() != n {
			t.Fatalf("%v: err %v, len %d→%d", bad, err, n, r.Len())
		}
	}
}

func TestValidateLabel(t *testing.T) {
	long := strings.Repeat("x", MaxLabelLength+1)
	for _, tt := range []struct {
		name, value, wantErr string
		notUTF8              bool
	}{
		{"zone", "downtown", "", false},
		{"zone", "", "", false},
		{"zone", "zürich", "", false},
		{"métrique", "東京", "", false},
		{"", "v", "empty label name", false},
		{long, "v", "is 65536 bytes long; the limit is 65535", false},
		{"zone", long, "is 65536 bytes long; the limit is 65535", false},
		{"zone", "a\xffb", `value "a\xffb" of label "zone" is not valid UTF-8`, true},
		{"zo\xfene", "v", `label name "zo\xfene" is not valid UTF-8`, true},
	} {
		err := ValidateLabel(tt.name, tt.value)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateLabel(%.20q, %.20q) = %v", tt.name, tt.value, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrNotUTF8) != tt.notUTF8 {
			t.Errorf("ValidateLabel(%.20q, %.20q) = %v; want %q (not UTF-8: %v)", tt.name, tt.value, err, tt.wantErr, tt.notUTF8)
		}
	}
}
