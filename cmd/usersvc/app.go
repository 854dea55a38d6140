package main

import (
	"context"
	"fmt"

	"go.uber.org/fx"

	"usersvc/platform"
	"usersvc/platform/config"
)

// runApp starts an fx graph on the platform core, waits for ctx (SIGINT or
// SIGTERM) and stops it gracefully.
func runApp(ctx context.Context, cfg config.Config, opts ...fx.Option) error {
	log, err := platform.NewLogger(cfg)
	if err != nil {
		return usageError{err}
	}
	defer func() { _ = log.Sync() }()
	app := fx.New(append([]fx.Option{platform.Core(cfg, log)}, opts...)...)
	if err := app.Err(); err != nil {
		return fmt.Errorf("wiring: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	<-ctx.Done()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}
