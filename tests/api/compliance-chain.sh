#!/usr/bin/env bash
# J-5 (管理者J-5, "no gaps in the endpoint's operation log") decided from the event chain the
# server verifies at ingest, end to end through the real server: chained events (evtool,
# lib/evchain as the agent links them) arrive intact and J-5 is met; a batch that skips
# numbers flips it to not met in the very request that brought the gap, its evidence naming
# the missing range; the late events fill the gap and J-5 is met again; an event altered in
# transit is not met, named as a break; an agent.spool_evicted event with no numbers
# missing is no gap (the chain, not a guess from event types, decides).
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd python3
EV=$MAMORI_BUILD_ROOT/tests/api/evtool
INV=$MAMORI_BUILD_ROOT/tests/api/invtool

is() { # description, got, expected
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}

start_server || {
	ok 1 "server starts"
	finish
}
new_agent pc
enroll pc "$(new_token)" || diag "enrolment failed: $BODY"
id=$(cat "$T/pc.id")
NOWMS=$(($(date +%s) * 1000))

"$AGENT" inventory --root "$FIXTURES/laptop" >"$T/doc.json"
agent pc POST /agent/v1/inventory "$("$INV" full "$T/doc.json")"
expect_status 200 "the laptop's inventory is stored"

j5() { # FILTER on mic-J-5's result
	api GET "/api/v1/hosts/$id/compliance"
	python3 -c '
import json, sys
r = [x for x in json.loads(sys.argv[1])["results"] if x["measure"] == "mic-J-5"][0]
v = eval(sys.argv[2], {"r": r, "e": r["evidence"]})
print(json.dumps(v, sort_keys=True) if not isinstance(v, str) else v)
' "$BODY" "$1"
}
ev() { # SEQ TYPE DATA
	printf '{"seq": %s, "time": %s, "type": "%s", "data": %s}\n' "$1" $((NOWMS - 60000 + $1 * 1000)) "$2" "$3"
}
# batch SEQ…: the chained events with those numbers, as a request body
batch() {
	python3 -c '
import json, sys
want = {int(s) for s in sys.argv[2:]}
evs = [json.loads(l) for l in open(sys.argv[1])]
print(json.dumps({"events": [e for e in evs if e["seq"] in want]}))
' "$T/chain.jsonl" "$@"
}

{
	ev 1 agent.start '{}'
	for s in 2 3 4 5 6 7 8 9; do ev $s process.start "{\"user\": \"taro\", \"cmdline\": \"step $s\"}"; done
	ev 10 agent.spool_evicted '{"count": 0, "bytes": 0, "oldest_seq": 0, "newest_seq": 0, "runs": []}'
	ev 11 file.write '{"user": "taro", "path": "/home/taro/a.txt"}'
	ev 12 file.write '{"user": "taro", "path": "/home/taro/b.txt"}'
} | "$EV" chain "$id" >"$T/chain.jsonl"
is "twelve chained events" "$(wc -l <"$T/chain.jsonl")" 12

agent pc POST /agent/v1/events "$(batch 1 2 3 4)"
expect_status 200 "an intact batch"
is "J-5 met: events flow, the chain has no gap" "$(j5 'r["status"]')" met
is "  evidence: 0 gaps, 0 breaks" "$(j5 '[e["gaps"], e["breaks"]]')" "[0, 0]"

# 7 and 8 do not arrive with 5, 6, 9: the server finds the gap at ingest
agent pc POST /agent/v1/events "$(batch 5 6 9)"
expect_status 200 "a batch that skips 7 and 8 is accepted"
grep -q "(M4122) events of $id: 2 sequence numbers never arrived" "$T/server.log"
ok $? "the server logs the gap (M4122)"
is "J-5 flips to not met in the same request" "$(j5 'r["status"]')" not_met
is "  the evidence names the gap: 7..8, missing" \
	"$(j5 '[(g["first_seq"], g["last_seq"], g["reason"]) for g in e["gap_ranges"]]')" \
	'[[7, 8, "missing"]]'
is "  one gap" "$(j5 'e["gaps"]')" 1

# the late events arrive: the gap is filled, the chain verifies across it
agent pc POST /agent/v1/events "$(batch 7 8)"
expect_status 200 "the late events 7 and 8"
is "J-5 met again once the gap is filled" "$(j5 'r["status"]')" met
api GET "/api/v1/hosts/$id/evidence-gaps"
is "  the store holds no gap any more" "$(jget "$BODY" .summary.gaps)" 0

# a spool-eviction report naming nothing is not a gap
agent pc POST /agent/v1/events "$(batch 10)"
is "an agent.spool_evicted event with nothing missing leaves J-5 met" "$(j5 'r["status"]')" met

# an event altered on its way: stored, flagged, a break
body=$(batch 11 12 | python3 -c '
import json, sys
b = json.load(sys.stdin)
b["events"][0]["data"]["path"] = "/home/taro/harmless.txt"
print(json.dumps(b))')
agent pc POST /agent/v1/events "$body"
expect_status 200 "a batch with an altered event is accepted"
is "J-5 not met: the chain is broken" "$(j5 'r["status"]')" not_met
is "  the evidence names the break: altered, 11" \
	"$(j5 '[(b["kind"], b["first_seq"], b["last_seq"]) for b in e["break_ranges"]]')" \
	'[["altered", 11, 11]]'
is "  and no gap" "$(j5 'e["gaps"]')" 0
finish
