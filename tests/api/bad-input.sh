#!/usr/bin/env bash
# Bad input on both APIs: truncated, garbage, wrongly typed, oversized (413), bad gzip, an
# unsupported encoding, missing or wrong credentials. Each gets a 4xx with a code and a
# message a person can act on, and the store is exactly as it was (compared through the
# admin API before and after).
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
INV=$MAMORI_BUILD_ROOT/tests/api/invtool

start_server || {
	ok 1 "server starts"
	finish
}
new_agent pc
enroll pc "$(new_token '{"uses": 2}')" || diag "enrolment failed: $BODY"
id=$(cat "$T/pc.id")
agent pc POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1}'
printf '{"os": {"name": "Debian"}, "software": {"packages": [{"manager": "dpkg", "name": "curl", "arch": "amd64", "version": "1"}]}}' >"$T/doc.json"
agent pc POST /agent/v1/inventory "$("$INV" full "$T/doc.json")"
agent pc POST /agent/v1/events '{"events": [{"seq": 1, "time": 1, "type": "agent.start", "data": {}}]}'
[ "$STATUS" = 200 ]
ok $? "a host with an inventory and an event to protect"

# Everything an admin can see of the store's state.
snapshot() {
	local out=""
	api GET "/api/v1/hosts?limit=1000"
	out+="$BODY"
	api GET "/api/v1/hosts/$id"
	out+="$BODY"
	api GET "/api/v1/hosts/$id/inventory"
	out+="$BODY"
	api GET "/api/v1/hosts/$id/history?limit=1000"
	out+="$BODY"
	api GET "/api/v1/hosts/$id/events?limit=1000"
	out+="$BODY"
	api GET /api/v1/enroll-tokens
	out+="$BODY"
	api GET "/api/v1/audit?limit=1000"
	out+="$BODY"
	printf '%s' "$out"
}
new_agent other
etok=$(new_token)
before=$(snapshot)

# bad STATUS CODE WORD WHAT — checks the last answer.
bad() {
	local err code
	err=$(jget "$BODY" .error)
	code=$(jget "$BODY" .code)
	[ "$STATUS" = "$1" ] && [ "$code" = "$2" ] && grep -qi -- "$3" <<<"$err"
	ok $? "$4 → $1 $2"
	[ "$STATUS" = "$1" ] && [ "$code" = "$2" ] && grep -qi -- "$3" <<<"$err" ||
		diag "got HTTP $STATUS: $BODY"
}
events_with() { # an event batch whose event 2 has the given JSON members
	printf '{"events": [{"seq": 10, "time": 1, "type": "agent.test", "data": {}},
		{"seq": 11, "time": 1, "type": "agent.test", "data": {}}, {%s}]}' "$1"
}

# Events.
agent pc POST /agent/v1/events '{"events": [{"seq": 1,'
bad 400 malformed "malformed JSON" "truncated JSON"
head -c 600 /dev/urandom >"$T/junk"
agent pc POST /agent/v1/events "@$T/junk"
bad 400 malformed "." "binary garbage"
agent pc POST /agent/v1/events ''
bad 400 malformed "empty" "an empty body"
agent pc POST /agent/v1/events '[1, 2]'
bad 400 malformed "object" "an array instead of an object"
agent pc POST /agent/v1/events '{"events": {}}'
bad 400 malformed "events" "events not a list"
agent pc POST /agent/v1/events "$(events_with '"seq": "12", "time": 1, "type": "a", "data": {}')"
bad 400 malformed "events\[2\]: field 'seq'" "a string seq, naming index and field"
agent pc POST /agent/v1/events "$(events_with '"seq": 0, "time": 1, "type": "a", "data": {}')"
bad 400 malformed "events\[2\]: field 'seq'" "seq 0"
agent pc POST /agent/v1/events "$(events_with '"seq": 12, "type": "a", "data": {}')"
bad 400 malformed "events\[2\]: field 'time' is missing" "a missing time"
agent pc POST /agent/v1/events "$(events_with '"seq": 12, "time": 1, "type": "Process Start", "data": {}')"
bad 400 malformed "events\[2\]: field 'type'" "a type outside [a-z0-9_.]"
agent pc POST /agent/v1/events "$(events_with '"seq": 12, "time": 1, "type": "a", "data": [1]')"
bad 400 malformed "events\[2\]: field 'data'" "data not an object"
agent pc POST /agent/v1/events "$(events_with '"seq": 12, "time": 1.5, "type": "a", "data": {}')"
bad 400 malformed "field 'time'" "a fractional time"
agent pc POST /agent/v1/events '{"events": [{"seq": 12, "time": 1, "type": "a\u0000b", "data": {}}]}'
bad 400 malformed "NUL" "a NUL inside a string"
agent pc POST /agent/v1/events '{"events": [], "events": []}'
bad 400 malformed "duplicate" "duplicate keys"
python3 -c 'print("{\"events\": [{\"seq\": 12, \"time\": 1, \"type\": \"a\", \"data\": " + "[" * 40 + "]" * 40 + "}]}")' >"$T/deep.json"
agent pc POST /agent/v1/events "@$T/deep.json"
bad 400 malformed "nested" "JSON nested too deep"
python3 -c '
import json
print(json.dumps({"events": [{"seq": s, "time": 1, "type": "agent.test", "data": {}} for s in range(2, 1003)]}))' >"$T/many.json"
agent pc POST /agent/v1/events "@$T/many.json"
bad 413 too_large "1001 events" "1001 events in one batch"
python3 -c '
import json
print(json.dumps({"events": [{"seq": 2, "time": 1, "type": "agent.test", "data": {"x": "a" * 70000}}]}))' >"$T/fat.json"
agent pc POST /agent/v1/events "@$T/fat.json"
bad 413 too_large "events\[0\]" "an event over 64 KiB"

