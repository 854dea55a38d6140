package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// errNotConfirmed: the broker refused the message (nack) or lost it.
var errNotConfirmed = errors.New("amqp: the broker did not confirm the message")

// brokerPublisher publishes to one exchange with publisher confirms, on a
// connection it redials when lost. One publish at a time; safe for
// concurrent use. It is meant for low volumes (the development
// auth-service); Publish returns only once the broker has the message.
type brokerPublisher struct {
	url      string
	exchange string
	log      *zap.Logger

	mu   sync.Mutex
	conn *amqp091.Connection
	ch   *amqp091.Channel
}

// newBrokerPublisher connects lazily, on the first Publish.
func newBrokerPublisher(url, exchange string, log *zap.Logger) *brokerPublisher {
	return &brokerPublisher{url: url, exchange: exchange, log: log}
}

// Publish sends msg with routing key key and waits for the broker's
// confirmation. A message no queue is bound for is logged (mandatory flag).
func (p *brokerPublisher) Publish(ctx context.Context, key string, msg amqp091.Publishing) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last error
	for attempt := 0; attempt < 2; attempt++ { // a second try on a fresh connection
		if err := p.ensure(); err != nil {
			return err
		}
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, key, true, false, msg)
		if err != nil {
			last = err
			p.reset()
			continue
		}
		ok, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			p.reset() // the confirmation may still come; this channel's sequence is no longer ours to read
			return err
		case ok:
			return nil
		case p.ch.IsClosed():
			last = errNotConfirmed
			p.reset()
			continue
		}
		return errNotConfirmed
	}
	return fmt.Errorf("amqp: publish: %w", last)
}

func (p *brokerPublisher) ensure() error {
	if p.ch != nil && !p.ch.IsClosed() {
		return nil
	}
	p.reset()
	conn, err := amqp091.DialConfig(p.url, amqp091.Config{Heartbeat: 10 * time.Second, Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		return fmt.Errorf("amqp: dial: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err == nil {
		err = ch.ExchangeDeclare(p.exchange, amqp091.ExchangeTopic, true, false, false, false, nil)
	}
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("amqp: publisher channel: %w", err)
	}
	returns := ch.NotifyReturn(make(chan amqp091.Return, 16))
	go func() {
		for r := range returns {
			p.log.Warn("event published but no queue is bound for it (is the consumer's topology declared?)",
				zap.String("exchange", r.Exchange), zap.String("routing_key", r.RoutingKey), zap.String("message_id", r.MessageId))
		}
	}()
	p.conn, p.ch = conn, ch
	return nil
}

func (p *brokerPublisher) reset() {
	if p.conn != nil {
		_ = p.conn.CloseDeadline(time.Now().Add(2 * time.Second))
	}
	p.conn, p.ch = nil, nil
}

// Close closes the connection.
func (p *brokerPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset()
	return nil
}
