#!/usr/bin/env bash
# Temporary grants through the real server: a grant for a host reaches that host only, in
# the policy document of its next check-in; a grant for a user reaches every host; an
# expired (short hours) or revoked grant leaves the document, which gets a new version;
# mamorictl grants.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

start_server || {
	ok 1 "server starts"
	finish
}
new_agent a
new_agent b
enroll a "$(new_token)" && enroll b "$(new_token)"
ok $? "two agents enrol"
A=$(cat "$T/a.id") B=$(cat "$T/b.id")
api POST /api/v1/policies '{"scope": "all", "rules": "default block\n"}'
expect_status 201 "a policy for all"

checkin() { # NAME HELD → the document sent (or "")
	agent "$1" POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 1, \"policy_version\": \"$2\"}"
	jget "$BODY" .policy.usb
}
grants_of() { # DOC → "serial:host|user ..." sorted
	python3 -c '
import json, sys
d = json.loads(sys.argv[1]) if sys.argv[1] else {"grants": []}
print(" ".join(sorted(g["serial"] + ":" + g.get("host", g.get("user", "?")) for g in d["grants"])))' "$1"
}
doc=$(checkin a "")
va=$(jget "$doc" .version)
doc=$(checkin b "")
vb=$(jget "$doc" .version)
[ -n "$va" ] && [ "$va" = "$vb" ] && [ "$(grants_of "$doc")" = "" ]
ok $? "both hold the same document without grants: $va"

# ---- validation ----
api POST /api/v1/grants "{\"serial\": \"S1\", \"host\": \"$A\", \"user\": \"taro\", \"hours\": 2, \"reason\": \"x\"}"
expect_status 400 "host and user at once"
api POST /api/v1/grants "{\"serial\": \"S1\", \"host\": \"$A\", \"hours\": 0, \"reason\": \"x\"}"
expect_status 400 "zero hours"
api POST /api/v1/grants "{\"serial\": \"S1\", \"host\": \"$A\", \"hours\": 721, \"reason\": \"x\"}"
expect_status 400 "more than 30 days"
api POST /api/v1/grants "{\"serial\": \"S1\", \"host\": \"$A\", \"hours\": 2}"
expect_status 400 "no reason"
api POST /api/v1/grants '{"serial": "S1", "host": "00000000-0000-4000-8000-000000000000", "hours": 2, "reason": "x"}'
expect_status 404 "an unknown host"
api GET "/api/v1/grants?all=true"
[ "$(jget "$BODY" .total)" = 0 ]
ok $? "none of those was stored"

# ---- a grant for a host, one for a user ----
api POST /api/v1/grants "{\"serial\": \"HOST-STICK\", \"host\": \"$A\", \"hours\": 2, \"reason\": \"customer visit\"}"
expect_status 201 "a grant for host a"
gid=$(jget "$BODY" .id)
exp=$(jget "$BODY" .expires)
[ $((exp - $(jget "$BODY" .created))) = 7200 ]
ok $? "for two hours"
api POST /api/v1/grants '{"serial": "USER-STICK", "user": "hanako", "hours": 0.5, "reason": "training"}'
expect_status 201 "a grant for user hanako, half an hour"
uid=$(jget "$BODY" .id)
doc=$(checkin a "$va")
[ "$(grants_of "$doc")" = "HOST-STICK:$A USER-STICK:hanako" ]
ok $? "host a's next check-in brings both grants (its own by its host id)"
va2=$(jget "$doc" .version)
[ "$va2" != "$va" ]
ok $? "in a new document version"
g=$(python3 -c 'import json,sys; print([g for g in json.loads(sys.argv[1])["grants"] if g["serial"] == "HOST-STICK"][0]["until"])' "$doc")
[ "$g" = "$(date -u -d "@$exp" +%Y-%m-%dT%H:%M:%SZ)" ]
ok $? "until is the expiry in UTC: $g"
doc=$(checkin b "$vb")
[ "$(grants_of "$doc")" = "USER-STICK:hanako" ]
ok $? "host b gets the user's grant only"
vb2=$(jget "$doc" .version)
[ -z "$(checkin a "$va2")" ]
ok $? "once applied nothing more is sent"

