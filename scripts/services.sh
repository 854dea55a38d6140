#!/usr/bin/env bash
# services.sh — run private PostgreSQL and RabbitMQ instances without systemd or Docker.
#
# Usage:
#   services.sh install                                   install postgresql + rabbitmq-server when missing
#   services.sh start-pg DIR [PORT]                       start (initdb on first use) PostgreSQL; no-op if running
#   services.sh stop-pg DIR                               stop that PostgreSQL (PG_STOP_MODE=fast|immediate|smart)
#   services.sh restart-pg DIR                            stop-pg + start-pg with the saved settings
#   services.sh start-rabbit DIR [AMQP DIST EPMD]         start RabbitMQ; no-op if running
#   services.sh stop-rabbit DIR                           SIGTERM the broker (keeps its private epmd)
#   services.sh restart-rabbit DIR                        SIGTERM + start with the saved settings
#   services.sh stop DIR                                  stop everything started with DIR (+ its epmd)
#   services.sh destroy DIR                               stop, then delete DIR and any PostgreSQL data kept for it
#   services.sh status DIR                                one line per service
#   services.sh env-rabbit DIR                            print the exports needed to run rabbitmqctl against it
#
# Environment:
#   PG_FAST=1   throwaway cluster: fsync=off, synchronous_commit=off, full_page_writes=off
#               (remembered in DIR at the first start, like the port)
#
# Layout of DIR:
#   DIR/pg            PostgreSQL base (data/, sock/, postgres.log); a symlink to a mktemp -d folder
#                     under /tmp when the postgres user cannot traverse DIR (e.g. DIR under /root)
#   DIR/pg.settings   PG_PORT, PG_FAST
#   DIR/pg.pid        postmaster pid
#   DIR/rabbit/       home (.erlang.cookie), mnesia/, log/, config files, settings, rabbit.pid
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

