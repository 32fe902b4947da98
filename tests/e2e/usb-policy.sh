#!/usr/bin/env bash
# A USB policy reaches a real agent and is applied, end to end: an administrator checks a
# policy file offline, stores it for a group with mamorictl, registers the company stick
# and grants a user an exception; a real mamori-agent, run as root (USB control needs it)
# over the laptop fixture's sysfs, enrols into that group and, at its check-in, is sent
# the policy document — the group's rules, the registered stick, the grant. Its USB control
# applies it (the parent writes `authorized`: the camera is blocked, the registered stick
# allowed) and reports the version in force at its next check-in, which the host record
# shows, so the server stops sending it. A changed policy blocks the stick at the next
# check-in; a grant for this host, by its host id, lets the stick in again.
. "$(dirname "$0")/../integ/lib.sh"
need_root
. "$(dirname "$0")/../integ/agent-lib.sh"

start_server "checkin_interval = 10s" "log_level = info" || exit 1
export MAMORI_SERVER=$API_URL MAMORI_CA=$WORK/server/ca.crt
MAMORI_TOKEN=$(cat "$WORK/server/admin.token")
export MAMORI_TOKEN
unset MAMORI_CONFIG
root=$WORK/root
cp -a "$FIXTURES/laptop" "$root"
chmod -R a+rX "$root"
usb=$root/sys/devices/pci0000:00/0000:00:14.0
stick=$usb/usb2/2-1/authorized  # SanDisk Ultra Fit, serial 4C530001230405117283
camera=$usb/usb1/1-3/authorized # Canon camera: PTP
keyboard=$usb/usb1/1-2/authorized

cat >"$WORK/sales.rules" <<'EOF'
# sales laptops
default block
allow class mass-storage tag company-issued
block class mtp,ptp
EOF
"$CTL" policy check "$WORK/sales.rules" >/dev/null 2>&1
ok $? "mamorictl policy check: the file is valid, offline"
"$CTL" policy set --scope group:sales "$WORK/sales.rules" --comment "first" >/dev/null
ok $? "stored for group sales"
"$CTL" devices add --serial 4C530001230405117283 --vendor 0781 --product 5583 \
	--owner "Yamada Taro" --tag company-issued >/dev/null
ok $? "the company stick registered"
"$CTL" grants create --serial AA00000000000042 --user hanako --hours 8 \
	--reason "customer data, one day" >/dev/null
ok $? "an exception granted to hanako"

"$CTL" tokens create --uses 1 --group sales >"$WORK/tok.txt"
token=$(sed -n 's/^token: *//p' "$WORK/tok.txt")
"$AGENT" enroll --server "$SERVER_URL" --token "$token" --state-dir "$WORK/st" \
	--ca-fingerprint "$CA_FP" >"$WORK/enroll.out" 2>&1
ok $? "a real agent enrols into group sales"
host=$(sed -n 's/^host_id = //p' "$WORK/st/agent.conf")
start_agent "$WORK/st" --root "$root"
ok $? "and runs as root, privilege-separated: $([ -n "$(agent_worker)" ] && echo yes || echo no)"

sent() { grep "(M4302) host $host holds policy" "$WORK/server.log" | sed 's/.*: sending //'; }
wait_until 30 sh -c "grep -q '(M4302) host $host holds policy .none.: sending ' '$WORK/server.log'"
ok $? "at its first check-in the agent holds none, and the server sends the policy"
v1=$(sent | tail -1)
[[ $v1 == 1-* ]]
ok $? "version $v1 (policy version 1)"
"$CTL" --json policy show --host "$host" >"$WORK/hp.json"
python3 - "$WORK/hp.json" "$v1" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
d = h["document"]
assert d["version"] == sys.argv[2], d["version"]
assert d["scope"] == "group:sales" and d["rules_text"].startswith("# sales laptops")
assert [r["serial"] for r in d["registry"]] == ["4C530001230405117283"]
assert [(g["serial"], g["user"]) for g in d["grants"]] == [("AA00000000000042", "hanako")]
assert h["status"]["effective"] == sys.argv[2]
PY
ok $? "the document it was sent: the group's rules, the registered stick, the grant"

wait_until 20 grep -qx 0 "$camera"
ok $? "the agent applies it: the camera (PTP) is blocked, the parent wrote 0"
[ "$(cat "$stick")" = 1 ] && [ "$(cat "$keyboard")" = 1 ]
ok $? "the registered stick is allowed by its tag, the keyboard untouched"
host_policy() { "$CTL" --json hosts show "$host" | python3 -c "
import json, sys
p = json.load(sys.stdin)['policy']
sys.exit(0 if $1 else 1)"; }
wait_until 30 host_policy "p['in_force'] == '$v1' and p['effective'] == '$v1' and p['current']"
ok $? "its next check-in reports $v1 in force: the host record shows it current"
[ "$(sent | grep -c "^$v1\$")" = 1 ]
ok $? "and the server did not send that version again"
policy_events() { "$CTL" --json hosts events "$host" --type usb.policy | python3 -c "
import json, sys
ev = [e['data'] for e in json.load(sys.stdin)['events']]
sys.exit(0 if [d for d in ev if $1] else 1)"; }
wait_until 60 policy_events "d['version'] == '$v1' and d['source'] == 'server' and d['registry'] == 1 and d['grants'] == 1"
ok $? "the agent's usb.policy record reaches the server: $v1 from the server, 1 device, 1 grant"

printf 'default block\nblock class mtp,ptp\n' >"$WORK/sales2.rules"
"$CTL" policy set --scope group:sales "$WORK/sales2.rules" --comment "no more sticks" >/dev/null
ok $? "the group's policy changes"
wait_until 30 sh -c "grep '(M4302) host $host holds policy .$v1.: sending 2-' '$WORK/server.log'"
ok $? "the agent's next check-in, holding $v1, is sent version 2: $(sent | tail -1)"
v2=$(sent | tail -1)
"$CTL" --json policy show --host "$host" | python3 -c '
import json, sys
d = json.load(sys.stdin)["document"]
assert d["rules_text"] == "default block\nblock class mtp,ptp\n" and d["registry"] == [], d'
ok $? "with the new rules, and no registry: they name no tag"
wait_until 20 grep -qx 0 "$stick"
ok $? "the agent applies it: the stick is blocked now"
wait_until 30 host_policy "p['in_force'] == '$v2' and p['current']"
ok $? "and reports $v2 in force"

"$CTL" grants create --serial 4C530001230405117283 --host "$host" --hours 1 \
	--reason "one last copy" >/dev/null
ok $? "the stick is granted to this host for an hour"
wait_until 30 sh -c "grep -q '(M4302) host $host holds policy .$v2.: sending 2-' '$WORK/server.log'"
ok $? "the grant changes the document: the next check-in is sent $(sent | tail -1)"
"$CTL" --json policy show --host "$host" | python3 -c "
import json, sys
g = json.load(sys.stdin)['document']['grants']
assert [(x['serial'], x.get('host')) for x in g if 'host' in x] == [('4C530001230405117283', '$host')], g"
ok $? "the grant names the host by its id"
wait_until 20 grep -qx 1 "$stick"
ok $? "and the agent matches it: the stick is allowed again"
! grep -q "M1440" "$AGENT_LOG"
ok $? "the agent's parent refused none of the worker's requests"
stop_agent
finish
