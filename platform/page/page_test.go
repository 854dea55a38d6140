package page

import (
	"net/url"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", DefaultLimit, true}, {"1", 1, true}, {"100", 100, true}, {"50", 50, true},
		{"0", 0, false}, {"101", 0, false}, {"-1", 0, false}, {"+5", 0, false}, {"1.5", 0, false},
		{"abc", 0, false}, {" 5", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseLimit(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLimit(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestCursorRoundTripAndBinding(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
	c := Encode(Cursor{At: at, ID: 42}, Scope("ada", "completed"))
	got, err := Decode(c, Scope("ada", "completed"))
	if err != nil || !got.At.Equal(at) || got.ID != 42 {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for name, scope := range map[string]string{"other user": Scope("bob", "completed"), "other filter": Scope("ada", ""), "prefix user": Scope("ad", "completed")} {
		if _, err := Decode(c, scope); err == nil {
			t.Errorf("%s: cursor accepted", name)
		}
	}
	for _, bad := range []string{"", "!!!", "AAAA", Encode(Cursor{At: at, ID: 0}, "x"), Encode(Cursor{At: time.UnixMicro(-1 << 62), ID: 1}, "x")} {
		if _, err := Decode(bad, "x"); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func TestNextLinkKeepsFilters(t *testing.T) {
	got := NextLink("/users/ada/goals", url.Values{"status": {"completed"}}, "abc", 10)
	want := `</users/ada/goals?cursor=abc&limit=10&status=completed>; rel="next"`
	if got != want {
		t.Fatalf("got %s", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Cursor{At: time.Now(), ID: 7}, Scope("u", "")), Scope("u", ""))
	f.Add("MXwxfDF8dXw", "u|")
	f.Fuzz(func(t *testing.T, raw, scope string) {
		c, err := Decode(raw, scope)
		if err != nil {
			return
		}
		if c.ID < 1 || c.At.Year() < 1 || c.At.Year() > 9999 {
			t.Fatalf("accepted an impossible position %+v", c)
		}
		again, err := Decode(Encode(c, scope), scope)
		if err != nil || again != c {
			t.Fatalf("re-encoding changed the cursor: %+v %+v %v", c, again, err)
		}
	})
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"", "1", "100", "0", "+1", "1e2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseLimit(raw)
		if err == nil && (n < 1 || n > MaxLimit) {
			t.Fatalf("ParseLimit(%q) = %d", raw, n)
		}
	})
}
