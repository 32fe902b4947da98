#!/usr/bin/env bash
# The monitors on this machine's kernel, through the standalone driver (mon-driver, which
# prints each event as a JSON line): a process started; files written, renamed and deleted
# in a watched folder; a removable medium (a tmpfs mounted for the test) marked whole, then
# directory by directory as on exFAT, and still unmountable while watched; renames paired
# from MOVED_FROM/MOVED_TO as on kernels without FAN_RENAME; logins written with updwtmpx
# into temp wtmp and btmp files; auth.log lines and the log's rotation; a tun device as a
# VPN with a default route through it; resolv.conf changes. Each must give the events a
# user would look for, with the right fields.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd jq ip sha256sum mount umount

DRIVER=$BUILD/tests/integ/mon-driver
UW=$BUILD/tests/integ/utmp-writer
tmp=$(mktemp -d /tmp/mamori-monitors.XXXXXX)
dpid=
tun=mamtun$$
tun=${tun:0:15}

cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	mountpoint -q "$tmp/stick" && umount "$tmp/stick"
	ip link show "$tun" >/dev/null 2>&1 && ip tuntap del dev "$tun" mode tun
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# start_driver ARGS…: runs the driver until stop_driver, events in $tmp/events.jsonl
start_driver() {
	rm -f "$tmp/ready"
	"$DRIVER" --ready "$tmp/ready" --flush-ms 300 "$@" >"$tmp/events.jsonl" 2>"$tmp/driver.log" &
	dpid=$!
	for _ in $(seq 100); do
		[ -e "$tmp/ready" ] && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.05
	done
	diag "the driver did not start:"
	sed 's/^/#   /' "$tmp/driver.log"
	return 1
}
stop_driver() {
	local status
	sleep 1 # past the 300 ms a file being written waits for its close
	kill -TERM "$dpid"
	wait "$dpid"
	status=$?
	dpid=
	[ "$status" -eq 0 ] && ! grep -q Sanitizer "$tmp/driver.log"
	ok $? "the driver ran and stopped cleanly (no sanitizer report)"
	[ "$status" -eq 0 ] || sed 's/^/#   /' "$tmp/driver.log" | head -40
}
# events TYPE [JQ-FILTER]: the data of each event of TYPE matching the filter, one per line
events() {
	jq -c --arg t "$1" "select(.type == \$t) | .data | select(${2:-true})" "$tmp/events.jsonl"
}
# has TYPE FILTER: whether at least one event matches
has() { [ -n "$(events "$1" "$2")" ]; }

mkdir -p "$tmp/watched" "$tmp/stick" "$tmp/outside"
cp /bin/sleep "$tmp/mamori-sleep"
exe_sum=$(sha256sum "$tmp/mamori-sleep" | cut -d' ' -f1)
: >"$tmp/wtmp"
: >"$tmp/btmp"
: >"$tmp/auth.log"
: >"$tmp/utmp"
echo "nameserver 192.0.2.1" >"$tmp/resolv.conf"
# a session open before the monitor starts: its logout must still name the user
"$UW" "$tmp/utmp" login carol tty3 - 3333
cat >"$tmp/policy.json" <<EOF
{"collection": {"profile": "detailed",
  "files": {"folders": ["$tmp/watched"], "exclude": ["*.swp"]}}}
EOF

# ---- 1: processes, a watched folder, logins, the network ----
start_driver --proc --fanotify --login --net --policy "$tmp/policy.json" \
	--utmp "$tmp/utmp" --wtmp "$tmp/wtmp" --btmp "$tmp/btmp" --auth-log "$tmp/auth.log" \
	--resolv-conf "$tmp/resolv.conf" --dbus-address "" --wpa-dir "$tmp/none" || finish

(cd "$tmp" && exec "$tmp/mamori-sleep" 1.5) &
spid=$!

echo hello >"$tmp/watched/a.txt"
mv "$tmp/watched/a.txt" "$tmp/watched/b.txt"
rm "$tmp/watched/b.txt"
mkdir "$tmp/watched/sub"
echo nested >"$tmp/watched/sub/c.txt"
echo swap >"$tmp/watched/x.swp"
echo elsewhere >"$tmp/outside/o.txt"
# a folder copied in whole: its files land before the new directories' marks do
mkdir -p "$tmp/outside/tree/a/b"
for i in 1 2 3; do echo "$i" >"$tmp/outside/tree/a/b/f$i.txt"; done
echo top >"$tmp/outside/tree/top.txt"
cp -r "$tmp/outside/tree" "$tmp/watched/"

