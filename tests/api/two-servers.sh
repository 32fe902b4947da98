#!/usr/bin/env bash
# Two mamori-servers on one PostgreSQL store behind a load balancer (issue 7): real agents
# (mamori-agent enroll/run) spread over both through a round-robin TCP balancer
# (lbproxy.py), events flowing (`mamori-agent emit`), server 1 killed with kill -9 in the
# middle. Through the surviving server's admin API: every host holds every event exactly
# once, in order, with sequence numbers 1..N and no gap, and every agent carried on
# through server 2. Run through tests/pg-cluster.sh; the agents need root (privilege
# separation) like the other agent tests run here.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/servers.sh"
[ -x "$AGENT" ] || skip_all "needs the agent ($AGENT)"

AGENTS=4
ROUNDS=12 # emits per agent, 5 events each; server 1 dies after ROUNDS/3
chmod 755 "$T" # the agent's worker runs as nobody
declare -a APID
LBPID=
extra_cleanup() {
	local p
	# SIGTERM, so each agent's parent stops its privilege-separated worker too.
	for p in "${APID[@]}" $LBPID; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${APID[@]}" $LBPID; do
		wait "$p" 2>/dev/null
	done
}
trap 'extra_cleanup; srv_cleanup' EXIT

printf 'checkin_interval = 10s\njob_retry_interval = 1s\n' >"$T/srv.conf"
srv_start 1 --config "$T/srv.conf" && srv_start 2 --config "$T/srv.conf"
ok $? "two servers on one database with one CA"

python3 "$SRC/tests/api/lbproxy.py" "$T/lb.port" "${AURL[1]#https://}" "${AURL[2]#https://}" \
	>"$T/lb.log" 2>&1 &
LBPID=$!
for _ in $(seq 50); do [ -s "$T/lb.port" ] && break; sleep 0.1; done
LB=https://127.0.0.1:$(cat "$T/lb.port")
[ -s "$T/lb.port" ]
ok $? "the balancer listens ($LB)"

# A small endpoint for --root, so collecting an inventory is quick.
root=$T/root
mkdir -p "$root/etc" "$root/proc"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' >"$root/etc/os-release"
echo lbhost >"$root/etc/hostname"
cp /proc/cpuinfo /proc/meminfo "$root/proc/"
chmod -R a+rX "$root"

enrolled=0
for a in $(seq "$AGENTS"); do
	srv_api $(((a % 2) + 1)) POST /api/v1/enroll-tokens '{"uses": 1}'
	tok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$BODY")
	"$AGENT" enroll --server "$LB" --token "$tok" --state-dir "$T/a$a" >>"$T/agents.log" 2>&1 &&
		enrolled=$((enrolled + 1))
done
[ "$enrolled" = "$AGENTS" ]
ok $? "$AGENTS agents enrol through the balancer with tokens made on either server"

for a in $(seq "$AGENTS"); do
	"$AGENT" run --state-dir "$T/a$a" --root "$root" >>"$T/a$a.log" 2>&1 &
	APID[a]=$!
done
up=0
for a in $(seq "$AGENTS"); do
	for _ in $(seq 100); do
		grep -q '"running":true' "$T/a$a/status.json" 2>/dev/null && break
		sleep 0.2
	done
	grep -q '"running":true' "$T/a$a/status.json" 2>/dev/null && up=$((up + 1))
done
[ "$up" = "$AGENTS" ]
ok $? "the agents run ($up of $AGENTS)"

# Events flow from every agent; server 1 is killed a third of the way through.
for r in $(seq "$ROUNDS"); do
	for a in $(seq "$AGENTS"); do
		"$AGENT" emit --state-dir "$T/a$a" --type agent.test --count 5 \
			--data "{\"r\":$r}" >/dev/null 2>&1 && echo "$r" >>"$T/a$a.emitted"
	done
	if [ "$r" = $((ROUNDS / 3)) ]; then
		sleep 1
		s1=$(grep -c 'POST /agent/v1/events' "$T/s1.log")
		s2=$(grep -c 'POST /agent/v1/events' "$T/s2.log")
		[ "$s1" -gt 0 ] && [ "$s2" -gt 0 ]
		ok $? "the agents are spread over both servers ($s1 and $s2 event uploads)"
		srv_kill 1
		ok $? "server 1 killed (kill -9) in the middle of the flow"
	fi
	sleep 0.3
done

hosts=()
for a in $(seq "$AGENTS"); do
	hosts[a]=$(sed -n 's/^host_id = //p' "$T/a$a/agent.conf")
done
check_host() { # agent number → 0 when server 2 holds all its events
	local a=$1
	srv_api 2 GET "/api/v1/hosts/${hosts[a]}/events?limit=1000"
	python3 - "$BODY" "$T/a$a.emitted" "${2:-}" <<'PY'
import json, sys
evs = json.loads(sys.argv[1])["events"]
want = [(int(r), n) for r in open(sys.argv[2]) for n in range(1, 6)]
got = [(e["data"]["r"], e["data"]["n"]) for e in evs if e["type"] == "agent.test"]
seqs = [e["seq"] for e in evs]
checks = [
    (got == want, "every event once, in order (%d stored, %d emitted)" % (len(got), len(want))),
    (seqs == list(range(1, len(seqs) + 1)), "sequence numbers 1..%d, no gap" % len(seqs)),
]
if sys.argv[3]:
    for good, what in checks:
        print("# %s - %s" % ("ok" if good else "NOT OK", what))
sys.exit(0 if all(g for g, _ in checks) else 1)
PY
}
all_in() {
	local a
	for a in $(seq "$AGENTS"); do check_host "$a" || return 1; done
}
for _ in $(seq 150); do
	all_in && break
	sleep 0.2
done
for a in $(seq "$AGENTS"); do
	check_host "$a" verbose
	ok $? "host $a (${hosts[a]}): server 2 holds every event exactly once, in order"
done

for a in $(seq "$AGENTS"); do
	kill -0 "${APID[a]}" 2>/dev/null
	ok $? "agent $a still runs"
done
srv_api 2 GET /api/v1/hosts
n=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["hosts"]))' "$BODY" 2>/dev/null)
[ "$n" = "$AGENTS" ]
ok $? "server 2 lists the $AGENTS hosts"
srv_wait_log 2 '(M3040) job maintain: taken' 10
ok $? "and took over the background job server 1 ran"
finish
