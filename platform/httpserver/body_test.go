package httpserver

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"usersvc/platform/errs"
)

func TestParseBody(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		status int // 0: parsed
	}{
		{"object", `{"a":1}`, 0},
		{"object with spaces", " \n{\"a\":1}\t", 0},
		{"empty", ``, 400},
		{"blank", `   `, 400},
		{"truncated", `{"a":`, 400},
		{"trailing data", `{"a":1} x`, 400},
		{"two objects", `{}{}`, 400},
		{"array", `[1]`, 400},
		{"string", `"x"`, 400},
		{"null", `null`, 400},
		{"invalid utf-8", "{\"a\":\"\xff\"}", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBody([]byte(tc.body))
			got := 0
			if err != nil {
				got = codedProblem(err).Status
			}
			if got != tc.status {
				t.Fatalf("status %d, want %d (%v)", got, tc.status, err)
			}
		})
	}
}

func TestBodyFieldRules(t *testing.T) {
	b, err := ParseBody([]byte(`{"title":"  hi  ","n":3,"f":1.5,"dup":1,"dup":2,"url":"https://x.test/a","bad":"ftp://x","when":"2024-05-01T12:00:00+02:00","extra":true,"id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := b.Text("title", 1, 5); !ok || v != "hi" {
		t.Fatalf("title %q %v", v, ok)
	}
	if v, ok := b.Int("n", 0, 3); !ok || v != 3 {
		t.Fatalf("n %d", v)
	}
	if _, ok := b.Int("f", 0, 3); ok {
		t.Fatal("fraction accepted")
	}
	if u, ok := b.URL("url", 100); !ok || *u != "https://x.test/a" {
		t.Fatal("url refused")
	}
	if _, ok := b.URL("bad", 100); ok {
		t.Fatal("ftp accepted")
	}
	if w, ok := b.Time("when"); !ok || w.Hour() != 10 || w.Location().String() != "UTC" {
		t.Fatalf("time %v", w)
	}
	err = b.Err("id")
	p := codedProblem(err)
	if err == nil || p.Status != 422 {
		t.Fatalf("problem %v", err)
	}
	want := map[string]string{"f": "must be an integer", "dup": "appears more than once", "bad": "must be an absolute http or https URL", "extra": "is not a known field", "id": "is read-only"}
	got := map[string][]string{}
	for _, e := range p.Errors {
		got[e.Field] = append(got[e.Field], e.Message)
	}
	for field, msg := range want {
		if !slices.Contains(got[field], msg) {
			t.Errorf("%s: %q, want %q among them", field, got[field], msg)
		}
	}
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[`, `{"a":{"b":[1,2]}}`, "{\"\x00\":1}", `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBody(data)
		if err != nil {
			if p := codedProblem(err); p.Status != 400 {
				t.Fatalf("parse error must be 400, got %d", p.Status)
			}
			return
		}
		b.Text("title", 1, 200)
		b.Int("n", 0, 10)
		b.URL("u", 2048)
		b.Time("t")
		b.Enum("s", "a", "b")
		if err := b.Err(); err != nil && !errs.Is(err, errs.Invalid) {
			t.Fatalf("field problems must be 422 (Invalid), got %v", err)
		}
	})
}

func TestClientFromForwarded(t *testing.T) {
	trusted := func(a netip.Addr) bool {
		return netip.MustParsePrefix("10.0.0.0/8").Contains(a)
	}
	cases := []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer ignores header", "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"trusted peer, one hop", "10.0.0.2", "198.51.100.7", "198.51.100.7"},
		{"client cannot forge the left", "10.0.0.2", "1.1.1.1, 198.51.100.7", "198.51.100.7"},
		{"skips trusted hops", "10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7"},
		{"garbage stops trust", "10.0.0.2", "nonsense", "10.0.0.2"},
		{"no header", "10.0.0.2", "", "10.0.0.2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientFromForwarded(net.ParseIP(tc.peer), tc.xff, trusted); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPositiveID(t *testing.T) {
	cases := map[string]bool{"1": true, "42": true, "9223372036854775807": true, "9223372036854775808": false, "0": false, "01": false, "-1": false, "+1": false, "1e3": false, "": false, "abc": false}
	for in, ok := range cases {
		if _, got := PositiveID(in); got != ok {
			t.Errorf("PositiveID(%q) = %v, want %v", in, got, ok)
		}
	}
}
