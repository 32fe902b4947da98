#!/usr/bin/env bash
# The storage and usb sections of `mamori-agent inventory`: against the laptop, vm and
# broken fixture roots, against damaged copies of the laptop, and against this machine,
# where findmnt, lsblk and /sys/block are the ground truth.
. "$(dirname "$0")/lib.sh"
need_cmd jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# inv ROOT → $tmp/out.json, the agent's exit status in $rc
inv() {
	"$AGENT" inventory --root "$1" >"$tmp/out.json" 2>"$tmp/err.txt"
	rc=$?
}
# q FILTER → jq -r on the last inventory
q() { jq -r "$@" "$tmp/out.json"; }
# is WHAT GOT EXPECTED
is() {
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}

# ---- laptop: NVMe with LUKS2 under LVM, a USB stick, a keyboard, a blocked camera -----
inv "$FIXTURES/laptop"
is "laptop: exit 0" "$rc" 0
is "laptop: / is on an encrypted device" "$(q .storage.root_encrypted)" true
is "laptop: through LVM (dm-1)" "$(q .storage.root_device)" dm-1
is "laptop: /home, not a mount of its own, with it" "$(q .storage.home_encrypted)" true
is "laptop: no storage errors" "$(q '.storage.errors // [] | length')" 0
is "laptop: every /sys/block entry listed" \
	"$(q '[.storage.block_devices[].name] | join(" ")')" "dm-0 dm-1 dm-2 loop0 nvme0n1 sda"
is "laptop: NVMe transport" "$(q '.storage.block_devices[] | select(.name=="nvme0n1") | .transport')" nvme
is "laptop: NVMe model from the controller" \
	"$(q '.storage.block_devices[] | select(.name=="nvme0n1") | .model')" "Samsung SSD 980 PRO 1TB"
is "laptop: NVMe size in bytes" \
	"$(q '.storage.block_devices[] | select(.name=="nvme0n1") | .size_bytes')" 1000204886016
is "laptop: the stick's transport is usb" \
	"$(q '.storage.block_devices[] | select(.name=="sda") | .transport')" usb
is "laptop: the stick is removable" \
	"$(q '.storage.block_devices[] | select(.name=="sda") | .removable')" true
is "laptop: the stick's serial from its USB device" \
	"$(q '.storage.block_devices[] | select(.name=="sda") | .serial')" 4C530001230405117283
is "laptop: the stick's USB bus path" \
	"$(q '.storage.block_devices[] | select(.name=="sda") | .usb_bus_path')" 2-1
is "laptop: SCSI vendor padding trimmed" \
	"$(q '.storage.block_devices[] | select(.name=="sda") | .vendor')" SanDisk
is "laptop: dm-0 is the crypt mapping" \
	"$(q '.storage.block_devices[] | select(.name=="dm-0") | .dm_name')" nvme0n1p3_crypt
is "laptop: dm-1 sits on dm-0" \
	"$(q '.storage.block_devices[] | select(.name=="dm-1") | .slaves | join(",")')" dm-0
is "laptop: partitions" "$(q '[.storage.partitions[].name] | join(" ")')" \
	"nvme0n1p1 nvme0n1p2 nvme0n1p3 sda1"
is "laptop: partition start sector" \
	"$(q '.storage.partitions[] | select(.name=="nvme0n1p2") | .start_sector')" 1050624
is "laptop: partition parent and number" \
	"$(q '.storage.partitions[] | select(.name=="nvme0n1p3") | "\(.parent) \(.number)"')" "nvme0n1 3"
is "laptop: LUKS header read from the partition" \
	"$(q '.storage.partitions[] | select(.name=="nvme0n1p3") | .content')" crypto_LUKS
is "laptop: FAT file system on the stick" \
	"$(q '.storage.partitions[] | select(.name=="sda1") | .content')" vfat
is "laptop: ext4 inside LVM" "$(q '.storage.block_devices[] | select(.name=="dm-1") | .content')" ext4
is "laptop: one encrypted volume" "$(q '.storage.encrypted_volumes | length')" 1
vol='.storage.encrypted_volumes[] | select(.device=="nvme0n1p3")'
is "laptop: LUKS version 2" "$(q "$vol | .version")" 2
is "laptop: LUKS UUID from the header" "$(q "$vol | .uuid")" 6a1e3f2c-8d4b-4f7a-9c21-5b3e7d9a0f14
is "laptop: checksum algorithm" "$(q "$vol | .checksum_algorithm")" sha256
is "laptop: the volume is open" "$(q "$vol | .open")" true
is "laptop: as nvme0n1p3_crypt on dm-0" "$(q "$vol | \"\(.mapping) \(.mapping_device)\"")" \
	"nvme0n1p3_crypt dm-0"
