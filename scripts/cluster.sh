#!/usr/bin/env bash
# cluster.sh — what `make cluster` runs: the multi-replica proof (deploy/cluster),
# long profile, CLUSTER_RUNS times in a row (default 2). Each run starts its own
# PostgreSQL and RabbitMQ on free ports (scripts/services.sh), three `usersvc serve`
# and two `usersvc consume`, and prints its figures. No Docker, no shared stack.
#
#   CLUSTER_RUNS=1 make cluster      one run
#   CLUSTER_PROFILE=short make cluster   the round `make test` runs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
export USERSVC_SERVICES_SCRIPT="$ROOT/scripts/services.sh"
bash "$USERSVC_SERVICES_SCRIPT" install

runs=${CLUSTER_RUNS:-2}
work=$(mktemp -d /tmp/usersvc-cluster.XXXXXX)
trap 'rm -rf "$work"' EXIT
export USERSVC_CLUSTER="${CLUSTER_PROFILE:-long}" USERSVC_CLUSTER_REPORT="$work/report.md"

echo "[cluster] $runs run(s), profile $USERSVC_CLUSTER; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
set +e
go test -count="$runs" -timeout 30m -run '^TestCluster$' -v ./deploy/cluster >"$work/log" 2>&1
rc=$?
set -e
grep -E '^\s+cluster_test.go:[0-9]+: +[0-9.]+s ' "$work/log" >&2 || true
[[ -f "$work/report.md" ]] && cat "$work/report.md"
if ((rc != 0)); then
	cp "$work/log" /tmp/usersvc-cluster-failed.log
	echo "[cluster] FAILED; the end of the log (all of it: /tmp/usersvc-cluster-failed.log):" >&2
	tail -60 "$work/log" | cut -c1-400 >&2
fi
echo "[cluster] load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$rc"
