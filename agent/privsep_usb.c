/*
 * USB control's operations in the privileged parent (docs/internals/privsep.md,
 * docs/usb-control.md "In `mamori-agent run`"): the unprivileged worker decides every USB device;
 * the parent performs only what the verdict needs root for, one typed request at a time:
 *
 *   USB_AUTHORIZE  devpath [iface] on  0/1 into a USB device's (interface's) `authorized`
 *   USB_SET_RO     name major minor ro  BLKROSET on a block device
 *   USB_RESTRICT   name major minor chr take write permission off a node
 *   USB_REMOUNT_RO mount point          remount a file system read-only
 *   USB_MARKER     bus path [devpath]   the udev rule's marker: set, remove, clear all
 *   USB_AUDIT      kind major minor add an audit rule for a device, or delete it
 *   USB_FAN_MARK   mount point add      a fanotify mark on a file system
 *   USB_OPEN       what                 the audit multicast socket or the fanotify group,
 *                                       handed over with SCM_RIGHTS
 *
 * The parent trusts nothing in a request: strings must be NUL-terminated with nothing after
 * them, paths may not climb, and every device the request names must be a USB device or
 * lie under one in the parent's own view of sysfs — a devpath that /sys/bus/usb/devices
 * lists, a major:minor whose /sys/dev/{block,char} link resolves under such a device, a
 * mount point whose file system is on such a device. So a compromised worker can at most
 * block, unblock or make read-only the USB devices plugged in, never the machine's own
 * disks. A malformed request is fatal, as for the other operations (privsep.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "agent/enf_usb.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

/* after privsep.c's own and the monitors' (monitors.h), apart from both */
enum {
	OP_USB_AUTHORIZE = 32,
	OP_USB_SET_RO,
	OP_USB_RESTRICT,
	OP_USB_REMOUNT_RO,
	OP_USB_MARKER,
	OP_USB_AUDIT,
	OP_USB_FAN_MARK,
	OP_USB_OPEN,
	OP_USB_LAST = OP_USB_OPEN,
};

enum {
	OPEN_AUDIT = 1,
	OPEN_FANOTIFY = 2,
};

struct usb_req {
	uint32_t op;
	uint32_t major, minor, flag;
	char kind[8];
	char a[LIMIT_PATH]; /* a devpath, a device name, a mount point, a bus path */
	char b[256];        /* an interface name, a marker's devpath */
};

_Static_assert(sizeof(struct usb_req) <= 8192, "privsep.c's receive buffer holds a request");

struct usb_rep {
	int32_t err;
	uint32_t len; /* always 0: answers carry no data, at most a descriptor */
};

/* The parent's own: rules it added, the fanotify group it marks. */
static struct enf_usb_audit *parent_audit;
static int parent_fan = -1;

bool privsep_usb_op(uint32_t op)
{
	return op >= OP_USB_AUTHORIZE && op <= OP_USB_LAST;
}

/* ---- the worker's side ---- */

static int request(struct usb_req *req, int *ret_fd)
{
	int fd = privsep_channel();
	struct usb_rep rep;
	char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
	struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	if (fd < 0)
		return -ENOTSUP;
	do
		n = send(fd, req, sizeof(*req), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t) sizeof(*req))
		return -EPIPE;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t) sizeof(rep) || rep.len != 0 || rep.err > 0)
		return -EPROTO;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			int got;

			memcpy(&got, CMSG_DATA(c), sizeof(got));
			if (ret_fd && rep.err == 0)
				*ret_fd = got;
			else
				(void) close(got);
		}
	return rep.err;
}

static int put(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		return -E2BIG;
	if (n)
		memcpy(dst, src, n + 1);
	return 0;
}

static int w_authorize(void *ud, const char *devpath, const char *iface, bool on)
{
	struct usb_req req = {.op = OP_USB_AUTHORIZE, .flag = on};

	(void) ud;
	if (put(req.a, sizeof(req.a), devpath) < 0 || put(req.b, sizeof(req.b), iface) < 0)
		return -E2BIG;
	return request(&req, NULL);
}

