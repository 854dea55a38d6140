// Package amqp is the consumer of CONTRACT §4: it declares the topology,
// reads deliveries with manual acknowledgements, hands them to the
// Subscription a module provides (which alone knows the message format),
// and survives broker and database restarts without losing or
// double-acknowledging anything.
//
// The rules it keeps:
//   - A delivery is acknowledged only after its subscription committed it.
//   - A transient failure keeps the delivery in hand and retries it in the
//     process with backoff; it is never nacked back to the queue.
//   - A poison message (unreadable, refused by the subscription, data the
//     database refuses) is rejected without requeue, to the dead-letter queue.
//   - Each connection and channel is a numbered generation of the consumer's
//     own redial loop; a delivery is settled only on the channel that
//     delivered it, and never once that channel is closed (the broker
//     redelivers, and Apply is idempotent).
package amqp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"usersvc/platform/config"
	"usersvc/platform/database"
)

// DrainTimeout is how long a stopping consumer may spend on the messages in hand (CONTRACT §4).
const DrainTimeout = 25 * time.Second

// Backoff is an exponential delay with jitter between Min and Max.
type Backoff struct{ Min, Max time.Duration }

// Delay returns the wait before retry number attempt (0-based): it doubles
// from Min up to Max, and the upper half is random so that many consumers
// do not retry in step.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Min
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Options configure a Consumer; OptionsFromConfig gives the service's.
type Options struct {
	URL      string
	Topology Topology
	// Prefetch bounds the unacknowledged deliveries in hand (RABBITMQ_PREFETCH).
	Prefetch int
	// MaxBatch bounds the deliveries applied in one transaction; it defaults
	// to half the prefetch, so the broker fills the next batch while the
	// current one commits.
	MaxBatch int
	// BatchWait is how long a batch waits for more deliveries after its first.
	BatchWait time.Duration
	// DrainTimeout bounds the work on deliveries in hand after Run's context ends.
	DrainTimeout time.Duration
	// AttemptTimeout bounds one attempt of the subscription's Apply.
	AttemptTimeout time.Duration
	// Retry spaces the attempts of deliveries kept in hand after transient failures.
	Retry Backoff
	// Reconnect spaces connection attempts; it restarts from Min after a session that consumed.
	Reconnect Backoff
	// Heartbeat is the AMQP heartbeat interval: a dead broker is noticed within about two.
	Heartbeat time.Duration
	// Name identifies the connection on the broker and prefixes consumer tags.
	Name string
}

// OptionsFromConfig maps the RABBITMQ_* settings onto Options with the service's defaults.
func OptionsFromConfig(cfg config.Config) Options {
	return Options{
		URL: cfg.RabbitMQURL,
		Topology: Topology{
			Exchange:      cfg.RabbitMQExchange,
			Queue:         cfg.RabbitMQQueue,
			DeliveryLimit: MinDeliveryLimit,
		},
		Prefetch: cfg.RabbitMQPrefetch,
	}
}

