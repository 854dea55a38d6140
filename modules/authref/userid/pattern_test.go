package userid

import (
	"regexp"
	"strings"
	"testing"
)

// Pattern (with the Reserved id excluded, as the OpenAPI schema does) and
// Valid are one rule: they agree on every byte in every position and on the
// length bounds.
func TestPatternIsValid(t *testing.T) {
	re := regexp.MustCompile(Pattern)
	var cases []string
	for b := 0; b < 256; b++ {
		c := string([]byte{byte(b)})
		cases = append(cases, c, "a"+c, c+"a", "a"+c+"a")
	}
	cases = append(cases, "", strings.Repeat("a", MaxLen), strings.Repeat("a", MaxLen+1), "ME", "me", "007", "ada.lovelace:x-1_2")
	for _, s := range cases {
		if (re.MatchString(s) && s != Reserved) != Valid(s) {
			t.Errorf("%q: pattern %v, Valid %v", s, re.MatchString(s), Valid(s))
		}
	}
}
