package metrics

import "github.com/prometheus/client_golang/prometheus"

// JWT counts verified tokens by the key that verified them, so operators see
// when a key being rotated out is no longer used.
type JWT struct {
	byKey map[string]prometheus.Counter // resolved once; read-only after NewJWT
}

// JWTKeys are the values of the key label: SECRET_KEY, SECRET_KEY_PREVIOUS, the JWK Set.
var JWTKeys = []string{"current", "previous", "jwks"}

// NewJWT registers usersvc_jwt_verified_total{key}, every label at 0 from the
// start: a previous key's counter that stays flat is the signal to drop it.
func NewJWT(r *prometheus.Registry) *JWT {
	verified := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersvc_jwt_verified_total", Help: "Valid bearer tokens by the key that verified them (current, previous, jwks).",
	}, []string{"key"})
	j := &JWT{byKey: make(map[string]prometheus.Counter, len(JWTKeys))}
	for _, k := range JWTKeys {
		j.byKey[k] = verified.WithLabelValues(k)
	}
	r.MustRegister(verified)
	return j
}

// Verified counts one token verified by key (one of JWTKeys).
func (j *JWT) Verified(key string) {
	if c, ok := j.byKey[key]; ok {
		c.Inc()
	}
}
