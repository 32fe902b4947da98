#!/usr/bin/env bash
# Benchmark (c): what an enrolled, idle mamori-agent costs a laptop. Runs the agent (a
# release build, privilege-separated when root, talking to the real mamori-server — or the
# test suite's fake server when the server is not built — with the default intervals:
# check-in every 300 s, inventory every hour) for
# MINUTES minutes (default 10; 1 for a quick run), then prints, summed over its processes:
#   PSS, private dirty, USS and RSS (from /proc/PID/smaps_rollup) and CPU % (utime + stime from
#   /proc/PID/stat over the idle window)
# beside the same figures for usbguard-daemon and auditd as a yardstick (each started for
# the run when it is not running already; usbguard-daemon under umockdev when the kernel
# has no USB). Goals (DESIGN.md): PSS <= 10 MiB, private dirty <= 4 MiB, CPU <= 0.1 %.
# Exits 1 when a goal is missed.
#
#   bench/agent-idle.sh [MINUTES]        MAMORI_BENCH_BUILD=DIR to use another build,
#                                        MAMORI_BENCH_DETAIL=N for the N largest mappings
set -uo pipefail
minutes=${1:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${MAMORI_BENCH_BUILD:-$top/build-release}
hz=$(getconf CLK_TCK)

if [ ! -x "$build/agent/mamori-agent" ]; then
	echo "agent-idle: building a release build in $build" >&2
	{ [ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release; } >/dev/null &&
		ninja -C "$build" >/dev/null || exit 1
fi
agent=$build/agent/mamori-agent
work=$(mktemp -d /tmp/mamori-bench.XXXXXX)
chmod 755 "$work"
started=() # pids this script started, stopped at the end (by pid, nothing else)

cleanup() {
	local p
	for p in "${started[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${started[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

wait_file() { # seconds, file
	local end=$((SECONDS + $1))
	until [ -s "$2" ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

# ---- the server and the agent ----
# The real server when it is built (its default intervals: check-in every 300 s, inventory
# every hour), else the test suite's fake server with the same defaults.
server=$build/server/mamori-server
if [ -x "$server" ]; then
	ports=($(python3 -c 'import socket
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'))
	"$server" --state-dir "$work/server" --agent-listen "127.0.0.1:${ports[0]}" \
		--api-listen "127.0.0.1:${ports[1]}" >"$work/server.out" 2>"$work/server.log" &
	started+=($!)
	for _ in $(seq 300); do grep -q "(M3000)" "$work/server.log" && break; sleep 0.1; done
	grep -q "(M3000)" "$work/server.log" || { echo "agent-idle: the server did not start"; exit 1; }
	token=$(python3 -c 'import json, ssl, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/v1/enroll-tokens", data=b"{}", method="POST",
    headers={"Authorization": "Bearer " + open(sys.argv[3]).read().strip(),
             "Content-Type": "application/json"})
ctx = ssl.create_default_context(cafile=sys.argv[2])
print(json.load(urllib.request.urlopen(req, context=ctx))["token"])' \
		"https://127.0.0.1:${ports[1]}" "$work/server/ca.crt" "$work/server/admin.token")
	aport=${ports[0]}
	server_name="mamori-server ($server)"
else
	python3 "$top/tests/integ/fake-server.py" "$work/srv" >"$work/srv.log" 2>&1 &
	started+=($!)
	wait_file 30 "$work/srv/ports.json" || { echo "agent-idle: the fake server did not start"; exit 1; }
	read -r aport cport < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["agent"], p["control"])' "$work/srv/ports.json")
	python3 -c 'import sys,urllib.request; urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s/token" % sys.argv[1], data=b"{\"token\": \"bench\"}", method="POST")).read()' "$cport"
	token=bench
	server_name="the test suite's fake server"
fi
"$agent" enroll --server "https://127.0.0.1:$aport" --token "$token" --state-dir "$work/state" >/dev/null ||
	{ echo "agent-idle: enrolment failed"; exit 1; }
"$agent" run --state-dir "$work/state" >"$work/agent.log" 2>&1 &
agent_pid=$!
started+=("$agent_pid")

# ---- the yardsticks ----
auditd_why="" usbguard_why=""
auditd_pid=$(pgrep -x auditd | head -1)
if [ -z "$auditd_pid" ]; then
	if ! command -v auditd >/dev/null; then
		auditd_why="not installed (Debian package auditd)"
	elif [ "$(id -u)" != 0 ]; then
		auditd_why="needs root to start"
	else
		auditd -n >"$work/auditd.log" 2>&1 &
		auditd_pid=$!
		started+=("$auditd_pid")
	fi
fi
usbguard_pid=$(pgrep -x usbguard-daemon | head -1)
if [ -z "$usbguard_pid" ]; then
	if ! command -v usbguard-daemon >/dev/null; then
		usbguard_why="not installed (Debian package usbguard)"
	elif [ "$(id -u)" != 0 ]; then
		usbguard_why="needs root to start"
	else
		cat >"$work/usbguard-daemon.conf" <<EOF
RuleFile=$work/usbguard-rules.conf
ImplicitPolicyTarget=block
PresentDevicePolicy=apply-policy
PresentControllerPolicy=keep
InsertedDevicePolicy=apply-policy
RestoreControllerDeviceState=false
DeviceManagerBackend=uevent
IPCAllowedUsers=root
AuditBackend=FileAudit
AuditFilePath=$work/usbguard-audit.log
EOF
		echo 'allow with-interface 03:*:*' >"$work/usbguard-rules.conf"
		chmod 600 "$work/usbguard-daemon.conf" "$work/usbguard-rules.conf"
		if [ -d /sys/bus/usb/devices ]; then
			usbguard-daemon -k -c "$work/usbguard-daemon.conf" >"$work/usbguard.log" 2>&1 &
			usbguard_pid=$!
			started+=("$usbguard_pid")
		elif command -v umockdev-run >/dev/null; then
			# No USB in this kernel: a USB root hub and a keyboard under umockdev.
			python3 - "$work/usb.umockdev" <<'PY'
import struct, sys
def device(vid, pid, cls, ifaces):
    d = struct.pack('<BBHBBBBHHHBBBB', 18, 1, 0x0200, cls, 0, 1 if cls == 9 else 0, 64,
                    vid, pid, 0x0606, 1, 2, 0, 1)
    c = struct.pack('<BBHBBBBB', 9, 2, 9 + len(ifaces), 1, 1, 0, 0xa0, 50)
    return (d + c + ifaces).hex()
hub = device(0x1d6b, 0x0002, 9, struct.pack('<BBBBBBBBB', 9, 4, 0, 0, 1, 9, 0, 0, 0)
             + struct.pack('<BBBBHB', 7, 5, 0x81, 3, 4, 12))
kbd = device(0x046d, 0xc31c, 0, struct.pack('<BBBBBBBBB', 9, 4, 0, 0, 1, 3, 1, 1, 0)
             + struct.pack('<BBHBBBH', 9, 0x21, 0x0110, 0, 1, 0x22, 65)
             + struct.pack('<BBBBHB', 7, 5, 0x81, 3, 8, 10))
def rec(path, node, vid, pid, cls, desc, prod):
    return f"""P: {path}
N: bus/usb/001/{node:03d}
E: DEVNAME=/dev/bus/usb/001/{node:03d}
E: DEVTYPE=usb_device
E: DRIVER=usb
E: SUBSYSTEM=usb
E: BUSNUM=001
E: DEVNUM={node:03d}
A: authorized=1
A: authorized_default=1
A: bDeviceClass={cls:02x}
A: bNumInterfaces= 1
A: bConfigurationValue=1
A: busnum=1
A: devnum={node}
A: idVendor={vid:04x}
A: idProduct={pid:04x}
A: product={prod}
A: speed=480
H: descriptors={desc}
"""
open(sys.argv[1], "w").write(
    rec("/devices/pci0000:00/0000:00:14.0/usb1", 1, 0x1d6b, 2, 9, hub, "xHCI Host Controller")
    + "\n" + rec("/devices/pci0000:00/0000:00:14.0/usb1/1-1", 2, 0x046d, 0xc31c, 0, kbd,
                 "USB Keyboard"))
PY
			umockdev-run -d "$work/usb.umockdev" -- \
				usbguard-daemon -k -c "$work/usbguard-daemon.conf" >"$work/usbguard.log" 2>&1 &
			started+=($!)
			sleep 2
			usbguard_pid=$(pgrep -P "${started[-1]}" -x usbguard-daemon | head -1)
			[ -n "$usbguard_pid" ] || usbguard_pid=$(pgrep -P "${started[-1]}" | head -1)
			usbguard_note=" (under umockdev: no USB in this kernel)"
		else
			usbguard_why="cannot start: no USB in this kernel and no umockdev-run"
		fi
	fi
fi

# Let everyone settle: the agent's first check-in, inventory and upload happen now.
sleep 10
for v in auditd usbguard; do
	eval "p=\${${v}_pid:-}"
	if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
		log=$work/$v.log
		[ "$v" = auditd ] && log=$work/auditd.log
		eval "${v}_pid="
		eval "${v}_why=\"exited at start: \$(tail -1 \"\$log\" 2>/dev/null | cut -c1-70)\""
	fi
done
if ! kill -0 "$agent_pid" 2>/dev/null; then
	echo "agent-idle: the agent exited:"
	tail -5 "$work/agent.log"
	exit 1
fi
agent_pids="$agent_pid $(pgrep -P "$agent_pid" | tr '\n' ' ')"

ticks() { # pids… → utime + stime, clock ticks
	local t=0 p f
	for p in "$@"; do
		f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
mem() { # pids… → "PSS PRIVATE_DIRTY USS RSS" in KiB (USS: private clean + dirty)
	cat $(printf '/proc/%s/smaps_rollup ' "$@") 2>/dev/null |
		awk '/^Pss:/ {p += $2} /^Private_Dirty:/ {d += $2} /^Private_Clean:/ {c += $2}
		     /^Rss:/ {r += $2} END {printf "%d %d %d %d\n", p, d, c + d, r}'
}

# shellcheck disable=SC2086
a0=$(ticks $agent_pids) u0=$(ticks ${usbguard_pid:-}) d0=$(ticks ${auditd_pid:-})
t0=$(date +%s.%N)
echo "agent-idle: measuring $minutes min of idle (the agent's processes: $agent_pids)" >&2
sleep $((minutes * 60))
t1=$(date +%s.%N)
# shellcheck disable=SC2086
a1=$(ticks $agent_pids) u1=$(ticks ${usbguard_pid:-}) d1=$(ticks ${auditd_pid:-})
secs=$(echo "$t1 - $t0" | bc)

cpu() { printf '%.3f' "$(echo "scale=6; ($2 - $1) * 100 / $hz / $secs" | bc)"; }
row() { # name, pids, t0, t1, note
	local name=$1 pids=$2
	if [ -z "$pids" ]; then
		printf '%-18s %s\n' "$name" "not running: $5"
		return
	fi
	# shellcheck disable=SC2086
	read -r pss pd uss rss < <(mem $pids)
	printf '%-18s %5s %9s %12s %9s %9s %8s%s\n' "$name" "$(echo $pids | wc -w)" "$pss" "$pd" \
		"$uss" "$rss" "$(cpu "$3" "$4")" "$5"
}

echo "agent-idle: $minutes min idle, release build ($build), server: $server_name, check-in every 300 s"
printf '%-18s %5s %9s %12s %9s %9s %8s\n' process procs "PSS KiB" "priv.dirty" "USS KiB" \
	"RSS KiB" "CPU %"
row mamori-agent "$agent_pids" "$a0" "$a1" ""
# shellcheck disable=SC2086
read -r apss apd _ _ < <(mem $agent_pids)
acpu=$(cpu "$a0" "$a1")
row usbguard-daemon "${usbguard_pid:-}" "$u0" "$u1" "${usbguard_why:-${usbguard_note:-}}"
row auditd "${auditd_pid:-}" "$d0" "$d1" "${auditd_why:-}"
printf '%-18s %5s %9s %12s %9s %9s %8s\n' "goal (agent)" "" "<= 10240" "<= 4096" "" "" "<= 0.100"
# PSS shares each library page among the processes that map it, so it depends on what else
# runs (another process using libcrypto or GnuTLS lowers it); USS (pages no other process
# maps) and private dirty do not.
if [ -n "${MAMORI_BENCH_DETAIL:-}" ]; then
	# Where the agent's PSS goes: the mappings, summed over its processes, largest first.
	echo "agent-idle: the agent's PSS by mapping (KiB: PSS, private dirty, RSS)"
	# shellcheck disable=SC2086
	cat $(printf '/proc/%s/smaps ' $agent_pids) 2>/dev/null | awk '
		/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anon]" }
		/^Pss:/ { pss[name] += $2 } /^Private_Dirty:/ { pd[name] += $2 } /^Rss:/ { rss[name] += $2 }
		END { for (n in pss) printf "%9d %9d %9d  %s\n", pss[n], pd[n], rss[n], n }' |
		sort -rn | head -"${MAMORI_BENCH_DETAIL}"
fi
verdict=0
[ "$apss" -le 10240 ] || verdict=1
[ "$apd" -le 4096 ] || verdict=1
[ "$(echo "$acpu <= 0.1" | bc)" = 1 ] || verdict=1
if [ $verdict -eq 0 ]; then
	echo "agent-idle: all goals met"
else
	echo "agent-idle: a goal is missed"
fi
exit $verdict
