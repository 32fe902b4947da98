#!/usr/bin/env bash
# Collection profiles through the real server: a profile the agent would refuse is refused
# with every error's place and changes nothing; versions, history and the audit trail;
# scope precedence (host > group > all) in the host's view; the profile reaches an agent at
# its next check-in, alone or beside a USB policy, and is not sent again once the agent
# reports its version; mamorictl collection.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

start_server || {
	ok 1 "server starts"
	finish
}

new_agent s1
new_agent s2
new_agent lone
tok=$(new_token '{"uses": 2, "group": "sales"}')
enroll s1 "$tok" && enroll s2 "$tok" && enroll lone "$(new_token)"
ok $? "three agents enrol (two in group sales)"
S1=$(cat "$T/s1.id") S2=$(cat "$T/s2.id") LONE=$(cat "$T/lone.id")

body() { # SCOPE PROFILE_JSON [COMMENT]
	python3 -c '
import json, sys
b = {"scope": sys.argv[1], "profile": json.loads(sys.argv[2])}
if len(sys.argv) > 3: b["comment"] = sys.argv[3]
print(json.dumps(b))' "$@"
}
count() { python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$1"; }
audits() {
	api GET /api/v1/audit
	grep -o '"action":"collection.create"' <<<"$BODY" | wc -l
}

# ---- a profile an agent would refuse changes nothing ----
bad='{"profile": "paranoid", "process": {"enabled": "yes"},
      "files": {"folders": ["Documents", "/srv/share"]}, "future": true}'
api GET /api/v1/collection-profiles
before=$BODY
api POST /api/v1/collection-profiles "$(body all "$bad")"
expect_status 400 "an invalid profile is refused"
expect_code invalid_profile "as invalid_profile"
errs=$(jget "$BODY" .errors)
grep -q 'collection.profile: expected \\"minimal\\", \\"standard\\" or \\"detailed\\"' <<<"$errs" &&
	grep -q 'collection.process.enabled: expected true or false' <<<"$errs" &&
	grep -q "collection.files.folders\[0\]: expected an absolute path" <<<"$errs"
ok $? "every error with its place in the policy, in one answer"
[ "$(count "$errs")" = 3 ]
ok $? "exactly the three errors"
jget "$BODY" .warnings | grep -q "collection: unknown setting 'future' ignored"
ok $? "an unknown setting is a warning, as the agent takes it"
api GET /api/v1/collection-profiles
[ "$BODY" = "$before" ] && [ "$(jget "$BODY" .total)" = 0 ]
ok $? "the store is unchanged"
[ "$(audits)" = 0 ]
ok $? "and nothing was audited"

api POST /api/v1/collection-profiles '{"scope": "galaxy", "profile": {}}'
expect_status 400 "a scope that is not all, group:NAME or host:ID"
api POST /api/v1/collection-profiles '{"scope": "host:00000000-0000-4000-8000-000000000000", "profile": {}}'
expect_status 404 "a host that does not exist"
api POST /api/v1/collection-profiles '{"scope": "all", "profile": "minimal"}'
expect_status 400 "a profile that is no object"
api POST /api/v1/collection-profiles '{"scope": "all", "profile": {}, "colour": 1}'
expect_status 400 "an unknown field"
agent lone POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1}'
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .policy_version)" = null ] && ! grep -q '"policy":' <<<"$BODY"
ok $? "no profile, no USB policy: an agent is sent no policy"

# ---- versions and precedence ----
api POST /api/v1/collection-profiles "$(body all '{"profile": "minimal"}' everyone)"
[ "$STATUS" = 201 ] && [ "$(jget "$BODY" .version)" = 1 ] && [ "$(jget "$BODY" .name)" = minimal ]
ok $? "a profile for all hosts: version 1, minimal"
api POST /api/v1/collection-profiles "$(body group:sales '{"profile": "detailed"}')"
[ "$STATUS" = 201 ] && [ "$(jget "$BODY" .version)" = 2 ]
ok $? "the sales group's: version 2"
api POST /api/v1/collection-profiles "$(body "host:$S1" '{"files": {"folders": ["/srv/経理"], "exclude": ["*.tmp"]}}')"
[ "$STATUS" = 201 ] && [ "$(jget "$BODY" .version)" = 3 ] && [ "$(jget "$BODY" .name)" = standard ]
ok $? "s1's own: version 3, from the standard profile"
[ "$(audits)" = 3 ]
ok $? "each stored version is in the audit trail"

