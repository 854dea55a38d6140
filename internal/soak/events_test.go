package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// authUser is what the confirmed events say about one auth-service user.
type authUser struct {
	username string
	deleted  bool
}

// publisher plays the auth-service: UserCreated, UserUpdated and
// UserDeleted events, each published with a publisher confirm and, until the
// broker confirms it, published again (so the consumer may see it twice, as
// in production). Only a confirmed event enters the ledger.
type publisher struct {
	url, exchange string
	rec           *recorder
	rng           *rand.Rand

	conn *amqp091.Connection
	ch   *amqp091.Channel

	mu       sync.Mutex
	expected map[string]*authUser
	live     []string
	n        int
	clock    time.Time
}

func newPublisher(url string, rec *recorder) *publisher {
	return &publisher{url: url, exchange: "auth.events", rec: rec, rng: rand.New(rand.NewPCG(7, 7)), expected: map[string]*authUser{}}
}

func (p *publisher) loop(ctx context.Context, gate *sync.RWMutex) {
	defer p.close()
	for ctx.Err() == nil {
		gate.RLock()
		p.step(context.WithoutCancel(ctx)) // an event begun is confirmed, even after the end
		gate.RUnlock()
		time.Sleep(time.Duration(20+p.rng.IntN(40)) * time.Millisecond)
	}
}

// step publishes one event: mostly new users, some updates and deletions.
func (p *publisher) step(ctx context.Context) {
	r := p.rng.IntN(100)
	switch {
	case r < 15 && len(p.live) > 0:
		i := p.rng.IntN(len(p.live))
		id := p.live[i]
		if p.publish(ctx, "UserDeleted", id, "") {
			p.live = append(p.live[:i], p.live[i+1:]...)
		}
	case r < 40 && len(p.live) > 0:
		id := p.live[p.rng.IntN(len(p.live))]
		p.n++
		p.publish(ctx, "UserUpdated", id, fmt.Sprintf("%s-v%d", id, p.n))
	default:
		p.n++
		id := fmt.Sprintf("ev-%d", p.n)
		if p.publish(ctx, "UserCreated", id, id+"-v1") {
			p.live = append(p.live, id)
		}
	}
}

// publish sends one event until the broker confirms it (true) or ctx ends.
func (p *publisher) publish(ctx context.Context, typ, id, username string) bool {
	now := time.Now().UTC().Truncate(time.Microsecond)
	if !now.After(p.clock) {
		now = p.clock.Add(time.Microsecond)
	}
	p.clock = now
	data := map[string]any{"id": id}
	if username != "" {
		data["username"] = username
	}
	body, _ := json.Marshal(map[string]any{"event_type": typ, "event_id": fmt.Sprintf("soak-%d-%s", p.n, id),
		"occurred_at": now.Format(time.RFC3339Nano), "data": data})
	keys := map[string]string{"UserCreated": "user.created", "UserUpdated": "user.updated", "UserDeleted": "user.deleted"}
	deadline := time.Now().Add(3 * time.Minute)
	for !p.confirm(ctx, keys[typ], body) {
		if time.Now().After(deadline) {
			p.rec.violate("event never confirmed", "%s %s", typ, id)
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.mu.Lock()
	u := p.expected[id]
	if u == nil {
		u = &authUser{}
		p.expected[id] = u
	}
	if typ == "UserDeleted" {
		u.deleted = true
	} else {
		u.username = username
	}
	p.mu.Unlock()
	p.rec.mu.Lock()
	p.rec.phases[len(p.rec.phases)-1].published++
	p.rec.mu.Unlock()
	return true
}

// confirm publishes body once on a confirming channel (dialled if need be) and waits for the broker's answer.
func (p *publisher) confirm(ctx context.Context, key string, body []byte) bool {
	if p.ch == nil || p.ch.IsClosed() {
		p.close()
		conn, err := amqp091.DialConfig(p.url, amqp091.Config{Dial: amqp091.DefaultDial(2 * time.Second)})
		if err != nil {
			return false
		}
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			_ = conn.Close()
			return false
		}
		p.conn, p.ch = conn, ch
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(wait, p.exchange, key, false, false, amqp091.Publishing{
		ContentType: "application/json", DeliveryMode: amqp091.Persistent, Body: body})
	if err != nil {
		p.close()
		return false
	}
	ok, err := dc.WaitContext(wait)
	if err != nil || !ok {
		p.close()
		return false
	}
	return true
}

func (p *publisher) close() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}

// snapshot is the ledger of confirmed events.
func (p *publisher) snapshot() map[string]authUser {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]authUser, len(p.expected))
	for id, u := range p.expected {
		out[id] = *u
	}
	return out
}

// sentinel publishes one UserCreated on its own connection and returns its id,
// for the harness to time how long the pipeline takes to apply it.
func sentinel(ctx context.Context, url, name string) error {
	p := &publisher{url: url, exchange: "auth.events", rec: nil}
	defer p.close()
	body, _ := json.Marshal(map[string]any{"event_type": "UserCreated", "event_id": name,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano), "data": map[string]any{"id": name, "username": name}})
	for !p.confirm(ctx, "user.created", body) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
