/*
 * mamori-agent's private header: the collector interface and the pieces main.c wires up.
 *
 * Collectors (col_*.c) read the endpoint's facts from files under a root directory (--root,
 * "/" in production), never by running other programs, so tests run them against fixture
 * trees. Each fills one section of the inventory document (docs/inventory.md) and records
 * every source it could not read in the section's "errors" array, so one unreadable file
 * never hides the rest.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/limits.h"
#include "lib/macro.h"

/* The inventory document's schema version (docs/inventory.md). */
#define INVENTORY_SCHEMA 1

struct col_ctx {
	const char *root; /* "/" or a fixture tree */
	int64_t now;      /* wall clock, Unix seconds, for ages and uptimes */
	unsigned *n_read; /* files read successfully, counted by col_read_*() */
	/*
	 * Optional seam (docs/internals/privsep.md): reads a root-only file through the
	 * agent's privileged parent. `run` sets it when privilege-separated; col_read_file()
	 * and col_read_attr() ask it first and read the file themselves when it answers
	 * -ENOTSUP (the path is not in the parent's table). Collectors never call it.
	 */
	int (*read_privileged)(const char *path, size_t max, char **ret, size_t *ret_len);
};

/*
 * Collectors read through these, never through fileio directly: they resolve paths under
 * ctx->root and count what was read, so "nothing at all could be read" is a fact, not a
 * guess. Same contracts as fileio_read() and fileio_read_attr().
 */
int col_read_file(const struct col_ctx *ctx, const char *path, size_t max, char **ret,
		  size_t *ret_len) _wur_;
int col_read_attr(const struct col_ctx *ctx, const char *path, char **ret) _wur_;
/* Reads the target of the symlink at root + path without following it (a /proc/PID/fd
 * entry, a sysfs driver link). Same contract as fileio_readlink(); counts as a read. */
int col_readlink(const struct col_ctx *ctx, const char *path, char **ret) _wur_;
/* Same contracts as fileio_read_prefix() and fileio_list_dir(). */
int col_read_prefix(const struct col_ctx *ctx, const char *path, void *buf, size_t n,
		    size_t *ret_len) _wur_;
int col_list_dir(const struct col_ctx *ctx, const char *path, char ***ret) _wur_;

/*
 * A JSON string for text read from outside (a mount point, a USB product string): clean
 * UTF-8 is kept as it is; every other byte (control characters, invalid sequences) is
 * written as \xNN, so the value is always valid and nothing is silently dropped. NULL on
 * allocation failure.
 */
json_t *col_json_text(const char *s, size_t len);

/*
 * A section collector: fills `section` (an empty object) with what it could read.
 * Returns 0 — also when sources were unreadable, which it records with col_error() — or
 * -ENOMEM, on which the section is reported as failed as a whole.
 */
typedef int (*col_fn)(const struct col_ctx *ctx, json_t *section);

struct collector {
	const char *section;
	col_fn collect;
};

/*
 * Records that `source` (a path) could not be read or parsed, with -errno or a message.
 * Returns 0, or -ENOMEM — also when err is -ENOMEM, which fails the section rather than
 * being recorded as a fact about the source.
 */
int col_error(json_t *section, const char *source, int err, const char *fmt, ...) _printf_(4, 5)
	_wur_;

int col_identity_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_os_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_cpu_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_memory_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_storage_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_network_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_software_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_users_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_security_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_usb_collect(const struct col_ctx *ctx, json_t *section) _wur_;

/*
 * Runs every collector against ctx->root and returns the whole inventory document, or NULL
 * on allocation failure. *ret_readable (optional) tells whether any section read anything.
 */
json_t *inventory_collect(const struct col_ctx *ctx, bool *ret_readable);

/* Writes the document as human-readable text to f. */
int inventory_print_text(const json_t *doc, FILE *f);

/* Parsers inside collectors, exposed for unit tests and fuzz targets. Each takes text it
 * may modify in place. */
int col_os_parse_os_release(char *text, json_t *section) _wur_;
int col_os_parse_btime(char *text, int64_t *ret) _wur_;
int col_cpu_parse_cpuinfo(char *text, json_t *section) _wur_;
int col_memory_parse_meminfo(char *text, json_t *section) _wur_;
const char *col_identity_chassis_class(unsigned code);
const char *col_identity_virt_from_dmi(const char *vendor, const char *product,
				       const char *bios_vendor);
/* network (col_network*.c): see those files for the contracts. */
int col_network_ip_decode_words(const char *hex, int family, void *ret) _wur_;
int col_network_ip_decode_bytes6(const char *hex, void *ret) _wur_;
bool col_network_ip_valid_ifname(const char *s);
int col_network_ip_parse_route(char *text, json_t *routes) _wur_;
int col_network_ip_parse_ipv6_route(char *text, json_t *routes) _wur_;
int col_network_ip_parse_fib_trie(char *text, json_t *fib) _wur_;
int col_network_ip_parse_if_inet6(char *text, json_t *by_ifname) _wur_;
int col_network_ip_assign_ipv4(const json_t *fib, const json_t *routes, const char *loopback,
			       json_t *by_ifname, json_t *unassigned) _wur_;
int col_network_parse_resolv_conf(char *text, json_t *servers, json_t *search) _wur_;
int col_network_sockets_parse(char *text, const char *protocol, json_t *listening) _wur_;
int col_network_sockets_collect(const struct col_ctx *ctx, json_t *section) _wur_;

