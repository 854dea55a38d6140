package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// k8sVolume lays out a secret volume as the kubelet does: the key file is a
// symlink into ..data, itself a symlink to a timestamped folder, and an
// update swaps ..data atomically (rename of a new symlink over it).
type k8sVolume struct {
	t   *testing.T
	dir string
	gen int
}

func newK8sVolume(t *testing.T, name, value string) (*k8sVolume, string) {
	v := &k8sVolume{t: t, dir: t.TempDir()}
	v.update(name, value)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
		t.Fatal(err)
	}
	return v, filepath.Join(v.dir, name)
}

func (v *k8sVolume) update(name, value string) {
	v.gen++
	ts := filepath.Join(v.dir, "..2026_12_05_"+strings.Repeat("x", v.gen))
	must(v.t, os.Mkdir(ts, 0o755))
	must(v.t, os.WriteFile(filepath.Join(ts, name), []byte(value), 0o400))
	tmp := filepath.Join(v.dir, "..data_tmp")
	must(v.t, os.Symlink(filepath.Base(ts), tmp))
	must(v.t, os.Rename(tmp, filepath.Join(v.dir, "..data")))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretWatchFollowsAtomicSwap(t *testing.T) {
	first, second := goodSecret+"-first", goodSecret+"-second"
	vol, path := newK8sVolume(t, "SECRET_KEY", first+"\n")
	core, logs := observer.New(zap.InfoLevel)
	applied := make(chan string, 10)
	w := &SecretWatch{Name: "SECRET_KEY", Path: path, Current: first, Interval: 5 * time.Millisecond,
		Apply: func(v string) { applied <- v }, Log: zap.New(core)}
	w.Start()
	defer w.Stop()

	vol.update("SECRET_KEY", second+"\n")
	if got := receive(t, applied); got != second {
		t.Fatalf("applied %q, want the rotated key", got)
	}

	// An invalid new key is refused with a log line that never shows it.
	for _, bad := range []string{"too-short-key", "changeme", ""} {
		vol.update("SECRET_KEY", bad+"\n")
		waitLog(t, logs, "invalid key")
		for _, e := range logs.TakeAll() {
			if bad != "" && strings.Contains(e.Message+fmt.Sprint(e.ContextMap()), bad) {
				t.Fatalf("the log shows the refused key: %v", e)
			}
		}
	}
	select {
	case v := <-applied:
		t.Fatalf("an invalid key was applied: %q", v)
	default:
	}

	// The next good key is taken again.
	third := goodSecret + "-third"
	vol.update("SECRET_KEY", third)
	if got := receive(t, applied); got != third {
		t.Fatalf("applied %q", got)
	}
}

func TestSecretWatchPreviousMayBeEmptied(t *testing.T) {
	vol, path := newK8sVolume(t, "SECRET_KEY_PREVIOUS", goodSecret+"\n")
	applied := make(chan string, 10)
	w := &SecretWatch{Name: "SECRET_KEY_PREVIOUS", Path: path, Current: goodSecret, Optional: true, Interval: 5 * time.Millisecond,
		Apply: func(v string) { applied <- v }}
	w.Start()
	defer w.Stop()
	vol.update("SECRET_KEY_PREVIOUS", "")
	if got := receive(t, applied); got != "" {
		t.Fatalf("applied %q, want no previous key", got)
	}
}

func receive(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing applied in 10 s")
		return ""
	}
}

func waitLog(t *testing.T, logs *observer.ObservedLogs, substr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if logs.FilterMessageSnippet(substr).Len() > 0 {
			return
		}
	}
	t.Fatalf("no log line with %q", substr)
}
