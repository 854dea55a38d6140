#!/usr/bin/env bash
# bench-scale.sh — `make bench-scale`: are the reads flat at a million users?
#
# In one session: `make bench`'s read routes (scripts/bench.sh with
# BENCH_ONLY_READS=1, same cells and settings) at 10,000 users and then at
# 1,000,000 users (10 M goals, 5 M badges, 10 M check-ins, 25 M activity
# items), EXPLAIN (ANALYZE, BUFFERS) of every statement those routes ran at
# a million users (scripts/bench-explain.sh), and one table of p50 latencies
# side by side with their ratio (issue 14's target: ≤ 1.5).
#
#   scripts/bench-scale.sh
#   BENCH_SCALE_DIR=/tmp/usersvc-scale scripts/bench-scale.sh   # where the clusters are kept (default)
#   BENCH_PG_PORT=… BENCH_HTTP_ADDR=… BENCH_PPROF_ADDR=… BENCH_SECONDS=… BENCH_CONNS=…   # passed to bench.sh
#
# Both seeded clusters are kept (BENCH_KEEP) in BENCH_SCALE_DIR/bench-10k and
# bench-1m and reused by later runs: the million-user seed takes minutes and
# about 14 GB of disk; `scripts/services.sh destroy DIR` removes one.
# Output: bin/bench-scale.md (the p50 table, both bench tables, the seed time
# and the plans); each run's logs in bin/bench-scale/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
DIR=${BENCH_SCALE_DIR:-/tmp/usersvc-scale}
BIG=${BENCH_SCALE_USERS:-1000000}
OUT="$ROOT/bin/bench-scale"
log() { printf '[bench-scale] %s\n' "$*" >&2; }
mkdir -p "$DIR" "$OUT"

if [[ ! -f "$DIR/bench-1m/seeded-$BIG" ]]; then
	avail=$(df -BG --output=avail "$DIR" | tail -1 | tr -dc 0-9)
	((avail >= 30)) || { log "$DIR has ${avail} GB free; the $BIG-user seed needs about 30 GB while it builds"; exit 1; }
fi

# reads NAME USERS: bench.sh's read cells on the kept cluster DIR/bench-NAME.
reads() {
	local name=$1 users=$2
	log "reads at $users users (cluster $DIR/bench-$name)"
	BENCH_USERS=$users BENCH_ONLY_READS=1 BENCH_KEEP="$DIR/bench-$name" bash scripts/bench.sh 2>&1 |
		tee "$OUT/bench-$name.log"
	cp bin/bench-table.md "$OUT/table-$name.md"
	rm -rf "$OUT/logs-$name" && cp -r bin/bench-logs "$OUT/logs-$name"
	# The seed's time is printed only by the run that seeds: keep it.
	grep -q 'seeded in' "$OUT/bench-$name.log" &&
		grep 'seeded in' "$OUT/bench-$name.log" | sed 's/^\[bench\] //' >"$DIR/bench-$name/seed-time.txt"
	return 0
}

reads 10k 10000
reads 1m "$BIG"

log "EXPLAIN (ANALYZE, BUFFERS) at $BIG users"
explain_ok=0
BENCH_KEEP="$DIR/bench-1m" bash scripts/bench-explain.sh "$OUT/logs-1m" >/dev/null || explain_ok=$?
cp bin/bench-explain.md "$OUT/explain-1m.md"

# p50 ROUTE CONNS NAME: the p50 column of a bench table.
p50() { awk -F' *\\| *' -v r="$1" -v c="$2" '$2 == r && $3 == c {print $5}' "$OUT/table-$3.md"; }
{
	echo "| route | conns | p50 ms at 10,000 users | p50 ms at $BIG users | ratio | ≤ 1.5 |"
	echo "|---|---|---|---|---|---|"
	awk -F' *\\| *' 'NR > 2 && NF > 5 {print $2, $3}' "$OUT/table-10k.md" | while read -r route conns; do
		a=$(p50 "$route" "$conns" 10k) b=$(p50 "$route" "$conns" 1m)
		[[ -n "$a" && -n "$b" ]] || continue
		ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
		ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5 ? "yes" : "**no**") }')
		echo "| $route | $conns | $a | $b | $ratio | $ok |"
	done
	echo
	echo "Seed of the $BIG-user cluster ($DIR/bench-1m): $(tr '\n' ' ' <"$DIR/bench-1m/seed-time.txt" 2>/dev/null || echo 'time not recorded')"
	echo
	echo "#### 10,000 users"
	echo
	cat "$OUT/table-10k.md"
	echo
	echo "#### $BIG users"
	echo
	cat "$OUT/table-1m.md"
	echo
	echo "### Plans at $BIG users"
	echo
	cat "$OUT/explain-1m.md"
} >"$ROOT/bin/bench-scale.md"
sed -n '1,/^$/p' "$ROOT/bin/bench-scale.md"
log "all of it in bin/bench-scale.md"
exit "$explain_ok"
