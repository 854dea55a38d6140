// Package logging builds the service's zap logger from the configuration.
package logging

import (
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"usersvc/platform/config"
)

// New returns a JSON logger (or a console one in development) at LOG_LEVEL,
// writing to stderr through a buffer: one write per burst of lines instead of
// one per request. Sync (done on every exit path) flushes it.
func New(cfg config.Config) (*zap.Logger, error) {
	return NewTo(cfg, &zapcore.BufferedWriteSyncer{WS: zapcore.Lock(os.Stderr), Size: 256 << 10, FlushInterval: time.Second})
}

// NewTo is New writing to sink (benchmarks pass a discarding one).
func NewTo(cfg config.Config, sink zapcore.WriteSyncer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	var enc zapcore.Encoder
	if format(cfg) == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "time"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, sink, level)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel), zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
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
