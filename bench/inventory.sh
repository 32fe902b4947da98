#!/usr/bin/env bash
# Benchmark: the full inventory of this machine (`mamori-agent inventory`, release build),
# beside `dpkg-query -W` measured the same way in the same run, as the baseline: both read
# files under /var/lib/dpkg and /proc and print a listing, and dpkg-query is what an
# administrator would otherwise run.
#
#   bench/inventory.sh [RUNS]      RUNS (default 30) timed runs of each command
#
# Prints, for both commands: median wall time over RUNS (hyperfine when installed, else a
# date +%s%N loop), peak RSS (GNU time's "Maximum resident set size"), and peak heap
# (valgrind massif: the largest mem_heap_B + mem_heap_extra_B of any snapshot); then the
# ratio agent / dpkg-query and the agent's goals: <= 100 ms and <= 2 MiB of peak heap.
# Exits 1 only when it cannot measure; a missed goal is printed, not a failure (benchmarks
# are not timed tests, STYLE.md). MAMORI_BENCH_ARGS adds arguments to the agent (--root …);
# MAMORI_BENCH_NO_HYPERFINE=1 times with the shell loop even when hyperfine is there.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
build=${MAMORI_BENCH_BUILD:-build-release}
goal_ms=100
goal_heap=$((2 * 1024 * 1024))

[[ "$runs" =~ ^[0-9]+$ ]] && [ "$runs" -ge 3 ] || {
	echo "usage: bench/inventory.sh [RUNS>=3]" >&2
	exit 2
}
for c in valgrind /usr/bin/time dpkg-query; do
	command -v "$c" >/dev/null || {
		echo "bench: $c is missing (tools/deps test installs valgrind and time)" >&2
		exit 1
	}
done
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" --buildtype=release >"$build.setup.log" 2>&1 || {
		cat "$build.setup.log" >&2
		exit 1
	}
fi
ninja -C "$build" agent/mamori-agent >/dev/null
sanitize=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))')
[ "$sanitize" = none ] || {
	echo "bench: $build is built with -Db_sanitize=$sanitize; benchmarks need a release build" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2206
agent=("$PWD/$build/agent/mamori-agent" inventory ${MAMORI_BENCH_ARGS:-})
baseline=(dpkg-query -W)
"${agent[@]}" >/dev/null || echo "bench: note: the agent exited non-zero (partial inventory)" >&2

# median wall time in ms (3 decimals) of RUNS runs, after 3 warm-up runs
median_ms() {
	local i t0 t1
	if [ -z "${MAMORI_BENCH_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then
		hyperfine -N --warmup 3 --runs "$runs" --export-json "$tmp/h.json" \
			--output=null -- "$(printf '%q ' "$@")" >/dev/null 2>&1 || return 1
		python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$tmp/h.json"
		return
	fi
	for i in 1 2 3; do "$@" >/dev/null 2>&1 || true; done
	for ((i = 0; i < runs; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f\n", m / 1000 }'
}

# peak RSS in KiB: the median of 5 runs of GNU time
peak_rss_kib() {
	local i
	for i in 1 2 3 4 5; do
		/usr/bin/time -f '%M' -o "$tmp/rss" "$@" >/dev/null 2>&1 || true
		tail -1 "$tmp/rss"
	done | sort -n | sed -n 3p
}

# peak heap in bytes: the largest heap + allocator overhead of any massif snapshot
peak_heap_bytes() {
	valgrind --tool=massif --massif-out-file="$tmp/massif.out" "$@" >/dev/null 2>&1 || true
	awk -F= '/^mem_heap_B=/ { h = $2 } /^mem_heap_extra_B=/ { if (h + $2 > m) m = h + $2 }
		END { print m + 0 }' "$tmp/massif.out"
}

echo "bench/inventory: $runs runs each on $(uname -n), $(nproc) CPUs, $("${agent[0]}" --version)"
echo "  measuring wall time…" >&2
a_ms=$(median_ms "${agent[@]}")
b_ms=$(median_ms "${baseline[@]}")
echo "  measuring peak RSS…" >&2
a_rss=$(peak_rss_kib "${agent[@]}")
b_rss=$(peak_rss_kib "${baseline[@]}")
echo "  measuring peak heap (valgrind massif)…" >&2
a_heap=$(peak_heap_bytes "${agent[@]}")
b_heap=$(peak_heap_bytes "${baseline[@]}")

python3 - "$a_ms" "$b_ms" "$a_rss" "$b_rss" "$a_heap" "$b_heap" "$goal_ms" "$goal_heap" \
	"$(dpkg-query -W | wc -l)" <<'EOF'
import sys
a_ms, b_ms = float(sys.argv[1]), float(sys.argv[2])
a_rss, b_rss = int(sys.argv[3]), int(sys.argv[4])
a_heap, b_heap = int(sys.argv[5]), int(sys.argv[6])
goal_ms, goal_heap, pkgs = float(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
ratio = lambda a, b: "%.2f" % (a / b) if b else "-"
rows = [
    ("median wall time", "%.2f ms" % a_ms, "%.2f ms" % b_ms, ratio(a_ms, b_ms)),
    ("peak RSS", "%.2f MiB" % (a_rss / 1024), "%.2f MiB" % (b_rss / 1024), ratio(a_rss, b_rss)),
    ("peak heap (massif)", "%.1f KiB" % (a_heap / 1024), "%.1f KiB" % (b_heap / 1024),
     ratio(a_heap, b_heap)),
]
print()
print("%-20s %14s %14s %8s" % ("", "mamori-agent", "dpkg-query -W", "ratio"))
for r in rows:
    print("%-20s %14s %14s %8s" % r)
print("(dpkg-query -W lists %s packages)" % pkgs)
print()
print("goal: wall time <= %d ms: %s (%.2f ms)" % (goal_ms, "met" if a_ms <= goal_ms else "MISSED", a_ms))
print("goal: peak heap <= %.0f MiB: %s (%.1f KiB)" % (goal_heap / 1048576,
      "met" if a_heap <= goal_heap else "MISSED", a_heap / 1024))
EOF
