// Package pgtest gives tests their own fresh PostgreSQL databases on the
// server named by USERSVC_TEST_DATABASE_URL (which `make test` starts).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/migrations"
	"usersvc/platform/config"
)

// EnvURL names the variable holding a superuser URL of the test server.
const EnvURL = "USERSVC_TEST_DATABASE_URL"

// AdminURL returns the test server's URL or fails the test with what to do.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL and RabbitMQ", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database for this test and drops it afterwards.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return create(t, "template0")
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// Migrated creates a database at the newest schema (cloned from a migrated
// template made once per test process) and drops it afterwards.
func Migrated(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	templateOnce.Do(func() {
		templateName = "usersvc_tmpl_" + randomSuffix()
		if templateErr = exec(admin, fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0", templateName)); templateErr != nil {
			return
		}
		templateErr = Migrate(WithDatabase(admin, templateName))
	})
	if templateErr != nil {
		t.Fatalf("pgtest: migrated template: %v", templateErr)
	}
	return create(t, templateName)
}

// Pool opens a pool on url, closed when the test ends.
func Pool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Migrate applies every migration to the database at dbURL.
func Migrate(dbURL string) error {
	r, err := migrations.Open(config.Config{DatabaseURL: dbURL, DatabasePoolSize: 1, DatabasePoolRecycle: time.Hour}, io.Discard)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Up(context.Background())
}

// WithDatabase returns url pointed at another database of the same server.
func WithDatabase(dbURL, name string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

func create(t testing.TB, template string) string {
	t.Helper()
	admin := AdminURL(t)
	name := "usersvc_test_" + randomSuffix()
	if err := exec(admin, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(admin, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return WithDatabase(admin, name)
}

func exec(dbURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
