// Command devauth is a development stand-in for the auth-service: it keeps
// users (in memory, or in a devauth_users table when DEVAUTH_DATABASE_URL is
// set), publishes their lifecycle events to RabbitMQ the way CONTRACT §4
// describes, answers the lookups of CONTRACT §5, and mints tokens: EdDSA
// with an Ed25519 key it makes at start and publishes as a JWK Set (usersvc's
// JWKS_URL), or HS256 with SECRET_KEY when DEVAUTH_SIGNING=hs256. It checks no
// password and mints a token for anyone who asks: never expose it beyond a
// development machine.
//
//	POST   /users          {"email","username"} → 201 user + token, publishes UserCreated
//	                       (an email it already knows: 200 with that user and a fresh token)
//	GET    /users/{id}     → 200 {"id","email","username"} or 404
//	GET    /users          ?limit=N&offset=M → 200 array, ordered by id
//	PATCH  /users/{id}     {"email"?,"username"?} → 200 user, publishes UserUpdated
//	DELETE /users/{id}     → 204, publishes UserDeleted
//	POST   /tokens         {"sub", "scope"?, "ttl"?} → 200 token (e.g. scope users:admin)
//	GET    /.well-known/jwks.json → the public signing keys (RFC 7517)
//	POST   /keys/rotate    → 200 {"kid"}: a new key signs; the previous one stays published
//	GET    /health
//
// Settings (environment): DEVAUTH_SIGNING (eddsa, or hs256 with SECRET_KEY
// required), DEVAUTH_ADDR (127.0.0.1:8002),
// RABBITMQ_URL (unset: no events), RABBITMQ_EXCHANGE (auth.events),
// DEVAUTH_DATABASE_URL (unset: in memory), JWT_SUBJECT_CLAIM (sub),
// JWT_ISSUER and JWT_AUDIENCE (added to tokens when set).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devauth: "+err.Error())
		os.Exit(1)
	}
}

// settings are devauth's environment.
type settings struct {
	addr, secret, rabbitURL, exchange, databaseURL string
	eventsExchange                                 string
	subjectClaim, issuer, audience, signing        string
}

func readSettings(getenv func(string) string) (settings, error) {
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	s := settings{
		addr:      or("DEVAUTH_ADDR", "127.0.0.1:8002"),
		secret:    getenv("SECRET_KEY"),
		rabbitURL: getenv("RABBITMQ_URL"),
		exchange:  or("RABBITMQ_EXCHANGE", "auth.events"),
		// usersvc's own events, which GET /events/usersvc shows.
		eventsExchange: or("USERSVC_EVENTS_EXCHANGE", "usersvc.events"),
		databaseURL:    getenv("DEVAUTH_DATABASE_URL"),
		subjectClaim:   or("JWT_SUBJECT_CLAIM", "sub"),
		issuer:         getenv("JWT_ISSUER"),
		audience:       getenv("JWT_AUDIENCE"),
		signing:        strings.ToLower(or("DEVAUTH_SIGNING", "eddsa")),
	}
	switch {
	case s.signing != "eddsa" && s.signing != "hs256":
		return s, fmt.Errorf("DEVAUTH_SIGNING=%q: eddsa or hs256", s.signing)
	case s.signing == "hs256" && s.secret == "":
		return s, errors.New("SECRET_KEY is required with DEVAUTH_SIGNING=hs256 (the same as usersvc's, so its tokens verify)")
	}
	return s, nil
}

// run serves until ctx ends; ready, if set, receives the listen address.
func run(ctx context.Context, getenv func(string) string, logOut io.Writer, ready chan<- string) error {
	s, err := readSettings(getenv)
	if err != nil {
		return err
	}
	log := zap.New(zap.NewNop().Core())
	if logOut != nil {
		zc := zap.NewDevelopmentConfig()
		zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
		zc.DisableStacktrace = true
		if log, err = zc.Build(); err != nil {
			return err
		}
	}
	defer func() { _ = log.Sync() }()

	var st store = newMemoryStore()
	if s.databaseURL != "" {
		pg, err := newPostgresStore(ctx, s.databaseURL)
		if err != nil {
			return err
		}
		defer pg.Close()
		st = pg
		log.Info("users kept in PostgreSQL (devauth_users)")
	} else {
		log.Info("users kept in memory: they are gone when devauth stops (set DEVAUTH_DATABASE_URL to keep them)")
	}

	var pub publisher = noPublisher{log: log}
	if s.rabbitURL != "" {
		p := newBrokerPublisher(s.rabbitURL, s.exchange, log)
		defer p.Close()
		pub = p
	} else {
		log.Warn("RABBITMQ_URL is unset: no events are published")
	}

	tokens := &minter{subject: s.subjectClaim, issuer: s.issuer, audience: s.audience}
	if s.signing == "hs256" {
		tokens.secret = []byte(s.secret)
	} else if _, err := tokens.rotate(); err != nil {
		return err
	}
	srv := &server{store: st, events: pub, tokens: tokens, log: log, watch: watcher{url: s.rabbitURL, exchange: s.eventsExchange}}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	log.Warn("devauth mints a token for anyone who asks: development only", zap.String("addr", ln.Addr().String()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	hs := &http.Server{Handler: srv.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Shutdown waits for connections that never sent a request (a client's
	// spare dial sits in that state); a development server just closes them.
	if err := hs.Shutdown(shutdown); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return hs.Close()
}