is "laptop: header without its JSON area: checksum unknown, not wrong" \
	"$(q "$vol | .checksum_valid")" null
is "laptop: mount point with \\040 decoded" \
	"$(q '.storage.mounts[] | select(.source=="/dev/sda1") | .mount_point')" "/media/taro/SANDISK USB"
is "laptop: mounts" "$(q '.storage.mounts | length')" 11
is "laptop: / from the mapper device" \
	"$(q '.storage.mounts[] | select(.mount_point=="/") | "\(.source) \(.fstype) \(.major_minor)"')" \
	"/dev/mapper/vg-root ext4 254:1"
kbd='.usb.devices[] | select(.vendor_id=="046d" and .product_id=="c31c")'
stick='.usb.devices[] | select(.vendor_id=="0781")'
cam='.usb.devices[] | select(.vendor_id=="04a9")'
is "laptop: five USB devices with the root hubs" "$(q '.usb.devices | length')" 5
is "laptop: the keyboard is hid" "$(q "$kbd | .kind")" hid
is "laptop: low speed 1.5 Mbit/s" "$(q "$kbd | .speed")" 1.5
is "laptop: its two interfaces with their driver" \
	"$(q "[$kbd | .interfaces[] | \"\(.number):\(.class):\(.driver)\"] | join(\" \")")" \
	"0:03:usbhid 1:03:usbhid"
is "laptop: the stick is mass_storage" "$(q "$stick | .kind")" mass_storage
is "laptop: the stick's serial" "$(q "$stick | .serial")" 4C530001230405117283
is "laptop: the stick's product, trimmed" "$(q "$stick | \"\(.manufacturer)/\(.product)\"")" \
	"SanDisk/Ultra Fit"
is "laptop: the stick's interface 08/06/50" \
	"$(q "$stick | .interfaces[0] | \"\(.class)/\(.subclass)/\(.protocol)\"")" "08/06/50"
is "laptop: the stick is authorised and removable" \
	"$(q "$stick | \"\(.authorized) \(.removable)\"")" "true true"
is "laptop: the blocked camera is not authorised" "$(q "$cam | .authorized")" false
is "laptop: its interface read from the descriptors" \
	"$(q "$cam | .interfaces[0] | \"\(.class) \(.driver)\"")" "06 null"
is "laptop: so it still shows as phone_or_camera" "$(q "$cam | .kind")" phone_or_camera
is "laptop: root hubs are hubs" "$(q '[.usb.devices[] | select(.bus_path|startswith("usb")) | .kind] | unique | join(",")')" hub
is "laptop: no usb errors" "$(q '.usb.errors // [] | length')" 0

# ---- vm: one virtio disk, nothing encrypted, no USB ------------------------------------
inv "$FIXTURES/vm"
is "vm: exit 0" "$rc" 0
is "vm: / is not encrypted" "$(q .storage.root_encrypted)" false
is "vm: / on vda1" "$(q .storage.root_device)" vda1
is "vm: virtio transport" "$(q '.storage.block_devices[0] | "\(.name) \(.transport)"')" "vda virtio"
is "vm: no encrypted volumes" "$(q '.storage.encrypted_volumes | length')" 0
is "vm: no storage errors" "$(q '.storage.errors // [] | length')" 0
is "vm: no USB bus" "$(q '"\(.usb.available) \(.usb.devices | length)"')" "false 0"
is "vm: a kernel without USB is no error" "$(q '.usb.errors // [] | length')" 0

# ---- broken: everything wrong at once, still an inventory ------------------------------
inv "$FIXTURES/broken"
is "broken: exit 0" "$rc" 0
grep -q -i -E 'sanitizer|runtime error' "$tmp/err.txt"
ok $((!$?)) "broken: no sanitizer report"
q '.storage.errors[] | "\(.source): \(.message)"' >"$tmp/errors.txt"
grep -q '^/sys/block/sdx: dangling link' "$tmp/errors.txt"
ok $? "broken: dangling /sys/block link reported"
grep -q '^/dev/sdb: truncated or malformed LUKS header' "$tmp/errors.txt"
ok $? "broken: truncated LUKS header reported"
grep -q '^/proc/self/mountinfo: 7 malformed lines skipped' "$tmp/errors.txt"
ok $? "broken: garbage mountinfo lines counted"
grep -q 'sdb/ro: Is a directory' "$tmp/errors.txt"
ok $? "broken: a directory where an attribute should be is reported"
grep -q 'size: not a number' "$tmp/errors.txt"
ok $? "broken: a garbage size is reported"
grep -q 'dm-3: dm-crypt mapping without a backing device' "$tmp/errors.txt"
ok $? "broken: a crypt mapping without slaves is reported"
is "broken: the readable disk is still listed" \
	"$(q '.storage.block_devices[] | select(.name=="sdb") | .transport')" sata