/* "/dev/sdb" as udev gives it, or "sdb": the kernel name goes over the channel. */
static const char *kernel_name(const char *devname)
{
	const char *p = str_startswith(devname, "/dev/");

	return p ? p : devname;
}

static int w_node(uint32_t op, const char *devname, unsigned major, unsigned minor, bool flag)
{
	struct usb_req req = {.op = op, .major = major, .minor = minor, .flag = flag};

	if (put(req.a, sizeof(req.a), kernel_name(devname)) < 0)
		return -E2BIG;
	return request(&req, NULL);
}

static int w_set_ro(void *ud, const char *devname, unsigned major, unsigned minor, bool ro)
{
	(void) ud;
	return w_node(OP_USB_SET_RO, devname, major, minor, ro);
}

static int w_restrict(void *ud, const char *devname, unsigned major, unsigned minor, bool chr)
{
	(void) ud;
	return w_node(OP_USB_RESTRICT, devname, major, minor, chr);
}

static int w_path(uint32_t op, const char *path, bool flag)
{
	struct usb_req req = {.op = op, .flag = flag};

	if (put(req.a, sizeof(req.a), path) < 0)
		return -E2BIG;
	return request(&req, NULL);
}

static int w_remount(void *ud, const char *mount_point)
{
	(void) ud;
	return w_path(OP_USB_REMOUNT_RO, mount_point, false);
}

static int w_marker(void *ud, const char *bus_path, const char *devpath)
{
	struct usb_req req = {.op = OP_USB_MARKER, .flag = !bus_path ? 2 : devpath ? 1 : 0};

	(void) ud;
	if (put(req.a, sizeof(req.a), bus_path) < 0 || put(req.b, sizeof(req.b), devpath) < 0)
		return -E2BIG;
	return request(&req, NULL);
}

static int w_audit(void *ud, bool add, const char *kind, unsigned major, unsigned minor)
{
	struct usb_req req = {.op = OP_USB_AUDIT, .major = major, .minor = minor, .flag = add};

	(void) ud;
	if (put(req.kind, sizeof(req.kind), kind) < 0)
		return -E2BIG;
	return request(&req, NULL);
}

int privsep_usb_fan_mark(void *ud, const char *mount_point, bool add)
{
	(void) ud;
	return w_path(OP_USB_FAN_MARK, mount_point, add);
}

const struct enf_usb_ops *privsep_usb_ops(void)
{
	static const struct enf_usb_ops ops = {
		.authorize = w_authorize,
		.set_ro = w_set_ro,
		.restrict_node = w_restrict,
		.remount_ro = w_remount,
		.marker = w_marker,
		.audit_rule = w_audit,
	};

	return &ops;
}

int privsep_usb_open_audit(int *ret_fd)
{
	struct usb_req req = {.op = OP_USB_OPEN, .flag = OPEN_AUDIT};
	int fd = -1, r = request(&req, &fd);

	if (r < 0)
		return r;
	if (fd < 0)
		return -EPROTO;
	*ret_fd = fd;
	return 0;
}

int privsep_usb_open_fanotify(int *ret_fd)
{
	struct usb_req req = {.op = OP_USB_OPEN, .flag = OPEN_FANOTIFY};
	int fd = -1, r = request(&req, &fd);

	if (r < 0)
		return r;
	if (fd < 0)
		return -EPROTO;
	*ret_fd = fd;
	return 0;
}

/* ---- the parent's side ---- */

/* A string field: NUL-terminated, nothing after it. */
static bool clean_field(const char *f, size_t size)
{
	size_t n = strnlen(f, size);

	if (n == size)
		return false;
	for (size_t i = n; i < size; i++)
		if (f[i])
			return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) f[i] < 0x20 || f[i] == 0x7f)
			return false;
	return true;
}

static bool safe_abs(const char *p)
{
	return p[0] == '/' && !strstr(p, "/../") && !str_endswith(p, "/..") && !strstr(p, "//");
}

static bool kernel_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 48 || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:+!") ==
	       n;
}

