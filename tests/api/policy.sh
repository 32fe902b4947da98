#!/usr/bin/env bash
# USB policies through the real server: an invalid policy is refused with every error's
# line and column and changes nothing; versions and history; scope precedence (host >
# group > all) with the reason; a policy reaches an enrolled agent at its next check-in
# and the host shows the version in force; events filtered by type; mamorictl policy.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

start_server || {
	ok 1 "server starts"
	finish
}

# Three agents: two in group sales, one in no group.
new_agent s1
new_agent s2
new_agent lone
tok=$(new_token '{"uses": 2, "group": "sales"}')
enroll s1 "$tok" && enroll s2 "$tok" && enroll lone "$(new_token)"
ok $? "three agents enrol (two in group sales)"
S1=$(cat "$T/s1.id") S2=$(cat "$T/s2.id") LONE=$(cat "$T/lone.id")

json_body() { # SCOPE RULES_FILE [COMMENT]
	python3 -c '
import json, sys
b = {"scope": sys.argv[1], "rules": open(sys.argv[2]).read(), "file": "sales.rules"}
if len(sys.argv) > 3: b["comment"] = sys.argv[3]
print(json.dumps(b))' "$@"
}

# ---- an invalid policy changes nothing ----
cat >"$T/bad.rules" <<'EOF'
# three mistakes and a warning
default block
allow class mass-storage colour blue
read-only class mass-storagee tag company-issued
block serial "unterminated
allow until 2020-01-01
EOF
api GET /api/v1/policies
before_list=$BODY
api GET /api/v1/audit
before_audit=$(jget "$BODY" .total)
api POST /api/v1/policies "$(json_body all "$T/bad.rules")"
expect_status 400 "an invalid policy is refused"
expect_code invalid_policy "as invalid_policy"
errs=$(jget "$BODY" .errors)
grep -q "sales.rules:3:26: error: unknown condition 'colour'" <<<"$errs" &&
	grep -q "sales.rules:4:17: error: unknown class 'mass-storagee'" <<<"$errs" &&
	grep -q 'sales.rules:5:14: error: unterminated string' <<<"$errs"
ok $? "every error with file:line:column, in one answer"
[ "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$errs")" = 3 ]
ok $? "exactly the three errors"
jget "$BODY" .warnings | grep -q 'sales.rules:6:1: warning: this exception has expired'
ok $? "warnings come along"
api GET /api/v1/policies
[ "$BODY" = "$before_list" ]
ok $? "the policy list is the same before and after"
api GET /api/v1/audit
[ "$(jget "$BODY" .total)" = "$before_audit" ]
ok $? "and nothing was audited: nothing happened"
agent s1 POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1}'
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .policy_version)" = null ] && ! grep -q '"policy":' <<<"$BODY"
ok $? "an agent is sent no policy"

api POST /api/v1/policies '{"scope": "galaxy", "rules": "default block"}'
expect_status 400 "a scope that is not all, group:NAME or host:ID"
api POST /api/v1/policies '{"scope": "host:00000000-0000-4000-8000-000000000000", "rules": "default block"}'
expect_status 404 "a host that does not exist"
api POST /api/v1/policies '{"scope": "all", "rules": "default block", "colour": 1}'
expect_status 400 "an unknown field"
api GET /api/v1/policies
[ "$(jget "$BODY" .total)" = 0 ]
ok $? "still no policy stored"

# ---- versions and precedence ----
printf 'default allow\nblock class mtp,ptp\n' >"$T/all.rules"
printf 'default block\nread-only class mass-storage tag company-issued\n' >"$T/sales.rules"
printf 'default read-only\n' >"$T/s1.rules"
api POST /api/v1/policies "$(json_body all "$T/all.rules" "everyone")"
expect_status 201 "a policy for all hosts"
[ "$(jget "$BODY" .version)" = 1 ]
ok $? "is version 1"
api POST /api/v1/policies "$(json_body group:sales "$T/sales.rules")"
[ "$STATUS" = 201 ] && [ "$(jget "$BODY" .version)" = 2 ]
ok $? "the sales group's is version 2"
api POST /api/v1/policies "$(json_body "host:$S1" "$T/s1.rules")"
[ "$STATUS" = 201 ] && [ "$(jget "$BODY" .version)" = 3 ]
ok $? "s1's own is version 3"

