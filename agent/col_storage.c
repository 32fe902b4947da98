/*
 * The storage section: block devices and partitions from /sys/block, mounts from
 * /proc/self/mountinfo, and disk encryption — LUKS headers read from the devices themselves
 * (agent/luks.c, never through blkid) and open dm-crypt mappings from /sys/block/dm-*.
 * From these it answers the question an auditor asks first: are "/" and "/home" on an
 * encrypted device?
 *
 * A block device's transport (usb, nvme, sata …) is read off the path its /sys/block link
 * resolves to, as udev's path_id does. Links are resolved lexically under the root, so a
 * fixture tree behaves like a real kernel and a link can never lead outside the root.
 *
 * root_encrypted and home_encrypted are tri-state: true when every device under the mount
 * (through LVM, partitions and dm layers, at most LIMIT_DEVICE_DEPTH deep) ends in a
 * dm-crypt mapping; false when some path down reaches a plain disk; null when the mount's
 * device cannot be told (tmpfs, overlay, network file systems, unknown devices). Only
 * block-level encryption counts: fscrypt or ZFS native encryption show as false or null.
 *
 * Device files are read for their first LIMIT_BLOCK_PROBE bytes only (a LUKS2 header area,
 * at most LIMIT_LUKS2_HEADER, when one is found); as a user outside the "disk" group they
 * are unreadable, which is recorded once for the section, not once per device.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define SECTOR_SIZE 512u

/* What collect passes around: the section and its lists, and facts gathered on the way. */
struct storage {
	const struct col_ctx *ctx;
	json_t *section;
	json_t *block_devices;
	json_t *partitions;
	json_t *mounts;
	json_t *volumes;
	unsigned dev_unreadable; /* device files refused with EACCES/EPERM */
	int dev_unreadable_err;  /* the first such refusal */
};

/* ---- small helpers ---------------------------------------------------------------- */

static int set_text(json_t *obj, const char *key, const char *s)
{
	if (!s || !*s)
		return jsonw_set(obj, key, json_null());
	return jsonw_set(obj, key, col_json_text(s, strlen(s)));
}

/* obj[key] as a string, "" when absent or not a string. */
static const char *str_of(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

static json_t *find_by(json_t *list, const char *field, const char *value)
{
	size_t i;
	json_t *e;

	if (!value)
		return NULL;
	json_array_foreach (list, i, e) {
		const char *v = json_string_value(json_object_get(e, field));

		if (v && streq(v, value))
			return e;
	}
	return NULL;
}

/* A block device or partition by kernel name. */
static json_t *find_device(const struct storage *st, const char *name)
{
	json_t *e = find_by(st->block_devices, "name", name);

	return e ? e : find_by(st->partitions, "name", name);
}

/*
 * Reads attribute dir/name. Returns 0 with *ret the trimmed value, or with *ret NULL when
 * the attribute is absent (ENOENT: not every driver has every attribute) or unreadable,
 * which is recorded as an error. Only -ENOMEM is returned as failure.
 */
static int attr(const struct storage *st, const char *dir, const char *name, char **ret)
{
	_cleanup_(freep) char *path = mm_asprintf("%s/%s", dir, name);
	char *v = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = col_read_attr(st->ctx, path, &v);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT && r != -ENOTDIR && col_error(st->section, path, r, NULL) < 0)
		return -ENOMEM;
	*ret = r < 0 ? NULL : v;
	return 0;
}

/* Reads a decimal attribute into obj[key] (times mult); null, with an error, if not one. */
static int attr_u64(const struct storage *st, const char *dir, const char *name, uint64_t mult,
		    json_t *obj, const char *key)
{
	_cleanup_(freep) char *v = NULL;
	uint64_t n;
	int r = attr(st, dir, name, &v);

	if (r < 0)
		return r;
	if (!v)
		return jsonw_set(obj, key, json_null());
	if (str_to_u64(v, 10, &n) < 0 || n > (uint64_t) INT64_MAX / mult) {
		if (col_error(st->section, dir, 0, "%s: not a number", name) < 0)
			return -ENOMEM;
		return jsonw_set(obj, key, json_null());
	}
	n *= mult; /* cannot overflow: checked against INT64_MAX / mult above */
	return jsonw_set(obj, key, json_integer((json_int_t) n));
}

/* Reads a 0/1 attribute into obj[key] as a boolean (null when absent or not 0/1). */
static int attr_bool(const struct storage *st, const char *dir, const char *name, json_t *obj,
		     const char *key)
{
	_cleanup_(freep) char *v = NULL;
	int r = attr(st, dir, name, &v);

	if (r < 0)
		return r;
	if (v && (streq(v, "0") || streq(v, "1")))
		return jsonw_set(obj, key, json_boolean(v[0] == '1'));
	if (v && col_error(st->section, dir, 0, "%s: expected 0 or 1", name) < 0)
		return -ENOMEM;
	return jsonw_set(obj, key, json_null());
}

