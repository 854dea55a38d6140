// Package logging builds the service's zap logger from the configuration.
package logging

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"usersvc/platform/config"
)

// New returns a JSON logger (or a console one in development) at LOG_LEVEL.
func New(cfg config.Config) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if format(cfg) == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	zc.Sampling = nil // every line of a request matters; volume is bounded by the rate limiter
	return zc.Build()
}

func format(cfg config.Config) string {
	if cfg.LogFormat != "" {
		return cfg.LogFormat
	}
	if cfg.Development() {
		return "console"
	}
	return "json"
}
