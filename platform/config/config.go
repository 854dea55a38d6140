// Package config reads the service's settings from flags, the environment and
// an optional .env file (in that order of precedence), checks every value
// once at start-up and reports each problem on a line of its own.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/spf13/pflag"
)

// Config is every setting of CONTRACT §7, parsed and checked.
type Config struct {
	AppEnv             string
	DatabaseURL        string
	SecretKey          Secret
	SecretKeyPrevious  Secret // "" when no key is being rotated out
	JWKSURL            string // "" when tokens are HMAC only
	RabbitMQURL        string
	AuthServiceURL     string
	AuthServiceTimeout time.Duration

	DatabasePoolSize    int
	DatabaseMaxOverflow int
	DatabasePoolTimeout time.Duration
	DatabasePoolRecycle time.Duration

	HTTPAddr           string
	PprofAddr          string // "" = no profiler
	ConsumerHealthAddr string
	TrustedProxies     []string
	CORSAllowOrigins   []string
	HTTPBodyLimit      int
	RateLimitPerMinute int
	// ShutdownDelay is how long serve keeps serving after SIGTERM (CONTRACT §3).
	ShutdownDelay time.Duration

	JWTAlgorithms   []string
	JWTSubjectClaim string
	JWTLeeway       time.Duration
	JWTIssuer       string
	JWTAudience     string
	AdminScope      string

	RabbitMQExchange string
	RabbitMQQueue    string
	RabbitMQPrefetch int
	// EventsExchange is where `consume` publishes usersvc's own events.
	EventsExchange string

	LogLevel  string
	LogFormat string

	// SecretKeyFile and SecretKeyPreviousFile are the paths the keys were
	// read from (SECRET_KEY_FILE…), "" when given directly: these are watched.
	SecretKeyFile         string
	SecretKeyPreviousFile string
}

// Development reports whether APP_ENV=development.
func (c Config) Development() bool { return c.AppEnv == "development" }

// Secret is a string that never prints itself, so a Config can be logged.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// Requirement names a setting a command cannot run without.
type Requirement string

const (
	NeedDatabase Requirement = "DATABASE_URL"
	// NeedSecret is for commands that verify tokens: SECRET_KEY is required
	// while JWT_ALGORITHMS lists an HMAC algorithm.
	NeedSecret   Requirement = "SECRET_KEY"
	NeedRabbitMQ Requirement = "RABBITMQ_URL"
	NeedAuthURL  Requirement = "AUTH_SERVICE_URL"
)

// Source is where raw values come from; tests pass their own.
type Source struct {
	Flags  *pflag.FlagSet // flags registered by RegisterFlags; may be nil
	Getenv func(string) string
	DotEnv string // path of the optional .env file; "" skips it
}

// FlagName is the command-line flag of an environment variable: DATABASE_URL → --database-url.
func FlagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// RegisterFlags adds one flag per setting to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range settings {
		usage := s.usage + " (env " + s.env
		if s.def != "" {
			usage += ", default " + s.def
		}
		fs.String(FlagName(s.env), "", usage+")")
	}
	for _, env := range fromFiles {
		fs.String(FlagName(env+"_FILE"), "", "file holding "+env+" (one trailing newline removed; env "+env+"_FILE)")
	}
}

// fromFiles are the settings that may be given as NAME_FILE, a path whose
// contents are the value (as Kubernetes secret volumes and the official
// database images hand secrets over).
var fromFiles = []string{"SECRET_KEY", "SECRET_KEY_PREVIOUS", "DATABASE_URL", "RABBITMQ_URL"}

// rawSecrets are used byte for byte: their raw bytes are the key (CONTRACT §1).
func rawSecret(env string) bool { return env == "SECRET_KEY" || env == "SECRET_KEY_PREVIOUS" }

// Load reads, parses and checks every setting; the error lists every problem, one per line.
func Load(src Source, needs ...Requirement) (Config, error) {
	dotenv, err := readDotEnv(src.DotEnv)
	if err != nil {
		return Config{}, err
	}
	var cfg Config
	var problems []error
	for _, s := range settings {
		raw, set := lookup(src, dotenv, s.env)
		if slices.Contains(fromFiles, s.env) {
			path, fromFile := lookup(src, dotenv, s.env+"_FILE")
			if set && fromFile {
				problems = append(problems, fmt.Errorf("%s and %s_FILE are both set: give one of them", s.env, s.env))
				continue
			}
			if fromFile {
				var err error
				if raw, err = ReadSecretFile(path); err != nil {
					problems = append(problems, fmt.Errorf("%s_FILE: %w", s.env, err))
					continue
				}
				set = true
				cfg.rememberFile(s.env, path)
			}
		}
		if !set {
			raw = s.def
		}
		if !rawSecret(s.env) {
			raw = strings.TrimSpace(raw)
		}
		if err := s.parse(raw, &cfg); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", s.env, err))
		}
	}
	problems = append(problems, checkRequired(cfg, needs)...)
	problems = append(problems, checkConsistency(cfg)...)
	return cfg, errors.Join(problems...)
}

