#!/usr/bin/env bash
# Cross-checks the process monitor against the kernel's audit subsystem, an independent
# witness of the same execs: processes this script starts must be seen by both, with the
# same pid, executable and parent. auditd (Debian's) is started for the test, logging to a
# temp file, unless an audit daemon already runs (only one can), whose log is read then;
# the rule is narrowed to this script's children and removed at the end.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd auditd auditctl ausearch jq

DRIVER=$BUILD/tests/integ/mon-driver
tmp=$(mktemp -d /tmp/mamori-audit.XXXXXX)
key=mamori-test-$$
rule=(always,exit -F arch=b64 -S execve -F ppid=$$ -k "$key")
our_auditd=
dpid=
old_backlog=$(auditctl -s 2>/dev/null | awk '$1 == "backlog_limit" {print $2}')

cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	auditctl -d "${rule[@]}" >/dev/null 2>&1
	[ -n "$old_backlog" ] && auditctl -b "$old_backlog" >/dev/null 2>&1
	if [ -n "$our_auditd" ]; then
		kill "$our_auditd" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$our_auditd" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

auditctl -s >/dev/null 2>&1 || skip_all "the kernel has no audit support"
daemon=$(auditctl -s | awk '$1 == "pid" {print $2}')
if [ "${daemon:-0}" -eq 0 ]; then
	sed -e "s|^log_file = .*|log_file = $tmp/audit.log|" -e "s|^log_group = .*|log_group = root|" \
		-e "s|^flush = .*|flush = INCREMENTAL_ASYNC|" -e "s|^freq = .*|freq = 1|" \
		/etc/audit/auditd.conf >"$tmp/auditd.conf"
	chmod 0640 "$tmp/auditd.conf"
	auditd -n -c "$tmp" >"$tmp/auditd.out" 2>&1 &
	our_auditd=$!
	for _ in $(seq 50); do
		[ "$(auditctl -s | awk '$1 == "pid" {print $2}')" = "$our_auditd" ] && break
		sleep 0.1
	done
	[ "$(auditctl -s | awk '$1 == "pid" {print $2}')" = "$our_auditd" ] ||
		skip_all "auditd did not start: $(head -c 200 "$tmp/auditd.out")"
	logargs=(-if "$tmp/audit.log")
	diag "started auditd (pid $our_auditd) logging to $tmp/audit.log"
else
	logargs=()
	diag "an audit daemon already runs (pid $daemon): reading its log"
fi
auditctl -b 8192 >/dev/null # a burst elsewhere must not drop our records

rm -f "$tmp/ready"
"$DRIVER" --proc --ready "$tmp/ready" >"$tmp/events.jsonl" 2>"$tmp/driver.log" &
dpid=$!
for _ in $(seq 100); do [ -e "$tmp/ready" ] && break; sleep 0.05; done
# from here on both watch: auditd records this script's children from the rule on
auditctl -a "${rule[@]}" >/dev/null || skip_all "cannot add an audit rule"

pids=()
exes=()
for i in 1 2 3; do
	cp /bin/sleep "$tmp/mamori-audit-$i"
	"$tmp/mamori-audit-$i" 1 &
	pids+=($!)
	exes+=("$tmp/mamori-audit-$i")
done
wait "${pids[@]}"
sleep 0.5
kill -TERM "$dpid"
wait "$dpid"
dpid=
auditctl -d "${rule[@]}" >/dev/null

# the audit log is written asynchronously: wait until our three records are in
for _ in $(seq 50); do
	n=$(ausearch "${logargs[@]}" -k "$key" -i 2>/dev/null | grep -c 'type=SYSCALL.*syscall=execve')
	[ "${n:-0}" -ge 3 ] && break
	sleep 0.1
done
ausearch "${logargs[@]}" -k "$key" -i >"$tmp/ausearch.txt" 2>/dev/null
diag "$(grep -c 'type=SYSCALL' "$tmp/ausearch.txt") exec records from auditd"

for k in 0 1 2; do
	pid=${pids[$k]}
	exe=${exes[$k]}
	audit=$(grep 'type=SYSCALL' "$tmp/ausearch.txt" | grep " pid=$pid " | head -1)
	ours=$(jq -c --argjson p "$pid" 'select(.type == "process.start" and .data.pid == $p) | .data' \
		"$tmp/events.jsonl")
	[ -n "$audit" ]
	ok $? "auditd saw the exec of pid $pid"
	[ -n "$ours" ]
	ok $? "the process monitor saw it too"
	a_exe=$(sed -n 's/.* exe=\([^ ]*\) .*/\1/p' <<<"$audit")
	[ "$a_exe" = "$exe" ] && [ "$(jq -r .exe <<<"$ours")" = "$a_exe" ]
	ok $? "  the same executable ($a_exe)"
	a_ppid=$(sed -n 's/.* ppid=\([0-9]*\) .*/\1/p' <<<"$audit")
	[ -n "$a_ppid" ] && [ "$(jq -r .ppid <<<"$ours")" = "$a_ppid" ]
	ok $? "  the same parent ($a_ppid)"
done

# every exec of this script's children either saw, both ways (cp too, however short-lived)
missing=0 differ=0 total=0
while read -r line; do
	pid=$(sed -n 's/.* pid=\([0-9]*\) .*/\1/p' <<<"$line")
	a_exe=$(sed -n 's/.* exe=\([^ ]*\) .*/\1/p' <<<"$line")
	total=$((total + 1))
	ours=$(jq -c --argjson p "$pid" 'select(.type == "process.start" and .data.pid == $p) | .data' \
		"$tmp/events.jsonl")
	if [ -z "$ours" ]; then
		missing=$((missing + 1))
		diag "pid $pid ($a_exe): audited, not seen by the monitor"
	elif [ "$(jq -r '.gone // false' <<<"$ours")" != true ] &&
		[ "$(jq -r .exe <<<"$ours")" != "$a_exe" ]; then
		differ=$((differ + 1))
		diag "pid $pid: auditd says $a_exe, the monitor $(jq -r .exe <<<"$ours")"
	fi
done < <(grep 'type=SYSCALL.*syscall=execve.*success=yes' "$tmp/ausearch.txt" |
	grep -v 'exe=/usr/sbin/auditctl') # the rule's own removal, after the monitor stopped
[ "$total" -ge 3 ] && [ "$missing" -eq 0 ]
ok $? "every exec auditd recorded for this script's children is a process.start ($total)"
[ "$differ" -eq 0 ]
ok $? "  with the same executable wherever the process was still there to ask"
extra=$(jq -r --argjson pp $$ 'select(.type == "process.start" and .data.ppid == $pp) | .data.pid' \
	"$tmp/events.jsonl" | while read -r pid; do
	grep -q "type=SYSCALL.* pid=$pid " "$tmp/ausearch.txt" || echo "$pid"
done)
[ -z "$extra" ]
ok $? "and no process.start of a child here that auditd did not record${extra:+ ($extra)}"
finish