/* "1-2.4": a USB device's bus path. */
static bool bus_path_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < USBDEV_BUSPATH && strspn(s, "0123456789-.") == n && s[0] != '.' &&
	       strchr(s, '-');
}

/* Whether the sysfs path (with "/sys", under root) is a USB device's or lies under one:
 * some prefix of it is what /sys/bus/usb/devices/<that prefix's last name> resolves to. */
static bool under_usb(const char *root, const char *syspath)
{
	char prefix[LIMIT_PATH];
	const char *p = syspath;

	while ((p = strchr(p + 1, '/'))) {
		_cleanup_(freep) char *link = NULL, *target = NULL;
		size_t n = (size_t) (p - syspath);
		const char *name;

		if (n >= sizeof(prefix))
			return false;
		memcpy(prefix, syspath, n);
		prefix[n] = '\0';
		name = strrchr(prefix, '/') + 1;
		if (!strchr(name, '-') || strchr(name, ':'))
			continue; /* bus paths look like "1-2"; interfaces "1-2:1.0" are below */
		link = mm_asprintf("/sys/bus/usb/devices/%s", name);
		if (link && fileio_resolve_link(root, link, &target) == 0 && streq(target, prefix))
			return true;
	}
	return false;
}

/* Whether device major:minor (block, or chr) is on the USB, as the parent's sysfs says. */
static bool usb_devnum(const char *root, unsigned major, unsigned minor, bool chr)
{
	_cleanup_(freep) char *link =
		mm_asprintf("/sys/dev/%s/%u:%u", chr ? "char" : "block", major, minor);
	_cleanup_(freep) char *target = NULL;

	if (!link || fileio_resolve_link(root, link, &target) < 0)
		return false;
	{
		_cleanup_(freep) char *full = mm_asprintf("%s/", target);

		return full && under_usb(root, full);
	}
}

/* Whether the file system mounted at path is on a USB device. */
static bool usb_mount(const char *root, const char *path)
{
	struct stat st;

	if (!safe_abs(path) || stat(path, &st) < 0)
		return false;
	return usb_devnum(root, major(st.st_dev), minor(st.st_dev), false);
}

/* Whether devpath is a USB device's (/sys/bus/usb/devices lists it). */
static bool usb_devpath(const char *root, const char *devpath)
{
	_cleanup_(freep) char *link = NULL, *target = NULL, *want = NULL;
	const char *name = strrchr(devpath, '/');

	if (!safe_abs(devpath) || !str_startswith(devpath, "/devices/") || !name ||
	    !bus_path_ok(name + 1))
		return false; /* a root hub ("usb2") is the whole bus: never */
	link = mm_asprintf("/sys/bus/usb/devices/%s", name + 1);
	want = mm_asprintf("/sys%s", devpath);
	return link && want && fileio_resolve_link(root, link, &target) == 0 && streq(target, want);
}

static int reply(int fd, int err, int pass_fd)
{
	struct usb_rep rep = {.err = err};
	char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
	struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t) sizeof(rep) ? 0 : 1;
}

static int open_for_worker(const struct usb_req *req, int *ret_fd)
{
	int r;

	if (req->flag == OPEN_AUDIT) {
		if (parent_audit)
			return -EBUSY;
		r = enf_usb_audit_open(&parent_audit);
		if (r < 0)
			return r;
		*ret_fd = enf_usb_audit_take_log_fd(parent_audit);
		return 0;
	}
	if (parent_fan >= 0)
		return -EBUSY;
	r = mon_removable_open_privileged();
	if (r < 0)
		return r;
	parent_fan = r;
	*ret_fd = fcntl(parent_fan, F_DUPFD_CLOEXEC, 3);
	return *ret_fd < 0 ? -errno : 0;
}