// ReadSecretFile reads a NAME_FILE: its contents with one trailing newline
// removed. Its errors name the path, never the contents.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}

func (c *Config) rememberFile(env, path string) {
	switch env {
	case "SECRET_KEY":
		c.SecretKeyFile = path
	case "SECRET_KEY_PREVIOUS":
		c.SecretKeyPreviousFile = path
	}
}

func readDotEnv(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	values, err := godotenv.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return values, nil
}

// lookup applies the precedence: flag, then environment, then .env.
func lookup(src Source, dotenv map[string]string, env string) (string, bool) {
	if src.Flags != nil {
		if f := src.Flags.Lookup(FlagName(env)); f != nil && f.Changed {
			return f.Value.String(), true
		}
	}
	if src.Getenv != nil {
		if v := src.Getenv(env); v != "" {
			return v, true
		}
	}
	if v, ok := dotenv[env]; ok && v != "" {
		return v, true
	}
	return "", false
}

func checkRequired(cfg Config, needs []Requirement) []error {
	var problems []error
	for _, need := range needs {
		switch need {
		case NeedDatabase:
			if cfg.DatabaseURL == "" {
				problems = append(problems, errors.New("DATABASE_URL: required (a PostgreSQL connection string)"))
			}
		case NeedRabbitMQ:
			if cfg.RabbitMQURL == "" {
				problems = append(problems, errors.New("RABBITMQ_URL: required (an amqp:// URL)"))
			}
		case NeedAuthURL:
			if cfg.AuthServiceURL == "" {
				problems = append(problems, errors.New("AUTH_SERVICE_URL: required (the auth-service base URL)"))
			}
		case NeedSecret:
			problems = append(problems, checkSecrets(cfg)...)
		}
	}
	return problems
}

// checkSecrets checks the HMAC keys: SECRET_KEY is required while an HMAC
// algorithm is listed, and a key that is given must be a good one.
func checkSecrets(cfg Config) []error {
	var problems []error
	if cfg.HMAC() || cfg.SecretKey != "" {
		if err := CheckSecret(string(cfg.SecretKey), cfg.Development()); err != nil {
			problems = append(problems, fmt.Errorf("SECRET_KEY: %w", err))
		}
	}
	if cfg.SecretKeyPrevious != "" {
		if err := CheckSecret(string(cfg.SecretKeyPrevious), cfg.Development()); err != nil {
			problems = append(problems, fmt.Errorf("SECRET_KEY_PREVIOUS: %w", err))
		}
	}
	return problems
}

// HMAC reports whether JWT_ALGORITHMS lists an HMAC algorithm.
func (c Config) HMAC() bool {
	return slices.ContainsFunc(c.JWTAlgorithms, func(a string) bool { return strings.HasPrefix(a, "HS") })
}

func checkConsistency(cfg Config) []error {
	var problems []error
	if cfg.DatabasePoolSize+cfg.DatabaseMaxOverflow > 10000 {
		problems = append(problems, errors.New("DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW: at most 10000 connections"))
	}
	for _, a := range cfg.JWTAlgorithms {
		if !strings.HasPrefix(a, "HS") && cfg.JWKSURL == "" {
			problems = append(problems, fmt.Errorf("JWT_ALGORITHMS: %s needs JWKS_URL (the auth-service's key set)", a))
			break
		}
	}
	return problems
}

// MaxShutdownDelay leaves a stop, out of its 25 seconds (CONTRACT §3), 5 to
// answer the requests already received.
const MaxShutdownDelay = 20 * time.Second

// MinSecretBytes is the shortest SECRET_KEY accepted outside development.
const MinSecretBytes = 32

// ExampleSecret is the placeholder shipped in .env.example; it is refused like any other.
const ExampleSecret = "change-me-to-the-output-of-usersvc-gen-secret"

var placeholderSecrets = []string{
	ExampleSecret, "changeme", "change-me", "change_me", "secret", "secret-key", "secret_key", "your-secret-key",
	"your_secret_key", "yoursecretkey", "supersecret", "super-secret-key", "mysecret", "password", "development",
	"dev-secret", "test", "testsecret", "jwt-secret", "jwtsecret", "please-change-me",
}

// CheckSecret applies the SECRET_KEY rules to a key: required, and outside
// development at least MinSecretBytes long and no known placeholder. Its
// errors never contain the key.
func CheckSecret(secret string, development bool) error {
	if secret == "" {
		return errors.New("required (generate one with `usersvc gen-secret`)")
	}
	if development {
		return nil
	}
	lower := strings.ToLower(secret)
	for _, p := range placeholderSecrets {
		if lower == p {
			return errors.New("is a known placeholder; generate one with `usersvc gen-secret` (or set APP_ENV=development)")
		}
	}
	if len(secret) < MinSecretBytes {
		return fmt.Errorf("must be at least %d bytes, got %d; generate one with `usersvc gen-secret`", MinSecretBytes, len(secret))
	}
	return nil
}
