package logging

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestForCarriesTheRequestID(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	base := zap.New(core)
	For(WithRequestID(context.Background(), "req-7"), base).Warn("in a request")
	For(context.Background(), base).Warn("outside")
	entries := logs.All()
	if got := entries[0].ContextMap()["request_id"]; got != "req-7" {
		t.Fatalf("request line: request_id %v", got)
	}
	if _, ok := entries[1].ContextMap()["request_id"]; ok {
		t.Fatal("a line outside a request got a request id")
	}
}
