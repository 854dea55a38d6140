package auth

import (
	"sync"
	"time"
)

// verifiedCache remembers the tokens a Verifier accepted, so that a client
// sending the same token again costs a map lookup instead of a signature
// check (an EdDSA or ES256 verification costs 5–15 times an HS256 one).
//
// An entry is only as good as what proved it: it holds the HMAC keys and the
// key set that were in use, and a rotated SECRET_KEY, a dropped previous key
// or a new JWKS makes it a miss. It never outlives the token's exp (plus
// leeway) nor cacheTTL, and the cache holds at most cacheSize entries.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]cachedIdentity
}

type cachedIdentity struct {
	id    Identity
	used  string // the key label for usersvc_jwt_verified_total
	until time.Time
	hmac  *hmacKeys
	keys  *keySnapshot
}

const (
	// cacheTTL bounds how long a verification is trusted without checking
	// the signature again.
	cacheTTL = time.Minute
	// cacheSize bounds memory (a token is at most maxTokenLen bytes); a full
	// cache starts over, which only costs the next requests a verification.
	cacheSize = 8192
)

func (c *verifiedCache) get(token string, now time.Time, hmac *hmacKeys, keys *keySnapshot) (cachedIdentity, bool) {
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) || e.hmac != hmac || e.keys != keys {
		return cachedIdentity{}, false
	}
	return e, true
}

func (c *verifiedCache) put(token string, e cachedIdentity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= cacheSize {
		c.entries = make(map[string]cachedIdentity, 256)
	}
	c.entries[token] = e
}