func (o Options) withDefaults() Options {
	if o.Prefetch <= 0 {
		o.Prefetch = 100
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = max(1, o.Prefetch/2)
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 5 * time.Millisecond
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DrainTimeout
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 15 * time.Second
	}
	if o.Retry == (Backoff{}) {
		o.Retry = Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	}
	if o.Reconnect == (Backoff{}) {
		o.Reconnect = Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.Name == "" {
		o.Name = "usersvc-consume"
	}
	return o
}

// Consumer reads the queue and applies messages through a Subscription.
type Consumer struct {
	opts    Options
	sub     Subscription
	metrics *Metrics
	log     *zap.Logger

	mu   sync.Mutex
	live *amqp091.Channel // the consuming channel, nil between generations
}

// NewConsumer builds a consumer of sub; it connects only in Run. The queue
// is bound with the subscription's keys unless opts.Topology names its own.
func NewConsumer(opts Options, sub Subscription, m *Metrics, log *zap.Logger) (*Consumer, error) {
	if opts.URL == "" || opts.Topology.Exchange == "" || opts.Topology.Queue == "" {
		return nil, errors.New("amqp: URL, exchange and queue are required")
	}
	if sub.read == nil {
		return nil, errors.New("amqp: a subscription is required (see Subscribe)")
	}
	if len(opts.Topology.BindingKeys) == 0 {
		opts.Topology.BindingKeys = sub.keys
	}
	return &Consumer{opts: opts.withDefaults(), sub: sub, metrics: m, log: log.Named("consumer")}, nil
}

// errNotConsuming is the broker readiness failure.
var errNotConsuming = errors.New("not consuming: the broker connection is down or being re-established")

// Ready reports whether a channel is consuming; it is the /ready broker check.
func (c *Consumer) Ready(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil || c.live.IsClosed() {
		return errNotConsuming
	}
	return nil
}

func (c *Consumer) setLive(ch *amqp091.Channel) {
	c.mu.Lock()
	c.live = ch
	c.mu.Unlock()
	if ch != nil {
		c.metrics.Connected.Set(1)
	} else {
		c.metrics.Connected.Set(0)
	}
}

// Run consumes until ctx ends, reconnecting forever with backoff. When ctx
// ends it stops taking messages, finishes and acknowledges those in hand
// within DrainTimeout, closes the connection (the broker requeues whatever
// was prefetched but not started) and returns nil.
func (c *Consumer) Run(ctx context.Context) error {
	// work outlives ctx by DrainTimeout: the deadline of the deliveries in hand.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	go func() {
		select {
		case <-ctx.Done():
		case <-work.Done():
			return
		}
		c.log.Info("stopping: taking no more messages, finishing those in hand", zap.Duration("within", c.opts.DrainTimeout))
		t := time.NewTimer(c.opts.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			c.log.Warn("drain timeout: leaving the deliveries in hand unacknowledged for the broker to redeliver")
			cancelWork()
		case <-work.Done():
		}
	}()

	failures := 0
	for gen := uint64(1); ; gen++ {
		if gen > 1 {
			c.metrics.Reconnects.Inc()
		}
		consumed, err := c.session(ctx, work, gen)
		if ctx.Err() != nil {
			c.log.Info("consumer stopped", zap.Uint64("generation", gen))
			return nil
		}
		if consumed {
			failures = 0
		}
		delay := c.opts.Reconnect.Delay(failures)
		failures++
		c.log.Warn("broker session ended; reconnecting", zap.Uint64("generation", gen), zap.Error(err), zap.Duration("in", delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			c.log.Info("consumer stopped", zap.Uint64("generation", gen))
			return nil
		case <-t.C:
		}
	}
}

var errChannelLost = errors.New("the channel closed")

// session is one generation: a connection, the topology, one consuming
// channel, and the loop over its deliveries. It returns when the channel
// dies (an error) or after draining once ctx ends (nil). consuming reports
// whether it got as far as consuming.
func (c *Consumer) session(ctx, work context.Context, gen uint64) (consuming bool, err error) {
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName(c.opts.Name)
	conn, err := amqp091.DialConfig(c.opts.URL, amqp091.Config{
		Heartbeat:  c.opts.Heartbeat,
		Properties: props,
		Dial:       amqp091.DefaultDial(10 * time.Second),
	})
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }()
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))

	topo, err := Declare(conn, c.opts.Topology, c.log)
	if err != nil {
		return false, fmt.Errorf("topology: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("channel: %w", err)
	}
	if err := ch.Qos(c.opts.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("qos: %w", err)
	}
	tag := fmt.Sprintf("%s-%d-%d", c.opts.Name, os.Getpid(), gen)
	deliveries, err := ch.Consume(c.opts.Topology.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume: %w", err)
	}
	c.setLive(ch)
	defer c.setLive(nil)
	c.log.Info("consuming", zap.Uint64("generation", gen), zap.String("queue", c.opts.Topology.Queue),
		zap.Bool("quorum", topo.Quorum), zap.Int("prefetch", c.opts.Prefetch), zap.Int("max_batch", c.opts.MaxBatch))

	for {
		batch, open := c.collect(ctx, deliveries)
		if len(batch) > 0 {
			if err := c.process(work, ch, batch); err != nil {
				return true, c.why(err, closed)
			}
		}
		if !open {
			return true, c.why(errChannelLost, closed)
		}
		if ctx.Err() != nil {
			// A channel close waits for the broker's close-ok, which comes
			// after the acknowledgements sent before it have been processed;
			// closing the connection alone can lose the last ones.
			if err := ch.Close(); err != nil {
				c.log.Warn("closing the channel", zap.Error(err))
			}
			return true, nil
		}
	}
}