"$UW" "$tmp/wtmp" login alice pts/7 192.0.2.9 4242
"$UW" "$tmp/wtmp" logout - pts/7 - 4242
"$UW" "$tmp/wtmp" logout - tty3 - 3333
"$UW" "$tmp/btmp" fail mallory ssh:notty 203.0.113.5 5555
{
	echo "Nov 25 19:45:01 pc sshd[1234]: Accepted password for alice from 192.0.2.1 port 51234 ssh2"
	echo "Nov 25 19:45:02 pc sshd[1235]: Failed password for invalid user admin from 198.51.100.4 port 40000 ssh2"
	echo "Nov 25 19:45:03 pc sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update"
	echo "Nov 25 19:45:04 pc su[1400]: FAILED SU (to root) bob on pts/1"
	printf "Nov 25 19:45:05 pc sshd[1236]: Accepted publickey for rotated"
} >>"$tmp/auth.log"
sleep 0.3
# rotation: the old file's last line is finished after the move, then a new file starts
mv "$tmp/auth.log" "$tmp/auth.log.1"
echo " from 192.0.2.2 port 2222 ssh2" >>"$tmp/auth.log.1"
echo "Nov 25 19:45:06 pc sshd[1237]: Accepted password for newfile from 192.0.2.3 port 3333 ssh2" >"$tmp/auth.log"

ip tuntap add dev "$tun" mode tun
ip addr add 10.213.77.1/24 dev "$tun"
ip link set "$tun" up
ip route add default via 10.213.77.2 dev "$tun" metric 4242
ip route del default via 10.213.77.2 dev "$tun" metric 4242
ip link set "$tun" down
ip tuntap del dev "$tun" mode tun

echo "nameserver 192.0.2.53" >"$tmp/resolv.conf.new"
mv "$tmp/resolv.conf.new" "$tmp/resolv.conf"
wait "$spid"
stop_driver

# process.start
p=$(events process.start ".pid == $spid")
ok $? "process.start for the started process (pid $spid)"
[ "$(jq -r .exe <<<"$p")" = "$tmp/mamori-sleep" ]
ok $? "  its executable"
[ "$(jq -r .cmdline <<<"$p")" = "$tmp/mamori-sleep 1.5" ]
ok $? "  its command line (the detailed profile keeps them)"
[ "$(jq -r .sha256 <<<"$p")" = "$exe_sum" ]
ok $? "  the executable's SHA-256 equals sha256sum's"
[ "$(jq -r .cwd <<<"$p")" = "$tmp" ]
ok $? "  its working directory"
[ "$(jq -r .uid <<<"$p")" = 0 ] && [ "$(jq -r .user <<<"$p")" = root ]
ok $? "  its user"
ppid=$(jq -r .ppid <<<"$p")
[ "$ppid" -gt 1 ] && [ "$(jq -r .gone <<<"$p")" = null ]
ok $? "  a parent pid, and not gone"

# files in the watched folder
w=$(events file.write ".path == \"$tmp/watched/a.txt\"")
ok $? "file.write for a file written in the watched folder"
jq -e '(.ops | index("create")) and (.ops | index("close_write"))' <<<"$w" >/dev/null
ok $? "  one event with create and close_write merged"
[ "$(jq -r .pid <<<"$w")" = $$ ] && [ "$(jq -r .exe <<<"$w")" = "$(readlink /proc/$$/exe)" ]
ok $? "  by this shell (pid and executable)"
r=$(events file.rename ".from == \"$tmp/watched/a.txt\"")
ok $? "file.rename for the move"
[ "$(jq -r .to <<<"$r")" = "$tmp/watched/b.txt" ]
ok $? "  to b.txt"
[ "$(jq -r .exe <<<"$r")" = "$(command -v mv)" ] || [ "$(jq -r .gone <<<"$r")" = true ]
ok $? "  by mv (or mv already gone, and said so)"
d=$(events file.delete ".path == \"$tmp/watched/b.txt\"")
ok $? "file.delete for the removal"
[ "$(jq -r .exe <<<"$d")" = "$(command -v rm)" ] || [ "$(jq -r .gone <<<"$d")" = true ]
ok $? "  by rm (or rm already gone, and said so)"
has file.create ".path == \"$tmp/watched/sub\" and .dir == true"
ok $? "file.create for a new directory, marked as one"
has file.write ".path == \"$tmp/watched/sub/c.txt\""
ok $? "a file written in the new directory is seen (its mark was added)"
n=0
for f in tree/top.txt tree/a/b/f1.txt tree/a/b/f2.txt tree/a/b/f3.txt; do
	has file.write ".path == \"$tmp/watched/$f\"" && n=$((n + 1))
done
[ "$n" -eq 4 ]
ok $? "every file of a folder copied in is reported ($n of 4)"
! has file.write '.path | endswith(".swp")'
ok $? "an excluded pattern gives no event"
! has file.write ".path == \"$tmp/outside/o.txt\""
ok $? "a folder outside the watched ones gives no event"

# logins
l=$(events login.success '.source == "wtmp"')
[ "$(jq -r .user <<<"$l")" = alice ] && [ "$(jq -r .line <<<"$l")" = pts/7 ] &&
	[ "$(jq -r .host <<<"$l")" = 192.0.2.9 ] && [ "$(jq -r .method <<<"$l")" = remote ]
