#!/usr/bin/env bash
# The agent against the real mamori-server, end to end: enrolment with the CA fingerprint
# the server logs, check-in, a full inventory whose digest both sides agree on, a delta
# after a change (no 409: the agent computes the digest the server computes), events in
# order through the admin API, the agent's state on the host record, and a revoked host's
# agent told so (403) without a storm of retries.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

start_server "checkin_interval = 10s" || exit 1
logged=$(sed -n 's/.*(M3021) CA certificate fingerprint (SHA-256): //p' "$WORK/server.log" | head -1)
[ -n "$logged" ] && [ "${logged^^}" = "${CA_FP^^}" ]; ok $? "the server logs its CA fingerprint"
st=$WORK/state
root=$WORK/root
make_root "$root"

"$AGENT" enroll --server "$SERVER_URL" --token mtk_not_a_token --state-dir "$st" >"$WORK/out" 2>&1
ok $(($? == 0)) "a malformed token is refused"
grep -q "token_unknown" "$WORK/out"; ok $? "with the server's code"
enroll_agent "$st" --ca-fingerprint "$logged" >"$WORK/out" 2>&1
ok $? "enrolment with the fingerprint as the server logs it"
host=$(sed -n 's/^host_id = //p' "$st/agent.conf")
server_api GET "/api/v1/hosts/$host" >/dev/null; ok $? "the host exists on the server"

start_agent "$st" --root "$root"
ok $? "the daemon starts"
wait_until 15 server_query "$host" 'host["inventory_digest"] and host["last_seen"]'
ok $? "it checks in and uploads its inventory"
digest=$(server_query "$host" 'host["inventory_digest"]')
wait_until 5 agent_status "$st" "j['daemon']['last_upload'] > 0"
grep -q "\"inventory_digest\":\"$digest\"" "$st/status.json"
ok $? "the agent and the server agree on the inventory's digest"
server_api GET "/api/v1/hosts/$host/inventory" | grep -q '"hostname": *"testhost"'
ok $? "the server rebuilds the document collected under --root"
wait_until 5 server_query "$host" '[e for e in ev if e["type"] == "agent.start"]'
ok $? "agent.start is on the server"

"$AGENT" emit --state-dir "$st" --type agent.test --count 5 --data '{"x":1}' >/dev/null
wait_until 5 server_query "$host" '[e["data"]["n"] for e in ev if e["type"] == "agent.test"] == [1, 2, 3, 4, 5]'
ok $? "emitted events reach the server within seconds, in order"
wait_until 15 server_query "$host" 'host["state"]["last_seq"] >= 6 and host["state"]["spool"]["depth"] >= 0'
ok $? "the next check-in reports the agent's last sequence and spool"

echo changedhost >"$root/etc/hostname"
kill -USR1 "$AGENT_PID"
wait_until 10 server_query "$host" "host['inventory_digest'] != '$digest'"
ok $? "SIGUSR1 collects at once, and the change reaches the server"
grep -q "(M2065) inventory collected (delta" "$AGENT_LOG"; ok $? "as a delta"
! grep -q "M2072\|HTTP 409" "$AGENT_LOG"; ok $? "which the server accepts (no 409)"
server_api GET "/api/v1/hosts/$host/history" | grep -q changedhost
ok $? "and records in the host's history"
n=$(grep -c "(M2065)" "$AGENT_LOG")
kill -USR1 "$AGENT_PID"
sleep 2
[ "$(grep -c "(M2065)" "$AGENT_LOG")" = "$n" ]; ok $? "an unchanged inventory is not sent again"

server_api POST "/api/v1/hosts/$host/revoke" >/dev/null; ok $? "the host is revoked"
kill -HUP "$AGENT_PID"
wait_until 10 grep -q "M2041.*host_revoked" "$AGENT_LOG"
ok $? "the agent logs that the server refuses its certificate (host_revoked)"
agent_status "$st" 'j["daemon"]["failures"] >= 1' >/dev/null; ok $? "status shows it"
sleep 3
n=$(grep -c "M2041" "$AGENT_LOG")
ok $((n < 2 || n > 5)) "and retries with back-off, not in a storm ($n attempts in 3 s)"
stop_agent; ok $? "SIGTERM: exit 0"
stop_server; ok $? "the server stops cleanly too"
finish
