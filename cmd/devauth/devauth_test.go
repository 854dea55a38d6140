package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref/authevent"
	"usersvc/platform/amqp"
	"usersvc/platform/auth"
)

const testSecret = "devauth-test-secret-0123456789abcdef0123456789"

// startDevauth runs devauth with env and returns its base URL and a stop
// function (also called when the test ends).
func startDevauth(t *testing.T, env map[string]string) (string, func()) {
	t.Helper()
	env["DEVAUTH_ADDR"] = "127.0.0.1:0"
	if _, set := env["SECRET_KEY"]; !set {
		env["SECRET_KEY"] = testSecret
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, nil, ready) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("devauth: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-ready:
		return "http://" + addr, stop
	case err := <-done:
		t.Fatalf("devauth did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("devauth did not start in 20 s")
	}
	return "", nil
}

// withBroker gives devauth its own exchange on the shared broker and a queue
// bound to it, as the consumer declares it.
func withBroker(t *testing.T) (map[string]string, func() amqp091.Delivery) {
	t.Helper()
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, authevent.RoutingKeys...)
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := amqp.Declare(conn, topo, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	next := func() amqp091.Delivery {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			d, ok, err := ch.Get(topo.Queue, true)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return d
			}
		}
		t.Fatal("no event published")
		return amqp091.Delivery{}
	}
	return map[string]string{"RABBITMQ_URL": url, "RABBITMQ_EXCHANGE": topo.Exchange}, next
}

