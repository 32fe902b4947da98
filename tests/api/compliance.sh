#!/usr/bin/env bash
# The guideline scorecard end to end, through the real server: an agent enrols, uploads
# the fixture laptop's inventory and checks in; its antivirus definitions age past N and
# mic-F-1 flips to not met at that check-in, then back when fresh definitions arrive;
# events count once even when a batch is retried; the summary, a measure's failing hosts,
# history, attestations, the catalogue (ja/en), a host's owner and the advisor over the
# admin API; a catalogue reload by SIGHUP keeps the old catalogue on error and applies a
# good one; a bad --catalog stops the server from starting, with file:line.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd jq
INV=$MAMORI_BUILD_ROOT/tests/api/invtool

is() { # description, got, expected
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}

printf 'Measure: mm-D-A1\nParam-allowed: root tanaka\n' >"$T/org.txt"
start_server --catalog "$T/org.txt" || {
	ok 1 "server starts"
	finish
}
ok 0 "the server starts with a catalogue override"
new_agent pc
enroll pc "$(new_token)" || diag "enrolment failed: $BODY"
id=$(cat "$T/pc.id")

now=$(date +%s)
# the fixture laptop, edited: definitions DAYS old, clamonacc running, a clean listener list
make_doc() { # FILE DAYS
	"$AGENT" inventory --root "$FIXTURES/laptop" |
		jq --argjson t "$((now - $2 * 86400))" '
		.security.antivirus.clamav.definitions_newest_build_time = $t |
		.security.antivirus.clamav.clamonacc_running = true |
		.network.listening = [.network.listening[] | select(.port != 631 or .protocol != "udp")] |
		.users = {"admin_members": {"sudo": ["tanaka"]}, "empty_password_accounts": [],
			  "accounts": [{"name": "tanaka", "uid": 1000, "password_state": "set"}]}' \
		>"$1"
}
checkin() {
	agent pc POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": $now,
		\"inventory_digest\": \"\", \"policy_version\": 2, \"last_seq\": 0,
		\"spool\": {\"depth\": 0, \"bytes\": 0, \"evicted_total\": 0}}"
}
result() { # MEASURE FILTER
	api GET "/api/v1/hosts/$id/compliance"
	jq -r --arg m "$1" ".results[] | select(.measure == \$m) | $2" <<<"$BODY"
}

make_doc "$T/d1.json" 1
agent pc POST /agent/v1/inventory "$("$INV" full "$T/d1.json")"
expect_status 200 "the laptop's inventory is stored"
checkin
expect_status 200 "check-in"
api GET "/api/v1/hosts/$id/compliance"
expect_status 200 "GET /api/v1/hosts/{id}/compliance"
is "mic-F-1 met: definitions 1 day old" "$(result mic-F-1 .status)" met
is "the evidence says how old" "$(result mic-F-1 .evidence.definitions_age_days)" 1
is "mm-D-A1 met under the organisation's allowed list (root tanaka)" \
	"$(result mm-D-A1 .status)" met
is "mic-E-4 met: the agent reports policy 2" "$(result mic-E-4 .status)" met
is "mm-B-A2 not met: no owner yet" "$(result mm-B-A2 .status)" not_met

# the definitions age past N = 3: the agent's next inventory says so, the check-in scores it
make_doc "$T/d2.json" 5
agent pc POST /agent/v1/inventory "$("$INV" delta "$T/d1.json" "$T/d2.json")"
expect_status 200 "a delta with 5-day-old definitions"
checkin
is "mic-F-1 flips to not met within one check-in" "$(result mic-F-1 .status)" not_met
is "  evidence: definitions_age_days 5, max 3" \
	"$(result mic-F-1 '"\(.evidence.definitions_age_days)/\(.evidence.max_definitions_age_days)"')" \
	5/3
is "  with what to do" "$(result mic-F-1 '.fix.ja | startswith("ウイルス対策ソフトを導入し")')" true
api GET "/api/v1/compliance/measures/mic-F-1"
expect_status 200 "GET /api/v1/compliance/measures/{id}"
is "the measure lists the failing host" "$(jq -r '.hosts[0].host_id' <<<"$BODY")" "$id"
is "  with its evidence" "$(jq -r '.hosts[0].evidence.failed[0]' <<<"$BODY")" definitions_too_old
is "  and the counts" "$(jq -S -c '.counts' <<<"$BODY")" \
	'{"met":0,"not_applicable":0,"not_met":1,"unknown":0}'
make_doc "$T/d3.json" 0
agent pc POST /agent/v1/inventory "$("$INV" delta "$T/d2.json" "$T/d3.json")"
checkin
is "fresh definitions: mic-F-1 met again" "$(result mic-F-1 .status)" met

# events: an open Wi-Fi join without VPN, and the same batch retried
ev='{"events": [{"seq": 1, "time": '$(((now - 600) * 1000))', "type": "net.wifi_join",
	"data": {"ssid": "FreeSpot", "security": "open", "open": true, "vpn": false,
	"source": "networkmanager"}},
	{"seq": 2, "time": '$((now * 1000 + 1))', "type": "agent.start", "data": {}}]}'
