package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"usersvc/modules/authref/userid"
)

// publisher sends one event and waits for the broker's confirmation.
type publisher interface {
	Publish(ctx context.Context, routingKey string, msg amqp091.Publishing) error
}

// noPublisher stands in when RABBITMQ_URL is unset.
type noPublisher struct{ log *zap.Logger }

func (n noPublisher) Publish(_ context.Context, key string, _ amqp091.Publishing) error {
	n.log.Debug("event not published (no RABBITMQ_URL)", zap.String("routing_key", key))
	return nil
}

// minter signs tokens the way usersvc verifies them: EdDSA with a key of its
// own, published as a JWK Set (the default), or HS256 with SECRET_KEY.
type minter struct {
	secret                    []byte // HS256 when set
	subject, issuer, audience string

	mu   sync.Mutex
	keys []signingKey // the newest signs; the one before stays published for its tokens
}

// signingKey is one Ed25519 key and its kid.
type signingKey struct {
	kid string
	key ed25519.PrivateKey
}

// tokenTTL is the life of the tokens POST /users hands out.
const tokenTTL = time.Hour

// rotate makes a new signing key; the previous one stays published (tokens
// it signed live on), the one before that goes.
func (m *minter) rotate() (string, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	k := signingKey{kid: time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), key: key}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	if len(m.keys) > 2 {
		m.keys = m.keys[len(m.keys)-2:]
	}
	return k.kid, nil
}

func (m *minter) mint(sub, scope string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{m.subject: sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if scope != "" {
		claims["scope"] = scope
	}
	if m.issuer != "" {
		claims["iss"] = m.issuer
	}
	if m.audience != "" {
		claims["aud"] = m.audience
	}
	if m.secret != nil {
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(m.secret)
	}
	m.mu.Lock()
	k := m.keys[len(m.keys)-1]
	m.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = k.kid
	return tok.SignedString(k.key)
}

// jwks is the public key set (RFC 7517): every key still published.
func (m *minter) jwks() (map[string]any, error) {
	m.mu.Lock()
	keys := slices.Clone(m.keys)
	m.mu.Unlock()
	out := make([]jwkset.JWKMarshal, 0, len(keys))
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.AlgEdDSA, USE: jwkset.UseSig}})
		if err != nil {
			return nil, err
		}
		out = append(out, j.Marshal())
	}
	return map[string]any{"keys": out}, nil
}

type server struct {
	store  store
	events publisher
	tokens *minter
	log    *zap.Logger
	watch  watcher
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("POST /users", s.createUser)
	mux.HandleFunc("GET /users", s.listUsers)
	mux.HandleFunc("GET /users/{id}", s.getUser)
	mux.HandleFunc("PATCH /users/{id}", s.updateUser)
	mux.HandleFunc("DELETE /users/{id}", s.deleteUser)
	mux.HandleFunc("POST /tokens", s.createToken)
	mux.HandleFunc("GET /.well-known/jwks.json", s.getJWKS)
	mux.HandleFunc("POST /keys/rotate", s.rotateKey)
	mux.HandleFunc("GET /events/usersvc", s.watch.serve)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { problem(w, 404, "no such route") })
	return mux
}

// tokenResponse is what POST /users and POST /tokens answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