func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// verifier is usersvc's, configured as `make up` configures it: devauth's
// JWK Set for EdDSA tokens, and HS256 with the shared secret.
func verifier(t *testing.T, base string) *auth.Verifier {
	t.Helper()
	keys, err := auth.NewKeySet(auth.KeySetConfig{URL: base + "/.well-known/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	keys.Start()
	t.Cleanup(keys.Stop)
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(testSecret), Keys: keys, Algorithms: []string{"EdDSA", "HS256"}, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readEvent reads a delivery as usersvc's consumer does.
func readEvent(t *testing.T, d amqp091.Delivery) authevent.Event {
	t.Helper()
	env, err := authevent.Open(authevent.Message{Body: d.Body, Type: d.Type, RoutingKey: d.RoutingKey, MessageID: d.MessageId})
	if err != nil {
		t.Fatal(err)
	}
	e, err := env.Event()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type created struct {
	ID          int64   `json:"id"`
	Email       *string `json:"email"`
	Username    *string `json:"username"`
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   int     `json:"expires_in"`
}

func TestUserLifecyclePublishesEventsUsersvcReads(t *testing.T) {
	env, next := withBroker(t)
	base, _ := startDevauth(t, env)

	var c created
	if code := call(t, "POST", base+"/users", map[string]string{"email": "ada@example.com", "username": "ada"}, &c); code != 201 {
		t.Fatalf("POST /users = %d, want 201", code)
	}
	id, err := verifier(t, base).Verify(c.AccessToken)
	if err != nil || id.UserID != fmt.Sprint(c.ID) || id.Admin || c.TokenType != "Bearer" || c.ExpiresIn != 3600 {
		t.Fatalf("token: %+v, %v (response %+v)", id, err, c)
	}
	d := next()
	e := readEvent(t, d)
	if d.RoutingKey != "user.created" || d.Type != "UserCreated" || e.Type != authevent.UserCreated || e.UserID != fmt.Sprint(c.ID) ||
		*e.Email.Value != "ada@example.com" || *e.Username.Value != "ada" || !e.HasOccurredAt() || e.ID == "" {
		t.Fatalf("UserCreated event: key=%s type=%s %+v", d.RoutingKey, d.Type, e)
	}
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil || body["event_type"] != "UserCreated" {
		t.Fatalf("event body %s: %v", d.Body, err)
	}

	// The same email again: the same user, a fresh token, no new event.
	var again created
	if code := call(t, "POST", base+"/users", map[string]string{"email": "ada@example.com"}, &again); code != 200 || again.ID != c.ID {
		t.Fatalf("POST /users again = %d id %d, want 200 id %d", code, again.ID, c.ID)
	}

	var u map[string]any
	if code := call(t, "GET", fmt.Sprintf("%s/users/%d", base, c.ID), nil, &u); code != 200 || u["email"] != "ada@example.com" || u["id"] != float64(c.ID) || len(u) != 3 {
		t.Fatalf("GET /users/{id} = %d %v", code, u)
	}
	if code := call(t, "PATCH", fmt.Sprintf("%s/users/%d", base, c.ID), map[string]any{"username": "lovelace"}, &u); code != 200 || u["username"] != "lovelace" {
		t.Fatalf("PATCH = %d %v", code, u)
	}
	if e := readEvent(t, next()); e.Type != authevent.UserUpdated || *e.Username.Value != "lovelace" || *e.Email.Value != "ada@example.com" {
		t.Fatalf("UserUpdated event: %+v", e)
	}
	var list []map[string]any
	if code := call(t, "GET", base+"/users?limit=10&offset=0", nil, &list); code != 200 || len(list) != 1 {
		t.Fatalf("GET /users = %d %v", code, list)
	}
	if code := call(t, "GET", base+"/users?limit=0", nil, nil); code != 400 {
		t.Fatalf("GET /users?limit=0 = %d, want 400", code)
	}
	if code := call(t, "DELETE", fmt.Sprintf("%s/users/%d", base, c.ID), nil, nil); code != 204 {
		t.Fatalf("DELETE = %d, want 204", code)
	}
	if e := readEvent(t, next()); e.Type != authevent.UserDeleted || e.UserID != fmt.Sprint(c.ID) {
		t.Fatalf("UserDeleted event: %+v", e)
	}
	if code := call(t, "GET", fmt.Sprintf("%s/users/%d", base, c.ID), nil, nil); code != 404 {
		t.Fatalf("GET after DELETE = %d, want 404", code)
	}
	if code := call(t, "GET", base+"/users/not-a-number", nil, nil); code != 404 {
		t.Fatalf("GET /users/not-a-number = %d, want 404", code)
	}
}

func TestAdminTokens(t *testing.T) {
	base, _ := startDevauth(t, map[string]string{})
	var tok tokenResponse
	if code := call(t, "POST", base+"/tokens", map[string]any{"sub": "badge-service", "scope": "users:admin"}, &tok); code != 200 {
		t.Fatalf("POST /tokens = %d", code)
	}
	id, err := verifier(t, base).Verify(tok.AccessToken)
	if err != nil || !id.Admin || id.UserID != "badge-service" {
		t.Fatalf("admin token: %+v, %v", id, err)
	}
	if code := call(t, "POST", base+"/tokens", map[string]any{"sub": 42, "ttl": "5m"}, &tok); code != 200 || tok.ExpiresIn != 300 {
		t.Fatalf("POST /tokens with a numeric sub = %d %+v", code, tok)
	}
	if code := call(t, "POST", base+"/tokens", map[string]any{"sub": "no spaces allowed"}, nil); code != 422 {
		t.Fatalf("POST /tokens with a bad sub = %d, want 422", code)
	}
}

func TestNothingChangesWhenTheEventCannotBePublished(t *testing.T) {
	base, _ := startDevauth(t, map[string]string{"RABBITMQ_URL": fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqptest.FreePort(t))})
	if code := call(t, "POST", base+"/users", map[string]string{"email": "x@example.com"}, nil); code != 503 {
		t.Fatalf("POST /users with the broker down = %d, want 503", code)
	}
	var list []any
	if code := call(t, "GET", base+"/users", nil, &list); code != 200 || len(list) != 0 {
		t.Fatalf("users after a failed publish: %v", list)
	}
}

func TestUsersSurviveARestartWithADatabase(t *testing.T) {
	env, next := withBroker(t)
	env["DEVAUTH_DATABASE_URL"] = pgtest.NewDatabase(t)
	var first, second created
	base, stop := startDevauth(t, env)
	if code := call(t, "POST", base+"/users", map[string]string{"email": "keep@example.com"}, &first); code != 201 {
		t.Fatalf("POST /users = %d", code)
	}
	next()
	stop()
	base, _ = startDevauth(t, env)
	if code := call(t, "POST", base+"/users", map[string]string{"email": "next@example.com"}, &second); code != 201 || second.ID <= first.ID {
		t.Fatalf("second user %d after %d (status %d)", second.ID, first.ID, code)
	}
	var u map[string]any
	if code := call(t, "GET", fmt.Sprintf("%s/users/%d", base, first.ID), nil, &u); code != 200 || u["email"] != "keep@example.com" {
		t.Fatalf("first user after restart: %d %v", code, u)
	}
}

func TestSigningKeysRotateAndHS256StaysAvailable(t *testing.T) {
	base, _ := startDevauth(t, map[string]string{"SECRET_KEY": ""}) // EdDSA needs no secret
	v := verifier(t, base)
	mint := func() string {
		var tok tokenResponse
		if code := call(t, "POST", base+"/tokens", map[string]any{"sub": "42"}, &tok); code != 200 {
			t.Fatalf("POST /tokens = %d", code)
		}
		return tok.AccessToken
	}
	before := mint()
	if _, err := v.Verify(before); err != nil {
		t.Fatalf("EdDSA token: %v", err)
	}
	var rotated map[string]string
	if code := call(t, "POST", base+"/keys/rotate", nil, &rotated); code != 200 || rotated["kid"] == "" {
		t.Fatalf("POST /keys/rotate = %d %v", code, rotated)
	}
	after := mint()
	for name, tok := range map[string]string{"new key": after, "previous key": before} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("%s after the rotation: %v", name, err)
		}
	}
	var set struct{ Keys []map[string]any }
	if code := call(t, "GET", base+"/.well-known/jwks.json", nil, &set); code != 200 || len(set.Keys) != 2 || set.Keys[1]["kid"] != rotated["kid"] || set.Keys[1]["alg"] != "EdDSA" || set.Keys[1]["d"] != nil {
		t.Fatalf("JWKS = %d %v", code, set)
	}

	hs, _ := startDevauth(t, map[string]string{"DEVAUTH_SIGNING": "hs256"})
	var tok tokenResponse
	if code := call(t, "POST", hs+"/tokens", map[string]any{"sub": "42"}, &tok); code != 200 {
		t.Fatalf("POST /tokens (hs256) = %d", code)
	}
	if _, err := verifier(t, hs).Verify(tok.AccessToken); err != nil || !strings.HasPrefix(tok.AccessToken, "eyJhbGciOiJIUzI1NiI") {
		t.Fatalf("HS256 token: %v", err)
	}
	if code := call(t, "POST", hs+"/keys/rotate", nil, nil); code != 409 {
		t.Fatalf("rotate with hs256 = %d, want 409", code)
	}
	if _, err := readSettings(func(k string) string { return map[string]string{"DEVAUTH_SIGNING": "hs256"}[k] }); err == nil {
		t.Fatal("hs256 without SECRET_KEY accepted")
	}
}

func TestEventsUsersvcStreamsTheNextMessagesOfTheExchange(t *testing.T) {
	url := amqptest.URL(t)
	exchange := "test.usersvc.events." + amqptest.Suffix()
	base, _ := startDevauth(t, map[string]string{"RABBITMQ_URL": url, "USERSVC_EVENTS_EXCHANGE": exchange})

	resp, err := http.Get(base + "/events/usersvc?n=2&wait=20")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("GET /events/usersvc: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The headers come once the queue is bound: what is published now arrives.
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"goal.created", "badge.awarded", "goal.deleted"} {
		msg := amqp091.Publishing{ContentType: "application/json", Type: key, MessageId: "m-" + key, Body: []byte(`{"event_type":"` + key + `"}`)}
		if err := ch.PublishWithContext(context.Background(), exchange, key, false, false, msg); err != nil {
			t.Fatal(err)
		}
	}
	body, err := io.ReadAll(resp.Body) // ends after n=2 lines
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %s", len(lines), body)
	}
	var first watched
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.RoutingKey != "goal.created" ||
		first.MessageID != "m-goal.created" || string(first.Body) != `{"event_type":"goal.created"}` {
		t.Errorf("first line %s (%v)", lines[0], err)
	}

	if code := call(t, "GET", base+"/events/usersvc?n=0", nil, nil); code != 400 {
		t.Errorf("n=0: %d, want 400", code)
	}
}
