#!/usr/bin/env bash
# The network section: fixture roots (laptop, vm, broken), then this machine against
# `ip -j addr`, `ip -j route` and `ss -Hltn`, with a listener of our own, then (as root) a
# network namespace with interfaces made for the test, seen through `ip netns exec`.
. "$(dirname "$0")/lib.sh"
need_cmd jq ip ss

LISTENER=$BUILD/tests/integ/net-listener
tmp=$(mktemp -d)
ns=
lpid=
cleanup() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# inventory ROOT OUT — the network section of ROOT's inventory, as JSON in OUT; returns
# the agent's exit status (non-zero when nothing at all could be read under ROOT)
inventory() {
	local rc
	"$AGENT" inventory --root "$1" >"$tmp/full.json" 2>"$tmp/stderr"
	rc=$?
	jq '.network' "$tmp/full.json" >"$2" || return 1
	return $rc
}
q() { jq -r "$1" "$2"; } # jq filter, file
is() {                  # got, expected, what
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "got:      $(printf '%s' "$1" | head -c 2000)"
		diag "expected: $(printf '%s' "$2" | head -c 2000)"
	fi
}
# one line per interface (name, mac, mtu) and per address (name family address/prefixlen),
# sorted: the same text from our inventory and from `ip -j addr`
ours_addr() {
	jq -r '.interfaces[] | .name as $n |
		"\($n) mac=\(.mac // "-") mtu=\(.mtu)",
		(.addresses[] | "\($n) \(.family) \(.address)/\(.prefixlen)")' "$1" | sort
}
ip_addr() {
	jq -r '.[] | .ifname as $n |
		"\($n) mac=\(.address // "-") mtu=\(.mtu)",
		(.addr_info[] | "\($n) \(.family) \(.local)/\(.prefixlen)")' "$1" | sort
}

# ---------------------------------------------------------------- laptop fixture
L=$tmp/laptop.json
inventory "$FIXTURES/laptop" "$L"
ok $? "laptop fixture: inventory succeeds"
is "$(q '.errors // [] | length' "$L")" 0 "laptop: no errors"
is "$(q '[.interfaces[].name] | join(" ")' "$L")" "lo enp0s31f6 wlp2s0 docker0 wg0" \
	"laptop: five interfaces in ifindex order"
# what `ip -j addr` printed in the namespace the fixture's /proc/net files were captured in
is "$(jq -r '.interfaces[] | .name as $n | .addresses[] | "\($n) \(.family) \(.address)/\(.prefixlen)"' "$L" | sort)" \
	"$(sort <<'EOF'
lo inet 127.0.0.1/8
lo inet6 ::1/128
wlp2s0 inet 192.168.1.23/24
wlp2s0 inet6 2001:db8:1:0:d1e5:3f2a:9b4c:1a2b/64
wlp2s0 inet6 2001:db8:1:0:7eb2:7dff:feaa:bbcc/64
wlp2s0 inet6 fe80::7eb2:7dff:feaa:bbcc/64
docker0 inet 172.17.0.1/16
wg0 inet 10.8.0.2/32
wg0 inet6 fd86:ea04:1115::2/128
EOF
)" "laptop: addresses equal what ip addr showed at capture"
is "$(q '.interfaces[] | select(.name == "wlp2s0") | [.wireless, .physical, .driver, .state, .vpn] | @tsv' "$L")" \
	"$(printf 'true\ttrue\tiwlwifi\tup\tfalse')" "laptop: wlp2s0 is wireless, physical, iwlwifi, up"
is "$(q '.interfaces[] | select(.name == "enp0s31f6") | [.wireless, .physical, .driver, .state, .mac] | @tsv' "$L")" \
	"$(printf 'false\ttrue\te1000e\tdown\t54:e1:ad:12:34:56')" "laptop: enp0s31f6 is wired, physical, down"
is "$(q '.interfaces[] | select(.name == "wg0") | [.type, .type_name, .vpn, .physical, .mac // "none", .mtu] | @tsv' "$L")" \
	"$(printf '65534\twireguard\ttrue\tfalse\tnone\t1420')" "laptop: wg0 is a WireGuard VPN without a MAC"
is "$(q '.interfaces[] | select(.name == "docker0") | [.devtype, .physical, .vpn] | @tsv' "$L")" \
	"$(printf 'bridge\tfalse\tfalse')" "laptop: docker0 is a virtual bridge"
