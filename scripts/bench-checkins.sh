#!/usr/bin/env bash
# bench-checkins.sh — POST check-in throughput (issue 10's target: 2,500/s at
# 32 connections on this 2-core machine, durable commits, JWT verified,
# streaks and activity written in one transaction).
#
#   scripts/bench-checkins.sh [DURATION_SECONDS] [CONNECTIONS] [USERS]
#
# It starts its own durable PostgreSQL (unless BENCH_DATABASE_URL names a
# superuser URL), seeds USERS users with one goal each, starts `usersvc serve`
# with the rate limiter off, and runs wrk: each request is one user's check-in
# on their goal, with that user's own token. Run it on a quiet machine.
# BENCH_BIN=path runs that usersvc binary instead of building this tree's
# (scripts/bench-compare.sh uses it to alternate with another commit's).
# It prints the rate, the CPU time per request (scripts/bench-lib.sh) and
# the mean number of check-ins committed together (the write pipeline's).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source scripts/bench-lib.sh
DURATION=${1:-15}
CONNS=${2:-32}
USERS=${3:-1000}
PG_PORT=${BENCH_PG_PORT:-54361}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18001}
log() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }

bench_database usersvc_bench_checkins

BIN=${BENCH_BIN:-bin/usersvc}
[[ -n "${BENCH_BIN:-}" ]] || go build -o bin/usersvc ./cmd/usersvc
DATABASE_URL="$DB_URL" "$BIN" migrate up >/dev/null
seed_goal_per_user "$USERS"
# A database that has been running has WAL segments to recycle; a fresh
# cluster would create and zero-fill each 16 MB segment during the run.
# About 150 MB of WAL, then a checkpoint, leave recycled segments ahead.
psql -q "$DB_URL" >/dev/null <<SQL
VACUUM ANALYZE;
CREATE TABLE bench_wal_warm AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 150000) g;
DROP TABLE bench_wal_warm;
CHECKPOINT;
SQL

SECRET=$("$BIN" gen-secret)
# One HS256 token per user, minted here (the service verifies each one).
python3 - "$SECRET" "$USERS" >"$ROOT/bin/bench-checkins.lua" <<'EOF'
import base64, hashlib, hmac, json, sys, time
key, users = sys.argv[1].encode(), int(sys.argv[2])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
print("tokens = {}")
for u in range(1, users + 1):
    body = b64(json.dumps({"sub": "user%d" % u, "exp": int(time.time()) + 3600}).encode())
    sig = b64(hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest())
    print('tokens[%d] = "%s.%s.%s"' % (u, head, body, sig))
print("""
users = %d
n = 0
request = function()
  n = n + 1
  local u = (n %% users) + 1
  return wrk.format("POST", "/users/user" .. u .. "/goals/" .. u .. "/check-ins",
    {["Authorization"] = "Bearer " .. tokens[u], ["Content-Type"] = "application/json"}, '{"minutes":25}')
end
""" % users)
EOF

DATABASE_URL="$DB_URL" SECRET_KEY="$SECRET" HTTP_ADDR="$HTTP_ADDR" \
	RATE_LIMIT_PER_MINUTE=0 DATABASE_POOL_SIZE="$CONNS" DATABASE_MAX_OVERFLOW=0 \
	"$BIN" serve 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do curl -fs "http://$HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

log "wrk -c $CONNS -t 2 -d ${DURATION}s POST /users/{id}/goals/{goal_id}/check-ins over $USERS users"
warm_up -s "$ROOT/bin/bench-checkins.lua" "http://$HTTP_ADDR"
cpu_start "$SERVE_PID" "$DB_URL"
write_batch_start "$HTTP_ADDR"
WRK_OUT=$(wrk -c "$CONNS" -t 2 -d "${DURATION}s" --latency -s "$ROOT/bin/bench-checkins.lua" "http://$HTTP_ADDR")
CPU="$(cpu_report "$(wrk_requests "$WRK_OUT")") $(write_batch_report "$HTTP_ADDR")"
echo "$WRK_OUT" >&2
RPS=$(echo "$WRK_OUT" | awk '/^Requests\/sec/ {print $2}')
NON2XX=$(echo "$WRK_OUT" | awk '/Non-2xx/ {print $NF}')
[[ -n "$NON2XX" ]] && log "warning: $NON2XX non-2xx responses"
COMMITTED=$(psql -Atq "$DB_URL" -c "SELECT count(*) FROM check_ins")
P99=$(wrk_p99 "$WRK_OUT")
printf 'connections=%s users=%s checkins_per_second=%s p99=%s committed=%s %s\n' "$CONNS" "$USERS" "$RPS" "$P99" "$COMMITTED" "$CPU"
