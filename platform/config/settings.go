package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// setting is one row of CONTRACT §7: its variable, default, help and parser.
type setting struct {
	env   string
	def   string
	usage string
	parse func(raw string, c *Config) error
}

var settings = []setting{
	{"APP_ENV", "production", "production or development", oneOf(func(c *Config) *string { return &c.AppEnv }, "production", "development")},
	{"DATABASE_URL", "", "PostgreSQL connection string", str(func(c *Config) *string { return &c.DatabaseURL })},
	{"SECRET_KEY", "", "JWT HMAC key, at least 32 bytes", func(raw string, c *Config) error { c.SecretKey = Secret(raw); return nil }},
	{"SECRET_KEY_PREVIOUS", "", "the HMAC key being rotated out, tried when SECRET_KEY does not verify a token", func(raw string, c *Config) error { c.SecretKeyPrevious = Secret(raw); return nil }},
	{"JWKS_URL", "", "the auth-service's JWK Set, for RS256, ES256 and EdDSA tokens", httpURL(func(c *Config) *string { return &c.JWKSURL })},
	{"RABBITMQ_URL", "", "AMQP URL", amqpURL(func(c *Config) *string { return &c.RabbitMQURL })},
	{"AUTH_SERVICE_URL", "", "auth-service base URL", httpURL(func(c *Config) *string { return &c.AuthServiceURL })},
	{"AUTH_SERVICE_TIMEOUT", "2s", "timeout of one auth-service call", duration(func(c *Config) *time.Duration { return &c.AuthServiceTimeout }, time.Millisecond, time.Minute)},
	{"DATABASE_POOL_SIZE", "20", "database connections kept open, idle or not (opened at start)", integer(func(c *Config) *int { return &c.DatabasePoolSize }, 1, 1000)},
	{"DATABASE_MAX_OVERFLOW", "30", "extra connections under load, closed after a minute unused", integer(func(c *Config) *int { return &c.DatabaseMaxOverflow }, 0, 9000)},
	{"DATABASE_POOL_TIMEOUT", "30", "seconds to wait for a connection", duration(func(c *Config) *time.Duration { return &c.DatabasePoolTimeout }, time.Millisecond, time.Hour)},
	{"DATABASE_POOL_RECYCLE", "3600", "seconds before a connection is replaced", duration(func(c *Config) *time.Duration { return &c.DatabasePoolRecycle }, time.Second, 7*24*time.Hour)},
	{"HTTP_ADDR", ":8000", "API listen address", address(func(c *Config) *string { return &c.HTTPAddr })},
	{"CONSUMER_HEALTH_ADDR", ":8001", "consumer health and metrics listen address", address(func(c *Config) *string { return &c.ConsumerHealthAddr })},
	{"TRUSTED_PROXIES", "", "comma-separated proxy addresses or CIDRs trusted for X-Forwarded-For", proxies},
	{"CORS_ALLOW_ORIGINS", "", "comma-separated allowed origins; unset turns CORS off", list(func(c *Config) *[]string { return &c.CORSAllowOrigins })},
	{"HTTP_BODY_LIMIT", "65536", "largest request body in bytes", integer(func(c *Config) *int { return &c.HTTPBodyLimit }, 1024, 64<<20)},
	{"RATE_LIMIT_PER_MINUTE", "1200", "requests per minute per client; 0 turns it off", integer(func(c *Config) *int { return &c.RateLimitPerMinute }, 0, 10_000_000)},
	{"JWT_ALGORITHMS", "HS256", "accepted JWT algorithms (HS256, HS384, HS512; RS256, ES256, EdDSA with JWKS_URL)", algorithms},
	{"JWT_SUBJECT_CLAIM", "sub", "claim holding the user id", nonEmpty(func(c *Config) *string { return &c.JWTSubjectClaim })},
	{"JWT_LEEWAY", "30s", "clock skew allowed on exp, nbf and iat", duration(func(c *Config) *time.Duration { return &c.JWTLeeway }, 0, time.Hour)},
	{"JWT_ISSUER", "", "required iss claim; unset skips the check", str(func(c *Config) *string { return &c.JWTIssuer })},
	{"JWT_AUDIENCE", "", "required aud claim; unset skips the check", str(func(c *Config) *string { return &c.JWTAudience })},
	{"ADMIN_SCOPE", "users:admin", "scope that may write on any user's resources", nonEmpty(func(c *Config) *string { return &c.AdminScope })},
	{"RABBITMQ_EXCHANGE", "auth.events", "topic exchange of auth-service events", nonEmpty(func(c *Config) *string { return &c.RabbitMQExchange })},
	{"RABBITMQ_QUEUE", "user-service.auth-events", "queue the consumer reads", nonEmpty(func(c *Config) *string { return &c.RabbitMQQueue })},
	{"RABBITMQ_PREFETCH", "100", "unacknowledged deliveries in hand", integer(func(c *Config) *int { return &c.RabbitMQPrefetch }, 1, 65535)},
	{"USERSVC_EVENTS_EXCHANGE", "usersvc.events", "topic exchange usersvc publishes its events to", nonEmpty(func(c *Config) *string { return &c.EventsExchange })},
	{"SHUTDOWN_DELAY", "0s", "how long serve keeps serving after SIGTERM, /ready at 503, before closing its listener", duration(func(c *Config) *time.Duration { return &c.ShutdownDelay }, 0, MaxShutdownDelay)},
	{"LOG_LEVEL", "info", "debug, info, warn or error", oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{"PPROF_ADDR", "", "listen address of Go's profiler (net/http/pprof), for load runs; unset turns it off", optionalAddress(func(c *Config) *string { return &c.PprofAddr })},
	{"LOG_FORMAT", "", "json or console (default json; console when APP_ENV=development)", oneOf(func(c *Config) *string { return &c.LogFormat }, "", "json", "console")},
}

func str(field func(*Config) *string) func(string, *Config) error {
	return func(raw string, c *Config) error { *field(c) = raw; return nil }
}

func nonEmpty(field func(*Config) *string) func(string, *Config) error {
	return func(raw string, c *Config) error {
		if raw == "" {
			return errors.New("must not be empty")
		}
		*field(c) = raw
		return nil
	}
}

func oneOf(field func(*Config) *string, allowed ...string) func(string, *Config) error {
	return func(raw string, c *Config) error {
		v := strings.ToLower(raw)
		for _, a := range allowed {
			if v == a {
				*field(c) = v
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", raw, strings.Join(nonBlank(allowed), ", "))
	}
}

func nonBlank(values []string) []string {
	out := values[:0:0]
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func integer(field func(*Config) *int, lo, hi int) func(string, *Config) error {
	return func(raw string, c *Config) error {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is out of range %d–%d", n, lo, hi)
		}
		*field(c) = n
		return nil
	}
}

// duration takes a Go duration ("30s", "1m") or a plain number of seconds ("30").
func duration(field func(*Config) *time.Duration, lo, hi time.Duration) func(string, *Config) error {
	return func(raw string, c *Config) error {
		d, err := parseDuration(raw)
		if err != nil {
			return err
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s is out of range %s–%s", d, lo, hi)
		}
		*field(c) = d
		return nil
	}
}

func parseDuration(raw string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(raw, 64); err == nil {
		if secs < 0 || secs > 1e9 {
			return 0, fmt.Errorf("%q is out of range", raw)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 30s) or a number of seconds", raw)
	}
	return d, nil
}

func list(field func(*Config) *[]string) func(string, *Config) error {
	return func(raw string, c *Config) error { *field(c) = splitList(raw); return nil }
}

func splitList(raw string) []string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func proxies(raw string, c *Config) error {
	items := splitList(raw)
	for _, p := range items {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return fmt.Errorf("%q is neither an IP address nor a CIDR", p)
			}
		}
	}
	c.TrustedProxies = items
	return nil
}

// jwtAlgorithms are the accepted names, as tokens spell them.
var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"}

func algorithms(raw string, c *Config) error {
	items := splitList(raw)
	if len(items) == 0 {
		return fmt.Errorf("must list at least one of %s", strings.Join(jwtAlgorithms, ", "))
	}
	var out []string
	for _, a := range items {
		i := slices.IndexFunc(jwtAlgorithms, func(name string) bool { return strings.EqualFold(name, a) })
		if i < 0 {
			return fmt.Errorf("%q is not one of %s", strings.ToUpper(a), strings.Join(jwtAlgorithms, ", "))
		}
		if !slices.Contains(out, jwtAlgorithms[i]) {
			out = append(out, jwtAlgorithms[i])
		}
	}
	c.JWTAlgorithms = out
	return nil
}

func address(field func(*Config) *string) func(string, *Config) error {
	return func(raw string, c *Config) error {
		if _, port, err := net.SplitHostPort(raw); err != nil || port == "" {
			return fmt.Errorf("%q is not a host:port listen address", raw)
		}
		*field(c) = raw
		return nil
	}
}

func optionalAddress(field func(*Config) *string) func(string, *Config) error {
	return func(raw string, c *Config) error {
		if raw == "" {
			return nil
		}
		return address(field)(raw, c)
	}
}

func httpURL(field func(*Config) *string) func(string, *Config) error {
	return urlOf(field, "http", "https")
}

func amqpURL(field func(*Config) *string) func(string, *Config) error {
	return urlOf(field, "amqp", "amqps")
}

func urlOf(field func(*Config) *string, schemes ...string) func(string, *Config) error {
	return func(raw string, c *Config) error {
		if raw == "" {
			return nil
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return errors.New("is not an absolute URL")
		}
		for _, s := range schemes {
			if u.Scheme == s {
				*field(c) = strings.TrimRight(raw, "/")
				return nil
			}
		}
		return fmt.Errorf("scheme must be %s", strings.Join(schemes, " or "))
	}
}
