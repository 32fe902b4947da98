#!/usr/bin/env bash
# Forwarding to a SIEM: events go out as RFC 5424 messages, octet-counted, over TLS to a
# receiver whose certificate chains to the configured CA; while the receiver is down
# nothing is lost, and once it is back the forwarder resumes where it stopped, also across
# a restart of the server (its cursor is in the store); a receiver the CA did not sign is
# refused.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
EV=$MAMORI_BUILD_ROOT/tests/api/evtool
SINK=$MAMORI_BUILD_ROOT/tests/api/syslog-sink
SINK_PID=

stop_sink() {
	if [ -n "$SINK_PID" ]; then
		kill "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	fi
	SINK_PID=
}
trap 'stop_sink; cleanup' EXIT

# A CA for the receiver, and its certificate for 127.0.0.1.
certtool --generate-privkey --key-type ecdsa --no-text --outfile "$T/siem-ca.key" 2>/dev/null
printf 'cn = "test SIEM CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$T/ca.tmpl"
certtool --generate-self-signed --load-privkey "$T/siem-ca.key" --template "$T/ca.tmpl" \
	--no-text --outfile "$T/siem-ca.crt" 2>/dev/null
certtool --generate-privkey --key-type ecdsa --no-text --outfile "$T/sink.key" 2>/dev/null
printf 'cn = "siem"\nip_address = "127.0.0.1"\ntls_www_server\nexpiration_days = 2\n' \
	>"$T/sink.tmpl"
certtool --generate-certificate --load-privkey "$T/sink.key" --load-ca-privkey "$T/siem-ca.key" \
	--load-ca-certificate "$T/siem-ca.crt" --template "$T/sink.tmpl" --no-text \
	--outfile "$T/sink.crt" 2>/dev/null
[ -s "$T/sink.crt" ]
ok $? "a CA and a receiver certificate"

start_sink() { # [PORT]
	rm -f "$T/sink.port"
	"$SINK" "$T/sink.crt" "$T/sink.key" "$T/sink.out" "$T/sink.port" "${1:-0}" &
	SINK_PID=$!
	for _ in $(seq 50); do
		[ -s "$T/sink.port" ] && break
		sleep 0.1
	done
	PORT=$(cat "$T/sink.port" 2>/dev/null)
}
# Waits (up to 30 s) until the receiver holds every seq in 1..$1 of the host.
wait_seqs() {
	for _ in $(seq 300); do
		python3 -c '
import json, sys
seqs = set()
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("<"):
        seqs.add(json.loads(line[line.index("{"):])["seq"])
sys.exit(not set(range(1, int(sys.argv[2]) + 1)) <= seqs)' "$T/sink.out" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
: >"$T/sink.out"
start_sink
[ -n "$PORT" ]
ok $? "the receiver listens on $PORT"

cat >"$T/server.conf" <<EOF
siem_target = 127.0.0.1:$PORT
siem_ca = $T/siem-ca.crt
siem_start = beginning
siem_interval = 1s
EOF
start_server --config "$T/server.conf" || {
	ok 1 "server starts"
	finish
}
wait_log '(M4214)'
ok $? "the forwarder starts (M4214)"
new_agent pc
enroll pc "$(new_token)" || diag "enrolment failed: $BODY"
id=$(cat "$T/pc.id")
NOWMS=$(($(date +%s) * 1000))
for s in $(seq 1 16); do
	printf '{"seq": %d, "time": %d, "type": "file.copy", "data": {"user": "taro", "path": "/home/taro/給与明細_%02d.xlsx"}}\n' \
		"$s" $((NOWMS + s)) "$s"
done | "$EV" chain "$id" >"$T/pc.jsonl"
post() { # FIRST LAST
	python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
print(json.dumps({"events": [e for e in evs if int(sys.argv[2]) <= e["seq"] <= int(sys.argv[3])]}))
' "$T/pc.jsonl" "$1" "$2" >"$T/batch.json"
	agent pc POST /agent/v1/events "@$T/batch.json"
}

post 1 5
expect_status 200 "five events stored"
wait_seqs 5
ok $? "the receiver gets them"
! grep -q 'BAD FRAME' "$T/sink.out"
ok $? "every frame is octet-counted right"
first=$(grep -m1 '^<' "$T/sink.out")
printf '%s\n' "$first" | grep -qE '^<134>1 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z pc mamori - file\.copy - \{'
ok $? "as RFC 5424: <134>1 TIME HOST mamori - TYPE - JSON"
python3 -c '
import json, sys
e = json.loads(sys.argv[1][sys.argv[1].index("{"):])
sys.exit(not (e["host_id"] == sys.argv[2] and e["seq"] == 1 and e["chain"] == "ok"
              and e["data"]["path"] == "/home/taro/給与明細_01.xlsx"))' "$first" "$id"
ok $? "whose JSON is the event (host, seq, chain, data with its Japanese path)"

# Outage: the receiver goes away; events keep arriving.
stop_sink
post 6 10
expect_status 200 "five more events while the receiver is down"
wait_log '(M4211)'
ok $? "the forwarder notices the outage (M4211)"
sleep 2
start_sink "$PORT"
[ "$PORT" = "$(cat "$T/sink.port")" ]
ok $? "the receiver is back on the same port"
wait_seqs 10
ok $? "and gets the events of the outage: nothing skipped"
wait_log '(M4210)'
ok $? "the forwarder says it resumed (M4210)"

# A restart of the server resumes from the stored cursor, not from the beginning.
stop_server
ok $? "the server stops"
start_server --config "$T/server.conf"
post 11 14
wait_seqs 14
ok $? "after a restart the new events arrive"
n1=$(grep -c '給与明細_01' "$T/sink.out")
[ "$n1" -le 2 ]
ok $? "without sending everything again (event 1 seen $n1 times)"

# A receiver whose certificate the configured CA did not sign is refused.
stop_server
stop_sink
certtool --generate-privkey --key-type ecdsa --no-text --outfile "$T/other.key" 2>/dev/null
certtool --generate-self-signed --load-privkey "$T/other.key" --template "$T/ca.tmpl" --no-text \
	--outfile "$T/other.crt" 2>/dev/null
sed -i "s|^siem_ca = .*|siem_ca = $T/other.crt|" "$T/server.conf"
: >"$T/sink.out"
start_sink "$PORT"
start_server --config "$T/server.conf"
post 15 16
wait_log 'TLS with 127.0.0.1'
ok $? "a receiver the CA did not sign fails the TLS handshake"
! grep -q '^<' "$T/sink.out"
ok $? "and gets nothing"
finish
