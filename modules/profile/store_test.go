package profile

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestQueryShape pins the one profile query: identity, settings and every
// stat in a single round trip, every value a bound parameter ($1 status,
// $2 user), the user's own streak read from its kept state (user_streaks)
// rather than recomputed from check-ins.
func TestQueryShape(t *testing.T) {
	t.Parallel()
	params := regexp.MustCompile(`\$\d+`).FindAllString(profileSQL, -1)
	slices.Sort(params)
	if got := slices.Compact(params); !slices.Equal(got, []string{"$1", "$2"}) {
		t.Errorf("parameters %v, want exactly $1 and $2", got)
	}
	if strings.Count(profileSQL, ";") != 0 || !strings.HasPrefix(profileSQL, "SELECT ") {
		t.Errorf("not one statement: %s", profileSQL)
	}
	for _, part := range []string{"FROM badges b", "FROM learning_goals g", "LEFT JOIN user_streaks us", "LEFT JOIN user_settings s"} {
		if !strings.Contains(profileSQL, part) {
			t.Errorf("the query does not read %q: %s", part, profileSQL)
		}
	}
	if strings.Contains(profileSQL, "check_ins") {
		t.Errorf("the profile recomputes streaks from check-ins: %s", profileSQL)
	}
}
