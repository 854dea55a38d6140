package httpserver

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/platform/auth"
	"usersvc/platform/config"
	"usersvc/platform/idempotency"
	"usersvc/platform/metrics"
)

// Module is the API server. Feature modules register routes by providing
// []Route to the "routes" group and readiness checks to the "readiness" group.
var Module = fx.Module("httpserver",
	fx.Provide(NewVerifier, NewGuard, NewAPI),
	idempotency.Module,
	fx.Invoke(func(s *Server, lc fx.Lifecycle) { s.Hook(lc) }),
	fx.Invoke(servePprof),
)

// AsRoutes annotates a constructor of []Route for the "routes" group.
func AsRoutes(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"routes,flatten"`))
}

// AsCheck annotates a constructor of Check for the "readiness" group.
func AsCheck(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"readiness"`))
}

// APIParams is what the API server is built from.
type APIParams struct {
	fx.In
	Config   config.Config
	Log      *zap.Logger
	Metrics  *metrics.HTTP
	Registry *prometheus.Registry
	Guard    *Guard
	Routes   []Route `group:"routes"`
	Checks   []Check `group:"readiness"`
}

// NewAPI builds the API server on HTTP_ADDR.
func NewAPI(p APIParams) (*Server, error) {
	return New(p.Config, p.Log, p.Metrics, Options{
		Name: "api", Addr: p.Config.HTTPAddr, Routes: p.Routes, Checks: p.Checks, Guard: p.Guard, Registry: p.Registry,
		ShutdownDelay: p.Config.ShutdownDelay,
	})
}

// GuardParams lets the owner directory be absent (tests of the bare server).
type GuardParams struct {
	fx.In
	Config   config.Config
	Verifier *auth.Verifier
	Owners   Owners `optional:"true"`
	// Keys stores the answers of Idempotent routes; without it (tests of the
	// bare server) the Idempotency-Key is ignored.
	Keys *idempotency.Store `optional:"true"`
}

// VerifierParams is what the JWT verifier is built from.
type VerifierParams struct {
	fx.In
	Config    config.Config
	Log       *zap.Logger
	Registry  *prometheus.Registry
	Lifecycle fx.Lifecycle
	// Owners, when present, decides what a token's subject must be.
	Owners Owners `optional:"true"`
}

// VerifierResult is the verifier and, when JWKS_URL is set, its /ready check.
type VerifierResult struct {
	fx.Out
	Verifier *auth.Verifier
	Checks   []Check `group:"readiness,flatten"`
}

// NewVerifier builds the JWT verifier from the JWT_* settings, with the JWK
// Set's fetcher and the key files' watchers on the app's lifecycle.
func NewVerifier(p VerifierParams) (VerifierResult, error) {
	cfg := p.Config
	var subject func(any) (string, error)
	if p.Owners != nil {
		subject = p.Owners.FromClaim
	}
	var res VerifierResult
	var keys *auth.KeySet
	if cfg.JWKSURL != "" {
		var err error
		if keys, err = newKeySet(cfg.JWKSURL, p.Log); err != nil {
			return res, err
		}
		p.Lifecycle.Append(fx.StartStopHook(keys.Start, keys.Stop))
		res.Checks = []Check{jwksCheck(keys)}
	}
	jwt := metrics.NewJWT(p.Registry)
	v, err := auth.NewVerifier(auth.Config{
		Subject:        subject,
		Secret:         []byte(cfg.SecretKey),
		PreviousSecret: []byte(cfg.SecretKeyPrevious),
		Keys:           keys,
		Verified:       jwt.Verified,
		Algorithms:     cfg.JWTAlgorithms,
		SubjectClaim:   cfg.JWTSubjectClaim,
		Leeway:         cfg.JWTLeeway,
		Issuer:         cfg.JWTIssuer,
		Audience:       cfg.JWTAudience,
		AdminScope:     cfg.AdminScope,
	})
	if err != nil {
		return res, err
	}
	for _, w := range secretWatches(cfg, v, p.Log) {
		p.Lifecycle.Append(fx.StartStopHook(w.Start, w.Stop))
	}
	res.Verifier = v
	return res, nil
}

func newKeySet(url string, log *zap.Logger) (*auth.KeySet, error) {
	healthy := true
	return auth.NewKeySet(auth.KeySetConfig{
		URL: url,
		// Runs on one fetch at a time: healthy needs no lock.
		OnFetch: func(n int, err error) {
			switch {
			case err != nil:
				log.Warn("JWKS fetch failed; the last good key set stays in use", zap.Error(err))
			case !healthy || n == 0:
				log.Info("JWKS fetched", zap.Int("keys", n))
			default:
				log.Debug("JWKS fetched", zap.Int("keys", n))
			}
			healthy = err == nil
		},
	})
}

// jwksCheck reports the key set in /ready without failing it: tokens of the
// keys in hand still verify while the endpoint is down.
func jwksCheck(keys *auth.KeySet) Check {
	return Check{Name: "jwks", Advisory: true, Run: func(context.Context) error {
		if !keys.Healthy() {
			return errors.New("no key set, or the last fetch failed")
		}
		return nil
	}}
}

// secretWatches keep the keys given as files (SECRET_KEY_FILE…) current.
func secretWatches(cfg config.Config, v *auth.Verifier, log *zap.Logger) []*config.SecretWatch {
	var ws []*config.SecretWatch
	if cfg.SecretKeyFile != "" {
		ws = append(ws, &config.SecretWatch{
			Name: "SECRET_KEY", Path: cfg.SecretKeyFile, Current: string(cfg.SecretKey), Development: cfg.Development(), Log: log,
			Apply: func(key string) { _ = v.SetSecret([]byte(key)) }, // never empty: the watch refuses it
		})
	}
	if cfg.SecretKeyPreviousFile != "" {
		ws = append(ws, &config.SecretWatch{
			Name: "SECRET_KEY_PREVIOUS", Path: cfg.SecretKeyPreviousFile, Current: string(cfg.SecretKeyPrevious), Optional: true,
			Development: cfg.Development(), Log: log,
			Apply: func(key string) { v.SetPreviousSecret([]byte(key)) },
		})
	}
	return ws
}
