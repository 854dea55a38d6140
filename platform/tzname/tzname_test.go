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
