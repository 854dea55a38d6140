// Package platform assembles the shared machinery every command's fx graph
// starts from: configuration, logging, metrics and the database pool.
package platform

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"usersvc/platform/config"
	"usersvc/platform/database"
	"usersvc/platform/httpserver"
	"usersvc/platform/logging"
	"usersvc/platform/metrics"
)

// StopTimeout bounds a graceful stop: requests and deliveries in hand get 25 s (CONTRACT §4).
const StopTimeout = 30 * time.Second

// Core is the base of every long-running command's graph.
func Core(cfg config.Config, log *zap.Logger) fx.Option {
	return fx.Options(
		fx.Supply(cfg, log),
		fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
			zl := &fxevent.ZapLogger{Logger: l}
			// fx's wiring chatter, and its own report of a failed start, are for
			// debugging only: the command ends with one clear line instead.
			zl.UseLogLevel(zapcore.DebugLevel)
			zl.UseErrorLevel(zapcore.DebugLevel)
			return zl
		}),
		fx.StopTimeout(StopTimeout),
		metrics.Module,
		database.Module,
		fx.Provide(httpserver.AsCheck(databaseCheck)),
	)
}

// NewLogger is logging.New, re-exported so commands build the logger before the graph.
func NewLogger(cfg config.Config) (*zap.Logger, error) { return logging.New(cfg) }

func databaseCheck(pool *database.Pool) httpserver.Check {
	return httpserver.Check{Name: "database", Run: func(ctx context.Context) error { return pool.Ping(ctx, 2*time.Second) }}
}
