#!/usr/bin/env bash
# Soak: hundreds of rounds of killing the agent while events flow, varied more than the
# suite's agent-spool.sh — kill -9 of both processes, of the worker only, of the parent
# only (the worker then stops cleanly), a plain SIGTERM; with the server now and then
# answering 503, going down, or being killed itself — and then the same check: the server
# holds every spooled event exactly once, in order, with no number reused.
#
#   tests/fault/soak-kill.sh [ROUNDS]    default 200 (about 10 minutes); needs a build
#                                        (MAMORI_BUILD_ROOT, default ./build)
# Not part of `tools/test` (too long); run it by hand or in a nightly job.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/../integ/agent-lib.sh"

ROUNDS=${1:-200}
start_fake || exit 1
fake_config '{"checkin_interval": 1}'
st=$WORK/state
enroll_agent "$st" >/dev/null || { ok 1 "enrolment"; finish; }
: >"$WORK/emitted"

emitter() { # round
	local k=0
	while [ ! -e "$WORK/stop-emit" ]; do
		k=$((k + 1))
		if "$AGENT" emit --state-dir "$st" --type agent.test --count 3 \
			--data "{\"r\":$1,\"k\":$k}" >/dev/null 2>>"$WORK/emit.err"; then
			echo "$1 $k" >>"$WORK/emitted"
		fi
		sleep 0.02
	done
}

declare -A how
for round in $(seq 1 "$ROUNDS"); do
	rm -f "$WORK/stop-emit"
	emitter "$round" &
	epid=$!
	case $((RANDOM % 10)) in
	0) fake_config '{"mode": "503", "retry_after": 1}' ;;
	1) fake_config '{"mode": "down"}' ;;
	2) restart_fake ;;
	*) fake_config '{"mode": "ok"}' ;;
	esac
	start_agent "$st"
	sleep "$((RANDOM % 20 / 10)).$((RANDOM % 10))"
	case $((RANDOM % 4)) in
	0) w=both; kill9_agent ;;
	1) w=worker; p=$(agent_worker); [ -n "$p" ] && kill -9 "$p"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID= ;;
	2) w=parent; p=$(agent_worker); kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=; wait_until 5 _gone $p ;;
	*) w=term; stop_agent ;;
	esac
	how[$w]=$((${how[$w]:-0} + 1))
	touch "$WORK/stop-emit"
	wait "$epid"
	[ $((round % 20)) -eq 0 ] && diag "round $round: $(($(wc -l <"$WORK/emitted") * 3)) events so far"
done
diag "stops: ${how[both]:-0} kill -9 of both, ${how[worker]:-0} of the worker, ${how[parent]:-0} of the parent, ${how[term]:-0} SIGTERM"
ok 0 "$ROUNDS rounds"

fake_config '{"mode": "ok"}'
n_emitted=$(($(wc -l <"$WORK/emitted") * 3))
start_agent "$st"
wait_until 300 fake_query "len([e for e in h['events'].values() if e['type'] == 'agent.test']) >= $n_emitted"
ok $? "the server received all $n_emitted spooled events in the end"
wait_until 30 agent_status "$st" 'j["spool"]["events"] == 0'
ok $? "and the spool drained"
stop_agent
python3 "$SRC/tests/integ/check-events.py" fake "$CTL_PORT" "$WORK/emitted"
ok $? "exactly once, in order, no number reused"
finish
