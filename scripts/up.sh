#!/usr/bin/env bash
# up.sh — what `make up` runs: a complete local stack, data in .stack/ at the repo root.
#
#   PostgreSQL  127.0.0.1:54329  role usersvc / password usersvc, database usersvc
#   RabbitMQ    127.0.0.1:56729  (dist 56730, epmd 43699), amqp://guest:guest@127.0.0.1:56729/
#   consume     background, health on 127.0.0.1:8001, log .stack/consume.log
#   serve       foreground on 127.0.0.1:8000 (Ctrl-C stops it; `make down` stops everything)
#
# .stack/env holds the settings (SECRET_KEY is generated once and kept).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SERVICES="$ROOT/scripts/services.sh"
# The USERSVC_UP_* overrides exist only to try this script beside a running stack; `make up` uses the defaults.
STACK="${USERSVC_UP_STACK_DIR:-$ROOT/.stack}"
PG_PORT=${USERSVC_UP_PG_PORT:-54329}
AMQP_PORT=${USERSVC_UP_AMQP_PORT:-56729}
DIST_PORT=${USERSVC_UP_DIST_PORT:-56730}
EPMD_PORT=${USERSVC_UP_EPMD_PORT:-43699}
HTTP_ADDR=${USERSVC_UP_HTTP_ADDR:-127.0.0.1:8000}
CONSUMER_HEALTH_ADDR=${USERSVC_UP_CONSUMER_HEALTH_ADDR:-127.0.0.1:8001}
DEVAUTH_ADDR=${USERSVC_UP_DEVAUTH_ADDR:-127.0.0.1:8002}

log() { printf '[up] %s\n' "$*" >&2; }
die() { printf '[up] error: %s\n' "$*" >&2; exit 1; }

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || die "Go is not installed (expected on PATH or in /usr/local/go)"

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
read_pid() { [[ -f "$1" ]] && tr -dc '0-9' <"$1" || true; }

# stop_bg NAME: stops the background process recorded in .stack/NAME.pid (if it is still running).
stop_bg() {
	local name=$1 pid i
	pid=$(read_pid "$STACK/$name.pid")
	if pid_alive "$pid"; then
		log "stopping previous $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do pid_alive "$pid" || break; sleep 0.1; done
		if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	rm -f "$STACK/$name.pid"
}

serve_pid=$(read_pid "$STACK/serve.pid")
if pid_alive "$serve_pid"; then
	die "usersvc serve is already running (pid $serve_pid) on http://$HTTP_ADDR; run 'make down' first"
fi

# --- PostgreSQL and RabbitMQ -----------------------------------------------------------
bash "$SERVICES" install
mkdir -p "$STACK"
bash "$SERVICES" start-pg "$STACK" "$PG_PORT"
bash "$SERVICES" start-rabbit "$STACK" "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT"

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }
if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'usersvc'")" != 1 ]]; then
	log "creating role usersvc"
	psql_admin -c "CREATE ROLE usersvc LOGIN PASSWORD 'usersvc'"
fi
if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'usersvc'")" != 1 ]]; then
	log "creating database usersvc"
	psql_admin -c "CREATE DATABASE usersvc OWNER usersvc ENCODING 'UTF8'"
fi

# --- settings ------------------------------------------------------------------------------
SECRET_KEY=""
if [[ -f "$STACK/env" ]]; then
	SECRET_KEY=$(sed -n 's/^SECRET_KEY=//p' "$STACK/env" | head -n1)
