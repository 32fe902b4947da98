/*
 * USB and removable-media control (docs/usb-control.md): the pieces of the agent that
 * decide each USB device as it arrives and enforce the verdict.
 *
 *   usbdev.c          a device's facts from sysfs and uevents, into fixed buffers
 *   usbdoc.c          the policy document the server sends ({version, rules_text,
 *                     registry, grants}), kept in the state directory as the last good
 *                     one, and the network facts its conditions read
 *   enf_usb.c         the enforcer: a udev monitor, decisions, `authorized` writes
 *   enf_usb_block.c   read-only storage: BLKROSET, remounts, optical device nodes
 *   enf_usb_audit.c   refused writes and burn attempts, from the kernel audit subsystem
 *   mon_removable.c   every file written to removable media (fanotify)
 *
 * Why a header of its own: agent.h is the collector interface every collector branch
 * edits, and the daemon has daemon.h; this one keeps USB control's declarations out of
 * both, so merges stay trivial.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/monitor.h"
#include "lib/diag.h"
#include "lib/limits.h"
#include "lib/macro.h"
#include "lib/usbpolicy.h"

/* ---- a device's facts (usbdev.c) ---- */

#define USBDEV_PATH    256u /* a sysfs device path without "/sys": "/devices/pci…/1-2" */
#define USBDEV_NAME    64u  /* a kernel name: "sdb1", "bus/usb/001/004" */
#define USBDEV_STRING  384u /* a USB string descriptor as UTF-8: 126 UTF-16 units at most */
#define USBDEV_SUBSYS  32u
#define USBDEV_BUSPATH 32u /* "1-2.4.1" */

enum usbdev_action {
	USBDEV_OTHER,
	USBDEV_ADD,
	USBDEV_REMOVE,
	USBDEV_CHANGE,
	USBDEV_BIND,
	USBDEV_UNBIND,
};

/*
 * What a uevent says about a device: from the netlink message libudev hands over, or from
 * the device's sysfs `uevent` file (same KEY=VALUE properties). Numbers absent are -1.
 */
struct usbdev_uevent {
	enum usbdev_action action;
	char devpath[USBDEV_PATH];
	char subsystem[USBDEV_SUBSYS];
	char devtype[USBDEV_SUBSYS];
	char devname[USBDEV_NAME]; /* "sdb", or "/dev/sdb" as udev gives it */
	int major, minor;
	int busnum, devnum;
	bool has_product; /* PRODUCT=781/5581/100: vendor, product, bcdDevice in hex */
	unsigned vendor_id, product_id, bcd_device;
	bool has_type; /* TYPE=0/0/0: device class, subclass, protocol in decimal */
	unsigned type[3];
	bool has_interface; /* INTERFACE=8/6/80: interface class, subclass, protocol */
	unsigned interface[3];
};

void usbdev_uevent_init(struct usbdev_uevent *u);
/*
 * Takes one property. Unknown keys are ignored; a known key with a malformed or over-long
 * value is left unset and gives -EBADMSG (or -E2BIG), so one bad property never hides the
 * others.
 */
int usbdev_uevent_set(struct usbdev_uevent *u, const char *key, const char *value) _wur_;
/* Parses a `uevent` file's KEY=VALUE lines (modified in place) into u, which the caller
 * initialised. Returns the number of malformed lines (0 when all were good). */
int usbdev_parse_uevent(char *text, struct usbdev_uevent *u);
/* The action word of a uevent ("add", "remove" …). */
enum usbdev_action usbdev_action_from_string(const char *s);

/*
 * Sysfs attribute values, trimmed of the newline a kernel adds (and a recording may lack).
 * usbdev_parse_hex: exactly `digits` hex digits ("0781", "08"). usbdev_parse_devnum:
 * "MAJOR:MINOR". -EINVAL otherwise.
 */
int usbdev_parse_hex(const char *s, unsigned digits, unsigned *ret) _wur_;
int usbdev_parse_devnum(const char *s, unsigned *ret_major, unsigned *ret_minor) _wur_;
/*
 * The value of KEY in KEY=VALUE lines (logind's state files, /run/systemd/seats/seat0),
 * into out; false when absent, empty or longer than size - 1.
 */
bool usbdev_parse_env(const char *text, const char *key, char *out, size_t size);
/* Trims ASCII white space at both ends of the len bytes at s, in place; returns the new
 * length and NUL-terminates. */
