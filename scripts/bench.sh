#!/usr/bin/env bash
# bench.sh — `make bench`: every route a client calls often, one table.
#
# In one run on this machine: a throwaway PostgreSQL with default durability
# (fsync on), a database seeded with scripts/bench-seed.sql (BENCH_USERS users,
# user ids drawn uniformly), `usersvc serve` with the rate limiter off, valid
# HS256 tokens for every user (internal/benchtool), then for each route and
# each connection count a wrk cell (scripts/bench.lua), and for each read
# route `pgbench -M prepared` on the very statements one request of that route
# executed (captured from PostgreSQL's log), right before the cell.
#
# Columns: req/s; p50 and p99 latency; errors (non-2xx responses + socket
# errors); CPU of serve and of PostgreSQL (all its processes) per request in
# µs, from /proc/<pid>/stat; pgbench's rate for the same statements and the
# ratio req/s ÷ pgbench tps. Then serve's RSS idle and at its peak.
#
#   scripts/bench.sh                       # 5 s a cell, 32 and 128 connections, 10,000 users
#   BENCH_SECONDS=15 scripts/bench.sh      # longer cells
#   BENCH_ROUTES="goal-list goal-create" BENCH_CONNS=32 scripts/bench.sh
#   BENCH_USERS=1000000 BENCH_KEEP=/tmp/bench-1m scripts/bench.sh   # see docs/performance.md
#
# BENCH_KEEP=DIR keeps (and on later runs reuses) the seeded cluster in DIR.
# BENCH_ONLY_READS=1 skips the write routes (they change the data).
# BENCH_BIN=path runs that usersvc binary instead of building this tree's
# (scripts/bench-compare.sh; the seed fits a schema from before the tracker).
# BENCH_QUIET=S sends serve no request for S seconds before every cell but the
# first (what a burst after a quiet spell meets: the pool's idle trimming).
# BENCH_PROFILE=ROUTE takes a CPU profile of serve during that route's first
# cell (bin/bench-logs/cpu-ROUTE.pprof; go tool pprof -top bin/usersvc FILE).
# The table goes to stdout and to bin/bench-table.md; each cell's wrk and
# pgbench output, and the pgbench scripts, to bin/bench-logs/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SECONDS_PER_CELL=${BENCH_SECONDS:-5}
CONNS_LIST=${BENCH_CONNS:-"32 128"}
USERS=${BENCH_USERS:-10000}
GOALS=10 BADGES=5
READS="goal-list badge-list profile me activity calendar"
WRITES="goal-create goal-update badge-create check-in goal-delete"
ROUTES=${BENCH_ROUTES:-"$READS $WRITES"}
[[ "${BENCH_ONLY_READS:-0}" == 1 ]] && ROUTES=$(for r in $ROUTES; do [[ " $READS " == *" $r "* ]] && echo -n "$r "; done; true)
PG_PORT=${BENCH_PG_PORT:-54379}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18020}
POOL=${BENCH_POOL:-32}
PPROF_ADDR=${BENCH_PPROF_ADDR:-127.0.0.1:18021}
log() { printf '[bench] %s\n' "$*" >&2; }

for tool in wrk pgbench; do
	command -v $tool >/dev/null || { log "installing wrk and pgbench"; apt-get install -y -qq wrk postgresql-contrib >/dev/null; }
done

