#!/usr/bin/env bash
# bench-tracker-reads.sh — issue 10's read targets, in one run on one seed:
#
#   activity  GET /users/{id}/activity against pgbench -M prepared executing
#             the very SELECT the service sends (target: ratio ≥ 0.6);
#   calendar  GET /users/heavy/activity/calendar (365 days, a user with
#             2,000 check-ins): p99 latency (target: < 20 ms);
#   goals     GET /users/{id}/goals and
#   profile   GET /users/{id}: the rates, to compare with another commit's
#             binary (scripts/bench-compare.sh; target: within 10%).
#
#   scripts/bench-tracker-reads.sh [DURATION_SECONDS] [CONNECTIONS] [CALENDAR_CONNECTIONS]
#
# One line per figure, key=value, with the CPU time per request and the
# machine's load meanwhile (scripts/bench-lib.sh). BENCH_MODE=hot (default)
# asks for one user's pages (user500), as a popular profile would;
# BENCH_MODE=spread draws one of 1,000 users per request. BENCH_ONLY=a,b
# runs some of the figures. BENCH_BIN=path runs that usersvc binary instead
# of building this tree's. It starts its own throwaway PostgreSQL (unless
# BENCH_DATABASE_URL names a superuser URL) and stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source scripts/bench-lib.sh
DURATION=${1:-15}
CONNS=${2:-32}
CAL_CONNS=${3:-8}
MODE=${BENCH_MODE:-hot}
ONLY=${BENCH_ONLY:-activity,calendar,goals,profile}
PG_PORT=${BENCH_PG_PORT:-54362}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18002}
log() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { log "installing postgresql-contrib for pgbench"; apt-get install -y -qq postgresql-contrib >/dev/null; }

bench_database usersvc_bench_reads

BIN=${BENCH_BIN:-bin/usersvc}
[[ -n "${BENCH_BIN:-}" ]] || go build -o bin/usersvc ./cmd/usersvc
DATABASE_URL="$DB_URL" "$BIN" migrate up >/dev/null
# 1,000 users with 20 goals and 60 activity items each (a full first page
# of 50 and more); "heavy" with 2,000 check-ins spread over the last 365
# days, each with its activity item, as check-ins write them.
psql -q "$DB_URL" <<'SQL'
INSERT INTO auth_users (auth_user_id, username) SELECT 'user' || u, 'name' || u FROM generate_series(1, 1000) u;
INSERT INTO learning_goals (auth_user_id, title, description, status, streak_count, created_at)
SELECT 'user' || u, 'Goal ' || g || ' of user ' || u, 'Practise every day', 'in-progress', g, now() - (g || ' minutes')::interval
FROM generate_series(1, 1000) u, generate_series(1, 20) g;
INSERT INTO activity_items (auth_user_id, type, occurred_at, goal_id, title, streak_count, local_date, minutes)
SELECT g.auth_user_id, CASE WHEN i % 3 = 0 THEN 'goal.created' ELSE 'goal.checked_in' END,
       now() - (i || ' hours')::interval, g.id, g.title, CASE WHEN i % 3 <> 0 THEN i % 7 END,
       CASE WHEN i % 3 <> 0 THEN (now() - (i || ' hours')::interval)::date END, CASE WHEN i % 3 <> 0 THEN 25 END
FROM learning_goals g, generate_series(1, 3) i;
INSERT INTO auth_users (auth_user_id, username) VALUES ('heavy', 'heavy');
INSERT INTO learning_goals (auth_user_id, title) VALUES ('heavy', 'Learn Go');
WITH made AS (
    INSERT INTO check_ins (goal_id, auth_user_id, occurred_at, local_date, timezone, utc_offset, minutes, streak_count, longest_streak)
    SELECT g.id, 'heavy', t, t::date, 'UTC', 0, 5 + (n * 7) % 55, 1, 1
    FROM learning_goals g,
         LATERAL (SELECT n, date_trunc('day', now()) - ((n * 7919) % 365 || ' days')::interval + ((n * 13) % 1440 || ' minutes')::interval AS t
                  FROM generate_series(1, 2000) n) s
    WHERE g.auth_user_id = 'heavy'
    RETURNING id, goal_id, occurred_at, local_date, minutes)
INSERT INTO activity_items (auth_user_id, type, occurred_at, goal_id, check_in_id, title, streak_count, local_date, minutes)
SELECT 'heavy', 'goal.checked_in', occurred_at, goal_id, id, 'Learn Go', 1, local_date, minutes FROM made;
VACUUM ANALYZE;
SQL