now_ms() { date +%s%3N; }
elapsed() { local s=$1 e; e=$(now_ms); printf '%d.%03ds' $(((e - s) / 1000)) $(((e - s) % 1000)); }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PID: the process exists and is not a zombie waiting for its (re)parent to reap it.
pid_alive() {
	[[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
	local state
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
	[[ "$state" != Z && "$state" != X ]]
}

read_pid() { [[ -f "$1" ]] && head -n1 "$1" | tr -dc '0-9' || true; }

check_port_arg() {
	[[ "$2" =~ ^[0-9]+$ ]] && (($2 > 0 && $2 < 65536)) || die "$1 must be a TCP port (1-65535), got '$2'"
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# ---------------------------------------------------------------- install

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
	done
	return 1
}

rabbit_sbin() {
	local d
	for d in $(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin 2>/dev/null | sort -V -r); do
		[[ -x "$d/rabbitmq-server" && -x "$d/rabbitmqctl" ]] && { echo "$d"; return 0; }
	done
	return 1
}

cmd_install() {
	local pkgs=()
	pg_bindir >/dev/null && command -v psql >/dev/null && command -v pg_isready >/dev/null || pkgs+=(postgresql)
	rabbit_sbin >/dev/null && command -v epmd >/dev/null || pkgs+=(rabbitmq-server)
	if ((${#pkgs[@]} == 0)); then
		log "postgresql and rabbitmq-server already installed"
		return 0
	fi
	[[ $(id -u) -eq 0 ]] || die "need root to install ${pkgs[*]} (or install them yourself)"
	log "installing ${pkgs[*]} (apt-get)…"
	local t; t=$(now_ms)
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
	pg_bindir >/dev/null || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
	rabbit_sbin >/dev/null || die "rabbitmq-server installed but no /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"
	log "installed ${pkgs[*]} in $(elapsed "$t")"
}

# ---------------------------------------------------------------- PostgreSQL

as_postgres() { runuser -u postgres -- "$@"; }

# pg_base DIR: prints the folder holding data/, sock/ and the log, creating it on first use.
pg_base() {
	local dir=$1 base
	if [[ -L "$dir/pg" || -d "$dir/pg" ]]; then
		base=$(readlink -f "$dir/pg")
		[[ -d "$base" ]] || die "$dir/pg points to $base, which is gone (delete $dir/pg to start afresh)"
		echo "$base"
		return 0
	fi
	id postgres >/dev/null 2>&1 || die "no 'postgres' user (run: $0 install)"
	if runuser -u postgres -- test -x "$dir" 2>/dev/null; then
		base="$dir/pg"
		mkdir -p "$base"
	else
		base=$(mktemp -d /tmp/usersvc-pg.XXXXXX)
		ln -s "$base" "$dir/pg"
		log "postgres cannot traverse $dir; PostgreSQL data kept in $base (linked from $dir/pg)"
	fi
	chown postgres: "$base"
	chmod 700 "$base"
	echo "$base"
}

pg_running_pid() {
	local dir=$1 pid
	pid=$(read_pid "$dir/pg.pid")
	if [[ -z "$pid" && -e "$dir/pg" ]]; then
		pid=$(read_pid "$(readlink -f "$dir/pg")/data/postmaster.pid")
	fi
	if pid_alive "$pid" && grep -qa postgres "/proc/$pid/cmdline" 2>/dev/null; then
		echo "$pid"
	fi
}

cmd_start_pg() {
	(($# >= 1 && $# <= 2)) || usage
	local dir port fast bin base pid t
	dir=$(abs_dir "$1")
	# Saved settings (first start) win over nothing; explicit arguments win over saved ones.
	local PG_PORT="" PG_FAST_SAVED=""
	[[ -f "$dir/pg.settings" ]] && . "$dir/pg.settings"
	port=${2:-$PG_PORT}
	[[ -n "$port" ]] || die "start-pg: PORT is required on the first start for $dir"
	check_port_arg PORT "$port"
	fast=${PG_FAST:-${PG_FAST_SAVED:-0}}
	[[ "$fast" == 1 ]] || fast=0

	pid=$(pg_running_pid "$dir")
	if [[ -n "$pid" ]]; then
		log "PostgreSQL already running for $dir (pid $pid, port ${PG_PORT:-?})"
		return 0
	fi
	if port_open "$port"; then
		die "port 127.0.0.1:$port is already in use by another process; cannot start PostgreSQL there"
	fi

	bin=$(pg_bindir) || die "PostgreSQL is not installed (run: $0 install)"
	base=$(pg_base "$dir")
	printf 'PG_PORT=%s\nPG_FAST_SAVED=%s\n' "$port" "$fast" >"$dir/pg.settings"
	t=$(now_ms)

	if [[ ! -f "$base/data/PG_VERSION" ]]; then
		rm -rf "$base/data"
		log "initdb $base/data"
		as_postgres "$bin/initdb" -D "$base/data" -E UTF8 --locale=C.UTF-8 -U postgres --auth=trust \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
		# Our settings live in their own file, rewritten at every start.
		echo "include_if_exists = 'usersvc.conf'" >>"$base/data/postgresql.conf"
	fi
	mkdir -p "$base/sock"
	chown postgres: "$base/sock"
	{
		echo "# written by scripts/services.sh at every start"
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		echo "unix_socket_directories = '$base/sock'"
		echo "max_connections = 300"
		if [[ "$fast" == 1 ]]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
	} >"$base/data/usersvc.conf"
	chown postgres: "$base/data/usersvc.conf"
	rm -f "$base/data/postmaster.pid.stale"

	log "starting PostgreSQL on 127.0.0.1:$port$([[ $fast == 1 ]] && echo ' (fsync off)')…"
	# pg_ctl puts the postmaster in its own session (setsid), so terminal signals do not reach it.
	if ! as_postgres "$bin/pg_ctl" -D "$base/data" -l "$base/postgres.log" -w -t 60 start >/dev/null 2>&1; then
		tail -n 20 "$base/postgres.log" >&2 || true
		die "PostgreSQL did not start (log: $base/postgres.log)"
	fi
	local i
	for ((i = 0; i < 300; i++)); do
		pg_isready -q -h 127.0.0.1 -p "$port" -t 1 && break
		sleep 0.1
	done
	pg_isready -q -h 127.0.0.1 -p "$port" -t 1 || die "PostgreSQL started but pg_isready fails (log: $base/postgres.log)"
	head -n1 "$base/data/postmaster.pid" >"$dir/pg.pid"
	log "PostgreSQL ready on 127.0.0.1:$port in $(elapsed "$t") (pid $(cat "$dir/pg.pid"))"
}

cmd_stop_pg() {
	(($# == 1)) || usage
	local dir=$1 pid base bin mode=${PG_STOP_MODE:-fast} t i
	[[ -d "$dir" ]] || { log "no $dir: nothing to stop"; return 0; }
	dir=$(abs_dir "$dir")
	pid=$(pg_running_pid "$dir")
	if [[ -z "$pid" ]]; then
		rm -f "$dir/pg.pid"
		[[ -e "$dir/pg" || -f "$dir/pg.settings" ]] && log "PostgreSQL for $dir not running"
		return 0
	fi
	t=$(now_ms)
	base=$(readlink -f "$dir/pg")
	bin=$(pg_bindir) || true
	log "stopping PostgreSQL (pid $pid, mode $mode)…"
	if [[ -n "$bin" && -d "$base/data" ]]; then
		as_postgres "$bin/pg_ctl" -D "$base/data" -m "$mode" -w -t 30 stop >/dev/null 2>&1 || true
	fi
	if pid_alive "$pid"; then
		kill -INT "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	rm -f "$dir/pg.pid"
	log "PostgreSQL stopped in $(elapsed "$t")"
}

# ---------------------------------------------------------------- RabbitMQ

# rabbit_env DIR: exports everything the server and its CLI need (settings from DIR/rabbit/settings).
rabbit_env() {
	local dir=$1 r="$1/rabbit"
	# shellcheck disable=SC1091
	. "$r/settings"
	export HOME="$r/home"
	export RABBITMQ_NODENAME="$RABBIT_NODENAME"
	export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	export RABBITMQ_NODE_PORT="$RABBIT_AMQP_PORT"
	export RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
	export ERL_EPMD_ADDRESS=127.0.0.1
	export ERL_EPMD_PORT="$RABBIT_EPMD_PORT"
	export RABBITMQ_MNESIA_BASE="$r/mnesia"
	export RABBITMQ_LOG_BASE="$r/log"
	export RABBITMQ_CONF_ENV_FILE="$r/rabbitmq-env.conf"
	export RABBITMQ_CONFIG_FILE="$r/rabbitmq.conf"
	export RABBITMQ_ADVANCED_CONFIG_FILE="$r/advanced.config"
	export RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins"
	export RABBITMQ_PID_FILE="$r/beam.pid"
	export ERL_CRASH_DUMP="$r/log/erl_crash.dump"
	unset RABBITMQ_ENABLED_PLUGINS RABBITMQ_SERVER_START_ARGS
	# No scheduler busy-waiting: an idle broker should not steal CPU from builds and tests on 2 cores.
	# Erlang distribution (DIST_PORT) on loopback only, like AMQP.
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}"
}

rabbit_running_pid() {
	local r="$1/rabbit" pid
	pid=$(read_pid "$r/rabbit.pid")
	if pid_alive "$pid"; then echo "$pid"; return 0; fi
	# The wrapper shell may be gone while the VM lives on (e.g. wrapper SIGKILLed).
	pid=$(read_pid "$r/beam.pid")
	if pid_alive "$pid" && grep -qa beam "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
}

cmd_start_rabbit() {
	(($# == 1 || $# == 4)) || usage
	local dir r sbin pid t name amqp dist epmd i
	dir=$(abs_dir "$1")
	r="$dir/rabbit"
	if (($# == 4)); then
		amqp=$2 dist=$3 epmd=$4
	elif [[ -f "$r/settings" ]]; then
		# shellcheck disable=SC1091
		. "$r/settings"
		amqp=$RABBIT_AMQP_PORT dist=$RABBIT_DIST_PORT epmd=$RABBIT_EPMD_PORT
	else
		die "start-rabbit: AMQP_PORT DIST_PORT EPMD_PORT are required on the first start for $dir"
	fi
	check_port_arg AMQP_PORT "$amqp"
	check_port_arg DIST_PORT "$dist"
	check_port_arg EPMD_PORT "$epmd"

	pid=$(rabbit_running_pid "$dir")
	if [[ -n "$pid" ]]; then
		log "RabbitMQ already running for $dir (pid $pid)"
		return 0
	fi
	local p
	for p in "$amqp" "$dist"; do
		port_open "$p" && die "port 127.0.0.1:$p is already in use by another process; cannot start RabbitMQ there"
	done
	sbin=$(rabbit_sbin) || die "RabbitMQ is not installed (run: $0 install)"

	# Node name derived from DIR, so stacks in different folders never share a node.
	name="usersvc-$(printf '%s' "$dir" | md5sum | cut -c1-10)@localhost"
	mkdir -p "$r/home" "$r/mnesia" "$r/log"
	printf 'RABBIT_NODENAME=%s\nRABBIT_AMQP_PORT=%s\nRABBIT_DIST_PORT=%s\nRABBIT_EPMD_PORT=%s\n' \
		"$name" "$amqp" "$dist" "$epmd" >"$r/settings"
	if [[ ! -s "$r/home/.erlang.cookie" ]]; then
		rm -f "$r/home/.erlang.cookie"
		(umask 077; od -An -tx1 -N20 /dev/urandom | tr -d ' \n' | tr 'a-z' 'A-Z' >"$r/home/.erlang.cookie")
	fi
	chmod 0400 "$r/home/.erlang.cookie"
	: >"$r/rabbitmq-env.conf"
	echo '[].' >"$r/enabled_plugins"
	echo '[].' >"$r/advanced.config"
	cat >"$r/rabbitmq.conf" <<-EOF
		# written by scripts/services.sh
		listeners.tcp.default = 127.0.0.1:$amqp
		loopback_users.guest = true
		log.console = false
		log.file.level = info
		disk_free_limit.absolute = 50MB
	EOF

	rabbit_env "$dir"
	rm -f "$r/beam.pid"
	t=$(now_ms)
	log "starting RabbitMQ $name on 127.0.0.1:$amqp (dist $dist, epmd $epmd)…"
	setsid "$sbin/rabbitmq-server" </dev/null >>"$r/log/server.out" 2>&1 &
	pid=$!
	echo "$pid" >"$r/rabbit.pid"
	for ((i = 0; i < 1200; i++)); do
		port_open "$amqp" && break
		if ! pid_alive "$pid"; then
			tail -n 30 "$r/log/server.out" >&2 || true
			die "RabbitMQ exited during boot (logs: $r/log)"
		fi
		sleep 0.1
	done
	port_open "$amqp" || { tail -n 30 "$r/log/server.out" >&2; die "RabbitMQ did not open port $amqp within 120s (logs: $r/log)"; }
	if ! "$sbin/rabbitmqctl" -q -n "$name" await_startup --timeout 120 >/dev/null 2>"$r/log/await.err"; then
		cat "$r/log/await.err" >&2
		die "rabbitmqctl await_startup failed (logs: $r/log)"
	fi
	log "RabbitMQ ready on 127.0.0.1:$amqp in $(elapsed "$t") (pid $pid)"
}

cmd_stop_rabbit() {
	(($# == 1)) || usage
	local dir=$1 r pid beam t i p
	[[ -d "$dir" ]] || { log "no $dir: nothing to stop"; return 0; }
	dir=$(abs_dir "$dir")
	r="$dir/rabbit"
	[[ -f "$r/settings" ]] || return 0
	pid=$(rabbit_running_pid "$dir")
	beam=$(read_pid "$r/beam.pid")
	if [[ -z "$pid" ]]; then
		log "RabbitMQ for $dir not running"
		rm -f "$r/rabbit.pid"
		return 0
	fi
	t=$(now_ms)
	log "stopping RabbitMQ (pid $pid)…"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		pid_alive "$pid" || { [[ -n "$beam" ]] && pid_alive "$beam"; } || break
		sleep 0.1
	done
	for p in "$pid" "$beam"; do
		if pid_alive "$p"; then
			log "RabbitMQ pid $p still alive after 60s: SIGKILL"
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	rm -f "$r/rabbit.pid" "$r/beam.pid"
	log "RabbitMQ stopped in $(elapsed "$t")"
}

kill_epmd() {
	local dir=$1
	[[ -f "$dir/rabbit/settings" ]] || return 0
	# shellcheck disable=SC1091
	. "$dir/rabbit/settings"
	if command -v epmd >/dev/null && ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$RABBIT_EPMD_PORT" -names >/dev/null 2>&1; then
		ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$RABBIT_EPMD_PORT" -kill >/dev/null 2>&1 || true
		log "epmd on port $RABBIT_EPMD_PORT stopped"
	fi
}

cmd_restart_rabbit() {
	(($# == 1)) || usage
	local dir
	dir=$(abs_dir "$1")
	[[ -f "$dir/rabbit/settings" ]] || die "restart-rabbit: no RabbitMQ was started with $dir"
	cmd_stop_rabbit "$dir"
	cmd_start_rabbit "$dir"
}

cmd_restart_pg() {
	(($# == 1)) || usage
	local dir
	dir=$(abs_dir "$1")
	[[ -f "$dir/pg.settings" ]] || die "restart-pg: no PostgreSQL was started with $dir"
	cmd_stop_pg "$dir"
	cmd_start_pg "$dir"
}

cmd_stop() {
	(($# == 1)) || usage
	local dir=$1
	[[ -d "$dir" ]] || { log "no $dir: nothing to stop"; return 0; }
	dir=$(abs_dir "$dir")
	cmd_stop_rabbit "$dir"
	kill_epmd "$dir"
	cmd_stop_pg "$dir"
}

cmd_destroy() {
	(($# == 1)) || usage
	local dir=$1 base=""
	[[ -d "$dir" ]] || return 0
	dir=$(abs_dir "$dir")
	cmd_stop "$dir"
	if [[ -L "$dir/pg" ]]; then
		base=$(readlink -f "$dir/pg")
		[[ "$base" == /tmp/usersvc-pg.* ]] && rm -rf "$base"
	fi
	rm -rf "$dir"
	log "removed $dir"
}

cmd_status() {
	(($# == 1)) || usage
	local dir pid
	dir=$(abs_dir "$1")
	pid=$(pg_running_pid "$dir")
	if [[ -n "$pid" ]]; then
		. "$dir/pg.settings"
		echo "postgresql: running pid $pid port $PG_PORT"
	else
		echo "postgresql: stopped"
	fi
	pid=$(rabbit_running_pid "$dir")
	if [[ -n "$pid" ]]; then
		. "$dir/rabbit/settings"
		echo "rabbitmq:   running pid $pid amqp $RABBIT_AMQP_PORT node $RABBIT_NODENAME"
	else
		echo "rabbitmq:   stopped"
	fi
}

cmd_env_rabbit() {
	(($# == 1)) || usage
	local dir sbin
	dir=$(abs_dir "$1")
	[[ -f "$dir/rabbit/settings" ]] || die "no RabbitMQ was started with $dir"
	rabbit_env "$dir"
	sbin=$(rabbit_sbin) || die "RabbitMQ is not installed"
	local v
	for v in HOME RABBITMQ_NODENAME ERL_EPMD_ADDRESS ERL_EPMD_PORT RABBITMQ_CONF_ENV_FILE RABBITMQ_CONFIG_FILE \
		RABBITMQ_MNESIA_BASE RABBITMQ_LOG_BASE RABBITMQ_ENABLED_PLUGINS_FILE; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'export PATH=%q:"$PATH"\n' "$sbin"
}

main() {
	(($# >= 1)) || usage
	local cmd=$1
	shift
	case "$cmd" in
	install) cmd_install "$@" ;;
	start-pg) cmd_start_pg "$@" ;;
	stop-pg) cmd_stop_pg "$@" ;;
	restart-pg) cmd_restart_pg "$@" ;;
	start-rabbit) cmd_start_rabbit "$@" ;;
	stop-rabbit) cmd_stop_rabbit "$@" ;;
	restart-rabbit) cmd_restart_rabbit "$@" ;;
	stop) cmd_stop "$@" ;;
	destroy) cmd_destroy "$@" ;;
	status) cmd_status "$@" ;;
	env-rabbit) cmd_env_rabbit "$@" ;;
	-h | --help | help) usage ;;
	*) log "unknown subcommand '$cmd'"; usage ;;
	esac
}

main "$@"
