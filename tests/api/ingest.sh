#!/usr/bin/env bash
# Ingestion: full snapshots and deltas (only changed items written, bases and digests
# checked, nothing stored on refusal), events stored once per (host, seq), check-in
# answers, gzip bodies, and what the admin API shows afterwards.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
INV=$MAMORI_BUILD_ROOT/tests/api/invtool

start_server || {
	ok 1 "server starts"
	finish
}
new_agent pc
enroll pc "$(new_token)" || diag "enrolment failed: $BODY"
id=$(cat "$T/pc.id")

checkin() { # [DIGEST]
	agent pc POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 1795650000,
		\"inventory_digest\": \"${1:-}\", \"policy_version\": 0, \"last_seq\": 0,
		\"spool\": {\"depth\": 0, \"bytes\": 0, \"evicted_total\": 0}}"
}
pkg() { # NAME VERSION
	printf '{"manager": "dpkg", "name": "%s", "arch": "amd64", "version": "%s"}' "$1" "$2"
}
doc() { # FILE COLLECTED_AT PACKAGES…
	local f=$1 at=$2 list="" p
	shift 2
	for p in "$@"; do list="$list${list:+, }$p"; done
	printf '{"schema": 1, "collected_at": %s, "os": {"name": "Debian GNU/Linux", "version": "12"},
		"software": {"packages": [%s]}}\n' "$at" "$list" >"$f"
}
inventory_digest() {
	api GET "/api/v1/hosts/$id/inventory"
	jget "$BODY" .digest
}

checkin
expect_status 200 "check-in"
[ "$(jget "$BODY" .inventory)" = full ]
ok $? "a host without inventory is asked for a full snapshot"
[ "$(jget "$BODY" .acked_seq)" = 0 ]
ok $? "and holds no events"

doc "$T/d1.json" 100 "$(pkg curl 7.88)" "$(pkg bash 5.2)" "$(pkg zsh 5.9)"
d1=$("$INV" digest "$T/d1.json")
agent pc POST /agent/v1/inventory "$("$INV" full "$T/d1.json")"
expect_status 200 "a full snapshot is stored"
[ "$(jget "$BODY" .digest)" = "$d1" ] && [ "$(jget "$BODY" .changes)" -ge 4 ]
ok $? "with its digest and every item written ($(jget "$BODY" .changes) changes)"
[ "$(inventory_digest)" = "$d1" ]
ok $? "the admin API shows that digest"
api GET "/api/v1/hosts/$id/inventory"
[ "$(jget "$BODY" .document.software.packages[0].name)" = bash ]
ok $? "and the document, keyed lists in order"
api GET "/api/v1/hosts/$id/software?search=cur"
[ "$(jget "$BODY" .total)" = 1 ] && [ "$(jget "$BODY" .packages[0].name)" = curl ]
ok $? "software search finds curl only"

checkin "$d1"
[ "$(jget "$BODY" .inventory)" = ok ]
ok $? "a check-in with the stored digest is told ok"
checkin "$(printf '%064d' 0)"
[ "$(jget "$BODY" .inventory)" = delta ] && [ "$(jget "$BODY" .inventory_base)" = "$d1" ]
ok $? "one with another digest is told to send a delta against the stored one"

doc "$T/d1b.json" 200 "$(pkg zsh 5.9)" "$(pkg curl 7.88)" "$(pkg bash 5.2)"
agent pc POST /agent/v1/inventory "$("$INV" full "$T/d1b.json")"
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .changes)" = 0 ] && [ "$(jget "$BODY" .digest)" = "$d1" ]
ok $? "the same inventory collected later and in another order changes nothing"

# A delta: curl changed, bash removed, vim added.
doc "$T/d2.json" 300 "$(pkg curl 7.89)" "$(pkg zsh 5.9)" "$(pkg vim 9.0)"
d2=$("$INV" digest "$T/d2.json")
"$INV" delta "$T/d1.json" "$T/d2.json" >"$T/delta12.json"
agent pc POST /agent/v1/inventory "@$T/delta12.json"
expect_status 200 "a delta against the stored inventory is stored"
[ "$(jget "$BODY" .changes)" = 3 ] && [ "$(jget "$BODY" .digest)" = "$d2" ]
ok $? "three items written, new digest"
[ "$(inventory_digest)" = "$d2" ]
ok $? "the admin API shows the new digest"
api GET "/api/v1/hosts/$id/history"
python3 -c '
import json, sys
c = json.loads(sys.argv[1])["changes"]
ops = sorted((x["op"], x["key"][1]) for x in c[:3])
assert ops == [("added", "vim"), ("changed", "curl"), ("removed", "bash")], ops
' "$BODY"
ok $? "the history has the three changes, newest first"

