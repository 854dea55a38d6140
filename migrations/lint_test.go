package migrations_test

import (
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"usersvc/migrations"
)

// firstOnline is the first migration the rules of docs/operations.md
// ("Writing a migration") apply to: the earlier ones ran on small or new
// tables. TestMigrationsKeepLearningGoalsWritable shows the rules at work;
// this lint catches a new file that breaks them before it meets a big table.
const firstOnline = 11

var (
	lintComment    = regexp.MustCompile(`(?m)--.*$`)
	lintCreate     = regexp.MustCompile(`(?i)\bCREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)`)
	lintIndex      = regexp.MustCompile(`(?i)\bCREATE\s+(?:UNIQUE\s+)?INDEX\b(\s+CONCURRENTLY)?(\s+IF\s+NOT\s+EXISTS)?[^;]*?\bON\s+(?:ONLY\s+)?([a-z_][a-z0-9_]*)`)
	lintAddColumn  = regexp.MustCompile(`(?i)\bADD\s+COLUMN\b(\s+IF\s+NOT\s+EXISTS)?([^,;]*)`)
	lintVolatile   = regexp.MustCompile(`(?i)\b(random|gen_random_uuid|uuid_generate_v[14]|clock_timestamp|timeofday|nextval)\s*\(|\b(small|big)?serial\b|\bGENERATED\s+ALWAYS\s+AS\s*\(`)
	lintRetype     = regexp.MustCompile(`(?i)\bALTER\s+COLUMN\s+[a-z_][a-z0-9_]*\s+(?:SET\s+DATA\s+)?TYPE\b`)
	lintConstraint = regexp.MustCompile(`(?i)\bADD\s+(?:CONSTRAINT\s+[a-z_][a-z0-9_]*\s+)?(CHECK|FOREIGN\s+KEY)\b[^;]*`)
	lintSetNotNull = regexp.MustCompile(`(?i)\bALTER\s+COLUMN\s+[a-z_][a-z0-9_]*\s+SET\s+NOT\s+NULL\b`)
	lintNotValid   = regexp.MustCompile(`(?i)\bNOT\s+VALID\b`)
)

// lintMigration lists how a migration's Up section would block or rewrite
// a big table that already exists. Tables it creates itself are exempt.
func lintMigration(text string) []string {
	noTx := strings.Contains(text, "-- +goose NO TRANSACTION")
	up, _, _ := strings.Cut(text, "-- +goose Down")
	up = lintComment.ReplaceAllString(up, "")
	created := map[string]bool{}
	for _, m := range lintCreate.FindAllStringSubmatch(up, -1) {
		created[strings.ToLower(m[1])] = true
	}
	var problems []string
	for _, m := range lintIndex.FindAllStringSubmatch(up, -1) {
		concurrent, ifNotExists, table := m[1] != "", m[2] != "", strings.ToLower(m[3])
		switch {
		case created[table]:
		case !concurrent:
			problems = append(problems, "an index on "+table+" without CONCURRENTLY blocks its writers for the whole build")
		case !noTx:
			problems = append(problems, "CREATE INDEX CONCURRENTLY needs a migration of its own marked -- +goose NO TRANSACTION")
		case !ifNotExists:
			problems = append(problems, "CREATE INDEX CONCURRENTLY without IF NOT EXISTS cannot be retried")
		}
	}
	for _, m := range lintAddColumn.FindAllStringSubmatch(up, -1) {
		if lintVolatile.MatchString(m[2]) {
			problems = append(problems, "ADD COLUMN"+m[2]+": a volatile default or generated column rewrites the table; add it without, then fill it in batches")
		}
		if noTx && m[1] == "" {
			problems = append(problems, "ADD COLUMN without IF NOT EXISTS in a NO TRANSACTION migration cannot be retried")
		}
	}
	if lintRetype.MatchString(up) {
		problems = append(problems, "ALTER COLUMN … TYPE rewrites the table under an exclusive lock; add a new column instead")
	}
	for _, m := range lintConstraint.FindAllString(up, -1) {
		if !lintNotValid.MatchString(m) {
			problems = append(problems, "ADD "+strings.Fields(m)[1]+"… without NOT VALID scans the table under its lock; add it NOT VALID, then VALIDATE CONSTRAINT")
		}
	}
	if lintSetNotNull.MatchString(up) {
		problems = append(problems, "SET NOT NULL scans the table under an exclusive lock; add a CHECK (… IS NOT NULL) NOT VALID and validate it first")
	}
	return problems
}

