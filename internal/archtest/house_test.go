package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The rules of the house (docs/architecture.md tells the why):
//
//   - platform/ is machinery any feature could use: it never imports a module or
//     cmd, in its code or its tests, and no package path under it names a feature,
//     users, the auth-service's events or tests.
//   - Nothing imports cmd/: commands are the top of the graph.
//   - A module never reaches into another module. It may import another module's
//     root package (its public API) and the public subpackages of modules/authref
//     (user ids, the auth-service client: what every feature shares); never another
//     module's other subpackages, and never anything under another module's
//     internal/ (the compiler also forbids that one; the rule says it once more).
//   - Test kits (internal/testkit/...) are imported only by tests and by other kits.
const (
	modulePath = "usersvc"
	platform   = modulePath + "/platform"
	modules    = modulePath + "/modules"
	commands   = modulePath + "/cmd"
	testkit    = modulePath + "/internal/testkit"
	sharedRef  = modules + "/authref" // its public subpackages are every module's to use
)

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestHouseRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 || !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.ImportPath == platform }) {
		t.Fatalf("go list found %d packages and no %s: the check would prove nothing", len(pkgs), platform)
	}
	for _, v := range check(pkgs) {
		t.Errorf("house rule broken: %s", v)
	}
}

// listPackages asks the go tool for every package of the module with its imports.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = filepath.Join("..", "..") // the module root, from internal/archtest
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}

// check returns every breach of the house rules in pkgs, one sentence each.
func check(pkgs []pkg) []string {
	var found []string
	features := featureWords(pkgs)
	for _, p := range pkgs {
		if word := namedConcept(p.ImportPath, features); word != "" {
			found = append(found, fmt.Sprintf("%s: platform package named after a feature (%q)", p.ImportPath, word))
		}
		found = append(found, importBreaches(p.ImportPath, p.Imports, false)...)
		tests := slices.Concat(p.TestImports, p.XTestImports)
		slices.Sort(tests)
		found = append(found, importBreaches(p.ImportPath, slices.Compact(tests), true)...)
	}
	return found
}

// importBreaches checks one package's imports (of its code, or of its tests).
func importBreaches(from string, imports []string, ofTests bool) []string {
	var found []string
	who := from
	if ofTests {
		who += " (tests)"
	}
	for _, to := range imports {
		if reason := forbidden(from, to, ofTests); reason != "" {
			found = append(found, fmt.Sprintf("%s imports %s: %s", who, to, reason))
		}
	}
	return found
}

// forbidden says why from may not import to, or "" when it may.
func forbidden(from, to string, ofTests bool) string {
	switch {
	case under(to, commands):
		return "nothing imports a command"
	case under(from, platform) && under(to, modules):
		return "platform must not import a module"
	case !ofTests && !under(from, testkit) && under(to, testkit):
		return "test kits are for tests"
	}
	fromModule, toModule := moduleOf(from), moduleOf(to)
	if fromModule == "" || toModule == "" || fromModule == toModule {
		return ""
	}
	switch {
	case to == toModule:
		return "" // another module's public API
	case toModule == sharedRef && !strings.Contains(to+"/", "/internal/"):
		return ""
	default:
		return "a module must not reach into another module's internals"
	}
}

// moduleOf returns the root package of the module that path belongs to, or "".
func moduleOf(path string) string {
	rest, ok := strings.CutPrefix(path, modules+"/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return modules + "/" + name
}

// featureWords are the words a platform path must not contain: users, the
// auth-service's events, tests, and each module's name (singular, so that
// "badge" catches "badges" and "badgeutil" alike).
func featureWords(pkgs []pkg) []string {
	words := []string{"user", "event", "test"}
	for _, p := range pkgs {
		if m := moduleOf(p.ImportPath); m != "" {
			word := strings.TrimSuffix(filepath.Base(m), "s")
			if !slices.Contains(words, word) {
				words = append(words, word)
			}
		}
	}
	return words
}

// namedConcept returns the first feature word in a platform package's path below platform/.
func namedConcept(path string, words []string) string {
	rest, ok := strings.CutPrefix(path, platform+"/")
	if !ok {
		return ""
	}
	rest = strings.ToLower(rest)
	for _, w := range words {
		if strings.Contains(rest, w) {
			return w
		}
	}
	return ""
}

// under reports whether path is root or a package below it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}
