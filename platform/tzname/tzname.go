// Package tzname accepts IANA time zone names as a public API should: the
// canonical spelling of a zone of the database, case-sensitively, and
// nothing that merely happens to open a file (time.LoadLocation takes
// "Local", "" and paths such as "Europe//Berlin" or "./UTC").
package tzname

import (
	"errors"
	"strings"
	"sync"
	"time"
)

// MaxLen is the longest name accepted, in bytes.
const MaxLen = 64

// ErrZone is the answer for anything that is not an IANA zone name.
var ErrZone = errors.New("must be an IANA time zone name such as Europe/Berlin or UTC")

var cache sync.Map // name → *time.Location

// Load returns the zone named name, or ErrZone.
func Load(name string) (*time.Location, error) {
	if loc, ok := cache.Load(name); ok {
		return loc.(*time.Location), nil
	}
	if !wellFormed(name) {
		return nil, ErrZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, ErrZone
	}
	cache.Store(name, loc)
	return loc, nil
}

// notZones are files of a zone database that are not zones of their own.
var notZones = map[string]bool{"Local": true, "localtime": true, "posixrules": true, "Factory": true}

// wellFormed: segments of letters, digits, '_', '-' and '+', separated by
// single slashes, the first a letter; no alias trees of the database.
func wellFormed(name string) bool {
	if name == "" || len(name) > MaxLen || notZones[name] ||
		strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/") {
		return false
	}
	if c := name[0]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			ok := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '+'
			if !ok || (i == 0 && (c == '-' || c == '+')) {
				return false
			}
		}
	}
	return true
}