/* Reads a text attribute into obj[key], null when absent or empty. */
static int attr_text(const struct storage *st, const char *dir, const char *name, json_t *obj,
		     const char *key)
{
	_cleanup_(freep) char *v = NULL;
	int r = attr(st, dir, name, &v);

	if (r < 0)
		return r;
	return set_text(obj, key, v);
}

/* 1 when path exists under the root, 0 when not, -ENOMEM. */
static int exists(const struct col_ctx *ctx, const char *path)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, path);

	if (!full)
		return -ENOMEM;
	return access(full, F_OK) == 0;
}

/* Whether s is all decimal digits (and not empty). */
static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Whether the path component c (n bytes) is prefix followed by digits: "usb1", "ata3". */
static bool comp_is(const char *c, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n > k && strncmp(c, prefix, k) == 0 && all_digits(c + k, n - k);
}

/* ---- parsers (exposed for tests) ----------------------------------------------------- */

const char *col_storage_transport(const char *devpath, const char *name)
{
	bool usb = false, nvme = false, ata = false, virtio = false, mmc = false, scsi = false,
	     virt = false;
	const char *c = devpath;

	while (*c) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if (comp_is(c, n, "usb"))
			usb = true;
		else if ((n == 4 && strncmp(c, "nvme", 4) == 0) ||
			 (n == 14 && strncmp(c, "nvme-subsystem", 14) == 0))
			nvme = true;
		else if (comp_is(c, n, "ata"))
			ata = true;
		else if (comp_is(c, n, "virtio"))
			virtio = true;
		else if (comp_is(c, n, "mmc") || (n == 8 && strncmp(c, "mmc_host", 8) == 0))
			mmc = true;
		else if (comp_is(c, n, "host"))
			scsi = true;
		else if (n == 7 && strncmp(c, "virtual", 7) == 0)
			virt = true;
		c += n;
	}
	/* outermost bus first: a USB-SATA bridge is usb, virtio-scsi is virtio */
	if (usb)
		return "usb";
	if (nvme)
		return "nvme";
	if (ata)
		return "sata";
	if (virtio)
		return "virtio";
	if (mmc)
		return "mmc";
	if (scsi)
		return "scsi";
	if (virt && name) {
		if (str_startswith(name, "loop"))
			return "loop";
		if (str_startswith(name, "dm-"))
			return "dm";
	}
	return "unknown";
}

int col_storage_unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			int c = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');

			if (c == 0)
				return -EBADMSG;
			*out++ = (char) c;
			s += 3;
			continue;
		}
		*out++ = *s;
	}
	*out = '\0';
	return 0;
}

/* Splits the next space-separated field off *cursor; NULL when there is none. */
static char *next_field(char **cursor)
{
	char *s = *cursor, *end;

	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	end = strchr(s, ' ');
	if (end) {
		*end = '\0';
		*cursor = end + 1;
	} else {
		*cursor = s + strlen(s);
	}
	return s;
}

static bool is_devno(const char *s)
{
	const char *colon = strchr(s, ':');

	return colon && all_digits(s, (size_t) (colon - s)) &&
	       all_digits(colon + 1, strlen(colon + 1)) && colon - s <= 10 &&
	       strlen(colon + 1) <= 10;
}

