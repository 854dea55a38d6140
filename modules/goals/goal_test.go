package goals

import "testing"

func TestParseIfMatch(t *testing.T) {
	cases := []struct {
		header  string
		version int64
		want    bool
	}{
		{"", 3, true}, // no precondition
		{"*", 3, true},
		{`"3"`, 3, true},
		{`"2", "3"`, 3, true},
		{`"2"`, 3, false},
		{`W/"3"`, 3, false}, // weak tags never match strongly
		{`"03"`, 3, false},  // strong comparison is character by character
		{`"+3"`, 3, false},
		{`3`, 3, false}, // unquoted is not an entity tag
		{`"abc"`, 3, false},
		{`"3`, 3, false},
	}
	for _, tc := range cases {
		if got := ParseIfMatch(tc.header).Matches(tc.version); got != tc.want {
			t.Errorf("If-Match %q against version %d: %v, want %v", tc.header, tc.version, got, tc.want)
		}
	}
}

func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{"*", `"1"`, `W/"1", "2"`, `"`, `""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p := ParseIfMatch(h)
		for _, v := range p.Versions {
			if v < 1 {
				t.Fatalf("version %d from %q", v, h)
			}
		}
	})
}
