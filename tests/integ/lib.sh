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

finish() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit $?
}
