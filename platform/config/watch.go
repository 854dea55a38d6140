package config

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultWatchInterval is how often a key file is read again: a rotated key
// is in effect well within the 30 s CONTRACT §7 allows.
const DefaultWatchInterval = 10 * time.Second

// SecretWatch keeps a key given as a file (SECRET_KEY_FILE…) current. It
// polls the file, which follows a Kubernetes secret volume's atomic swap of
// its `..data` symlink as well as an edit in place, and hands every new,
// valid value to Apply. A new value that breaks the SECRET_KEY rules is
// refused with a log line (never the key) and the last good one stays.
type SecretWatch struct {
	Name        string        // the setting, e.g. SECRET_KEY
	Path        string        // the file
	Current     string        // the value in use at start
	Optional    bool          // an empty file means "no key" (SECRET_KEY_PREVIOUS)
	Development bool          // APP_ENV=development relaxes the rules
	Interval    time.Duration // 0 means DefaultWatchInterval
	Apply       func(value string)
	Log         *zap.Logger

	stop chan struct{}
	done sync.WaitGroup
	seen string // the last contents read, good or not: refusals are logged once
}

// Start polls the file until Stop.
func (w *SecretWatch) Start() {
	if w.Interval <= 0 {
		w.Interval = DefaultWatchInterval
	}
	if w.Log == nil {
		w.Log = zap.NewNop()
	}
	w.seen = w.Current
	w.stop = make(chan struct{})
	w.done.Add(1)
	go w.loop()
}

// Stop ends the polling and waits for it.
func (w *SecretWatch) Stop() {
	if w.stop != nil {
		close(w.stop)
		w.done.Wait()
	}
}

func (w *SecretWatch) loop() {
	defer w.done.Done()
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.check()
		}
	}
}

// check reads the file once and applies a new, valid value.
func (w *SecretWatch) check() {
	value, err := ReadSecretFile(w.Path)
	if err != nil {
		// Mid-swap or a mistake: keep the key in use; the next read tells.
		w.Log.Warn(w.Name+"_FILE cannot be read; the key in use stays", zap.Error(err))
		return
	}
	if value == w.seen {
		return
	}
	w.seen = value
	if value == "" && w.Optional {
		w.Apply("")
		w.Log.Info(w.Name + "_FILE is empty: no " + w.Name + " any more")
		return
	}
	if err := CheckSecret(value, w.Development); err != nil {
		w.Log.Error(w.Name+"_FILE holds an invalid key: refused, the last good key stays in use", zap.String("problem", err.Error()))
		return
	}
	w.Apply(value)
	w.Log.Info(w.Name + " rotated: the new key from " + w.Name + "_FILE is in use")
}
