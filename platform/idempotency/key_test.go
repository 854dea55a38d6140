package idempotency

import (
	"bytes"
	"strings"
	"testing"

	"usersvc/platform/errs"
)

func TestParseKey(t *testing.T) {
	good := map[string]string{
		`abc`:                                "abc",
		`"abc"`:                              "abc",
		`"a\"b\\c"`:                          `a"b\c`,
		`"`:                                  `"`,
		strings.Repeat("k", 255):             strings.Repeat("k", 255),
		`"` + strings.Repeat("k", 255) + `"`: strings.Repeat("k", 255),
		"!~":                                 "!~",
	}
	for in, want := range good {
		if got, err := ParseKey(in); err != nil || got != want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", `""`, strings.Repeat("k", 256), "a b", "a\tb", "clé", "a\x7f", `"a"b"`, `"a\b"`, `"a\"`} {
		if _, err := ParseKey(in); !errs.Is(err, errs.Malformed) {
			t.Errorf("ParseKey(%q) = %v, want Malformed", in, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, ok := Fingerprint([]byte(`{"title":"Go","n":1.50,"x":{"b":1,"a":[2,3]}}`))
	if !ok {
		t.Fatal("an object has no fingerprint")
	}
	b, _ := Fingerprint([]byte(" {\n \"x\" : {\"a\":[2, 3],\"b\":1}, \"n\":1.50,\"title\":\"Go\"}\n"))
	if !bytes.Equal(a, b) {
		t.Error("white space or member order changed the fingerprint")
	}
	for _, other := range []string{`{"title":"Go","n":1.5,"x":{"b":1,"a":[2,3]}}`, `{"title":"go","n":1.50,"x":{"b":1,"a":[2,3]}}`, `{"title":"Go","n":1.50,"x":{"b":1,"a":[3,2]}}`} {
		if c, _ := Fingerprint([]byte(other)); bytes.Equal(a, c) {
			t.Errorf("%s has the fingerprint of another value", other)
		}
	}
	for _, bad := range []string{``, `[]`, `null`, `"s"`, `{"a":1} {}`, `{"a":1}x`, `{"a":`} {
		if _, ok := Fingerprint([]byte(bad)); ok {
			t.Errorf("Fingerprint(%q) is ok, want not a JSON object", bad)
		}
	}
}

// FuzzParseKey: the Idempotency-Key header is outside input. Never a panic;
// an accepted key is 1–255 visible ASCII characters; written back as a
// structured-field string it reads as the same key.
func FuzzParseKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, value string) {
		key, err := ParseKey(value)
		if err != nil {
			if !errs.Is(err, errs.Malformed) {
				t.Fatalf("ParseKey(%q): %v, want a malformed-key error", value, err)
			}
			return
		}
		if key == "" || len(key) > MaxKeyLength || !visibleASCII(key) {
			t.Fatalf("ParseKey(%q) accepted %q", value, key)
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		if again, err := ParseKey(quoted); err != nil || again != key {
			t.Fatalf("key %q written as %s reads as %q, %v", key, quoted, again, err)
		}
	})
}
