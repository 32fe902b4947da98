#!/usr/bin/env bash
# A collection profile reaches a real agent and changes what it records, end to end: a real
# mamori-agent runs on this machine (no --root: its monitors are live) under the standard
# profile, which records program starts and watches no folder. An administrator checks a
# profile offline and stores it for the host with `mamorictl collection set`: minimal (no
# program starts) plus a watched folder. At its next check-in the agent is sent the policy
# (the server logs M4302), applies it (`mamori-agent status --collection` says so; the
# agent.policy_applied event with that version reaches the server), reports the version
# at the following check-ins and is not sent it again. And it records differently: a file
# written in the folder now gives a file.write event, a program started no process.start.
# As root the agent has USB control too, but only the collection part is in the policy.
. "$(dirname "$0")/../integ/lib.sh"
need_root
. "$(dirname "$0")/../integ/agent-lib.sh"

start_server "checkin_interval = 10s" "log_level = info" || exit 1
export MAMORI_SERVER=$API_URL MAMORI_CA=$WORK/server/ca.crt
MAMORI_TOKEN=$(cat "$WORK/server/admin.token")
export MAMORI_TOKEN
unset MAMORI_CONFIG
st=$WORK/state
watched=$WORK/watched
mkdir -p "$watched"
cp /bin/sleep "$WORK/mamori-cp-sleep"
chmod 755 "$WORK/mamori-cp-sleep"

enroll_agent "$st" --ca-fingerprint "$CA_FP" >"$WORK/enroll.out" 2>&1
ok $? "a real agent enrols"
host=$(sed -n 's/^host_id = //p' "$st/agent.conf")
start_agent "$st"
ok $? "and runs on this machine, as root"
wait_until 10 grep -q "(M1248) [0-9] monitors running" "$AGENT_LOG"
ok $? "with its monitors"

has() { server_query "$host" "[e for e in ev if $1]"; }
# Before: the standard profile records program starts, and no folder is watched. The
# program starts after the file is written, so once its start is on the server, a file
# event would be too.
echo before >"$watched/before.txt"
"$WORK/mamori-cp-sleep" 1 &
pid1=$!
wait "$pid1"
wait_until 30 has "e['type'] == 'process.start' and e['data'].get('pid') == $pid1"
ok $? "standard profile: the program's start reaches the server"
! has "e['type'].startswith('file.') and e['data'].get('path', '').startswith('$watched/')"
ok $? "  and nothing of the folder, which it does not watch"

cat >"$WORK/profile.json" <<EOF
{"profile": "minimal", "files": {"enabled": true, "folders": ["$watched"]}}
EOF
"$CTL" collection check "$WORK/profile.json" >"$WORK/check.out" 2>&1
ok $? "mamorictl collection check: valid, offline ($(cat "$WORK/check.out"))"
"$CTL" collection set --scope "host:$host" "$WORK/profile.json" --comment "e2e" >"$WORK/set.out"
ok $? "mamorictl collection set stores it for the host: $(cat "$WORK/set.out")"

sent() { grep "(M4302) host $host holds policy" "$WORK/server.log" | sed 's/.*: sending //'; }
wait_until 30 sh -c "grep -q '(M4302) host $host holds policy .none.: sending ' '$WORK/server.log'"
ok $? "at its next check-in the agent holds none, and the server sends the policy"
v=$(sent | tail -1)
[[ $v == 0.1-* ]]
ok $? "version $v: no USB policy, collection profile 1"

wait_until 20 sh -c "'$AGENT' status --collection --state-dir '$st' --lang en | grep -q 'profile: minimal'"
ok $? "mamori-agent status --collection: the minimal profile applies"
"$AGENT" status --collection --state-dir "$st" --lang en >"$WORK/status.out"
grep -q "^      $watched\$" "$WORK/status.out" &&
	sed -n '/^Not recorded/,/^$/p' "$WORK/status.out" | grep -q "Programs started"
ok $? "  watching the folder, not recording program starts"

applied() {
	"$CTL" --json events search --host "$host" --type agent.policy_applied | python3 -c "
import json, sys
ev = json.load(sys.stdin)['events']
sys.exit(0 if [e for e in ev if e['data'].get('version') == '$v' and e['data'].get('profile') == 'minimal'] else 1)"
}
wait_until 40 applied
ok $? "agent.policy_applied with version $v reaches the server (mamorictl events search)"

host_policy() { "$CTL" --json hosts show "$host" | python3 -c "
import json, sys
p = json.load(sys.stdin)['policy']
sys.exit(0 if $1 else 1)"; }
wait_until 30 host_policy "p['in_force'] == '$v' and p['current']"
ok $? "its next check-in reports $v: the host record shows it current"
reported=$("$CTL" --json hosts show "$host" | python3 -c "import json,sys; print(json.load(sys.stdin)['policy']['reported'])")
wait_until 30 host_policy "p['reported'] != $reported and p['in_force'] == '$v'"
ok $? "and a check-in after that reports it too"
[ "$(sent | grep -c "^$v\$")" = 1 ] && [ "$(sent | wc -l)" = 1 ]
ok $? "the server sent the policy once, not at every check-in (M4302 once)"

# After: the program starts before the file is written, so once the file's event is on the
# server, a start event would be too.
"$WORK/mamori-cp-sleep" 1 &
pid2=$!
wait "$pid2"
echo after >"$watched/after.txt"
wait_until 30 has "e['type'] == 'file.write' and e['data'].get('path') == '$watched/after.txt'"
ok $? "minimal + folder: a file written in the folder gives file.write"
! has "e['type'] == 'process.start' and e['data'].get('pid') == $pid2"
ok $? "  and the program started before it no process.start"

"$CTL" --json hosts show "$host" | python3 -c '
import json, sys
h = json.load(sys.stdin)
sys.exit(0 if h["state"].get("usb_policy_version") == "" else 1)'
ok $? "the agent reports no USB document apart (E-4 reads that)"
stop_agent
ok $? "SIGTERM: the daemon stops cleanly"
stop_server
finish