STACK="" SERVE_PID="" KEEP=${BENCH_KEEP:-}
cleanup() {
	[[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
	if [[ -n "$KEEP" ]]; then
		bash scripts/services.sh stop-pg "$STACK" >/dev/null 2>&1 || true
	elif [[ -n "$STACK" ]]; then
		bash scripts/services.sh destroy "$STACK" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

if [[ -n "$KEEP" ]]; then
	STACK=$KEEP
	mkdir -p "$STACK"
else
	STACK=$(mktemp -d /tmp/usersvc-bench.XXXXXX)
fi
chmod 755 "$STACK"
PG_FAST=0 bash scripts/services.sh start-pg "$STACK" "$PG_PORT" >&2
ADMIN_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/usersvc_bench?sslmode=disable"
PGDATA_DIR="$(readlink -f "$STACK/pg")/data"
PGLOG_DIR="$STACK/pglog"
if [[ "$(psql -At "$ADMIN_URL" -c 'SHOW logging_collector')" != on ]]; then
	# csvlog is how a read route's statements are captured for pgbench.
	mkdir -p "$PGLOG_DIR" && chown postgres: "$PGLOG_DIR"
	psql -q "$ADMIN_URL" -c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET logging_collector = on" \
		-c "ALTER SYSTEM SET log_destination = 'csvlog'" -c "ALTER SYSTEM SET log_directory = '$PGLOG_DIR'" \
		-c "ALTER SYSTEM SET log_filename = 'pg.log'" -c "ALTER SYSTEM SET log_rotation_size = 0"
	bash scripts/services.sh restart-pg "$STACK" >&2
fi

BIN=${BENCH_BIN:-bin/usersvc}
[[ -n "${BENCH_BIN:-}" ]] || go build -o bin/usersvc ./cmd/usersvc
go build -o bin/benchtool ./internal/benchtool

seeded=$(psql -At "$ADMIN_URL" -c "SELECT count(*) FROM pg_database WHERE datname = 'usersvc_bench'")
if [[ "$seeded" == 1 && -n "$KEEP" && -f "$STACK/seeded-$USERS" ]]; then
	log "reusing the seeded database in $STACK ($USERS users)"
else
	psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS usersvc_bench WITH (FORCE)" -c "CREATE DATABASE usersvc_bench"
	DATABASE_URL="$DB_URL" "$BIN" migrate up >/dev/null
	log "seeding $USERS users × $GOALS goals × $BADGES badges, one check-in per goal"
	t0=$(date +%s)
	# wal_level = minimal while seeding: the seed fills tables it truncated in
	# its own transaction, which then skip the WAL (fsync stays on: the files
	# are synced at COMMIT). The runs themselves use the default level.
	psql -q "$ADMIN_URL" -c "ALTER SYSTEM SET wal_level = minimal" -c "ALTER SYSTEM SET max_wal_senders = 0"
	bash scripts/services.sh restart-pg "$STACK" >&2
	psql -q -v users="$USERS" -v goals=$GOALS -v badges=$BADGES -f scripts/bench-seed.sql "$DB_URL" >/dev/null
	psql -q "$ADMIN_URL" -c "ALTER SYSTEM RESET wal_level" -c "ALTER SYSTEM RESET max_wal_senders"
	bash scripts/services.sh restart-pg "$STACK" >&2
	log "seeded in $(($(date +%s) - t0)) s (load average $(cut -d" " -f1-3 /proc/loadavg)); database $(psql -At "$ADMIN_URL" -c "SELECT pg_size_pretty(pg_database_size('usersvc_bench'))")"
	[[ -n "$KEEP" ]] && touch "$STACK/seeded-$USERS"
fi

SECRET=$("$BIN" gen-secret)
bin/benchtool tokens -secret "$SECRET" -users "$USERS" >"$STACK/tokens.lua"

DATABASE_URL="$DB_URL" SECRET_KEY=$SECRET HTTP_ADDR="$HTTP_ADDR" RATE_LIMIT_PER_MINUTE=0 \
	DATABASE_POOL_SIZE="$POOL" DATABASE_MAX_OVERFLOW=0 PPROF_ADDR="$PPROF_ADDR" ${BENCH_SERVE_ENV:-} \
	"$BIN" serve 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do curl -fs "http://$HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done
curl -fs "http://$HTTP_ADDR/users/u1/goals" >/dev/null || { log "serve does not answer"; exit 1; }
sleep 1
RSS_IDLE=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status")

HZ=$(getconf CLK_TCK)
POSTMASTER=$(head -1 "$PGDATA_DIR/postmaster.pid")
PG_CHILDREN=$(pgrep -c -P "$POSTMASTER")
# proc_ticks PID: utime+stime; with "all", plus reaped children's time.
proc_ticks() { awk -v all="${2:-}" '{ sub(/^.*\) /, ""); t = $12 + $13; if (all) t += $14 + $15; print t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
	local total kids p
	total=$(proc_ticks "$POSTMASTER" all)
	kids=$(pgrep -P "$POSTMASTER" || true)
	for p in $kids; do total=$((total + $(proc_ticks "$p"))); done
	echo "$total"
}

# settle_backends waits for pgbench's backends to be gone and reaped, so
# that their CPU is not counted in the cell that follows.
settle_backends() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(pgrep -c -P "$POSTMASTER") <= PG_CHILDREN)) && break
		sleep 0.1
	done
	sleep 0.2
}

# capture ROUTE: the pgbench script of one request of a read route.
capture() {
	local route=$1 uid=$((USERS / 2 + 7)) path
	case $route in
	goal-list) path=/users/u$uid/goals ;; badge-list) path=/users/u$uid/badges ;;
	profile) path=/users/u$uid ;; activity) path=/users/u$uid/activity ;;
	calendar) path=/users/u$uid/activity/calendar ;;
	me) path=/users/me ;;
	esac
	local tok
	tok=$(sed -n "$((uid + 1))p" "$STACK/tokens.lua" | tr -d '",')
	psql -q "$ADMIN_URL" -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
	: >"$PGLOG_DIR/pg.csv"
	curl -fs -o /dev/null -H "Authorization: Bearer $tok" "http://$HTTP_ADDR$path"
	sleep 0.3
	psql -q "$ADMIN_URL" -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
	bin/benchtool pgbench -log "$PGLOG_DIR/pg.csv" -user "u$uid" -users "$USERS" >"$STACK/$route.sql"
	cp "$STACK/$route.sql" "$LOGS/"
}

