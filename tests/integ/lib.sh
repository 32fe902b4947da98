# Shared helpers for shell tests (sourced). Output is TAP, like the C tests.
#   ok COND_EXIT_STATUS "what"      — records one check: `[ "$a" = "$b" ]; ok $? "a is b"`
#   skip_all "why"                  — needs what the machine lacks: exit 77, or fail in CI
#   need_root, need_cmd CMD…        — skip_all unless root / the commands exist
#   finish                          — prints the plan, exits 1 if any check failed
# Paths: $SRC (source tree), $BUILD (build tree), $AGENT (mamori-agent), $FIXTURES.
set -u
SRC=${MAMORI_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${MAMORI_BUILD_ROOT:-$SRC/build}
AGENT=$BUILD/agent/mamori-agent
SERVER=$BUILD/server/mamori-server
CTL=$BUILD/ctl/mamorictl
FIXTURES=$SRC/tests/fixtures
_tap_n=0
_tap_failed=0

ok() {
	local status=$1
	shift
	_tap_n=$((_tap_n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_failed=$((_tap_failed + 1))
	fi
}

diag() { echo "# $*"; }

skip_all() {
	if [ -n "${MAMORI_REQUIRE_ALL:-}" ]; then
		echo "1..1"
		echo "not ok 1 - required but unavailable: $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 77
}

need_root() { [ "$(id -u)" -eq 0 ] || skip_all "needs root"; }
need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "needs $c"
	done
}

# The server's store for a test. With MAMORI_STORE_URL naming a PostgreSQL server (the -pg
# variants of the api and e2e suites run under tests/pg-cluster.sh run), STORE_ARGS is
# (--store URL) of a database of the test's own, created on first use and kept across the
# test's server restarts, as a SQLite file in the state directory is; else it is empty
# (SQLite, the server's default). test_store_drop removes that database.
STORE_ARGS=()
TEST_PG_DB=
test_store_args() {
	STORE_ARGS=()
	case "${MAMORI_STORE_URL:-}" in
	postgres://* | postgresql://*) ;;
	*) return 0 ;;
	esac
	if [ -z "$TEST_PG_DB" ]; then
		need_cmd psql
		TEST_PG_DB=mamori_test_$$
		psql "$MAMORI_STORE_URL" -qc "CREATE DATABASE $TEST_PG_DB" >/dev/null || return 1
	fi
	STORE_ARGS=(--store "$(printf '%s' "$MAMORI_STORE_URL" | sed "s|///[^?]*|///$TEST_PG_DB|")")
}
test_store_drop() {
	[ -n "$TEST_PG_DB" ] || return 0
	psql "$MAMORI_STORE_URL" -qc "DROP DATABASE IF EXISTS $TEST_PG_DB WITH (FORCE)" \
		>/dev/null 2>&1
	TEST_PG_DB=
}

finish() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit $?
}
