/*
 * The USB enforcer (管理者E-4, docs/usb-control.md): decides every USB device as it
 * arrives, and the ones present when the agent starts, from the last good policy
 * (usbdoc.c), with no server needed, and enforces the verdict:
 *
 * - block: 0 into the device's sysfs `authorized` file; the kernel unbinds its drivers and
 *   never binds new ones. For a composite device that is also an input device, only its
 *   other interfaces are de-authorised (their own `authorized` files), so a keyboard with
 *   a card reader keeps typing (usb_policy_decide_parts()).
 * - read-only: its block devices are made read-only (BLKROSET on the disk) as their
 *   "block" uevents arrive, mounts already read-write are remounted read-only, optical
 *   nodes lose write permission (enf_usb_block.c); a marker in /run/mamori/usb-ro lets the
 *   udev rule do the same before udev announces the disk to automounters.
 * - allow: the device is (re-)authorised.
 *
 * Facts: ids, strings and interfaces from sysfs (usbdev.c), the optical flag when the
 * block layer shows a CD/DVD drive behind the device, registry tags and grants from the
 * policy document, the user of the active seat (logind), the network context from the
 * agent's network facts. Devices are decided again when what they were decided on
 * changes: the policy, the network context, an `until` or grant expiring (a timer), an
 * interface appearing with a name ("MTP") or the optical flag.
 *
 * Records (through the sink): usb.plug, usb.unplug, usb.verdict (a verdict changed while
 * plugged), usb.storage (a block device of a USB device and its read-only state),
 * usb.remount, usb.policy (the policy in force changed).
 *
 * Hot path (uevent to `authorized` write): no allocation of ours, no blocking call — a
 * fixed device table, fixed buffers, a handful of sysfs reads; records are built after
 * the write. The monitor's fd is an epoll set over the udev monitor, a wake-up eventfd
 * (the first dispatch enumerates; configure() and set_network() wake it), a realtime
 * timer for expiries and mountinfo (mount changes).
 *
 * Limits: LIMIT_USB_DEVICES devices tracked (more are still decided, not tracked),
 * LIMIT_USB_BLOCKS block and sg devices each.
 */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define REMOUNT_RETRY_S 5

enum src {
	SRC_UDEV = 1,
	SRC_KICK,
	SRC_TIMER,
	SRC_MOUNTS,
	SRC_AUDIT,
};

struct blockdev {
	char name[USBDEV_NAME];    /* kernel name: "sdb1", "sr0", "sg2" */
	char devname[USBDEV_NAME]; /* node: "sdb1" or "/dev/sdb1" */
	char devpath[USBDEV_PATH];
	unsigned major, minor;
	bool partition, generic, optical;
	bool mounted;          /* seen in mountinfo (usb.mount recorded) */
	bool watched;          /* its mount is watched for file writes */
	const char *audited;   /* the audit rule's kind ("ro", "burn") when one is in place */
	int64_t remount_retry; /* a read-only remount failed: try again then (Unix s) */
};

struct dev_state {
	bool used;
	bool optical;       /* the block layer shows a CD/DVD drive */
	bool ro;            /* its storage is read-only now */
	bool announced;     /* usb.plug emitted */
	bool iface_touched; /* an interface's `authorized` was written */
	struct usbdev dev;
	struct usb_part_decision dec;
	char user[64]; /* at the last decision, "" when nobody */
	int64_t plugged_at;
	size_t n_blocks;
	struct blockdev blocks[LIMIT_USB_BLOCKS];
};

struct enf_usb {
	struct monitor m;
	char *sys_root, *dev_root, *root, *state_dir, *host;
	int epfd, udev_fd, kick_fd, timer_fd, mounts_fd;
	struct udev *udev;
	struct udev_monitor *mon;
	bool started;
	bool rescan;          /* uevents were lost: enumerate again */
	const char *redecide; /* cause of a pending re-decision, or NULL */
	bool policy_event;    /* the policy changed: record it at the next dispatch */
	char previous_version[USBDOC_VERSION];
	const char *policy_source;
	struct usbdoc *doc;
	struct usbnet net;
	bool have_net;
	unsigned netctx;
	struct dev_state *devs;
	struct dev_state spare; /* the table is full: decided, not tracked */
	unsigned char *scratch; /* LIMIT_USB_DESCRIPTORS, for usbdev_read() */
	struct monitor *removable;
	struct enf_usb_audit *audit;
	struct enf_usb_ops ops; /* privileged operations through the parent; unset: direct */
	struct mon_sink *sink;  /* during dispatch, for audit callbacks */
	int64_t expiry_at;      /* the timer: the next `until` or grant expiry (Unix s), 0 */
	int64_t retry_at;       /* and the next remount retry, 0 */
};

#define ENF(mon) ((struct enf_usb *) (mon))

/* ---- small helpers ---- */

/*
 * The wall clock in seconds, from CLOCK_REALTIME itself: time() reads the coarse clock,
 * which can still show the previous second when a realtime timer armed for the next one
 * has just fired — and an expiry would then look not yet due.
 */