int privsep_usb_parent(int fd, const char *root, pid_t worker, const void *msg, size_t len)
{
	struct usb_req req;
	int r = -EINVAL, pass = -1, out;

	if (len != sizeof(req))
		privsep_fatal(worker, "USB request of %zu bytes, expected %zu", len, sizeof(req));
	memcpy(&req, msg, sizeof(req));
	if (!clean_field(req.kind, sizeof(req.kind)) || !clean_field(req.a, sizeof(req.a)) ||
	    !clean_field(req.b, sizeof(req.b)) || req.flag > 2)
		privsep_fatal(worker, "USB request %u: malformed fields", req.op);
	switch (req.op) {
	case OP_USB_AUTHORIZE:
		if (!safe_abs(req.a) ||
		    (req.b[0] && (!str_startswith(req.b, strrchr(req.a, '/') + 1) ||
				  strchr(req.b, '/') || !strchr(req.b, ':'))))
			privsep_fatal(worker,
				      "USB_AUTHORIZE: not a device and one of its interfaces");
		r = usb_devpath(root, req.a) && req.flag <= 1
			    ? enf_usb_block_authorize(root, req.a, req.b[0] ? req.b : NULL,
						      req.flag)
			    : -EPERM;
		break;
	case OP_USB_SET_RO:
	case OP_USB_RESTRICT:
		if (!kernel_name_ok(req.a) || req.flag > 1)
			privsep_fatal(worker, "USB node request: not a device name");
		if (!usb_devnum(root, req.major, req.minor, req.op == OP_USB_RESTRICT && req.flag))
			r = -EPERM;
		else if (req.op == OP_USB_SET_RO)
			r = enf_usb_block_set_ro(root, req.a, req.major, req.minor, req.flag);
		else
			r = enf_usb_block_restrict(root, req.a, req.major, req.minor, req.flag);
		break;
	case OP_USB_REMOUNT_RO:
	case OP_USB_FAN_MARK:
		if (!safe_abs(req.a))
			privsep_fatal(worker, "USB mount request: not an absolute path");
		/* unmarking a file system already gone is fine; anything else must be USB */
		if (req.op == OP_USB_FAN_MARK && !req.flag)
			r = parent_fan < 0 ? -EBADF : mon_removable_mark(parent_fan, req.a, false);
		else if (!usb_mount(root, req.a))
			r = -EPERM;
		else if (req.op == OP_USB_REMOUNT_RO)
			r = enf_usb_block_remount_ro(req.a);
		else
			r = parent_fan < 0 ? -EBADF : mon_removable_mark(parent_fan, req.a, true);
		break;
	case OP_USB_MARKER:
		if (req.flag == 2)
			r = enf_usb_block_marker(root, NULL, NULL);
		else if (!bus_path_ok(req.a) || (req.flag == 1 && !usb_devpath(root, req.b)))
			r = -EPERM;
		else
			r = enf_usb_block_marker(root, req.a, req.flag ? req.b : NULL);
		break;
	case OP_USB_AUDIT:
		if (!streq(req.kind, "ro") && !streq(req.kind, "burn"))
			privsep_fatal(worker, "USB_AUDIT: unknown kind");
		if (!parent_audit)
			r = -EBADF;
		else if (!req.flag) {
			enf_usb_audit_unwatch(parent_audit, req.kind, req.major, req.minor);
			r = 0;
		} else if (!usb_devnum(root, req.major, req.minor, false) &&
			   !usb_devnum(root, req.major, req.minor, true))
			r = -EPERM;
		else
			r = enf_usb_audit_watch(parent_audit, req.kind, req.major, req.minor);
		break;
	case OP_USB_OPEN:
		if (req.flag != OPEN_AUDIT && req.flag != OPEN_FANOTIFY)
			privsep_fatal(worker, "USB_OPEN: unknown descriptor");
		r = open_for_worker(&req, &pass);
		break;
	default:
		privsep_fatal(worker, "unknown USB operation %u", req.op);
	}
	if (r == -EPERM)
		log_warning("(M1440) privilege separation: refused USB operation %u on %s%s%s: not "
			    "a USB device",
			    req.op, req.a, req.b[0] ? " " : "", req.b);
	out = reply(fd, r < 0 ? r : 0, pass);
	if (pass >= 0)
		(void) close(pass);
	return out;
}

void privsep_usb_parent_done(void)
{
	parent_audit = enf_usb_audit_free(parent_audit);
	closep(&parent_fan);
	parent_fan = -1;
}