is "$(q '.interfaces[] | select(.name == "lo") | [.type_name, .loopback, (.flags | join(","))] | @tsv' "$L")" \
	"$(printf 'loopback\ttrue\tUP,LOOPBACK')" "laptop: lo is the loopback"
is "$(q '.routes[] | select(.default) | "\(.family) \(.gateway) \(.interface) \(.metric)"' "$L")" \
	"$(printf 'inet 192.168.1.1 wlp2s0 600\ninet6 fe80::1 wlp2s0 600')" "laptop: default routes"
is "$(q '[.routes[] | select(.family == "inet") | .destination] | join(" ")' "$L")" \
	"0.0.0.0/0 10.8.0.0/24 169.254.0.0/16 172.17.0.0/16 192.168.1.0/24" "laptop: IPv4 main table"
is "$(q '[.dns, .dns_upstream, .search] | map(join(",")) | join(" ")' "$L")" \
	"127.0.0.53 192.168.1.1,2001:db8:1::1 home.arpa,corp.example" \
	"laptop: resolved's stub and its upstream servers, search domains"
is "$(q '.resolv_conf' "$L")" "/run/systemd/resolve/stub-resolv.conf" \
	"laptop: the relative /etc/resolv.conf link followed inside the root"
is "$(q '.listening[] | "\(.protocol) \(.address) \(.port) \(.pid // "-") \(.comm // "-") \(.uid)"' "$L" | sort)" \
	"$(sort <<'EOF'
tcp 0.0.0.0 22 812 sshd 0
tcp6 :: 22 812 sshd 0
tcp 127.0.0.1 631 904 cupsd 0
tcp6 ::1 631 904 cupsd 0
udp 0.0.0.0 5353 655 avahi-daemon 108
udp6 :: 5353 655 avahi-daemon 108
udp 0.0.0.0 631 1190 cups-browsed 0
EOF
)" "laptop: listening sockets with their owners (the lowest of two sshd pids; no connections)"

# ---------------------------------------------------------------- vm fixture
V=$tmp/vm.json
inventory "$FIXTURES/vm" "$V"
ok $? "vm fixture: inventory succeeds"
is "$(q '.errors // [] | length' "$V")" 0 "vm: no errors"
is "$(jq -r '.interfaces[] | .name as $n | "\($n) \(.driver // "-") \(.physical)", (.addresses[] | "\($n) \(.address)/\(.prefixlen) \(.scope)")' "$V")" \
	"$(cat <<'EOF'
lo - false
lo 127.0.0.1/8 host
lo ::1/128 host
ens3 virtio_net true
ens3 10.0.2.15/24 global
ens3 fe80::5054:ff:fe12:3456/64 link
ens3 fec0::5054:ff:fe12:3456/64 site
EOF
)" "vm: lo and a virtio ens3 with their addresses and scopes"
is "$(q '[.routes[] | select(.default) | .gateway] | join(" ")' "$V")" "10.0.2.2 fe80::2" "vm: default gateways"
is "$(q '[.dns, .search] | map(join(",")) | join(" ")' "$V")" "10.0.2.3 lan" "vm: plain resolv.conf"
is "$(q 'has("dns_upstream")' "$V")" false "vm: no upstream list without resolved's stub"

# ---------------------------------------------------------------- broken fixture
B=$tmp/broken.json
inventory "$FIXTURES/broken" "$B"
ok $? "broken fixture: inventory still succeeds"
for src in /proc/net/tcp /proc/net/fib_trie /sys/class/net/eth9 /proc/4242/fd /etc/resolv.conf /proc/net/udp; do
	q '.errors[].source' "$B" | grep -qx "$src"
	ok $? "broken: $src is named in errors"
done
q '.errors[] | select(.source == "/proc/net/fib_trie") | .message' "$B" | grep -q "NUL byte"
ok $? "broken: binary data in fib_trie is reported"
is "$(q '[.unassigned_addresses[].address] | join(" ")' "$B")" "10.9.9.9" \
	"broken: an address with no route is listed as unassigned, not dropped"
is "$(q '.interfaces[] | select(.name == "lo") | [.addresses[].address] | join(" ")' "$B")" "::1" \
	"broken: lo is still reported, with the address if_inet6 gave"
is "$(q '.listening[] | select(.protocol == "tcp6") | "\(.port) \(.pid)"' "$B")" "22 4243" \
	"broken: the readable process still owns its socket"
is "$(q '.processes_unreadable' "$B")" 1 "broken: the process whose fd is a file is counted"
grep -q "ERROR\|AddressSanitizer\|runtime error" "$tmp/stderr"
ok $((!$?)) "broken: no sanitizer reports"

