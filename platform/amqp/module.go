package amqp

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/platform/config"
	"usersvc/platform/database"
	"usersvc/platform/httpserver"
	"usersvc/platform/metrics"
)

// Module runs the consumer of the Subscription a module provides, with its
// own /health, /ready and /metrics on CONSUMER_HEALTH_ADDR.
var Module = fx.Module("amqp",
	fx.Provide(NewFromConfig),
	fx.Invoke(Hook),
)

// Params is what the consumer is built from.
type Params struct {
	fx.In
	Config       config.Config
	Log          *zap.Logger
	Registry     *prometheus.Registry
	Subscription Subscription
}

// NewFromConfig builds the consumer from the RABBITMQ_* settings.
func NewFromConfig(p Params) (*Consumer, error) {
	p.Log.Debug("subscription", zap.String("name", p.Subscription.Name()), zap.Strings("keys", p.Subscription.Keys()))
	return NewConsumer(OptionsFromConfig(p.Config), p.Subscription, NewMetrics(p.Registry), p.Log)
}

// HookParams is what Hook ties to the lifecycle.
type HookParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    config.Config
	Log       *zap.Logger
	Metrics   *metrics.HTTP
	Registry  *prometheus.Registry
	Pool      *database.Pool
	Consumer  *Consumer
	// Checks are other parts' readiness, reported beside the consumer's.
	Checks []httpserver.Check `group:"readiness"`
}

// Hook starts the probe server and the consumer; on stop it drains the
// consumer (DrainTimeout) before the probe server and the pool go away.
func Hook(p HookParams) error {
	srv, err := httpserver.New(p.Config, p.Log, p.Metrics, httpserver.Options{
		Name:     "consumer",
		Addr:     p.Config.ConsumerHealthAddr,
		Registry: p.Registry,
		Checks: append([]httpserver.Check{
			{Name: "database", Run: func(ctx context.Context) error { return p.Pool.Ping(ctx, 2*time.Second) }},
			{Name: "rabbitmq", Run: p.Consumer.Ready},
		}, p.Checks...),
	})
	if err != nil {
		return err
	}
	var stop context.CancelFunc
	done := make(chan struct{})
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			// A broker that cannot be reached at start is exit status 1
			// (CONTRACT §7); once running, the consumer redials forever.
			if err := database.WaitReachable(ctx, "rabbitmq", database.StartupWait, func(context.Context) error {
				conn, err := amqp091.DialConfig(p.Config.RabbitMQURL, amqp091.Config{Dial: amqp091.DefaultDial(2 * time.Second)})
				if err == nil {
					_ = conn.Close()
				}
				return err
			}); err != nil {
				return err
			}
			if err := srv.Start(ctx); err != nil {
				return err
			}
			runCtx, cancel := context.WithCancel(context.Background())
			stop = cancel
			go func() {
				defer close(done)
				_ = p.Consumer.Run(runCtx)
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			stop()
			select {
			case <-done:
			case <-ctx.Done():
				p.Log.Warn("consumer did not stop in time; unacknowledged deliveries go back to the queue")
			}
			return srv.Stop(ctx)
		},
	})
	return nil
}
