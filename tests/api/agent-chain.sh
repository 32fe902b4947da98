#!/usr/bin/env bash
# The event chain with the real agent and the real server: while the server is down the
# agent's upload attempts fail and events wait in its spool; someone edits the spool's
# SQLite file (alters one event, deletes another); when the server is back the agent
# uploads and the server shows both, the rest verified. Then a small spool overflows while
# the server is down: the evictions are reported and the chain continues across them
# without a break, and nothing counts as missing.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd sqlite3 openssl
chmod 755 "$T" # the agent's worker may run as another user
AGENT_PID=
trap 'stop_agent; cleanup' EXIT

start_agent() { # [ARGS…]
	"$AGENT" run --state-dir "$T/agent" --log-level debug "$@" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
}
stop_agent() {
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	AGENT_PID=
}
wait_for() { # SECONDS CMD…
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.3
	done
}
# Runs sqlite3 on the spool as its owner, so files SQLite creates stay the agent's.
spool_sql() {
	local owner
	owner=$(stat -c %U "$T/agent/spool.db")
	if [ "$(id -un)" = "$owner" ]; then
		sqlite3 "$T/agent/spool.db" "$1"
	else
		runuser -u "$owner" -- sqlite3 "$T/agent/spool.db" "$1"
	fi
}
acked() { # SEQ: the server holds events up to SEQ
	api GET "/api/v1/hosts/$id"
	[ "$(jget "$BODY" .acked_seq)" -ge "$1" ]
}

start_server || {
	ok 1 "server starts"
	finish
}
PORT=${AGENT_URL##*:}
FP=$(openssl x509 -in "$STATE/ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
"$AGENT" enroll --server "$AGENT_URL" --token "$(new_token)" --state-dir "$T/agent" \
	--ca-fingerprint "$FP" >/dev/null
ok $? "the agent enrols with the real server"
id=$(sed -n 's/^host_id = //p' "$T/agent/agent.conf")
# As root the daemon's monitors watch the live machine: other tests running beside this
# one start hundreds of processes a second, whose records would overflow the 16 KiB spool
# below without end, so gaps would keep opening faster than reports explain them. The
# minimal collection profile records no process starts (docs/events.md).
echo '{"collection": {"profile": "minimal"}}' >"$T/agent/policy.json"

# The server goes down; the agent tries and fails; events wait in its spool.
stop_server
start_agent
# emit writes into the spool the daemon opens as it starts: once it has started, so the
# test does not depend on how the two meet (the daemon's own spool writes are its own).
wait_for 60 grep -q '(M2058)' "$T/agent.log" ||
	{ diag "the agent did not start:"; tail -20 "$T/agent.log" | sed 's/^/#   /'; }
out=$("$AGENT" emit --state-dir "$T/agent" --type file.copy --count 8 \
	--data '{"user": "taro", "path": "/home/taro/給与明細.xlsx"}')
ok $? "eight events spooled while the server is down ($out)"
first=$(printf '%s' "$out" | sed -n 's/.*seq \([0-9]*\)-.*/\1/p')
# Whichever request comes first fails: the check-in, or the upload of the events `emit`
# spooled just as the daemon started (a race the test must not depend on).
wait_for 60 grep -qE '\(M2040\) (check-in|events|inventory)[^;]*; retrying' "$T/agent.log"
r=$?
ok $r "the agent's upload attempts fail meanwhile"
[ $r -eq 0 ] || tail -20 "$T/agent.log" | sed 's/^/# /'
stop_agent

# Between attempts the spool is edited: event n=3 altered, n=6 deleted.
spool_sql "UPDATE entries SET body = '{\"user\":\"taro\",\"path\":\"/tmp/harmless.txt\",\"n\":3}'
	WHERE kind = 0 AND seq = $((first + 2));
	DELETE FROM entries WHERE kind = 0 AND seq = $((first + 5));"
ok $? "the spool file is edited: event $((first + 2)) altered, $((first + 5)) deleted"

start_server --agent-listen "127.0.0.1:$PORT" || diag "the server did not restart"
start_agent
wait_for 40 acked $((first + 7))
ok $? "once the server is back the agent uploads"
api GET "/api/v1/hosts/$id/evidence-gaps"
gap="$(jget "$BODY" .gaps[0].first_seq)-$(jget "$BODY" .gaps[0].last_seq):$(jget "$BODY" .gaps[0].reason)"
[ "$gap" = "$((first + 5))-$((first + 5)):missing" ]
ok $? "the deleted event is a gap with its number ($gap)"
python3 -c '
import json, sys
b = json.loads(sys.argv[1])["breaks"]
sys.exit(not any(x["kind"] == "altered" and x["first_seq"] == int(sys.argv[2]) for x in b))' \
	"$BODY" $((first + 2))
ok $? "the altered event is a break of kind altered at $((first + 2))"
api GET "/api/v1/events?host=$id&type=file.copy&order=asc"
chains=$(python3 -c 'import json,sys; print(" ".join(e["chain"] for e in json.loads(sys.argv[1])["events"]))' "$BODY")
[ "$chains" = "ok ok altered ok ok unverified ok" ]
ok $? "the events as stored: $chains"
grep -q "(M4121) events of $id" "$T/server.log" && grep -q "(M4122) events of $id" "$T/server.log"
ok $? "and the server's log says so"

# A small spool overflows while the server is down: evictions, reported, chain intact.
stop_agent
stop_server
start_agent --spool-max 16K
"$AGENT" emit --state-dir "$T/agent" --type agent.test --count 300 \
	--data '{"pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' \
	>/dev/null
"$AGENT" emit --state-dir "$T/agent" --type usb.insert --count 1 --data '{"serial": "S1"}' \
	>"$T/last.out"
last=$(sed -n 's/.*seq \([0-9]*\)-.*/\1/p' "$T/last.out")
"$AGENT" status --state-dir "$T/agent" --json >"$T/status.json"
evicted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spool"]["evicted_total"])' "$T/status.json")
[ "${evicted:-0}" -gt 0 ]
ok $? "the 16 KiB spool evicted $evicted events"
start_server --agent-listen "127.0.0.1:$PORT" || diag "the server did not restart"
wait_for 60 acked "$last"
ok $? "after reconnection everything left is uploaded"
wait_for 30 bash -c "grep -q '(M4123) events of $id' '$T/server.log'"
ok $? "with an eviction report the server reads (M4123)"
explained() {
	api GET "/api/v1/hosts/$id/evidence-gaps"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
ev = [g for g in d["gaps"] if g["reason"] == "evicted"]
sys.exit(not (ev and d["summary"]["missing"] == 1 and d["summary"]["evicted"] > 0))' "$BODY"
}
# (evictions made after a report go into the next report)
wait_for 30 explained
ok $? "the evicted numbers are gaps explained by the reports; only the deleted one is missing"
python3 -c '
import json, sys
b = json.loads(sys.argv[1])["breaks"]
sys.exit(any(x["kind"] in ("link", "eviction_edge", "bad_report") for x in b))' "$BODY"
ok $? "and the chain holds across them: no link breaks"
api GET "/api/v1/events?host=$id&type=usb.insert"
[ "$(jget "$BODY" .events[0].chain)" = ok ]
ok $? "the event after the evictions verifies"
finish
