package amqp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// MinDeliveryLimit is the smallest x-delivery-limit the consumer declares:
// the limit only guards against a message that keeps killing the consumer,
// never against an outage (transient failures are retried in hand, and a
// held delivery is not counted).
const MinDeliveryLimit = 20

// Topology is what the consumer declares, idempotently, at every connect.
type Topology struct {
	Exchange      string   // durable topic exchange the publishers publish to
	Queue         string   // durable queue the consumer reads
	BindingKeys   []string // routing keys bound to the queue (the subscription's by default)
	DeliveryLimit int
}

// DeadLetterExchange receives what the queue rejects.
func (t Topology) DeadLetterExchange() string { return t.Queue + ".dlx" }

// DeadLetterQueue keeps dead-lettered messages for an operator.
func (t Topology) DeadLetterQueue() string { return t.Queue + ".dlq" }

// declared reports what Declare ended up with.
type declared struct {
	Quorum bool
	// Existing is set when the queue already existed with other arguments
	// (e.g. a classic queue from an older deployment); it is used as it is.
	Existing bool
}

// Declare declares the exchange, the dead-letter exchange and queue, the
// queue and its bindings. Each step runs on its own short-lived channel, as
// a refused declaration closes the channel it was made on.
func Declare(conn *amqp091.Connection, t Topology, log *zap.Logger) (declared, error) {
	var out declared
	out.Quorum = supportsQuorum(conn)
	if err := onChannel(conn, func(ch *amqp091.Channel) error {
		if err := ch.ExchangeDeclare(t.Exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
			return fmt.Errorf("exchange %s: %w", t.Exchange, err)
		}
		if err := ch.ExchangeDeclare(t.DeadLetterExchange(), amqp091.ExchangeFanout, true, false, false, false, nil); err != nil {
			return fmt.Errorf("exchange %s: %w", t.DeadLetterExchange(), err)
		}
		return nil
	}); err != nil {
		return out, err
	}

	dlqArgs := amqp091.Table{}
	if out.Quorum {
		dlqArgs[amqp091.QueueTypeArg] = amqp091.QueueTypeQuorum
	}
	if _, err := declareQueue(conn, t.DeadLetterQueue(), dlqArgs, log); err != nil {
		return out, err
	}

	args := amqp091.Table{"x-dead-letter-exchange": t.DeadLetterExchange()}
	if out.Quorum {
		args[amqp091.QueueTypeArg] = amqp091.QueueTypeQuorum
		args["x-delivery-limit"] = int32(max(t.DeliveryLimit, MinDeliveryLimit))
		if atLeast(conn, 3, 10) {
			// Dead-letter at least once: a rejected message leaves the queue
			// only once the dead-letter queue has it (needs reject-publish).
			args["x-dead-letter-strategy"] = "at-least-once"
			args["x-overflow"] = "reject-publish"
		}
	}
	existing, err := declareQueue(conn, t.Queue, args, log)
	if err != nil {
		return out, err
	}
	out.Existing = existing

	return out, onChannel(conn, func(ch *amqp091.Channel) error {
		if err := ch.QueueBind(t.DeadLetterQueue(), "", t.DeadLetterExchange(), false, nil); err != nil {
			return fmt.Errorf("bind %s: %w", t.DeadLetterQueue(), err)
		}
		for _, key := range t.BindingKeys {
			if err := ch.QueueBind(t.Queue, key, t.Exchange, false, nil); err != nil {
				return fmt.Errorf("bind %s to %s with %s: %w", t.Queue, t.Exchange, key, err)
			}
		}
		return nil
	})
}

// declareQueue declares a durable queue with args; when the queue already
// exists with other arguments (PRECONDITION_FAILED), it checks that it
// exists and uses it as it is, with a warning.
func declareQueue(conn *amqp091.Connection, name string, args amqp091.Table, log *zap.Logger) (existing bool, err error) {
	err = onChannel(conn, func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, args)
		return err
	})
	var aerr *amqp091.Error
	if err == nil || !errors.As(err, &aerr) || aerr.Code != amqp091.PreconditionFailed {
		if err != nil {
			return false, fmt.Errorf("queue %s: %w", name, err)
		}
		return false, nil
	}
	log.Warn("queue exists with other arguments; using it as it is (delete it to get the declared ones)",
		zap.String("queue", name), zap.String("broker", aerr.Reason))
	err = onChannel(conn, func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		return err
	})
	if err != nil {
		return true, fmt.Errorf("queue %s: %w", name, err)
	}
	return true, nil
}

func onChannel(conn *amqp091.Connection, f func(*amqp091.Channel) error) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	err = f(ch)
	if !ch.IsClosed() {
		_ = ch.Close()
	}
	return err
}

// supportsQuorum: quorum queues exist since RabbitMQ 3.8.
func supportsQuorum(conn *amqp091.Connection) bool { return atLeast(conn, 3, 8) }

// atLeast compares the broker's advertised version; a broker that does not
// say is taken to be recent.
func atLeast(conn *amqp091.Connection, major, minor int) bool {
	v, _ := conn.Properties["version"].(string)
	product, _ := conn.Properties["product"].(string)
	if product != "" && !strings.EqualFold(product, "RabbitMQ") {
		return false
	}
	gotMajor, gotMinor, ok := parseVersion(v)
	if !ok {
		return true
	}
	return gotMajor > major || (gotMajor == major && gotMinor >= minor)
}

func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}
