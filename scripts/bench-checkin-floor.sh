#!/usr/bin/env bash
# bench-checkin-floor.sh — what PostgreSQL alone can do of issue 10's
# check-in, with pgbench on the same durable database bench-checkins.sh uses
# (no service, no HTTP): the floor under the service's rate.
#
#   scripts/bench-checkin-floor.sh [DURATION_SECONDS] [CLIENTS] [USERS]
#
# One line per cell, each CLIENTS pgbench clients (prepared statements):
#   trivial    a one-row INSERT committed alone: what any durable write pays
#              (the commit, the WAL flush, the round trip);
#   check_in   SELECT * FROM check_in_fast(…): the service's one statement,
#              over USERS users with one goal each;
#   bare       the same with activity_record and outbox_record emptied (this
#              database only): what the activity item and the event cost.
# Each line: transactions/s, PostgreSQL's CPU time per transaction (schedstat
# of every PostgreSQL process, over DURATION seconds after a 3-second lead-in
# that the backends spend starting), WAL bytes, full-page images and WAL
# flushes (fsyncs) per transaction, and the machine's load.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source scripts/bench-lib.sh
DURATION=${1:-10}
CLIENTS=${2:-32}
USERS=${3:-1000}
PG_PORT=${BENCH_PG_PORT:-54362}
log() { printf '[bench] %s\n' "$*" >&2; }

bench_database usersvc_bench_floor

BIN=${BENCH_BIN:-bin/usersvc}
[[ -n "${BENCH_BIN:-}" ]] || go build -o bin/usersvc ./cmd/usersvc
DATABASE_URL="$DB_URL" "$BIN" migrate up >/dev/null
seed_goal_per_user "$USERS"
psql -q "$DB_URL" >/dev/null <<SQL
CREATE TABLE bench_floor_trivial (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v integer);
VACUUM ANALYZE;
CHECKPOINT;
SQL

SCRIPTS=$(mktemp -d /tmp/usersvc-floor.XXXXXX)
trap 'rm -rf "$SCRIPTS"; bench_cleanup' EXIT
echo 'INSERT INTO bench_floor_trivial (v) VALUES (1);' >"$SCRIPTS/trivial.sql"
cat >"$SCRIPTS/check_in.sql" <<SQL
\set u random(1, $USERS)
SELECT * FROM check_in_fast(:u, 'user' || :u, now(), now(), NULL, 25, '', false,
    'goal.checked_in', 'goal.checked_in', 'GoalCheckedIn', '"user' || :u || '"', '""');
SQL

PG_PID=$(head -1 "$(psql -Atq "$DB_URL" -c 'SHOW data_directory')/postmaster.pid")
# pg_total_ns: the CPU time of the postmaster, of its live children and of
# those it has reaped (the clients' backends, autovacuum workers and the
# statistics queries' backends come and go), from clock ticks.
pg_total_ns() {
	local t pid
	t=$(awk '{print $14 + $15 + $16 + $17}' /proc/"$1"/stat)
	for pid in $(pgrep -P "$1"); do t=$((t + $(awk '{print $14 + $15}' /proc/"$pid"/stat 2>/dev/null || echo 0))); done
	echo $((t * TICK_US * 1000))
}
wal_stats() {
	psql -Atq -F' ' "$DB_URL" -c "SELECT w.wal_bytes, w.wal_fpi, w.wal_sync, d.xact_commit
FROM pg_stat_wal w, pg_stat_database d WHERE d.datname = current_database()"
}

# cell NAME SCRIPT: one pgbench run; the measured window lies inside it, so
# the clients' backends live through all of it.
cell() {
	local name=$1 script=$2 load0 cpu0 cpu1 busy0 all0 busy1 all1 w0 f0 s0 x0 w1 f1 s1 x1 n pgbench_pid t0 t1
	pgbench -n -M prepared -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "$CLIENTS" -j 2 -T $((DURATION + 5)) \
		-f "$script" usersvc_bench_floor >"$SCRIPTS/$name.out" 2>&1 &
	pgbench_pid=$!
	sleep 3
	read -r w0 f0 s0 x0 < <(wal_stats)
	load0=$(cut -d' ' -f1 /proc/loadavg)
	cpu0=$(pg_total_ns "$PG_PID")
	read -r busy0 all0 < <(machine_ticks)
	t0=$(date +%s%N)
	sleep "$DURATION"
	cpu1=$(pg_total_ns "$PG_PID")
	read -r busy1 all1 < <(machine_ticks)
	t1=$(date +%s%N)
	read -r w1 f1 s1 x1 < <(wal_stats)
	wait "$pgbench_pid" || { cat "$SCRIPTS/$name.out" >&2; return 1; }
	n=$((x1 - x0 - 1)) # less the statistics query's own transaction
	awk -v name="$name" -v c="$CLIENTS" -v n="$n" -v secs="$(((t1 - t0) / 1000000))" -v cpu="$((cpu1 - cpu0))" \
		-v wal="$((w1 - w0))" -v fpi="$((f1 - f0))" -v syncs="$((s1 - s0))" \
		-v busy="$((busy1 - busy0))" -v all="$((all1 - all0))" -v load="$load0→$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
		printf "cell=%s clients=%d tps=%.0f pg_cpu_us=%.0f wal_bytes=%.0f fpi=%.3f wal_flushes=%.3f machine_busy=%d%% load=%s\n",
			name, c, n * 1000 / secs, cpu / 1000 / n, wal / n, fpi / n, syncs / n, 100 * busy / all, load }'
}

log "pgbench -M prepared -c $CLIENTS -T $DURATION per cell, $USERS users"
cell trivial "$SCRIPTS/trivial.sql"
cell check_in "$SCRIPTS/check_in.sql"
psql -q "$DB_URL" >/dev/null <<'SQL'
CREATE OR REPLACE FUNCTION activity_record(p_user_id text, p_type text, p_occurred_at timestamptz, p_goal_id bigint,
    p_badge_id bigint, p_check_in_id bigint, p_title text, p_streak_count integer, p_local_date date, p_minutes integer)
RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE OR REPLACE FUNCTION outbox_record(p_user_id text, p_routing_key text, p_event_type text, p_data json)
RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$;
SQL
cell bare "$SCRIPTS/check_in.sql"
