package main

import (
	"github.com/spf13/cobra"

	"usersvc/modules/outbox"
	"usersvc/platform/amqp"
	"usersvc/platform/config"
)

// newConsumeCmd runs the event consumer: the same feature modules as serve
// contribute their event handlers; only what the handlers need is built.
func newConsumeCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "consume",
		Short: "Consume auth-service events from RabbitMQ (health and metrics on CONSUMER_HEALTH_ADDR)",
		Long: `Consume auth-service events from RabbitMQ.

Declares the topology (exchange RABBITMQ_EXCHANGE, quorum queue RABBITMQ_QUEUE,
dead-letter queue <queue>.dlq), applies user lifecycle events, publishes
usersvc's own events from the outbox to USERSVC_EVENTS_EXCHANGE (one
process at a time), reconnects by
itself after broker or database restarts, and on SIGTERM finishes the messages
in hand within 25 s and exits 0. See docs/events.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e, config.NeedDatabase, config.NeedRabbitMQ)
			if err != nil {
				return err
			}
			return runApp(cmd.Context(), cfg, amqp.Module, features, outbox.RelayModule)
		},
	}
}