api GET "/api/v1/hosts/$S1/policy"
[ "$(jget "$BODY" .policy.scope)" = "host:$S1" ] && [ "$(jget "$BODY" .policy.version)" = 3 ]
ok $? "s1: its own policy wins (host > group > all)"
jget "$BODY" .why | grep -q "has a policy of its own.*overrides group:sales (version 2) and all (version 1)"
ok $? "and why says so: $(jget "$BODY" .why)"
api GET "/api/v1/hosts/$S2/policy"
[ "$(jget "$BODY" .policy.scope)" = group:sales ] &&
	jget "$BODY" .why | grep -q "in group sales, which has a policy (version 2)"
ok $? "s2: its group's policy wins over all"
api GET "/api/v1/hosts/$LONE/policy"
[ "$(jget "$BODY" .policy.scope)" = all ] && jget "$BODY" .why | grep -q "policy for all hosts applies"
ok $? "a host in no group: the policy for all"

printf 'default block\nblock class mtp,ptp\n' >"$T/all2.rules"
api POST /api/v1/policies "$(json_body all "$T/all2.rules" "tighter")"
[ "$(jget "$BODY" .version)" = 4 ]
ok $? "a new version of all: 4"
api GET "/api/v1/hosts/$S1/policy"
[ "$(jget "$BODY" .policy.version)" = 3 ]
ok $? "s1 keeps its own"
api GET "/api/v1/hosts/$LONE/policy"
[ "$(jget "$BODY" .policy.version)" = 4 ]
ok $? "the lone host gets version 4"
api GET /api/v1/policies
[ "$(jget "$BODY" .total)" = 4 ] && [ "$(jget "$BODY" '.current[0].scope')" = all ] &&
	[ "$(jget "$BODY" '.current[0].version')" = 4 ] &&
	[ "$(jget "$BODY" '.history[0].version')" = 4 ] &&
	[ "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["current"]))' "$BODY")" = 3 ]
ok $? "the list: the current version of each of three scopes, and four in the history"
api GET /api/v1/policies/1
[ "$(jget "$BODY" .current)" = false ] && [ "$(jget "$BODY" .superseded_by)" = 4 ] &&
	[ "$(jget "$BODY" .rules)" = "$(cat "$T/all.rules")" ]
ok $? "version 1 is kept as it was, superseded by 4"
api GET /api/v1/policies/99
expect_status 404 "an unknown version"

# ---- distribution at check-in ----
agent s2 POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1, "policy_version": 0}'
expect_status 200 "s2 checks in holding no policy"
doc=$(jget "$BODY" .policy.usb)
[ "$(jget "$BODY" .policy.version)" = "$(jget "$doc" .version)" ]
ok $? "the policy carries its version and the USB document as its usb member"
v=$(jget "$doc" .version)
[[ $v == 2-* ]] && [ "$(jget "$BODY" .policy_version)" = "$v" ]
ok $? "the answer carries the policy document, version $v"
[ "$(jget "$doc" .rules_text)" = "$(cat "$T/sales.rules")" ] && [ "$(jget "$doc" .scope)" = group:sales ] &&
	[ "$(jget "$doc" .registry)" = "[]" ] && [ "$(jget "$doc" .grants)" = "[]" ]
ok $? "with the group's rules, its (empty) registry and grants"
api GET "/api/v1/hosts/$S2"
[ "$(jget "$BODY" .policy.effective)" = "$v" ] && [ "$(jget "$BODY" .policy.in_force)" = null ] &&
	[ "$(jget "$BODY" .policy.current)" = false ]
ok $? "the host record: the agent holds none yet, not current"
agent s2 POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 2, \"policy_version\": \"$v\"}"
[ "$STATUS" = 200 ] && ! grep -q '"policy":' <<<"$BODY" && [ "$(jget "$BODY" .policy_version)" = "$v" ]
ok $? "once the agent reports it, the document is not sent again"
api GET "/api/v1/hosts/$S2"
[ "$(jget "$BODY" .policy.in_force)" = "$v" ] && [ "$(jget "$BODY" .policy.current)" = true ]
ok $? "the host record shows the version in force, current"
api GET "/api/v1/hosts/$S2/policy"
[ "$(jget "$BODY" .status.in_force)" = "$v" ] && [ "$(jget "$BODY" .document.version)" = "$v" ]
ok $? "so does the host's policy"

