/*
 * The storage collector's parsers: mountinfo and its octal escapes, the transport read off
 * a sysfs path, dm-crypt UUIDs, SCSI serial pages and the content probe; and col_json_text,
 * which keeps whatever a device or mount table says valid JSON.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static const char *field(json_t *arr, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(arr, i), key));
}

static void test_unescape(void)
{
	char a[] = "/media/taro/SANDISK\\040USB";
	char b[] = "tab\\011and\\134backslash\\012nl";
	char c[] = "not\\08escape\\4and\\999";
	char d[] = "nul\\000here";
	char e[] = "trailing\\";
	char f[] = "\\303\\251t\\303\\251";

	CHECK_INT(col_storage_unescape(a), 0, "unescape: \\040");
	CHECK_STR(a, "/media/taro/SANDISK USB", "\\040 is a space");
	CHECK_INT(col_storage_unescape(b), 0, "unescape: tab, backslash, newline");
	CHECK_STR(b, "tab\tand\\backslash\nnl", "\\011 \\134 \\012 decoded");
	CHECK_INT(col_storage_unescape(c), 0, "unescape: not escapes");
	CHECK_STR(c, "not\\08escape\\4and\\999", "a backslash without three octal digits stays");
	CHECK_INT(col_storage_unescape(d), -EBADMSG, "\\000 refused: it would cut the path");
	CHECK_INT(col_storage_unescape(e), 0, "a trailing backslash");
	CHECK_STR(e, "trailing\\", "stays");
	CHECK_INT(col_storage_unescape(f), 0, "escaped UTF-8 bytes");
	CHECK_STR(f, "été", "decode to UTF-8");
}

static void test_mountinfo(void)
{
	char text[] =
		"22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
		"28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root "
		"rw,errors=remount-ro\n"
		"40 28 254:1 /srv/data /mnt/bind\\040dir ro,relatime shared:1 master:3 - ext4 "
		"/dev/mapper/vg-root rw\n"
		"junk line\n"
		"41 28 0:50 / /mnt/x rw - tmpfs\n"
		"42 28 0:51 / /mnt/nodash rw shared:1 tmpfs tmpfs rw\n"
		"43 28 0:52 / /mnt/\\000 rw - tmpfs tmpfs rw\n"
		"44 28 0:53 / /mnt/\\377bad rw - tmpfs tmpfs rw\n"
		"\n";
	json_t *m = json_array();

	CHECK_INT(col_storage_parse_mountinfo(text, m), 4, "mountinfo: 4 malformed lines counted");
	CHECK_INT(json_array_size(m), 4, "4 mounts kept");
	CHECK_STR(field(m, 0, "mount_point"), "/sys", "first mount point");
	CHECK_STR(field(m, 1, "source"), "/dev/mapper/vg-root", "source after the separator");
	CHECK_STR(field(m, 1, "fstype"), "ext4", "fstype");
	CHECK_STR(field(m, 1, "major_minor"), "254:1", "major:minor");
	CHECK_STR(field(m, 1, "super_options"), "rw,errors=remount-ro", "super options");
	CHECK_STR(field(m, 2, "mount_point"), "/mnt/bind dir", "escaped mount point decoded");
	CHECK_STR(field(m, 2, "root"), "/srv/data", "bind mount root");
	CHECK_STR(field(m, 2, "options"), "ro,relatime", "per-mount options");
	CHECK(json_is_true(json_object_get(json_array_get(m, 2), "read_only")),
	      "ro mount is read_only");
	CHECK(json_is_false(json_object_get(json_array_get(m, 1), "read_only")),
	      "rw mount is not read_only");
	CHECK_STR(field(m, 3, "mount_point"), "/mnt/\\xffbad", "a byte that is not UTF-8 is \\xNN");
	json_decref(m);
}

static void test_transport(void)
{
	static const struct {
		const char *path, *name, *want;
	} cases[] = {
		{"/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/"
		 "block/sda",
		 "sda", "usb"},
		{"/sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1", "nvme0n1",
		 "nvme"},
		{"/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1", "nvme0n1", "nvme"},
		{"/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
		 "sda", "sata"},
		{"/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "vda", "virtio"},
		{"/sys/devices/pci0000:00/0000:00:05.0/virtio2/host2/target2:0:0/2:0:0:0/block/sda",
		 "sda", "virtio"},
		{"/sys/devices/pci0000:00/0000:00:1e.6/mmc_host/mmc0/mmc0:0001/block/mmcblk0",
		 "mmcblk0", "mmc"},
		{"/sys/devices/pci0000:00/0000:00:10.0/host2/target2:0:0/2:0:0:0/block/sdb", "sdb",
		 "scsi"},
		{"/sys/devices/virtual/block/loop0", "loop0", "loop"},
		{"/sys/devices/virtual/block/dm-0", "dm-0", "dm"},
		{"/sys/devices/virtual/block/zram0", "zram0", "unknown"},
		{"/sys/devices/platform/host/usbx/block/x", "x", "unknown"},
		{"", "x", "unknown"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK_STR(col_storage_transport(cases[i].path, cases[i].name), cases[i].want,
			  cases[i].path);
}

static void test_dm_uuid(void)
{
	char type[16], uuid[40];

	CHECK_INT(col_storage_parse_dm_uuid(
			  "CRYPT-LUKS2-6a1e3f2c8d4b4f7a9c215b3e7d9a0f14-nvme0n1p3_crypt", type,
			  sizeof(type), uuid, sizeof(uuid)),
		  1, "dm uuid: LUKS2 mapping");
	CHECK_STR(type, "luks2", "type");
	CHECK_STR(uuid, "6a1e3f2c-8d4b-4f7a-9c21-5b3e7d9a0f14", "UUID with its dashes back");
	CHECK_INT(col_storage_parse_dm_uuid("CRYPT-PLAIN-swap", type, sizeof(type), uuid,
					    sizeof(uuid)),
		  1, "dm uuid: plain dm-crypt");
	CHECK_STR(type, "plain", "plain type");
	CHECK_STR(uuid, "", "plain has no UUID");
	CHECK_INT(col_storage_parse_dm_uuid("CRYPT-VERITY-abc-root", type, sizeof(type), uuid,
					    sizeof(uuid)),
		  0, "dm-verity is not encryption");
	CHECK_INT(col_storage_parse_dm_uuid("CRYPT-SUBDEV-abc-x_dif", type, sizeof(type), uuid,
					    sizeof(uuid)),
		  0, "a LUKS2 integrity sub-device is not the encryption layer");
	CHECK_INT(col_storage_parse_dm_uuid("LVM-abcdef", type, sizeof(type), uuid, sizeof(uuid)),
		  0, "LVM is not encryption");
	CHECK_INT(col_storage_parse_dm_uuid("CRYPT-", type, sizeof(type), uuid, sizeof(uuid)),
		  -EBADMSG, "empty type refused");
	CHECK_INT(col_storage_parse_dm_uuid("CRYPT-AVERYLONGTYPENAMEINDEED-x", type, sizeof(type),
					    uuid, sizeof(uuid)),
		  -EBADMSG, "overlong type refused");
	CHECK_INT(col_storage_parse_dm_uuid("CRYPT-LUKS2-6a1e3f2c-short", type, sizeof(type), uuid,
					    sizeof(uuid)),
		  1, "LUKS mapping with a short UUID");
	CHECK_STR(uuid, "", "gets no UUID rather than a wrong one");
}

static void test_vpd80(void)
{
	static const unsigned char page[] = {0x00, 0x80, 0x00, 0x0c, ' ', ' ', 'W', 'D',
					     '-',  'W',  'X',  '1',  '2', '3', ' ', ' '};
	static const unsigned char overlong[] = {0x00, 0x80, 0x00, 0xff, 'A', 'B'};
	static const unsigned char wrong_page[] = {0x00, 0x83, 0x00, 0x02, 'A', 'B'};
	char out[64];

	CHECK_INT(col_storage_parse_vpd80(page, sizeof(page), out, sizeof(out)), 0, "vpd 0x80");
	CHECK_STR(out, "WD-WX123", "serial trimmed of padding");
	CHECK_INT(col_storage_parse_vpd80(overlong, sizeof(overlong), out, sizeof(out)), -EBADMSG,
		  "length past the data refused");
	CHECK_INT(col_storage_parse_vpd80(wrong_page, sizeof(wrong_page), out, sizeof(out)),
		  -EBADMSG, "another page refused");
	CHECK_INT(col_storage_parse_vpd80(page, 3, out, sizeof(out)), -EBADMSG, "truncated");
	CHECK_INT(col_storage_parse_vpd80(page, sizeof(page), out, 4), -EBADMSG,
		  "serial longer than the output refused");
}

static void test_probe(void)
{
	static unsigned char b[4096];

	memset(b, 0, sizeof(b));
	CHECK(col_storage_probe(b, sizeof(b)) == NULL, "zeros: no content");
	b[1024 + 56] = 0x53;
	b[1024 + 57] = 0xEF;
	CHECK_STR(col_storage_probe(b, sizeof(b)), "ext2", "ext2 superblock");
	b[1024 + 0x5C] = 0x04;
	CHECK_STR(col_storage_probe(b, sizeof(b)), "ext3", "journal: ext3");
	b[1024 + 0x60] = 0x40;
	CHECK_STR(col_storage_probe(b, sizeof(b)), "ext4", "extents: ext4");
	CHECK(col_storage_probe(b, 1100) == NULL, "a superblock cut short is not probed");
	memset(b, 0, sizeof(b));
	memcpy(b + 4086, "SWAPSPACE2", 10);
	CHECK_STR(col_storage_probe(b, sizeof(b)), "swap", "swap signature");
	memset(b, 0, sizeof(b));
	memcpy(b + 512, "LABELONE", 8);
	memcpy(b + 512 + 24, "LVM2 001", 8);
	CHECK_STR(col_storage_probe(b, sizeof(b)), "LVM2_member", "LVM physical volume");
	memset(b, 0, sizeof(b));
	b[510] = 0x55;
	b[511] = 0xAA;
	CHECK_STR(col_storage_probe(b, sizeof(b)), "dos", "MBR");
	memcpy(b + 82, "FAT32   ", 8);
	CHECK_STR(col_storage_probe(b, sizeof(b)), "vfat", "FAT32 boot sector");
	memset(b + 82, 0, 8);
	memcpy(b + 512, "EFI PART", 8);
	CHECK_STR(col_storage_probe(b, sizeof(b)), "gpt", "GPT behind a protective MBR");
	memset(b, 0, sizeof(b));
	memcpy(b, "LUKS\xba\xbe\x00\x07", 8);
	CHECK(col_storage_probe(b, sizeof(b)) == NULL, "LUKS magic with version 7: not LUKS");
	CHECK(col_storage_probe(b, 0) == NULL, "nothing read: no content");
}

static void test_json_text(void)
{
	json_t *v;

	v = col_json_text("Ultra Fit", 9);
	CHECK_STR(json_string_value(v), "Ultra Fit", "clean text kept");
	json_decref(v);
	v = col_json_text("caf\xe9\\x", 6);
	CHECK_STR(json_string_value(v), "caf\\xe9\\x5cx",
		  "invalid byte and, in such a value, the backslash escaped");
	json_decref(v);
	v = col_json_text("日本\x01", 7);
	CHECK_STR(json_string_value(v), "日本\\x01", "UTF-8 kept, control byte escaped");
	json_decref(v);
	v = col_json_text("a\0b", 3);
	CHECK_STR(json_string_value(v), "a\\x00b", "NUL escaped, not a cut");
	json_decref(v);
}

int main(void)
{
	mm_setup_jansson();
	test_unescape();
	test_mountinfo();
	test_transport();
	test_dm_uuid();
	test_vpd80();
	test_probe();
	test_json_text();
	return tap_done();
}
