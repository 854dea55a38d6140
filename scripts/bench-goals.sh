#!/usr/bin/env bash
# bench-goals.sh — the goals-list load run of docs/performance.md.
#
# In one run on this machine it measures (1) pgbench -M prepared executing the
# very SELECT the service sends for GET /users/{id}/goals, and (2) wrk against
# the running service on that route, then prints both rates and their ratio.
#
#   scripts/bench-goals.sh [DURATION_SECONDS] [CONNECTIONS] [GOALS_PER_USER]
#
# BENCH_MODE=hot (default) asks for one user's list, as a popular profile
# page would; BENCH_MODE=spread spreads requests over 1,000 users (wrk then
# runs a Lua script per request, which costs it some speed, and pgbench draws
# the user at random in the same way).
#
# It starts its own throwaway PostgreSQL (unless BENCH_DATABASE_URL names a
# superuser URL to use), builds and starts `usersvc serve` with the rate
# limiter off, and stops everything it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source scripts/bench-lib.sh
DURATION=${1:-15}
CONNS=${2:-32}
GOALS=${3:-20}
PG_PORT=${BENCH_PG_PORT:-54359}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18000}
log() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { log "installing postgresql-contrib for pgbench"; apt-get install -y -qq postgresql-contrib >/dev/null; }

bench_database usersvc_bench

go build -o bin/usersvc ./cmd/usersvc
DATABASE_URL="$DB_URL" bin/usersvc migrate up >/dev/null
psql -q "$DB_URL" <<SQL
INSERT INTO auth_users (auth_user_id, username) SELECT 'user' || u, 'name' || u FROM generate_series(1, 1000) u;
INSERT INTO learning_goals (auth_user_id, title, description, status, streak_count, created_at)
SELECT 'user' || u, 'Goal ' || g || ' of user ' || u, 'Practise every day', 'in-progress', g,
       now() - (g || ' minutes')::interval
FROM generate_series(1, 1000) u, generate_series(1, $GOALS) g;
VACUUM ANALYZE;
SQL

# The exact statement the service prepares for GET /users/{id}/goals (no filter, first page).
QUERY=$(go run ./modules/goals/internal/printsql)
MODE=${BENCH_MODE:-hot}
QUERY=${QUERY//\$2/51}
if [[ "$MODE" == spread ]]; then
	printf '\\set uid random(1, 1000)\n%s;\n' "${QUERY//\$1/\'user\' || :uid}" >"$ROOT/bin/bench-goals.sql"
	WRK_ARGS=(-s "$ROOT/scripts/bench-spread.lua")
else
	printf '%s;\n' "${QUERY//\$1/\'user500\'}" >"$ROOT/bin/bench-goals.sql"
	WRK_ARGS=()
fi

DATABASE_URL="$DB_URL" SECRET_KEY=$(bin/usersvc gen-secret) HTTP_ADDR="$HTTP_ADDR" \
	RATE_LIMIT_PER_MINUTE=0 DATABASE_POOL_SIZE="$CONNS" DATABASE_MAX_OVERFLOW=0 \
	bin/usersvc serve 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do curl -fs "http://$HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done
curl -fs "http://$HTTP_ADDR/users/user500/goals" | head -c 300 >&2; echo >&2

log "pgbench -M prepared -c $CONNS -j 2 -T $DURATION (the service's SELECT, $GOALS rows)"
PGB=$(pgbench -n -M prepared -c "$CONNS" -j 2 -T "$DURATION" -f "$ROOT/bin/bench-goals.sql" "$DB_URL" 2>&1 | awk '/^tps/ {print $3; exit}')
log "wrk -c $CONNS -t 2 -d ${DURATION}s GET /users/user500/goals"
WRK_OUT=$(wrk -c "$CONNS" -t 2 -d "${DURATION}s" --latency "${WRK_ARGS[@]}" "http://$HTTP_ADDR/users/user500/goals")
echo "$WRK_OUT" >&2
RPS=$(echo "$WRK_OUT" | awk '/^Requests\/sec/ {print $2}')
NON2XX=$(echo "$WRK_OUT" | awk '/Non-2xx/ {print $NF}')
[[ -n "$NON2XX" ]] && log "warning: $NON2XX non-2xx responses"
printf 'mode=%s connections=%s goals=%s pgbench_tps=%s service_rps=%s ratio=%s\n' "$MODE" "$CONNS" "$GOALS" "$PGB" "$RPS" "$(awk -v a="$RPS" -v b="$PGB" 'BEGIN { printf "%.2f", a / b }')"