printf 'default block\n' >"$T/sales2.rules"
api POST /api/v1/policies "$(json_body group:sales "$T/sales2.rules")"
api GET "/api/v1/hosts/$S2"
[ "$(jget "$BODY" .policy.current)" = false ] && [ "$(jget "$BODY" .policy.in_force)" = "$v" ]
ok $? "a new group version: the host is no longer current"
agent s2 POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 3, \"policy_version\": \"$v\"}"
v2=$(jget "$(jget "$BODY" .policy.usb)" .version)
[[ $v2 == 5-* ]] && [ "$(jget "$(jget "$BODY" .policy.usb)" .rules_text)" = "$(cat "$T/sales2.rules")" ]
ok $? "its next check-in brings version $v2"
agent s2 POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 4, \"policy_version\": \"$v2\"}"
api GET "/api/v1/hosts/$S2"
[ "$(jget "$BODY" .policy.in_force)" = "$v2" ] && [ "$(jget "$BODY" .policy.current)" = true ]
ok $? "and once applied the host is current again"
agent s1 POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1, "policy_version": "junk version!"}'
expect_status 400 "a policy_version that is no version is refused"

# ---- the audit trail ----
api GET /api/v1/audit
[ "$(grep -o '"action":"policy.create"' <<<"$BODY" | wc -l)" = 5 ]
ok $? "each stored version is in the audit trail"

# ---- USB events by type ----
agent s1 POST /agent/v1/events '{"events": [
 {"seq": 1, "time": 1795650000000, "type": "usb.plug", "data": {"serial": "A"}},
 {"seq": 2, "time": 1795650000001, "type": "agent.test", "data": {}},
 {"seq": 3, "time": 1795650000002, "type": "usb.plug", "data": {"serial": "B"}},
 {"seq": 4, "time": 1795650000003, "type": "usb.unplug", "data": {"serial": "A"}}]}'
expect_status 200 "USB events uploaded"
api GET "/api/v1/hosts/$S1/events?type=usb.plug"
[ "$STATUS" = 200 ] && [ "$(python3 -c 'import json,sys; print([e["seq"] for e in json.loads(sys.argv[1])["events"]])' "$BODY")" = "[1, 3]" ]
ok $? "GET …/events?type=usb.plug gives only the plug events"
api GET "/api/v1/hosts/$S1/events?type=usb.plug&after=1"
[ "$(python3 -c 'import json,sys; print([e["seq"] for e in json.loads(sys.argv[1])["events"]])' "$BODY")" = "[3]" ]
ok $? "with after"
api GET "/api/v1/hosts/$S1/events?type=USB%20plug"
expect_status 400 "a type that is no event type"

# ---- mamorictl ----
export MAMORI_SERVER=$API_URL MAMORI_TOKEN=$ADMIN MAMORI_CA=$STATE/ca.crt
out=$("$CTL" policy set --scope all "$T/bad.rules" 2>&1)
rc=$?
[ $rc = 1 ] && grep -q 'bad.rules:3:26: error' <<<"$out" && grep -q 'bad.rules:4:17: error' <<<"$out" &&
	grep -q 'bad.rules:5:14: error' <<<"$out"
ok $? "mamorictl policy set: an invalid file is refused with each error's line and column"
api GET /api/v1/policies
[ "$(jget "$BODY" .total)" = 5 ]
ok $? "and nothing was stored"
out=$("$CTL" policy set --scope "host:$LONE" "$T/s1.rules" --comment "lone one" 2>&1)
[ $? = 0 ] && grep -q "host:$LONE: version 6" <<<"$out"
ok $? "mamorictl policy set stores a version: $out"
out=$("$CTL" policy show --scope "host:$LONE")
grep -q '^# host:.*version 6.*lone one' <<<"$out" && grep -q '^default read-only$' <<<"$out"
ok $? "mamorictl policy show --scope prints the rules"
out=$("$CTL" policy show --host "$LONE")
grep -q "^why: .*has a policy of its own" <<<"$out" && grep -q "^effective: 6-" <<<"$out"
ok $? "mamorictl policy show --host says why"
out=$("$CTL" policy history)
[ "$(grep -c '^[0-9]' <<<"$out")" = 6 ] && grep -q '(6 of 6)' <<<"$out"
ok $? "mamorictl policy history lists every version"
"$CTL" --json policy show | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["current"]) == 4'
ok $? "mamorictl --json policy show: the API's JSON"
"$CTL" policy set --scope nowhere "$T/s1.rules" >/dev/null 2>&1
[ $? = 2 ]
ok $? "a bad --scope is bad use (exit 2)"
stop_server
ok $? "the server stops cleanly"
finish