static int64_t now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void kick(struct enf_usb *e)
{
	uint64_t one = 1;

	if (write(e->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warning("(M1409) USB control: cannot wake itself: %s", strerror(errno));
}

static const char *root_or_empty(const char *root)
{
	return !root || streq(root, "/") ? "" : root;
}

/* Writes value into sys_root/sys + devpath [+ "/" + sub] + "/authorized". */
/*
 * The privileged operations, each either asked of the privileged parent (ops set by the
 * daemon) or done here (the standalone driver, as root).
 */
static int priv_authorize(struct enf_usb *e, const char *devpath, const char *sub, bool on)
{
	if (e->ops.authorize)
		return e->ops.authorize(e->ops.userdata, devpath, sub, on);
	return enf_usb_block_authorize(e->sys_root, devpath, sub, on);
}

static int priv_set_ro(struct enf_usb *e, const struct blockdev *b, bool ro)
{
	if (e->ops.set_ro)
		return e->ops.set_ro(e->ops.userdata, b->devname, b->major, b->minor, ro);
	return enf_usb_block_set_ro(e->dev_root, b->devname, b->major, b->minor, ro);
}

static int priv_restrict(struct enf_usb *e, const struct blockdev *b, bool chr)
{
	if (e->ops.restrict_node)
		return e->ops.restrict_node(e->ops.userdata, b->devname, b->major, b->minor, chr);
	return enf_usb_block_restrict(e->dev_root, b->devname, b->major, b->minor, chr);
}

static int priv_remount(struct enf_usb *e, const char *mount_point)
{
	if (e->ops.remount_ro)
		return e->ops.remount_ro(e->ops.userdata, mount_point);
	return enf_usb_block_remount_ro(mount_point);
}

static int read_small(const char *root, const char *path, char *buf, size_t size)
{
	char full[LIMIT_PATH];
	_cleanup_(closep) int fd = -1;
	ssize_t n;
	int k = snprintf(full, sizeof(full), "%s%s", root_or_empty(root), path);

	if (k < 0 || (size_t) k >= sizeof(full))
		return -E2BIG;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/*
 * The user of the active session on seat0 (logind's state files), who is the person at
 * the machine plugging the device in: "" when nobody is logged in there.
 */
static void current_user(const struct enf_usb *e, char *out, size_t size)
{
	char text[4096], session[64], path[128];

	out[0] = '\0';
	if (read_small(e->root, "/run/systemd/seats/seat0", text, sizeof(text)) < 0 ||
	    !usbdev_parse_env(text, "ACTIVE", session, sizeof(session)) ||
	    strspn(session, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
		    strlen(session))
		return;
	(void) snprintf(path, sizeof(path), "/run/systemd/sessions/%s", session);
	if (read_small(e->root, path, text, sizeof(text)) < 0 ||
	    !usbdev_parse_env(text, "USER", out, size) || !str_is_clean_utf8(out, strlen(out)))
		out[0] = '\0';
}

static unsigned compute_netctx(const struct enf_usb *e)
{
	struct usbnet_view v;

	if (!e->have_net)
		return NET_UNTRUSTED; /* not known yet: the least trusted */
	if (!e->doc)
		return 0;
	return usb_policy_network_context(e->doc->rules, usbdoc_network_view(&e->net, &v));
}

static json_t *netctx_json(unsigned ctx)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{NET_OFFICE, "office"},
		     {NET_HOME, "home"},
		     {NET_UNTRUSTED, "untrusted"},
		     {NET_OPEN_WIFI, "open-wifi"},
		     {NET_OFFLINE, "offline"}};
	json_t *a = json_array();

	for (size_t i = 0; a && i < ARRAY_SIZE(names); i++)
		if ((ctx & names[i].bit) && jsonw_append(a, json_string(names[i].name)) < 0)
			return NULL;
	return a;
}

/* ---- the device table ---- */

static struct dev_state *find_dev(struct enf_usb *e, const char *devpath)
{
	for (size_t i = 0; i < LIMIT_USB_DEVICES; i++)
		if (e->devs[i].used && streq(e->devs[i].dev.devpath, devpath))
			return &e->devs[i];
	return NULL;
}

/* The USB device a path lies under: the tracked device whose devpath is its longest
 * prefix followed by '/'. */
static struct dev_state *find_owner(struct enf_usb *e, const char *devpath)
{
	struct dev_state *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < LIMIT_USB_DEVICES; i++) {
		struct dev_state *st = &e->devs[i];
		size_t n = strlen(st->dev.devpath);

		if (st->used && n > best_len && strncmp(devpath, st->dev.devpath, n) == 0 &&
		    devpath[n] == '/') {
			best = st;
			best_len = n;
		}
	}
	return best;
}

static struct dev_state *new_dev(struct enf_usb *e)
{
	for (size_t i = 0; i < LIMIT_USB_DEVICES; i++)
		if (!e->devs[i].used) {
			memset(&e->devs[i], 0, sizeof(e->devs[i]));
			e->devs[i].used = true;
			return &e->devs[i];
		}
	log_warning("(M1401) USB control: more than %u devices: decided but not tracked",
		    LIMIT_USB_DEVICES);
	memset(&e->spare, 0, sizeof(e->spare));
	return &e->spare;
}

/* ---- deciding ---- */

static enum usb_verdict storage_verdict(const struct dev_state *st)
{
	return st->dec.split ? st->dec.rest.verdict : st->dec.device.verdict;
}

/* The decision a record reports: the interfaces' when split, else the device's. */
static const struct usb_decision *reported(const struct dev_state *st)
{
	return st->dec.split ? &st->dec.rest : &st->dec.device;
}

static void decide(struct enf_usb *e, struct dev_state *st)
{
	struct usb_interface ifs[LIMIT_USB_INTERFACES];
	const struct usbdev *d = &st->dev;
	struct usb_device_facts f = {
		.vendor_id = (uint16_t) d->vendor_id,
		.product_id = (uint16_t) d->product_id,
		.serial = d->serial[0] ? d->serial : NULL,
		.product = d->product[0] ? d->product : NULL,
		.device_class = (uint8_t) d->device_class,
		.interfaces = ifs,
		.n_interfaces = d->n_ifaces,
		.optical = st->optical,
		.netctx = e->netctx,
		.now = now_s(),
	};

	for (size_t i = 0; i < d->n_ifaces; i++)
		ifs[i] = (struct usb_interface){
			.cls = (uint8_t) d->ifaces[i].cls,
			.subclass = (uint8_t) d->ifaces[i].subclass,
			.protocol = (uint8_t) d->ifaces[i].protocol,
			.name = d->ifaces[i].name[0] ? (char *) d->ifaces[i].name : NULL,
		};
	current_user(e, st->user, sizeof(st->user));
	f.user = st->user[0] ? st->user : NULL;
	if (!e->doc) {
		struct usb_decision none = {USB_ALLOW, 0, "no policy"};

		st->dec = (struct usb_part_decision){.device = none, .rest = none};
		return;
	}
	if (usbdoc_grant(e->doc, f.serial, f.user, e->host, f.now)) {
		struct usb_decision g = {USB_ALLOW, 0, "grant"};

		st->dec = (struct usb_part_decision){.device = g, .rest = g};
		return;
	}
	f.tags = usbdoc_tags(e->doc, f.serial);
	usb_policy_decide_parts(e->doc->rules, &f, &st->dec);
}

/* ---- enforcing ---- */

static void marker(struct enf_usb *e, const struct dev_state *st, bool on)
{
	const char *devpath = on ? st->dev.devpath : NULL;
	int r;

	if (st == &e->spare)
		return;
	r = e->ops.marker ? e->ops.marker(e->ops.userdata, st->dev.bus_path, devpath)
			  : enf_usb_block_marker(e->root, st->dev.bus_path, devpath);
	if (r < 0)
		log_warning("(M1403) USB control: cannot mark %s for the udev rule: %s (it cannot "
			    "make this device's disks read-only before they are announced)",
			    st->dev.bus_path, strerror(-r));
}

/* Records writes refused on b (kind "ro") or burn attempts through it ("burn"), or stops. */
static void audit_block(struct enf_usb *e, struct blockdev *b, const char *kind)
{
	if (!e->audit || b->audited == kind)
		return;
	if (b->audited && e->ops.audit_rule)
		(void) e->ops.audit_rule(e->ops.userdata, false, b->audited, b->major, b->minor);
	else if (b->audited)
		enf_usb_audit_unwatch(e->audit, b->audited, b->major, b->minor);
	b->audited = NULL;
	if (kind) {
		int r = e->ops.audit_rule
				? e->ops.audit_rule(e->ops.userdata, true, kind, b->major, b->minor)
				: enf_usb_audit_watch(e->audit, kind, b->major, b->minor);

		if (r < 0)
			log_warning("(M1430) USB control: cannot record refused writes on %s: %s",
				    b->name, strerror(-r));
		else
			b->audited = kind;
	}
}

/* Makes b's disk (and b itself) read-only or writable as st's verdict wants. */
static int enforce_block(struct enf_usb *e, struct dev_state *st, struct blockdev *b)
{
	bool ro = storage_verdict(st) == USB_READ_ONLY;
	int r = 0, k;

	audit_block(e, b, !ro ? NULL : b->optical ? "burn" : "ro");
	if (b->generic) {
		/* SCSI commands through sg bypass the block layer's flag: no writing to it */
		if (ro)
			r = priv_restrict(e, b, true);
		return r;
	}
	if (b->partition) {
		/* the disk's flag covers all its partitions (bdev_read_only() asks the disk) */
		for (size_t i = 0; i < st->n_blocks; i++) {
			struct blockdev *disk = &st->blocks[i];
			size_t n = strlen(disk->devpath);

			if (!disk->partition && !disk->generic &&
			    strncmp(b->devpath, disk->devpath, n) == 0 && b->devpath[n] == '/') {
				k = priv_set_ro(e, disk, ro);
				if (k < 0)
					r = k;
			}
		}
	}
	k = priv_set_ro(e, b, ro);
	if (k < 0)
		r = k;
	if (ro && b->optical) {
		k = priv_restrict(e, b, false);
		if (k < 0)
			r = k;
	}
	return r;
}

/* The interfaces a split verdict of block de-authorises: every one that is not input. */
static bool iface_blocked(const struct dev_state *st, const struct col_usb_iface *i)
{
	return st->dec.split && st->dec.rest.verdict == USB_BLOCK && i->cls != 0x03;
}

static int enforce_interface(struct enf_usb *e, struct dev_state *st, const struct col_usb_iface *i)
{
	char sub[USBDEV_BUSPATH + 16], cur[8];
	bool want = !iface_blocked(st, i);
	int r;

	(void) snprintf(sub, sizeof(sub), "%s:%u.%u", st->dev.bus_path,
			st->dev.config_value ? st->dev.config_value : 1, i->number);
	{
		char attr[sizeof(sub) + 16];

		(void) snprintf(attr, sizeof(attr), "%s/authorized", sub);
		r = usbdev_read_attr(e->sys_root, st->dev.devpath, attr, cur, sizeof(cur));
	}
	if (r == -ENOENT)
		return 0; /* not created yet: done when its uevent arrives */
	if (r == 0 && streq(cur, want ? "1" : "0"))
		return 0;
	st->iface_touched = true;
	return priv_authorize(e, st->dev.devpath, sub, want);
}

/*
 * Applies st's decision: the device's `authorized`, its interfaces' when split, the
 * read-only state of its storage. Returns the first error, after trying everything.
 */
static int enforce(struct enf_usb *e, struct dev_state *st, bool *ret_written)
{
	bool want = st->dec.device.verdict != USB_BLOCK;
	bool ro = storage_verdict(st) == USB_READ_ONLY;
	int r = 0, k;

	*ret_written = false;
	if (st->dev.authorized != want) {
		r = priv_authorize(e, st->dev.devpath, NULL, want);
		if (r == 0) {
			st->dev.authorized = want;
			*ret_written = true;
		}
	}
	if (!want)
		return r; /* no interfaces, no storage left */
	for (size_t i = 0; (st->dec.split || st->iface_touched) && i < st->dev.n_ifaces; i++) {
		k = enforce_interface(e, st, &st->dev.ifaces[i]);
		if (k < 0 && r == 0)
			r = k;
	}
	if (ro != st->ro) {
		marker(e, st, ro);
		st->ro = ro;
	}
	for (size_t i = 0; i < st->n_blocks; i++) {
		k = enforce_block(e, st, &st->blocks[i]);
		if (k < 0 && r == 0)
			r = k;
	}
	return r;
}

/* ---- records ---- */

static void emit(struct mon_sink *sink, const char *type, json_t *data)
{
	int r;

	if (!data) {
		log_error("(M1404) USB control: out of memory: %s not recorded", type);
		return;
	}
	r = sink->emit(sink, type, data);
	if (r == -ENOMEM)
		log_error("(M1404) USB control: out of memory: %s not recorded", type);
	json_decref(data);
}

static json_t *blocked_ifaces_json(const struct dev_state *st)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < st->dev.n_ifaces; i++)
		if (iface_blocked(st, &st->dev.ifaces[i]) &&
		    jsonw_append(a, json_integer(st->dev.ifaces[i].number)) < 0)
			return NULL;
	return a;
}