is "broken: with its size unknown" "$(q '.storage.block_devices[] | select(.name=="sdb") | .size_bytes')" null
is "broken: the well-formed mounts kept" "$(q '[.storage.mounts[].mount_point] | join(" ")')" \
	'/ /mnt/caf\xe9'
is "broken: / on a plain disk" "$(q .storage.root_encrypted)" false
q '.usb.errors[] | "\(.source): \(.message)"' >"$tmp/usb-errors.txt"
grep -q '3-1: dangling link' "$tmp/usb-errors.txt"
ok $? "broken: dangling USB device link reported"
grep -q 'idVendor: expected 4 hex digits' "$tmp/usb-errors.txt"
ok $? "broken: a garbage vendor id reported"
grep -q 'descriptors: malformed USB descriptors' "$tmp/usb-errors.txt"
ok $? "broken: garbage descriptors reported"
is "broken: the garbage device listed anyway" "$(q '.usb.devices[0] | "\(.bus_path) \(.vendor_id) \(.kind)"')" \
	"3-2 null other"
is "broken: a control byte in a USB string escaped" "$(q '.usb.devices[0].manufacturer')" 'Bad\x01Vendor'

# ---- damaged copies of the laptop ------------------------------------------------------
cp -a "$FIXTURES/laptop" "$tmp/lap"
nvme=$tmp/lap/sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1
rm "$nvme/size"
mkdir "$nvme/size" # unreadable for root as for anyone
rm "$tmp/lap/dev/nvme0n1p3"
if [ "$(id -u)" -eq 0 ]; then
	rm "$tmp/lap/dev/sda1"
	mkfifo "$tmp/lap/dev/sda1" # must neither hang nor be read
else
	chmod 000 "$tmp/lap/dev/sda1"
fi
timeout 20 "$AGENT" inventory --root "$tmp/lap" >"$tmp/out.json" 2>"$tmp/err.txt"
rc=$?
is "damaged laptop: exit 0, no hang" "$rc" 0
is "damaged laptop: the disk is still listed" \
	"$(q '.storage.block_devices[] | select(.name=="nvme0n1") | "\(.size_bytes) \(.model)"')" \
	"null Samsung SSD 980 PRO 1TB"
q '.storage.errors[] | "\(.source): \(.message)"' >"$tmp/errors.txt"
grep -q 'nvme0n1/size: Is a directory' "$tmp/errors.txt"
ok $? "damaged laptop: the unreadable size is reported"
grep -q '^/dev/sda1: ' "$tmp/errors.txt" || grep -q '^/dev: 1 block device files not readable' "$tmp/errors.txt"
ok $? "damaged laptop: the unreadable device file is reported"
is "damaged laptop: the open mapping still names the volume" \
	"$(q '.storage.encrypted_volumes[0] | "\(.device) \(.version) \(.uuid) \(.open)"')" \
	"nvme0n1p3 2 6a1e3f2c-8d4b-4f7a-9c21-5b3e7d9a0f14 true"
is "damaged laptop: / still known to be encrypted" "$(q .storage.root_encrypted)" true

# a second, unencrypted PV in the volume group: / is no longer wholly encrypted
mkdir -p "$tmp/lap/sys/devices/virtual/block/dm-1/slaves"
ln -s ../../../../pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block/sda/sda1 \
	"$tmp/lap/sys/devices/virtual/block/dm-1/slaves/sda1"
inv "$tmp/lap"
is "laptop with a plain PV under /: root_encrypted false" "$(q .storage.root_encrypted)" false
# / on something that is no block device
sed -i 's|^28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root|28 1 0:99 / / rw,relatime shared:1 - overlay overlay|' \
	"$tmp/lap/proc/self/mountinfo"
inv "$tmp/lap"
is "laptop with an overlay /: root_encrypted unknown" "$(q .storage.root_encrypted)" null

# ---- this machine ----------------------------------------------------------------------
"$AGENT" inventory >"$tmp/out.json" 2>"$tmp/err.txt"
is "this machine: exit 0" "$?" 0