func TestLintMigration(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // a word of each problem, in order
	}{
		{"concurrent index, no transaction", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON learning_goals (x);\n-- +goose Down\nDROP INDEX a_idx;", nil},
		{"plain index on an existing table", "-- +goose Up\nCREATE INDEX a_idx ON learning_goals (x);", []string{"without CONCURRENTLY"}},
		{"unique index on an existing table", "-- +goose Up\nCREATE UNIQUE INDEX a_idx ON badges (x);", []string{"without CONCURRENTLY"}},
		{"index on a table of the same migration", "-- +goose Up\nCREATE TABLE t (x int);\nCREATE INDEX t_idx ON t (x);", nil},
		{"concurrent index in a transaction", "-- +goose Up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON learning_goals (x);", []string{"NO TRANSACTION"}},
		{"concurrent index without IF NOT EXISTS", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY a_idx ON learning_goals (x);", []string{"IF NOT EXISTS"}},
		{"column with a constant default", "-- +goose Up\nALTER TABLE learning_goals ADD COLUMN a boolean NOT NULL DEFAULT false, ADD COLUMN b date DEFAULT now();", nil},
		{"column with a volatile default", "-- +goose Up\nALTER TABLE learning_goals ADD COLUMN a uuid DEFAULT gen_random_uuid();", []string{"volatile"}},
		{"serial column", "-- +goose Up\nALTER TABLE badges ADD COLUMN n bigserial;", []string{"volatile"}},
		{"stored generated column", "-- +goose Up\nALTER TABLE badges ADD COLUMN n int GENERATED ALWAYS AS (1) STORED;", []string{"volatile"}},
		{"retried column without IF NOT EXISTS", "-- +goose NO TRANSACTION\n-- +goose Up\nALTER TABLE badges ADD COLUMN n int;", []string{"IF NOT EXISTS"}},
		{"type change", "-- +goose Up\nALTER TABLE badges ALTER COLUMN name TYPE varchar(100);", []string{"TYPE"}},
		{"validated check", "-- +goose Up\nALTER TABLE badges ADD CONSTRAINT c CHECK (length(name) < 100);", []string{"NOT VALID"}},
		{"check not valid", "-- +goose Up\nALTER TABLE badges ADD CONSTRAINT c CHECK (length(name) < 100) NOT VALID;", nil},
		{"set not null", "-- +goose Up\nALTER TABLE badges ALTER COLUMN icon_url SET NOT NULL;", []string{"SET NOT NULL"}},
		{"the Down section and comments are not read", "-- +goose Up\n-- CREATE INDEX x ON badges (y);\nSELECT 1;\n-- +goose Down\nCREATE INDEX a_idx ON badges (x);", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lintMigration(tc.text)
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q does not say %q", got[i], w)
				}
			}
		})
	}
}

// Every migration from firstOnline on keeps the rules.
func TestMigrationsFollowTheOnlineRules(t *testing.T) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			t.Fatalf("%s: not numbered", name)
		}
		if v < firstOnline {
			continue
		}
		text, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range lintMigration(string(text)) {
			t.Errorf("%s: %s (docs/operations.md, \"Writing a migration\")", name, p)
		}
	}
	// The rules accept the migrations of the behavioural test.
	for name, text := range onlineMigrations {
		if p := lintMigration(text); len(p) > 0 {
			t.Errorf("%s: %q", name, p)
		}
	}
}
