#!/usr/bin/env bash
# The identity, os, cpu and memory sections on the fixture roots (tests/fixtures/README.md):
# a ThinkPad, a QEMU guest and a damaged tree; an empty root and an unreadable one.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
trap 'chmod -R u+rwX "$tmp"; rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # others (nobody) must reach the copies made below

# run TREE: the agent's JSON in $out, its stderr in $err, its status in $rc
run() {
	out=$("$AGENT" inventory --root "$1" 2>"$tmp/stderr"); rc=$?
	err=$(cat "$tmp/stderr")
}
j() { jq -r "$1" <<<"$out"; }
four_sections_errors='[.identity, .os, .cpu, .memory | .errors // empty | .[]] | length'

links=$(find "$FIXTURES" -type l -lname '/*')
[ -z "$links" ]; ok $? "every symlink in the fixtures is relative"
[ -z "$links" ] || diag "absolute: $links"

# --- laptop ---
run "$FIXTURES/laptop"
ok $rc "laptop: exit 0"
[ -z "$err" ]; ok $? "laptop: nothing on stderr"
[ "$(j .identity.chassis)" = laptop ]; ok $? "laptop: chassis laptop"
[ "$(j .identity.dmi.system_vendor)" = LENOVO ]; ok $? "laptop: vendor LENOVO"
[ "$(j .identity.dmi.product_name)" = 20XWCTO1WW ]; ok $? "laptop: product 20XWCTO1WW"
[ "$(j .identity.dmi.product_version)" = "ThinkPad X1 Carbon Gen 9" ]; ok $? "laptop: model name"
[ "$(j .identity.dmi.serial)" = PF2XK7QM ]; ok $? "laptop: serial PF2XK7QM"
[ "$(j .identity.dmi.uuid)" = 4c4c4544-0031-3410-8057-b4c04f4d3233 ]; ok $? "laptop: UUID"
[ "$(j .identity.dmi.chassis_type_code)" = 10 ]; ok $? "laptop: chassis type code 10"
[ "$(j .identity.virtualization)" = null ]; ok $? "laptop: not virtualised"
[ "$(j .identity.hostname)" = tanaka-x1 ]; ok $? "laptop: hostname"
[ "$(j .identity.machine_id)" = "$(cat "$FIXTURES/laptop/etc/machine-id")" ]; ok $? "laptop: machine-id"
[ "$(j .os.id)" = debian ] && [ "$(j .os.version_id)" = 12 ]; ok $? "laptop: os debian 12"
[ "$(j .os.version_codename)" = bookworm ]; ok $? "laptop: bookworm (through the relative etc/os-release link)"
[ "$(j .os.kernel_release)" = 6.1.0-18-amd64 ]; ok $? "laptop: kernel 6.1.0-18-amd64"
[ "$(j .os.boot_time)" = 1717390800 ]; ok $? "laptop: boot time from btime"
[ "$(j .cpu.sockets)/$(j .cpu.cores)/$(j .cpu.threads)" = 1/4/8 ]
ok $? "laptop: cpu 1 socket, 4 cores, 8 threads ($(j .cpu.sockets)/$(j .cpu.cores)/$(j .cpu.threads))"
[ "$(j .cpu.hypervisor_flag)" = false ]; ok $? "laptop: no hypervisor flag"
[ "$(j .memory.total_bytes)" = $((16006432 * 1024)) ]; ok $? "laptop: memory 16006432 kB"
[ "$(j .memory.swap_total_bytes)" = $((1000444 * 1024)) ]; ok $? "laptop: swap 1000444 kB"
[ "$(j "$four_sections_errors")" = 0 ]; ok $? "laptop: no errors in identity, os, cpu, memory"

"$AGENT" inventory --root "$FIXTURES/laptop" --format text >"$tmp/text" 2>&1
ok $? "laptop: text format exits 0"
grep -q '^ *serial: PF2XK7QM$' "$tmp/text"; ok $? "laptop: text format shows the serial"

# --- vm: QEMU's DMI cannot tell KVM from TCG, so "qemu" (docs/inventory.md) ---
run "$FIXTURES/vm"
ok $rc "vm: exit 0"
[ "$(j .identity.chassis)" = vm ]; ok $? "vm: chassis vm"
[ "$(j .identity.virtualization)" = qemu ]; ok $? "vm: virtualization qemu"
[ "$(j .identity.dmi.chassis_type_code)" = 1 ]; ok $? "vm: chassis type code 1 kept"
[ "$(j .identity.dmi.serial)" = null ]; ok $? "vm: no serial"
[ "$(j .cpu.threads)" = 2 ] && [ "$(j .cpu.hypervisor_flag)" = true ]; ok $? "vm: 2 vCPUs, hypervisor flag"
[ "$(j .memory.swap_total_bytes)" = 0 ]; ok $? "vm: no swap"
[ "$(j "$four_sections_errors")" = 0 ]; ok $? "vm: no errors in identity, os, cpu, memory"

