#!/usr/bin/env bash
# The identity, os, cpu and memory sections of this machine's inventory agree with what
# the system's own tools and files say (testing-notes.md: inventory ground truth).
. "$(dirname "$0")/lib.sh"
need_cmd jq getconf uname

out=$("$AGENT" inventory --format json 2>/dev/null); rc=$?
ok $rc "the inventory of this machine succeeds"
j() { jq -r "$1" <<<"$out"; }

# --- cpu ---
# /proc/cpuinfo lists the online processors. `nproc` counts only those this process may
# run on (its affinity mask and OMP_NUM_THREADS), and `nproc --all` counts the configured
# ones, offline included; so the ground truth is _NPROCESSORS_ONLN, and nproc is a floor.
online=$(getconf _NPROCESSORS_ONLN)
threads=$(j .cpu.threads)
[ "$threads" = "$online" ]; ok $? "cpu.threads ($threads) == getconf _NPROCESSORS_ONLN ($online)"
if [ "$(nproc)" != "$online" ] || [ "$(nproc --all)" != "$online" ]; then
	diag "nproc=$(nproc) (affinity), nproc --all=$(nproc --all) (configured), online=$online"
fi
[ "$threads" -ge "$(nproc)" ]; ok $? "cpu.threads >= nproc (the affinity mask is a subset)"
if command -v taskset >/dev/null && [ "$online" -gt 1 ]; then
	pinned=$(taskset -c 0 "$AGENT" inventory 2>/dev/null | jq -r .cpu.threads)
	[ "$pinned" = "$online" ]
	ok $? "pinned to one CPU (where nproc says $(taskset -c 0 nproc)), cpu.threads is still $online"
fi
if command -v lscpu >/dev/null; then
	# lscpu reads the topology from sysfs, not from cpuinfo: an independent witness
	topo=$(lscpu -p=SOCKET,CORE | grep -v '^#')
	sockets=$(cut -d, -f1 <<<"$topo" | sort -u | wc -l)
	cores=$(sort -u <<<"$topo" | wc -l)
	[ "$(j .cpu.sockets)" = "$sockets" ]; ok $? "cpu.sockets ($(j .cpu.sockets)) == lscpu ($sockets)"
	[ "$(j .cpu.cores)" = "$cores" ]; ok $? "cpu.cores ($(j .cpu.cores)) == lscpu ($cores)"
fi
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
if [ -n "$model" ]; then
	[ "$(j .cpu.model)" = "$model" ]; ok $? "cpu.model is the first model name"
fi

# --- memory ---
kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
[ "$(j .memory.total_bytes)" = "$(($(kb MemTotal) * 1024))" ]
ok $? "memory.total_bytes == MemTotal * 1024 ($(kb MemTotal) kB)"
[ "$(j .memory.swap_total_bytes)" = "$(($(kb SwapTotal) * 1024))" ]
ok $? "memory.swap_total_bytes == SwapTotal * 1024 ($(kb SwapTotal) kB)"
avail=$(j .memory.available_bytes)
[ "$avail" -gt 0 ] && [ "$avail" -le "$(j .memory.total_bytes)" ]
ok $? "0 < memory.available_bytes <= total_bytes"

# --- os: /etc/os-release as the shell reads it, which is what its format is defined as ---
osr=/etc/os-release
[ -e $osr ] || osr=/usr/lib/os-release
for pair in ID:id ID_LIKE:id_like NAME:name PRETTY_NAME:pretty_name VERSION:version \
	VERSION_ID:version_id VERSION_CODENAME:version_codename BUILD_ID:build_id \
	VARIANT_ID:variant_id; do
	key=${pair%%:*} field=${pair#*:}
	want=$( . "$osr"; eval "printf '%s' \"\${$key-}\"")
	got=$(jq -r ".os.$field // empty" <<<"$out")
	[ "$got" = "$want" ]; ok $? "os.$field == $key from $osr ('$want')"
done
[ "$(j .os.kernel_release)" = "$(uname -r)" ]; ok $? "os.kernel_release == uname -r ($(uname -r))"
[ "$(j .os.kernel_name)" = "$(uname -s)" ]; ok $? "os.kernel_name == uname -s"
[ "$(j .os.architecture)" = "$(uname -m)" ]; ok $? "os.architecture == uname -m"
btime=$(awk '$1 == "btime" { print $2 }' /proc/stat)
[ "$(j .os.boot_time)" = "$btime" ]; ok $? "os.boot_time == btime of /proc/stat ($btime)"

# --- identity ---
[ "$(j .identity.machine_id)" = "$(cat /etc/machine-id)" ]; ok $? "identity.machine_id == /etc/machine-id"
[ "$(j .identity.hostname)" = "$(uname -n)" ]; ok $? "identity.hostname == uname -n ($(uname -n))"
if [ -r /sys/class/dmi/id/sys_vendor ]; then
	[ "$(j '.identity.dmi_available')" = true ]; ok $? "DMI is available"
	[ "$(j '.identity.dmi.system_vendor // empty')" = "$(cat /sys/class/dmi/id/sys_vendor)" ] ||
		grep -qi -e 'O.E.M' -e 'Default string' -e 'Not Specified' /sys/class/dmi/id/sys_vendor
	ok $? "identity.dmi.system_vendor == sys_vendor (or a placeholder left out)"
else
	[ "$(j '.identity.dmi_available')" = false ]; ok $? "no /sys/class/dmi: dmi_available false"
fi

if [ "$(id -u)" -eq 0 ]; then
	errs=$(jq -c '[.identity, .os, .cpu, .memory | .errors // empty | .[]]' <<<"$out")
	[ "$errs" = "[]" ]; ok $? "as root, no section of these four reports an error"
	[ "$errs" = "[]" ] || diag "errors: $errs"
fi
finish