// why prefers the broker's reason for a closed connection to our own error.
func (c *Consumer) why(err error, closed <-chan *amqp091.Error) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			return fmt.Errorf("%w: %w", err, reason)
		}
	default:
	}
	return err
}

// inbound is a delivery with the time it was taken and, once read, its item.
type inbound struct {
	d    amqp091.Delivery
	at   time.Time
	item item
}

// collect waits for a delivery, then gathers more for up to BatchWait or
// MaxBatch. It takes nothing once ctx ends. open is false when the channel
// closed; the deliveries gathered from it are then dropped, unsettled, for
// the broker to redeliver.
func (c *Consumer) collect(ctx context.Context, deliveries <-chan amqp091.Delivery) (batch []inbound, open bool) {
	if ctx.Err() != nil { // select picks at random when both are ready
		return nil, true
	}
	select {
	case <-ctx.Done():
		return nil, true
	case d, ok := <-deliveries:
		if !ok {
			return nil, false
		}
		batch = append(batch, inbound{d: d, at: time.Now()})
	}
	if c.opts.MaxBatch == 1 {
		return batch, true
	}
	timer := time.NewTimer(c.opts.BatchWait)
	defer timer.Stop()
	for len(batch) < c.opts.MaxBatch {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return nil, false
			}
			batch = append(batch, inbound{d: d, at: time.Now()})
		case <-timer.C:
			return batch, true
		case <-ctx.Done():
			return batch, true // already in hand: finished, not dropped
		}
	}
	return batch, true
}

// process reads and applies a batch. It returns an error only when the
// deliveries can no longer be settled (channel lost, or the drain deadline).
func (c *Consumer) process(work context.Context, ch *amqp091.Channel, batch []inbound) error {
	c.metrics.BatchSize.Observe(float64(len(batch)))
	todo := batch[:0:0]
	for _, in := range batch {
		var err error
		in.item, err = c.sub.read(message(in.d))
		switch {
		case errors.Is(err, ErrIgnore):
			err = c.ack(in, typeUnknown, outcomeIgnored)
		case err != nil:
			err = c.reject(in, readReason(err), err)
		default:
			todo = append(todo, in)
		}
		if err != nil {
			return err
		}
	}
	if len(todo) == 0 {
		return nil
	}
	return c.apply(work, ch, todo)
}

func message(d amqp091.Delivery) Message {
	return Message{Body: d.Body, Type: d.Type, RoutingKey: d.RoutingKey, MessageID: d.MessageId, Redelivered: d.Redelivered}
}

// apply applies the batch in one go; if one item is poison it falls back
// to one item at a time, so only that one is dead-lettered.
func (c *Consumer) apply(work context.Context, ch *amqp091.Channel, items []inbound) error {
	err := c.attempt(work, ch, items)
	switch {
	case err == nil:
		return c.ackAll(items)
	case !isPoison(err):
		return err
	case len(items) == 1:
		return c.reject(items[0], applyReason(err), err)
	}
	var applied []inbound
	for i, in := range items {
		err := c.attempt(work, ch, items[i:i+1])
		switch {
		case err == nil:
			applied = append(applied, in)
		case isPoison(err):
			err = c.reject(in, applyReason(err), err)
		}
		if err != nil {
			return err
		}
	}
	if len(applied) == 0 {
		return nil
	}
	return c.ackAll(applied)
}

