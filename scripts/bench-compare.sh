#!/usr/bin/env bash
# bench-compare.sh — a before/after on a shared machine: runs one load
# script ROUNDS times against another commit's binary and this tree's,
# alternating (base, this, base, this, …), so both see the same neighbours.
#
#   scripts/bench-compare.sh BASE_REF ROUNDS SCRIPT [SCRIPT ARGS…]
#   scripts/bench-compare.sh main 3 scripts/bench-checkins.sh 15 32 1000
#
# BASE_REF's tree is exported (git archive) to a temporary folder and built
# there; the load script, its seeding and its measuring are this tree's for
# both. Each line the script prints (its results) is prefixed with its side.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
BASE_REF=${1:?BASE_REF}
ROUNDS=${2:?ROUNDS}
SCRIPT=${3:?SCRIPT}
shift 3

BASE_DIR=$(mktemp -d /tmp/usersvc-base.XXXXXX)
trap 'rm -rf "$BASE_DIR"' EXIT
git archive "$BASE_REF" | tar -x -C "$BASE_DIR"
(cd "$BASE_DIR" && go build -o "$BASE_DIR/usersvc" ./cmd/usersvc)
go build -o bin/usersvc ./cmd/usersvc
cp bin/usersvc "$BASE_DIR/usersvc-this"

for round in $(seq "$ROUNDS"); do
	for side in base this; do
		bin="$BASE_DIR/usersvc"
		[[ $side == this ]] && bin="$BASE_DIR/usersvc-this"
		BENCH_BIN="$bin" bash "$SCRIPT" "$@" 2>/dev/null | sed "s/^/$side round=$round /"
	done
done
