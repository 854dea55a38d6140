// Command benchconsume measures `usersvc consume` on UserCreated events
// (scripts/bench-consumer.sh runs it against a PostgreSQL and a RabbitMQ of
// its own, both durable):
//
//	publish — declares the consumer's topology and publishes -events
//	          UserCreated events in the auth-service's format (CONTRACT §4),
//	          persistent, with publisher confirms, a window at a time;
//	wait    — polls until every reference row exists and no message waits
//	          in the queue, then prints the rate.
//
// The consumer is started between the two, so the rate is that of a backlog.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"usersvc/modules/authref/authevent"
	"usersvc/platform/amqp"
)

type flags struct {
	db, broker, exchange, queue, prefix string
	events, window                      int
	timeout                             time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.db, "db", os.Getenv("DATABASE_URL"), "the consumer's migrated database (wait)")
	flag.StringVar(&f.broker, "amqp", os.Getenv("RABBITMQ_URL"), "the broker")
	flag.StringVar(&f.exchange, "exchange", "auth.events", "the auth-service's exchange (RABBITMQ_EXCHANGE)")
	flag.StringVar(&f.queue, "queue", "user-service.auth-events", "the consumer's queue (RABBITMQ_QUEUE)")
	flag.StringVar(&f.prefix, "prefix", "bench-", "prefix of the user ids, so that a run's rows can be counted")
	flag.IntVar(&f.events, "events", 100_000, "UserCreated events to publish, or to wait for")
	flag.IntVar(&f.window, "window", 1000, "publishes in flight before waiting for their confirms")
	flag.DurationVar(&f.timeout, "timeout", 5*time.Minute, "wait: give up after this long")
	flag.Parse()
	var err error
	switch flag.Arg(0) {
	case "publish":
		err = publish(f)
	case "wait":
		err = wait(f)
	default:
		err = errors.New("usage: benchconsume [flags] publish|wait")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchconsume:", err)
		os.Exit(1)
	}
}

// body is one UserCreated as the auth-service writes it (CONTRACT §4's example).
func body(prefix string, i int, at time.Time) ([]byte, error) {
	return json.Marshal(map[string]any{
		"event_type":  "UserCreated",
		"event_id":    fmt.Sprintf("%s%08d", prefix, i),
		"occurred_at": at.Format(time.RFC3339Nano),
		"data": map[string]any{
			"id":       prefix + strconv.Itoa(i),
			"email":    fmt.Sprintf("user%d@example.com", i),
			"username": fmt.Sprintf("user%d", i),
		},
	})
}

func publish(f flags) error {
	conn, err := amqp091.Dial(f.broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The consumer's own declaration, so the queue is there before it starts.
	topo := amqp.Topology{Exchange: f.exchange, Queue: f.queue, BindingKeys: authevent.RoutingKeys, DeliveryLimit: amqp.MinDeliveryLimit}
	if _, err := amqp.Declare(conn, topo, zap.NewNop()); err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	ctx := context.Background()
	start, at := time.Now(), time.Now().UTC()
	for next := 0; next < f.events; {
		end := min(next+f.window, f.events)
		pending := make([]*amqp091.DeferredConfirmation, 0, end-next)
		for i := next; i < end; i++ {
			b, err := body(f.prefix, i, at)
			if err != nil {
				return err
			}
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, f.exchange, "user.created", false, false, amqp091.Publishing{
				ContentType: "application/json", DeliveryMode: amqp091.Persistent, Body: b,
			})
			if err != nil {
				return err
			}
			pending = append(pending, dc)
		}
		for _, dc := range pending {
			if ok, err := dc.WaitContext(ctx); err != nil || !ok {
				return fmt.Errorf("publish not confirmed (ok=%v): %v", ok, err)
			}
		}
		next = end
	}
	took := time.Since(start)
	fmt.Printf("published=%d in %s (%.0f/s, confirmed)\n", f.events, took.Round(time.Millisecond), float64(f.events)/took.Seconds())
	return nil
}

func wait(f flags) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	db, err := pgx.Connect(ctx, f.db)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	conn, err := amqp091.Dial(f.broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	// One consumer applies the events in order, so the last one's row comes
	// last; polling for it alone keeps the poll off PostgreSQL's CPU.
	last := f.prefix + strconv.Itoa(f.events-1)
	for {
		var done bool
		if err := db.QueryRow(ctx, "SELECT EXISTS (SELECT FROM auth_users WHERE auth_user_id = $1)", last).Scan(&done); err != nil {
			return fmt.Errorf("look for the last reference: %w (after %s)", err, time.Since(start).Round(time.Millisecond))
		}
		if done {
			empty, err := queueEmpty(conn, f.queue)
			if err != nil {
				return err
			}
			if empty {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	var rows int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM auth_users WHERE auth_user_id LIKE $1 || '%'", f.prefix).Scan(&rows); err != nil {
		return err
	}
	if rows != f.events {
		return fmt.Errorf("%d references for %d events", rows, f.events)
	}
	fmt.Printf("consumed=%d in %s rate=%.0f/s\n", rows, took.Round(time.Millisecond), float64(rows)/took.Seconds())
	return nil
}

// queueEmpty: no message waiting to be delivered (a passive declaration
// counts the ready ones). The consumer acknowledges a batch right after its
// commit, so once every row exists the last acknowledgement is one frame away.
func queueEmpty(conn *amqp091.Connection, queue string) (bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return false, err
	}
	return q.Messages == 0, nil
}
