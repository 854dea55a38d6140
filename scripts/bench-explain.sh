#!/usr/bin/env bash
# bench-explain.sh — EXPLAIN (ANALYZE, BUFFERS) of every statement the read
# routes ran in the last `make bench` (the pgbench scripts scripts/bench.sh
# captured from PostgreSQL's log: bin/bench-logs/ROUTE.sql), against a
# cluster bench.sh kept, for one user; markdown for docs/performance.md.
#
#   BENCH_KEEP=/tmp/bench-1m scripts/bench-explain.sh [LOGS_DIR]   # default bin/bench-logs
#   BENCH_DATABASE_URL=postgres://… scripts/bench-explain.sh
#
# BENCH_KEEP=DIR: the kept cluster (started if stopped, and stopped again
# after). BENCH_EXPLAIN_UID=N explains for user uN (default: 37% of the way
# through the users, not the user the capture used). Each statement runs once:
# its buffers are those of a first request for that user ("read" = not in
# shared_buffers, from the OS cache or the disk).
#
# Output (stdout and bin/bench-explain.md): the database's size and its
# biggest tables, then per route and statement a summary line (plan nodes,
# indexes, buffers, execution time) and the plan. The last line says whether
# every plan reads by index only; the exit status is 1 if one does not
# (a sequential scan, or a sort of more than 1,000 rows).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
LOGS=${1:-bin/bench-logs}
OUT=bin/bench-explain.md
KEEP=${BENCH_KEEP:-}
started=""
if [[ -n "$KEEP" ]]; then
	. "$KEEP/pg.settings"
	if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
		bash scripts/services.sh start-pg "$KEEP" >&2
		started=1
	fi
	DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/usersvc_bench?sslmode=disable"
else
	DB_URL=${BENCH_DATABASE_URL:?set BENCH_KEEP or BENCH_DATABASE_URL}
fi
[[ -n "$started" ]] && trap 'bash scripts/services.sh stop-pg "$KEEP" >/dev/null 2>&1 || true' EXIT

ls "$LOGS"/*.sql >/dev/null 2>&1 || { echo "bench-explain: no route scripts in $LOGS (run scripts/bench.sh first)" >&2; exit 2; }
USERS=$(sed -n '1s/^\\set uid random(1, \([0-9]*\)).*/\1/p' "$(ls "$LOGS"/*.sql | head -1)")
UID_=${BENCH_EXPLAIN_UID:-$((USERS * 37 / 100 + 13))}

# explain_sql FILE: the route's statements, each prefixed with EXPLAIN, the
# pgbench \set line left out (psql's -v uid takes its place).
explain_sql() {
	awk 'NR == 1 && /^\\set/ { next }
		start && NF { printf "EXPLAIN (ANALYZE, BUFFERS) "; start = 0 }
		{ print }
		/;[[:space:]]*$/ { start = 1 }
		BEGIN { start = 1 }' "$1"
}

# summarize: one line per plan (psql prints each plan after its header
# "QUERY PLAN"): its nodes (index names kept), the top node's buffers and the
# execution time; and "BAD …" for a sequential scan or a sort of > 1,000 rows.
summarize() {
	awk '
	function flush() {
		if (nodes != "") printf "%s — buffers: %s — %s\n", nodes, (buf == "" ? "none" : buf), time
		nodes = ""; buf = ""; time = ""; planning = 0
	}
	/QUERY PLAN/ { flush(); next }
	/^ *Planning:/ { planning = 1; next }
	/^ *Planning Time/ { planning = 0; next }
	/Execution Time/ { sub(/^ */, ""); time = $0; next }
	/Buffers:/ && !planning && buf == "" { b = $0; sub(/^ *Buffers: */, "", b); buf = b; next }
	/\(cost=/ {
		line = $0
		sub(/^ *(-> *)?/, "", line)
		rows = 0
		if (match(line, /actual time=[^ ]* rows=[0-9]+/)) { rows = substr(line, RSTART, RLENGTH); sub(/.*rows=/, "", rows) }
		sub(/ *\(cost=.*/, "", line)
		if (line ~ /Seq Scan/ || (line ~ /^Sort/ && rows + 0 > 1000)) bad = bad "\nBAD: " line " (" rows " rows)"
		nodes = nodes (nodes == "" ? "" : "; ") line
	}
	END { flush(); if (bad != "") print substr(bad, 2) }'
}

{
	echo "Database: $(psql -At "$DB_URL" -c "SELECT pg_size_pretty(pg_database_size(current_database()))") for $USERS users;" \
		"PostgreSQL $(psql -At "$DB_URL" -c 'SHOW server_version' | cut -d' ' -f1), shared_buffers $(psql -At "$DB_URL" -c 'SHOW shared_buffers')."
	echo
	echo "| table | rows | heap | indexes |"
	echo "|---|---|---|---|"
	psql -At -F ' | ' "$DB_URL" -c "
		SELECT '| ' || c.relname, to_char(c.reltuples, 'FM999,999,999'), pg_size_pretty(pg_table_size(c.oid)),
		       pg_size_pretty(pg_indexes_size(c.oid)) || ' |'
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND pg_total_relation_size(c.oid) > 8 * 1024 * 1024
		ORDER BY pg_total_relation_size(c.oid) DESC"
	echo
	echo "Plans for user u$UID_; load average $(cut -d' ' -f1-3 /proc/loadavg)."
	bad_all=""
	for f in "$LOGS"/*.sql; do
		route=$(basename "$f" .sql)
		plans=$(explain_sql "$f" | psql -X -q -v ON_ERROR_STOP=1 -v uid="$UID_" "$DB_URL" 2>&1)
		summary=$(echo "$plans" | summarize)
		echo
		echo "#### $route"
		echo
		echo "$summary" | grep -v '^BAD' | sed 's/^/- /'
		if echo "$summary" | grep -q '^BAD'; then
			echo "$summary" | grep '^BAD' | sed 's/^/- **/; s/$/**/'
			bad_all+=" $route"
		fi
		echo
		echo '```text'
		echo "$plans" | grep -v -E '^(\(|-{5,}| *QUERY PLAN *$)' | sed '/^$/d'
		echo '```'
	done
	echo
	if [[ -z "$bad_all" ]]; then
		echo "Index access only: every statement of every route (no sequential scan, no sort of more than 1,000 rows)."
	else
		echo "NOT index access only:$bad_all."
	fi
} | tee "$OUT"
! grep -q '^NOT index access only' "$OUT"