ok $? "login.success from wtmp: user, line, host, method"
has login.logout '.user == "alice" and .line == "pts/7"'
ok $? "login.logout names the user wtmp does not"
has login.logout '.user == "carol" and .line == "tty3"'
ok $? "  also for a session open before the monitor started (from utmp)"
has login.failure '.source == "btmp" and .user == "mallory" and .host == "203.0.113.5"'
ok $? "login.failure from btmp"
has login.success '.source == "auth.log" and .user == "alice" and .method == "password" and .host == "192.0.2.1" and .port == 51234'
ok $? "login.success from sshd: method, host, port"
has login.failure '.user == "admin" and .invalid_user == true and .host == "198.51.100.4"'
ok $? "login.failure from sshd for an invalid user"
has auth.sudo '.user == "alice" and .target == "root" and .command == "/usr/bin/apt update" and .result == "allowed" and .tty == "pts/0"'
ok $? "auth.sudo: who, as whom, what, where"
has auth.su '.user == "bob" and .target == "root" and .result == "failed"'
ok $? "auth.su: a refused su"
has login.success '.user == "rotated" and .host == "192.0.2.2"'
ok $? "a line finished in the rotated file is read whole"
has login.success '.user == "newfile"'
ok $? "the new auth.log after rotation is followed"

# network
has net.vpn_up ".interface == \"$tun\" and .kind == \"tun\""
ok $? "net.vpn_up for a tun device"
has net.vpn_down ".interface == \"$tun\""
ok $? "net.vpn_down when it goes down"
[ "$(events net.vpn_down ".interface == \"$tun\"" | wc -l)" -eq 1 ]
ok $? "  once (deleting a link that is down says nothing more)"
has net.route_change ".action == \"added\" and .gateway == \"10.213.77.2\" and .interface == \"$tun\" and .vpn == true and .metric == 4242"
ok $? "net.route_change: a default route through the VPN added"
has net.route_change '.action == "removed" and .gateway == "10.213.77.2"'
ok $? "  and removed"
has net.dns_change '.servers == ["192.0.2.53"] and .previous_servers == ["192.0.2.1"]'
ok $? "net.dns_change with the servers before and after"

# ---- 2: a removable medium, marked whole; the standard profile ----
mount -t tmpfs -o size=8m mamori-stick "$tmp/stick"
start_driver --proc --fanotify --removable "$tmp/stick={\"serial\":\"MAMORI-TEST-1\"}" || finish
(cd "$tmp" && exec "$tmp/mamori-sleep" 0.5) &
spid=$!
echo data >"$tmp/stick/copy.txt"
mkdir "$tmp/stick/dir"
echo more >"$tmp/stick/dir/deep.txt"
wait "$spid"
stop_driver
w=$(events file.write ".path == \"$tmp/stick/copy.txt\"")
ok $? "file.write for a file written on a removable medium"
[ "$(jq -r .removable <<<"$w")" = true ] && [ "$(jq -r .mount <<<"$w")" = "$tmp/stick" ] &&
	[ "$(jq -r .device.serial <<<"$w")" = MAMORI-TEST-1 ]
ok $? "  marked removable, with its mount and device"
has file.write ".path == \"$tmp/stick/dir/deep.txt\" and .removable == true"
ok $? "  in any directory of it"
p=$(events process.start ".pid == $spid")
[ -n "$p" ] && [ "$(jq -r .cmdline <<<"$p")" = null ] && [ "$(jq -r .sha256 <<<"$p")" = "$exe_sum" ]
ok $? "the standard profile records processes with their hash, without command lines"

# ---- 3: the same medium directory by directory (as on exFAT), then unmounted ----
mkdir "$tmp/stick/old"
start_driver --fanotify --refuse-fs-marks --removable "$tmp/stick" || finish
echo a >"$tmp/stick/old/in-old.txt"
mkdir "$tmp/stick/new"
echo b >"$tmp/stick/new/in-new.txt"
sleep 0.5 # the monitor reads its events before the file system goes away
umount "$tmp/stick"
ok $? "a watched medium can be unmounted (the monitor holds nothing open on it)"
stop_driver
has file.write ".path == \"$tmp/stick/old/in-old.txt\" and .removable == true"
ok $? "tree marks: a file in a directory that existed"
has file.write ".path == \"$tmp/stick/new/in-new.txt\" and .removable == true"
ok $? "tree marks: a file in a directory made while watched"

# ---- 4: renames from MOVED_FROM and MOVED_TO (kernels before 5.17) ----
start_driver --fanotify --no-rename --policy "$tmp/policy.json" || finish
echo r >"$tmp/watched/r1.txt"
mv "$tmp/watched/r1.txt" "$tmp/watched/r2.txt"
mv "$tmp/watched/r2.txt" "$tmp/outside/r3.txt"
stop_driver
r=$(events file.rename ".from == \"$tmp/watched/r1.txt\"")
[ "$(jq -r .to <<<"$r")" = "$tmp/watched/r2.txt" ] &&
	jq -e '(.ops | index("moved_from")) and (.ops | index("moved_to"))' <<<"$r" >/dev/null
ok $? "a MOVED_FROM and its MOVED_TO are one file.rename"
has file.rename ".from == \"$tmp/watched/r2.txt\" and .to == null"
ok $? "a move out of the watched folder names where it came from"

finish
