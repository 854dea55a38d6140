#!/usr/bin/env bash
# bench-idempotency.sh — POST /users/{id}/goals with an Idempotency-Key
# against the same POST without one, in one run (issue 11's target: with a
# key within 15% of the rate without).
#
#   scripts/bench-idempotency.sh [DURATION_SECONDS] [CONNECTIONS] [USERS] [ROUNDS]
#
# It starts its own durable PostgreSQL (unless BENCH_DATABASE_URL names a
# superuser URL), seeds USERS users, starts `usersvc serve` with the rate
# limiter off, and runs wrk ROUNDS times each way, alternating (without,
# with, without, …) so the machine's drifting load and the growing goals
# table weigh on both alike. Each keyed request has a key of its own: every
# one runs and stores its answer (the replay is not what is measured).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source scripts/bench-lib.sh
DURATION=${1:-10}
CONNS=${2:-32}
USERS=${3:-1000}
ROUNDS=${4:-3}
PG_PORT=${BENCH_PG_PORT:-25453}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18003}
log() { printf '[bench-idempotency] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }

bench_database usersvc_bench_idem

mkdir -p bin
go build -o bin/usersvc ./cmd/usersvc
DATABASE_URL="$DB_URL" bin/usersvc migrate up >/dev/null
psql -q "$DB_URL" -c "INSERT INTO auth_users (auth_user_id) SELECT 'user' || u FROM generate_series(1, $USERS) u" -c "VACUUM ANALYZE"

SECRET=$(bin/usersvc gen-secret)
# One HS256 token per user, minted here (the service verifies each one);
# with WITH_KEY=1 each request carries a key of its own.
python3 - "$SECRET" "$USERS" >"$ROOT/bin/bench-idempotency.lua" <<'EOF'
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
threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
with_key = os.getenv("WITH_KEY") == "1"
run = os.getenv("RUN") or "0"
n = 0
request = function()
  n = n + 1
  local u = ((n * 7 + tid) %% users) + 1
  local h = {["Authorization"] = "Bearer " .. tokens[u], ["Content-Type"] = "application/json"}
  if with_key then
    h["Idempotency-Key"] = "bench-" .. run .. "-" .. tid .. "-" .. n
  end
  return wrk.format("POST", "/users/user" .. u .. "/goals", h, '{"title":"Learn Go","description":"twenty minutes a day"}')
end
""" % users)
EOF

DATABASE_URL="$DB_URL" SECRET_KEY="$SECRET" HTTP_ADDR="$HTTP_ADDR" \
	RATE_LIMIT_PER_MINUTE=0 DATABASE_POOL_SIZE="$CONNS" DATABASE_MAX_OVERFLOW=0 \
	bin/usersvc serve 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do curl -fs "http://$HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

# rate WITH_KEY RUN: one wrk run, its requests a second (non-2xx fail the
# bench); its requests and CPU time (service, PostgreSQL, in µs) are added
# to bin/bench-idempotency.cpu.WITH_KEY for the per-request figures.
rate() {
	local out rps non2xx cpu serve_us pg_us
	cpu_start "$SERVE_PID" "$DB_URL"
	out=$(WITH_KEY=$1 RUN=$2 wrk -c "$CONNS" -t 2 -d "${DURATION}s" --latency -s "$ROOT/bin/bench-idempotency.lua" "http://$HTTP_ADDR")
	serve_us=$((($(proc_ns "$CPU_SERVE_PID") - CPU_SERVE0) / 1000)) pg_us=$((($(pg_ns "$CPU_PG_PID") - CPU_PG0) / 1000))
	cpu=$(cpu_report "$(wrk_requests "$out")")
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	[[ -z "$non2xx" ]] || { echo "$out" >&2; log "error: $non2xx non-2xx responses"; exit 1; }
	rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	log "$([[ $1 == 1 ]] && echo 'with a key   ' || echo 'without a key') $rps/s  p99 $(wrk_p99 "$out")  $cpu"
	[[ $2 == warmup ]] || echo "$(wrk_requests "$out") $serve_us $pg_us" >>"$ROOT/bin/bench-idempotency.cpu.$1"
	echo "$rps"
}

# cpu_per_request WITH_KEY: "server_cpu_us=… pg_cpu_us=…" over that way's rounds.
cpu_per_request() {
	awk '{n += $1; s += $2; p += $3} END {printf "server_cpu_us=%.0f pg_cpu_us=%.0f", s / n, p / n}' "$ROOT/bin/bench-idempotency.cpu.$1"
}
rm -f "$ROOT"/bin/bench-idempotency.cpu.*

log "wrk -c $CONNS -t 2 -d ${DURATION}s POST /users/{id}/goals, $ROUNDS rounds each way; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
rate 0 warmup >/dev/null
WITHOUT=0 WITH=0
for r in $(seq "$ROUNDS"); do
	WITHOUT=$(awk -v a="$WITHOUT" -v b="$(rate 0 "$r")" 'BEGIN { print a + b }')
	WITH=$(awk -v a="$WITH" -v b="$(rate 1 "$r")" 'BEGIN { print a + b }')
done
STORED=$(psql -Atq "$DB_URL" -c "SELECT count(*) FROM idempotency_answers")
printf 'connections=%s rounds=%s without_key=%.0f/s with_key=%.0f/s ratio=%.3f answers_stored=%s load=%s\n' "$CONNS" "$ROUNDS" \
	"$(awk -v a="$WITHOUT" -v r="$ROUNDS" 'BEGIN { print a / r }')" "$(awk -v a="$WITH" -v r="$ROUNDS" 'BEGIN { print a / r }')" \
	"$(awk -v a="$WITH" -v b="$WITHOUT" 'BEGIN { print a / b }')" "$STORED" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'cpu per request: without a key %s; with a key %s\n' "$(cpu_per_request 0)" "$(cpu_per_request 1)"
