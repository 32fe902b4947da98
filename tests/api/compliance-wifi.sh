#!/usr/bin/env bash
# G-A1/G-T1 (open Wi-Fi without VPN) from what the agent's network monitor really emits:
# the monitor (agent/mon_net.c, through tests/integ/mon-driver) runs against a fake
# wpa_supplicant control socket (this machine has no Wi-Fi; the socket speaks the real
# protocol: ATTACH, CTRL-EVENT-CONNECTED, STATUS) and a real tun device as the VPN. Three
# stories, their events captured as the monitor printed them, numbered and chained as the
# spool does, and sent to the real server for three hosts with the laptop's inventory:
#   cafe:    an open network joined with no VPN up, the VPN up seconds later  → met
#   station: an open network joined with no VPN, nothing follows for an hour → not met
#   office:  the VPN already up when an open network is joined (the join's "vpn") → met
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"
need_root
need_cmd ip python3
DRIVER=$MAMORI_BUILD_ROOT/tests/integ/mon-driver
EV=$MAMORI_BUILD_ROOT/tests/api/evtool
INV=$MAMORI_BUILD_ROOT/tests/api/invtool
W=$T/wifi
mkdir -p "$W/wpa"
tun=mamvpn$$
tun=${tun:0:15}
dpid= fpid=
done_wifi() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ -n "$fpid" ] && kill "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	ip link show "$tun" >/dev/null 2>&1 && ip tuntap del dev "$tun" mode tun
	cleanup
}
trap done_wifi EXIT

is() { # description, got, expected
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}

# A wpa_supplicant control socket: answers ATTACH; for each file trigger-N that appears, it
# announces CTRL-EVENT-CONNECTED to the attached monitor and answers its STATUS with the
# file's text.
python3 - "$W" <<'EOF' &
import os, select, socket, sys, time
d = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(os.path.join(d, "wpa", "wlp0s20f3"))
open(os.path.join(d, "wpa-ready"), "w").close()
clients, status, n = set(), b"wpa_state=DISCONNECTED\n", 0
while True:
    trig = os.path.join(d, "trigger-%d" % n)
    if os.path.exists(trig):
        status = open(trig, "rb").read()
        for c in clients:
            s.sendto(b"<3>CTRL-EVENT-CONNECTED - Connection to 0a:0b:0c:0d:0e:10 completed", c)
        n += 1
    r, _, _ = select.select([s], [], [], 0.05)
    if r:
        msg, addr = s.recvfrom(4096)
        if msg == b"ATTACH":
            clients.add(addr)
            s.sendto(b"OK\n", addr)
        elif msg == b"STATUS":
            s.sendto(status, addr)
EOF
fpid=$!
for _ in $(seq 100); do [ -e "$W/wpa-ready" ] && break; sleep 0.05; done
echo "nameserver 192.0.2.1" >"$W/resolv.conf"
"$DRIVER" --net --ready "$W/ready" --resolv-conf "$W/resolv.conf" --dbus-address "" \
	--wpa-dir "$W/wpa" >"$W/events.jsonl" 2>"$W/driver.log" &
dpid=$!
for _ in $(seq 100); do [ -e "$W/ready" ] && break; sleep 0.05; done
[ -e "$W/ready" ]
ok $? "the network monitor runs against the fake wpa_supplicant"

lines() { wc -l <"$W/events.jsonl"; }
# wait_lines N: until the monitor has printed N events
wait_lines() {
	for _ in $(seq 100); do [ "$(lines)" -ge "$1" ] && return 0; sleep 0.05; done
	return 1
}
n_trigger=0
connect() { # SSID KEY_MGMT
	printf 'bssid=0a:0b:0c:0d:0e:10\nfreq=2437\nssid=%s\nid=0\nmode=station\npairwise_cipher=NONE\ngroup_cipher=NONE\nkey_mgmt=%s\nwpa_state=COMPLETED\n' \
		"$1" "$2" >"$W/trigger-$n_trigger.tmp"
	mv "$W/trigger-$n_trigger.tmp" "$W/trigger-$n_trigger"
	n_trigger=$((n_trigger + 1))
}
vpn_up() { ip tuntap add dev "$tun" mode tun && ip link set "$tun" up; }
vpn_down() { ip link set "$tun" down && ip tuntap del dev "$tun" mode tun; }

