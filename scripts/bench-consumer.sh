#!/usr/bin/env bash
# bench-consumer.sh — the UserCreated consumer benchmark of docs/events.md.
#
# Starts a durable PostgreSQL (bench-lib.sh bench_database: fsync on,
# synchronous commit) and a RabbitMQ of its own, migrates a fresh database,
# then for each round: publishes EVENTS UserCreated events in the
# auth-service's format (CONTRACT §4; persistent, publisher confirms) into the
# consumer's quorum queue, starts `usersvc consume` and measures the time
# until every reference row of the round exists and the queue is empty:
# events/s, and the CPU µs per event of consume, PostgreSQL and RabbitMQ.
# Target: ≥ 5,000 UserCreated/s; exit status 1 when the last round misses it.
#
#   scripts/bench-consumer.sh [EVENTS [PREFETCH [ROUNDS]]]   (defaults 100000, 100 — the service's default —, 1)
#
# BENCH_BINARIES="old/usersvc bin/usersvc" alternates binaries within each
# round (a before/after on a shared machine); default: this tree's build.
# Ports (below the ephemeral range): BENCH_PG_PORT, BENCH_AMQP_PORT,
# BENCH_DIST_PORT, BENCH_EPMD_PORT, BENCH_HEALTH_PORT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
EVENTS=${1:-100000}
PREFETCH=${2:-100}
ROUNDS=${3:-1}
MIN_RATE=${BENCH_MIN_RATE:-5000}
PG_PORT=${BENCH_PG_PORT:-25455}
AMQP_PORT=${BENCH_AMQP_PORT:-25755}
DIST_PORT=${BENCH_DIST_PORT:-25756}
EPMD_PORT=${BENCH_EPMD_PORT:-24725}
HEALTH_PORT=${BENCH_HEALTH_PORT:-25757}
log() { printf '[bench-consumer] %s\n' "$*" >&2; }
source scripts/bench-lib.sh
read_pid() { [[ -f "$1" ]] && head -n1 "$1" | tr -dc '0-9'; }

bench_database usersvc_consumebench
# bench_database made STACK only when it started PostgreSQL; the broker needs a directory anyway.
if [[ -z "$STACK" ]]; then
	STACK=$(mktemp -d /tmp/usersvc-bench.XXXXXX)
	chmod 755 "$STACK"
fi
bash scripts/services.sh start-rabbit "$STACK" "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT" >&2
AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
RABBIT_PID=$(read_pid "$STACK/rabbit/rabbit.pid" || true)
log "settings: $(psql -qXtA "$DB_URL" -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')")"

mkdir -p bin
go build -o bin/usersvc ./cmd/usersvc
go build -o bin/benchconsume ./modules/authref/internal/benchconsume
DATABASE_URL="$DB_URL" bin/usersvc migrate up >/dev/null

# round BINARY PREFIX: one backlog of EVENTS, drained by BINARY's consume.
round() {
	local binary=$1 prefix=$2 result cpu broker0 broker rate
	bin/benchconsume -amqp "$AMQP_URL" -events "$EVENTS" -prefix "$prefix" publish >&2
	DATABASE_URL="$DB_URL" RABBITMQ_URL="$AMQP_URL" RABBITMQ_PREFETCH="$PREFETCH" \
		CONSUMER_HEALTH_ADDR="127.0.0.1:$HEALTH_PORT" LOG_LEVEL=warn \
		"$binary" consume >>"$STACK/consume.log" 2>&1 &
	SERVE_PID=$!
	cpu_start "$SERVE_PID" "$DB_URL"
	# The broker's CPU too: delivering and settling quorum-queue messages is part of each event's cost.
	broker0=$([[ -n "$RABBIT_PID" ]] && pg_ns "$RABBIT_PID" || echo 0)
	result=$(bin/benchconsume -db "$DB_URL" -amqp "$AMQP_URL" -events "$EVENTS" -prefix "$prefix" wait)
	cpu=$(cpu_report "$EVENTS")
	broker=$([[ -n "$RABBIT_PID" ]] && echo $((($(pg_ns "$RABBIT_PID") - broker0) / 1000 / EVENTS)) || echo "?")
	kill -TERM "$SERVE_PID" && wait "$SERVE_PID" || true
	SERVE_PID=""
	echo "$binary: $result prefetch=$PREFETCH broker_cpu_us=$broker ${cpu/server_cpu_us/consume_cpu_us}"
	rate=$(echo "$result" | sed -n 's/.*rate=\([0-9]*\)\/s.*/\1/p')
	LAST_RATE=$rate
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; prefetch $PREFETCH"
read -r -a BINARIES <<<"${BENCH_BINARIES:-bin/usersvc}"
for b in "${BINARIES[@]}"; do
	[[ -x "$b" ]] || { log "no executable $b"; exit 2; }
done
for ((r = 1; r <= ROUNDS; r++)); do
	for i in "${!BINARIES[@]}"; do
		round "${BINARIES[$i]}" "r$r-b$i-"
	done
done
if ((LAST_RATE < MIN_RATE)); then
	log "below the target of $MIN_RATE events/s"
	exit 1
fi
