#!/usr/bin/env bash
# A USB policy reaches a real agent, end to end: an administrator checks a policy file
# offline, stores it for a group with mamorictl, registers a company stick and grants a
# user an exception; a real mamori-agent enrols into that group and, at its check-in, is
# sent the policy document — the group's rules, the registered stick, the grant — and
# sent a new one at its next check-in after the policy changes. The host record shows the
# version the agent should hold against the one it reports. (The daemon does not apply
# USB policies itself yet: the enforcer, branch usbctl, reports the version it holds; until
# then the host stays "not current", which is what this test sees.)
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/../integ/agent-lib.sh"

start_server "checkin_interval = 10s" "log_level = info" || exit 1
export MAMORI_SERVER=$API_URL MAMORI_CA=$WORK/server/ca.crt
MAMORI_TOKEN=$(cat "$WORK/server/admin.token")
export MAMORI_TOKEN
unset MAMORI_CONFIG
root=$WORK/root
cp -a "$FIXTURES/laptop" "$root"
chmod -R a+rX "$root"

cat >"$WORK/sales.rules" <<'EOF'
# sales laptops
default block
read-only class mass-storage tag company-issued
block class mtp,ptp
EOF
"$CTL" policy check "$WORK/sales.rules" >/dev/null 2>&1
ok $? "mamorictl policy check: the file is valid, offline"
"$CTL" policy set --scope group:sales "$WORK/sales.rules" --comment "first" >/dev/null
ok $? "stored for group sales"
"$CTL" devices add --serial 4C530001230512114295 --vendor 0781 --product 5581 \
	--owner "Yamada Taro" --tag company-issued >/dev/null
ok $? "a company stick registered"
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
ok $? "and runs"

sent() { grep "(M4302) host $host holds USB policy" "$WORK/server.log" | tail -1 | sed 's/.*: sending //'; }
wait_until 30 sh -c "grep -q '(M4302) host $host holds USB policy .none.: sending ' '$WORK/server.log'"
ok $? "at its check-in the server sends it the policy"
v1=$(sent)
[[ $v1 == 1-* ]]
ok $? "version $v1 (policy version 1)"
"$CTL" --json policy show --host "$host" >"$WORK/hp.json"
python3 - "$WORK/hp.json" "$v1" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
d = h["document"]
assert d["version"] == sys.argv[2], d["version"]
assert d["scope"] == "group:sales" and d["rules_text"].startswith("# sales laptops")
assert [r["serial"] for r in d["registry"]] == ["4C530001230512114295"]
assert [(g["serial"], g["user"]) for g in d["grants"]] == [("AA00000000000042", "hanako")]
assert h["status"]["effective"] == sys.argv[2]
PY
ok $? "the document it was sent: the group's rules, the registered stick, the grant"
"$CTL" --json hosts show "$host" | python3 -c '
import json, sys
p = json.load(sys.stdin)["policy"]
assert p["effective"] and p["in_force"] is None and p["current"] is False, p'
ok $? "the host record: the version it should hold, none reported in force yet"

printf 'default block\nblock class mtp,ptp\n' >"$WORK/sales2.rules"
"$CTL" policy set --scope group:sales "$WORK/sales2.rules" --comment "no more sticks" >/dev/null
ok $? "the group's policy changes"
wait_until 30 sh -c "grep '(M4302) host $host holds USB policy' '$WORK/server.log' | tail -1 | grep -q 'sending 2-'"
ok $? "the agent's next check-in is sent version 2: $(sent)"
"$CTL" --json policy show --host "$host" | python3 -c '
import json, sys
d = json.load(sys.stdin)["document"]
assert d["rules_text"] == "default block\nblock class mtp,ptp\n" and d["registry"] == [], d'
ok $? "with the new rules, and no registry: they name no tag"
stop_agent
finish