fi
if [[ ${#SECRET_KEY} -lt 64 ]]; then
	if command -v openssl >/dev/null; then
		SECRET_KEY=$(openssl rand -hex 32)
	else
		SECRET_KEY=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	fi
	log "generated a new SECRET_KEY (kept in .stack/env)"
fi
(
umask 077
cat >"$STACK/env" <<EOF
# written by scripts/up.sh — local development settings (SECRET_KEY is kept across runs)
DATABASE_URL=postgres://usersvc:usersvc@127.0.0.1:$PG_PORT/usersvc?sslmode=disable
RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/
SECRET_KEY=$SECRET_KEY
APP_ENV=development
HTTP_ADDR=$HTTP_ADDR
CONSUMER_HEALTH_ADDR=$CONSUMER_HEALTH_ADDR
EOF
)
set -a
# shellcheck disable=SC1091
. "$STACK/env"
set +a

# --- build and migrate -------------------------------------------------------------------
log "go build -o bin/usersvc ./cmd/usersvc"
go build -o bin/usersvc ./cmd/usersvc
log "bin/usersvc migrate up"
bin/usersvc migrate up

# --- development auth-service (hook) ---------------------------------------------------------
# >>> devauth hook: only when ./cmd/devauth exists. It serves GET /users/{id} and /users for the
# >>> auth-service client (contract §5); serve and consume then get AUTH_SERVICE_URL.
stop_bg devauth
if [[ -d cmd/devauth ]]; then
	log "go build -o bin/devauth ./cmd/devauth"
	go build -o bin/devauth ./cmd/devauth
	DEVAUTH_URL="http://$DEVAUTH_ADDR"
	# devauth keeps its users in a database of its own, so their ids survive a restart.
	if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'devauth'")" != 1 ]]; then
		log "creating database devauth (the development auth-service's users)"
		psql_admin -c "CREATE DATABASE devauth OWNER usersvc ENCODING 'UTF8'"
	fi
	# devauth signs with an Ed25519 key of its own (DEVAUTH_SIGNING=hs256 make up: HS256 with SECRET_KEY);
	# usersvc verifies EdDSA tokens with its JWK Set, and HS256 ones with SECRET_KEY.
	DEVAUTH_ADDR="$DEVAUTH_ADDR" DEVAUTH_DATABASE_URL="postgres://usersvc:usersvc@127.0.0.1:$PG_PORT/devauth?sslmode=disable" \
		DEVAUTH_SIGNING="${DEVAUTH_SIGNING:-eddsa}" setsid bin/devauth </dev/null >>"$STACK/devauth.log" 2>&1 &
	echo $! >"$STACK/devauth.pid"
	export AUTH_SERVICE_URL="$DEVAUTH_URL" JWKS_URL="$DEVAUTH_URL/.well-known/jwks.json" JWT_ALGORITHMS="EdDSA,HS256"
	printf '%s\n' "AUTH_SERVICE_URL=$DEVAUTH_URL" "JWKS_URL=$JWKS_URL" "JWT_ALGORITHMS=$JWT_ALGORITHMS" >>"$STACK/env"
	log "devauth started on $DEVAUTH_URL (pid $(cat "$STACK/devauth.pid"), log .stack/devauth.log)"
fi
# <<< end of devauth hook

# --- consumer (background) and API (foreground) ----------------------------------------------
stop_bg consume
setsid bin/usersvc consume </dev/null >>"$STACK/consume.log" 2>&1 &
echo $! >"$STACK/consume.pid"
log "consume started (pid $(cat "$STACK/consume.pid"), health http://$CONSUMER_HEALTH_ADDR/health, log .stack/consume.log)"

# --- a demo user and its token (through devauth) ---------------------------------------------
# wait_ok URL SECONDS: true once URL answers 2xx.
wait_ok() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
DEMO=""
if [[ -n "${DEVAUTH_URL:-}" ]] && command -v curl >/dev/null; then
	# The consumer must have declared its queue before the event is published, or the event is lost.
	wait_ok "$DEVAUTH_URL/health" 20 || log "warning: devauth does not answer (see .stack/devauth.log)"
	wait_ok "http://$CONSUMER_HEALTH_ADDR/ready" 30 || log "warning: the consumer is not ready (see .stack/consume.log)"
	resp=$(curl -fsS -X POST "$DEVAUTH_URL/users" -H 'Content-Type: application/json' \
		-d '{"email":"demo@example.com","username":"demo"}' 2>/dev/null || true)
	TOKEN=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$resp")
	DEMO_ID=$(sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p' <<<"$resp")
	if [[ -n "$TOKEN" && -n "$DEMO_ID" ]]; then
		API="http://$HTTP_ADDR"
		DEMO=$(
			cat <<EOT
  Demo user $DEMO_ID (demo@example.com), created through devauth; its token is valid for 1 hour:

    export TOKEN=$TOKEN

    curl -s $API/users/me -H "Authorization: Bearer \$TOKEN"
    curl -s -X POST $API/users/$DEMO_ID/badges -H "Authorization: Bearer \$TOKEN" \\
         -H 'Content-Type: application/json' -d '{"name":"First Steps"}'
    GOAL=\$(curl -s -X POST $API/users/$DEMO_ID/goals -H "Authorization: Bearer \$TOKEN" \\
         -H 'Content-Type: application/json' -d '{"title":"Learn Go"}' | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
    curl -s $API/users/$DEMO_ID
    curl -s $API/users/$DEMO_ID/goals
    curl -s -X POST $API/users/$DEMO_ID/goals/\$GOAL/check-ins -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"minutes":25}'
    curl -s $API/users/$DEMO_ID/activity/calendar     # or open $API/users/$DEMO_ID/activity/calendar.svg in a browser

  More users (each publishes UserCreated) and tokens, from devauth:
    curl -s -X POST $DEVAUTH_URL/users -H 'Content-Type: application/json' -d '{"email":"you@example.com","username":"you"}'
    curl -s -X POST $DEVAUTH_URL/tokens -H 'Content-Type: application/json' -d '{"sub":"ops","scope":"users:admin"}'
    curl -s -X DELETE $DEVAUTH_URL/users/$DEMO_ID     # UserDeleted: the user's badges and goals go too

  Watch what usersvc publishes on usersvc.events (the next 10 events as JSON lines; its AsyncAPI at http://$HTTP_ADDR/asyncapi.json):
    curl -sN "$DEVAUTH_URL/events/usersvc?n=10&wait=300"

  Signing keys (EdDSA; usersvc reads them from $DEVAUTH_URL/.well-known/jwks.json):
    curl -s -X POST $DEVAUTH_URL/keys/rotate   # a new key signs; the previous one stays published
    curl -s http://$HTTP_ADDR/metrics | grep usersvc_jwt_verified_total
EOT
		)
	else
		log "warning: could not create the demo user through devauth (see .stack/devauth.log)"
	fi
fi

cat >&2 <<EOF

  usersvc is starting on http://$HTTP_ADDR
    health   http://$HTTP_ADDR/health
    OpenAPI  http://$HTTP_ADDR/openapi.json
    AsyncAPI http://$HTTP_ADDR/asyncapi.json
    settings .stack/env   (set -a; . .stack/env; set +a  to use bin/usersvc by hand)
  Ctrl-C stops the API only; 'make down' stops the API, the consumer, RabbitMQ and PostgreSQL.

${DEMO:+$DEMO
}
EOF
echo $$ >"$STACK/serve.pid"
exec bin/usersvc serve
