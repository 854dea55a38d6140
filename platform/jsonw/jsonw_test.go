package jsonw

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r", "\x00\x1f", "<a&b>", "ünïcödé 語", "\u2028\u2029", "bad \xff utf8"} { // no \b or \f: their spelling differs between Go versions
		want, _ := json.Marshal(s)
		if got := String(nil, s); string(got) != string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestTime(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 5000, time.FixedZone("x", 3600))
	if got := string(Time(nil, at)); got != `"2024-05-01T11:00:00.000005Z"` {
		t.Fatalf("Time = %s", got)
	}
	if got := string(NullableTime(nil, nil)); got != "null" {
		t.Fatalf("NullableTime(nil) = %s", got)
	}
}

func FuzzString(f *testing.F) {
	f.Add("hello")
	f.Add("\xff\xfe<>&\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", out, s, err)
		}
		// Escapes may be spelled differently (\b or \u0008); the decoded text must agree.
		var want string
		enc, _ := json.Marshal(s)
		_ = json.Unmarshal(enc, &want)
		if back != want {
			t.Fatalf("String(%q) decodes to %q, encoding/json's to %q", s, back, want)
		}
	})
}

func TestArray(t *testing.T) {
	num := func(n *int, b []byte) []byte { return Int(b, int64(*n)) }
	for _, tc := range []struct {
		items []int
		want  string
	}{{nil, "[]"}, {[]int{1}, "[1]"}, {[]int{1, 2, 3}, "[1,2,3]"}} {
		if got := string(Array(nil, tc.items, num)); got != tc.want {
			t.Errorf("Array(%v) = %s, want %s", tc.items, got, tc.want)
		}
	}
}
