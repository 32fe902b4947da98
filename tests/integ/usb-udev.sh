#!/usr/bin/env bash
# The udev rule's helper (mamori-usb-enforce --udev-block, dist/udev/72-mamori-usb.rules)
# against a real disk: a loop device with a partition stands in for a USB stick's disk,
# under a temporary sysfs tree laid out as the kernel lays out a USB disk. Marked
# read-only by the enforcer, the disk and its partition become read-only before anything
# could mount them (blockdev --getro says so, a write is refused); unmarked, or marked for
# another device at the same port, nothing changes.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd losetup sfdisk partx blockdev
HELPER=$BUILD/agent/mamori-usb-enforce

tmp=$(mktemp -d)
loop=
cleanup() {
	if [ -n "$loop" ]; then
		# the read-only flag outlives losetup -d: the next user would get a read-only loop
		blockdev --setrw "$loop" "$loop"p1 2>/dev/null
		losetup -d "$loop"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

truncate -s 16M "$tmp/disk.img"
printf 'label: dos\n,8M\n' | sfdisk -q "$tmp/disk.img" || skip_all "sfdisk failed"
loop=$(losetup -fP --show "$tmp/disk.img" 2>/dev/null) || skip_all "no free loop device"
part=${loop}p1
[ -b "$part" ] || partx -u "$loop" 2>/dev/null
for _ in 1 2 3 4 5; do [ -b "$part" ] && break; sleep 0.2; done
[ -b "$part" ] || skip_all "the loop device shows no partition"
devno() { # node → "major minor" in decimal
	local mm
	mm=$(stat -L -c '%t %T' "$1")
	printf '%d %d' "0x${mm% *}" "0x${mm#* }"
}
read -r dmaj dmin <<<"$(devno "$loop")"
read -r pmaj pmin <<<"$(devno "$part")"

r=$tmp/root
usb=/devices/pci0000:00/0000:00:14.0/usb2/2-1
disk=$usb/2-1:1.0/host7/target7:0:0/7:0:0:0/block/sdx
mkdir -p "$r/sys$disk/sdx1" "$r/dev" "$r/run/mamori/usb-ro"
printf 'MAJOR=%s\nMINOR=%s\nDEVNAME=sdx\nDEVTYPE=disk\n' "$dmaj" "$dmin" >"$r/sys$disk/uevent"
printf 'MAJOR=%s\nMINOR=%s\nDEVNAME=sdx1\nDEVTYPE=partition\nPARTN=1\n' "$pmaj" "$pmin" \
	>"$r/sys$disk/sdx1/uevent"
mknod "$r/dev/sdx" b "$dmaj" "$dmin"
mknod "$r/dev/sdx1" b "$pmaj" "$pmin"
run() { "$HELPER" --udev-block "$1" --root "$r" --sys-root "$r" --dev-root "$r"; }

out=$(run "$disk/sdx1")
ok $? "the helper runs for an unmarked device"
[ -z "$out" ] && [ "$(blockdev --getro "$loop")" = 0 ]
ok $? "and leaves it writable"

printf '%s' "/devices/pci0000:00/0000:00:14.0/usb9/2-1" >"$r/run/mamori/usb-ro/2-1"
out=$(run "$disk/sdx1")
[ -z "$out" ] && [ "$(blockdev --getro "$loop")" = 0 ]
ok $? "a marker for another device at the same bus path does not count"

printf '%s' "$usb" >"$r/run/mamori/usb-ro/2-1"
out=$(run "$disk/sdx1")
ok $? "the helper runs for a marked device's partition"
[ "$out" = "MAMORI_USB_READONLY=1" ]
ok $? "and tells the rule to take write permission ($out)"
[ "$(blockdev --getro "$part")" = 1 ] && [ "$(blockdev --getro "$loop")" = 1 ]
ok $? "the partition and its disk are read-only"
! dd if=/dev/zero of="$part" bs=512 count=1 conv=notrunc status=none 2>/dev/null
ok $? "a write to the partition is refused"

blockdev --setrw "$loop" "$part"
mkdir -p "$r/sys$usb/2-1:1.0/host7/target7:0:0/7:0:0:0/scsi_generic/sg4"
printf 'MAJOR=21\nMINOR=4\nDEVNAME=sg4\n' >"$r/sys$usb/2-1:1.0/host7/target7:0:0/7:0:0:0/scsi_generic/sg4/uevent"
out=$(run "$usb/2-1:1.0/host7/target7:0:0/7:0:0:0/scsi_generic/sg4")
[ $? -eq 0 ] && [ "$out" = "MAMORI_USB_READONLY=1" ]
ok $? "an sg node of a marked device only loses write permission (no ioctl on it)"

finish
