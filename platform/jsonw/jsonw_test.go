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

// TestTimeMatchesTheLayout: the hand-written digits agree with
// time.AppendFormat on TimeLayout, at the edges of every field.
func TestTimeMatchesTheLayout(t *testing.T) {
	east := time.FixedZone("east", 14*3600)
	for _, at := range []time.Time{
		time.Date(2026, 12, 6, 7, 8, 9, 123456789, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), // truncated, never rounded up
		time.Date(2025, 1, 1, 0, 0, 0, 0, east),                 // the previous day in UTC
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(999, 10, 10, 10, 10, 10, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		{},
	} {
		want := `"` + at.UTC().Format(TimeLayout) + `"`
		if got := string(Time(nil, at)); got != want {
			t.Errorf("Time(%v) = %s, want %s", at, got, want)
		}
	}
}

func BenchmarkTime(b *testing.B) {
	at, buf := time.Date(2026, 12, 6, 7, 8, 9, 123456789, time.UTC), make([]byte, 0, 64)
	for b.Loop() {
		buf = Time(buf[:0], at)
	}
}

func BenchmarkString(b *testing.B) {
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf = String(buf[:0], "Read the spec and write three small programs that use type parameters.")
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
