#!/usr/bin/env bash
# Runs the USB hot-plug harness (test-usb-hotplug.c) under umockdev-wrapper. As root, three
# loop devices stand in for the disks behind the fake USB sticks and DVD drive (A: a
# read-only stick, B: an allowed stick, C: a DVD), so read-only and file records are
# checked for real; they are detached afterwards. The harness prints TAP itself.
source "$(dirname "$0")/../integ/lib.sh"
need_cmd umockdev-wrapper
harness=$BUILD/tests/usb/test-usb-hotplug
[ -x "$harness" ] || skip_all "built without umockdev (libumockdev-dev)"
export MAMORI_USB_ENFORCE=${MAMORI_USB_ENFORCE_OVERRIDE:-$BUILD/agent/mamori-usb-enforce}
# the sanitizer runtime cannot come first when umockdev is preloaded
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"

work=$(mktemp -d)
export MAMORI_TEST_TMP=$work
loops=()
cleanup() {
	local l m
	# what the harness left mounted (a failed check skips its unmount)
	for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts); do
		umount -l "$m"
	done
	for l in "${loops[@]}"; do
		# the read-only flag outlives losetup -d: the next user would get a read-only loop
		blockdev --setrw "$l" 2>/dev/null
		losetup -d "$l" 2>/dev/null
	done
	[ -n "${audit_was_off:-}" ] && auditctl -e 0 >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null; then
	for x in A B C; do
		truncate -s 32M "$work/$x.img"
		[ "$x" = C ] || mkfs.ext4 -q -F "$work/$x.img" || break
		dev=$(losetup -f --show "$work/$x.img" 2>/dev/null) || break
		loops+=("$dev")
		mm=$(stat -L -c '%t %T' "$dev")
		# shellcheck disable=SC2086
		export "MAMORI_TEST_LOOP_$x=$(printf '%d:%d' 0x${mm% *} 0x${mm#* })"
	done
	# refused writes are recorded through audit; a process is audited only if auditing
	# was on when it started, so it is turned on before the harness (and back off after)
	if command -v auditctl >/dev/null; then
		if auditctl -s 2>/dev/null | grep -q '^enabled 0'; then
			auditctl -e 1 >/dev/null 2>&1 && audit_was_off=1
		fi
		if auditctl -s 2>/dev/null | grep -q '^enabled [12]'; then
			export MAMORI_TEST_AUDIT=1
		fi
	fi
fi
umockdev-wrapper "$harness"