# cafe: open join, then the VPN
connect Cafe_FREE_WiFi NONE
wait_lines 1
vpn_up
wait_lines 2
vpn_down
wait_lines 3
cafe_end=$(lines)
# station: open join, no VPN
connect Station_Free NONE
wait_lines $((cafe_end + 1))
station_end=$(lines)
# office: the VPN first, then the open join
vpn_up
wait_lines $((station_end + 1))
connect Office_Guest NONE
wait_lines $((station_end + 2))
vpn_down
wait_lines $((station_end + 3))
kill "$dpid"
wait "$dpid"
dpid=
sed 's/^/# /' "$W/events.jsonl"
is "the monitor printed the events of the three stories" "$(lines)" $((station_end + 3))
first_join=$(head -1 "$W/events.jsonl")
is "a join is net.wifi_join, open, with the VPN state and the source" \
	"$(python3 -c 'import json,sys; e=json.loads(sys.argv[1]); d=e["data"]; print(e["type"], d["ssid"], d["security"], d["open"], d["vpn"], d["source"], d["interface"])' "$first_join")" \
	"net.wifi_join Cafe_FREE_WiFi open True False wpa_supplicant wlp0s20f3"
is "the VPN is net.vpn_up with its interface" \
	"$(sed -n 2p "$W/events.jsonl" | python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["type"], e["data"]["interface"] == sys.argv[1])' "$tun")" \
	"net.vpn_up True"

start_server || {
	ok 1 "server starts"
	finish
}
"$AGENT" inventory --root "$FIXTURES/laptop" >"$T/doc.json"
NOW=$(date +%s)
# story NAME FIRST LAST GAP_SECONDS: a host sends events FIRST..LAST of the capture, numbered
# from 1 and stamped 5 s apart from an hour ago; GAP_SECONDS after the last, agent.stop.
story() {
	local name=$1
	new_agent "$name"
	enroll "$name" "$(new_token)" || diag "enrolment failed: $BODY"
	agent "$name" POST /agent/v1/inventory "$("$INV" full "$T/doc.json")"
	sed -n "$2,$3p" "$W/events.jsonl" | python3 -c '
import json, sys
t0, gap = int(sys.argv[1]) * 1000, int(sys.argv[2]) * 1000
n = 0
for n, line in enumerate(sys.stdin, 1):
    e = json.loads(line)
    print(json.dumps({"seq": n, "time": t0 + n * 5000, "type": e["type"], "data": e["data"]}))
print(json.dumps({"seq": n + 1, "time": t0 + n * 5000 + gap, "type": "agent.stop", "data": {}}))
' $((NOW - 3600)) "$4" | "$EV" chain "$(cat "$T/$name.id")" | python3 -c '
import json, sys
print(json.dumps({"events": [json.loads(l) for l in sys.stdin]}))' >"$T/$name.events.json"
	agent "$name" POST /agent/v1/events "@$T/$name.events.json"
	[ "$STATUS" = 200 ] || diag "$name: events refused: $BODY"
}
result() { # NAME MEASURE FIELD
	api GET "/api/v1/hosts/$(cat "$T/$1.id")/compliance"
	python3 -c '
import json, sys
r = [x for x in json.loads(sys.argv[1])["results"] if x["measure"] == sys.argv[2]][0]
v = r[sys.argv[3]] if sys.argv[3] in r else r["evidence"].get(sys.argv[3])
print(json.dumps(v) if not isinstance(v, str) else v)' "$BODY" "$2" "$3"
}

story cafe 1 "$cafe_end" 60
story station $((cafe_end + 1)) "$station_end" 3000
story office $((station_end + 1)) "$(lines)" 60
is "cafe: the VPN up seconds after the open join: mm-G-A1 met" "$(result cafe mm-G-A1 status)" met
is "cafe: the teleworker's mm-G-T1 met too" "$(result cafe mm-G-T1 status)" met
is "station: an open join and no VPN for an hour: mm-G-A1 not met" \
	"$(result station mm-G-A1 status)" not_met
is "  one such join" "$(result station mm-G-A1 open_wifi_without_vpn)" 1
is "  the evidence names the network" \
	"$(result station mm-G-A1 last_open_join | python3 -c 'import json,sys; print(json.load(sys.stdin)["ssid"])')" \
	Station_Free
is "office: the VPN already up at the join (the join says so): met" \
	"$(result office mm-G-A1 status)" met
finish
