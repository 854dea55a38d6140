package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/platform/amqp"
	"usersvc/platform/config"
	"usersvc/platform/database"
	"usersvc/platform/httpserver"
)

// RelayModule runs the relay in `usersvc consume`: it declares
// USERSVC_EVENTS_EXCHANGE at start and reports on the consumer's /ready
// (check "outbox", advisory) and /metrics.
var RelayModule = fx.Module("outbox-relay",
	fx.Provide(newRelayFromConfig, fx.Private),
	fx.Provide(fx.Annotate(readiness, fx.ResultTags(`group:"readiness"`))),
	fx.Invoke(hookRelay),
)

func newRelayFromConfig(cfg config.Config, pool *database.Pool, reg *prometheus.Registry, log *zap.Logger) *Relay {
	return NewRelay(pool.Config().ConnConfig.Copy(), amqp.NewPublisher(cfg.RabbitMQURL, cfg.EventsExchange),
		NewMetrics(reg), log.Named("outbox"), Options{})
}

var errRelayFailing = errors.New("the relay cannot publish")

func readiness(r *Relay) httpserver.Check {
	return httpserver.Check{Name: "outbox", Advisory: true, Run: func(context.Context) error {
		if !r.Healthy() {
			return errRelayFailing
		}
		return nil
	}}
}

func hookRelay(lc fx.Lifecycle, r *Relay) {
	var stop context.CancelFunc
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := database.WaitReachable(ctx, "rabbitmq", database.StartupWait, func(context.Context) error {
				return r.pub.DeclareExchange()
			}); err != nil {
				return err
			}
			runCtx, cancel := context.WithCancel(context.Background())
			stop = cancel
			go func() { defer close(done); r.Run(runCtx) }()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			stop()
			select {
			case <-done:
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
			return nil
		},
	})
}