api GET "/api/v1/hosts/$S1/collection"
[ "$(jget "$BODY" .profile.scope)" = "host:$S1" ] && [ "$(jget "$BODY" .profile.version)" = 3 ] &&
	[ "$(jget "$BODY" '.effective.files.folders[0]')" = "/srv/経理" ] &&
	[ "$(jget "$BODY" .effective.process.enabled)" = true ]
ok $? "s1: its own profile wins (host > group > all), with its settings"
[ "$(count "$(jget "$BODY" .candidates)")" = 3 ]
ok $? "over its group's and all's"
api GET "/api/v1/hosts/$S2/collection"
[ "$(jget "$BODY" .profile.scope)" = group:sales ] && [ "$(jget "$BODY" .effective.process.command_line)" = true ] &&
	jget "$BODY" .why | grep -q "group"
ok $? "s2: its group's profile wins over all's (detailed: command lines)"
api GET "/api/v1/hosts/$LONE/collection"
[ "$(jget "$BODY" .profile.scope)" = all ] && [ "$(jget "$BODY" .effective.process.enabled)" = false ]
ok $? "a host in no group: the profile for all (minimal: no processes)"
api GET "/api/v1/hosts/00000000-0000-4000-8000-000000000000/collection"
expect_status 404 "an unknown host"

api POST /api/v1/collection-profiles "$(body all '{"profile": "standard", "process": {"hash": false}}' again)"
[ "$(jget "$BODY" .version)" = 4 ]
ok $? "a new version of all: 4"
api GET "/api/v1/hosts/$LONE/collection"
[ "$(jget "$BODY" .profile.version)" = 4 ] && [ "$(jget "$BODY" .effective.process.hash)" = false ]
ok $? "the latest version of a scope is in force"
api GET /api/v1/collection-profiles
[ "$(jget "$BODY" .total)" = 4 ] && [ "$(count "$(jget "$BODY" .current)")" = 3 ] &&
	[ "$(jget "$BODY" '.current[0].scope')" = all ] && [ "$(jget "$BODY" '.current[0].version')" = 4 ] &&
	[ "$(jget "$BODY" '.history[0].version')" = 4 ] && [ -n "$(jget "$BODY" '.history[0].created')" ] &&
	[[ $(jget "$BODY" '.history[0].created_by') == token:* ]]
ok $? "the list: the current version of three scopes, four in the history, who and when"
api GET "/api/v1/collection-profiles?scope=group:sales"
[ "$(jget "$BODY" .total)" = 1 ]
ok $? "one scope's history"
api GET /api/v1/collection-profiles/1
[ "$(jget "$BODY" .current)" = false ] && [ "$(jget "$BODY" .superseded_by)" = 4 ] &&
	[ "$(jget "$BODY" .profile.profile)" = minimal ]
ok $? "version 1 is kept as it was, superseded by 4"
api GET /api/v1/collection-profiles/99
expect_status 404 "an unknown version"

# ---- distribution at check-in ----
agent lone POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 2, "policy_version": 0}'
v=$(jget "$BODY" .policy.version)
[ "$STATUS" = 200 ] && [ -n "$v" ] && [ "$(jget "$BODY" .policy_version)" = "$v" ] &&
	[[ $v == 0.4-* ]]
ok $? "a host with only a collection profile is sent a policy, version $v"
[ "$(jget "$BODY" .policy.collection.profile)" = standard ] &&
	[ "$(jget "$BODY" .policy.collection.process.hash)" = false ] && [ -z "$(jget "$BODY" .policy.usb)" ]
ok $? "holding the profile in force, as stored, and no USB part"
agent lone POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 3, \"policy_version\": \"$v\", \"usb_policy_version\": \"\"}"
[ "$STATUS" = 200 ] && ! grep -q '"policy":' <<<"$BODY" && [ "$(jget "$BODY" .policy_version)" = "$v" ]
ok $? "once the agent reports it, it is not sent again"
api GET "/api/v1/hosts/$LONE"
[ "$(jget "$BODY" .policy.in_force)" = "$v" ] && [ "$(jget "$BODY" .policy.current)" = true ]
ok $? "the host record shows it in force, current"
api GET "/api/v1/hosts/$LONE/policy"
[ "$(jget "$BODY" .status.effective)" = "$v" ] && [ "$(jget "$BODY" .status.current)" = true ] &&
	[ "$(jget "$BODY" .document)" = null ]
