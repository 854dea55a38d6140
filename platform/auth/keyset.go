package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults of KeySetConfig (CONTRACT §1).
const (
	DefaultRefreshInterval    = 10 * time.Minute
	DefaultUnknownKIDInterval = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
)

// maxKeySetBytes bounds what a misbehaving endpoint can make us read.
const maxKeySetBytes = 1 << 20

// KeySetConfig configures a KeySet.
type KeySetConfig struct {
	// URL is the auth-service's JWK Set (RFC 7517). Required.
	URL string
	// Client fetches the set; nil means a plain client (FetchTimeout bounds each fetch).
	Client *http.Client
	// RefreshInterval is how often the set is fetched anyway; 0 means 10 min.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by an
	// unknown kid; 0 means 30 s.
	UnknownKIDInterval time.Duration
	// FetchTimeout bounds one fetch; 0 means 5 s.
	FetchTimeout time.Duration
	// OnFetch, when set, learns the outcome of every fetch (nil: a good set of
	// n usable keys). It must not block; the server logs with it.
	OnFetch func(n int, err error)

	now func() time.Time // tests move the clock of the unknown-kid gate
}

// KeySet holds the last good JWK Set fetched from a URL and hands out a key
// only for the algorithm it is pinned to. Build it with NewKeySet, run it
// with Start and Stop; it is safe for concurrent use.
//
// Keys are parsed by MicahParks/jwkset and handed to golang-jwt through
// MicahParks/keyfunc. Their own HTTP storage is not used: its unknown-kid
// refresh is a rate limiter each waiting request passes on its own (so they
// do not share one fetch), its refresh goroutine cannot be waited for on
// stop, and it does not say whether the last fetch failed (for /ready).
type KeySet struct {
	cfg    KeySetConfig
	client *http.Client

	set     atomic.Pointer[keySnapshot] // nil until the first good fetch
	healthy atomic.Bool                 // the last fetch succeeded

	mu          sync.Mutex
	inflight    chan struct{} // closed when the fetch under way ends
	lastUnknown time.Time     // start of the last fetch an unknown kid caused

	ctx    context.Context // ends with Stop: aborts fetches under way
	cancel context.CancelFunc
	done   chan struct{} // closed when the refresh loop has returned
}

// keySnapshot is one fetched set: immutable once published.
type keySnapshot struct {
	keyfunc keyfunc.Keyfunc
	pinned  map[string]string // kid → the algorithm the key may verify ("" for none)
}