/* Parses one mountinfo line into a new object; -EBADMSG if it is not one. */
static int parse_mount_line(char *line, json_t **ret)
{
	char *f[6], *opt, *fstype, *source, *super;
	char *cursor = line;
	json_t *m;
	uint64_t id;

	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (!(f[i] = next_field(&cursor)))
			return -EBADMSG;
	if (str_to_u64(f[0], 10, &id) < 0 || str_to_u64(f[1], 10, &id) < 0 || !is_devno(f[2]) ||
	    f[3][0] != '/' || f[4][0] != '/')
		return -EBADMSG;
	/* optional fields ("shared:1", "master:2" …) until a lone "-" */
	do {
		opt = next_field(&cursor);
		if (!opt)
			return -EBADMSG;
	} while (!streq(opt, "-"));
	fstype = next_field(&cursor);
	source = next_field(&cursor);
	super = next_field(&cursor);
	if (!fstype || !source || !super || next_field(&cursor))
		return -EBADMSG;
	if (col_storage_unescape(f[3]) < 0 || col_storage_unescape(f[4]) < 0 ||
	    col_storage_unescape(fstype) < 0 || col_storage_unescape(source) < 0)
		return -EBADMSG;
	m = json_object();
	if (!m || jsonw_set(m, "mount_point", col_json_text(f[4], strlen(f[4]))) < 0 ||
	    jsonw_set(m, "source", col_json_text(source, strlen(source))) < 0 ||
	    jsonw_set(m, "fstype", col_json_text(fstype, strlen(fstype))) < 0 ||
	    jsonw_set(m, "options", col_json_text(f[5], strlen(f[5]))) < 0 ||
	    jsonw_set(m, "super_options", col_json_text(super, strlen(super))) < 0 ||
	    jsonw_set(m, "read_only",
		      json_boolean(str_startswith(f[5], "ro") &&
				   (f[5][2] == '\0' || f[5][2] == ','))) < 0 ||
	    jsonw_set(m, "major_minor", json_string(f[2])) < 0 ||
	    jsonw_set(m, "root", col_json_text(f[3], strlen(f[3]))) < 0) {
		json_decref(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

int col_storage_parse_mountinfo(char *text, json_t *mounts)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		json_t *m = NULL;
		int r;

		if (!*line)
			continue;
		if (strlen(line) > LIMIT_LINE) {
			bad++;
			continue;
		}
		r = parse_mount_line(line, &m);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			bad++;
			continue;
		}
		if (jsonw_append(mounts, m) < 0)
			return -ENOMEM;
	}
	return bad;
}

int col_storage_parse_vpd80(const void *data, size_t len, char *out, size_t size)
{
	const unsigned char *p = data;
	size_t n, start = 4, end;

	if (len < 4 || p[1] != 0x80 || size == 0)
		return -EBADMSG;
	n = ((size_t) p[2] << 8) | p[3];
	if (n > len - 4)
		return -EBADMSG;
	end = start + n;
	while (start < end && (p[start] == ' ' || p[start] == '\0'))
		start++;
	while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\0'))
		end--;
	if (end == start || end - start >= size ||
	    !str_is_clean_utf8((const char *) p + start, end - start))
		return -EBADMSG;
	memcpy(out, p + start, end - start);
	out[end - start] = '\0';
	return 0;
}

int col_storage_parse_dm_uuid(const char *uuid, char *ret_type, size_t type_size, char *ret_uuid,
			      size_t uuid_size)
{
	const char *rest = str_startswith(uuid, "CRYPT-"), *dash;
	size_t n;

	if (!rest || type_size == 0 || uuid_size < 37)
		return 0;
	dash = strchr(rest, '-');
	n = dash ? (size_t) (dash - rest) : strlen(rest);
	if (n == 0 || n >= type_size)
		return -EBADMSG;
	/* dm-verity, dm-integrity and LUKS2 integrity sub-devices carry CRYPT- too */
	if ((n == 6 && strncmp(rest, "VERITY", 6) == 0) ||
	    (n == 9 && strncmp(rest, "INTEGRITY", 9) == 0) ||
	    (n == 6 && strncmp(rest, "SUBDEV", 6) == 0))
		return 0;
	for (size_t i = 0; i < n; i++)
		ret_type[i] =
			(char) (rest[i] >= 'A' && rest[i] <= 'Z' ? rest[i] - 'A' + 'a' : rest[i]);
	ret_type[n] = '\0';
	ret_uuid[0] = '\0';
	/* LUKS mappings: CRYPT-LUKS2-<32 hex digits, the UUID without dashes>-<name> */
	if (dash && str_startswith(rest, "LUKS") && strspn(dash + 1, "0123456789abcdef") >= 32 &&
	    (dash[33] == '-' || dash[33] == '\0')) {
		const char *h = dash + 1;

		(void) snprintf(ret_uuid, uuid_size, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12,
				h + 16, h + 20);
	}
	return 1;
}

