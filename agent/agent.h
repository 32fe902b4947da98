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
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/limits.h"
#include "lib/macro.h"

/* The inventory document's schema version (docs/inventory.md). */
#define INVENTORY_SCHEMA 1

struct col_ctx {
	const char *root; /* "/" or a fixture tree */
	int64_t now;      /* wall clock, Unix seconds, for ages and uptimes */
	unsigned *n_read; /* files read successfully, counted by col_read_*() */
	/* the sections collected so far, for collectors that build on earlier ones (security
	 * asks software about packages); may be NULL */
	const json_t *doc;
	/* a clamd socket to probe even under another root (tests; see col_clamd.c) */
	const char *clamd_socket;
	/*
	 * Optional seam (docs/internals/privsep.md): reads a root-only file through the
	 * agent's privileged parent — a file of the parent's table whole (at most max bytes),
	 * or the first max bytes of a block device /dev/NAME. `run` sets it when
	 * privilege-separated; col_read_file(), col_read_attr() and col_read_prefix() ask it
	 * first and read the file themselves when it answers -ENOTSUP (not the parent's to
	 * read). Collectors never call it.
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

/*
 * A JSON string for text read from outside (a mount point, a USB product string): clean
 * UTF-8 is kept as it is; every other byte (control characters, invalid sequences) is
 * written as \xNN, so the value is always valid and nothing is silently dropped. NULL on
 * allocation failure.
 */
json_t *col_json_text(const char *s, size_t len);

/*
 * stat(2) of root + path (following symlinks, as col_read_file's open does), for
 * modification times and file types. Not counted as a read. Returns 0 or -errno.
 */
int col_stat(const struct col_ctx *ctx, const char *path, struct stat *ret) _wur_;

/*
 * Opens root + path read-only and close-on-exec, for files too large or too sparse to read
 * whole (lastlog is indexed by uid; wtmp grows for months): the caller pread()s the parts
 * it needs and closes *ret_fd. Counted as a read. Returns 0 or -errno.
 */
int col_open(const struct col_ctx *ctx, const char *path, int *ret_fd) _wur_;

/*
 * Lists the names in the directory root + path, without "." and "..", sorted bytewise.
 * -E2BIG when it holds more than max entries. On success *ret is a NULL-terminated array
 * owned by the caller (col_names_free) and *ret_n (optional) its length. Counted as a read.
 */
int col_list_dir(const struct col_ctx *ctx, const char *path, size_t max, char ***ret,
		 size_t *ret_n) _wur_;
/* Reads the target of the symlink root + path (not resolved). Counted as a read. */
int col_readlink(const struct col_ctx *ctx, const char *path, char **ret) _wur_;

/* Frees an array from col_list_dir (NULL is fine). */
void col_names_free(char **names);
static inline void col_names_freep(char ***names)
{
	col_names_free(*names);
}
/* Reads at most n bytes from the start of a file (fileio_read_head()); counted the same. */
int col_read_head(const struct col_ctx *ctx, const char *path, size_t n, char **ret,
		  size_t *ret_len) _wur_;

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

/*
 * The software section's backends (col_dpkg.c, col_snap.c, col_flatpak.c): each appends its
 * manager's packages to `packages` and returns how many, or -ENOENT when the manager is not
 * on the machine, another -errno when its database is unreadable (after recording that in
 * the section's errors), or -ENOMEM.
 */
int col_dpkg_collect(const struct col_ctx *ctx, json_t *section, json_t *packages) _wur_;
int col_snap_collect(const struct col_ctx *ctx, json_t *section, json_t *packages) _wur_;
int col_flatpak_collect(const struct col_ctx *ctx, json_t *section, json_t *packages) _wur_;
/* Sets section.apt: security source, last update. Returns 0 or -ENOMEM. */
int col_dpkg_collect_apt(const struct col_ctx *ctx, json_t *section) _wur_;

/* What col_dpkg_parse_status found besides the packages. */
struct col_dpkg_stats {
	unsigned listed;        /* stanzas added to packages */
	unsigned installed;     /* of which "install ok installed" */
	unsigned not_installed; /* stanzas skipped: state not-installed (a selection only) */
	unsigned malformed;     /* stanzas skipped: no Package or Status, junk in a field */
	unsigned bad_lines;     /* lines that are neither a field nor a continuation */
	unsigned bad_fields;    /* version, arch, source … that were junk: set to null */
	bool truncated;         /* the text did not end with a newline: last stanza dropped */
	char native_arch[32];   /* Architecture of the dpkg package itself, "" when absent */
};

/*
 * Parses dpkg's status text (len bytes, NUL-terminated at len; modified in place) and
 * appends one object per listed package to the array `packages`. Returns 0 with *ret
 * filled, or -ENOMEM (packages may then hold some of the packages).
 */
int col_dpkg_parse_status(char *text, size_t len, json_t *packages, struct col_dpkg_stats *ret)
	_wur_;

/* A Source field split as dpkg splits it: slices of the field, not NUL-terminated. */
struct col_dpkg_source {
	const char *name; /* up to the first space */
	size_t name_len;
	const char *version; /* inside "(...)", NULL when the field has none */
	size_t version_len;
};
/* Splits a Source field's value ("name" or "name (version)"). Never fails. The
 * status parser replaces an absent name or version by the binary package's. */
void col_dpkg_parse_source(const char *field, struct col_dpkg_source *ret);

/*
 * apt's pending security updates (col_apt.c): the installed dpkg packages (section.packages)
 * against the versions in the package lists of the sources whose Release file marks them
 * as security. Sets section.security_updates_pending and section.security_updates
 * (docs/inventory.md). Returns 0 (what it could not read is in the section's errors and
 * makes the count null) or -ENOMEM.
 */
int col_apt_collect(const struct col_ctx *ctx, json_t *section) _wur_;

/* The fields of a Release or InRelease file that say what a source is; "" when absent. */
struct col_apt_release {
	char origin[128], label[128], suite[128], codename[128];
};
/*
 * Parses the head of a Release file, or of an InRelease file (the same, clear-signed: the
 * armour and its "Hash:" lines are stepped over). Only the first paragraph's fields are
 * read; values longer than the fields are cut. text is modified. Returns 0, or -EBADMSG
 * when there is no field at all.
 */
int col_apt_parse_release(char *text, struct col_apt_release *ret) _wur_;
/* Whether a Release names a security source: Suite or Codename ending in "-security"
 * (Debian from 11, Ubuntu), or Label "Debian-Security" (Debian 10 and older too). */
bool col_apt_release_is_security(const struct col_apt_release *r);

/* Called for each stanza of a Packages list with its Package, Architecture and Version
 * (trimmed, NUL-terminated, valid for the call only). A negative return stops parsing. */
typedef int (*col_apt_stanza_fn)(const char *package, const char *arch, const char *version,
				 void *userdata);
struct col_apt_packages_stats {
	size_t stanzas;   /* given to fn */
	size_t skipped;   /* no Package, Architecture or Version, or one that is not a token */
	size_t bad_lines; /* neither a field nor a continuation */
	bool truncated;   /* at_end, and the text did not end with a newline: last stanza dropped */
};
/*
 * Parses the complete stanzas at the start of a Packages list piece text[0..len) (NUL at
 * len; modified in place): those ended by an empty line, and with at_end the rest too.
 * *ret_consumed is where the unparsed rest starts (the caller keeps it for the next
 * piece). Counts add to *st. Returns 0 or fn's negative return.
 */
int col_apt_parse_packages(char *text, size_t len, bool at_end, col_apt_stanza_fn fn,
			   void *userdata, struct col_apt_packages_stats *st, size_t *ret_consumed)
	_wur_;

/*
 * Streaming decompression of apt's lists (unpack.c): lz4 frames (decoded with a fixed
 * 64 KiB window, whatever the block size), gzip, or none.
 */
enum unpack_format {
	UNPACK_NONE,
	UNPACK_GZIP,
	UNPACK_LZ4
};
/* The format a list's file name says (".lz4", ".gz", else none); -ENOTSUP for the
 * compressors not read (".xz", ".bz2", ".lzma", ".zst"). */
int unpack_format_of(const char *name, enum unpack_format *ret) _wur_;
struct unpack;
/* A reader of the uncompressed bytes of fd (not closed by the reader), or of mem[0..mem_len)
 * when fd < 0, at most max_out of them. Returns 0 or -ENOMEM. */
int unpack_new(int fd, const void *mem, size_t mem_len, enum unpack_format format, size_t max_out,
	       struct unpack **ret) _wur_;
/* Up to n bytes into buf: how many (0 at the clean end), -EBADMSG for corrupt or truncated
 * data, -E2BIG past max_out, -errno when reading fails. */
ssize_t unpack_read(struct unpack *u, void *buf, size_t n) _wur_;
struct unpack *unpack_free(struct unpack *u);
static inline void unpack_freep(struct unpack **u)
{
	unpack_free(*u);
}

/* The few keys of a snap.yaml the inventory keeps; pointers into the parsed text or NULL. */
struct col_snap_meta {
	const char *name, *version, *arch, *type, *base, *confinement;
};
/* Reads top-level keys of snap.yaml text (modified in place). Never fails. */
void col_snap_parse_yaml(char *text, struct col_snap_meta *ret);

/* A flatpak deployment's metadata key file and deploy record; pointers into the input. */
struct col_flatpak_meta {
	const char *name, *runtime;
};
struct col_flatpak_deploy {
	const char *origin, *commit, *version;
};
/* Reads name= and runtime= of the [Application] or [Runtime] group. Never fails. */
void col_flatpak_parse_metadata(char *text, struct col_flatpak_meta *ret);
/* data must be NUL-terminated at len. -EBADMSG when it does not start with two strings. */
int col_flatpak_parse_deploy(const char *data, size_t len, struct col_flatpak_deploy *ret) _wur_;

/* The users section's parsers (col_users.c). */
struct col_login_defs {
	unsigned uid_min, uid_max;
};
/* UID_MIN and UID_MAX from login.defs text (modified); defaults 1000 and 60000. */
void col_users_parse_login_defs(char *text, struct col_login_defs *ret);
/*
 * Adds one account object per valid passwd line to `accounts`, a JSON object keyed by
 * name (the first entry of a name wins). Returns the number of lines skipped, or -ENOMEM.
 */
int col_users_parse_passwd(char *text, const struct col_login_defs *defs, json_t *accounts) _wur_;
/* Adds one group object per valid line to `groups`, keyed by name. Skipped count or -ENOMEM. */
int col_users_parse_group(char *text, json_t *groups) _wur_;
/*
 * Applies shadow lines to the accounts parsed from passwd: password state (for accounts
 * whose passwd field is "x"), last change, maximum age, expiry. Never copies a hash.
 * Returns the number of malformed lines, or -ENOMEM.
 */
int col_users_parse_shadow(char *text, json_t *accounts) _wur_;
/*
 * Classifies a password field: "empty" (no password needed!), "locked" ('!' or '*'),
 * "set" (a crypt hash; *ret_algorithm names it: "yescrypt", "sha512crypt" …) or "invalid"
 * (matches no password). *ret_algorithm is NULL unless "set".
 */
const char *col_users_password_state(const char *field, const char **ret_algorithm);

/* Login records (utmp.c): wtmp/utmp records and lastlog entries, decoded. */
struct utmp_entry {
	int type; /* USER_PROCESS (7), DEAD_PROCESS (8), BOOT_TIME (2) … */
	int32_t pid;
	int64_t tv_sec;
	int32_t tv_usec;
	char line[33];
	char id[5];
	char user[33];
	char host[257];
	int32_t addr[4];
};
typedef int (*utmp_fn)(const struct utmp_entry *e, void *userdata);
/* Bytes per wtmp record in this C library's layout (384 on x86_64 glibc). */
size_t utmp_record_size(void);
/* Decodes one record of utmp_record_size() bytes at rec (any alignment). */
void utmp_decode(const void *rec, struct utmp_entry *ret);
/*
 * Calls fn for each whole record in data, oldest first. *ret_trailing (optional) gets the
 * size of a trailing partial record. Returns the number of records, or fn's first
 * negative return.
 */
int utmp_foreach(const void *data, size_t len, utmp_fn fn, void *userdata, size_t *ret_trailing)
	_wur_;

struct utmp_lastlog {
	int64_t time;
	char line[33];
	char host[257];
};
/* Bytes per lastlog record (292 on x86_64 glibc); the record of uid U is at U * size. */
size_t utmp_lastlog_size(void);
/* Decodes a lastlog record of len bytes: -EBADMSG when cut short, -ENOENT for "never". */
int utmp_lastlog_decode(const void *rec, size_t len, struct utmp_lastlog *ret) _wur_;

/*
 * The security section (col_security.c) and the pieces it is built from: antivirus
 * (col_antivirus.c, cvd.c), firewall (col_firewall.c), automatic updates
 * (col_autoupdate.c), ssh (col_ssh.c), time synchronisation (col_timesync.c) and screen
 * lock (col_screenlock.c), over three helpers other collectors may use too: directory
 * listings (dirlist.c), the process list (proclist.c) and INI-style key files (keyfile.c).
 */

/* dirlist.c: names in a directory, or paths matching a glob, under ctx->root. */
struct dirlist {
	char **names; /* sorted byte-wise (C locale), each the caller's until dirlist_done() */
	size_t n;
};
/* Lists the entries of root + dir (without "." and ".." and names that are not clean
 * UTF-8), at most max of them, sorted.
 * -errno when the directory cannot be opened; -E2BIG past max; -ENOMEM. */
int dirlist_read(const struct col_ctx *ctx, const char *dir, size_t max, struct dirlist *ret) _wur_;
/* Expands a glob(7) pattern (an absolute path) under the root. Results are absolute paths
 * as seen from the endpoint ("/etc/ssh/sshd_config.d/a.conf"), sorted; no match is an empty
 * list, not an error. The root's own name is escaped, so it may contain '*' or '['. */
int dirlist_glob(const struct col_ctx *ctx, const char *pattern, size_t max, struct dirlist *ret)
	_wur_;
void dirlist_done(struct dirlist *l);

/* proclist.c: the processes running on the endpoint, from /proc/[0-9]*, read once. */
#define PROCLIST_COMM_LEN 16 /* TASK_COMM_LEN: the kernel keeps 15 bytes of a name */
struct proc_entry {
	int pid;
	char comm[PROCLIST_COMM_LEN];
	char *exe; /* target of /proc/PID/exe, NULL when unreadable (not root, kernel thread) */
};
struct proclist {
	struct proc_entry *v; /* sorted by pid */
	size_t n;
	bool truncated; /* more than `max` processes: the rest were not listed */
};
/* Lists the processes. -errno when root + /proc cannot be listed (then nothing is known
 * about running programs); a process that exits while being read is skipped. */
int proclist_load(const struct col_ctx *ctx, size_t max, struct proclist *ret) _wur_;
void proclist_done(struct proclist *pl);
/* Whether a comm (at most 15 bytes) names the program `name`, which may be longer. */
bool proclist_comm_matches(const char *comm, const char *name);
/* The first process named `name` (by comm, or by the basename of its exe). When exe_dirs
 * (NULL-terminated) is given and a process's exe is known, the exe must lie under one of
 * them: generic names such as "startd" then only match the product's own binaries. */
const struct proc_entry *proclist_find(const struct proclist *pl, const char *name,
				       const char *const *exe_dirs);

/* keyfile.c: INI-style files (dconf keyfiles, kscreenlockerrc, timesyncd.conf, ufw.conf). */
typedef int (*keyfile_fn)(const char *group, const char *key, const char *value, unsigned line,
			  void *userdata);
/*
 * Calls fn for each "key=value" line, with the current "[group]" ("" before the first).
 * Comments start with '#' or ';'. Keys and values are trimmed; values are raw. Returns the
 * number of malformed lines (>= 0), or the first negative return of fn.
 */
int keyfile_parse(char *text, keyfile_fn fn, void *userdata) _wur_;

/* cvd.c: the 512-byte text header of ClamAV databases (.cvd, .cld, .cud). */
#define CVD_HEADER_SIZE 512
struct cvd_header {
	uint64_t version;
	uint64_t signatures;
	unsigned functionality_level;
	char builder[64];
	char time_text[64]; /* "14 Nov 2024 09-51 +0000" as written */
	int64_t build_time; /* Unix seconds; -1 when neither stime nor the date parse */
	bool from_stime;    /* build_time came from the stime field, not the date text */
	bool truncated;     /* fewer than CVD_HEADER_SIZE bytes were given */
};
/*
 * Parses a header: "ClamAV-VDB:time:version:signatures:flevel:md5:dsig:builder:stime",
 * padded with spaces to 512 bytes. len may exceed the header (only the first 512 bytes are
 * looked at) or fall short (a truncated file: what is there is parsed, truncated is set).
 * Returns 0, or -EBADMSG naming nothing: the caller says which file.
 */
int cvd_parse_header(const char *data, size_t len, struct cvd_header *ret) _wur_;
/* Parses the header's date, "DD Mon YYYY HH-MM +ZZZZ", into Unix seconds; -EBADMSG. */
int cvd_parse_time(const char *text, int64_t *ret) _wur_;

/* The packages the security section asks dpkg about, with what it found. */
enum sec_pkg_id {
	SEC_PKG_CLAMAV,
	SEC_PKG_CLAMAV_DAEMON,
	SEC_PKG_CLAMAV_FRESHCLAM,
	SEC_PKG_CLAMDSCAN,
	SEC_PKG_UNATTENDED_UPGRADES,
	SEC_PKG_OPENSSH_SERVER,
	SEC_PKG_SYSTEMD_TIMESYNCD,
	SEC_PKG_CHRONY,
	SEC_PKG_NTP,
	SEC_PKG_NTPSEC,
	SEC_PKG_UFW,
	SEC_PKG_FIREWALLD,
	SEC_PKG_NFTABLES,
	SEC_PKG_NETFILTER_PERSISTENT,
	SEC_PKG_LIGHT_LOCKER,
	SEC_PKG_XSCREENSAVER,
	SEC_PKG_MAX,
};
struct sec_pkg {
	bool installed;
	char *version; /* dpkg's Version of the installed package, NULL otherwise */
};

/* What the security section's parts share: read once, used by all. */
struct sec_ctx {
	const struct col_ctx *col;
	json_t *section; /* the security section: its "errors" collect every part's */
	struct proclist procs;
	bool procs_read; /* false: /proc could not be listed, "running" is unknown (null) */
	bool dpkg_read;  /* false: the dpkg status could not be read */
	struct sec_pkg pkgs[SEC_PKG_MAX];
};

/* Whether root + path exists (without following a final symlink). */
bool col_security_exists(const struct col_ctx *ctx, const char *path);
/* Whether systemd unit `unit` is enabled (a link in /etc/systemd/system/ *.wants/) and
 * whether it is masked (/etc/systemd/system/UNIT -> /dev/null). */
int col_security_unit(const struct sec_ctx *s, const char *unit, bool *ret_enabled,
		      bool *ret_masked) _wur_;
/* The process named `name` (see proclist_find()), or NULL. */
const struct proc_entry *col_security_proc(const struct sec_ctx *s, const char *name,
					   const char *const *exe_dirs);
/* Sets obj[field] to whether a process runs (null when /proc was unreadable) and, when
 * pid_field is given, obj[pid_field] to its pid or null. Returns 0 or -ENOMEM. */
int col_security_set_running(const struct sec_ctx *s, json_t *obj, const char *field,
			     const char *pid_field, const struct proc_entry *p) _wur_;
/* A JSON string for text read from a file: null for NULL or text that is not clean UTF-8
 * (jansson refuses it). NULL only on allocation failure. */
json_t *col_security_text(const char *s);
/* Turns tabs and carriage returns in a configuration line into spaces (they only separate
 * words) and tells whether what remains is clean UTF-8 text, fit to be reported. */
bool col_security_clean_line(char *line);
/* "file:line", new string, NULL on allocation failure. */
char *col_security_source(const char *file, unsigned line);

int col_antivirus_collect(struct sec_ctx *s, json_t *out) _wur_;
int col_firewall_collect(struct sec_ctx *s, json_t *out) _wur_;
int col_autoupdate_collect(struct sec_ctx *s, json_t *out) _wur_;
int col_ssh_collect(struct sec_ctx *s, json_t *out) _wur_;
int col_timesync_collect(struct sec_ctx *s, json_t *out) _wur_;
int col_screenlock_collect(struct sec_ctx *s, json_t *out) _wur_;

/*
 * The security section's parsers of outside input, each with a fuzz target. Those that
 * take `errsink` record what they refuse with col_error() on it, with file:line.
 */

/* dpkg status: for each name in names[0..n), whether it is installed and its version.
 * Returns the number of stanzas read, or -ENOMEM. pkgs[] must start zeroed. */
int col_security_parse_dpkg_status(char *text, const char *const *names, size_t n,
				   struct sec_pkg *pkgs) _wur_;
void col_security_pkgs_done(struct sec_pkg *pkgs, size_t n);

/* clamd.conf / freshclam.conf into conf (an object): local_socket, tcp_socket,
 * on_access_include_paths, on_access_mount_paths, on_access_prevention, scan_on_access,
 * database_directory (+ _line), example. Returns malformed lines (>= 0) or -ENOMEM. */
int col_antivirus_parse_clamav_conf(char *text, json_t *conf) _wur_;

/* sshd_config, Include by Include. */
enum sshd_key {
	SSHD_PERMIT_ROOT_LOGIN,
	SSHD_PASSWORD_AUTHENTICATION,
	SSHD_KBD_INTERACTIVE_AUTHENTICATION,
	SSHD_PUBKEY_AUTHENTICATION,
	SSHD_PERMIT_EMPTY_PASSWORDS,
	SSHD_KEY_MAX,
};
struct sshd_config;
/* Reads and parses every file matching pattern (absolute), at include depth `depth`. */
typedef int (*sshd_include_fn)(struct sshd_config *c, const char *pattern, unsigned depth);
struct sshd_config {
	char *value[SSHD_KEY_MAX];  /* first value in the global section, lower case */
	char *source[SSHD_KEY_MAX]; /* "file:line" of that value */
	unsigned match_blocks;      /* Match lines seen: their settings are not reported */
	unsigned parsed;            /* files parsed, bounded by LIMIT_INCLUDE_FILES */
	bool loop_reported;         /* the Include loop or fan-out was reported once */
	json_t *files;              /* array: every file read, in order */
	json_t *errsink;            /* object whose "errors" receive what was refused */
	sshd_include_fn include;    /* NULL: Include lines are noted, not followed */
	void *userdata;
};
/* Parses one file's text. depth counts Include levels (0 for sshd_config itself); past
 * LIMIT_INCLUDE_DEPTH an Include is refused as a loop. A file parsed again (through a
 * loop) reports nothing new. Returns 0 or -ENOMEM. */
int col_ssh_parse_sshd_config(struct sshd_config *c, char *text, const char *file, unsigned depth)
	_wur_;
void col_ssh_config_done(struct sshd_config *c);

/* apt.conf syntax: APT::Periodic::* in either "A::B::C "v";" or "A { B { C "v"; }; };". */
enum apt_key {
	APT_PERIODIC_ENABLE,
	APT_PERIODIC_UPDATE_PACKAGE_LISTS,
	APT_PERIODIC_UNATTENDED_UPGRADE,
	APT_PERIODIC_DOWNLOAD_UPGRADEABLE,
	APT_KEY_MAX,
};
struct apt_periodic {
	char *value[APT_KEY_MAX];
	char *source[APT_KEY_MAX];
};
/* Parses one file; later assignments (and later files) override earlier ones. Records a
 * syntax error on errsink and stops at it, as apt does. Returns 0 or -ENOMEM. */
int col_autoupdate_parse_apt_conf(char *text, size_t len, const char *file, struct apt_periodic *st,
				  json_t *errsink) _wur_;
void col_autoupdate_periodic_done(struct apt_periodic *st);

/* dconf locks files: one key path per line; marks the screen-lock keys listed in locked[]
 * (indexed like the screen-lock key table). Returns the number of keys locked. */
#define SCREENLOCK_GNOME_KEYS 5
int col_screenlock_parse_dconf_locks(char *text, bool locked[SCREENLOCK_GNOME_KEYS]);
/* Parses a GVariant text value as dconf keyfiles write it ("true", "uint32 300", "300"). */
int col_screenlock_parse_gvariant_bool(const char *v, bool *ret) _wur_;
int col_screenlock_parse_gvariant_uint(const char *v, uint64_t *ret) _wur_;

/* nftables.conf: counts rule statements inside chains and drop/reject policies. */
struct nft_summary {
	unsigned tables;
	unsigned chains;
	unsigned rules;
	unsigned drop_policies;
	unsigned includes;
};
int col_firewall_parse_nft_conf(char *text, struct nft_summary *ret) _wur_;
/* iptables-save files (/etc/iptables/rules.v4): the number of "-A" rule lines. */
unsigned col_firewall_count_iptables_rules(char *text);

/* chrony.conf / ntp.conf: appends {daemon, kind, name, source} for each server, pool and
 * peer line to servers, and {directive, argument} for each confdir, sourcedir, include and
 * includefile line to includes. Returns malformed lines (>= 0) or -ENOMEM. */
int col_timesync_parse_ntp_conf(char *text, const char *daemon, const char *file, json_t *servers,
				json_t *includes) _wur_;

/*
 * The live clamd probe (col_clamd.c): asks clamd, on its LocalSocket, whether it runs and
 * which daily database it has loaded, into clamav (security.antivirus.clamav) as
 * "clamd_probe". Only for --root / or when ctx->clamd_socket is set. Returns 0 or -ENOMEM.
 */
int col_clamd_collect(const struct col_ctx *ctx, json_t *clamav) _wur_;
/* What clamd's VERSION answer says: "ClamAV 1.4.6/27352/Tue Jul 30 08:26:00 2024". */
struct clamd_version {
	char engine[64];        /* "1.4.6" */
	uint64_t daily_version; /* 0 when clamd has no daily database loaded */
	char time_text[64];     /* as written; "" when absent or not text */
	int64_t daily_time;     /* that text read as UTC, -1 when it does not parse */
};
/* Parses a VERSION answer; -EBADMSG when it is not one. */
int col_clamd_parse_version(const char *reply, struct clamd_version *ret) _wur_;
