// Package authclient calls the auth-service for identity data (CONTRACT §5):
// with a short timeout, a circuit breaker so an outage fails fast instead of
// piling up requests, and a short cache of "not found" answers so unknown
// ids cannot be used to flood the auth-service.
package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/modules/authref/userid"
	"usersvc/platform/config"
	"usersvc/platform/logging"
)

// Module provides the *Client.
var Module = fx.Module("authclient", fx.Provide(New))

var (
	// ErrNotFound: the auth-service answered 404 for the id.
	ErrNotFound = errors.New("auth-service: user not found")
	// ErrUnavailable: no usable answer (timeout, network, 5xx, malformed body, breaker open).
	ErrUnavailable = errors.New("auth-service unavailable")
	// ErrRefused: the auth-service answered a 4xx other than 404: it refuses
	// the request itself, and asking again gets the same answer (CONTRACT §5).
	ErrRefused = errors.New("auth-service refused the request")
	// ErrNotConfigured: AUTH_SERVICE_URL is unset.
	ErrNotConfigured = errors.New("auth-service not configured")
)

// User is the auth-service's view of a user.
type User struct {
	ID       string
	Email    *string
	Username *string
}

// NotFoundTTL is how long a 404 is remembered (CONTRACT §3: at most 30 s).
const NotFoundTTL = 30 * time.Second

// maxBody bounds what we read from the auth-service.
const maxBody = 8 << 20

// Client is safe for concurrent use; a nil-URL client answers ErrNotConfigured.
type Client struct {
	base    string
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[[]byte]
	log     *zap.Logger
	now     func() time.Time

	mu       sync.Mutex
	notFound map[string]time.Time // id → expiry
}

// breakerOpenFor is how long the breaker stays open before one probe.
const breakerOpenFor = 10 * time.Second

// New builds the client from AUTH_SERVICE_URL and AUTH_SERVICE_TIMEOUT.
func New(cfg config.Config, log *zap.Logger) *Client {
	return newClient(cfg, log, breakerOpenFor)
}

func newClient(cfg config.Config, log *zap.Logger, openFor time.Duration) *Client {
	c := &Client{
		base:     cfg.AuthServiceURL,
		http:     &http.Client{Timeout: cfg.AuthServiceTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}},
		log:      log,
		now:      time.Now,
		notFound: map[string]time.Time{},
	}
	c.breaker = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "auth-service",
		MaxRequests: 1,                // one probe when half-open
		Interval:    30 * time.Second, // counts reset while closed
		Timeout:     openFor,          // open this long before probing
		ReadyToTrip: func(cnt gobreaker.Counts) bool { return cnt.ConsecutiveFailures >= 5 },
		// A 404 or a refusal is an answer, not a failure of the auth-service.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrRefused) },
	})
	return c
}

// Enabled reports whether AUTH_SERVICE_URL is set.
func (c *Client) Enabled() bool { return c != nil && c.base != "" }

// BreakerState is "closed", "half-open" or "open" (for metrics and tests).
func (c *Client) BreakerState() string { return c.breaker.State().String() }

// Get fetches one user: ErrNotFound on 404 (remembered for NotFoundTTL),
// ErrUnavailable when the auth-service cannot answer.
func (c *Client) Get(ctx context.Context, id string) (User, error) {
	if !c.Enabled() {
		return User{}, ErrNotConfigured
	}
	if c.recentlyNotFound(id) {
		return User{}, ErrNotFound
	}
	body, err := c.call(ctx, "/users/"+url.PathEscape(id))
	if errors.Is(err, ErrNotFound) {
		c.rememberNotFound(id)
	}
	if err != nil {
		return User{}, err
	}
	u, err := decodeUser(body)
	if err != nil {
		return User{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if u.ID != id {
		return User{}, fmt.Errorf("%w: answered for id %q instead of %q", ErrUnavailable, u.ID, id)
	}
	return u, nil
}

// List fetches one page of users, in the auth-service's order; ErrRefused
// when the auth-service refuses the request (a page too large, say).
func (c *Client) List(ctx context.Context, limit, offset int) ([]User, error) {
	if !c.Enabled() {
		return nil, ErrNotConfigured
	}
	body, err := c.call(ctx, "/users?limit="+strconv.Itoa(limit)+"&offset="+strconv.Itoa(offset))
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("%w: the user list is not a JSON array", ErrUnavailable)
	}
	users := make([]User, 0, len(raws))
	for i, raw := range raws {
		u, err := decodeUser(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: user %d of the page: %v", ErrUnavailable, offset+i, err)
		}
		users = append(users, u)
	}
	return users, nil
}

// call GETs path through the breaker; the body comes back only on 200.
func (c *Client) call(ctx context.Context, path string) ([]byte, error) {
	before := c.breaker.State()
	defer func() {
		// Logged here rather than in the breaker's callback, which has no
		// request context: the line carries the request id (CONTRACT §8).
		if after := c.breaker.State(); after != before {
			logging.For(ctx, c.log).Warn("auth-service circuit breaker changed state",
				zap.String("from", before.String()), zap.String("to", after.String()))
		}
	}()
	body, err := c.breaker.Execute(func() ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return nil, ErrNotFound
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			return nil, fmt.Errorf("%w: status %d", ErrRefused, resp.StatusCode)
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return data, nil
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, fmt.Errorf("%w: circuit breaker open", ErrUnavailable)
	}
	return body, err
}

type wireUser struct {
	ID       json.RawMessage `json:"id"`
	Email    *string         `json:"email"`
	Username *string         `json:"username"`
}

// decodeUser reads {"id", "email", "username"}; a numeric id becomes its decimal string.
func decodeUser(raw []byte) (User, error) {
	var w wireUser
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return User{}, errors.New("the user is not a JSON object")
	}
	var idValue any
	idDec := json.NewDecoder(bytes.NewReader(w.ID))
	idDec.UseNumber()
	if len(w.ID) == 0 || idDec.Decode(&idValue) != nil {
		return User{}, errors.New("the user has no id")
	}
	id, err := userid.FromJSON(idValue)
	if err != nil {
		return User{}, errors.New("the user's id is invalid")
	}
	return User{ID: id, Email: w.Email, Username: w.Username}, nil
}

func (c *Client) recentlyNotFound(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.notFound[id]
	if ok && c.now().After(exp) {
		delete(c.notFound, id)
		return false
	}
	return ok
}

// maxNotFound bounds the cache; when full it is cleared, which only costs a few extra calls.
const maxNotFound = 100_000

func (c *Client) rememberNotFound(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.notFound) >= maxNotFound {
		clear(c.notFound)
	}
	c.notFound[strings.Clone(id)] = c.now().Add(NotFoundTTL) // the caller's id may live in a reused request buffer
}

// Forget drops a cached 404 (a UserCreated event makes it stale).
func (c *Client) Forget(id string) {
	c.mu.Lock()
	delete(c.notFound, id)
	c.mu.Unlock()
}
