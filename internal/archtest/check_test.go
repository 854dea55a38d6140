package archtest

import (
	"slices"
	"testing"
)

// TestCheckCatchesBreaches feeds made-up import graphs to check, so a rule that
// silently stopped matching would fail here rather than pass TestHouseRules.
func TestCheckCatchesBreaches(t *testing.T) {
	modulesPresent := []pkg{{ImportPath: "usersvc/modules/goals"}, {ImportPath: "usersvc/modules/badges"}, {ImportPath: "usersvc/modules/authref"}}
	cases := []struct {
		name string
		pkg  pkg
		want []string // nil: no breach
	}{
		{"platform imports platform", pkg{ImportPath: "usersvc/platform/httpserver", Imports: []string{"usersvc/platform/config", "fmt"}}, nil},
		{"platform imports a module", pkg{ImportPath: "usersvc/platform/httpserver", Imports: []string{"usersvc/modules/goals"}},
			[]string{"usersvc/platform/httpserver imports usersvc/modules/goals: platform must not import a module"}},
		{"platform's tests import a module", pkg{ImportPath: "usersvc/platform/amqp", XTestImports: []string{"usersvc/modules/authref"}},
			[]string{"usersvc/platform/amqp (tests) imports usersvc/modules/authref: platform must not import a module"}},
		{"platform imports cmd", pkg{ImportPath: "usersvc/platform", Imports: []string{"usersvc/cmd/usersvc"}},
			[]string{"usersvc/platform imports usersvc/cmd/usersvc: nothing imports a command"}},
		{"a module imports cmd", pkg{ImportPath: "usersvc/modules/goals", Imports: []string{"usersvc/cmd/devauth"}},
			[]string{"usersvc/modules/goals imports usersvc/cmd/devauth: nothing imports a command"}},
		{"a test imports cmd", pkg{ImportPath: "usersvc/internal/testkit/apptest", TestImports: []string{"usersvc/cmd/usersvc"}},
			[]string{"usersvc/internal/testkit/apptest (tests) imports usersvc/cmd/usersvc: nothing imports a command"}},
		{"cmd imports modules and platform", pkg{ImportPath: "usersvc/cmd/usersvc", Imports: []string{"usersvc/modules/goals", "usersvc/platform/amqp"}}, nil},
		{"a module imports another's root", pkg{ImportPath: "usersvc/modules/profile", Imports: []string{"usersvc/modules/badges"}}, nil},
		{"a module imports authref's public subpackage", pkg{ImportPath: "usersvc/modules/goals", Imports: []string{"usersvc/modules/authref/userid"}}, nil},
		{"a module imports its own internals", pkg{ImportPath: "usersvc/modules/goals/internal/printsql", Imports: []string{"usersvc/modules/goals", "usersvc/modules/goals/internal/x"}}, nil},
		{"a module imports another's internal", pkg{ImportPath: "usersvc/modules/badges", Imports: []string{"usersvc/modules/goals/internal/printsql"}},
			[]string{"usersvc/modules/badges imports usersvc/modules/goals/internal/printsql: a module must not reach into another module's internals"}},
		{"a module imports another's subpackage", pkg{ImportPath: "usersvc/modules/badges/sub", Imports: []string{"usersvc/modules/goals/store"}},
			[]string{"usersvc/modules/badges/sub imports usersvc/modules/goals/store: a module must not reach into another module's internals"}},
		{"a module imports authref's internal", pkg{ImportPath: "usersvc/modules/goals", TestImports: []string{"usersvc/modules/authref/internal/dir"}},
			[]string{"usersvc/modules/goals (tests) imports usersvc/modules/authref/internal/dir: a module must not reach into another module's internals"}},
		{"code imports a test kit", pkg{ImportPath: "usersvc/modules/goals", Imports: []string{"usersvc/internal/testkit/pgtest"}},
			[]string{"usersvc/modules/goals imports usersvc/internal/testkit/pgtest: test kits are for tests"}},
		{"tests import a test kit", pkg{ImportPath: "usersvc/modules/goals", XTestImports: []string{"usersvc/internal/testkit/pgtest"}, TestImports: []string{"usersvc/internal/testkit/pgtest"}}, nil},
		{"a test kit imports a test kit", pkg{ImportPath: "usersvc/internal/testkit/apptest", Imports: []string{"usersvc/internal/testkit/pgtest"}}, nil},
		{"platform package named after users", pkg{ImportPath: "usersvc/platform/userref"},
			[]string{`usersvc/platform/userref: platform package named after a feature ("user")`}},
		{"platform package named after events", pkg{ImportPath: "usersvc/platform/amqp/events"},
			[]string{`usersvc/platform/amqp/events: platform package named after a feature ("event")`}},
		{"platform package named after tests", pkg{ImportPath: "usersvc/platform/openapi/openapitest"},
			[]string{`usersvc/platform/openapi/openapitest: platform package named after a feature ("test")`}},
		{"platform package named after a module", pkg{ImportPath: "usersvc/platform/goalcache"},
			[]string{`usersvc/platform/goalcache: platform package named after a feature ("goal")`}},
		{"platform package named after another module", pkg{ImportPath: "usersvc/platform/Badges"},
			[]string{`usersvc/platform/Badges: platform package named after a feature ("badge")`}},
		{"a module may name itself", pkg{ImportPath: "usersvc/modules/goals/goalsql"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := check(append(slices.Clone(modulesPresent), tc.pkg))
			if !slices.Equal(got, tc.want) {
				t.Errorf("check = %q\nwant   %q", got, tc.want)
			}
		})
	}
}
