package userid_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"usersvc/modules/authref/userid"
)

// reference is the contract's definition, spelled as a regexp; Valid must agree
// with it on every input (see FuzzValid).
var reference = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"42", true},
		{"0", true},
		{"007", true},
		{"a", true},
		{"Z", true},
		{"me", false}, // reserved: /users/me is the caller
		{"Me", true},
		{"mee", true},
		{"ME", true},
		{"user_1", true},
		{"auth0|abc", false},
		{"google-oauth2:1234", true},
		{"a.b:c-d_e", true},
		{"550e8400-e29b-41d4-a716-446655440000", true},
		{strings.Repeat("a", 64), true},
		{"9" + strings.Repeat("_", 63), true},

		{"", false},
		{strings.Repeat("a", 65), false},
		{"_a", false},
		{".a", false},
		{":a", false},
		{"-a", false},
		{"a b", false},
		{" a", false},
		{"a ", false},
		{"bad id!", false},
		{"a/b", false},
		{"a\x00", false},
		{"a\n", false},
		{"é", false},
		{"aé", false},
		{"a\xff", false},
		{"\xff", false},
		{"ａ", false}, // fullwidth a
		{"a+b", false},
		{"a@b", false},
		{"a%2F", false},
	}
	for _, tt := range tests {
		if got := userid.Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if ref := reference.MatchString(tt.in) && tt.in != userid.Reserved; ref != tt.want {
			t.Errorf("reference(%q) = %v, the table is wrong", tt.in, ref)
		}
	}
}