/*
 * storage (agent/col_storage.c). Transport of a block device from the sysfs path its
 * /sys/block link resolves to ("usb", "nvme", "sata", "virtio", "mmc", "scsi", "loop",
 * "dm" or "unknown"); name is the kernel name, for the virtual ones.
 */
const char *col_storage_transport(const char *devpath, const char *name);
/* Decodes mountinfo's octal escapes (\040 …) in place; -EBADMSG for \000. */
int col_storage_unescape(char *s) _wur_;
/* Appends one object per well-formed mountinfo line to mounts; returns the number of
 * malformed lines skipped, or -ENOMEM. */
int col_storage_parse_mountinfo(char *text, json_t *mounts) _wur_;
/* The serial number in a SCSI VPD page 0x80 (sysfs vpd_pg80), trimmed, into out. */
int col_storage_parse_vpd80(const void *data, size_t len, char *out, size_t size) _wur_;
/*
 * A device-mapper UUID of a dm-crypt mapping ("CRYPT-LUKS2-<hex>-name"): returns 1 with the
 * lower-case type ("luks2", "plain", "bitlk" …) and, for LUKS, the volume UUID in dashed
 * form ("" otherwise; uuid_size >= 37); 0 for anything that is not an encryption mapping
 * (dm-verity and dm-integrity use CRYPT- too); -EBADMSG for a malformed one.
 */
int col_storage_parse_dm_uuid(const char *uuid, char *ret_type, size_t type_size, char *ret_uuid,
			      size_t uuid_size) _wur_;
/* What the first bytes of a device hold, in blkid's TYPE words ("crypto_LUKS", "ext4",
 * "vfat", "gpt" …), or NULL when none of the formats probed for. */
const char *col_storage_probe(const void *data, size_t len);

/*
 * usb (agent/col_usb.c). An interface as inventory and USB control see it; name is the
 * interface string ("MTP" …) when known, else "".
 */
struct col_usb_iface {
	unsigned number, cls, subclass, protocol;
	char name[64];
};
/* What the binary sysfs "descriptors" attribute says about a device. */
struct col_usb_desc {
	unsigned vendor_id, product_id, bcd_usb, bcd_device;
	unsigned device_class, device_subclass, device_protocol;
	unsigned num_configs, config_value; /* config_value: the one ifaces come from */
	size_t n_ifaces;
	struct col_usb_iface ifaces[LIMIT_USB_INTERFACES];
};
/* The USB-IF base class name of a class code: "mass_storage", "hid" … or "unknown". */
const char *col_usb_class_name(unsigned cls);
/*
 * What a device is, for people and for policy: "mass_storage", "phone_or_camera",
 * "printer", "smart_card", "wireless", "video", "audio", "hid", "hub" or "other". A
 * composite device takes the first of these any interface has (storage wins over input);
 * device_class decides only when no interface is known.
 */
const char *col_usb_kind(unsigned device_class, const struct col_usb_iface *ifaces, size_t n);
/*
 * Parses a "descriptors" blob: the device descriptor, then every configuration. The
 * interfaces (alternate setting 0) come from the configuration whose value is
 * config_value, else the first. -EBADMSG for a malformed blob, -E2BIG past
 * LIMIT_USB_INTERFACES interfaces.
 */
int col_usb_parse_descriptors(const void *data, size_t len, unsigned config_value,
			      struct col_usb_desc *ret) _wur_;

/*
 * A LUKS header (agent/luks.c). Strings are NUL-terminated and may be empty; cipher, kdf
 * and key_bits of a LUKS2 volume live in its JSON area and are only known after
 * luks_parse_area().
 */
struct luks_header {
	unsigned version;        /* 1 or 2 */
	bool secondary;          /* a LUKS2 secondary header ("SKUL" magic) */
	char uuid[41];           /* as cryptsetup luksUUID prints it */
	char label[49];          /* LUKS2 */
	char subsystem[49];      /* LUKS2 */
	char checksum_alg[33];   /* LUKS2: "sha256" … */
	char cipher[66];         /* "aes-xts-plain64" */
	char hash[33];           /* the key-slot KDF's hash */
	char kdf[33];            /* "pbkdf2", "argon2id" … of the lowest key slot */
	unsigned key_bits;       /* volume key size */
	unsigned keyslots;       /* LUKS1: active slots; LUKS2: slots defined */
	uint64_t payload_offset; /* LUKS1, in 512-byte sectors */
	uint64_t hdr_size;       /* LUKS2: binary header + JSON area, bytes */
	uint64_t hdr_offset;     /* LUKS2: where this copy sits */
	uint64_t seqid;          /* LUKS2: bumped on every metadata update */
	int checksum_valid;      /* LUKS2: 1 valid, 0 invalid, -1 not checked */
};

/*
 * Parses the start of a device (len bytes, at least LIMIT_BLOCK_PROBE for LUKS2 to be
 * recognised in full). Returns 1 and fills *ret for a LUKS header, 0 when the bytes are not
 * LUKS at all, -EBADMSG when the magic is there but the header is truncated or malformed.
 */
int luks_parse_header(const void *data, size_t len, struct luks_header *ret) _wur_;

/*
 * Completes a LUKS2 header h from its whole header area (h->hdr_size bytes from the start
 * of the device): verifies the checksum (h->checksum_valid) and reads cipher, key size,
 * KDF and key-slot count from the JSON area. -EINVAL when len is short of hdr_size or h is
 * not LUKS2, -EBADMSG for a wrong checksum or unusable JSON, -ENOMEM.
 */
int luks_parse_area(const void *area, size_t len, struct luks_header *h) _wur_;
