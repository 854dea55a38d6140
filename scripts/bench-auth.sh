#!/usr/bin/env bash
# bench-auth.sh — what a token's algorithm costs a request (issue 12).
#
# In one run it starts its own PostgreSQL, two development auth-services
# (devauth: one signing EdDSA and publishing its JWKS, one signing HS256 with
# the service's SECRET_KEY), and `usersvc serve` verifying both, then drives
# GET /users/me (an authenticated read: the token is verified on every
# request) with wrk, once per algorithm, and prints both rates and their ratio.
#
#   scripts/bench-auth.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
DURATION=${1:-10}
CONNS=${2:-32}
PG_PORT=${BENCH_PG_PORT:-54369}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18010}
EDDSA_ADDR=127.0.0.1:18012
HS_ADDR=127.0.0.1:18013
log() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }

STACK="" PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	[[ -n "$STACK" ]] && bash scripts/services.sh destroy "$STACK" >/dev/null 2>&1 || true
}
trap cleanup EXIT

STACK=$(mktemp -d /tmp/usersvc-bench-auth.XXXXXX)
chmod 755 "$STACK"
bash scripts/services.sh start-pg "$STACK" "$PG_PORT" >&2
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"

go build -o bin/usersvc ./cmd/usersvc
go build -o bin/devauth ./cmd/devauth
DATABASE_URL="$DB_URL" bin/usersvc migrate up >/dev/null
SECRET=$(bin/usersvc gen-secret)

DEVAUTH_ADDR=$EDDSA_ADDR bin/devauth 2>/dev/null &
PIDS+=($!)
DEVAUTH_ADDR=$HS_ADDR DEVAUTH_SIGNING=hs256 SECRET_KEY=$SECRET bin/devauth 2>/dev/null &
PIDS+=($!)
for a in $EDDSA_ADDR $HS_ADDR; do
	for _ in $(seq 100); do curl -fs "http://$a/.well-known/jwks.json" >/dev/null 2>&1 && break; curl -fs -o /dev/null "http://$a/" 2>/dev/null && break; sleep 0.1; done
done

DATABASE_URL="$DB_URL" SECRET_KEY=$SECRET JWKS_URL="http://$EDDSA_ADDR/.well-known/jwks.json" \
	JWT_ALGORITHMS=EdDSA,HS256 HTTP_ADDR="$HTTP_ADDR" RATE_LIMIT_PER_MINUTE=0 \
	DATABASE_POOL_SIZE="$CONNS" DATABASE_MAX_OVERFLOW=0 bin/usersvc serve 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://$HTTP_ADDR/health" >/dev/null && break; sleep 0.1; done

token() { curl -fs -X POST "http://$1/tokens" -H 'Content-Type: application/json' -d '{"sub":"bench-user"}' | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
declare -A RPS
for alg in EdDSA HS256; do
	addr=$EDDSA_ADDR
	[[ $alg == HS256 ]] && addr=$HS_ADDR
	tok=$(token "$addr")
	[[ -n "$tok" ]] || { log "devauth at $addr minted no token"; exit 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP_ADDR/users/me" -H "Authorization: Bearer $tok")
	[[ "$code" == 200 ]] || { log "$alg token: GET /users/me answered $code"; exit 1; }
	log "wrk -c $CONNS -t 2 -d ${DURATION}s GET /users/me with an $alg token"
	out=$(wrk -c "$CONNS" -t 2 -d "${DURATION}s" -H "Authorization: Bearer $tok" "http://$HTTP_ADDR/users/me")
	echo "$out" >&2
	RPS[$alg]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
done
printf 'connections=%s eddsa_rps=%s hs256_rps=%s ratio=%s\n' "$CONNS" "${RPS[EdDSA]}" "${RPS[HS256]}" \
	"$(awk -v a="${RPS[EdDSA]}" -v b="${RPS[HS256]}" 'BEGIN { printf "%.2f", a / b }')"
