#!/usr/bin/env bash
# A LUKS2 header made by cryptsetup luksFormat on a plain file is detected — and a LUKS1
# one on a partition — with what cryptsetup and blkid say about them: version, UUID,
# label, cipher, key size. The files stand in for /dev nodes under a temporary root whose
# /sys/block lists them (device-mapper cannot open them on this machine, so the open
# mapping is written into sysfs as the kernel would show it).
. "$(dirname "$0")/lib.sh"
need_cmd cryptsetup jq

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q() { jq -r "$@" "$tmp/out.json"; }
is() {
	[ "$2" = "$3" ]
	local s=$?
	[ $s -eq 0 ] || diag "$1: got '$2', expected '$3'"
	ok $s "$1"
}
# luks_field FILE NAME → the value of "NAME:" in cryptsetup luksDump
luks_field() { cryptsetup luksDump "$1" | sed -n "s/^[[:space:]]*$2:[[:space:]]*//p" | head -1; }

printf 'correct horse battery staple' >"$tmp/key"
truncate -s 32M "$tmp/disk.img" "$tmp/part.img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--label "backup disk" "$tmp/disk.img" "$tmp/key" >"$tmp/cs.log" 2>&1
ok $? "cryptsetup luksFormat --type luks2"
cryptsetup luksFormat --type luks1 --batch-mode --pbkdf-force-iterations 1000 \
	"$tmp/part.img" "$tmp/key" >>"$tmp/cs.log" 2>&1
ok $? "cryptsetup luksFormat --type luks1"
uuid2=$(cryptsetup luksUUID "$tmp/disk.img")
uuid1=$(cryptsetup luksUUID "$tmp/part.img")

# the temporary root: loop7 is the LUKS2 disk, loop7p1 a partition holding LUKS1
r=$tmp/root
dev=$r/sys/devices/virtual/block/loop7
mkdir -p "$r/sys/block" "$r/dev" "$r/proc/self" "$dev/loop7p1" "$dev/queue"
ln -s ../devices/virtual/block/loop7 "$r/sys/block/loop7"
echo $((32 * 1024 * 1024 / 512)) >"$dev/size"
echo 7:7 >"$dev/dev"
echo 0 >"$dev/ro"
echo 0 >"$dev/removable"
echo 1 >"$dev/partition" && mv "$dev/partition" "$dev/loop7p1/partition"
echo 2048 >"$dev/loop7p1/start"
echo 65536 >"$dev/loop7p1/size"
echo 259:9 >"$dev/loop7p1/dev"
ln -s ../../disk.img "$r/dev/loop7"
ln -s ../../part.img "$r/dev/loop7p1"
: >"$r/proc/self/mountinfo"

"$AGENT" inventory --root "$r" >"$tmp/out.json" 2>"$tmp/err.txt"
is "agent exits 0" "$?" 0
v2='.storage.encrypted_volumes[] | select(.device=="loop7")'
v1='.storage.encrypted_volumes[] | select(.device=="loop7p1")'
is "LUKS2: found on the whole disk" "$(q "$v2 | .type")" luks
is "LUKS2: version 2" "$(q "$v2 | .version")" 2
is "LUKS2: UUID equals cryptsetup luksUUID" "$(q "$v2 | .uuid")" "$uuid2"
is "LUKS2: label" "$(q "$v2 | .label")" "backup disk"
is "LUKS2: header checksum verified" "$(q "$v2 | .checksum_valid")" true
is "LUKS2: checksum algorithm" "$(q "$v2 | .checksum_algorithm")" sha256
is "LUKS2: cipher as luksDump shows it" "$(q "$v2 | .cipher")" "$(luks_field "$tmp/disk.img" cipher)"
is "LUKS2: key size as luksDump shows it" "$(q "$v2 | \"\(.key_bits) bits\"")" \
	"$(luks_field "$tmp/disk.img" Key)"
