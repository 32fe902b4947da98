#!/usr/bin/env bash
# The monitors end to end: `mamori-agent run` as root (privilege-separated: the worker runs
# as nobody and asks the parent for /proc links, fanotify marks, file handles and
# root-only logs) against the real mamori-server. A process started, a file written,
# renamed and deleted in a folder the saved policy watches, and a login written into this
# machine's wtmp must reach the server as events with the right fields. The wtmp is put
# back to its size before the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd truncate

UW=$BUILD/tests/integ/utmp-writer
wtmp=/var/log/wtmp
[ -e "$wtmp" ] || skip_all "no $wtmp on this machine"
wtmp_size=$(stat -c %s "$wtmp")
restore_wtmp() { truncate -s "$wtmp_size" "$wtmp"; }
trap 'restore_wtmp; _agent_cleanup' EXIT

start_server "checkin_interval = 10s" || exit 1
st=$WORK/state
watched=$WORK/watched
mkdir -p "$watched"
enroll_agent "$st" --ca-fingerprint "$CA_FP" >"$WORK/out" 2>&1
ok $? "enrolled"
host=$(sed -n 's/^host_id = //p' "$st/agent.conf")
cat >"$st/policy.json" <<EOF
{"collection": {"profile": "detailed", "files": {"folders": ["$watched"]}}}
EOF
cp /bin/sleep "$WORK/mamori-e2e-sleep"
chmod 755 "$WORK/mamori-e2e-sleep"
exe_sum=$(sha256sum "$WORK/mamori-e2e-sleep" | cut -d' ' -f1)

start_agent "$st"
ok $? "the daemon starts on this machine (no --root)"
wait_until 10 grep -q "(M1248) 4 monitors running" "$AGENT_LOG"
ok $? "with its four monitors"
grep -q "(M2038) privilege separation" "$AGENT_LOG"
ok $? "privilege-separated"

"$WORK/mamori-e2e-sleep" 1 &
spid=$!
echo report >"$watched/report.txt"
mv "$watched/report.txt" "$watched/final.txt"
rm "$watched/final.txt"
"$UW" "$wtmp" login e2euser pts/42 192.0.2.77 4242
"$UW" "$wtmp" logout - pts/42 - 4242
wait "$spid"

wait_until 20 server_query "$host" "[e for e in ev if e['type'] == 'process.start' and e['data']['pid'] == $spid]"
ok $? "process.start reaches the server"
p=$(server_query "$host" "[e['data'] for e in ev if e['type'] == 'process.start' and e['data']['pid'] == $spid][0]")
python3 - "$p" "$WORK/mamori-e2e-sleep" "$exe_sum" <<'PY'
import json, sys
d, exe, digest = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.exit(0 if d.get("exe") == exe and d.get("sha256") == digest
         and d.get("cmdline") == exe + " 1" and d.get("user") == "root" else 1)
PY
ok $? "  with its executable, hash (through the parent), command line and user"

wait_until 20 server_query "$host" "[e for e in ev if e['type'] == 'file.write' and e['data']['path'] == '$watched/report.txt']"
ok $? "file.write for the file written in the watched folder"
server_query "$host" "[e for e in ev if e['type'] == 'file.rename' and e['data'].get('from') == '$watched/report.txt' and e['data'].get('to') == '$watched/final.txt']" >/dev/null
ok $? "file.rename with both names"
server_query "$host" "[e for e in ev if e['type'] == 'file.delete' and e['data']['path'] == '$watched/final.txt']" >/dev/null
ok $? "file.delete"
server_query "$host" "[e for e in ev if e['type'] == 'file.write' and e['data']['path'] == '$watched/report.txt' and e['data'].get('pid') == $$]" >/dev/null
ok $? "  written by this shell, as the worker learnt from the parent"

wait_until 20 server_query "$host" "[e for e in ev if e['type'] == 'login.success' and e['data'].get('user') == 'e2euser' and e['data'].get('line') == 'pts/42' and e['data'].get('host') == '192.0.2.77']"
ok $? "login.success from this machine's wtmp (opened by the parent, followed by the worker)"
wait_until 10 server_query "$host" "[e for e in ev if e['type'] == 'login.logout' and e['data'].get('user') == 'e2euser']"
ok $? "login.logout names the user"

stop_agent
ok $? "SIGTERM: the daemon stops cleanly"
! grep -q "M2030" "$AGENT_LOG"
ok $? "the parent found nothing malformed in the worker's requests"
stop_server
finish
