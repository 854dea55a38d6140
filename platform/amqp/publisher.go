package amqp

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Outgoing is one message to publish, persistent and as JSON.
type Outgoing struct {
	Key       string
	Body      []byte
	MessageID string
	Type      string
	Timestamp time.Time
}

// Publisher publishes batches to one exchange with publisher confirms and
// the mandatory flag: a message counts as published only once the broker
// has acknowledged it and routed it somewhere. It redials after a lost
// connection, on the next batch. Not safe for concurrent use.
type Publisher struct {
	url, exchange string
	conn          *amqp091.Connection
	ch            *amqp091.Channel

	returns chan amqp091.Return
}

// MaxBatch is the most messages one Publish takes: the returns of a batch
// must fit the buffer the client fills before it dispatches their acks.
const MaxBatch = 1000

// NewPublisher publishes to exchange on the broker at url; it connects lazily.
func NewPublisher(url, exchange string) *Publisher {
	return &Publisher{url: url, exchange: exchange}
}

// DeclareExchange declares the publisher's durable topic exchange.
func (p *Publisher) DeclareExchange() error {
	if err := p.connect(); err != nil {
		return err
	}
	return onChannel(p.conn, func(ch *amqp091.Channel) error {
		return ch.ExchangeDeclare(p.exchange, amqp091.ExchangeTopic, true, false, false, false, nil)
	})
}

// ErrNotRouted is a message the broker returned: no queue is bound for it.
var ErrNotRouted = errors.New("the broker returned the message: no queue is bound for its routing key")

// Publish sends msgs in order, all before waiting for any confirm, then
// waits for their confirms. It returns how many leading messages the broker
// took (acknowledged and not returned) and how many were handed to it; the
// error says why message confirmed was not taken. Those handed over but not
// taken may still have reached a queue: publishing them again may duplicate them.
func (p *Publisher) Publish(ctx context.Context, msgs []Outgoing) (confirmed, handed int, err error) {
	if len(msgs) > MaxBatch {
		msgs = msgs[:MaxBatch]
	}
	if err := p.connect(); err != nil {
		return 0, 0, err
	}
	confirms := make([]*amqp091.DeferredConfirmation, 0, len(msgs))
	var sendErr error
	for _, m := range msgs {
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, m.Key, true, false, amqp091.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp091.Persistent,
			MessageId:    m.MessageID,
			Type:         m.Type,
			Timestamp:    m.Timestamp,
			Body:         m.Body,
		})
		if err != nil {
			sendErr = err
			break
		}
		confirms = append(confirms, dc)
	}
	handed = len(confirms)
	acked := make([]bool, len(confirms))
	for i, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			n := firstRefused(acked[:i], msgs, p.drainReturns())
			p.Close()
			return n, handed, err
		}
		acked[i] = ok
	}
	returned := p.drainReturns()
	n := firstRefused(acked, msgs, returned)
	if n < len(confirms) {
		if returned[msgs[n].MessageID] {
			return n, handed, fmt.Errorf("%w (%s)", ErrNotRouted, msgs[n].Key)
		}
		return n, handed, fmt.Errorf("the broker refused message %s (nack)", msgs[n].MessageID)
	}
	if sendErr != nil {
		p.Close()
		return len(confirms), handed, sendErr
	}
	return len(confirms), handed, nil
}

// firstRefused is the index of the first message not acknowledged or returned.
func firstRefused(acked []bool, msgs []Outgoing, returned map[string]bool) int {
	for i, ok := range acked {
		if !ok || returned[msgs[i].MessageID] {
			return i
		}
	}
	return len(acked)
}

// drainReturns collects the returns already handed over: those of every
// acknowledged message, since the client hands a return over before it
// dispatches the message's ack.
func (p *Publisher) drainReturns() map[string]bool {
	var out map[string]bool
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				return out
			}
			if out == nil {
				out = map[string]bool{}
			}
			out[r.MessageId] = true
		default:
			return out
		}
	}
}

// connect dials and opens a confirming channel unless one is open.
func (p *Publisher) connect() error {
	if p.ch != nil && !p.ch.IsClosed() && !p.conn.IsClosed() {
		return nil
	}
	p.Close()
	conn, err := amqp091.DialConfig(p.url, amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = conn.Close()
		return err
	}
	// The broker sends basic.return before the message's ack; the buffer
	// holds a whole batch's, so the client never blocks handing them over.
	p.returns = ch.NotifyReturn(make(chan amqp091.Return, MaxBatch))
	p.conn, p.ch = conn, ch
	return nil
}

// Connected reports whether the publisher holds an open channel.
func (p *Publisher) Connected() bool {
	return p.ch != nil && !p.ch.IsClosed()
}

// Close closes the connection, if any.
func (p *Publisher) Close() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}