# delete_list: every goal as "user id" lines, newest first (the goals the
# create cells just made come first).
delete_list() {
	psql -At -F ' ' "$DB_URL" -c "SELECT auth_user_id, id FROM learning_goals ORDER BY id DESC" >"$STACK/victims.txt"
}

TABLE="$ROOT/bin/bench-table.md"
LOGS="$ROOT/bin/bench-logs" # each cell's wrk and pgbench output
rm -rf "$LOGS" && mkdir -p "$LOGS"
{
	echo "| route | conns | req/s | p50 ms | p99 ms | errors | serve µs/req | PG µs/req | pgbench tps | ratio |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$TABLE"
cat "$TABLE"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

cells=0
for route in $ROUTES; do
	read_route=0
	[[ " $READS " == *" $route "* ]] && read_route=1
	((read_route)) && capture "$route"
	for conns in $CONNS_LIST; do
		[[ $route == goal-delete ]] && delete_list
		((cells++ > 0 && ${BENCH_QUIET:-0} > 0)) && { log "quiet for $BENCH_QUIET s"; sleep "$BENCH_QUIET"; }
		pgb="" ratio=""
		if ((read_route)); then
			# Its connections take a while to open on a busy machine, and
			# -T counts that time; pgbench leaves it out of its rate.
			pgbench -n -M prepared -c "$conns" -j 2 -T "$((SECONDS_PER_CELL + 2 + conns / 16))" -f "$STACK/$route.sql" "$DB_URL" >"$LOGS/pgbench-$route-$conns.txt" 2>&1 || true
			pgb=$(awk '/^tps/ {printf "%.0f", $3; exit}' "$LOGS/pgbench-$route-$conns.txt")
			settle_backends
		fi
		prof=""
		if [[ "${BENCH_PROFILE:-}" == "$route" && ! -f "$LOGS/cpu-$route.pprof" ]]; then
			curl -fs -o "$LOGS/cpu-$route.pprof" "http://$PPROF_ADDR/debug/pprof/profile?seconds=$((SECONDS_PER_CELL - 1))" &
			prof=$!
		fi
		s0=$(proc_ticks "$SERVE_PID") p0=$(pg_ticks)
		extra=()
		[[ $route == goal-delete ]] && extra=("$STACK/victims.txt" 2)
		out=$(wrk -c "$conns" -t 2 -d "${SECONDS_PER_CELL}s" --latency -s scripts/bench.lua "http://$HTTP_ADDR" \
			-- "$route" "$USERS" "$GOALS" "$STACK/tokens.lua" "${extra[@]}")
		s1=$(proc_ticks "$SERVE_PID") p1=$(pg_ticks)
		[[ -n "$prof" ]] && wait "$prof"
		echo "$out" >"$LOGS/wrk-$route-$conns.txt"
		total=$(echo "$out" | awk '/requests in/ {print $1}')
		rps=$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')
		p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
		p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
		non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
		sock=$(echo "$out" | awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}')
		errors=$((${non2xx:-0} + ${sock:-0}))
		us() { awk -v t="$1" -v hz="$HZ" -v n="$total" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n }'; }
		[[ -n "$pgb" ]] && ratio=$(awk -v a="$rps" -v b="$pgb" 'BEGIN { printf "%.2f", a / b }')
		ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0; else if (v ~ /s$/) printf "%.0f", v * 1000 }'; }
		line="| $route | $conns | $rps | $(ms "$p50") | $(ms "$p99") | $errors | $(us $((s1 - s0))) | $(us $((p1 - p0))) | ${pgb:-–} | ${ratio:-–} |"
		echo "$line" | tee -a "$TABLE"
	done
done

RSS_PEAK=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
{
	echo
	echo "serve RSS: idle $((RSS_IDLE / 1024)) MB, peak $((RSS_PEAK / 1024)) MB (pool $POOL connections)."
	echo "$USERS users; $SECONDS_PER_CELL s a cell; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), $(psql -At "$ADMIN_URL" -c 'SHOW server_version' | cut -d' ' -f1) (fsync $(psql -At "$ADMIN_URL" -c 'SHOW fsync'));"
	echo "load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%d)."
} | tee -a "$TABLE"