func TestFromJSON(t *testing.T) {
	type obj = map[string]any
	tests := []struct {
		name string
		in   any
		want string // "" means ErrInvalid
	}{
		{"string", "42", "42"},
		{"string letters", "ada.lovelace", "ada.lovelace"},
		{"string case kept", "ME", "ME"},
		{"string leading zeros kept", "007", "007"},
		{"string 64", strings.Repeat("x", 64), strings.Repeat("x", 64)},
		{"string empty", "", ""},
		{"string bad char", "bad id!", ""},
		{"string 65", strings.Repeat("x", 65), ""},
		{"string leading dash", "-1", ""},

		{"number 42", json.Number("42"), "42"},
		{"number 0", json.Number("0"), "0"},
		{"number big", json.Number("123456789012345678901234567890"), "123456789012345678901234567890"},
		{"number 64 digits", json.Number(strings.Repeat("9", 64)), strings.Repeat("9", 64)},
		{"number 65 digits", json.Number(strings.Repeat("9", 65)), ""},
		{"number negative", json.Number("-1"), ""},
		{"number minus zero", json.Number("-0"), ""},
		{"number plus", json.Number("+1"), ""},
		{"number fraction", json.Number("4.5"), ""},
		{"number zero fraction", json.Number("42.0"), ""},
		{"number exponent", json.Number("1e3"), ""},
		{"number exponent upper", json.Number("1E3"), ""},
		{"number leading zero", json.Number("007"), ""},
		{"number 00", json.Number("00"), ""},
		{"number empty", json.Number(""), ""},
		{"number space", json.Number(" 42"), ""},
		{"number hex", json.Number("0x2a"), ""},

		{"float 42", float64(42), "42"},
		{"float 0", float64(0), "0"},
		{"float minus zero", math.Copysign(0, -1), "0"},
		{"float 1e3 is 1000", 1e3, "1000"},
		{"float 2^53-1", float64(1<<53 - 1), "9007199254740991"},
		{"float 2^53", float64(1 << 53), ""},
		{"float 1e20", 1e20, ""},
		{"float fraction", 4.5, ""},
		{"float tiny fraction", 1 + 1e-9, ""},
		{"float negative", float64(-1), ""},
		{"float NaN", math.NaN(), ""},
		{"float +Inf", math.Inf(1), ""},
		{"float -Inf", math.Inf(-1), ""},

		{"nil", nil, ""},
		{"bool true", true, ""},
		{"bool false", false, ""},
		{"object", obj{"id": "42"}, ""},
		{"array", []any{"42"}, ""},
		{"int is not a JSON decoder type", 42, ""},
		{"int64", int64(42), ""},
		{"float32", float32(42), ""},
		{"string pointer", new(string), ""},
		{"bytes", []byte("42"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := userid.FromJSON(tt.in)
			if tt.want == "" {
				if !errors.Is(err, userid.ErrInvalid) || got != "" {
					t.Fatalf("FromJSON(%#v) = %q, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromJSON(%#v) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if !userid.Valid(got) {
				t.Fatalf("FromJSON(%#v) = %q, which is not Valid", tt.in, got)
			}
		})
	}
}

// TestFromJSONDecoders runs JSON texts through both kinds of decoder, as ids
// arrive from events, tokens and the auth-service.
func TestFromJSONDecoders(t *testing.T) {
	tests := []struct {
		json       string
		withNumber string // want with UseNumber; "" = invalid
		withFloat  string // want without UseNumber; "" = invalid
	}{
		{`42`, "42", "42"},
		{`0`, "0", "0"},
		{`"42"`, "42", "42"},
		{`"ada"`, "ada", "ada"},
		{`-1`, "", ""},
		{`-0`, "", "0"},
		{`4.5`, "", ""},
		{`42.0`, "", "42"},
		{`1e3`, "", "1000"},
		{`9007199254740993`, "9007199254740993", ""},
		{`18446744073709551616`, "18446744073709551616", ""},
		{`true`, "", ""},
		{`null`, "", ""},
		{`""`, "", ""},
		{`"bad id!"`, "", ""},
		{`{"id":42}`, "", ""},
		{`[42]`, "", ""},
	}
	for _, tt := range tests {
		for _, useNumber := range []bool{true, false} {
			dec := json.NewDecoder(strings.NewReader(tt.json))
			want := tt.withFloat
			if useNumber {
				dec.UseNumber()
				want = tt.withNumber
			}
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("decode %s: %v", tt.json, err)
			}
			got, err := userid.FromJSON(v)
			if want == "" {
				if err == nil {
					t.Errorf("%s (UseNumber=%v) = %q, want ErrInvalid", tt.json, useNumber, got)
				}
			} else if err != nil || got != want {
				t.Errorf("%s (UseNumber=%v) = %q, %v; want %q", tt.json, useNumber, got, err, want)
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"", "42", "a", "_a", "a_", "bad id!", "é", strings.Repeat("a", 64), strings.Repeat("a", 65), "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := userid.Valid(s), reference.MatchString(s); got != want {
			t.Fatalf("Valid(%q) = %v, reference says %v", s, got, want)
		}
	})
}

// FuzzFromJSON decodes arbitrary JSON both ways and checks that every id
// produced is Valid and that the two decoders never disagree on a number.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`42`, `"42"`, `0`, `-0`, `-1`, `4.5`, `1e3`, `1E+2`, `true`, `null`, `""`, `"bad id!"`, `{}`, `[]`,
		`9007199254740991`, `9007199254740992`, `123456789012345678901234567890`, `0.0`, `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var asNumber, asFloat any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if dec.Decode(&asNumber) != nil {
			return
		}
		if json.NewDecoder(bytes.NewReader(data)).Decode(&asFloat) != nil {
			return
		}
		idN, errN := userid.FromJSON(asNumber)
		idF, errF := userid.FromJSON(asFloat)
		for _, r := range []struct {
			id  string
			err error
		}{{idN, errN}, {idF, errF}} {
			if r.err == nil && !userid.Valid(r.id) {
				t.Fatalf("FromJSON(%s) = %q, not Valid", data, r.id)
			}
			if r.err != nil && (r.id != "" || !errors.Is(r.err, userid.ErrInvalid)) {
				t.Fatalf("FromJSON(%s) = %q, %v", data, r.id, r.err)
			}
		}
		if n, ok := asNumber.(json.Number); ok && errN == nil {
			// A canonical integer literal: the float decoder, when it accepts
			// the value at all, must name the same id.
			if string(n) != strings.TrimSpace(string(data)) {
				t.Fatalf("FromJSON(%s) = %q, not the literal", data, idN)
			}
			if errF == nil && idF != idN {
				t.Fatalf("decoders disagree on %s: %q vs %q", data, idN, idF)
			}
		}
	})
}

var sink bool

func BenchmarkValid(b *testing.B) {
	for _, bc := range []struct{ name, id string }{
		{"short", "42"},
		{"uuid", "550e8400-e29b-41d4-a716-446655440000"},
		{"max", strings.Repeat("a", 64)},
		{"invalid", "bad id!"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = userid.Valid(bc.id)
			}
		})
	}
}

func BenchmarkFromJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		v    any
	}{
		{"string", "550e8400-e29b-41d4-a716-446655440000"},
		{"number", json.Number("1234567")},
		{"float", float64(1234567)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := userid.FromJSON(bc.v)
				sink = err == nil
			}
		})
	}
}