# Check-ins, inventories, enrolments.
agent pc POST /agent/v1/checkin '{"time": 1}'
bad 400 malformed "agent_version" "a check-in without agent_version"
agent pc POST /agent/v1/checkin '{"agent_version": "0.1", "time": "now"}'
bad 400 malformed "field 'time'" "a check-in with a string time"
agent pc POST /agent/v1/checkin '{"agent_version": "0.1", "time": 1, "inventory_digest": "xyz"}'
bad 400 malformed "inventory_digest" "a check-in with a bad digest"
agent pc POST /agent/v1/checkin '{"agent_version": "0.1", "time": 1, "spool": {"depth": -1}}'
bad 400 malformed "spool: field 'depth'" "a negative spool depth"
agent pc POST /agent/v1/inventory "{\"kind\": \"partial\", \"digest\": \"$(printf '%064d' 0)\"}"
bad 400 malformed "kind" "an unknown inventory kind"
agent pc POST /agent/v1/inventory "{\"kind\": \"full\", \"digest\": \"$(printf '%064d' 0)\"}"
bad 400 malformed "document" "a full snapshot without a document"
agent pc POST /agent/v1/inventory "{\"kind\": \"full\", \"digest\": \"$(printf '%064d' 0)\", \"document\": []}"
bad 400 malformed "document" "a document that is a list"
agent pc POST /agent/v1/inventory '{"kind": "full", "digest": "abc", "document": {}}'
bad 400 malformed "digest" "a short digest"
agent pc POST /agent/v1/inventory "{\"kind\": \"full\", \"digest\": \"$(printf '%064d' 0)\", \"document\": {\"Bad Section\": {}}}"
bad 400 malformed "section" "a section name with spaces"
agent pc POST /agent/v1/inventory "{\"kind\": \"delta\", \"digest\": \"$(printf '%064d' 0)\", \"base_digest\": \"\", \"delta\": \"x\"}"
bad 400 malformed "delta" "a delta that is a string"
enroll_body other "$etok" | python3 -c 'import json,sys; d=json.load(sys.stdin); del d["csr"]; print(json.dumps(d))' >"$T/e1.json"
call "$AGENT_URL/agent/v1/enroll" --data-binary "@$T/e1.json"
bad 400 malformed "csr" "an enrolment without a CSR"
enroll_body other "$etok" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["facts"]["hostname"]="h"*300; print(json.dumps(d))' >"$T/e2.json"
call "$AGENT_URL/agent/v1/enroll" --data-binary "@$T/e2.json"
bad 400 malformed "hostname" "a 300-character hostname"
enroll_body other "$etok" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["token"]=5; print(json.dumps(d))' >"$T/e3.json"
call "$AGENT_URL/agent/v1/enroll" --data-binary "@$T/e3.json"
bad 400 malformed "token" "a numeric token"