/* Reads a little-endian u16/u32 at p. */
static unsigned le16(const unsigned char *p)
{
	return p[0] | (unsigned) p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

const char *col_storage_probe(const void *data, size_t len)
{
	const unsigned char *p = data;
	struct luks_header h;

	if (luks_parse_header(data, len, &h) == 1)
		return "crypto_LUKS";
	for (size_t s = 0; s < 4; s++) {
		size_t off = s * SECTOR_SIZE;

		if (len >= off + 32 && memcmp(p + off, "LABELONE", 8) == 0 &&
		    memcmp(p + off + 24, "LVM2 001", 8) == 0)
			return "LVM2_member";
	}
	if (len >= 4 && memcmp(p, "XFSB", 4) == 0)
		return "xfs";
	if (len >= 4096 &&
	    (memcmp(p + 4086, "SWAPSPACE2", 10) == 0 || memcmp(p + 4086, "SWAP-SPACE", 10) == 0))
		return "swap";
	if (len >= 1024 + 0x68 && le16(p + 1024 + 56) == 0xEF53) {
		uint32_t compat = le32(p + 1024 + 0x5C), incompat = le32(p + 1024 + 0x60),
			 ro_compat = le32(p + 1024 + 0x64);

		/* as blkid: features ext3 lacks make it ext4; a journal makes it ext3 */
		if ((incompat & ~0x16u) || (ro_compat & ~0x7u))
			return "ext4";
		return (compat & 0x4) ? "ext3" : "ext2";
	}
	if (len >= 11 && memcmp(p + 3, "NTFS    ", 8) == 0)
		return "ntfs";
	if (len >= 11 && memcmp(p + 3, "EXFAT   ", 8) == 0)
		return "exfat";
	if (len >= 512 && p[510] == 0x55 && p[511] == 0xAA &&
	    (memcmp(p + 54, "FAT1", 4) == 0 || memcmp(p + 82, "FAT32   ", 8) == 0))
		return "vfat";
	if (len >= 520 && memcmp(p + 512, "EFI PART", 8) == 0)
		return "gpt";
	if (len >= 512 && p[510] == 0x55 && p[511] == 0xAA)
		return "dos";
	return NULL;
}

/* ---- block devices, partitions, encryption headers ---------------------------------- */

static int add_volume_fields(json_t *v, const struct luks_header *h)
{
	if (jsonw_set(v, "type", json_string("luks")) < 0 ||
	    jsonw_set(v, "version", json_integer(h->version)) < 0 ||
	    jsonw_set(v, "uuid", json_string(h->uuid)) < 0 ||
	    jsonw_set(v, "header", json_string(h->secondary ? "secondary" : "primary")) < 0 ||
	    set_text(v, "cipher", h->cipher) < 0 ||
	    jsonw_set(v, "key_bits", h->key_bits ? json_integer(h->key_bits) : json_null()) < 0 ||
	    set_text(v, "kdf", h->kdf) < 0 || set_text(v, "hash", h->hash) < 0)
		return -ENOMEM;
	if (h->version == 1 || h->checksum_valid >= 0) {
		if (jsonw_set(v, "keyslots", json_integer(h->keyslots)) < 0)
			return -ENOMEM;
	} else if (jsonw_set(v, "keyslots", json_null()) < 0) {
		return -ENOMEM;
	}
	if (h->version != 2)
		return 0;
	if (set_text(v, "label", h->label) < 0 || set_text(v, "subsystem", h->subsystem) < 0 ||
	    set_text(v, "checksum_algorithm", h->checksum_alg) < 0 ||
	    jsonw_set(v, "checksum_valid",
		      h->checksum_valid < 0 ? json_null() : json_boolean(h->checksum_valid)) < 0 ||
	    jsonw_set(v, "header_size", json_integer((json_int_t) h->hdr_size)) < 0)
		return -ENOMEM;
	return 0;
}

/* Reads a LUKS2 volume's whole header area to learn its cipher and check its checksum. */
static int read_luks2_area(struct storage *st, const char *dev, struct luks_header *h)
{
	_cleanup_(freep) unsigned char *area = NULL;
	size_t got;
	int r;

	if (h->secondary)
		return 0;
	area = mm_malloc((size_t) h->hdr_size);
	if (!area)
		return -ENOMEM;
	r = col_read_prefix(st->ctx, dev, area, (size_t) h->hdr_size, &got);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || got < h->hdr_size)
		return 0; /* a header copied without its JSON area (a test image): unknown */
	r = luks_parse_area(area, got, h);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && col_error(st->section, dev, 0,
			       h->checksum_valid == 0 ? "LUKS2 header checksum does not match"
						      : "LUKS2 JSON area unreadable") < 0)
		return -ENOMEM;
	return 0;
}

/*
 * Reads the start of ROOT/dev/NAME: sets obj.content and, for a LUKS header, adds an
 * encrypted_volumes entry. A missing or empty device file just leaves content null.
 */
