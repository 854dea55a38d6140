package logging

import (
	"context"

	"go.uber.org/zap"
)

type requestIDKey struct{}

// WithRequestID marks ctx as serving the request id, so that every line
// logged on its behalf carries it (CONTRACT §8).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// For is log with the request id of ctx, when ctx serves a request.
func For(ctx context.Context, log *zap.Logger) *zap.Logger {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return log.With(zap.String("request_id", id))
	}
	return log
}