size_t usbdev_trim(char *s, size_t len);

/* A USB device as USB control sees it. Strings are "" when the device has none. */
struct usbdev {
	char devpath[USBDEV_PATH];
	char bus_path[USBDEV_BUSPATH]; /* the sysfs name: "1-2.4" */
	unsigned vendor_id, product_id, bcd_device;
	unsigned device_class, device_subclass, device_protocol;
	int busnum, devnum;    /* -1 when unknown */
	unsigned config_value; /* the active configuration, 0 when unknown */
	bool authorized;       /* what its `authorized` file said when read */
	char manufacturer[USBDEV_STRING];
	char product[USBDEV_STRING];
	char serial[USBDEV_STRING];
	size_t n_ifaces;
	bool ifaces_from_descriptors; /* no interface directory yet: all from `descriptors` */
	struct col_usb_iface ifaces[LIMIT_USB_INTERFACES];
};

/*
 * Reads the device at sys_root + "/sys" + devpath into *ret: ids, strings, class, and the
 * interfaces of the active configuration — as the binary `descriptors` attribute lists
 * them, each taken from its interface directory when that exists (it has the interface's
 * name; the directories appear one by one after the "add" uevent, never for a device that
 * is not authorised), or the directories alone when there are no descriptors.
 * Allocates nothing: `scratch` (at least LIMIT_USB_DESCRIPTORS bytes) holds the
 * descriptors while they are parsed. -ENOENT when the device is gone, -EBADMSG when its
 * ids cannot be read from attributes or descriptors.
 */
int usbdev_read(const char *sys_root, const char *devpath, void *scratch, size_t scratch_size,
		struct usbdev *ret) _wur_;

/*
 * Reads the text attribute `name` of the device at devpath — a path relative to its
 * directory: "authorized", "1-2:1.0/authorized", "device/type", "uevent" — trimmed, into
 * buf (size bytes). -ENOENT when it is absent, -E2BIG when it does not fit, -EINVAL for a
 * path that climbs.
 */
int usbdev_read_attr(const char *sys_root, const char *devpath, const char *name, char *buf,
		     size_t size) _wur_;

/* The JSON identity of a device for events: ids, names, serial, classes, interfaces. */
json_t *usbdev_identity_json(const struct usbdev *d);

/* ---- the policy document (usbdoc.c) ---- */

#define USBDOC_VERSION 64u /* a policy version string */

struct usbdoc_grant {
	char *serial;
	char *user; /* one of user and host is set */
	char *host;
	int64_t until; /* Unix seconds */
};

struct usbdoc_reg {
	char *serial;
	char **tags; /* NULL-terminated */
};

/* A policy document as the server sends it, parsed. */
struct usbdoc {
	char version[USBDOC_VERSION];
	struct usb_policy *rules;
	struct usbdoc_reg *registry; /* sorted by serial */
	size_t n_registry;
	struct usbdoc_grant *grants;
	size_t n_grants;
	char *text; /* the document as received, for the state directory */
};

/*
 * Parses a policy document (JSON text, at most LIMIT_USB_POLICY_DOC bytes). Every problem
 * goes to d: JSON errors, missing or mistyped members, rule errors with their line and
 * column (file "rules_text"), duplicate serials in the registry. Returns 0 and *ret,
 * -EINVAL when d holds errors, -E2BIG, -ENOMEM.
 */
int usbdoc_parse(const char *text, size_t len, struct diag *d, struct usbdoc **ret) _wur_;
struct usbdoc *usbdoc_free(struct usbdoc *doc);
DEFINE_POINTER_CLEANUP(struct usbdoc, usbdoc_free)

/* The registry tags of a serial (NULL-terminated), or NULL when it is not registered. */
const char *const *usbdoc_tags(const struct usbdoc *doc, const char *serial);
/* The grant that lets this serial in now for this user or host, or NULL. */
const struct usbdoc_grant *usbdoc_grant(const struct usbdoc *doc, const char *serial,
					const char *user, const char *host, int64_t now);
/* The earliest grant expiry still ahead of now, or 0. */
int64_t usbdoc_next_expiry(const struct usbdoc *doc, int64_t now);