agent pc POST /agent/v1/events "$ev"
expect_status 200 "an event batch"
agent pc POST /agent/v1/events "$ev"
is "the retried batch stores nothing" "$(jget "$BODY" .stored)" 0
is "mm-G-A1 not met: an open Wi-Fi join without VPN" "$(result mm-G-A1 .status)" not_met
is "  counted once, retry or not" "$(result mm-G-A1 .evidence.open_wifi_without_vpn)" 1
is "mic-J-5 met: events flow, no gap" "$(result mic-J-5 .status)" met

# the owner
api PUT "/api/v1/hosts/$id/owner" '{"owner": "田中 太郎"}'
expect_status 200 "PUT /api/v1/hosts/{id}/owner"
is "mm-B-A2 met once the host has an owner" "$(result mm-B-A2 .status)" met

# summary, category, history
api GET /api/v1/compliance/summary
expect_status 200 "GET /api/v1/compliance/summary"
is "one host scored" "$(jq .hosts <<<"$BODY")" 1
is "13 categories" "$(jq '.categories | length' <<<"$BODY")" 13
is "3 roles, with the glossary's names" "$(jq -r '[.roles[].name.ja] | join(",")' <<<"$BODY")" \
	"経営者,システム・セキュリティ管理者,テレワーク勤務者"
is "a percentage for the organisation" "$(jq '.organisation.percent | type' <<<"$BODY")" \
	'"number"'
api GET /api/v1/compliance/categories/F
expect_status 200 "GET /api/v1/compliance/categories/{id}"
is "category F with its measures" "$(jq -r '[.measures[].id] | index("mic-F-1") != null' <<<"$BODY")" true
api GET /api/v1/compliance/categories/Z
expect_status 404 "an unknown category"
api GET "/api/v1/compliance/history?days=7"
expect_status 200 "GET /api/v1/compliance/history"
is "today's snapshot" "$(jq -r '.snapshots[-1].date' <<<"$BODY")" "$(date -u +%Y-%m-%d)"
is "status changes today" "$(jq '.changes[-1].total > 0' <<<"$BODY")" true
api GET "/api/v1/compliance/history?days=0"
expect_status 400 "days=0 is refused"

# attestations
api POST /api/v1/attestations '{"measure": "mm-E-A3", "status": "met", "owner": "佐藤",
	"evidence": "nightly backups, restore tested", "link": "https://wiki.example.jp/b",
	"review_days": 30}'
expect_status 201 "POST /api/v1/attestations"
is "  its state: met, not overdue" "$(jq -r '"\(.state.status) \(.state.overdue)"' <<<"$BODY")" \
	"met false"
api POST /api/v1/attestations '{"measure": "mic-F-1", "status": "met", "owner": "x", "evidence": "y"}'
expect_status 400 "an automated measure cannot be attested"
api GET "/api/v1/attestations?measure=mm-E-A3"
expect_status 200 "GET /api/v1/attestations"
is "  the measure's state" "$(jq -r '.measures[0].status' <<<"$BODY")" met
api GET /api/v1/audit
is "the attestation is in the audit trail" \
	"$(jq -r '[.records[].action] | index("attestation.create") != null' <<<"$BODY")" true

# catalogue and advisor
api GET "/api/v1/catalog?lang=ja"
expect_status 200 "GET /api/v1/catalog"
is "  in Japanese" "$(jq -r '.measures[] | select(.id == "mic-F-1") | .guideline_id' <<<"$BODY")" \
	"管理者F-1"
is "  the override is in force" \
	"$(jq -r '.measures[] | select(.id == "mm-D-A1") | .params.allowed' <<<"$BODY")" "root tanaka"
api GET /api/v1/advisor/questions
expect_status 200 "GET /api/v1/advisor/questions"
api GET /api/v1/advisor/methods
expect_status 200 "GET /api/v1/advisor/methods"
is "  labelled as mamori's assessment" "$(jq -r .comparison.label.ja <<<"$BODY")" \
	"mamoriによる評価"
api POST /api/v1/advisor/recommend '{"answers": {"goal": "read-only", "it-staff": "small"}}'
expect_status 200 "POST /api/v1/advisor/recommend"
is "  reading in spare moments, few staff: secure browser then cloud" \
	"$(jq -r '.recommended | join(",")' <<<"$BODY")" "secure-browser,cloud"
api POST /api/v1/advisor/recommend '{"answers": {"goal": "everything"}}'
expect_status 400 "  an unknown answer is refused"

# mamorictl over the same API
ctl() { "$CTL" --server "$API_URL" --token "$ADMIN" --ca "$STATE/ca.crt" "$@"; }
out=$(LANG=ja_JP.UTF-8 ctl compliance summary)
ok $? "mamorictl compliance summary"
grep -q "マルウェア対策" <<<"$out"
ok $? "  in Japanese under LANG=ja_JP"
is "mamorictl compliance summary --json is the API's answer" \
	"$(ctl compliance summary --json | jq .hosts)" 1
