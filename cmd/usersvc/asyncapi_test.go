package main

// The AsyncAPI document `usersvc serve` assembles: its shape and references
// (no database needed), and the consumed envelope against the contract's
// examples. modules/outbox's tests validate the published messages, as the
// relay really sends them, against it.

import (
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/asyncheck"
	"usersvc/modules/outbox"
	"usersvc/platform"
	"usersvc/platform/asyncapi"
	"usersvc/platform/httpserver"
)

// servedAsyncAPI is the AsyncAPI document of `usersvc serve`'s graph.
func servedAsyncAPI(t *testing.T) *asyncheck.Doc {
	t.Helper()
	cfg := apptest.Config(t, "postgres://postgres@127.0.0.1:1/unused?sslmode=disable")
	var doc *asyncapi.Document
	app := fx.New(platform.Core(cfg, zap.NewNop()), httpserver.Module, features, fx.Populate(&doc), fx.NopLogger)
	if err := app.Err(); err != nil {
		t.Fatalf("building the API graph: %v", err)
	}
	return asyncheck.Must(t, doc.Bytes())
}

func TestAsyncAPIDocumentReferencesResolve(t *testing.T) {
	d := servedAsyncAPI(t)
	if d.Raw["asyncapi"] != "3.0.0" {
		t.Errorf("asyncapi = %v, want 3.0.0", d.Raw["asyncapi"])
	}
	if info, _ := d.Raw["info"].(map[string]any); info["title"] == nil || info["version"] == nil {
		t.Errorf("info %v lacks title or version", info)
	}
	if s, _ := d.Resolve("#/servers/broker"); s.(map[string]any)["protocol"] != "amqp" {
		t.Errorf("server broker is %v, want an amqp server", s)
	}
	for _, ref := range d.Refs() {
		if _, err := d.Resolve(ref); err != nil {
			t.Error(err)
		}
	}
	// Each operation: its channel, and messages of that very channel.
	actions := map[string]string{}
	for name, raw := range d.Raw["operations"].(map[string]any) {
		op := raw.(map[string]any)
		chRef, _ := op["channel"].(map[string]any)["$ref"].(string)
		ch, err := d.Resolve(chRef)
		if err != nil {
			t.Errorf("operation %s: %v", name, err)
			continue
		}
		address := ch.(map[string]any)["address"].(string)
		actions[address] = op["action"].(string)
		msgs, _ := op["messages"].([]any)
		if len(msgs) == 0 {
			t.Errorf("operation %s has no messages", name)
		}
		for _, m := range msgs {
			ref := m.(map[string]any)["$ref"].(string)
			if !strings.HasPrefix(ref, chRef+"/messages/") {
				t.Errorf("operation %s: message %s is not one of its channel's", name, ref)
			}
		}
	}
	if actions["auth.events"] != "receive" || actions["usersvc.events"] != "send" {
		t.Errorf("operations by exchange %v, want auth.events received and usersvc.events sent", actions)
	}
	// Each channel message is a component message with a payload schema that compiles.
	for chName, raw := range d.Raw["channels"].(map[string]any) {
		for name, m := range raw.(map[string]any)["messages"].(map[string]any) {
			ref := m.(map[string]any)["$ref"].(string)
			if !strings.HasPrefix(ref, "#/components/messages/") {
				t.Errorf("channel %s message %s is %s, want a component message", chName, name, ref)
				continue
			}
			d.Payload(t, strings.TrimPrefix(ref, "#/components/messages/"))
		}
	}
	// Every published routing key has its message.
	for _, key := range outbox.Keys {
		if _, err := d.Resolve("#/channels/usersvcEvents/messages/" + outbox.EventType(key)); err != nil {
			t.Errorf("routing key %s: %v", key, err)
		}
	}
}

func TestAsyncAPIConsumedSchemaAcceptsTheContractsEvents(t *testing.T) {
	d := servedAsyncAPI(t)
	for _, body := range []string{
		// CONTRACT §4's example, and the other places the reader takes fields from.
		`{"event_type": "UserCreated", "event_id": "e-1", "occurred_at": "2026-01-02T03:04:05Z", "data": {"id": 42, "email": "ada@example.com", "username": "ada"}}`,
		`{"type": "user.updated", "payload": {"user_id": "ada-1", "email": null}}`,
		`{"event": "USER_DELETED", "auth_user_id": "42", "extra": true}`,
	} {
		for _, m := range []string{"UserCreated", "UserUpdated", "UserDeleted"} {
			if err := d.Validate(t, m, []byte(body)); err != nil {
				t.Errorf("%s refuses %s: %v", m, body, err)
			}
		}
	}
	if d.Validate(t, "UserCreated", []byte(`{"data": {"id": true}}`)) == nil {
		t.Error("UserCreated accepts a boolean id")
	}
}
