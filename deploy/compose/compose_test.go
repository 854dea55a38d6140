// Package compose checks docker-compose.yml and the proxy in front of its
// replicas, offline: the file parses, the services exist, and the replica
// story holds together (no fixed host port on a scaled service, a proxy that
// probes /ready, grace periods above the shutdown delay).
package compose

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

type service struct {
	Image           string            `json:"image"`
	Ports           []string          `json:"ports"`
	Expose          []string          `json:"expose"`
	Environment     map[string]string `json:"environment"`
	Volumes         []string          `json:"volumes"`
	StopGracePeriod string            `json:"stop_grace_period"`
}

type composeFile struct {
	Services map[string]service `json:"services"`
}

const root = "../.."

func load(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

func TestServicesExist(t *testing.T) {
	f := load(t)
	for _, name := range []string{"postgres", "rabbitmq", "migrate", "auth-service", "user-service", "consumer", "proxy"} {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
}

// TestReplicasCanScale: `--scale user-service=3 --scale consumer=2` must not
// ask two containers for one host port, and the API stays on 8000 through
// the proxy.
func TestReplicasCanScale(t *testing.T) {
	f := load(t)
	api := f.Services["user-service"]
	if len(api.Ports) != 0 {
		t.Errorf("user-service publishes %v: a second replica could not bind it; the proxy publishes the API", api.Ports)
	}
	if !slices.Contains(f.Services["proxy"].Ports, "127.0.0.1:8000:8000") {
		t.Errorf("proxy ports %v, want 127.0.0.1:8000:8000", f.Services["proxy"].Ports)
	}
	for _, p := range f.Services["consumer"].Ports {
		if !regexp.MustCompile(`^127\.0\.0\.1:\d+-\d+:8001$`).MatchString(p) {
			t.Errorf("consumer port %q is not a range: a second replica could not bind it", p)
		}
	}
}

// TestGracePeriods: a stopping replica gets SHUTDOWN_DELAY plus the 25 s
// serve takes at most (CONTRACT §3) before Docker kills it, and the delay
// outlasts the proxy's two failed probes.
func TestGracePeriods(t *testing.T) {
	f := load(t)
	api := f.Services["user-service"]
	delay, err := time.ParseDuration(api.Environment["SHUTDOWN_DELAY"])
	if err != nil || delay <= 0 {
		t.Fatalf("user-service SHUTDOWN_DELAY %q: %v", api.Environment["SHUTDOWN_DELAY"], err)
	}
	for _, name := range []string{"user-service", "consumer"} {
		grace, err := time.ParseDuration(f.Services[name].StopGracePeriod)
		if err != nil || grace <= delay+25*time.Second {
			t.Errorf("%s stop_grace_period %q, want above %s", name, f.Services[name].StopGracePeriod, delay+25*time.Second)
		}
	}
	cfg := haproxyConfig(t, f)
	inter, fall := probeSettings(t, cfg)
	if time.Duration(fall)*inter >= delay {
		t.Errorf("the proxy needs %d × %s to drop a replica, not less than SHUTDOWN_DELAY %s", fall, inter, delay)
	}
}

// TestProxyFollowsReadiness: the proxy balances over user-service on its
// HTTP_ADDR port and probes /ready, never retrying a request.
func TestProxyFollowsReadiness(t *testing.T) {
	f := load(t)
	cfg := haproxyConfig(t, f)
	port := strings.TrimPrefix(f.Services["user-service"].Environment["HTTP_ADDR"], ":")
	for _, want := range []string{
		"server-template replica 1-10 user-service:" + port,
		"option httpchk GET /ready",
		"http-check expect status 200",
		"retries 0",
		"nameserver dns 127.0.0.11:53",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
}

// TestToolsAccept runs the real validators when they are installed.
func TestToolsAccept(t *testing.T) {
	for _, tc := range []struct {
		tool string
		args []string
	}{
		{"docker-compose", []string{"-f", filepath.Join(root, "docker-compose.yml"), "config", "-q"}},
		{"haproxy", []string{"-c", "-q", "-f", "haproxy.cfg"}},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				t.Skipf("%s is not installed", tc.tool)
			}
			if out, err := exec.Command(tc.tool, tc.args...).CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.tool, strings.Join(tc.args, " "), err, out)
			}
		})
	}
}

// haproxyConfig is the file the proxy service mounts as its configuration.
func haproxyConfig(t *testing.T, f composeFile) string {
	t.Helper()
	for _, v := range f.Services["proxy"].Volumes {
		src, dst, ok := strings.Cut(v, ":")
		if ok && strings.HasPrefix(dst, "/usr/local/etc/haproxy/haproxy.cfg") {
			b, err := os.ReadFile(filepath.Join(root, src))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatal("the proxy mounts no haproxy.cfg")
	return ""
}

func probeSettings(t *testing.T, cfg string) (time.Duration, int) {
	t.Helper()
	m := regexp.MustCompile(`default-server inter (\S+) fall (\d+)`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatal("haproxy.cfg: no default-server inter … fall …")
	}
	inter, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	fall, err := strconv.Atoi(m[2])
	if err != nil {
		t.Fatal(err)
	}
	return inter, fall
}