// NewKeySet checks cfg and builds a KeySet; nothing is fetched before Start.
func NewKeySet(cfg KeySetConfig) (*KeySet, error) {
	if cfg.URL == "" {
		return nil, errors.New("auth: the JWKS URL is empty")
	}
	cfg.RefreshInterval = orDefault(cfg.RefreshInterval, DefaultRefreshInterval)
	cfg.UnknownKIDInterval = orDefault(cfg.UnknownKIDInterval, DefaultUnknownKIDInterval)
	cfg.FetchTimeout = orDefault(cfg.FetchTimeout, DefaultFetchTimeout)
	if cfg.now == nil {
		cfg.now = time.Now
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &KeySet{cfg: cfg, client: client, ctx: ctx, cancel: cancel}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Start begins the first fetch and the periodic refresh, and returns at once:
// an unreachable endpoint must not keep the service from starting. Tokens
// that arrive before the first fetch ends wait for it.
func (k *KeySet) Start() {
	k.mu.Lock()
	ch := make(chan struct{})
	k.inflight = ch
	k.mu.Unlock()
	k.done = make(chan struct{})
	go k.loop(ch)
}

// Stop ends the refresh loop and any fetch under way, and waits for the loop.
func (k *KeySet) Stop() {
	k.cancel()
	if k.done != nil {
		<-k.done
	}
}

func (k *KeySet) loop(first chan struct{}) {
	defer close(k.done)
	k.runFetch(first)
	t := time.NewTicker(k.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
			if ch, leader := k.join(false); leader {
				k.runFetch(ch)
			} else if ch != nil {
				<-ch
			}
		}
	}
}

// Healthy reports whether a set is in hand and the last fetch succeeded.
func (k *KeySet) Healthy() bool { return k.set.Load() != nil && k.healthy.Load() }

// join returns the fetch to wait for. When none is under way it starts one
// (leader: the caller must run it) unless unknown is set and the unknown-kid
// gate is closed; then it returns nil.
func (k *KeySet) join(unknown bool) (ch chan struct{}, leader bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.inflight != nil {
		return k.inflight, false
	}
	if unknown {
		now := k.cfg.now()
		if !k.lastUnknown.IsZero() && now.Sub(k.lastUnknown) < k.cfg.UnknownKIDInterval {
			return nil, false
		}
		k.lastUnknown = now
	}
	k.inflight = make(chan struct{})
	return k.inflight, true
}

// runFetch fetches the set, publishes it if good, and wakes the waiters.
func (k *KeySet) runFetch(ch chan struct{}) {
	n, err := k.fetch()
	if err == nil {
		k.healthy.Store(true)
	} else if k.ctx.Err() == nil {
		k.healthy.Store(false) // the last good set, if any, stays
	}
	if k.cfg.OnFetch != nil && k.ctx.Err() == nil {
		k.cfg.OnFetch(n, err)
	}
	k.mu.Lock()
	k.inflight = nil
	k.mu.Unlock()
	close(ch)
}

func (k *KeySet) fetch() (int, error) {
	ctx, cancel := context.WithTimeout(k.ctx, k.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.cfg.URL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("fetching the JWKS: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1))
	if err != nil {
		return 0, fmt.Errorf("reading the JWKS: %w", err)
	}
	if len(body) > maxKeySetBytes {
		return 0, errors.New("reading the JWKS: larger than 1 MiB")
	}
	snap, err := parseKeySet(body)
	if err != nil {
		return 0, err
	}
	k.set.Store(snap)
	return snap.usable(), nil
}

// parseKeySet reads a JWK Set. A key that cannot be read, has no kid or is
// not for signatures is skipped, so one odd key does not hide the others.
func parseKeySet(body []byte) (*keySnapshot, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("reading the JWKS: not a JSON JWK Set")
	}
	if doc.Keys == nil {
		return nil, errors.New(`reading the JWKS: no "keys" member`)
	}
	store := jwkset.NewMemoryStorage()
	pinned := make(map[string]string, len(doc.Keys))
	for _, raw := range doc.Keys {
		jwk, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		m := jwk.Marshal()
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) {
			continue
		}
		if _, dup := pinned[m.KID]; dup {
			pinned[m.KID] = "" // two keys, one kid: neither can be trusted to be "the" key
			continue
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			continue
		}
		pinned[m.KID] = pinnedAlgorithm(m, jwk.Key())
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: store})
	if err != nil {
		return nil, err
	}
	return &keySnapshot{keyfunc: kf, pinned: pinned}, nil
}

func (s *keySnapshot) usable() int {
	n := 0
	for _, alg := range s.pinned {
		if alg != "" {
			n++
		}
	}
	return n
}

// pinnedAlgorithm is the one algorithm a key may verify: its "alg" when
// given, else the one its kty/crv implies; "" when that is none we verify or
// when "alg" and the key's type disagree.
func pinnedAlgorithm(m jwkset.JWKMarshal, key any) string {
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public() // a set should not carry private keys; never use them as such
	}
	implied := ""
	switch pub := key.(type) {
	case *rsa.PublicKey:
		implied = "RS256"
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P256() {
			implied = "ES256"
		}
	case ed25519.PublicKey:
		implied = "EdDSA"
	}
	if m.ALG != "" && m.ALG.String() != implied {
		return ""
	}
	return implied
}

// key returns the public key named by the token's kid, if it is pinned to
// the token's algorithm. An unknown kid waits for a fetch (at most one per
// UnknownKIDInterval, shared by everyone waiting) and then looks again.
func (k *KeySet) key(t *jwt.Token) (any, error) {
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errMissingKeyID
	}
	alg, known := k.lookup(kid)
	if !known {
		k.refreshForUnknown()
		if alg, known = k.lookup(kid); !known {
			return nil, errUnknownKey
		}
	}
	if alg == "" || alg != t.Method.Alg() {
		return nil, errAlgorithm
	}
	key, err := k.set.Load().keyfunc.Keyfunc(t)
	if err != nil {
		return nil, errAlgorithm
	}
	return key, nil
}

func (k *KeySet) lookup(kid string) (alg string, known bool) {
	snap := k.set.Load()
	if snap == nil {
		return "", false
	}
	alg, known = snap.pinned[kid]
	return alg, known
}

// names reports whether kid names a key of the set in hand (no fetch).
func (k *KeySet) names(kid string) bool {
	_, known := k.lookup(kid)
	return known
}

func (k *KeySet) refreshForUnknown() {
	ch, leader := k.join(true)
	switch {
	case leader:
		k.runFetch(ch)
	case ch != nil:
		select {
		case <-ch:
		case <-k.ctx.Done():
		}
	}
}