# ---------------------------------------------------------------- resolv.conf links
R=$tmp/root
mkdir -p "$R/etc" "$R/run/x" "$R/run/y"
printf 'nameserver 192.0.2.99\n' >"$R/run/x/resolv.conf"
printf 'nameserver 192.0.2.98\n' >"$R/run/y/resolv.conf"
ln -s ../../../../../../../../../../run/x/resolv.conf "$R/etc/resolv.conf"
inventory "$R" "$tmp/r.json"
is "$(q '.dns | join(" ")' "$tmp/r.json") $(q '.resolv_conf' "$tmp/r.json")" "192.0.2.99 /run/x/resolv.conf" \
	"a link climbing above the root stops at the root"
ln -sfn /run/y/resolv.conf "$R/etc/resolv.conf"
inventory "$R" "$tmp/r.json"
is "$(q '.dns | join(" ")' "$tmp/r.json")" "192.0.2.98" "an absolute link is followed inside the root"
rm "$R/etc/resolv.conf"
mkdir "$R/etc/resolv.conf"
inventory "$R" "$tmp/r.json"
q '.errors[] | select(.source == "/etc/resolv.conf") | .message' "$tmp/r.json" | grep -qi "directory"
ok $? "an unreadable resolv.conf (a directory here) is an error, not a crash"

# ---------------------------------------------------------------- this machine
M=$tmp/machine.json
"$LISTENER" 127.0.0.1 >"$tmp/ports" &
lpid=$!
for _ in $(seq 50); do [ -s "$tmp/ports" ] && break; sleep 0.1; done
read -r tport uport <"$tmp/ports"
ss -Hltn | awk '{ sub(/.*:/, "", $4); print $4 }' | sort -un >"$tmp/ss-before"
inventory / "$M"
ok $? "this machine: inventory succeeds"
ss -Hltn | awk '{ sub(/.*:/, "", $4); print $4 }' | sort -un >"$tmp/ss-after"
ip -j addr >"$tmp/ip-addr.json"
is "$(ours_addr "$M")" "$(ip_addr "$tmp/ip-addr.json")" \
	"this machine: interfaces (name, MAC, MTU) and addresses equal ip -j addr"