# --- broken: every section has errors and what was readable; never a crash ---
run "$FIXTURES/broken"
ok $rc "broken: exit 0 (partial results are results)"
grep -q -e Sanitizer -e 'runtime error' <<<"$err"; ok $(( ! $? )) "broken: no sanitizer report"
for s in identity os cpu memory; do
	[ "$(j ".$s.errors | length")" -gt 0 ]; ok $? "broken: $s has errors"
done
[ "$(j .os.id)" = debian ]; ok $? "broken: os.id from the readable first line of os-release"
[ "$(j .os.kernel_name)" = Linux ]; ok $? "broken: os.kernel_name still read"
j '.os.errors[].source' | grep -qx /etc/os-release; ok $? "broken: os-release's junk is reported"
[ "$(j .cpu.threads)" = 2 ]; ok $? "broken: cpu threads counted up to the truncation"
j '.cpu.errors[].message' | grep -q truncated; ok $? "broken: the truncation is reported"
[ "$(j .memory.available_bytes)" = $((1412008 * 1024)) ]; ok $? "broken: memory.available_bytes without MemTotal"
[ "$(j .memory.total_bytes)" = null ]; ok $? "broken: no total invented"
[ "$(j .identity.dmi.product_name)" = "ThinkPad T14 Gen 3" ]; ok $? "broken: the readable DMI string"
j '.identity.errors[].message' | grep -q dangling; ok $? "broken: the dangling DMI link is reported"
j '.identity.errors[].source' | grep -qx /etc/hostname; ok $? "broken: a directory as /etc/hostname is reported"
"$AGENT" inventory --root "$FIXTURES/broken" --format text >/dev/null 2>&1
ok $? "broken: text format exits 0"

# --- an empty root: nothing readable is a failure, but not bad use ---
mkdir "$tmp/empty"
run "$tmp/empty"
[ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; ok $? "empty root: exits non-zero but not 2 (got $rc)"
grep -q "nothing could be read" <<<"$err"; ok $? "empty root: says nothing could be read"
[ "$(jq -r .schema <<<"$out")" = 1 ]; ok $? "empty root: still prints a document"

# --- unreadable files and an unreadable root, as an unprivileged user ---
# root reads whatever the mode bits say, so as root the agent runs as nobody
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	if command -v setpriv >/dev/null; then
		as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		as_user=(runuser -u nobody --)
	fi
fi
# a copy nobody can reach, wherever the build tree is (CI clones into private folders)
cp "$AGENT" "$tmp/mamori-agent"
chmod 755 "$tmp/mamori-agent"
AGENT=$tmp/mamori-agent
cp -a "$FIXTURES/laptop" "$tmp/laptop"
chmod -R a+rX "$tmp/laptop"
chmod 000 "$tmp/laptop/etc/machine-id"
chmod 400 "$tmp/laptop/sys/devices/virtual/dmi/id/product_serial"
out=$("${as_user[@]}" "$AGENT" inventory --root "$tmp/laptop" 2>/dev/null); rc=$?
ok $rc "laptop with unreadable files, unprivileged: exit 0"
j '.identity.errors[] | select(.source == "/etc/machine-id") | .message' | grep -q "Permission denied"
ok $? "an unreadable machine-id is reported as such"
j '.identity.errors[] | select(.source == "/sys/class/dmi/id/product_serial") | .message' |
	grep -q "root only"
ok $? "a root-only DMI serial is reported as readable by root only"
[ "$(j .identity.dmi.serial)" = null ] && [ "$(j .identity.dmi.system_vendor)" = LENOVO ]
ok $? "the rest of DMI is still there"
[ "$(j .cpu.threads)" = 8 ]; ok $? "and the other sections too"

mkdir "$tmp/locked"
cp -a "$FIXTURES/laptop/." "$tmp/locked/"
chmod 000 "$tmp/locked"
"${as_user[@]}" "$AGENT" inventory --root "$tmp/locked" >"$tmp/stdout" 2>"$tmp/stderr"; rc=$?
[ "$rc" -eq 2 ]; ok $? "unreadable root: exit 2 (got $rc)"
[ "$(wc -l <"$tmp/stderr")" -eq 1 ]; ok $? "unreadable root: one line on stderr"
grep -q "$tmp/locked" "$tmp/stderr" && grep -q "Permission denied" "$tmp/stderr"
ok $? "unreadable root: naming the directory and the reason"
[ ! -s "$tmp/stdout" ]; ok $? "unreadable root: nothing on stdout"
chmod 755 "$tmp/locked"
finish