# Transport.
head -c $((8 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big"
agent pc POST /agent/v1/events "@$T/big"
bad 413 too_large "limit" "a body one byte over 8 MiB"
agent pc POST /agent/v1/events "@$T/big" -H 'Transfer-Encoding: chunked'
bad 413 too_large "limit" "the same body chunked, without a length"
head -c $((64 * 1024 * 1024)) /dev/zero | gzip -1 -c >"$T/bomb.gz"
agent pc POST /agent/v1/events "@$T/bomb.gz" -H 'Content-Encoding: gzip'
bad 413 too_large "decompression" "a gzip bomb ($(stat -c %s "$T/bomb.gz") bytes inflating to 64 MiB)"
agent pc POST /agent/v1/events "@$T/junk" -H 'Content-Encoding: gzip'
bad 400 malformed "gzip" "garbage sent as gzip"
printf '{"events": []}' | gzip -c | head -c 15 >"$T/trunc.gz"
agent pc POST /agent/v1/events "@$T/trunc.gz" -H 'Content-Encoding: gzip'
bad 400 malformed "truncated" "a truncated gzip body"
agent pc POST /agent/v1/events '{"events": []}' -H 'Content-Encoding: br'
bad 415 unsupported_encoding "gzip" "Content-Encoding br"
agent pc GET /agent/v1/events
bad 405 method_not_allowed "GET" "GET on a POST path"
agent pc POST /agent/v1/nothing '{}'
bad 404 not_found "/agent/v1/nothing" "an unknown agent path"
call "$API_URL/agent/v1/ca"
bad 404 not_found "nothing" "the agent API is not on the admin listener"
call "$AGENT_URL/api/v1/hosts" -H "Authorization: Bearer $ADMIN"
bad 404 not_found "nothing" "the admin API is not on the agent listener"

# The admin API.
call "$API_URL/api/v1/hosts"
bad 401 unauthorized "Bearer" "no token"
grep -q . <<<"$(curl -sS -o /dev/null -D - --cacert "$STATE/ca.crt" "$API_URL/api/v1/hosts" | grep -i '^www-authenticate: Bearer')"
ok $? "401 answers carry WWW-Authenticate: Bearer"
call "$API_URL/api/v1/hosts" -H "Authorization: Bearer mat_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
bad 401 unauthorized "unknown" "an unknown token"
call "$API_URL/api/v1/hosts" -H "Authorization: Bearer ${ADMIN}x"
bad 401 unauthorized "malformed" "a malformed token"
call "$API_URL/api/v1/hosts" -H "Authorization: Basic YWRtaW46YWRtaW4="
bad 401 unauthorized "Bearer" "basic authentication"
call "$API_URL/api/v1/hosts/$id/revoke" -X POST
bad 401 unauthorized "token" "a revocation without a token"
api DELETE /api/v1/enroll-tokens
bad 405 method_not_allowed "DELETE" "DELETE on the token list"
api GET /api/v1/nothing
bad 404 not_found "nothing" "an unknown admin path"
api GET /api/v1/hosts/00000000-0000-0000-0000-000000000000
bad 404 not_found "no host" "an unknown host"
api POST /api/v1/hosts/00000000-0000-0000-0000-000000000000/revoke
bad 404 not_found "no host" "revoking an unknown host"
api POST /api/v1/enroll-tokens '{"use": 2}'
bad 400 malformed "'use' is not known" "an unknown field (typo)"
api POST /api/v1/enroll-tokens '{"uses": "two"}'
bad 400 malformed "uses" "uses as a string"
api POST /api/v1/enroll-tokens '{"uses": 0}'
bad 400 malformed "uses" "zero uses"
api POST /api/v1/enroll-tokens '{"expires_in": "forever"}'
bad 400 malformed "expires_in" "an expiry that is no duration"
api POST /api/v1/enroll-tokens '{"expires_in": 0}'
bad 400 malformed "expires_in" "an expiry of zero"
api POST /api/v1/enroll-tokens '{"comment": "x'
bad 400 malformed "JSON" "truncated admin JSON"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big-admin"
api POST /api/v1/enroll-tokens "@$T/big-admin"
bad 413 too_large "limit" "an admin body over 1 MiB"
api GET "/api/v1/hosts?limit=0"
bad 400 malformed "limit" "limit=0"
api GET "/api/v1/hosts?limit=abc"
bad 400 malformed "limit" "limit=abc"
api GET "/api/v1/hosts?status=sleeping"
bad 400 malformed "status" "an unknown status filter"
api GET "/api/v1/hosts?sort=colour"
bad 400 malformed "sort" "an unknown sort"
api GET "/api/v1/hosts/$id/events?after=-1"
bad 400 malformed "after" "a negative after"

after=$(snapshot)
[ "$before" = "$after" ]
ok $? "the store is exactly as before all of this"
[ "$before" = "$after" ] || diff <(tr ',' '\n' <<<"$before") <(tr ',' '\n' <<<"$after") | head -20 | sed 's/^/# /'

agent pc POST /agent/v1/events '{"events": [{"seq": 2, "time": 1, "type": "agent.test", "data": {}}]}'
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .acked_seq)" = 2 ]
ok $? "and the host still works"
stop_server
ok $? "the server exits 0 on SIGTERM"
finish