/* The last good policy in the state directory: usb-policy.json. */
#define USBDOC_STATE_FILE "usb-policy.json"
/* Replaces it atomically and durably with doc's text. */
int usbdoc_save(const struct usbdoc *doc, const char *state_dir) _wur_;
/* Loads and parses it; -ENOENT when there is none. Errors of a corrupt file go to d. */
int usbdoc_load(const char *state_dir, struct diag *d, struct usbdoc **ret) _wur_;

/* ---- network facts for the policy's `network` conditions (usbdoc.c) ---- */

#define USBNET_MAX 16u /* SSIDs, gateways, domains and addresses kept of each */

/* The agent's network facts, with their own storage (a plain value: copy it freely). */
struct usbnet {
	char ssids[USBNET_MAX][64];
	char gateways[USBNET_MAX][64];
	char domains[USBNET_MAX][256];
	size_t n_ssids, n_gateways, n_domains, n_ipv4;
	uint32_t ipv4[USBNET_MAX]; /* host order */
	bool open_wifi, online;
};

/*
 * Fills *ret from the inventory's network section (docs/inventory.md): default-route
 * gateways, global IPv4 addresses, DNS search domains; Wi-Fi from a "wifi" member when a
 * collector provides one ([{ssid, encrypted}]). Online when there is a default route or a
 * global address. Never fails: what is missing or malformed is simply not a fact.
 */
void usbdoc_network(const json_t *network, struct usbnet *ret);

/* Pointer arrays over a usbnet, for usb_policy_network_context(). */
struct usbnet_view {
	const char *ssids[USBNET_MAX + 1];
	const char *gateways[USBNET_MAX + 1];
	const char *domains[USBNET_MAX + 1];
	struct usb_network_facts facts;
};
/* Fills v to describe n (which must outlive v) and returns &v->facts. */
const struct usb_network_facts *usbdoc_network_view(const struct usbnet *n, struct usbnet_view *v);

/* ---- the enforcer (enf_usb.c) ---- */

struct enf_usb_audit;

struct enf_usb_options {
	const char *sys_root;  /* where /sys is: "/" (also under umockdev) or a test tree */
	const char *dev_root;  /* where device nodes are opened: "/" or a test tree */
	const char *root;      /* /run (logins, markers), /etc/passwd: "/" or a test tree */
	const char *state_dir; /* the last good policy */
	const char *host;      /* this host's name, for grants by host */
};

/*
 * Creates the USB enforcer. Its monitor fd is an epoll set over the udev monitor, a timer
 * and a wake-up event; the first dispatch decides the devices already present. Loads the
 * last good policy from the state directory (none: nothing is enforced, and every device
 * is recorded with reason "no policy"). Returns 0 and *ret, or -errno.
 */
int enf_usb_new(const struct enf_usb_options *o, struct monitor **ret) _wur_;

/*
 * The privileged operations of USB control (docs/usb-control.md, "In `mamori-agent run`"). Unset —
 * the default — the enforcer performs them itself, as root (mamori-usb-enforce); under
 * privilege separation `mamori-agent run` sets them to requests to its privileged parent
 * (privsep_usb_ops()). Each returns 0 (or, for set_ro, 1 when the flag changed) or -errno.
 *   authorize      0/1 into sys/<devpath>[/<iface>]/authorized
 *   set_ro         BLKROSET on the block device devname (major:minor)
 *   restrict_node  take write permission off a node (chr: a character device)
 *   remount_ro     remount the file system at mount_point read-only
 *   marker         mark bus_path read-only for the udev rule (devpath), unmark it (devpath
 *                  NULL), or clear every marker (bus_path NULL)
 *   audit_rule     add or delete the audit rule for device major:minor, kind "ro"/"burn"
 */
struct enf_usb_ops {
	void *userdata;
	int (*authorize)(void *ud, const char *devpath, const char *iface, bool on);
	int (*set_ro)(void *ud, const char *devname, unsigned major, unsigned minor, bool ro);
	int (*restrict_node)(void *ud, const char *devname, unsigned major, unsigned minor,
			     bool chr);
	int (*remount_ro)(void *ud, const char *mount_point);
	int (*marker)(void *ud, const char *bus_path, const char *devpath);
	int (*audit_rule)(void *ud, bool add, const char *kind, unsigned major, unsigned minor);
};

