#!/usr/bin/env bash
# test.sh — what `make test` runs.
#
# Unless USERSVC_TEST_DATABASE_URL and USERSVC_TEST_RABBITMQ_URL are both set, it starts a
# throwaway PostgreSQL (127.0.0.1:25439, fsync off) and RabbitMQ (AMQP 25739, dist 25740,
# epmd 24709) in a fresh folder under /tmp, exports for the tests:
#   USERSVC_TEST_DATABASE_URL  postgres://postgres@127.0.0.1:25439/postgres?sslmode=disable
#   USERSVC_TEST_RABBITMQ_URL  amqp://guest:guest@127.0.0.1:25739/
#   USERSVC_TEST_STACK_DIR     the folder (tests may run: scripts/services.sh restart-rabbit "$USERSVC_TEST_STACK_DIR",
#                              scripts/services.sh stop-pg DIR / start-pg DIR "$USERSVC_TEST_PG_PORT")
#   USERSVC_TEST_PG_PORT       25439
#   USERSVC_SERVICES_SCRIPT    absolute path of scripts/services.sh
# then runs `go vet ./...` and `go test -race -count=1 -timeout 20m [ARGS] ./...`, and always
# stops (and deletes) what it started. Exit status: go vet's if it fails, else go test's.
#
# Extra arguments go to `go test`; if one of them is a package pattern (./x/..., usersvc/x),
# it replaces ./... .
# USERSVC_TEST_SKIP_VET=1 skips go vet.
# After a full run (no package pattern given) that passed, every fuzz target (func Fuzz… in a
# _test.go) is fuzzed for USERSVC_FUZZTIME each (default 5000x, 5,000 inputs: 25 targets,
# 0.2–5 s each, plus one build of the tree instrumented for fuzzing, about a minute from a
# cold cache); USERSVC_FUZZ=0 skips that step, and its failure is the exit status 1.
# A count, not a duration: with a duration Go 1.26's fuzz coordinator can report its own
# deadline as a failure, "context deadline exceeded" with no failing input (go.dev/issue/75804).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SERVICES="$ROOT/scripts/services.sh"
export USERSVC_SERVICES_SCRIPT="$SERVICES"

# Defaults; USERSVC_TEST_{PG,AMQP,DIST,EPMD}_PORT move the stack (e.g. for two runs side by side).
# They lie below the kernel's ephemeral range (32768–60999): tests restart these
# servers, and a port of that range left free for a moment can be taken as the
# source port of any outgoing connection.
PG_PORT=${USERSVC_TEST_PG_PORT:-25439}
AMQP_PORT=${USERSVC_TEST_AMQP_PORT:-25739}
DIST_PORT=${USERSVC_TEST_DIST_PORT:-25740}
EPMD_PORT=${USERSVC_TEST_EPMD_PORT:-24709}

log() { printf '[test] %s\n' "$*" >&2; }

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

STACK=""
pg_job="" rabbit_job=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Let starts still in flight finish, so that nothing they start is left behind.
	if [[ -n "$pg_job" ]]; then wait "$pg_job" 2>/dev/null || true; fi
	if [[ -n "$rabbit_job" ]]; then wait "$rabbit_job" 2>/dev/null || true; fi
	if [[ -n "$STACK" ]]; then
		log "stopping the test stack"
		bash "$SERVICES" destroy "$STACK" || log "warning: could not stop everything in $STACK"
	fi
	exit "$rc"
}

if [[ -n "${USERSVC_TEST_DATABASE_URL:-}" && -n "${USERSVC_TEST_RABBITMQ_URL:-}" ]]; then
	log "using the given USERSVC_TEST_DATABASE_URL and USERSVC_TEST_RABBITMQ_URL (no stack started)"
else
	for port in "$PG_PORT" "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "test.sh: port 127.0.0.1:$port is busy (another test run?); stop it, or set USERSVC_TEST_DATABASE_URL and USERSVC_TEST_RABBITMQ_URL" >&2
			exit 1
		fi
	done
	bash "$SERVICES" install
	STACK=$(mktemp -d /tmp/usersvc-test.XXXXXX)
	chmod 755 "$STACK" # the postgres user must be able to enter it
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	t0=$(date +%s%3N)
	# Start both at once; each prints its own progress lines.
	PG_FAST=1 bash "$SERVICES" start-pg "$STACK" "$PG_PORT" &
	pg_job=$!
	bash "$SERVICES" start-rabbit "$STACK" "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT" &
	rabbit_job=$!
	export USERSVC_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	export USERSVC_TEST_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
	export USERSVC_TEST_STACK_DIR="$STACK"
	export USERSVC_TEST_PG_PORT="$PG_PORT"
fi

# Package patterns among the arguments replace ./... ; everything else goes to go test as flags.
pkgs=()
for a in "$@"; do
	case "$a" in
	./* | usersvc | usersvc/*) pkgs+=("$a") ;;
	esac
done
((${#pkgs[@]} > 0)) || set -- "$@" ./...

go version >&2
# go vet runs while the stack boots (RabbitMQ needs ~10 s).
if [[ "${USERSVC_TEST_SKIP_VET:-0}" != 1 ]]; then
	log "go vet ./..."
	go vet ./...
fi
if [[ -n "$STACK" ]]; then
	ok=1
	wait "$pg_job" || ok=0
	wait "$rabbit_job" || ok=0
	pg_job="" rabbit_job=""
	[[ $ok == 1 ]] || { echo "test.sh: could not start the test stack (see above)" >&2; exit 1; }
	log "stack ready in $(($(date +%s%3N) - t0)) ms ($STACK)"
fi
log "go test -race -count=1 -timeout 20m $*"
set +e
go test -race -count=1 -timeout 20m "$@"
rc=$?
set -e

# fuzz_all fuzzes every fuzz target briefly: one instrumented test binary per
# package (building is most of the cost), run once per target in its package's
# folder. A failure prints its output; the failing input is saved under the
# package's testdata/fuzz/.
fuzz_all() {
	local fuzztime=${USERSVC_FUZZTIME:-5000x} bin dir name out n=0 failed=0 t0
	local cache
	cache="$(go env GOCACHE)/fuzz"
	bin=$(mktemp -d /tmp/usersvc-fuzz.XXXXXX)
	t0=$(date +%s)
	while read -r dir; do
		local pkg
		pkg=$(go list "$dir")
		if ! go test -c -fuzz . -o "$bin/fuzz.test" "$dir"; then
			failed=$((failed + 1))
			continue
		fi
		for name in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | cut -c6-); do
			n=$((n + 1))
			if ! out=$(cd "$dir" && "$bin/fuzz.test" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$fuzztime" \
				-test.fuzzcachedir "$cache/$pkg" 2>&1 </dev/null); then
				printf '%s\n' "$out" >&2
				log "fuzz $name ($pkg): FAILED"
				failed=$((failed + 1))
			fi
		done
	done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
	rm -rf "$bin"
	log "fuzzed $n targets, $fuzztime each, in $(($(date +%s) - t0)) s; $failed failed"
	((failed == 0))
}
if [[ $rc == 0 && ${#pkgs[@]} == 0 && "${USERSVC_FUZZ:-1}" != 0 ]]; then
	fuzz_all || rc=1
fi
exit "$rc"
