#!/usr/bin/env bash
# The event store over HTTP: the event chain checked at ingest (an event altered in transit
# and one removed are detected and shown as evidence, the rest still stored and flagged),
# search by host, user, type, time and full text (a Japanese path by substring, a
# two-character word), cursor paging, counts, CSV and JSON-lines exports (streamed,
# audited), mamorictl's events and gaps commands, and retention purging old events by
# type with an audit record.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
EV=$MAMORI_BUILD_ROOT/tests/api/evtool

cat >"$T/server.conf" <<EOF
retention.process.start = 90d
retention.usb.insert = forever
EOF
start_server --config "$T/server.conf" || {
	ok 1 "server starts"
	finish
}
new_agent pc1
enroll pc1 "$(new_token)" || diag "enrolment failed: $BODY"
id1=$(cat "$T/pc1.id")
new_agent pc2
enroll pc2 "$(new_token)" || diag "enrolment failed: $BODY"
id2=$(cat "$T/pc2.id")
NOW=$(date +%s)
DAY=$((86400 * 1000))
NOWMS=$((NOW * 1000))

# batch FILE FIRST LAST [python statements on `evs`, a dict seq -> event]
batch() {
	python3 -c '
import json, sys
evs = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    evs[e["seq"]] = e
evs = {s: e for s, e in evs.items() if int(sys.argv[2]) <= s <= int(sys.argv[3])}
exec(sys.argv[4] if len(sys.argv) > 4 else "")
print(json.dumps({"events": [evs[s] for s in sorted(evs)]}, ensure_ascii=False))
' "$@"
}
ev() { # SEQ TIME_MS TYPE DATA
	printf '{"seq": %s, "time": %s, "type": "%s", "data": %s}\n' "$1" "$2" "$3" "$4"
}

{
	ev 1 $((NOWMS - 50000)) agent.start '{}'
	ev 2 $((NOWMS - 40000)) process.start \
		'{"user": "taro", "cmdline": "scp 給与明細_2026.xlsx bob@203.0.113.9:"}'
	ev 3 $((NOWMS - 30000)) file.copy '{"user": "taro", "path": "/home/taro/給与明細_2026.xlsx", "dest": "/media/taro/USB/給与明細_2026.xlsx"}'
	ev 4 $((NOWMS - 20000)) wifi.connect '{"user": "taro", "ssid": "Cafe_FreeWiFi"}'
	ev 5 $((NOWMS - 10000)) login.success '{"user": "taro"}'
	ev 6 $((NOWMS - 9000)) file.delete '{"user": "taro", "path": "/home/taro/見積書.docx"}'
	ev 7 $((NOWMS - 8000)) file.delete '{"user": "taro", "path": "/home/taro/evidence.txt"}'
	ev 8 $((NOWMS - 7000)) usb.insert '{"serial": "S1"}'
} | "$EV" chain "$id1" >"$T/pc1.jsonl"
[ "$(wc -l <"$T/pc1.jsonl")" = 8 ]
ok $? "eight chained events for pc1"

batch "$T/pc1.jsonl" 1 4 >"$T/b1.json"
agent pc1 POST /agent/v1/events "@$T/b1.json"
expect_status 200 "an intact batch is accepted"
[ "$(jget "$BODY" .acked_seq)" = 4 ] && [ "$(jget "$BODY" .stored)" = 4 ]
ok $? "four stored"
api GET "/api/v1/events?host=$id1"
[ "$(python3 -c 'import json,sys; print(sorted({e["chain"] for e in json.loads(sys.argv[1])["events"]}))' "$BODY")" = "['ok']" ]
ok $? "every event of it verifies"

# In transit: event 6 altered (the path changed), event 7 removed.
batch "$T/pc1.jsonl" 5 8 \
	'evs[6]["data"]["path"] = "/home/taro/nothing.txt"; del evs[7]' >"$T/b2.json"
agent pc1 POST /agent/v1/events "@$T/b2.json"
expect_status 200 "a tampered batch is still accepted"
[ "$(jget "$BODY" .acked_seq)" = 8 ] && [ "$(jget "$BODY" .stored)" = 3 ]
ok $? "and its three events stored"
grep -q "(M4121) events of $id1: the event chain does not hold: 1 altered" "$T/server.log"
ok $? "the server logs the alteration (M4121)"
grep -q "(M4122) events of $id1: 1 sequence numbers never arrived" "$T/server.log"
ok $? "and the gap (M4122)"
api GET "/api/v1/hosts/$id1/evidence-gaps"
expect_status 200 "evidence-gaps"
[ "$(jget "$BODY" .gaps[0].first_seq)-$(jget "$BODY" .gaps[0].last_seq):$(jget "$BODY" .gaps[0].reason)" = "7-7:missing" ]
ok $? "names the removed event's range: 7-7, missing"
[ "$(jget "$BODY" .breaks[0].kind)" = altered ] && [ "$(jget "$BODY" .breaks[0].first_seq)" = 6 ]
ok $? "and the altered event: 6"
api GET "/api/v1/events?host=$id1&type=file.delete"
[ "$(jget "$BODY" .events[0].seq)" = 6 ] && [ "$(jget "$BODY" .events[0].chain)" = altered ]
ok $? "the altered event is stored, flagged altered"
[ "$(jget "$BODY" .events[0].data.path)" = /home/taro/nothing.txt ]
ok $? "as it arrived"
api GET "/api/v1/events?host=$id1&type=usb.insert"
[ "$(jget "$BODY" .events[0].chain)" = unverified ]
ok $? "the event after the gap is flagged unverified"
api GET "/api/v1/hosts/$id1"
[ "$(jget "$BODY" .evidence.missing)" = 1 ] && [ "$(jget "$BODY" .evidence.breaks)" = 1 ] &&
	[ "$(jget "$BODY" .evidence.flagged)" = 2 ]