# ---- revoke ----
api POST "/api/v1/grants/$uid/revoke"
expect_status 200 "the user's grant is revoked"
doc=$(checkin b "$vb2")
[ -n "$doc" ] && [ "$(grants_of "$doc")" = "" ]
ok $? "and leaves the next document"
api DELETE /api/v1/grants/gr_0000000000000000
expect_status 404 "revoking an unknown grant"

# ---- expiry ----
api POST /api/v1/grants "{\"serial\": \"SHORT\", \"host\": \"$B\", \"hours\": 0.0006, \"reason\": \"a few seconds\"}"
expect_status 201 "a grant of about two seconds"
doc=$(checkin b "$(jget "$doc" .version)")
vb3=$(jget "$doc" .version)
[ "$(grants_of "$doc")" = "SHORT:$B" ]
ok $? "is in b's document"
sleep 4
doc=$(checkin b "$vb3")
[ -n "$doc" ] && [ "$(grants_of "$doc")" = "" ] && [ "$(jget "$doc" .version)" != "$vb3" ]
ok $? "after it expired, the next check-in brings a document without it"
api GET /api/v1/grants
[ "$(python3 -c 'import json,sys; print(sorted(g["serial"] for g in json.loads(sys.argv[1])["grants"]))' "$BODY")" = "['HOST-STICK']" ]
ok $? "the list shows the live grants"
api GET "/api/v1/grants?all=true"
[ "$(python3 -c 'import json,sys; print(sorted(g["serial"] + "=" + g["state"] for g in json.loads(sys.argv[1])["grants"]))' "$BODY")" = "['HOST-STICK=active', 'SHORT=expired', 'USER-STICK=revoked']" ]
ok $? "?all=true: every grant with its state"
api GET /api/v1/audit
grep -q '"action":"grant.create"' <<<"$BODY" && grep -q "\"action\":\"grant.revoke\",\"actor\":\"token:[^\"]*\",\"details\":null,\"hash\":\"[0-9a-f]*\",\"id\":[0-9]*,\"remote\":\"127.0.0.1\",\"target\":\"$uid\"" <<<"$BODY"
ok $? "granting and revoking are audited"

# ---- mamorictl ----
export MAMORI_SERVER=$API_URL MAMORI_TOKEN=$ADMIN MAMORI_CA=$STATE/ca.crt
out=$("$CTL" grants create --serial CTL-STICK --user jiro --hours 8 --reason "offsite backup")
[ $? = 0 ] && grep -q '^grant gr_[0-9a-f]*: CTL-STICK for user jiro until ' <<<"$out"
ok $? "mamorictl grants create"
cid=$(grep -o 'gr_[0-9a-f]*' <<<"$out")
out=$("$CTL" grants list)
grep -q "^$cid *CTL-STICK *- *jiro .*active *offsite backup" <<<"$out"
ok $? "mamorictl grants list"
"$CTL" grants revoke "$cid" >/dev/null
ok $? "mamorictl grants revoke"
"$CTL" --json grants list --all | python3 -c '
import json, sys
assert [g["state"] for g in json.load(sys.stdin)["grants"] if g["serial"] == "CTL-STICK"] == ["revoked"]'
ok $? "shows it revoked"
"$CTL" grants create --serial X --hours 2 --reason r >/dev/null 2>&1
[ $? = 2 ]
ok $? "without --host or --user: bad use"
"$CTL" grants create --serial X --user u --hours soon --reason r >/dev/null 2>&1
[ $? = 2 ]
ok $? "--hours that is no number: bad use"
stop_server
ok $? "the server stops cleanly"
finish