# Mounts against findmnt, as a multiset of (target, source, fstype). findmnt writes the
# source of a bind or subvolume mount as "source[/root]" — the file system root inside the
# source — which mountinfo keeps in a field of its own (our "root"); that suffix is dropped
# before comparing, and our root compared separately below.
if command -v findmnt >/dev/null; then
	findmnt -J -l -o TARGET,SOURCE,FSTYPE |
		jq -r '.filesystems[] | "\(.target)\t\(.source | sub("\\[[^\\]]*\\]$"; ""))\t\(.fstype)"' |
		sort >"$tmp/findmnt.txt"
	q '.storage.mounts[] | "\(.mount_point)\t\(.source)\t\(.fstype)"' | sort >"$tmp/ours.txt"
	diff "$tmp/findmnt.txt" "$tmp/ours.txt" >"$tmp/mounts.diff"
	s=$?
	[ $s -eq 0 ] || sed 's/^/# /' "$tmp/mounts.diff"
	ok $s "this machine: mounts equal findmnt's ($(wc -l <"$tmp/ours.txt") mounts)"
	findmnt -J -l -o TARGET,SOURCE |
		jq -r '.filesystems[] | select(.source | test("\\[.*\\]$")) |
			"\(.target)\t\(.source | capture("\\[(?<r>.*)\\]$").r)"' | sort >"$tmp/findmnt-roots.txt"
	q '.storage.mounts[] | select(.root != "/") | "\(.mount_point)\t\(.root)"' | sort >"$tmp/our-roots.txt"
	diff -q "$tmp/findmnt-roots.txt" "$tmp/our-roots.txt" >/dev/null
	ok $? "this machine: bind-mount roots equal findmnt's [subpaths] ($(wc -l <"$tmp/our-roots.txt"))"
else
	diag "findmnt missing: mounts not compared"
fi

# Block devices: exactly /sys/block, and lsblk -a agrees (lsblk hides nothing with -a
# but never lists what /sys/block does not).
ls /sys/block | sort >"$tmp/sysblock.txt"
q '.storage.block_devices[].name' | sort >"$tmp/ours.txt"
diff -q "$tmp/sysblock.txt" "$tmp/ours.txt" >/dev/null
ok $? "this machine: block devices equal /sys/block ($(wc -l <"$tmp/ours.txt"))"
if command -v lsblk >/dev/null; then
	lsblk -J -d -a -o NAME | jq -r '.blockdevices[].name' | sort >"$tmp/lsblk.txt"
	comm -23 "$tmp/lsblk.txt" "$tmp/ours.txt" >"$tmp/missing.txt"
	[ ! -s "$tmp/missing.txt" ]
	ok $? "this machine: every disk lsblk lists is in the inventory"
fi
for dev in $(q '.storage.block_devices[] | select(.size_bytes > 0) | .name'); do
	want=$(($(cat "/sys/block/$dev/size") * 512))
	is "this machine: $dev size" "$(q ".storage.block_devices[] | select(.name==\"$dev\") | .size_bytes")" "$want"
done

# root_encrypted against lsblk's view of what / sits on: a "crypt" anywhere below
rootsrc=$(findmnt -n -o SOURCE / 2>/dev/null | sed 's/\[.*\]$//')
if [ -b "$rootsrc" ] && command -v lsblk >/dev/null; then
	if lsblk -s -n -o TYPE "$rootsrc" | grep -qw crypt; then want=true; else want=false; fi
	is "this machine: root_encrypted as lsblk -s sees it ($rootsrc)" "$(q .storage.root_encrypted)" "$want"
else
	is "this machine: / on no block device: root_encrypted unknown" "$(q .storage.root_encrypted)" null
fi

# Content of readable block devices against blkid -p, where blkid names a type we probe.
checked=0
for dev in $(q '.storage.block_devices[].name, .storage.partitions[].name'); do
	head -c 1 "/dev/$dev" >/dev/null 2>&1 || continue
	want=$(blkid -p -o value -s TYPE "/dev/$dev" 2>/dev/null)
	case "$want" in crypto_LUKS | LVM2_member | swap | xfs | ext2 | ext3 | ext4 | vfat | ntfs | exfat) ;; *) continue ;; esac
	got=$(q "(.storage.block_devices + .storage.partitions)[] | select(.name==\"$dev\") | .content")
	is "this machine: /dev/$dev content as blkid -p says" "$got" "$want"
	checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || diag "no readable block device with a known type here (device files refused)"

# USB: every device entry of /sys/bus/usb/devices, or none when the kernel has no USB
if [ -d /sys/bus/usb/devices ]; then
	want=$(ls /sys/bus/usb/devices | grep -vc :)
	is "this machine: USB devices equal /sys/bus/usb/devices" "$(q '.usb.devices | length')" "$want"
else
	is "this machine: no USB bus, none reported" "$(q '"\(.usb.available) \(.usb.devices | length)"')" "false 0"
fi
finish