is "$(q '.unassigned_addresses | length' "$M")" 0 "this machine: every IPv4 address placed"
ip -j route show table main >"$tmp/ip-route.json"
is "$(q '.routes[] | select(.family == "inet") | "\(.destination) \(.gateway // "-") \(.interface)"' "$M" | sort)" \
	"$(jq -r '.[] | select((.type // "unicast") == "unicast") |
		"\(if .dst == "default" then "0.0.0.0/0" elif (.dst | contains("/")) then .dst else .dst + "/32" end) \(.gateway // "-") \(.dev)"' \
		"$tmp/ip-route.json" | sort)" "this machine: IPv4 routes equal ip route (main table)"
is "$(q '.routes[] | select(.family == "inet6" and .default) | "\(.gateway // "-") \(.interface)"' "$M" | sort)" \
	"$(ip -j -6 route show default | jq -r '.[] | "\(.gateway // "-") \(.dev)"' | sort)" \
	"this machine: IPv6 default routes equal ip -6 route"
is "$(q '.dns | join(" ")' "$M")" "$(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf | paste -sd' ')" \
	"this machine: name servers of /etc/resolv.conf"
is "$(q ".listening[] | select(.protocol == \"tcp\" and .port == $tport) | \"\(.address) \(.pid) \(.comm)\"" "$M")" \
	"127.0.0.1 $lpid net-listener" "this machine: our TCP listener, with its pid"
is "$(q ".listening[] | select(.protocol == \"udp\" and .port == $uport) | \"\(.address) \(.pid)\"" "$M")" \
	"127.0.0.1 $lpid" "this machine: our bound UDP socket, with its pid"
is "$(q ".listening[] | select(.pid == $lpid) | .exe" "$M" | sort -u)" "$(readlink -f "$LISTENER")" \
	"this machine: the owner's executable"
[ "$(id -u)" -ne 0 ] || is "$(q ".listening[] | select(.port == $tport) | .user" "$M")" root \
	"this machine: the owner's user name"
q '.listening[] | select(.protocol | startswith("tcp")) | .port' "$M" | sort -un >"$tmp/ours"
missing=$(comm -23 <(comm -12 "$tmp/ss-before" "$tmp/ss-after") "$tmp/ours")
extra=$(comm -13 <(sort -um "$tmp/ss-before" "$tmp/ss-after") "$tmp/ours")
is "$missing|$extra" "|" "this machine: listening TCP ports equal ss -Hltn (ports stable across the run)"
kill "$lpid"
lpid=

# as an unprivileged user, other users' processes are counted, not reported one by one
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	setpriv --reuid 65534 --regid 65534 --clear-groups "$AGENT" inventory >"$tmp/nobody.json" 2>/dev/null
	ok $? "as nobody: inventory succeeds"
	n=$(jq '.network.processes_unreadable' "$tmp/nobody.json")
	ok $((n < 1)) "as nobody: unreadable processes counted ($n)"
	is "$(jq '[.network.errors // [] | .[] | select(.source | test("^/proc/[0-9]+/fd"))] | length' "$tmp/nobody.json")" 0 \
		"as nobody: no error per process"
else
	diag "not root: the unprivileged run is skipped"
fi

# ---------------------------------------------------------------- a namespace of our own
if [ "$(id -u)" -ne 0 ]; then
	diag "not root: the network namespace part is skipped"
	finish
fi
ns=mamori-net-$$
if ! ip netns add "$ns"; then
	ns=
	ok 1 "ip netns add works as root"
	finish
fi
n() { ip -n "$ns" "$@"; }
n link set lo up
# dummy interfaces need a kernel module some kernels lack; a veth pair is always there
if n link add d0 type dummy 2>/dev/null; then
	n link add d1 type dummy
else
	n link add d0 type veth peer name d1
fi
n link set d0 up && n link set d1 up
n addr add 192.0.2.5/24 dev d0
n addr add 192.0.2.6/24 dev d0
n -6 addr add 2001:db8::5/64 dev d0 nodad
n addr add 198.51.100.7/32 dev d0
n route add 198.51.100.0/24 dev d0
n addr add 203.0.113.1/28 dev d1
n route add default via 192.0.2.1 dev d0
n tuntap add dev tun9 mode tun
n link set tun9 up
n addr add 10.9.0.1/24 dev tun9
# a pair left down: its IPv4 address has no route, which the inventory must say (in a
# subnet of its own: in the subnet of an interface that is up it would be attributed to
# that one, a limit docs/inventory.md states)
n link add down0 type veth peer name down1
n addr add 198.18.0.77/24 dev down0
n -6 addr add 2001:db8:77::1/64 dev down0 nodad
N=$tmp/ns.json
# IPv6 link-local addresses appear as links come up: take ip's view before and after the
# inventory and use a run in which it did not change
for _ in 1 2 3 4 5; do
	n -j addr >"$tmp/ns-ip.json"
	ip netns exec "$ns" "$AGENT" inventory | jq '.network' >"$N"
	rc=$?
	n -j addr >"$tmp/ns-ip2.json"
	cmp -s <(ip_addr "$tmp/ns-ip.json") <(ip_addr "$tmp/ns-ip2.json") && break
	diag "addresses changed during the run; again"
	sleep 1
done
ok $rc "namespace: inventory succeeds under ip netns exec"
is "$(q '[.interfaces[].name] | sort | join(" ")' "$N")" "$(jq -r '[.[].ifname] | sort | join(" ")' "$tmp/ns-ip.json")" \
	"namespace: /sys/class/net shows the namespace's interfaces (ip netns exec remounts /sys)"
is "$(ours_addr "$N" | grep -v '^down0 inet ')" "$(ip_addr "$tmp/ns-ip.json" | grep -v '^down0 inet ')" \
	"namespace: interfaces and addresses equal ip -j addr (/32, secondary, tun, IPv6)"
is "$(q '.unassigned_addresses[] | "\(.address) \(.prefixlen)"' "$N")" "198.18.0.77 null" \
	"namespace: the IPv4 address of a down interface is listed as unassigned"
q '.errors[].message' "$N" | grep -q "198.18.0.77"
ok $? "namespace: and named in errors"
is "$(q '.interfaces[] | select(.name == "down0") | [.addresses[].address] | join(" ")' "$N")" "2001:db8:77::1" \
	"namespace: its IPv6 address is still known"
is "$(q '.interfaces[] | select(.name == "tun9") | "\(.type_name) \(.vpn) \(.mac // "none")"' "$N")" "tun true none" \
	"namespace: a tun device is a VPN interface without a MAC"
is "$(q '.routes[] | select(.default and .family == "inet") | "\(.gateway) \(.interface)"' "$N")" "192.0.2.1 d0" \
	"namespace: its default route"
finish