static int probe_device(struct storage *st, const char *name, json_t *obj)
{
	_cleanup_(freep) char *dev = mm_asprintf("/dev/%s", name);
	unsigned char head[LIMIT_BLOCK_PROBE];
	struct luks_header h;
	const char *content = NULL;
	json_t *v, *size;
	size_t got = 0;
	int r;

	if (!dev)
		return -ENOMEM;
	size = json_object_get(obj, "size_bytes");
	if (json_is_integer(size) && json_integer_value(size) == 0)
		return jsonw_set(obj, "content", json_null()); /* an unattached loop device */
	r = col_read_prefix(st->ctx, dev, head, sizeof(head), &got);
	if (r == -ENOMEM)
		return r;
	if (r == -EACCES || r == -EPERM) {
		if (st->dev_unreadable++ == 0)
			st->dev_unreadable_err = r;
	} else if (r < 0 && r != -ENOENT && r != -ENXIO && r != -ENOMEDIUM && r != -ENODEV &&
		   col_error(st->section, dev, r,
			     r == -EINVAL ? "neither a block device nor a disk image: not read"
					  : NULL) < 0) {
		return -ENOMEM;
	}
	if (r < 0)
		return jsonw_set(obj, "content", json_null());
	content = col_storage_probe(head, got);
	if (jsonw_set(obj, "content", content ? json_string(content) : json_null()) < 0)
		return -ENOMEM;
	r = luks_parse_header(head, got, &h);
	if (r == -EBADMSG)
		return col_error(st->section, dev, 0, "truncated or malformed LUKS header");
	if (r <= 0)
		return 0;
	if (h.version == 2) {
		r = read_luks2_area(st, dev, &h);
		if (r < 0)
			return r;
	}
	v = json_pack("{s:s, s:b, s:n, s:n}", "device", name, "open", false, "mapping",
		      "mapping_device");
	if (!v)
		return -ENOMEM;
	if (jsonw_append(st->volumes, v) < 0)
		return -ENOMEM;
	return add_volume_fields(v, &h);
}

/* The serial a disk reports: its own attribute, the SCSI serial page, else its USB device's. */
static int read_serial(struct storage *st, const char *devpath, const char *usb_dir, json_t *obj)
{
	static const char *const attrs[] = {"device/serial", "serial"};
	_cleanup_(freep) char *vpd_path = mm_asprintf("%s/device/vpd_pg80", devpath);
	_cleanup_(freep) char *raw = NULL;
	char serial[256];
	size_t len;
	int r;

	if (!vpd_path)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(attrs); i++) {
		_cleanup_(freep) char *v = NULL;

		if (attr(st, devpath, attrs[i], &v) < 0)
			return -ENOMEM;
		if (v && *v)
			return set_text(obj, "serial", v);
	}
	r = col_read_file(st->ctx, vpd_path, LIMIT_SMALL_FILE, &raw, &len);
	if (r == -ENOMEM)
		return r;
	if (r == 0 && col_storage_parse_vpd80(raw, len, serial, sizeof(serial)) == 0)
		return set_text(obj, "serial", serial);
	if (usb_dir) {
		_cleanup_(freep) char *v = NULL;

		if (attr(st, usb_dir, "serial", &v) < 0)
			return -ENOMEM;
		return set_text(obj, "serial", v);
	}
	return jsonw_set(obj, "serial", json_null());
}

/*
 * The USB device a disk hangs off: the deepest "BUS-PORT[.PORT…]" component of its
 * device path ("…/usb2/2-1/2-1:1.0/host0/…" → "2-1"). Sets *ret_dir to that directory.
 */
static int usb_device_of(const char *devpath, char **ret_dir, char **ret_bus_path)
{
	_cleanup_(freep) char *dir = NULL, *bus_path = NULL;
	const char *c = devpath, *best = NULL;
	size_t best_n = 0;

	while (*c) {
		size_t n, dash;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		dash = strcspn(c, "-");
		if (dash < n && all_digits(c, dash) && dash + 1 < n &&
		    strspn(c + dash + 1, "0123456789.") == n - dash - 1) {
			best = c;
			best_n = n;
		}
		c += n;
	}
	if (!best)
		return 0;
	dir = mm_strndup(devpath, (size_t) (best - devpath) + best_n);
	bus_path = mm_strndup(best, best_n);
	if (!dir || !bus_path)
		return -ENOMEM;
	*ret_dir = TAKE_PTR(dir);
	*ret_bus_path = TAKE_PTR(bus_path);
	return 1;
}

static int collect_partition(struct storage *st, const char *parent, const char *dir,
			     const char *name)
{
	json_t *p = json_pack("{s:s, s:s}", "name", name, "parent", parent);
	int r;

	if (!p || jsonw_append(st->partitions, p) < 0)
		return -ENOMEM;
	r = attr_u64(st, dir, "partition", 1, p, "number");
	if (r >= 0)
		r = attr_u64(st, dir, "start", 1, p, "start_sector");
	if (r >= 0)
		r = attr_u64(st, dir, "size", SECTOR_SIZE, p, "size_bytes");
	if (r >= 0)
		r = attr_text(st, dir, "dev", p, "major_minor");
	if (r >= 0)
		r = attr_bool(st, dir, "ro", p, "read_only");
	if (r >= 0)
		r = probe_device(st, name, p);
	return r;
}

