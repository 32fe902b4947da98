#!/usr/bin/env bash
# What an administrator does, end to end, through mamorictl only: create an enrolment
# token, enrol a real agent (a laptop fixture root) into a real server, find the host, its
# inventory and its software; install a package on the endpoint and see only the change
# travel (a delta) and appear in the host's change history; revoke the token and the host.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/../integ/agent-lib.sh"

start_server "checkin_interval = 10s" || exit 1
export MAMORI_SERVER=$API_URL MAMORI_CA=$WORK/server/ca.crt
MAMORI_TOKEN=$(cat "$WORK/server/admin.token")
export MAMORI_TOKEN
unset MAMORI_CONFIG
root=$WORK/root
cp -a "$FIXTURES/laptop" "$root"
chmod -R a+rX "$root"

# An enrolment token, shown once; listed as active with its limits.
"$CTL" tokens create --uses 1 --expires 30m --comment "taro's laptop" >"$WORK/tok.txt"
ok $? "mamorictl tokens create"
token=$(sed -n 's/^token: *//p' "$WORK/tok.txt")
tid=$(sed -n 's/^id: *//p' "$WORK/tok.txt")
[[ $token == mtk_* ]]; ok $? "prints the secret once ($tid)"
"$CTL" tokens list | grep "$tid" | grep -q active; ok $? "tokens list shows it active"
"$CTL" --json tokens list | grep -q "$token"; ok $((! $?)) "and never the secret again"

"$AGENT" enroll --server "$SERVER_URL" --token "$token" --state-dir "$WORK/st" \
	--ca-fingerprint "$CA_FP" >"$WORK/enroll.out" 2>&1
ok $? "the agent enrols with the token and the CA fingerprint"
"$CTL" tokens list | grep "$tid" | grep -q used; ok $? "the single-use token is now used"
"$AGENT" enroll --server "$SERVER_URL" --token "$token" --state-dir "$WORK/st2" \
	--ca-fingerprint "$CA_FP" >"$WORK/enroll2.out" 2>&1
ok $((! $?)) "a second enrolment with it is refused"
grep -q token_used "$WORK/enroll2.out"; ok $? "saying the token was used"

host=$(sed -n 's/^host_id = //p' "$WORK/st/agent.conf")
start_agent "$WORK/st" --root "$root"
ok $? "the agent runs"
wait_until 20 sh -c "'$CTL' hosts show $host | grep -q inventory_digest.*[0-9a-f]"
ok $? "its inventory arrives"

"$CTL" hosts list >"$WORK/list.txt"
grep -q "$host" "$WORK/list.txt"; ok $? "hosts list shows the endpoint"
grep "$host" "$WORK/list.txt" | grep -q "PF2XK7QM"; ok $? "with the serial number from DMI"
"$CTL" hosts list --search PF2XK7QM | grep -q "$host"; ok $? "found by its serial"
"$CTL" hosts list --search nothing-like-it | grep -q "(0 of 0)"; ok $? "and a search that matches nothing says so"
"$CTL" hosts inventory "$host" --section identity | grep -q '"chassis": "laptop"'
ok $? "hosts inventory --section identity: a laptop"
"$CTL" hosts software "$host" --search clamav | grep -q "^clamav "; ok $? "hosts software lists ClamAV"
history_total() { "$CTL" --json hosts history "$host" --limit 1 | sed -n 's/^  "total": \([0-9]*\).*/\1/p'; }
before=$(history_total)

# The teleworker installs a package: the next collection sends only that.
cat >>"$root/var/lib/dpkg/status" <<PKG

Package: sl
Status: install ok installed
Priority: optional
Section: games
Installed-Size: 60
Maintainer: Debian
Architecture: amd64
Version: 5.02-1+b1
Source: sl (5.02-1)
Description: Correct you if you type sl by mistake
PKG
n_full=$(grep -c "(M2065) inventory collected (full" "$AGENT_LOG")
kill -USR1 "$AGENT_PID"
wait_until 20 sh -c "'$CTL' hosts software $host --search sl | grep -q '^sl '"
ok $? "the new package appears in hosts software"
grep -q "(M2065) inventory collected (delta" "$AGENT_LOG"; ok $? "it travelled as a delta"
[ "$(grep -c "(M2065) inventory collected (full" "$AGENT_LOG")" = "$n_full" ]
ok $? "no second full snapshot was sent"
"$CTL" --json hosts history "$host" >"$WORK/hist.json"
after=$(history_total)
[ "$after" -gt "$before" ]; ok $? "the change history grew ($before → $after)"
python3 - "$WORK/hist.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["changes"]
new = [c for c in h if c.get("list") == "packages" and c["op"] == "added"
       and (c.get("new") or c.get("value") or {}).get("name") == "sl"]
sys.exit(0 if new else 1)
PY
ok $? "and records the package 'sl' as added, with its source version"
"$CTL" hosts history "$host" | grep -q packages; ok $? "hosts history prints it for people"

"$CTL" hosts revoke "$host" >/dev/null; ok $? "hosts revoke"
"$CTL" hosts list --status revoked | grep -q "$host"; ok $? "the host is listed as revoked"
wait_until 20 grep -q "host_revoked" "$AGENT_LOG"; ok $? "and its agent is refused"
"$CTL" --token mat_wrong hosts list >/dev/null 2>"$WORK/err"; rc=$?
ok $((rc != 1)) "a wrong admin token fails with exit 1"
grep -q 401 "$WORK/err"; ok $? "and the server's 401"
finish