// attempt applies items until they commit, turn out poison, the channel
// that delivered them closes, or the drain deadline passes. Transient
// failures (database down, timeouts, anything not poison) are retried here,
// with the deliveries kept in hand: never nacked, never requeued.
func (c *Consumer) attempt(work context.Context, ch *amqp091.Channel, items []inbound) error {
	if len(items) == 0 {
		return nil
	}
	values := make([]any, len(items))
	for i, in := range items {
		values[i] = in.item.value
	}
	for n := 0; ; n++ {
		ctx, cancel := context.WithTimeout(work, c.opts.AttemptTimeout)
		err := c.sub.apply(ctx, values)
		cancel()
		if err == nil || isPoison(err) {
			if err == nil && n > 0 {
				c.log.Info("events applied after retrying", zap.Int("events", len(items)), zap.Int("attempts", n+1))
			}
			return err
		}
		if work.Err() != nil {
			return work.Err()
		}
		if ch.IsClosed() {
			return errChannelLost
		}
		delay := c.opts.Retry.Delay(n)
		c.metrics.Retries.Inc()
		if n == 0 || n%20 == 0 {
			c.log.Warn("transient failure; keeping the deliveries in hand and retrying",
				zap.Int("events", len(items)), zap.String("first_event_id", items[0].item.id), zap.Int("attempt", n+1),
				zap.Bool("database_unavailable", database.IsUnavailable(err)), zap.Duration("in", delay), zap.Error(err))
		}
		t := time.NewTimer(delay)
		select {
		case <-work.Done():
			t.Stop()
			return work.Err()
		case <-t.C:
		}
	}
}

// ack settles a delivery on the channel that delivered it. A failure means
// that channel is gone: the broker redelivers, which is harmless.
func (c *Consumer) ack(in inbound, typ, outcome string) error {
	if err := in.d.Ack(false); err != nil {
		c.log.Warn("acknowledgement lost with its channel; the broker will redeliver",
			zap.Uint64("delivery_tag", in.d.DeliveryTag), zap.String("event_id", in.item.id), zap.Error(err))
		return errChannelLost
	}
	c.metrics.Consumed.WithLabelValues(typ, outcome).Inc()
	c.metrics.Duration.WithLabelValues(typ).Observe(time.Since(in.at).Seconds())
	return nil
}

// ackAll settles a whole applied batch with one multiple acknowledgement
// of its last delivery: every delivery before it on this channel is either
// in the batch or already settled, as batches are settled one after the
// other (rejected ones included, so they are not covered twice). One frame
// instead of one per message also matters on quorum queues: with one ack per
// message, RabbitMQ 3.10 sometimes did not apply the last few dozen acks
// sent just before a graceful channel close (the SIGTERM test caught it).
func (c *Consumer) ackAll(items []inbound) error {
	last := items[len(items)-1]
	if err := last.d.Ack(true); err != nil {
		c.log.Warn("acknowledgement lost with its channel; the broker will redeliver",
			zap.Uint64("delivery_tag", last.d.DeliveryTag), zap.Int("events", len(items)), zap.Error(err))
		return errChannelLost
	}
	for _, in := range items {
		typ := in.item.label()
		c.metrics.Consumed.WithLabelValues(typ, outcomeApplied).Inc()
		c.metrics.Duration.WithLabelValues(typ).Observe(time.Since(in.at).Seconds())
	}
	return nil
}

// reject dead-letters a poison message (Reject without requeue).
func (c *Consumer) reject(in inbound, reason string, cause error) error {
	typ := in.item.label()
	if err := in.d.Reject(false); err != nil {
		c.log.Warn("rejection lost with its channel; the broker will redeliver",
			zap.Uint64("delivery_tag", in.d.DeliveryTag), zap.Error(err))
		return errChannelLost
	}
	// The body is never logged (it carries email addresses); the reason and ids are enough.
	c.log.Warn("poison message dead-lettered", zap.String("reason", reason), zap.String("type", typ),
		zap.String("event_id", in.item.id), zap.String("message_id", in.d.MessageId),
		zap.String("routing_key", in.d.RoutingKey), zap.Bool("redelivered", in.d.Redelivered), zap.Error(cause))
	c.metrics.DeadLettered.WithLabelValues(reason).Inc()
	c.metrics.Consumed.WithLabelValues(typ, outcomeDeadLettered).Inc()
	c.metrics.Duration.WithLabelValues(typ).Observe(time.Since(in.at).Seconds())
	return nil
}