DATABASE_URL="$DB_URL" SECRET_KEY=$("$BIN" gen-secret) HTTP_ADDR="$HTTP_ADDR" \
	RATE_LIMIT_PER_MINUTE=0 DATABASE_POOL_SIZE="$CONNS" DATABASE_MAX_OVERFLOW=0 \
	"$BIN" serve 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do curl -fs "http://$HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

# The wrk arguments of a GET of PATH (/users/ID/…) in this mode.
wrk_target() {
	if [[ "$MODE" == spread ]]; then
		cat >"$ROOT/bin/bench-reads.lua" <<EOF
math.randomseed(os.time())
request = function() return wrk.format("GET", "/users/user" .. math.random(1, 1000) .. "$1") end
EOF
		echo "-s $ROOT/bin/bench-reads.lua http://$HTTP_ADDR/users/user500$1"
	else
		echo "http://$HTTP_ADDR/users/user500$1"
	fi
}

# measure NAME CONNS WRK_ARGS…: one wrk run, after a warm-up; sets RPS, P99, CPU.
measure() {
	local name=$1 c=$2
	shift 2
	CONNS=$c warm_up "$@"
	log "wrk -c $c -t 2 -d ${DURATION}s $name"
	cpu_start "$SERVE_PID" "$DB_URL"
	local out
	out=$(wrk -c "$c" -t 2 -d "${DURATION}s" --latency "$@")
	CPU=$(cpu_report "$(wrk_requests "$out")")
	echo "$out" >&2
	RPS=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	P99=$(wrk_p99 "$out")
	local non2xx
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	[[ -z "$non2xx" ]] || log "warning: $non2xx non-2xx responses"
}

if [[ ",$ONLY," == *,activity,* ]]; then
	QUERY=$(go run ./modules/activity/internal/printsql)
	QUERY=${QUERY//\$2/51} # the first page: 50 and one more, to know whether a next page exists
	if [[ "$MODE" == spread ]]; then
		printf '\\set uid random(1, 1000)\n%s;\n' "${QUERY//\$1/\'user\' || :uid}" >"$ROOT/bin/bench-activity.sql"
	else
		printf '%s;\n' "${QUERY//\$1/\'user500\'}" >"$ROOT/bin/bench-activity.sql"
	fi
	log "pgbench -M prepared -c $CONNS -j 2 -T $DURATION (the service's feed SELECT)"
	pgbench -n -M prepared -c "$CONNS" -j 2 -T 2 -f "$ROOT/bin/bench-activity.sql" "$DB_URL" >/dev/null 2>&1
	PGB=$(pgbench -n -M prepared -c "$CONNS" -j 2 -T "$DURATION" -f "$ROOT/bin/bench-activity.sql" "$DB_URL" 2>&1 | awk '/^tps/ {print $3; exit}')
	# shellcheck disable=SC2046
	measure "GET /users/{id}/activity" "$CONNS" $(wrk_target /activity)
	printf 'figure=activity mode=%s connections=%s pgbench_tps=%s service_rps=%s ratio=%s p99=%s %s\n' "$MODE" "$CONNS" "$PGB" "$RPS" \
		"$(awk -v a="$RPS" -v b="$PGB" 'BEGIN { printf "%.2f", a / b }')" "$P99" "$CPU"
fi
if [[ ",$ONLY," == *,calendar,* ]]; then
	curl -fs "http://$HTTP_ADDR/users/heavy/activity/calendar" | head -c 200 >&2
	echo >&2
	measure "GET /users/heavy/activity/calendar" "$CAL_CONNS" "http://$HTTP_ADDR/users/heavy/activity/calendar"
	printf 'figure=calendar connections=%s checkins=2000 days=365 rps=%s p99=%s %s\n' "$CAL_CONNS" "$RPS" "$P99" "$CPU"
fi
for fig in goals profile; do
	[[ ",$ONLY," == *,$fig,* ]] || continue
	suffix=/goals
	[[ $fig == profile ]] && suffix=""
	# shellcheck disable=SC2046
	measure "GET /users/{id}$suffix" "$CONNS" $(wrk_target "$suffix")
	printf 'figure=%s mode=%s connections=%s rps=%s p99=%s %s\n' "$fig" "$MODE" "$CONNS" "$RPS" "$P99" "$CPU"
done