ok $? "so does the host's policy view: the whole policy's version, with no USB document"

api POST /api/v1/policies '{"scope": "all", "rules": "default allow\n"}'
expect_status 201 "a USB policy for all"
agent lone POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 4, \"policy_version\": \"$v\"}"
v2=$(jget "$BODY" .policy.version)
[ "$v2" != "$v" ] && [[ $v2 == 1.4-* ]] && [ -n "$(jget "$BODY" .policy.usb.version)" ] &&
	[ "$(jget "$BODY" .policy.collection.profile)" = standard ]
ok $? "a USB policy joins: a new version $v2 with both parts"
api POST /api/v1/collection-profiles "$(body "host:$LONE" '{"profile": "minimal"}')"
agent lone POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 5, \"policy_version\": \"$v2\"}"
v3=$(jget "$BODY" .policy.version)
[ "$v3" != "$v2" ] && [[ $v3 == 1.5-* ]] && [ "$(jget "$BODY" .policy.collection.profile)" = minimal ]
ok $? "a new profile in force: a new version $v3"
agent lone POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 6, \"policy_version\": \"$v3\", \"usb_policy_version\": \"bad version!\"}"
expect_status 400 "a usb_policy_version that is no version is refused"

# ---- mamorictl ----
export MAMORI_SERVER=$API_URL MAMORI_TOKEN=$ADMIN MAMORI_CA=$STATE/ca.crt
printf '%s\n' "$bad" >"$T/bad.json"
printf '{"profile": "detailed", "network": {"enabled": false}}\n' >"$T/good.json"
out=$("$CTL" collection check "$T/bad.json" 2>&1)
rc=$?
[ $rc = 1 ] && grep -q 'bad.json: error: collection.process.enabled: expected true or false' <<<"$out" &&
	grep -q 'bad.json: error: collection.files.folders\[0\]' <<<"$out" &&
	grep -q "bad.json: warning: collection: unknown setting 'future'" <<<"$out"
ok $? "mamorictl collection check (offline): every error with its place, exit 1"
out=$(MAMORI_SERVER= MAMORI_TOKEN= "$CTL" collection check "$T/good.json" 2>&1)
[ $? = 0 ] && grep -q 'valid, profile detailed' <<<"$out"
ok $? "a good file is valid, without a server: $out"
out=$("$CTL" collection set --scope all "$T/bad.json" 2>&1)
[ $? = 1 ] && grep -q 'collection.process.enabled' <<<"$out"
ok $? "mamorictl collection set: the server refuses it with the same messages"
out=$("$CTL" collection set --scope group:sales "$T/good.json" --comment "more" 2>&1)
[ $? = 0 ] && grep -q "group:sales: version 6 (profile detailed)" <<<"$out"
ok $? "mamorictl collection set stores a version: $out"
out=$("$CTL" collection list)
[ "$(grep -c '^[0-9]' <<<"$out")" = 4 ] && grep -q '^6 *group:sales *detailed' <<<"$out"
ok $? "mamorictl collection list: the current profile of each scope"
"$CTL" --json collection list --all | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["total"] == 6 and len(d["history"]) == 6'
ok $? "mamorictl --json collection list --all: every version"
out=$("$CTL" collection show 6)
grep -q '^# group:sales, version 6 (detailed).*more' <<<"$out" && grep -q '"enabled": false' <<<"$out"
ok $? "mamorictl collection show ID"
out=$("$CTL" collection show --host "$S2")
grep -q '^profile: group:sales, version 6 (detailed)' <<<"$out" && grep -q '^why: ' <<<"$out"
ok $? "mamorictl collection show --host: the profile in force and why"
"$CTL" collection set --scope nowhere "$T/good.json" >/dev/null 2>&1
[ $? = 2 ]
ok $? "a bad --scope is bad use (exit 2)"
stop_server
ok $? "the server stops cleanly"
finish
