#!/usr/bin/env bash
# down.sh — what `make down` runs: stops what scripts/up.sh started (serve, consume, devauth,
# RabbitMQ and PostgreSQL of .stack/) and nothing else. Data in .stack/ is kept.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STACK="${USERSVC_UP_STACK_DIR:-$ROOT/.stack}"

log() { printf '[down] %s\n' "$*" >&2; }

if [[ ! -d "$STACK" ]]; then
	log "no .stack/: nothing to stop"
	exit 0
fi

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
read_pid() { [[ -f "$1" ]] && tr -dc '0-9' <"$1" || true; }

# stop_bg NAME WANT: SIGTERM the pid in .stack/NAME.pid if it still runs WANT (guards against pid reuse).
stop_bg() {
	local name=$1 want=$2 pid i
	pid=$(read_pid "$STACK/$name.pid")
	if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$want"; then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		# consume may take up to 25 s to finish the messages in hand.
		for ((i = 0; i < 300; i++)); do pid_alive "$pid" || break; sleep 0.1; done
		if pid_alive "$pid"; then
			log "$name did not stop within 30 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$STACK/$name.pid"
}

stop_bg serve "usersvc serve" &
stop_bg consume "usersvc consume" &
stop_bg devauth "devauth" &
wait
bash "$ROOT/scripts/services.sh" stop "$STACK"
log "stack stopped (data kept in .stack/)"
