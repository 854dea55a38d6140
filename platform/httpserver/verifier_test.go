package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"usersvc/platform/config"
	"usersvc/platform/metrics"
)

const (
	currentKey  = "current-key-0123456789abcdef0123456789"
	previousKey = "previous-key-0123456789abcdef012345678"
)

func hsToken(t *testing.T, key string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "42", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifierCountsKeys: usersvc_jwt_verified_total{key} tells which key
// verified each token; a refused token counts nowhere.
func TestVerifierCountsKeys(t *testing.T) {
	cfg, err := config.Load(config.Source{Getenv: func(k string) string {
		return map[string]string{"SECRET_KEY": currentKey, "SECRET_KEY_PREVIOUS": previousKey}[k]
	}}, config.NeedSecret)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	lc := fxtest.NewLifecycle(t)
	res, err := NewVerifier(VerifierParams{Config: cfg, Log: zap.NewNop(), Registry: reg, Lifecycle: lc})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	defer lc.RequireStop()
	if len(res.Checks) != 0 {
		t.Fatalf("checks without JWKS_URL: %v", res.Checks)
	}
	for _, tok := range []string{hsToken(t, currentKey), hsToken(t, currentKey), hsToken(t, previousKey), hsToken(t, "a-third-key-0123456789abcdef0123456789")} {
		_, _ = res.Verifier.Verify(tok)
	}
	want := `
# HELP usersvc_jwt_verified_total Valid bearer tokens by the key that verified them (current, previous, jwks).
# TYPE usersvc_jwt_verified_total counter
usersvc_jwt_verified_total{key="current"} 2
usersvc_jwt_verified_total{key="jwks"} 0
usersvc_jwt_verified_total{key="previous"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "usersvc_jwt_verified_total"); err != nil {
		t.Fatal(err)
	}
}

// TestReadyReportsJWKS: with JWKS_URL set and its endpoint down, serve
// starts, /ready stays 200 and says "jwks": "unavailable".
func TestReadyReportsJWKS(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	cfg, err := config.Load(config.Source{Getenv: func(k string) string {
		return map[string]string{"JWKS_URL": down.URL, "JWT_ALGORITHMS": "EdDSA"}[k]
	}}, config.NeedSecret)
	if err != nil {
		t.Fatal(err)
	}
	lc := fxtest.NewLifecycle(t)
	res, err := NewVerifier(VerifierParams{Config: cfg, Log: zap.NewNop(), Registry: metrics.NewRegistry(), Lifecycle: lc})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	defer lc.RequireStop()
	if len(res.Checks) != 1 || res.Checks[0].Name != "jwks" {
		t.Fatalf("checks = %v", res.Checks)
	}
	dbUp := Check{Name: "database", Run: func(context.Context) error { return nil }}
	dbDown := Check{Name: "database", Run: func(context.Context) error { return errors.New("down") }}

	s := testServer(t, "0", nil, dbUp, res.Checks[0])
	waitReady := func() (int, string) {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			status, body, _ := do(t, s, "GET", "/ready", "")
			checks := fmt.Sprint(body["checks"])
			if strings.Contains(checks, "jwks:unavailable") || time.Now().After(deadline) {
				return status, checks
			}
		}
	}
	if status, checks := waitReady(); status != 200 || checks != "map[database:ok jwks:unavailable]" {
		t.Fatalf("/ready = %d %s", status, checks)
	}
	s = testServer(t, "0", nil, dbDown, res.Checks[0])
	if status, checks := waitReady(); status != 503 || checks != "map[database:unavailable jwks:unavailable]" {
		t.Fatalf("/ready with the database down = %d %s", status, checks)
	}
}