ok $? "the host detail counts 1 missing, 1 break, 2 flagged"

# A resend of stored events: duplicates are fine, a different copy is a conflict.
agent pc1 POST /agent/v1/events "@$T/b1.json"
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .stored)" = 0 ]
ok $? "a retried batch stores nothing twice"
batch "$T/pc1.jsonl" 2 2 'evs[2]["data"]["cmdline"] = "ls"' >"$T/b3.json"
agent pc1 POST /agent/v1/events "@$T/b3.json"
api GET "/api/v1/hosts/$id1/evidence-gaps"
python3 -c 'import json,sys; b=json.loads(sys.argv[1])["breaks"]; sys.exit(not any(x["kind"]=="conflict" and x["first_seq"]==2 for x in b))' "$BODY"
ok $? "an altered second copy of event 2 is recorded as a conflict"
api GET "/api/v1/events?host=$id1&type=process.start"
[ "$(jget "$BODY" .events[0].data.cmdline)" = "scp 給与明細_2026.xlsx bob@203.0.113.9:" ]
ok $? "and the first copy stays"

# pc2: recent events, and old ones for retention.
{
	ev 1 $((NOWMS - 100 * DAY)) process.start '{"user": "hanako", "cmdline": "old-process"}'
	ev 2 $((NOWMS - 200 * DAY)) file.write '{"user": "hanako", "path": "/srv/old-report.pdf"}'
	ev 3 $((NOWMS - 400 * DAY)) usb.insert '{"user": "hanako", "serial": "OLD-USB"}'
	ev 4 $((NOWMS - 5000)) process.start '{"user": "hanako", "cmdline": "vim 人事評価.docx"}'
	ev 5 $((NOWMS - 10 * DAY)) file.write '{"user": "hanako", "path": "/srv/人事/評価.xlsx"}'
} | "$EV" chain "$id2" >"$T/pc2.jsonl"
batch "$T/pc2.jsonl" 1 5 >"$T/b4.json"
agent pc2 POST /agent/v1/events "@$T/b4.json"
expect_status 200 "pc2's events"