static int collect_partitions(struct storage *st, const char *disk, const char *devpath)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;
	int r = col_list_dir(st->ctx, devpath, LIMIT_DIR_ENTRIES, &names, NULL);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(st->section, devpath, r, NULL);
	for (char **n = names; *n; n++) {
		_cleanup_(freep) char *dir = mm_asprintf("%s/%s", devpath, *n);
		_cleanup_(freep) char *part = mm_asprintf("%s/partition", dir ? dir : "");
		_cleanup_(freep) char *full = NULL;

		if (!dir || !part)
			return -ENOMEM;
		full = fileio_path(st->ctx->root, part);
		if (!full)
			return -ENOMEM;
		if (access(full, F_OK) < 0)
			continue;
		r = collect_partition(st, disk, dir, *n);
		if (r < 0)
			return r;
	}
	return 0;
}

static int collect_dm(struct storage *st, const char *devpath, json_t *obj)
{
	_cleanup_(freep) char *dm = mm_asprintf("%s/dm", devpath);
	_cleanup_(freep) char *slaves_dir = mm_asprintf("%s/slaves", devpath);
	_cleanup_(fileio_strv_freep) char **slaves = NULL;
	json_t *arr;
	int r;

	if (!dm || !slaves_dir)
		return -ENOMEM;
	r = exists(st->ctx, dm);
	if (r < 0)
		return r;
	if (r > 0) {
		r = attr_text(st, dm, "name", obj, "dm_name");
		if (r >= 0)
			r = attr_text(st, dm, "uuid", obj, "dm_uuid");
		if (r < 0)
			return r;
	}
	r = col_list_dir(st->ctx, slaves_dir, LIMIT_DIR_ENTRIES, &slaves, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !slaves[0])
		return 0;
	arr = json_array();
	if (jsonw_set(obj, "slaves", arr) < 0)
		return -ENOMEM;
	for (char **s = slaves; *s; s++)
		if (jsonw_append(arr, col_json_text(*s, strlen(*s))) < 0)
			return -ENOMEM;
	return 0;
}

static int collect_block_device(struct storage *st, const char *name)
{
	_cleanup_(freep) char *sys = mm_asprintf("/sys/block/%s", name);
	_cleanup_(freep) char *devpath = NULL, *usb_dir = NULL, *usb_bus_path = NULL;
	_cleanup_(freep) char *devdir = NULL, *queue = NULL, *loop = NULL;
	const char *transport;
	json_t *obj;
	int r;

	if (!sys)
		return -ENOMEM;
	r = fileio_resolve_link(st->ctx->root, sys, &devpath);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(st->section, sys, r, NULL);
	r = exists(st->ctx, devpath);
	if (r < 0)
		return r;
	if (r == 0)
		return col_error(st->section, sys, -ENOENT, "dangling link to %s", devpath);
	transport = col_storage_transport(devpath, name);
	devdir = mm_asprintf("%s/device", devpath);
	queue = mm_asprintf("%s/queue", devpath);
	loop = mm_asprintf("%s/loop", devpath);
	if (!devdir || !queue || !loop)
		return -ENOMEM;
	if (streq(transport, "usb")) {
		r = usb_device_of(devpath, &usb_dir, &usb_bus_path);
		if (r < 0)
			return r;
	}
	obj = json_pack("{s:s, s:s}", "name", name, "transport", transport);
	if (!obj || jsonw_append(st->block_devices, obj) < 0)
		return -ENOMEM;
	r = attr_u64(st, devpath, "size", SECTOR_SIZE, obj, "size_bytes");
	if (r >= 0)
		r = attr_text(st, devpath, "dev", obj, "major_minor");
	if (r >= 0)
		r = attr_text(st, devdir, "model", obj, "model");
	if (r >= 0)
		r = attr_text(st, devdir, "vendor", obj, "vendor");
	if (r >= 0)
		r = read_serial(st, devpath, usb_dir, obj);
	if (r >= 0)
		r = attr_text(st, devpath, "wwid", obj, "wwid");
	if (r >= 0 && !json_string_value(json_object_get(obj, "wwid")))
		r = attr_text(st, devdir, "wwid", obj, "wwid");
	if (r >= 0)
		r = attr_bool(st, queue, "rotational", obj, "rotational");
	if (r >= 0)
		r = attr_bool(st, devpath, "removable", obj, "removable");
	if (r >= 0)
		r = attr_bool(st, devpath, "ro", obj, "read_only");
	if (r >= 0)
		r = set_text(obj, "usb_bus_path", usb_bus_path);
	if (r >= 0)
		r = exists(st->ctx, loop);
	if (r > 0)
		r = attr_text(st, loop, "backing_file", obj, "backing_file");
	if (r >= 0)
		r = collect_dm(st, devpath, obj);
	if (r >= 0)
		r = probe_device(st, name, obj);
	if (r >= 0)
		r = collect_partitions(st, name, devpath);
	return r;
}