out=$(ctl compliance host "$id" --lang en)
ok $? "mamorictl compliance host ID"
grep -q "^mm-G-A1 *not met" <<<"$out"
ok $? "  lists each measure with its status"
grep -q "open_wifi_without_vpn=1" <<<"$out"
ok $? "  and the evidence of what fails"
is "mamorictl compliance measure ID --status not_met --json" \
	"$(ctl compliance measure mm-G-A1 --status not_met --json | jq -r '.hosts[0].hostname')" pc
ctl attest mm-B-A4 --status met --evidence "VPN gateway FortiGate 7.2.8 in the register" \
	--owner "情報システム部" --review-days 90 --link https://wiki.example.jp/assets >"$T/ctl.out"
ok $? "mamorictl attest"
grep -q "recorded: mm-B-A4 met" "$T/ctl.out"
ok $? "  says what was recorded"
is "mamorictl attestations list --json shows it" \
	"$(ctl attestations list --measure mm-B-A4 --json | jq -r '.measures[0].status')" met
ctl attest mic-F-1 --status met --evidence x --owner y >/dev/null 2>"$T/ctl.err"
is "mamorictl attest on an automated measure: exit 1" $? 1
grep -q "automated" "$T/ctl.err"
ok $? "  with the server's reason"
out=$(ctl advisor --answer goal=all-work --answer data-on-device=no --lang en)
ok $? "mamorictl advisor --answer …"
grep -q "mamori's assessment (mamoriによる評価)" <<<"$out"
ok $? "  the comparison is labelled as mamori's assessment"
is "mamorictl advisor --json: recommended first" \
	"$(ctl advisor --answer goal=all-work --answer data-on-device=no --json |
		jq -r '.recommended[0]')" remote-desktop
ctl advisor </dev/null >/dev/null 2>&1
is "mamorictl advisor without answers and without a terminal: bad use" $? 2

# SIGHUP: a broken override keeps the old catalogue; a good one applies
printf 'Measure: mm-D-A1\nParam-allowed: root tanaka\n\nMeasure: mic-F-1\nParam-max-definitions-age-days: never\n' \
	>"$T/org.txt"
kill -HUP "$SERVER_PID"
wait_log '(M3042)'
ok $? "SIGHUP with a broken override: not reloaded (M3042)"
grep -q "$T/org.txt:5:1: error: Measure mic-F-1: Param-max-definitions-age-days" "$T/server.log"
ok $? "  the error is logged with file:line"
api GET "/api/v1/catalog?lang=en"
is "  the previous catalogue stays in force" \
	"$(jq -r '.measures[] | select(.id == "mic-F-1") | .params["max-definitions-age-days"]' \
		<<<"$BODY")" 3
printf 'Measure: mic-F-1\nParam-max-definitions-age-days: 7\n' >"$T/org.txt"
make_doc "$T/d4.json" 5
agent pc POST /agent/v1/inventory "$("$INV" delta "$T/d3.json" "$T/d4.json")"
checkin
is "definitions 5 days old under N = 3: not met" "$(result mic-F-1 .status)" not_met
kill -HUP "$SERVER_PID"
wait_log '(M3041)'
ok $? "SIGHUP with a good override: reloaded (M3041)"
is "  and the hosts re-scored: 5 days under N = 7 is met" "$(result mic-F-1 .status)" met
is "  mm-D-A1 back to the built-in allowed list: tanaka is not allowed" \
	"$(result mm-D-A1 .status)" not_met
stop_server
rc=$?
[ $rc -eq 0 ] || { diag "exit status $rc"; tail -5 "$T/server.log" | sed 's/^/#   /'; }
ok $rc "the server stops cleanly"

printf 'Measure: mm-X\nCategory: F\n' >"$T/bad.txt"
out=$("$CTL" catalog check "$T/org.txt")
ok $? "mamorictl catalog check, offline: a good override"
grep -q "^ok: " <<<"$out"
ok $? "  says ok"
"$CTL" catalog check "$T/org.txt" "$T/bad.txt" >/dev/null 2>"$T/check.err"
is "mamorictl catalog check: a bad override exits 1" $? 1
grep -q "$T/bad.txt:1: error: Measure mm-X: field 'Role' is missing" "$T/check.err"
ok $? "  every error with file:line"
is "  --json lists the errors" \
	"$("$CTL" catalog check "$T/bad.txt" --json | jq '.errors | length > 3')" true
"$SERVER" --state-dir "$STATE" --agent-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
	--catalog "$T/bad.txt" >/dev/null 2>"$T/bad.log"
[ $? -ne 0 ]
ok $? "a bad --catalog: the server does not start"
grep -q "$T/bad.txt:1: error: Measure mm-X: field 'Role' is missing" "$T/bad.log"
ok $? "  and says where: file:line"
finish
