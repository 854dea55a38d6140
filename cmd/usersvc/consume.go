package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newConsumeCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "consume",
		Short: "Consume auth-service events from RabbitMQ",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return errors.New("consume: not implemented yet") },
	}
}