/* What every record of a decision carries. */
static json_t *decision_json(const struct enf_usb *e, const struct dev_state *st)
{
	const struct usb_decision *d = reported(st);

	return json_pack("{s:o, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "device",
			 usbdev_identity_json(&st->dev), "verdict", usb_verdict_name(d->verdict),
			 "scope", st->dec.split ? "interfaces" : "device", "storage",
			 usb_verdict_name(storage_verdict(st)), "rule_line", (int) d->rule_line,
			 "reason", d->reason, "interfaces_blocked", blocked_ifaces_json(st), "user",
			 st->user[0] ? json_string(st->user) : json_null(), "network",
			 netctx_json(e->netctx), "policy_version",
			 e->doc ? json_string(e->doc->version) : json_null(), "optical",
			 st->optical, "authorized", st->dev.authorized);
}

static void set_error(json_t *o, int r)
{
	if (o && r < 0)
		(void) !jsonw_set(o, "error", json_string(strerror(-r)));
}

/* ---- devices ---- */

/* Decides a device again and records it when its verdict changed. */
static void redecide_one(struct enf_usb *e, struct mon_sink *sink, struct dev_state *st,
			 const char *cause)
{
	struct usb_part_decision old = st->dec;
	bool written;
	json_t *o;
	int r;

	decide(e, st);
	if (old.device.verdict == st->dec.device.verdict && old.split == st->dec.split &&
	    old.rest.verdict == st->dec.rest.verdict &&
	    old.rest.rule_line == st->dec.rest.rule_line &&
	    old.device.rule_line == st->dec.device.rule_line)
		return;
	r = enforce(e, st, &written);
	o = decision_json(e, st);
	if (o && (jsonw_set(o, "previous",
			    json_string(usb_verdict_name(old.split ? old.rest.verdict
								   : old.device.verdict))) < 0 ||
		  jsonw_set(o, "cause", json_string(cause)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	set_error(o, r);
	emit(sink, "usb.verdict", o);
}

static void device_added(struct enf_usb *e, struct mon_sink *sink, const struct usbdev_uevent *u,
			 int64_t t0, bool at_start)
{
	struct dev_state *st;
	bool written = false;
	int64_t t1;
	json_t *o;
	int r;

	if (!u->devpath[0] || strncmp(strrchr(u->devpath, '/') + 1, "usb", 3) == 0)
		return; /* a root hub is the host controller: never decided */
	st = find_dev(e, u->devpath);
	if (st && st->announced && (at_start || u->action != USBDEV_ADD))
		return; /* a "bind" or "change", or a rescan, of a device already decided */
	if (st && st->announced) {
		/* an "add" where a device was: its "remove" was lost; this is a new device */
		memset(st, 0, sizeof(*st));
		st->used = true;
	}
	if (!st)
		st = new_dev(e);
	r = usbdev_read(e->sys_root, u->devpath, e->scratch, LIMIT_USB_DESCRIPTORS, &st->dev);
	if (r == -ENOENT) {
		st->used = false; /* gone already */
		return;
	}
	if (r < 0) {
		/* sysfs would not say: decide on what the uevent said (the default, mostly) */
		memset(&st->dev, 0, sizeof(st->dev));
		(void) snprintf(st->dev.devpath, sizeof(st->dev.devpath), "%s", u->devpath);
		(void) snprintf(st->dev.bus_path, sizeof(st->dev.bus_path), "%s",
				strrchr(u->devpath, '/') + 1);
		st->dev.vendor_id = u->vendor_id;
		st->dev.product_id = u->product_id;
		st->dev.device_class = u->has_type ? u->type[0] : 0;
		st->dev.busnum = u->busnum;
		st->dev.devnum = u->devnum;
		st->dev.authorized = true;
	}
	decide(e, st);
	{
		int k = enforce(e, st, &written);

		t1 = mono_us();
		if (r >= 0)
			r = k;
	}
	st->plugged_at = now_s();
	st->announced = true;
	o = decision_json(e, st);
	if (o && (jsonw_set(o, "at_start", json_boolean(at_start)) < 0 ||
		  jsonw_set(o, "latency_us", json_integer(t0 ? t1 - t0 : 0)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	set_error(o, r);
	emit(sink, "usb.plug", o);
	if (st == &e->spare)
		st->used = false;
}

static void device_removed(struct enf_usb *e, struct mon_sink *sink, const char *devpath)
{
	struct dev_state *st = find_dev(e, devpath);
	json_t *o;

	if (!st)
		return;
	for (size_t i = 0; i < st->n_blocks; i++) {
		if (st->blocks[i].watched && e->removable)
			mon_removable_unwatch(e->removable,
					      makedev(st->blocks[i].major, st->blocks[i].minor));
		audit_block(e, &st->blocks[i], NULL);
	}
	o = decision_json(e, st);
	if (o && jsonw_set(o, "plugged_seconds", json_integer(now_s() - st->plugged_at)) < 0) {
		json_decref(o);
		o = NULL;
	}
	emit(sink, "usb.unplug", o);
	if (st->ro)
		marker(e, st, false);
	st->used = false;
}

static void interface_added(struct enf_usb *e, struct mon_sink *sink, const char *devpath)
{
	char parent[USBDEV_PATH];
	const char *slash = strrchr(devpath, '/');
	struct dev_state *st;
	struct usbdev fresh;
	bool written;

	if (!slash || (size_t) (slash - devpath) >= sizeof(parent))
		return;
	memcpy(parent, devpath, (size_t) (slash - devpath));
	parent[slash - devpath] = '\0';
	st = find_dev(e, parent);
	if (!st)
		return;
	/* the interface directories tell more than the descriptors: names ("MTP") */
	if (usbdev_read(e->sys_root, parent, e->scratch, LIMIT_USB_DESCRIPTORS, &fresh) == 0) {
		bool same = fresh.n_ifaces == st->dev.n_ifaces &&
			    memcmp(fresh.ifaces, st->dev.ifaces,
				   fresh.n_ifaces * sizeof(fresh.ifaces[0])) == 0;

		st->dev = fresh;
		if (!same)
			redecide_one(e, sink, st, "interfaces");
	}
	/* the interface that just appeared gets what the verdict says of it */
	(void) !enforce(e, st, &written);
}

/* Whether the SCSI device behind a block or sg device is a CD/DVD drive (type 5). */
static bool scsi_optical(const struct enf_usb *e, const struct usbdev_uevent *u, const char *name)
{
	char type[8];

	if (strncmp(name, "sr", 2) == 0)
		return true;
	return usbdev_read_attr(e->sys_root, u->devpath, "device/type", type, sizeof(type)) == 0 &&
	       streq(type, "5");
}

static void scan_mounts(struct enf_usb *e, struct mon_sink *sink);

static void block_event(struct enf_usb *e, struct mon_sink *sink, const struct usbdev_uevent *u,
			bool generic)
{
	struct dev_state *st = find_owner(e, u->devpath);
	const char *name = strrchr(u->devpath, '/');
	struct blockdev *b = NULL;
	char dev[32];
	json_t *o;
	int r;

	if (!st || !name || u->major < 0 || u->minor < 0)
		return;
	name++;
	for (size_t i = 0; i < st->n_blocks; i++)
		if (streq(st->blocks[i].name, name))
			b = &st->blocks[i];
	if (u->action == USBDEV_REMOVE) {
		if (b) {
			if (b->watched && e->removable)
				mon_removable_unwatch(e->removable, makedev(b->major, b->minor));
			audit_block(e, b, NULL);
			*b = st->blocks[--st->n_blocks];
		}
		return;
	}
	if (b)
		return; /* a "change" of a device already handled */
	if (st->n_blocks >= LIMIT_USB_BLOCKS) {
		log_warning("(M1405) USB control: more than %u block devices under %s",
			    LIMIT_USB_BLOCKS, st->dev.bus_path);
		return;
	}
	b = &st->blocks[st->n_blocks++];
	*b = (struct blockdev){.major = (unsigned) u->major,
			       .minor = (unsigned) u->minor,
			       .partition = streq(u->devtype, "partition"),
			       .generic = generic};
	(void) snprintf(b->name, sizeof(b->name), "%s", name);
	(void) snprintf(b->devname, sizeof(b->devname), "%s", u->devname[0] ? u->devname : name);
	(void) snprintf(b->devpath, sizeof(b->devpath), "%s", u->devpath);
	b->optical = !b->partition && scsi_optical(e, u, name);
	if (b->optical && !st->optical) {
		st->optical = true;
		redecide_one(e, sink, st, "optical");
		if (!st->dev.authorized)
			return; /* blocked now: its block devices go away */
	}
	r = enforce_block(e, st, b);
	(void) snprintf(dev, sizeof(dev), "%u:%u", b->major, b->minor);
	o = json_pack("{s:s, s:s, s:o, s:s, s:b, s:b, s:s, s:o}", "bus_path", st->dev.bus_path,
		      "block", b->name, "serial",
		      st->dev.serial[0] ? col_json_text(st->dev.serial, strlen(st->dev.serial))
					: json_null(),
		      "dev", dev, "readonly", storage_verdict(st) == USB_READ_ONLY, "optical",
		      b->optical, "kind",
		      generic ? "scsi_generic" : (b->partition ? "partition" : "disk"),
		      "policy_version", e->doc ? json_string(e->doc->version) : json_null());
	set_error(o, r);
	emit(sink, "usb.storage", o);
	if (!generic)
		scan_mounts(e, sink);
}

/* ---- mounts ---- */

static struct blockdev *find_block(struct enf_usb *e, unsigned major, unsigned minor,
				   struct dev_state **ret_st)
{
	for (size_t i = 0; i < LIMIT_USB_DEVICES; i++) {
		struct dev_state *st = &e->devs[i];

		for (size_t k = 0; st->used && k < st->n_blocks; k++)
			if (!st->blocks[k].generic && st->blocks[k].major == major &&
			    st->blocks[k].minor == minor) {
				*ret_st = st;
				return &st->blocks[k];
			}
	}
	return NULL;
}

/*
 * Mounts of USB storage: a read-write mount of storage that must be read-only is
 * remounted read-only (the policy changed while it was mounted, or the agent started
 * after it was mounted), and every mount is handed to the removable-media monitor.
 */
static void scan_mounts(struct enf_usb *e, struct mon_sink *sink)
{
	_cleanup_(json_decrefp) json_t *mounts = NULL;
	bool seen[LIMIT_USB_DEVICES][LIMIT_USB_BLOCKS];
	json_t *mnt;
	size_t i;

	if (enf_usb_block_mounts(NULL, &mounts) < 0)
		return;  /* the live mount table: remounts act on it, never on a test tree */
	e->retry_at = 0; /* set again below for every remount still to retry */
	memset(seen, 0, sizeof(seen));
	json_array_foreach (mounts, i, mnt) {
		const char *mm = json_string_value(json_object_get(mnt, "major_minor"));
		const char *path = json_string_value(json_object_get(mnt, "mount_point"));
		const char *super = json_string_value(json_object_get(mnt, "super_options"));
		struct dev_state *st = NULL;
		struct blockdev *b;
		unsigned maj, min;

		if (!mm || !path || usbdev_parse_devnum(mm, &maj, &min) < 0)
			continue;
		b = find_block(e, maj, min, &st);
		if (!b)
			continue;
		seen[st - e->devs][b - st->blocks] = true;
		if (!b->mounted) {
			b->mounted = true;
			emit(sink, "usb.mount",
			     json_pack("{s:s, s:s, s:o, s:o, s:b}", "bus_path", st->dev.bus_path,
				       "block", b->name, "mount_point",
				       col_json_text(path, strlen(path)), "fstype",
				       json_copy(json_object_get(mnt, "fstype")), "read_only",
				       super && str_startswith(super, "ro")));
		}
		if (st->ro && super && str_startswith(super, "rw") && now_s() < b->remount_retry) {
			if (!e->retry_at || b->remount_retry < e->retry_at)
				e->retry_at = b->remount_retry; /* not yet: keep the timer for it */
		} else if (st->ro && super && str_startswith(super, "rw")) {
			int r = priv_remount(e, path);
			json_t *o = NULL;

			/* busy (files open for writing): retried every few seconds, and
			 * recorded when it first fails and when it succeeds */
			if (r == 0 || b->remount_retry == 0)
				o = json_pack("{s:s, s:s, s:s, s:s}", "bus_path", st->dev.bus_path,
					      "block", b->name, "mount_point", path, "result",
					      r < 0 ? "failed, retrying" : "read-only");
			if (o) {
				set_error(o, r);
				emit(sink, "usb.remount", o);
			}
			if (r < 0 && b->remount_retry == 0)
				log_warning("(M1406) USB control: cannot remount %s read-only: %s; "
					    "retrying",
					    path, strerror(-r));
			b->remount_retry = r < 0 ? now_s() + REMOUNT_RETRY_S : 0;
			if (r < 0 && (!e->retry_at || b->remount_retry < e->retry_at))
				e->retry_at = b->remount_retry;
		}
		if (e->removable && !b->watched) {
			_cleanup_(json_decrefp) json_t *id = usbdev_identity_json(&st->dev);

			if (id &&
			    mon_removable_watch(e->removable, path, makedev(maj, min), id) == 0)
				b->watched = true;
		}
	}
	for (size_t d = 0; d < LIMIT_USB_DEVICES; d++)
		for (size_t k = 0; e->devs[d].used && k < e->devs[d].n_blocks; k++) {
			struct blockdev *b = &e->devs[d].blocks[k];

			if (seen[d][k])
				continue;
			if (b->watched && e->removable)
				mon_removable_unwatch(e->removable, makedev(b->major, b->minor));
			b->watched = false;
			if (b->mounted)
				emit(sink, "usb.umount",
				     json_pack("{s:s, s:s}", "bus_path", e->devs[d].dev.bus_path,
					       "block", b->name));
			b->mounted = false;
		}
}

/* ---- refused writes ---- */

/* The watched (audited) block or sg device major:minor, and its USB device. */
static struct blockdev *find_audited(struct enf_usb *e, long major, long minor,
				     struct dev_state **ret_st)
{
	for (size_t i = 0; major >= 0 && minor >= 0 && i < LIMIT_USB_DEVICES; i++) {
		struct dev_state *st = &e->devs[i];

		for (size_t k = 0; st->used && k < st->n_blocks; k++)
			if (st->blocks[k].audited && st->blocks[k].major == (unsigned long) major &&
			    st->blocks[k].minor == (unsigned long) minor) {
				*ret_st = st;
				return &st->blocks[k];
			}
	}
	return NULL;
}

static json_t *uid_json(const struct enf_usb *e, long uid)
{
	char name[64];

	if (uid < 0 || uid == 4294967295L)
		return json_null();
	mon_removable_user_name(e->root, (unsigned) uid, name, sizeof(name));
	return json_pack("{s:I, s:o}", "uid", (json_int_t) uid, "name",
			 name[0] ? json_string(name) : json_null());
}

/* What happened to the write an audit record tells of. */
static const char *result(const struct enf_usb_audit_event *ev, bool burn, bool node)
{
	if (!ev->success)
		return "refused";
	if (burn)
		return "opened for writing by a process that bypasses permissions (root)";
	if (node)
		return "opened the read-only device for writing: every write through it fails";
	return "written: the file system is not read-only yet (files were open for writing "
	       "when it was to be remounted)";
}

/*
 * Attributes an audit event to a watched device by an exact major:minor: a path that is
 * its node (rdev), else a path on its file system (dev) — the name itself before its
 * directory. Events that only matched our rules by a major here and a minor there are
 * dropped.
 */
static void on_audit(void *userdata, const struct enf_usb_audit_event *ev)
{
	struct enf_usb *e = userdata;
	const struct enf_usb_audit_path *hit = NULL;
	const char *op = enf_usb_audit_syscall_name(ev->syscall);
	struct dev_state *st = NULL;
	struct blockdev *b = NULL;
	bool node = false, burn;
	char dev[32];
	json_t *o;

	for (size_t i = 0; !b && i < ev->n_paths; i++)
		if ((b = find_audited(e, ev->paths[i].rdev_major, ev->paths[i].rdev_minor, &st))) {
			hit = &ev->paths[i];
			node = true;
		}
	for (int pass = 0; !b && pass < 2; pass++)
		for (size_t i = 0; !b && i < ev->n_paths; i++)
			if (ev->paths[i].parent == (pass == 1) &&
			    (b = find_audited(e, ev->paths[i].dev_major, ev->paths[i].dev_minor,
					      &st)))
				hit = &ev->paths[i];
	if (!b || !e->sink)
		return;
	burn = streq(b->audited, "burn");
	(void) snprintf(dev, sizeof(dev), "%u:%u", b->major, b->minor);
	o = json_pack("{s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:s, s:o, s:{s:I, s:o, s:o, s:o, s:o}, "
		      "s:o}",
		      "bus_path", st->dev.bus_path, "vendor_id",
		      json_sprintf("%04x", st->dev.vendor_id), "serial",
		      st->dev.serial[0] ? col_json_text(st->dev.serial, strlen(st->dev.serial))
					: json_null(),
		      "block", b->name, "dev", dev, "path",
		      hit->name[0] ? col_json_text(hit->name, strlen(hit->name)) : json_null(),
		      "operation", op ? json_string(op) : json_integer(ev->syscall), "result",
		      result(ev, burn, node), "error",
		      !ev->success && ev->exit < 0 ? json_string(strerror((int) -ev->exit))
						   : json_null(),
		      "process", "pid", (json_int_t) ev->pid, "name",
		      ev->comm[0] ? col_json_text(ev->comm, strlen(ev->comm)) : json_null(), "exe",
		      ev->exe[0] ? col_json_text(ev->exe, strlen(ev->exe)) : json_null(), "user",
		      uid_json(e, ev->uid), "login_user", uid_json(e, ev->auid), "policy_version",
		      e->doc ? json_string(e->doc->version) : json_null());
	emit(e->sink, burn ? "usb.burn_denied" : "usb.write_denied", o);
}

/* ---- start: what is there already ---- */

/* The devpath ("/devices/…") a /sys/class or /sys/bus link resolves to. */
static int link_devpath(const struct enf_usb *e, const char *link, char *out, size_t size)
{
	_cleanup_(freep) char *target = NULL;
	int r = fileio_resolve_link(e->sys_root, link, &target);
	const char *p;

	if (r < 0)
		return r;
	p = str_startswith(target, "/sys");
	if (!p || strlen(p) >= size || p[0] != '/')
		return -EINVAL;
	memcpy(out, p, strlen(p) + 1);
	return 0;
}

static void enumerate_class(struct enf_usb *e, struct mon_sink *sink, const char *dir, bool generic)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;

	if (fileio_list_dir(e->sys_root, dir, LIMIT_DIR_ENTRIES, &names) < 0)
		return;
	for (char **n = names; *n; n++) {
		_cleanup_(freep) char *link = mm_asprintf("%s/%s", dir, *n);
		struct usbdev_uevent u;
		char text[2048];

		usbdev_uevent_init(&u);
		if (!link || link_devpath(e, link, u.devpath, sizeof(u.devpath)) < 0 ||
		    !find_owner(e, u.devpath) ||
		    usbdev_read_attr(e->sys_root, u.devpath, "uevent", text, sizeof(text)) < 0)
			continue;
		(void) usbdev_parse_uevent(text, &u);
		u.action = USBDEV_ADD;
		block_event(e, sink, &u, generic);
	}
}

static void clear_markers(struct enf_usb *e)
{
	if (e->ops.marker)
		(void) e->ops.marker(e->ops.userdata, NULL, NULL);
	else
		(void) !enf_usb_block_marker(e->root, NULL, NULL);
}

/*
 * Decides what is there and not known yet: at start, and after the udev socket overflowed
 * (then devices that left without a record of it are recorded as unplugged first).
 */
static void enumerate(struct enf_usb *e, struct mon_sink *sink)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;
	int r;

	for (size_t i = 0; i < LIMIT_USB_DEVICES; i++) {
		char a[8];

		if (e->devs[i].used && usbdev_read_attr(e->sys_root, e->devs[i].dev.devpath,
							"authorized", a, sizeof(a)) == -ENOENT)
			device_removed(e, sink, e->devs[i].dev.devpath);
	}
	r = fileio_list_dir(e->sys_root, "/sys/bus/usb/devices", LIMIT_DIR_ENTRIES, &names);
	if (r < 0 && r != -ENOENT)
		log_warning("(M1407) USB control: cannot list /sys/bus/usb/devices: %s",
			    strerror(-r));
	for (char **n = names; n && *n; n++) {
		_cleanup_(freep) char *link = NULL;
		struct usbdev_uevent u;

		if (strchr(*n, ':'))
			continue; /* an interface: read with its device */
		link = mm_asprintf("/sys/bus/usb/devices/%s", *n);
		usbdev_uevent_init(&u);
		u.action = USBDEV_ADD;
		if (!link || link_devpath(e, link, u.devpath, sizeof(u.devpath)) < 0)
			continue;
		device_added(e, sink, &u, 0, true);
	}
	enumerate_class(e, sink, "/sys/class/block", false);
	enumerate_class(e, sink, "/sys/class/scsi_generic", true);
	scan_mounts(e, sink);
}

static void start(struct enf_usb *e, struct mon_sink *sink)
{
	clear_markers(e);
	enumerate(e, sink);
}

/* ---- the event loop's side ---- */

static void handle_uevent(struct enf_usb *e, struct mon_sink *sink, const struct usbdev_uevent *u,
			  int64_t t0)
{
	bool add =
		u->action == USBDEV_ADD || u->action == USBDEV_BIND || u->action == USBDEV_CHANGE;

	if (streq(u->subsystem, "usb")) {
		if (streq(u->devtype, "usb_device")) {
			if (u->action == USBDEV_REMOVE)
				device_removed(e, sink, u->devpath);
			else if (add)
				device_added(e, sink, u, t0, false);
		} else if (streq(u->devtype, "usb_interface") &&
			   (u->action == USBDEV_ADD || u->action == USBDEV_BIND)) {
			interface_added(e, sink, u->devpath);
		}
	} else if (streq(u->subsystem, "block") && (add || u->action == USBDEV_REMOVE)) {
		block_event(e, sink, u, false);
	} else if (streq(u->subsystem, "scsi_generic") && (add || u->action == USBDEV_REMOVE)) {
		block_event(e, sink, u, true);
	}
}

static void drain_udev(struct enf_usb *e, struct mon_sink *sink)
{
	for (;;) {
		int64_t t0 = mono_us();
		struct udev_device *ud = udev_monitor_receive_device(e->mon);
		struct udev_list_entry *p;
		struct usbdev_uevent u;
		const char *action;

		if (!ud) {
			/* the socket overflowed (a storm): what was lost is found by a rescan */
			if (errno == ENOBUFS)
				e->rescan = true;
			break;
		}
		usbdev_uevent_init(&u);
		udev_list_entry_foreach(p, udev_device_get_properties_list_entry(ud))
		{
			(void) !usbdev_uevent_set(&u, udev_list_entry_get_name(p),
						  udev_list_entry_get_value(p));
		}
		action = udev_device_get_action(ud);
		if (action)
			u.action = usbdev_action_from_string(action);
		if (!u.devpath[0] && udev_device_get_devpath(ud))
			(void) !usbdev_uevent_set(&u, "DEVPATH", udev_device_get_devpath(ud));
		if (!u.subsystem[0] && udev_device_get_subsystem(ud))
			(void) !usbdev_uevent_set(&u, "SUBSYSTEM", udev_device_get_subsystem(ud));
		udev_device_unref(ud);
		handle_uevent(e, sink, &u, t0);
	}
}

/* Arms the timer for the next expiry of an exception or grant (none: disarmed). */
static void arm_timer(struct enf_usb *e)
{
	int64_t next;
	struct itimerspec its = {{0, 0}, {0, 0}};

	e->expiry_at = usbdoc_next_expiry(e->doc, now_s());
	next = e->expiry_at;
	if (e->retry_at && (!next || e->retry_at < next))
		next = e->retry_at;
	its.it_value.tv_sec = (time_t) next;

	if (timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warning("(M1408) USB control: cannot arm the expiry timer: %s",
			    strerror(errno));
}

static void record_policy(struct enf_usb *e, struct mon_sink *sink)
{
	json_t *o;

	if (!e->policy_event)
		return;
	e->policy_event = false;
	o = json_pack("{s:o, s:o, s:s, s:i, s:i, s:i}", "version",
		      e->doc ? json_string(e->doc->version) : json_null(), "previous",
		      e->previous_version[0] ? json_string(e->previous_version) : json_null(),
		      "source", e->policy_source, "rules",
		      e->doc ? (int) usb_policy_rule_count(e->doc->rules) : 0, "registry",
		      e->doc ? (int) e->doc->n_registry : 0, "grants",
		      e->doc ? (int) e->doc->n_grants : 0);
	emit(sink, "usb.policy", o);
}

static bool any_storage(const struct enf_usb *e)
{
	for (size_t i = 0; i < LIMIT_USB_DEVICES; i++)
		if (e->devs[i].used && e->devs[i].n_blocks)
			return true;
	return false;
}

static int dispatch(struct monitor *m, struct mon_sink *sink)
{
	struct enf_usb *e = ENF(m);
	struct epoll_event ev[8];
	bool mounts = false, rearm = false;
	int n, r;

	if (!e->started) {
		e->started = true;
		record_policy(e, sink);
		start(e, sink);
		arm_timer(e);
	}
	n = epoll_wait(e->epfd, ev, ARRAY_SIZE(ev), 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t v;

		switch (ev[i].data.u32) {
		case SRC_UDEV:
			drain_udev(e, sink);
			break;
		case SRC_KICK:
			(void) !read(e->kick_fd, &v, sizeof(v));
			break;
		case SRC_TIMER:
			if (read(e->timer_fd, &v, sizeof(v)) != sizeof(v))
				break;
			if (e->expiry_at && now_s() >= e->expiry_at && !e->redecide)
				e->redecide = "expiry";
			mounts = true;
			rearm = true;
			break;
		case SRC_MOUNTS:
			mounts = true;
			break;
		case SRC_AUDIT:
			e->sink = sink;
			r = enf_usb_audit_drain(e->audit, on_audit, e);
			e->sink = NULL;
			if (r < 0) {
				log_warning("(M1431) USB control: audit records stopped: %s; "
					    "refused writes are still refused, not recorded",
					    strerror(-r));
				(void) epoll_ctl(e->epfd, EPOLL_CTL_DEL, enf_usb_audit_fd(e->audit),
						 NULL);
			}
			break;
		default:
			break;
		}
	}
	if (e->rescan) {
		e->rescan = false;
		log_warning("(M1411) USB control: uevents were lost (a burst overflowed the "
			    "socket): looking at every device again");
		enumerate(e, sink);
	}
	record_policy(e, sink);
	if (e->redecide) {
		const char *cause = e->redecide;

		e->redecide = NULL;
		for (size_t i = 0; i < LIMIT_USB_DEVICES; i++)
			if (e->devs[i].used)
				redecide_one(e, sink, &e->devs[i], cause);
		mounts = true;
		arm_timer(e);
	}
	/*
	 * mountinfo's readiness is consumed by whoever polls it first — and the daemon's
	 * epoll polls this epoll set, and so mountinfo, before we get here (proc's
	 * mounts_poll() reports a change once). So a wake-up that shows nothing is a mount
	 * change, and while USB storage is present every wake-up rescans: it is cheap, and
	 * after the hot path.
	 */
	if (mounts || n == 0 || any_storage(e))
		scan_mounts(e, sink);
	if (rearm || e->retry_at)
		arm_timer(e);
	return 0;
}

static void take_policy(struct enf_usb *e, struct usbdoc *doc, const char *source)
{
	(void) snprintf(e->previous_version, sizeof(e->previous_version), "%s",
			e->doc ? e->doc->version : "");
	usbdoc_free(e->doc);
	e->doc = doc;
	e->policy_source = source;
	e->policy_event = true;
	e->netctx = compute_netctx(e);
	if (e->started)
		e->redecide = "policy";
	kick(e);
}

static void log_diag(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_(freep) char *s = diag_format(&d->entries[i]);

		if (s)
			log_warning("(M1402) USB policy: %s", s);
	}
}

static int configure(struct monitor *m, const json_t *policy)
{
	struct enf_usb *e = ENF(m);
	const json_t *doc_json = json_object_get(policy, "usb");
	_cleanup_(freep) char *text = NULL;
	_cleanup_(usbdoc_freep) struct usbdoc *doc = NULL;
	struct diag d;
	int r;

	if (!doc_json)
		doc_json = policy;
	text = jsonw_dump(doc_json);
	if (!text)
		return -ENOMEM;
	if (e->doc && streq(e->doc->text, text))
		return 0; /* the same policy again, with every check-in */
	diag_init(&d);
	r = usbdoc_parse(text, strlen(text), &d, &doc);
	log_diag(&d);
	diag_done(&d);
	if (r < 0) {
		log_warning("(M1402) USB policy refused; the policy in force (%s) stays",
			    e->doc ? e->doc->version : "none");
		return r;
	}
	r = usbdoc_save(doc, e->state_dir);
	if (r < 0)
		log_warning("(M1410) USB policy %s is in force but could not be kept in %s: %s",
			    doc->version, e->state_dir, strerror(-r));
	take_policy(e, TAKE_PTR(doc), "server");
	return 0;
}

static void enf_free(struct monitor *m)
{
	struct enf_usb *e = ENF(m);

	if (!e)
		return;
	if (e->mon)
		udev_monitor_unref(e->mon);
	if (e->udev)
		udev_unref(e->udev);
	closep(&e->epfd);
	closep(&e->kick_fd);
	closep(&e->timer_fd);
	closep(&e->mounts_fd);
	enf_usb_audit_free(e->audit);
	usbdoc_free(e->doc);
	mm_free(e->devs);
	mm_free(e->scratch);
	mm_free(e->sys_root);
	mm_free(e->dev_root);
	mm_free(e->root);
	mm_free(e->state_dir);
	mm_free(e->host);
	mm_free(e);
}

static int watch(struct enf_usb *e, int fd, enum src s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = s};

	return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int open_udev(struct enf_usb *e)
{
	e->udev = udev_new();
	if (!e->udev)
		return -ENOMEM;
	e->mon = udev_monitor_new_from_netlink(e->udev, "udev");
	if (!e->mon)
		return -EIO;
	/* bursts (a hub with many devices, the benchmark) must not overflow the socket */
	(void) udev_monitor_set_receive_buffer_size(e->mon, 4 * 1024 * 1024);
	if (udev_monitor_enable_receiving(e->mon) < 0)
		return -EIO;
	e->udev_fd = udev_monitor_get_fd(e->mon);
	return e->udev_fd < 0 ? -EIO : 0;
}

int enf_usb_new(const struct enf_usb_options *o, struct monitor **ret)
{
	struct enf_usb *e = mm_calloc(1, sizeof(*e));
	struct diag d;
	int r;

	if (!e)
		return -ENOMEM;
	e->m = (struct monitor){.name = "usb",
				.fd = -1,
				.dispatch = dispatch,
				.configure = configure,
				.free = enf_free};
	e->epfd = e->kick_fd = e->timer_fd = e->mounts_fd = e->udev_fd = -1;
	e->sys_root = mm_strdup(o->sys_root ? o->sys_root : "/");
	e->dev_root = mm_strdup(o->dev_root ? o->dev_root : "/");
	e->root = mm_strdup(o->root ? o->root : "/");
	e->state_dir = mm_strdup(o->state_dir);
	e->host = mm_strdup(o->host ? o->host : "");
	e->devs = mm_calloc(LIMIT_USB_DEVICES, sizeof(*e->devs));
	e->scratch = mm_malloc(LIMIT_USB_DESCRIPTORS);
	if (!e->sys_root || !e->dev_root || !e->root || !e->state_dir || !e->host || !e->devs ||
	    !e->scratch) {
		enf_free(&e->m);
		return -ENOMEM;
	}
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->kick_fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* the first dispatch starts */
	e->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (e->epfd < 0 || e->kick_fd < 0 || e->timer_fd < 0) {
		r = -errno;
		enf_free(&e->m);
		return r;
	}
	r = open_udev(e);
	if (r >= 0)
		r = watch(e, e->udev_fd, SRC_UDEV, EPOLLIN);
	if (r >= 0)
		r = watch(e, e->kick_fd, SRC_KICK, EPOLLIN);
	if (r >= 0)
		r = watch(e, e->timer_fd, SRC_TIMER, EPOLLIN);
	if (r < 0) {
		enf_free(&e->m);
		return r;
	}
	/* mount changes show as EPOLLPRI on mountinfo */
	e->mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (e->mounts_fd >= 0 && watch(e, e->mounts_fd, SRC_MOUNTS, EPOLLPRI) < 0)
		closep(&e->mounts_fd);

	diag_init(&d);
	r = usbdoc_load(e->state_dir, &d, &e->doc);
	log_diag(&d);
	diag_done(&d);
	if (r == -ENOMEM) {
		enf_free(&e->m);
		return r;
	}
	if (r < 0 && r != -ENOENT)
		log_error("(M1400) USB control: the policy kept in %s/%s is unusable (%s): nothing "
			  "is enforced until the server sends one",
			  e->state_dir, USBDOC_STATE_FILE, strerror(-r));
	e->policy_source = "state";
	e->policy_event = e->doc != NULL;
	e->netctx = compute_netctx(e);
	e->m.fd = e->epfd;
	*ret = &e->m;
	return 0;
}

void enf_usb_set_network(struct monitor *m, const struct usbnet *net)
{
	struct enf_usb *e = ENF(m);
	unsigned ctx;

	e->net = *net;
	e->have_net = true;
	ctx = compute_netctx(e);
	if (ctx == e->netctx)
		return;
	e->netctx = ctx;
	if (e->started && !e->redecide)
		e->redecide = "network";
	kick(e);
}

void enf_usb_set_ops(struct monitor *m, const struct enf_usb_ops *ops)
{
	ENF(m)->ops = *ops;
}

void enf_usb_set_removable(struct monitor *m, struct monitor *removable)
{
	ENF(m)->removable = removable;
}

int enf_usb_set_audit(struct monitor *m, struct enf_usb_audit *audit)
{
	struct enf_usb *e = ENF(m);
	int r;

	if (e->audit || e->started) {
		enf_usb_audit_free(audit);
		return -EBUSY;
	}
	r = watch(e, enf_usb_audit_fd(audit), SRC_AUDIT, EPOLLIN);
	if (r < 0) {
		enf_usb_audit_free(audit);
		return r;
	}
	e->audit = audit;
	return 0;
}

const char *enf_usb_policy_version(const struct monitor *m)
{
	const struct enf_usb *e = (const struct enf_usb *) m;

	return e->doc ? e->doc->version : "";
}
