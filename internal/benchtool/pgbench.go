package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

func pgbenchMain(args []string) {
	fs := flag.NewFlagSet("pgbench", flag.ExitOnError)
	logFile := fs.String("log", "", "PostgreSQL csvlog holding one request's statements")
	user := fs.String("user", "", "the user id the request was about")
	users := fs.Int("users", 10000, "users to draw from")
	prefix := fs.String("prefix", "u", "user id prefix")
	_ = fs.Parse(args)
	f, err := os.Open(*logFile)
	if err == nil {
		defer f.Close()
		var script string
		script, err = pgbenchScript(f, *user, *prefix, *users)
		if err == nil {
			fmt.Print(script)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool pgbench:", err)
		os.Exit(1)
	}
}

// csvlog columns (PostgreSQL 15): message is the 14th, detail the 15th.
const (
	colMessage = 13
	colDetail  = 14
)

var (
	executeMsg = regexp.MustCompile(`(?s)^duration: [0-9.]+ ms  execute [^:]*: (.*)$`)
	paramRe    = regexp.MustCompile(`\$(\d+) = (NULL|'(?:[^']|'')*')`)
	placeRe    = regexp.MustCompile(`\$(\d+)\b`)
)

// pgbenchScript turns the SELECTs executed in the log into a pgbench
// transaction: each parameter is replaced by its logged value, except the
// request's user id, which becomes a user drawn at random like wrk draws it.
func pgbenchScript(r io.Reader, user, prefix string, users int) (string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var b strings.Builder
	fmt.Fprintf(&b, "\\set uid random(1, %d)\n", users)
	n := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if len(rec) <= colDetail {
			continue
		}
		m := executeMsg.FindStringSubmatch(rec[colMessage])
		if m == nil || !isRead(m[1]) {
			continue
		}
		values := map[string]string{}
		for _, p := range paramRe.FindAllStringSubmatch(rec[colDetail], -1) {
			v := p[2]
			if v == "'"+user+"'" {
				v = "('" + prefix + "' || :uid)"
			}
			values[p[1]] = v
		}
		stmt := placeRe.ReplaceAllStringFunc(m[1], func(s string) string {
			if v, ok := values[s[1:]]; ok {
				return v
			}
			return s
		})
		b.WriteString(strings.TrimSpace(stmt) + ";\n")
		n++
	}
	if n == 0 {
		return "", errors.New("no SELECT executed in the log")
	}
	return b.String(), nil
}

func isRead(stmt string) bool {
	s := strings.ToUpper(strings.TrimSpace(stmt))
	return strings.HasPrefix(s, "SELECT") || strings.HasPrefix(s, "WITH")
}
