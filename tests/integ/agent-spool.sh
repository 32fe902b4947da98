#!/usr/bin/env bash
# The spool under fire, against the real mamori-server, checked through its admin API
# (GET /api/v1/hosts/{id}/events). (1) kill -9 the agent at random points while events
# flow, for ROUNDS rounds (default 20): the server ends up holding every spooled event
# exactly once, in order, with no sequence number reused. (2) The server down while more
# events arrive than a tiny spool holds: the spool stays within its bound, evictions are
# counted and reported after reconnection, and nothing else is lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_cmd sqlite3

ROUNDS=${1:-${MAMORI_KILL_ROUNDS:-20}}
start_server "checkin_interval = 10s" || exit 1
st=$WORK/state
enroll_agent "$st" --ca-fingerprint "$CA_FP" >/dev/null || { ok 1 "enrolment"; finish; }
host=$(sed -n 's/^host_id = //p' "$st/agent.conf")
root=$WORK/root
make_root "$root"

# The event source: emit 3 events at a time until told to stop; record what was spooled.
emitter() { # state dir, round
	local k=0
	while [ ! -e "$WORK/stop-emit" ]; do
		k=$((k + 1))
		if "$AGENT" emit --state-dir "$1" --type agent.test --count 3 \
			--data "{\"r\":$2,\"k\":$k}" >/dev/null 2>>"$WORK/emit.err"; then
			echo "$2 $k" >>"$WORK/emitted"
		fi
		sleep 0.05
	done
}

: >"$WORK/emitted"
killed=0
for round in $(seq 1 "$ROUNDS"); do
	rm -f "$WORK/stop-emit"
	emitter "$st" "$round" &
	epid=$!
	start_agent "$st" --root "$root" || diag "round $round: the agent did not report running"
	# Somewhere between at once and 1.5 s: during start-up, check-in, upload, idle.
	sleep "$((RANDOM % 16 / 10)).$((RANDOM % 10))"
	kill9_agent
	killed=$((killed + 1))
	touch "$WORK/stop-emit"
	wait "$epid"
done
ok $((killed != ROUNDS)) "the agent was killed with SIGKILL $killed times while events flowed"
n_emitted=$(($(wc -l <"$WORK/emitted") * 3))
diag "$n_emitted events spooled by emit"

start_agent "$st" --root "$root"
wait_until 60 server_query "$host" "len([e for e in ev if e['type'] == 'agent.test']) >= $n_emitted"
ok $? "after a last start the server has received as many events as were spooled"
wait_until 10 agent_status "$st" 'j["spool"]["events"] == 0'
ok $? "and the spool is empty"
stop_agent

python3 "$SRC/tests/integ/check-events.py" api "$API_URL" "$WORK/server/ca.crt" \
	"$WORK/server/admin.token" "$host" "$WORK/emitted"
ok $? "the server holds every event exactly once, in order"

# (2) A tiny spool and a server that is down.
st2=$WORK/state2
enroll_agent "$st2" --ca-fingerprint "$CA_FP" >/dev/null
host2=$(sed -n 's/^host_id = //p' "$st2/agent.conf")
max=$((64 * 1024))
start_agent "$st2" --root "$root" --spool-max 64K
wait_until 10 agent_status "$st2" 'j["daemon"]["last_checkin"] > 0 and j["spool"]["depth"] == 0'
ok $? "a second agent with a 64 KiB spool checks in"
stop_server
ok $? "the server stops"
pad=$(printf '%0400d' 0)
: >"$WORK/seqs2"
over=0
for i in $(seq 1 40); do
	out=$("$AGENT" emit --state-dir "$st2" --type agent.test --count 10 \
		--data "{\"i\":$i,\"pad\":\"$pad\"}" 2>/dev/null)
	echo "$out" | sed -n 's/.*seq \([0-9]*\)-\([0-9]*\)/\1 \2/p' >>"$WORK/seqs2"
	b=$(agent_status "$st2" 'j["spool"]["bytes"]')
	[ "$b" -gt "$max" ] && over=$((over + 1))
done
ok $over "400 events of ~450 bytes never take the spool over 64 KiB"
evicted=$(agent_status "$st2" 'j["spool"]["evicted_total"]')
ok $((evicted == 0)) "evictions are counted ($evicted)"
# While the server is down an upload attempt may already write the report into the spool
# (it then waits there, like any event): every eviction is either still unreported or in a
# report waiting in the spool — none reached a server, none is forgotten.
unrep=$(agent_status "$st2" 'j["spool"]["evicted_unreported"]')
total=$(agent_status "$st2" 'j["spool"]["evicted_total"]')
spooled=$(sqlite3 -readonly "$st2/spool.db" \
	"SELECT coalesce(sum(json_extract(body, '$.count')), 0) FROM entries
	 WHERE type = 'agent.spool_evicted'" 2>/dev/null)
ok $((unrep + ${spooled:-0} != total || unrep + ${spooled:-0} == 0)) \
	"and not yet reported while the server is down ($unrep unreported, $spooled in spooled reports, of $total)"
dbsize=$(stat -c %s "$st2/spool.db")
diag "spool.db is $dbsize bytes for a 64 KiB bound"
ok $((dbsize > 4 * max)) "the database file stays small too ($dbsize bytes)"
"$AGENT" status --state-dir "$st2" | grep -q "evicted: *$evicted entries"
ok $? "status shows the evictions"

start_server
ok $? "the server comes back"
kill -HUP "$AGENT_PID"
wait_until 30 server_query "$host2" '[e for e in ev if e["type"] == "agent.spool_evicted"]'
ok $? "after reconnection the server receives agent.spool_evicted"
wait_until 10 agent_status "$st2" 'j["spool"]["events"] == 0 and j["spool"]["evicted_unreported"] == 0'
ok $? "the spool drains, every eviction reported"
# Making room for the report itself may have evicted one more: the final count.
evicted=$(agent_status "$st2" 'j["spool"]["evicted_total"]')
server_events "$host2" >"$WORK/events2.json"
python3 - "$WORK/events2.json" "$WORK/seqs2" "$evicted" <<'PY'
import json, sys
evs = json.load(open(sys.argv[1]))
spooled = set()
for line in open(sys.argv[2]):
    a, b = map(int, line.split())
    spooled |= set(range(a, b + 1))
got = {e["seq"] for e in evs if e["type"] == "agent.test"}
reports = [e["data"] for e in evs if e["type"] == "agent.spool_evicted"]
missing = spooled - got
fails = 0
def check(ok, what):
    global fails
    print("# %s - %s" % ("ok" if ok else "NOT OK", what))
    fails += not ok
check(sum(r["count"] for r in reports) == int(sys.argv[3]),
      "the reports count every eviction (%d in %d reports)" % (sum(r["count"] for r in reports), len(reports)))
check(len(missing) == int(sys.argv[3]), "only the evicted events are missing (%d)" % len(missing))
check(all(any(r["oldest_seq"] <= q <= r["newest_seq"] for r in reports) for q in missing),
      "each missing number lies in a reported range")
check(bool(missing) and max(missing) < min(got), "the oldest went first")
check(all(r["bytes"] > 0 for r in reports), "with the bytes evicted")
sys.exit(1 if fails else 0)
PY
ok $? "nothing but the evicted events was lost, and those are accounted for"
stop_agent
finish
