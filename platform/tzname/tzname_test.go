package tzname

import "testing"

func TestLoad(t *testing.T) {
	good := []string{"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "America/New_York",
		"Pacific/Kiritimati", "Pacific/Honolulu", "Etc/GMT+2", "America/Port-au-Prince"}
	for _, name := range good {
		if _, err := Load(name); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
	bad := []string{"", "Local", "localtime", "posixrules", "+02:00", "-05:00", "UTC+2", "utc", "europe/berlin",
		"Europe//Berlin", "./UTC", "Europe/Berlin/", "/UTC", "../UTC", "Europe/../UTC", "Nowhere/City",
		"posix/Europe/Berlin", "right/UTC", "Europe/Berlin\x00", " UTC", "UTC ", "zone.tab"}
	for _, name := range bad {
		if _, err := Load(name); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}

// FuzzLoad: a zone name is outside input (settings, check-ins). Never a
// panic; an accepted name is well formed, and the zone carries the very name
// asked for (so a stored name loads the same zone again).
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		loc, err := Load(name)
		if err != nil {
			if err != ErrZone {
				t.Fatalf("Load(%q): %v, want ErrZone", name, err)
			}
			return
		}
		if !wellFormed(name) || loc.String() != name {
			t.Fatalf("Load(%q) accepted, zone %q", name, loc)
		}
		again, err := Load(loc.String())
		if err != nil || again.String() != name {
			t.Fatalf("reloading %q: %v, %v", name, again, err)
		}
	})
}