# Search.
count() { jget "$BODY" ".events" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
api GET "/api/v1/events"
[ "$(count)" = 12 ]
ok $? "all twelve events"
api GET "/api/v1/events?user=hanako"
[ "$(count)" = 5 ]
ok $? "user=hanako: five"
api GET "/api/v1/events?host=$id2&type=process.start"
[ "$(count)" = 2 ]
ok $? "host and type: two"
api GET "/api/v1/events?q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("給与明細"))')"
[ "$(count)" = 2 ] && [ "$(jget "$BODY" .events[0].type)" = file.copy ]
ok $? "q=給与明細 finds the copy and the scp, newest first"
api GET "/api/v1/events?q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("人事"))')"
[ "$(count)" = 2 ]
ok $? "q=人事 (two characters) finds both events of it"
api GET "/api/v1/events?q=cafe_freewifi"
[ "$(count)" = 1 ] && [ "$(jget "$BODY" .events[0].data.ssid)" = Cafe_FreeWiFi ]
ok $? "an SSID, case-insensitively"
api GET "/api/v1/events?from=-15d&to=-1d"
[ "$(count)" = 1 ] && [ "$(jget "$BODY" .events[0].data.path)" = "/srv/人事/評価.xlsx" ]
ok $? "from=-15d&to=-1d: the event of ten days ago"
api GET "/api/v1/events?from=$(date -u -d @$((NOW - 60)) +%Y-%m-%dT%H:%M:%SZ)&host=$id1"
[ "$(count)" = 7 ]
ok $? "an RFC 3339 from: pc1's seven stored events"
api GET "/api/v1/events?from=yesterday"
expect_status 400 "a time that is none is refused"
api GET "/api/v1/events?host=no-such-host"
expect_status 404 "an unknown host is 404"

# Cursor paging: pages of 5, every event once.
seen=""
cursor=""
pages=0
while :; do
	api GET "/api/v1/events?limit=5${cursor:+&cursor=$cursor}"
	pages=$((pages + 1))
	seen="$seen $(python3 -c 'import json,sys; print(" ".join(e["host_id"][:4]+str(e["seq"]) for e in json.loads(sys.argv[1])["events"]))' "$BODY")"
	cursor=$(jget "$BODY" .next_cursor)
	[ "$cursor" = null ] && break
	[ $pages -gt 10 ] && break
done
[ "$(echo $seen | wc -w)" = 12 ] && [ "$(echo $seen | tr ' ' '\n' | sort -u | wc -l)" = 12 ]
ok $? "paging by 5 gives each of the 12 events once ($pages pages)"
api GET "/api/v1/events?cursor=zzz"
expect_status 400 "a forged cursor is refused"

# Counts.
api GET "/api/v1/events/counts?by=type,hour"
[ "$STATUS" = 200 ] && [ "$(jget "$BODY" .total)" = 12 ]
ok $? "counts by type and hour add up to 12"
api GET "/api/v1/events/counts?by=user&host=$id2"
[ "$(jget "$BODY" .buckets[0].user)" = hanako ] && [ "$(jget "$BODY" .buckets[0].count)" = 5 ]
ok $? "counts by user for pc2: hanako 5"
api GET "/api/v1/events/counts?by=colour"
expect_status 400 "an unknown grouping is refused"

# Exports.
call "$API_URL/api/v1/events/export?format=csv" -H "Authorization: Bearer $ADMIN" -D "$T/headers"
[ "$STATUS" = 200 ] && grep -qi '^content-type: text/csv' "$T/headers"
ok $? "a CSV export"
head -c 3 "$T/body" | od -An -tx1 | grep -q 'ef bb bf'
ok $? "starts with a BOM (spreadsheets read the Japanese right)"
[ "$(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1], encoding="utf-8-sig"))); print(len(r), r[0][0], r[1][4])' "$T/body")" = "13 time usb.insert" ]
ok $? "header and 12 rows, oldest first"
grep -q '給与明細' "$T/body"
ok $? "with the Japanese names intact"
call "$API_URL/api/v1/events/export?format=jsonl&user=hanako" -H "Authorization: Bearer $ADMIN"
[ "$STATUS" = 200 ] && [ "$(wc -l <"$T/body")" = 5 ] &&
	python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/body"
ok $? "a JSON-lines export of hanako's five events"
grep -q '"chain":"ok"' "$T/body"
ok $? "each line carries its chain status"
api GET "/api/v1/events/export?format=xml"
expect_status 400 "an unknown format is refused"
api GET "/api/v1/audit"
python3 -c 'import json,sys; sys.exit(not any(r["action"]=="events.export" for r in json.loads(sys.argv[1])["records"]))' "$BODY"
ok $? "exports are in the audit trail"

# mamorictl.
export HOME=$T/home MAMORI_SERVER=$API_URL MAMORI_TOKEN=$ADMIN MAMORI_CA=$STATE/ca.crt
mkdir -p "$HOME"
out=$("$CTL" events search --text 給与明細 --json)
[ "$(jget "$out" .events | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ]
ok $? "mamorictl events search --text 給与明細"
out=$("$CTL" events search --host "$id1" --type file.delete)
printf '%s\n' "$out" | grep -q 'altered'
ok $? "mamorictl shows the altered event flagged"
out=$("$CTL" hosts gaps "$id1")
printf '%s\n' "$out" | grep -q '^1 numbers missing' && printf '%s\n' "$out" | grep -q 'altered'
ok $? "mamorictl hosts gaps shows the missing number and the break"
"$CTL" events export --format jsonl --user taro --output "$T/taro.jsonl"
[ "$(wc -l <"$T/taro.jsonl")" = 5 ]
ok $? "mamorictl events export --output writes taro's five events"
out=$("$CTL" events counts --by type)
printf '%s\n' "$out" | grep -q '(total 12)'
ok $? "mamorictl events counts"

# Retention at the next start: process.start after 90 days, others after 180, usb forever.
stop_server
ok $? "the server stops"
start_server --config "$T/server.conf"
wait_log '(M4200)'
ok $? "at start the retention job purges (M4200)"
api GET "/api/v1/events?host=$id2&order=asc"
[ "$(python3 -c 'import json,sys; print(" ".join(str(e["seq"]) for e in json.loads(sys.argv[1])["events"]))' "$BODY")" = "3 5 4" ]
ok $? "pc2 keeps the 400-day USB event, the recent ones; the 100-day process and 200-day file are gone"
api GET "/api/v1/audit"
python3 -c '
import json, sys
r = [r for r in json.loads(sys.argv[1])["records"] if r["action"] == "events.purge"]
d = r[0]["details"]
sys.exit(not (len(r) == 1 and r[0]["actor"] == "server:retention" and d["deleted"] == 2
              and d["by_type"]["process.start"]["deleted"] == 1
              and d["by_type"]["(default)"]["deleted"] == 1))' "$BODY"
ok $? "the purge is in the audit trail with its counts by type"
[ "$(jget "$BODY" .chain_ok)" = true ]
ok $? "and the audit chain holds"
finish
