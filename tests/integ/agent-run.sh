#!/usr/bin/env bash
# `mamori-agent run` against a fake server: check-ins at the interval the server sets,
# events spooled by `emit` delivered in order, a full inventory then deltas, a 409 answered
# with a full snapshot, gzip bodies, Retry-After on 503, back-off while the server is down,
# SIGHUP checks in at once, SIGTERM stops cleanly with exit 0, and `status` tells it all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

start_fake || exit 1
st=$WORK/state
root=$WORK/root
make_root "$root"
fake_config '{"checkin_interval": 2, "inventory_interval": 10}'
enroll_agent "$st" >/dev/null || { ok 1 "enrolment"; finish; }

start_agent "$st" --root "$root"
ok $? "the daemon starts"
wait_until 10 fake_query 'h["checkins"] >= 1'; ok $? "it checks in"
wait_until 10 fake_query '[i for i in h["inventories"] if i["kind"] == "full" and i["status"] == 200]'
ok $? "it uploads a full inventory first"
fake_query 'h["document"]["identity"]["hostname"] == "testhost"' >/dev/null
ok $? "collected under --root"
wait_until 10 fake_query '[e for e in h["events"].values() if e["type"] == "agent.start"]'
ok $? "it reports agent.start"
agent_status "$st" 'j["running"] and j["daemon"]["last_checkin"] > 0' >/dev/null
ok $? "status says running, with the last check-in"
"$AGENT" status --state-dir "$st" | grep -Eq "next check-in: +[0-9]{4}-[0-9]{2}-[0-9]{2} "
ok $? "and the next check-in"

c0=$(fake_query 'h["checkins"]')
sleep 5
c1=$(fake_query 'h["checkins"]')
ok $((c1 - c0 < 2 || c1 - c0 > 4)) "check-ins follow the server's 2 s interval ($((c1 - c0)) in 5 s)"

t0=$(date +%s.%N)
"$AGENT" emit --state-dir "$st" --type agent.test --count 5 --data '{"batch":"a"}' >/dev/null
ok $? "emit spools five events"
wait_until 5 fake_query 'len([e for e in h["events"].values() if e["data"].get("batch") == "a"]) == 5'
ok $? "they reach the server within the flush delay"
fake_query '[e["data"]["n"] for e in sorted(h["events"].values(), key=lambda e: e["seq"]) if e["data"].get("batch") == "a"] == [1,2,3,4,5]' >/dev/null
ok $? "in order"
wait_until 5 agent_status "$st" 'j["spool"]["events"] == 0'
ok $? "and leave the spool once acknowledged"

"$AGENT" emit --state-dir "$st" --type agent.test --count 50 \
	--data '{"batch":"b","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' >/dev/null
wait_until 5 fake_query 'len([e for e in h["events"].values() if e["data"].get("batch") == "b"]) == 50'
ok $? "a larger batch arrives"
fake_query '[b for b in h["batches"] if b["n"] >= 50 and b["encoding"] == "gzip"]' >/dev/null
ok $? "gzip-compressed (over 1 KiB)"
# (one event with its chain fields is about 300 bytes: a batch of one or two stays under 1 KiB)
fake_query '[b for b in h["batches"] if b["n"] <= 2 and b["encoding"] == "identity"]' >/dev/null
ok $? "while a small one is not"

# A change on the endpoint: the next collection (10 s) sends a delta.
echo changedhost >"$root/etc/hostname"
wait_until 20 fake_query '[i for i in h["inventories"] if i["kind"] == "delta" and i["status"] == 200]'
ok $? "a changed endpoint is sent as a delta"
fake_query '"changedhost" in json.dumps(h["last_delta"])' >/dev/null
ok $? "holding the change"
fake_query 'len(json.dumps(h["last_delta"])) < len(json.dumps(h["document"]))' >/dev/null
ok $? "smaller than the whole document"

# The server lost track of the base: 409, then a full snapshot.
fake_config '{"conflict_409": 1}'
echo thirdhost >"$root/etc/hostname"
wait_until 20 fake_query '[i for i in h["inventories"] if i["status"] == 409]'
ok $? "a delta refused with 409"
wait_until 10 fake_query 'h["inventories"][-1]["kind"] == "full" and h["inventories"][-1]["status"] == 200 and h["document"]["identity"]["hostname"] == "thirdhost"'
ok $? "is followed by a full snapshot"

# 503 with Retry-After: the agent waits at least that long.
fake_config '{"mode": "503", "retry_after": 3}'
kill -HUP "$AGENT_PID"
wait_until 10 fake_query 'len([r for r in s["requests"] if r["status"] == 503]) >= 2'
ok $? "the agent retries after a 503"
fake_query '(lambda t: t[1] - t[0] >= 2.9)([r["time"] for r in s["requests"] if r["status"] == 503][:2])' >/dev/null
ok $? "no sooner than Retry-After says"
grep -q "M2040.*HTTP 503 busy" "$AGENT_LOG"; ok $? "logging the server's answer"
agent_status "$st" 'j["daemon"]["failures"] >= 1 and "503" in j["daemon"]["last_error"]' >/dev/null
ok $? "status shows the trouble"
fake_config '{"mode": "ok"}'
wait_until 8 agent_status "$st" 'j["daemon"]["failures"] == 0'
ok $? "and recovers when the server does"

# The server goes away: exponential back-off, then recovery.
fake_config '{"mode": "down"}'
n0=$(grep -c "M2040" "$AGENT_LOG")
kill -HUP "$AGENT_PID"
sleep 8
delays=$(grep "M2040" "$AGENT_LOG" | tail -n +$((n0 + 1)) | sed -n 's/.*retrying in \([0-9]*\)\.[0-9] s/\1/p' | tr '\n' ' ')
diag "back-off delays while down: $delays"
set -- $delays
ok $(( $# < 3 || $# > 5 )) "a few attempts in 8 s, not a storm ($# attempts)"
ok $(( $# < 3 || ${3:-0} <= ${1:-0} )) "the delays grow ($*)"
"$AGENT" emit --state-dir "$st" --type agent.test --count 3 --data '{"batch":"c"}' >/dev/null
fake_config '{"mode": "ok"}'
kill -HUP "$AGENT_PID"
wait_until 10 fake_query 'len([e for e in h["events"].values() if e["data"].get("batch") == "c"]) == 3'
ok $? "events spooled while the server was down arrive afterwards"

stop_agent; rc=$?
ok $rc "SIGTERM stops the daemon with exit status 0"
grep -q "M2073) stopped" "$AGENT_LOG"; ok $? "logging it"
! pgrep -f "^$AGENT run --state-dir $st" >/dev/null; ok $? "no process is left"
agent_status "$st" 'not j["running"] and j["spool"]["events"] >= 1' >/dev/null
ok $? "status says not running, agent.stop waits in the spool"
start_agent "$st" --root "$root"
wait_until 10 fake_query '[e for e in h["events"].values() if e["type"] == "agent.stop"]'
ok $? "and is delivered at the next start"
fake_query 's["conflicts"] == []' >/dev/null; ok $? "no sequence number was ever reused"
fake_query 'sorted(int(k) for k in h["events"]) == list(range(1, h["max_seq"] + 1))' >/dev/null
ok $? "and the server holds every number from 1, without gaps"
stop_agent
finish
