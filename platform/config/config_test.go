package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadRejectsBadSettings(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u@h/db", "SECRET_KEY": goodSecret}
	cases := []struct {
		name    string
		env     map[string]string
		needs   []Requirement
		wantErr string // substring of the one line naming the problem; "" means valid
	}{
		{"valid", nil, []Requirement{NeedDatabase, NeedSecret}, ""},
		{"missing DATABASE_URL", map[string]string{"DATABASE_URL": ""}, []Requirement{NeedDatabase}, "DATABASE_URL: required"},
		{"missing SECRET_KEY", map[string]string{"SECRET_KEY": ""}, []Requirement{NeedSecret}, "SECRET_KEY: required"},
		{"short SECRET_KEY", map[string]string{"SECRET_KEY": "12345"}, []Requirement{NeedSecret}, "SECRET_KEY: must be at least 32 bytes"},
		{"placeholder SECRET_KEY", map[string]string{"SECRET_KEY": "changeme"}, []Requirement{NeedSecret}, "SECRET_KEY: is a known placeholder"},
		{"example SECRET_KEY", map[string]string{"SECRET_KEY": ExampleSecret}, []Requirement{NeedSecret}, "SECRET_KEY: is a known placeholder"},
		{"short secret allowed in development", map[string]string{"SECRET_KEY": "dev", "APP_ENV": "development"}, []Requirement{NeedSecret}, ""},
		{"pool size not a number", map[string]string{"DATABASE_POOL_SIZE": "many"}, nil, "DATABASE_POOL_SIZE: \"many\" is not a whole number"},
		{"pool size zero", map[string]string{"DATABASE_POOL_SIZE": "0"}, nil, "DATABASE_POOL_SIZE: 0 is out of range"},
		{"negative overflow", map[string]string{"DATABASE_MAX_OVERFLOW": "-1"}, nil, "DATABASE_MAX_OVERFLOW: -1 is out of range"},
		{"bad pool timeout", map[string]string{"DATABASE_POOL_TIMEOUT": "soon"}, nil, "DATABASE_POOL_TIMEOUT"},
		{"bad algorithm", map[string]string{"JWT_ALGORITHMS": "HS256,PS256"}, nil, "JWT_ALGORITHMS: \"PS256\""},
		{"RS256 without JWKS_URL", map[string]string{"JWT_ALGORITHMS": "HS256,RS256"}, nil, "JWT_ALGORITHMS: RS256 needs JWKS_URL"},
		{"JWKS only, no SECRET_KEY", map[string]string{"JWT_ALGORITHMS": "EdDSA", "JWKS_URL": "http://auth/jwks.json", "SECRET_KEY": ""}, []Requirement{NeedSecret}, ""},
		{"JWKS and HMAC, no SECRET_KEY", map[string]string{"JWT_ALGORITHMS": "eddsa,HS256", "JWKS_URL": "http://auth/jwks.json", "SECRET_KEY": ""}, []Requirement{NeedSecret}, "SECRET_KEY: required"},
		{"JWKS only, placeholder SECRET_KEY still refused", map[string]string{"JWT_ALGORITHMS": "EdDSA", "JWKS_URL": "http://auth/jwks.json", "SECRET_KEY": "changeme"}, []Requirement{NeedSecret}, "SECRET_KEY: is a known placeholder"},
		{"bad JWKS_URL", map[string]string{"JWKS_URL": "file:///etc/jwks"}, nil, "JWKS_URL"},
		{"short SECRET_KEY_PREVIOUS", map[string]string{"SECRET_KEY_PREVIOUS": "12345"}, []Requirement{NeedSecret}, "SECRET_KEY_PREVIOUS: must be at least 32 bytes"},
		{"placeholder SECRET_KEY_PREVIOUS", map[string]string{"SECRET_KEY_PREVIOUS": "secret"}, []Requirement{NeedSecret}, "SECRET_KEY_PREVIOUS: is a known placeholder"},
		{"both SECRET_KEY and SECRET_KEY_FILE", map[string]string{"SECRET_KEY_FILE": "/nonexistent"}, nil, "SECRET_KEY and SECRET_KEY_FILE are both set"},
		{"both DATABASE_URL and DATABASE_URL_FILE", map[string]string{"DATABASE_URL_FILE": "/nonexistent"}, nil, "DATABASE_URL and DATABASE_URL_FILE are both set"},
		{"unreadable RABBITMQ_URL_FILE", map[string]string{"RABBITMQ_URL_FILE": "/nonexistent/rabbit"}, nil, "RABBITMQ_URL_FILE: cannot read /nonexistent/rabbit"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, nil, "LOG_LEVEL"},
		{"bad listen address", map[string]string{"HTTP_ADDR": "8000"}, nil, "HTTP_ADDR"},
		{"bad proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.1,nonsense"}, nil, "TRUSTED_PROXIES"},
		{"bad auth url", map[string]string{"AUTH_SERVICE_URL": "ftp://x"}, nil, "AUTH_SERVICE_URL"},
		{"rabbit required for consume", nil, []Requirement{NeedRabbitMQ}, "RABBITMQ_URL: required"},
		{"body limit too small", map[string]string{"HTTP_BODY_LIMIT": "10"}, nil, "HTTP_BODY_LIMIT"},
		{"shutdown delay in seconds", map[string]string{"SHUTDOWN_DELAY": "5"}, nil, ""},
		{"shutdown delay not a duration", map[string]string{"SHUTDOWN_DELAY": "a while"}, nil, "SHUTDOWN_DELAY"},
		{"negative shutdown delay", map[string]string{"SHUTDOWN_DELAY": "-1s"}, nil, "SHUTDOWN_DELAY"},
		{"shutdown delay past the stop's 25 s", map[string]string{"SHUTDOWN_DELAY": "21s"}, nil, "SHUTDOWN_DELAY: 21s is out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := Load(Source{Getenv: envOf(env)}, tc.needs...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.TrimSpace(line) == "" {
					t.Fatalf("blank line in error %q", err)
				}
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(Source{Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"pool size", cfg.DatabasePoolSize, 20},
		{"overflow", cfg.DatabaseMaxOverflow, 30},
		{"pool timeout", cfg.DatabasePoolTimeout, 30 * time.Second},
		{"recycle", cfg.DatabasePoolRecycle, time.Hour},
		{"http addr", cfg.HTTPAddr, ":8000"},
		{"consumer addr", cfg.ConsumerHealthAddr, ":8001"},
		{"body limit", cfg.HTTPBodyLimit, 65536},
		{"shutdown delay", cfg.ShutdownDelay, time.Duration(0)},
		{"rate limit", cfg.RateLimitPerMinute, 1200},
		{"subject claim", cfg.JWTSubjectClaim, "sub"},
		{"leeway", cfg.JWTLeeway, 30 * time.Second},
		{"admin scope", cfg.AdminScope, "users:admin"},
		{"auth timeout", cfg.AuthServiceTimeout, 2 * time.Second},
		{"exchange", cfg.RabbitMQExchange, "auth.events"},
		{"queue", cfg.RabbitMQQueue, "user-service.auth-events"},
		{"prefetch", cfg.RabbitMQPrefetch, 100},
		{"log level", cfg.LogLevel, "info"},
		{"app env", cfg.AppEnv, "production"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(cfg.JWTAlgorithms) != 1 || cfg.JWTAlgorithms[0] != "HS256" {
		t.Errorf("algorithms %v", cfg.JWTAlgorithms)
	}
}

func TestPrecedenceFlagsThenEnvThenDotEnv(t *testing.T) {
	dir := t.TempDir()
	dotenv := filepath.Join(dir, ".env")
	if err := os.WriteFile(dotenv, []byte("HTTP_ADDR=:7000\nLOG_LEVEL=debug\nRATE_LIMIT_PER_MINUTE=5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--http-addr", ":9000"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Source{Flags: fs, Getenv: envOf(map[string]string{"HTTP_ADDR": ":8500", "LOG_LEVEL": "warn"}), DotEnv: dotenv})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":9000" || cfg.LogLevel != "warn" || cfg.RateLimitPerMinute != 5 {
		t.Fatalf("precedence broken: addr %s level %s rate %d", cfg.HTTPAddr, cfg.LogLevel, cfg.RateLimitPerMinute)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	cfg, err := Load(Source{Getenv: envOf(map[string]string{"SECRET_KEY": goodSecret})})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{cfg.SecretKey.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
		if strings.Contains(s, goodSecret) {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

// TestSecretsFromFiles: NAME_FILE gives the file's contents, one trailing
// newline removed, for the four settings that may be secrets.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := goodSecret + " \t"
	env := map[string]string{
		"SECRET_KEY_FILE":          write("key", key+"\n"),
		"SECRET_KEY_PREVIOUS_FILE": write("prev", goodSecret+"-previous\n\n"),
		"DATABASE_URL_FILE":        write("db", "postgres://u:p@h/db\r\n"),
		"RABBITMQ_URL_FILE":        write("amqp", "amqp://u:p@h/"),
	}
	cfg, err := Load(Source{Getenv: envOf(env)}, NeedDatabase, NeedSecret, NeedRabbitMQ)
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.SecretKey) != key {
		t.Errorf("SECRET_KEY = %q, want the raw bytes less one newline", string(cfg.SecretKey))
	}
	if string(cfg.SecretKeyPrevious) != goodSecret+"-previous\n" {
		t.Errorf("SECRET_KEY_PREVIOUS = %q, want only one newline removed", string(cfg.SecretKeyPrevious))
	}
	if cfg.DatabaseURL != "postgres://u:p@h/db" || cfg.RabbitMQURL != "amqp://u:p@h" {
		t.Errorf("DATABASE_URL = %q, RABBITMQ_URL = %q", cfg.DatabaseURL, cfg.RabbitMQURL)
	}
	if cfg.SecretKeyFile != env["SECRET_KEY_FILE"] || cfg.SecretKeyPreviousFile != env["SECRET_KEY_PREVIOUS_FILE"] {
		t.Errorf("watched files = %q, %q", cfg.SecretKeyFile, cfg.SecretKeyPreviousFile)
	}

	// A flag and an environment variable are "both set" too; the file's key is checked like any.
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--secret-key=" + goodSecret}); err != nil {
		t.Fatal(err)
	}
	_, err = Load(Source{Flags: fs, Getenv: envOf(map[string]string{"SECRET_KEY_FILE": env["SECRET_KEY_FILE"]})})
	if err == nil || !strings.Contains(err.Error(), "SECRET_KEY and SECRET_KEY_FILE are both set") {
		t.Errorf("flag and file: %v", err)
	}
	_, err = Load(Source{Getenv: envOf(map[string]string{"SECRET_KEY_FILE": write("short", "short\n")})}, NeedSecret)
	if err == nil || !strings.Contains(err.Error(), "SECRET_KEY: must be at least 32 bytes") || strings.Contains(err.Error(), "short\n") {
		t.Errorf("short key from a file: %v", err)
	}
}

// FuzzSettingValue gives one setting of CONTRACT §7 an arbitrary value
// (configuration is outside input): never a panic; a refusal is one line
// that names the variable; an accepted duration is not negative.
func FuzzSettingValue(f *testing.F) {
	f.Fuzz(func(t *testing.T, index uint8, raw string) {
		s := settings[int(index)%len(settings)]
		env := map[string]string{"DATABASE_URL": "postgres://localhost/x", "SECRET_KEY": strings.Repeat("k", 32), s.env: raw}
		cfg, err := Load(Source{Getenv: func(k string) string { return env[k] }})
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, s.env) || strings.Contains(msg, "\n") {
				t.Fatalf("%s=%q refused with %q: want one line naming %s", s.env, raw, msg, s.env)
			}
			return
		}
		for _, d := range []time.Duration{cfg.AuthServiceTimeout, cfg.DatabasePoolTimeout, cfg.DatabasePoolRecycle,
			cfg.JWTLeeway, cfg.ShutdownDelay} {
			if d < 0 {
				t.Fatalf("%s=%q gave a negative duration: %+v", s.env, raw, cfg)
			}
		}
	})
}