is "LUKS2: PBKDF as luksDump shows it" "$(q "$v2 | .kdf")" "$(luks_field "$tmp/disk.img" PBKDF)"
is "LUKS2: one key slot" "$(q "$v2 | .keyslots")" 1
is "LUKS2: not open" "$(q "$v2 | .open")" false
is "LUKS2: content crypto_LUKS" "$(q '.storage.block_devices[] | select(.name=="loop7") | .content')" \
	crypto_LUKS
is "LUKS1: found on the partition" "$(q "$v1 | .version")" 1
is "LUKS1: UUID equals cryptsetup luksUUID" "$(q "$v1 | .uuid")" "$uuid1"
is "LUKS1: cipher name-mode as luksDump shows it" "$(q "$v1 | .cipher")" \
	"$(luks_field "$tmp/part.img" 'Cipher name')-$(luks_field "$tmp/part.img" 'Cipher mode')"
is "LUKS1: MK bits" "$(q "$v1 | .key_bits")" "$(luks_field "$tmp/part.img" 'MK bits')"
is "LUKS1: one active key slot" "$(q "$v1 | .keyslots")" 1
if command -v blkid >/dev/null; then
	is "LUKS2: blkid -p agrees on the UUID" "$(blkid -p -o value -s UUID "$tmp/disk.img")" \
		"$(q "$v2 | .uuid")"
	is "LUKS2: blkid -p agrees on the label" "$(blkid -p -o value -s LABEL "$tmp/disk.img")" \
		"$(q "$v2 | .label")"
	is "LUKS1: blkid -p agrees on the version" "$(blkid -p -o value -s VERSION "$tmp/part.img")" \
		"$(q "$v1 | .version")"
fi
is "no errors" "$(q '.storage.errors // [] | length')" 0

# A second key slot shows up.
printf 'another key' >"$tmp/key2"
cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$tmp/key" "$tmp/disk.img" "$tmp/key2" >>"$tmp/cs.log" 2>&1
ok $? "cryptsetup luksAddKey"
"$AGENT" inventory --root "$r" >"$tmp/out.json" 2>/dev/null
is "LUKS2: two key slots after luksAddKey" "$(q "$v2 | .keyslots")" 2

# Open the volume the way the kernel would show it, with / inside: root_encrypted.
hex=$(printf '%s' "$uuid2" | tr -d -)
dm=$r/sys/devices/virtual/block/dm-0
mkdir -p "$dm/dm" "$dm/slaves"
ln -s ../devices/virtual/block/dm-0 "$r/sys/block/dm-0"
echo 61440 >"$dm/size"
echo 254:0 >"$dm/dev"
echo backup_crypt >"$dm/dm/name"
echo "CRYPT-LUKS2-$hex-backup_crypt" >"$dm/dm/uuid"
ln -s ../../loop7 "$dm/slaves/loop7"
echo "1 0 254:0 / / rw,relatime - ext4 /dev/mapper/backup_crypt rw" >"$r/proc/self/mountinfo"
"$AGENT" inventory --root "$r" >"$tmp/out.json" 2>/dev/null
is "open mapping: the volume is open" "$(q "$v2 | \"\(.open) \(.mapping) \(.mapping_device)\"")" \
	"true backup_crypt dm-0"
is "open mapping: still one entry for the disk" \
	"$(q '[.storage.encrypted_volumes[] | select(.device=="loop7")] | length')" 1
is "open mapping: / on it is encrypted" "$(q .storage.root_encrypted)" true

# Damage the JSON area: the checksum no longer matches and nothing in it is believed.
printf 'X' | dd of="$tmp/disk.img" bs=1 seek=4200 conv=notrunc status=none
"$AGENT" inventory --root "$r" >"$tmp/out.json" 2>/dev/null
is "damaged LUKS2: checksum_valid false" "$(q "$v2 | .checksum_valid")" false
is "damaged LUKS2: cipher unknown" "$(q "$v2 | .cipher")" null
q '.storage.errors[] | .message' | grep -q 'LUKS2 header checksum does not match'
ok $? "damaged LUKS2: reported as an error"
finish