agent pc POST /agent/v1/inventory "@$T/delta12.json"
expect_status 409 "the same delta again is refused"
expect_code inventory_base_mismatch "its base is no longer the stored inventory"
[ "$(inventory_digest)" = "$d2" ]
ok $? "and nothing changed"

python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); d["base_digest"] = sys.argv[2]
d["delta"] = {"software": {"removed": [{"list": "packages", "key": ["dpkg", "nano", "amd64"],
              "old": {"manager": "dpkg", "name": "nano", "arch": "amd64"}}]}}
print(json.dumps(d))' "$T/delta12.json" "$d2" >"$T/misfit.json"
agent pc POST /agent/v1/inventory "@$T/misfit.json"
expect_code inventory_base_mismatch "a delta removing a package the server does not hold is refused"
[ "$(inventory_digest)" = "$d2" ]
ok $? "and nothing changed"

doc "$T/d3.json" 400 "$(pkg curl 7.90)" "$(pkg zsh 5.9)" "$(pkg vim 9.0)"
"$INV" delta "$T/d2.json" "$T/d3.json" |
	python3 -c 'import json,sys; d=json.load(sys.stdin); d["digest"]="f"*64; print(json.dumps(d))' \
		>"$T/baddigest.json"
agent pc POST /agent/v1/inventory "@$T/baddigest.json"
expect_status 409 "a delta whose result has another digest is refused"
expect_code inventory_digest_mismatch "as a digest mismatch"
[ "$(inventory_digest)" = "$d2" ]
ok $? "and nothing changed"

"$INV" full "$T/d3.json" |
	python3 -c 'import json,sys; d=json.load(sys.stdin); d["digest"]="0"*64; print(json.dumps(d))' \
		>"$T/badfull.json"
agent pc POST /agent/v1/inventory "@$T/badfull.json"
expect_status 400 "a full snapshot with a digest that is not its own is refused"
grep -q "digest" <<<"$(jget "$BODY" .error)"
ok $? "naming the digest"
[ "$(inventory_digest)" = "$d2" ]
ok $? "and nothing changed"

"$INV" delta "$T/d2.json" "$T/d3.json" | gzip -c >"$T/delta23.json.gz"
agent pc POST /agent/v1/inventory "@$T/delta23.json.gz" -H 'Content-Encoding: gzip'
expect_status 200 "a gzip-compressed delta is accepted"
[ "$(inventory_digest)" = "$("$INV" digest "$T/d3.json")" ]
ok $? "and stored"

# Events.
ev() { # FIRST LAST
	python3 -c '
import json, sys
a, b = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"events": [{"seq": s, "time": 1795650000000 + s, "type": "agent.test",
                              "data": {"n": s}} for s in range(a, b + 1)]}))' "$1" "$2"
}
agent pc POST /agent/v1/events "$(ev 1 5)"
expect_status 200 "a batch of five events"
[ "$(jget "$BODY" .stored)" = 5 ] && [ "$(jget "$BODY" .acked_seq)" = 5 ]
ok $? "is stored and acknowledged up to 5"
agent pc POST /agent/v1/events "$(ev 1 5)"
[ "$(jget "$BODY" .stored)" = 0 ] && [ "$(jget "$BODY" .acked_seq)" = 5 ]
ok $? "a retried batch stores nothing twice"
ev 4 8 | gzip -c >"$T/ev.gz"
agent pc POST /agent/v1/events "@$T/ev.gz" -H 'Content-Encoding: gzip'
[ "$(jget "$BODY" .stored)" = 3 ] && [ "$(jget "$BODY" .acked_seq)" = 8 ]
ok $? "an overlapping gzip batch stores only the new ones"
api GET "/api/v1/hosts/$id/events?after=6"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [e["seq"] for e in d["events"]] == [7, 8], d
assert d["events"][0]["type"] == "agent.test" and d["events"][0]["data"] == {"n": 7}, d
' "$BODY"
ok $? "the admin API lists events after a sequence"
agent pc POST /agent/v1/events '{"events": []}'
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .acked_seq)" = 8 ]
ok $? "an empty batch just tells the acknowledged sequence"
checkin
[ "$(jget "$BODY" .acked_seq)" = 8 ]
ok $? "and so does check-in"
api GET "/api/v1/hosts/$id"
[ "$(jget "$BODY" .state.spool.depth)" = 0 ] && [ "$(jget "$BODY" .state.agent_version)" = 0.1.0 ]
ok $? "the host shows the agent's reported state"

stop_server
ok $? "the server exits 0 on SIGTERM"
finish