static int collect_block_devices(struct storage *st)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;
	int r = col_list_dir(st->ctx, "/sys/block", LIMIT_DIR_ENTRIES, &names, NULL);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(st->section, "/sys/block", r, NULL);
	for (char **n = names; *n; n++) {
		if (!str_is_clean_utf8(*n, strlen(*n))) {
			if (col_error(st->section, "/sys/block", 0, "device name is not text") < 0)
				return -ENOMEM;
			continue;
		}
		r = collect_block_device(st, *n);
		if (r < 0)
			return r;
	}
	if (st->dev_unreadable > 0 &&
	    col_error(st->section, "/dev", st->dev_unreadable_err,
		      "%u block device files not readable (%s): their encryption headers are "
		      "unknown; the agent reads them as root",
		      st->dev_unreadable, strerror(-st->dev_unreadable_err)) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- encryption: open mappings, and what "/" and "/home" sit on ---------------------- */

/* The device under a dm-crypt mapping, looking through LUKS2 integrity sub-devices. */
static const char *crypt_backing(const struct storage *st, json_t *dm)
{
	for (unsigned depth = 0; dm && depth < LIMIT_DEVICE_DEPTH; depth++) {
		json_t *slaves = json_object_get(dm, "slaves");
		const char *name = json_string_value(json_array_get(slaves, 0));
		json_t *below;
		const char *uuid;

		if (!name)
			return NULL;
		below = find_device(st, name);
		uuid = json_string_value(json_object_get(below, "dm_uuid"));
		if (!uuid || !str_startswith(uuid, "CRYPT-SUBDEV-"))
			return name;
		dm = below;
	}
	return NULL;
}

static int collect_open_mappings(struct storage *st)
{
	size_t i;
	json_t *dm;

	json_array_foreach (st->block_devices, i, dm) {
		const char *uuid = json_string_value(json_object_get(dm, "dm_uuid"));
		char type[16], luks_uuid[40];
		const char *backing;
		json_t *v;

		if (!uuid || col_storage_parse_dm_uuid(uuid, type, sizeof(type), luks_uuid,
						       sizeof(luks_uuid)) != 1)
			continue;
		backing = crypt_backing(st, dm);
		if (!backing) {
			if (col_error(st->section, "/sys/block", 0,
				      "%s: dm-crypt mapping without a backing device",
				      json_string_value(json_object_get(dm, "name"))) < 0)
				return -ENOMEM;
			continue;
		}
		v = find_by(st->volumes, "device", backing);
		if (!v) {
			/* header unreadable (not root) or not LUKS: what the mapping tells */
			const char *luks_version = str_startswith(type, "luks");
			unsigned version = 0;

			if (luks_version && str_to_uint(luks_version, 10, &version) < 0)
				version = 0;
			v = json_pack("{s:s, s:s, s:o, s:o}", "device", backing, "type",
				      luks_version ? "luks" : type, "version",
				      version ? json_integer(version) : json_null(), "uuid",
				      *luks_uuid ? json_string(luks_uuid) : json_null());
			if (!v || jsonw_append(st->volumes, v) < 0)
				return -ENOMEM;
		}
		if (jsonw_set(v, "open", json_true()) < 0 ||
		    set_text(v, "mapping", str_of(dm, "dm_name")) < 0 ||
		    set_text(v, "mapping_device", str_of(dm, "name")) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Whether the device `name` is encrypted at block level: 1 yes, 0 no, -1 unknown.
 * A dm-crypt mapping is; a partition is when its disk is; a stacked device (LVM, RAID)
 * is when every device under it is; a plain disk is not.
 */
static int encrypted(const struct storage *st, const char *name, unsigned depth)
{
	json_t *d = find_device(st, name), *slaves;
	const char *uuid, *parent;
	char type[16], u[40];
	size_t i;
	json_t *s;
	int all = 1;

	if (!d || depth >= LIMIT_DEVICE_DEPTH)
		return -1;
	uuid = json_string_value(json_object_get(d, "dm_uuid"));
	if (uuid && col_storage_parse_dm_uuid(uuid, type, sizeof(type), u, sizeof(u)) == 1)
		return 1;
	parent = json_string_value(json_object_get(d, "parent"));
	if (parent)
		return encrypted(st, parent, depth + 1);
	slaves = json_object_get(d, "slaves");
	if (json_array_size(slaves) == 0)
		return str_startswith(name, "dm-") && !uuid ? -1 : 0;
	json_array_foreach (slaves, i, s) {
		int e = encrypted(st, json_string_value(s) ? json_string_value(s) : "", depth + 1);

		if (e == 0)
			return 0;
		if (e < 0)
			all = -1;
	}
	return all;
}

/* The mount that holds path: the longest mount point that is a prefix of it, topmost. */
static json_t *mount_of(const struct storage *st, const char *path)
{
	json_t *best = NULL, *m;
	size_t best_n = 0, i;

	json_array_foreach (st->mounts, i, m) {
		const char *mp = json_string_value(json_object_get(m, "mount_point"));
		size_t n;

		if (!mp)
			continue;
		n = strlen(mp);
		if (!(streq(mp, "/") ||
		      (strncmp(path, mp, n) == 0 && (path[n] == '/' || path[n] == '\0'))))
			continue;
		if (!best || n >= best_n) {
			best = m;
			best_n = n;
		}
	}
	return best;
}

/* The block device a mount comes from: by device number, else by its source path. */
static const char *mount_device(const struct storage *st, json_t *m)
{
	const char *devno = str_of(m, "major_minor");
	const char *src = json_string_value(json_object_get(m, "source"));
	const char *name;
	size_t i;
	json_t *d;

	json_array_foreach (st->block_devices, i, d)
		if (streq(str_of(d, "major_minor"), devno))
			return json_string_value(json_object_get(d, "name"));
	json_array_foreach (st->partitions, i, d)
		if (streq(str_of(d, "major_minor"), devno))
			return json_string_value(json_object_get(d, "name"));
	/* btrfs and others report an anonymous 0:N device number */
	if (!src)
		return NULL;
	name = str_startswith(src, "/dev/mapper/");
	if (name) {
		d = find_by(st->block_devices, "dm_name", name);
		return d ? json_string_value(json_object_get(d, "name")) : NULL;
	}
	name = str_startswith(src, "/dev/");
	if (name && find_device(st, name))
		return name;
	return NULL;
}

static int set_encrypted(struct storage *st, const char *path, const char *field,
			 const char *dev_field)
{
	json_t *m = mount_of(st, path);
	const char *dev = m ? mount_device(st, m) : NULL;
	int e = dev ? encrypted(st, dev, 0) : -1;

	if (jsonw_set(st->section, field, e < 0 ? json_null() : json_boolean(e)) < 0)
		return -ENOMEM;
	return set_text(st->section, dev_field, dev);
}

static int collect_mounts(struct storage *st)
{
	static const char path[] = "/proc/self/mountinfo";
	_cleanup_(freep) char *text = NULL;
	size_t len;
	int r = col_read_file(st->ctx, path, LIMIT_LARGE_FILE, &text, &len);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(st->section, path, r, NULL);
	/* a NUL inside would end the text early: make it a byte no valid line holds instead */
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			text[i] = '\x01';
	r = col_storage_parse_mountinfo(text, st->mounts);
	if (r < 0)
		return r;
	if (r > 0 && col_error(st->section, path, 0, "%d malformed lines skipped", r) < 0)
		return -ENOMEM;
	return 0;
}

int col_storage_collect(const struct col_ctx *ctx, json_t *section)
{
	struct storage st = {.ctx = ctx, .section = section};
	int r;

	/* one at a time: jsonw_set() owns each array from the moment it is made */
	st.block_devices = json_array();
	if (jsonw_set(section, "block_devices", st.block_devices) < 0)
		return -ENOMEM;
	st.partitions = json_array();
	if (jsonw_set(section, "partitions", st.partitions) < 0)
		return -ENOMEM;
	st.mounts = json_array();
	if (jsonw_set(section, "mounts", st.mounts) < 0)
		return -ENOMEM;
	st.volumes = json_array();
	if (jsonw_set(section, "encrypted_volumes", st.volumes) < 0)
		return -ENOMEM;
	r = collect_block_devices(&st);
	if (r >= 0)
		r = collect_mounts(&st);
	if (r >= 0)
		r = collect_open_mappings(&st);
	if (r >= 0)
		r = set_encrypted(&st, "/", "root_encrypted", "root_device");
	if (r >= 0)
		r = set_encrypted(&st, "/home", "home_encrypted", "home_device");
	return r < 0 ? r : 0;
}