/* Routes the privileged operations through ops (copied). Before the first dispatch. */
void enf_usb_set_ops(struct monitor *m, const struct enf_usb_ops *ops);

/* Sets the agent's network facts (see usbdoc_network); present devices are decided
 * again at the next dispatch when the network context changed. */
void enf_usb_set_network(struct monitor *m, const struct usbnet *net);

/* Hands the enforcer the removable-media file monitor, so mounts of USB storage are
 * watched (mon_removable_watch); NULL detaches it. */
void enf_usb_set_removable(struct monitor *m, struct monitor *removable);

/* Hands the enforcer the audit recorder (enf_usb_audit_open()), which it then owns:
 * refused writes and burn attempts become records. Before the first dispatch only. */
int enf_usb_set_audit(struct monitor *m, struct enf_usb_audit *audit) _wur_;

/* The version of the policy in force, "" when there is none. */
const char *enf_usb_policy_version(const struct monitor *m);

/* ---- records of refused writes (enf_usb_audit.c) ---- */

/* One audit record's fields that matter here (absent numbers are -1, strings ""). */
struct enf_usb_audit_rec {
	int type; /* AUDIT_SYSCALL, AUDIT_PATH … */
	uint64_t serial;
	long syscall, exit, pid, uid, auid, item, mode;
	long dev_major, dev_minor, rdev_major, rdev_minor; /* PATH: dev=08:11 rdev=00:00 */
	bool success;
	bool parent; /* PATH: nametype=PARENT, the directory of the name */
	char comm[64];
	char key[128];
	char exe[LIMIT_PATH];
	char name[LIMIT_PATH];
	char cwd[LIMIT_PATH];
};

#define ENF_USB_AUDIT_PATHS 6u /* names kept of one syscall */

/* One name a syscall touched: its path, the file system it is on, the device it is. */
struct enf_usb_audit_path {
	char name[LIMIT_PATH]; /* absolute when the cwd was known */
	long dev_major, dev_minor, rdev_major, rdev_minor, mode;
	bool parent;
};

/*
 * A write-like syscall that matched one of our rules, joined from its records. The rules'
 * device fields match major and minor separately (any name, its file system's device or
 * its own), so a record is only a candidate: the enforcer attributes it by an exact
 * major:minor of one of its paths, or drops it.
 */
struct enf_usb_audit_event {
	long syscall, exit, pid, uid, auid;
	bool success;
	char comm[64];
	char exe[LIMIT_PATH];
	size_t n_paths;
	struct enf_usb_audit_path paths[ENF_USB_AUDIT_PATHS];
};

typedef void (*enf_usb_audit_fn)(void *userdata, const struct enf_usb_audit_event *ev);

/*
 * Parses one audit record's text ("audit(T:SERIAL): key=value …"), as the kernel sends it
 * on the multicast group, into *ret. Strings are decoded (quoted or hex). -EBADMSG when
 * the text is not an audit record.
 */
int enf_usb_audit_parse(int type, char *text, struct enf_usb_audit_rec *ret) _wur_;
/* Opens the audit sockets (CAP_AUDIT_CONTROL, CAP_AUDIT_READ) and turns auditing on when
 * it is off and not locked. */
int enf_usb_audit_open(struct enf_usb_audit **ret) _wur_;
/*
 * For a process that may not add rules (the unprivileged worker): an audit reader around
 * the multicast socket log_fd (which it now owns), whose rules the privileged parent adds.
 */
int enf_usb_audit_from_fd(int log_fd, struct enf_usb_audit **ret) _wur_;
/* Hands the multicast socket out (to the worker); a keeps its rules. -1 when none. */
int enf_usb_audit_take_log_fd(struct enf_usb_audit *a);
/* Deletes the rules it added and closes its sockets. */
struct enf_usb_audit *enf_usb_audit_free(struct enf_usb_audit *a);
/* The multicast socket to watch for records. */
int enf_usb_audit_fd(const struct enf_usb_audit *a);
/* Adds (once) the rule for writes to device major:minor, of kind "ro" or "burn". */
int enf_usb_audit_watch(struct enf_usb_audit *a, const char *kind, unsigned major, unsigned minor)
	_wur_;
void enf_usb_audit_unwatch(struct enf_usb_audit *a, const char *kind, unsigned major,
			   unsigned minor);
