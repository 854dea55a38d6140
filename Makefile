# usersvc — developer entry points. See scripts/ for what each one does.
SHELL := /bin/bash
GO    ?= go

.PHONY: all up down test build bench bench-go load lint soak cluster bench-relay bench-idempotency bench-consumer

all: build

## up: install PostgreSQL/RabbitMQ if missing, start the local stack (.stack/), migrate, run consume + serve
up:
	@bash scripts/up.sh

## down: stop everything `make up` started
down:
	@bash scripts/down.sh

## test: go vet + go test -race against a throwaway PostgreSQL and RabbitMQ (ARGS="-run X" to filter)
test:
	@bash scripts/test.sh $(ARGS)

## build: every command under ./cmd into bin/
build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

## bench: every often-called route at 32 and 128 connections, one table (docs/performance.md; BENCH_SECONDS=15 for longer cells)
bench:
	@bash scripts/bench.sh

## bench-scale: make bench's reads at 10,000 and 1,000,000 users (seeded once, kept in /tmp/usersvc-scale), p50 side by side, EXPLAIN of every query (docs/performance.md)
.PHONY: bench-scale
bench-scale:
	@bash scripts/bench-scale.sh

## bench-go: Go benchmarks (needs USERSVC_TEST_DATABASE_URL for the database ones; `make test`'s stack or your own)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## load: the goals-list load run against pgbench, one hot user and then 1,000 users (docs/performance.md)
load:
	@bash scripts/bench-goals.sh 15 32 20
	@BENCH_MODE=spread bash scripts/bench-goals.sh 15 32 20

## soak: serve + consume under mixed load while PostgreSQL, RabbitMQ and both processes are stopped and restarted (docs/reliability.md)
##       SOAK=60s make soak for a short run, SOAK=30m for a long one (default 3m); SOAK_WORKERS=N clients (default 6)
soak:
	@bash scripts/services.sh install
	USERSVC_SOAK_DURATION=$${SOAK:-3m} USERSVC_SOAK_WORKERS=$${SOAK_WORKERS:-6} \
		$(GO) test -count=1 -v -timeout $${SOAK_TIMEOUT:-24h} -run '^TestSoak$$' ./internal/soak

## bench-relay: the outbox relay on a durable PostgreSQL and RabbitMQ of its own: a 100,000-event backlog, then 500 changes/s (docs/events.md)
bench-relay:
	@bash scripts/bench-relay.sh $(ARGS)

## bench-consumer: `usersvc consume` draining 100,000 UserCreated on a durable PostgreSQL and RabbitMQ of its own; events/s and CPU µs per event (docs/events.md)
bench-consumer:
	@bash scripts/bench-consumer.sh $(ARGS)

## bench-idempotency: POST goal with an Idempotency-Key against the same POST without, alternating rounds (docs/events.md)
bench-idempotency:
	@bash scripts/bench-idempotency.sh $(ARGS)

## cluster: the multi-replica proof, twice in a row: 3 serve + 2 consume on a private PostgreSQL/RabbitMQ, load, relay failover, rolling restart; prints its figures (docs/deploy.md)
cluster:
	@bash scripts/cluster.sh

## lint: gofmt must have nothing to say, go vet must pass
lint:
	@unformatted="$$(find . -name '*.go' -not -path './.stack/*' -not -path './.git/*' -not -path './bin/*' -print0 | xargs -0 -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
