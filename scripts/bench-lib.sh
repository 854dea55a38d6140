# bench-lib.sh — sourced by scripts/bench-*.sh: what one load run costs.
#
# The machine is shared, so besides the rate each run reports the CPU time
# the service and PostgreSQL spent per request (from /proc/PID/task/*/schedstat) and
# how busy the whole machine was meanwhile (from /proc/stat). Per-request CPU
# grows when the machine is oversubscribed (more switches, colder caches):
# compare figures taken under a similar load, alternating (bench-compare.sh).
#
#   cpu_start SERVE_PID DB_URL     before the load
#   cpu_report REQUESTS            after it: prints "server_cpu_us=… pg_cpu_us=… machine_busy=…%
#                                  others_busy=…% load=BEFORE→AFTER" (others: every process
#                                  but the service and PostgreSQL, the load generator included)
#   wrk_requests "$WRK_OUT"        the number of requests wrk completed
#   bench_database NAME            a durable PostgreSQL of the run's own (unless
#                                  BENCH_DATABASE_URL names a superuser URL), a fresh
#                                  database NAME in it as DB_URL, and an EXIT trap that
#                                  stops SERVE_PID and that PostgreSQL

# proc_ns PID: the CPU time of all threads of a process so far, in ns
# (schedstat: measured at each switch, not sampled at clock ticks).
proc_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{t += $1} END {printf "%.0f\n", t}'; }

# pg_ns POSTMASTER_PID: the postmaster and its live children (backends, WAL
# writer, checkpointer…); the service's pooled connections live through a run.
pg_ns() {
	local total pid
	total=$(proc_ns "$1")
	for pid in $(pgrep -P "$1"); do total=$((total + $(proc_ns "$pid"))); done
	echo "$total"
}

TICK_US=$((1000000 / $(getconf CLK_TCK)))

# machine_ticks: busy and total clock ticks of all CPUs.
machine_ticks() { awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat; }

cpu_start() {
	CPU_SERVE_PID=$1
	CPU_PG_PID=$(head -1 "$(psql -Atq "$2" -c 'SHOW data_directory')/postmaster.pid")
	CPU_SERVE0=$(proc_ns "$CPU_SERVE_PID")
	CPU_PG0=$(pg_ns "$CPU_PG_PID")
	read -r CPU_BUSY0 CPU_ALL0 < <(machine_ticks)
	CPU_LOAD0=$(cut -d' ' -f1 /proc/loadavg)
}

cpu_report() {
	local n=$1 serve pg busy all
	serve=$((($(proc_ns "$CPU_SERVE_PID") - CPU_SERVE0) / 1000))
	pg=$((($(pg_ns "$CPU_PG_PID") - CPU_PG0) / 1000))
	read -r busy all < <(machine_ticks)
	busy=$(((busy - CPU_BUSY0) * TICK_US)) all=$(((all - CPU_ALL0) * TICK_US))
	printf 'server_cpu_us=%s pg_cpu_us=%s machine_busy=%s%% others_busy=%s%% load=%s→%s' \
		"$((serve / (n > 0 ? n : 1)))" "$((pg / (n > 0 ? n : 1)))" \
		"$((100 * busy / (all > 0 ? all : 1)))" "$((100 * (busy - serve - pg) / (all > 0 ? all : 1)))" \
		"$CPU_LOAD0" "$(cut -d' ' -f1 /proc/loadavg)"
}

# write_batch_start HTTP_ADDR / write_batch_report HTTP_ADDR: the mean number
# of writes per commit of the service's write pipeline in between (/metrics).
pipeline_counter() {
	# awk reads to the end: an early exit would fail curl (SIGPIPE) under pipefail
	curl -fs "http://$1/metrics" | awk -v name="$2" '$1 == name "{pipeline=\"writes\"}" {v = $2} END {print v}'
}
write_batch_start() {
	WB_BATCHES0=$(pipeline_counter "$1" db_pipeline_batches_total)
	WB_STATEMENTS0=$(pipeline_counter "$1" db_pipeline_statements_total)
}
write_batch_report() {
	awk -v b0="$WB_BATCHES0" -v s0="$WB_STATEMENTS0" -v b1="$(pipeline_counter "$1" db_pipeline_batches_total)" \
		-v s1="$(pipeline_counter "$1" db_pipeline_statements_total)" \
		'BEGIN { printf "writes_per_commit=%.1f", (b1 > b0 ? (s1 - s0) / (b1 - b0) : 0) }'
}

wrk_requests() { echo "$1" | awk '/requests in/ {print $1; exit}'; }

# wrk_p99 WRK_OUT: the 99th percentile latency of a --latency run.
wrk_p99() { echo "$1" | awk '$1 == "99%" {print $2; exit}'; }

# warm_up URL [WRK ARGS…]: two seconds of the same load, not counted: every
# pooled connection's backend has then cached its plans and catalogs, as in
# a service that has been up for a while.
warm_up() { wrk -c "${CONNS:-32}" -t 2 -d 2s "$@" >/dev/null 2>&1 || true; }

# bench_database NAME: see the header. Durable (fsync on) because every
# figure a bench reports is meant with the durability production has.
STACK="" SERVE_PID=""
bench_cleanup() {
	[[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
	[[ -n "$STACK" ]] && bash scripts/services.sh destroy "$STACK" >/dev/null 2>&1 || true
}
bench_database() {
	local name=$1
	trap bench_cleanup EXIT
	if [[ -z "${BENCH_DATABASE_URL:-}" ]]; then
		STACK=$(mktemp -d /tmp/usersvc-bench.XXXXXX)
		chmod 755 "$STACK"
		PG_FAST=0 bash scripts/services.sh start-pg "$STACK" "$PG_PORT" >&2
		BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	fi
	DB_URL="${BENCH_DATABASE_URL%%\?*}"
	DB_URL="${DB_URL%/*}/$name?sslmode=disable"
	psql -q "$BENCH_DATABASE_URL" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
}

# seed_goal_per_user USERS: users user1…userN, each owning goal N (the
# check-in benches' data), in the database bench_database made.
seed_goal_per_user() {
	psql -q "$DB_URL" >/dev/null <<SQL
INSERT INTO auth_users (auth_user_id) SELECT 'user' || u FROM generate_series(1, $1) u;
INSERT INTO learning_goals (id, auth_user_id, title) OVERRIDING SYSTEM VALUE
SELECT u, 'user' || u, 'Learn Go' FROM generate_series(1, $1) u;
SELECT setval(pg_get_serial_sequence('learning_goals', 'id'), $1);
SQL
}