type userWithToken struct {
	user
	tokenResponse
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email    *string `json:"email"`
		Username *string `json:"username"`
	}
	if err := decode(r, &body); err != nil {
		problem(w, 400, err.Error())
		return
	}
	status := http.StatusCreated
	u, err := s.store.Create(r.Context(), body.Email, body.Username, func(u user) error {
		return s.publish(r.Context(), "UserCreated", "user.created", u)
	})
	if errors.Is(err, errEmailTaken) && body.Email != nil {
		// Development convenience: asking again for a known email hands out a fresh token for it.
		u, err = s.store.FindEmail(r.Context(), *body.Email)
		status = http.StatusOK
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	tok, err := s.tokens.mint(strconv.FormatInt(u.ID, 10), "", tokenTTL)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, status, userWithToken{user: u, tokenResponse: tokenResponse{tok, "Bearer", int(tokenTTL.Seconds())}})
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	u, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, 200, u)
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	limit, err1 := intParam(r, "limit", 100, 1, 1000)
	offset, err2 := intParam(r, "offset", 0, 0, 1<<31-1)
	if err := errors.Join(err1, err2); err != nil {
		problem(w, 400, err.Error())
		return
	}
	users, err := s.store.List(r.Context(), limit, offset)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, 200, users)
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		problem(w, 400, err.Error())
		return
	}
	var p patch
	for k, v := range raw {
		var target **string
		switch k {
		case "email":
			p.HasEmail, target = true, &p.Email
		case "username":
			p.HasUsername, target = true, &p.Username
		default:
			problem(w, 422, fmt.Sprintf("unknown field %q (email and username can change)", k))
			return
		}
		if err := json.Unmarshal(v, target); err != nil {
			problem(w, 422, k+" must be a string or null")
			return
		}
	}
	u, err := s.store.Update(r.Context(), id, p, func(u user) error {
		return s.publish(r.Context(), "UserUpdated", "user.updated", u)
	})
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, 200, u)
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.store.Delete(r.Context(), id, func(u user) error {
		return s.publish(r.Context(), "UserDeleted", "user.deleted", user{ID: u.ID})
	})
	if err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Sub   any    `json:"sub"`
		Scope string `json:"scope"`
		TTL   string `json:"ttl"`
	}
	if err := decode(r, &body); err != nil {
		problem(w, 400, err.Error())
		return
	}
	sub, err := userid.FromJSON(body.Sub)
	if err != nil {
		problem(w, 422, "sub must be a user id (a string of [A-Za-z0-9_.:-] or a non-negative integer)")
		return
	}
	ttl := tokenTTL
	if body.TTL != "" {
		if ttl, err = time.ParseDuration(body.TTL); err != nil || ttl <= 0 || ttl > 30*24*time.Hour {
			problem(w, 422, "ttl must be a duration like 1h, at most 720h")
			return
		}
	}
	tok, err := s.tokens.mint(sub, body.Scope, ttl)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, 200, tokenResponse{tok, "Bearer", int(ttl.Seconds())})
}

func (s *server) getJWKS(w http.ResponseWriter, _ *http.Request) {
	set, err := s.tokens.jwks()
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, 200, set) // {"keys": []} when signing with HS256
}

func (s *server) rotateKey(w http.ResponseWriter, _ *http.Request) {
	if s.tokens.secret != nil {
		problem(w, 409, "devauth signs with HS256 (DEVAUTH_SIGNING=hs256): rotate SECRET_KEY instead")
		return
	}
	kid, err := s.tokens.rotate()
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("signing key rotated", zap.String("kid", kid))
	writeJSON(w, 200, map[string]string{"kid": kid})
}

// event is the body of a published event: CONTRACT §4's example shape.
type event struct {
	EventType  string    `json:"event_type"`
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Data       any       `json:"data"`
}

// publish sends one lifecycle event and waits for the broker's confirmation.
func (s *server) publish(ctx context.Context, eventType, key string, u user) error {
	var data any = u
	if eventType == "UserDeleted" {
		data = map[string]int64{"id": u.ID}
	}
	e := event{EventType: eventType, EventID: newEventID(), OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Data: data}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.events.Publish(ctx, key, amqp091.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp091.Persistent,
		Type:         eventType,
		MessageId:    e.EventID,
		Timestamp:    e.OccurredAt,
		AppId:        "devauth",
		Body:         body,
	}); err != nil {
		return fmt.Errorf("%w: %w", errNotPublished, err)
	}
	s.log.Info("event published", zap.String("type", eventType), zap.Int64("user_id", u.ID), zap.String("event_id", e.EventID))
	return nil
}

var errNotPublished = errors.New("the event could not be published; nothing was changed")

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *server) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNotFound):
		problem(w, 404, "no such user")
	case errors.Is(err, errEmailTaken):
		problem(w, 409, err.Error())
	case errors.Is(err, errNotPublished):
		s.log.Warn("publish failed", zap.Error(err))
		problem(w, 503, errNotPublished.Error())
	default:
		s.log.Error("request failed", zap.Error(err))
		problem(w, 500, "internal error")
	}
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		problem(w, 404, "no such user") // devauth's ids are numbers; anything else is unknown
		return 0, false
	}
	return id, true
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body must be a JSON object: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func problem(w http.ResponseWriter, status int, detail string) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