/* Reads every waiting record; fn gets each joined event of ours. -errno when the socket
 * broke. */
int enf_usb_audit_drain(struct enf_usb_audit *a, enf_usb_audit_fn fn, void *userdata) _wur_;
/* "openat", "mkdir" … for this architecture's syscall numbers; NULL when not one of the
 * writing calls. */
const char *enf_usb_audit_syscall_name(long nr);

/* ---- read-only storage (enf_usb_block.c) ---- */

/* Where the enforcer marks read-only USB devices for the udev rule: one file per device,
 * named by its bus path ("1-2"), holding its devpath. */
#define ENF_USB_MARKER_DIR "/run/mamori/usb-ro"

/*
 * For the udev rule (docs/usb-control.md): when the USB device a block or sg device at
 * devpath lies under is marked read-only, makes the block device read-only (the disk
 * too, for a partition) before udev announces it to anyone else. Returns 1 when marked
 * (the rule then takes the node's write permission), 0 when not, -errno.
 */
int enf_usb_block_udev(const struct enf_usb_options *o, const char *devpath) _wur_;

/*
 * Opens the device node devname ("sdb", or "/dev/sdb" as udev gives it) under dev_root
 * non-blocking with `flags`, and checks it is the block (chr: character) device
 * major:minor. -ENODEV when the node is something else.
 */
int enf_usb_block_open(const char *dev_root, const char *devname, unsigned major, unsigned minor,
		       bool chr, int flags, int *ret_fd) _wur_;
/* BLKROSET: returns 1 when the flag changed, 0 when it was already so, -errno. */
int enf_usb_block_set_ro(const char *dev_root, const char *devname, unsigned major, unsigned minor,
			 bool ro) _wur_;
/* 0/1 into sys_root/sys + devpath [+ "/" + iface] + "/authorized". 0 or -errno. */
int enf_usb_block_authorize(const char *sys_root, const char *devpath, const char *iface, bool on)
	_wur_;
/* Marks the USB device bus_path read-only for the udev rule (its devpath into
 * root/run/mamori/usb-ro/bus_path), unmarks it (devpath NULL), or clears every marker
 * (bus_path NULL). 0 or -errno. */
int enf_usb_block_marker(const char *root, const char *bus_path, const char *devpath) _wur_;
/* Takes write permission off a node: mode bits and its access ACL. */
int enf_usb_block_restrict(const char *dev_root, const char *devname, unsigned major,
			   unsigned minor, bool chr) _wur_;
/* The mounts of the agent's mount namespace (root + /proc/self/mountinfo; root NULL is
 * the live one) as the storage section lists them (col_storage_parse_mountinfo). */
int enf_usb_block_mounts(const char *root, json_t **ret) _wur_;
/* Remounts the file system mounted at mount_point read-only (its superblock). */
int enf_usb_block_remount_ro(const char *mount_point) _wur_;

/* ---- removable-media file records (mon_removable.c) ---- */

/* Creates the monitor around a fanotify descriptor (mon_removable_open_privileged()). */
int mon_removable_open_privileged(void) _wur_;
int mon_removable_new(int fanotify_fd, const char *root, struct monitor **ret) _wur_;
/*
 * Watches the file system mounted at `path` (a mount of removable media): every file
 * closed after writing becomes a "file.write" event, tagged with `device` (borrowed JSON,
 * copied). Returns 0, or -errno when the file system cannot be marked.
 */
int mon_removable_watch(struct monitor *m, const char *path, dev_t dev, const json_t *device) _wur_;
/* Marks (or unmarks) the file system mounted at mount_point for FAN_CLOSE_WRITE; needs
 * CAP_SYS_ADMIN. 0 or -errno. */
int mon_removable_mark(int fanotify_fd, const char *mount_point, bool add) _wur_;
/* Routes fanotify marks through fn (the privileged parent places them: an unprivileged
 * process may not mark a whole file system). */
void mon_removable_set_mark(struct monitor *m,
			    int (*fn)(void *ud, const char *mount_point, bool add), void *ud);
/* Stops watching the file system of device dev (it was unmounted or unplugged). */
void mon_removable_unwatch(struct monitor *m, dev_t dev);
/* The name of uid in root/etc/passwd, into out ("" when not there). Never asks NSS. */
void mon_removable_user_name(const char *root, unsigned uid, char *out, size_t size);
