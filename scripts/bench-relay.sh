#!/usr/bin/env bash
# bench-relay.sh — the outbox relay benchmark of docs/events.md.
#
# Starts a PostgreSQL and a RabbitMQ of its own, both with their default,
# durable settings (fsync on, synchronous commit; a durable quorum queue bound
# to the events exchange), migrates a fresh database and runs
# modules/outbox/internal/benchrelay:
#   drain  — 100,000 events already in the outbox when the relay starts,
#            published with publisher confirms (target ≥ 5,000 events/s);
#   steady — 500 changes a second for 20 s, each its own committed
#            transaction; p99 commit-to-consume latency (target < 200 ms).
# Stops everything it started. Exit status 1 when a target is missed.
#
#   scripts/bench-relay.sh [benchrelay flags, e.g. -backlog 100000 -rate 500 -duration 20s]
#
# Ports (below the ephemeral range): BENCH_PG_PORT, BENCH_AMQP_PORT,
# BENCH_DIST_PORT, BENCH_EPMD_PORT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
PG_PORT=${BENCH_PG_PORT:-25451}
AMQP_PORT=${BENCH_AMQP_PORT:-25751}
DIST_PORT=${BENCH_DIST_PORT:-25752}
EPMD_PORT=${BENCH_EPMD_PORT:-24721}
log() { printf '[bench-relay] %s\n' "$*" >&2; }

STACK=$(mktemp -d /tmp/usersvc-bench-relay.XXXXXX)
chmod 755 "$STACK"
cleanup() { bash scripts/services.sh destroy "$STACK" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Durable on purpose: no PG_FAST.
env -u PG_FAST bash scripts/services.sh start-pg "$STACK" "$PG_PORT" >&2
bash scripts/services.sh start-rabbit "$STACK" "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT" >&2
ADMIN_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/usersvc_relaybench?sslmode=disable"
psql -qX "$ADMIN_URL" -c "CREATE DATABASE usersvc_relaybench"
log "settings: $(psql -qXtA "$ADMIN_URL" -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')")"

mkdir -p bin
go build -o bin/usersvc ./cmd/usersvc
go build -o bin/benchrelay ./modules/outbox/internal/benchrelay
DATABASE_URL="$DB_URL" bin/usersvc migrate up >/dev/null

log "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
DATABASE_URL="$DB_URL" RABBITMQ_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/" bin/benchrelay "$@"
