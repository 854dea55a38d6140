// Command benchtool is the load run's helper (scripts/bench.sh):
//
//	benchtool tokens -secret KEY -users 10000 -prefix u >tokens.lua
//	    the bearer tokens wrk sends, one per seeded user, as a Lua table;
//	benchtool pgbench -log postgres.csv -user u42 -users 10000 -prefix u >route.sql
//	    the statements one request of a route executed (from PostgreSQL's
//	    csvlog with log_min_duration_statement = 0), as a pgbench script that
//	    runs them with their logged parameters, the user drawn at random.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "pgbench" {
		pgbenchMain(os.Args[2:])
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "tokens" {
		fmt.Fprintln(os.Stderr, "usage: benchtool tokens -secret KEY -users N [-prefix u] [-ttl 2h] | benchtool pgbench -log FILE -user ID -users N [-prefix u]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("tokens", flag.ExitOnError)
	secret := fs.String("secret", "", "SECRET_KEY of the service (HS256)")
	users := fs.Int("users", 10000, "users u1..uN")
	prefix := fs.String("prefix", "u", "user id prefix")
	ttl := fs.Duration("ttl", 2*time.Hour, "token lifetime")
	_ = fs.Parse(os.Args[2:])
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "benchtool tokens: -secret is required")
		os.Exit(2)
	}
	if err := writeTokens(*secret, *prefix, *users, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool tokens:", err)
		os.Exit(1)
	}
}

// writeTokens prints `return { "<token of u1>", … }`, which wrk's Lua loads with dofile.
func writeTokens(secret, prefix string, users int, ttl time.Duration) error {
	w := bufio.NewWriter(os.Stdout)
	exp := time.Now().Add(ttl).Unix()
	fmt.Fprintln(w, "return {")
	for i := 1; i <= users; i++ {
		claims := jwt.MapClaims{"sub": fmt.Sprintf("%s%d", prefix, i), "exp": exp}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%q,\n", s)
	}
	fmt.Fprintln(w, "}")
	return w.Flush()
}
