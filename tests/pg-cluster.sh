#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for tests and benchmarks.
#
#   tests/pg-cluster.sh start [--durable]   initdb in a new temp dir, start the server, create
#                                           the database "mamori"; prints shell assignments:
#                                           PG_CLUSTER_DIR=… MAMORI_STORE_URL=…
#   tests/pg-cluster.sh env DIR             prints the same assignments for a started cluster
#   tests/pg-cluster.sh stop DIR            stops the server and removes DIR
#   tests/pg-cluster.sh run CMD ARG…        start, run CMD with MAMORI_STORE_URL set, stop;
#                                           exits with CMD's status
#
# The server runs as the `postgres` user (initdb refuses root) with trust authentication,
# listening on 127.0.0.1 on a free port and on a unix socket in the temp dir; the URL names
# the socket. Tests run with fsync off (nothing here must survive a power cut); --durable
# keeps PostgreSQL's defaults, for benchmarks. Without root or PostgreSQL it exits 77 with
# "1..0 # SKIP why" (TAP), or fails when MAMORI_REQUIRE_ALL is set, as in CI.
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

skip() {
	if [ -n "${MAMORI_REQUIRE_ALL:-}" ]; then
		echo "1..1"
		echo "not ok 1 - required but unavailable: $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 77
}

check() {
	[ "$(id -u)" -eq 0 ] || skip "a throw-away PostgreSQL cluster needs root (it runs as postgres)"
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || skip "PostgreSQL is not installed"
	id postgres >/dev/null 2>&1 || skip "no postgres user"
}

as_pg() { runuser -u postgres -- "$@"; }

url_of() { # dir
	echo "postgresql:///mamori?host=$1/sock&port=$(cat "$1/port")&user=postgres"
}

start() { # [--durable]
	local dir port tries
	check
	dir=$(mktemp -d /tmp/mamori-pg-XXXXXX)
	chmod 755 "$dir"
	mkdir "$dir/sock"
	chown postgres: "$dir" "$dir/sock"
	if ! as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		echo "pg-cluster: initdb failed" >&2
		exit 1
	fi
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir/sock'"
		echo "max_connections = 60"
		echo "shared_buffers = 64MB"
		echo "logging_collector = off"
		if [ "${1:-}" != "--durable" ]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
	} >>"$dir/data/postgresql.conf"
	for tries in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 20000))
		echo "$port" >"$dir/port"
		if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-p $port" start >/dev/null 2>&1; then
			break
		fi
		port= # taken, most likely: another port
	done
	if [ -z "$port" ]; then
		cat "$dir/server.log" >&2 || true
		rm -rf "$dir"
		echo "pg-cluster: the server does not start" >&2
		exit 1
	fi
	as_pg "$PG_BIN/createdb" -h "$dir/sock" -p "$port" -U postgres mamori
	echo "PG_CLUSTER_DIR=$dir"
	echo "MAMORI_STORE_URL='$(url_of "$dir")'"
}

stop() { # dir
	local dir=$1
	case "$dir" in
	/tmp/mamori-pg-*) ;;
	*)
		echo "pg-cluster: '$dir' is not a cluster this script made" >&2
		exit 2
		;;
	esac
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start)
	shift
	start "$@"
	;;
env)
	echo "PG_CLUSTER_DIR=$2"
	echo "MAMORI_STORE_URL='$(url_of "$2")'"
	;;
stop)
	stop "$2"
	;;
run)
	shift
	check
	eval "$(start)"
	trap 'stop "$PG_CLUSTER_DIR"' EXIT
	trap 'exit 143' TERM INT # a timeout still removes the cluster
	status=0
	MAMORI_STORE_URL=$MAMORI_STORE_URL PG_CLUSTER_DIR=$PG_CLUSTER_DIR "$@" || status=$?
	exit $status
	;;
*)
	echo "usage: tests/pg-cluster.sh start [--durable] | env DIR | stop DIR | run CMD ARG…" >&2
	exit 2
	;;
esac
