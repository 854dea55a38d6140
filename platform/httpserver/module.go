package httpserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/platform/auth"
	"usersvc/platform/config"
	"usersvc/platform/metrics"
)

// Module is the API server. Feature modules register routes by providing
// []Route to the "routes" group and readiness checks to the "readiness" group.
var Module = fx.Module("httpserver",
	fx.Provide(NewVerifier, NewGuard, NewAPI),
	fx.Invoke(func(s *Server, lc fx.Lifecycle) { s.Hook(lc) }),
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
}

// VerifierParams is what the JWT verifier is built from.
type VerifierParams struct {
	fx.In
	Config config.Config
	// Owners, when present, decides what a token's subject must be.
	Owners Owners `optional:"true"`
}

// NewVerifier builds the JWT verifier from the JWT_* settings.
func NewVerifier(p VerifierParams) (*auth.Verifier, error) {
	cfg := p.Config
	var subject func(any) (string, error)
	if p.Owners != nil {
		subject = p.Owners.FromClaim
	}
	return auth.NewVerifier(auth.Config{
		Subject:      subject,
		Secret:       []byte(cfg.SecretKey),
		Algorithms:   cfg.JWTAlgorithms,
		SubjectClaim: cfg.JWTSubjectClaim,
		Leeway:       cfg.JWTLeeway,
		Issuer:       cfg.JWTIssuer,
		Audience:     cfg.JWTAudience,
		AdminScope:   cfg.AdminScope,
	})
}
