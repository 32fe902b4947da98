/*
 * Read-only storage for USB control (docs/usb-control.md, "Read-only"): the privileged
 * operations on block devices and their nodes, each small and typed so the agent's
 * privileged parent can serve them for the unprivileged worker (docs/internals/privsep.md).
 *
 * - enf_usb_block_set_ro(): BLKROSET on a block device. On the whole disk it covers every
 *   partition, present and future: the kernel's bdev_read_only() of a partition also asks
 *   the disk (checked on this kernel with loop devices). Writes through an open descriptor
 *   then fail with EPERM and writable mounts with EACCES (mount(8) falls back to a
 *   read-only mount).
 * - A file system already mounted read-write keeps writing after BLKROSET (the kernel only
 *   warns "Trying to write to read-only block-device"), so it is remounted read-only:
 *   enf_usb_block_remount_ro(), a superblock remount, which every mount of it in every
 *   namespace follows.
 * - Optical drives are burned through SCSI commands (SG_IO) on /dev/srN or /dev/sgN. The
 *   kernel lets a process without CAP_SYS_RAWIO send write commands only through a
 *   descriptor opened for writing, so enf_usb_block_restrict() takes write permission off
 *   both nodes: mode bits and the access ACL that logind's "uaccess" gives the seat's user.
 *
 * Every node is opened non-blocking (a card reader without a card, a drive without a disc)
 * and checked: it must be a block (or, for sg, character) device with the expected
 * major:minor, so a stale or planted path never redirects an operation to another device.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

/* dev_root + "/dev/" + name, or dev_root + name when udev gave "/dev/sdb". */
static int node_path(const char *dev_root, const char *devname, char *buf, size_t size)
{
	const char *root = !dev_root || streq(dev_root, "/") ? "" : dev_root;
	int n;

	if (!*devname || strstr(devname, ".."))
		return -EINVAL;
	n = devname[0] == '/' ? snprintf(buf, size, "%s%s", root, devname)
			      : snprintf(buf, size, "%s/dev/%s", root, devname);
	return n < 0 || (size_t) n >= size ? -E2BIG : 0;
}

int enf_usb_block_authorize(const char *sys_root, const char *devpath, const char *iface, bool on)
{
	char path[LIMIT_PATH];
	_cleanup_(closep) int fd = -1;
	const char *root = !sys_root || streq(sys_root, "/") ? "" : sys_root;
	int n = snprintf(path, sizeof(path), "%s/sys%s%s%s/authorized", root, devpath,
			 iface ? "/" : "", iface ? iface : "");

	if (n < 0 || (size_t) n >= sizeof(path))
		return -E2BIG;
	if (strstr(devpath, "..") || (iface && (strchr(iface, '/') || strstr(iface, ".."))))
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (write(fd, on ? "1" : "0", 1) != 1)
		return -errno;
	return 0;
}

int enf_usb_block_marker(const char *root, const char *bus_path, const char *devpath)
{
	const char *r = !root || streq(root, "/") ? "" : root;
	_cleanup_(fileio_strv_freep) char **names = NULL;
	_cleanup_(closep) int dfd = -1, fd = -1;
	char dir[LIMIT_PATH];
	int n;

	(void) snprintf(dir, sizeof(dir), "%s/run", r);
	(void) mkdir(dir, 0755); /* there already, but in a test tree */
	(void) snprintf(dir, sizeof(dir), "%s/run/mamori", r);
	(void) mkdir(dir, 0755);
	n = snprintf(dir, sizeof(dir), "%s%s", r, ENF_USB_MARKER_DIR);
	if (n < 0 || (size_t) n >= sizeof(dir))
		return -E2BIG;
	(void) mkdir(dir, 0700);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	if (!bus_path) {
		if (fileio_list_dir(root, ENF_USB_MARKER_DIR, LIMIT_DIR_ENTRIES, &names) < 0)
			return 0;
		for (char **e = names; *e; e++)
			(void) unlinkat(dfd, *e, 0);
		return 0;
	}
	if (!*bus_path || strchr(bus_path, '/') || bus_path[0] == '.')
		return -EINVAL;
	if (!devpath)
		return unlinkat(dfd, bus_path, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = openat(dfd, bus_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, devpath, strlen(devpath)) != (ssize_t) strlen(devpath))
		return -EIO;
	return 0;
}

int enf_usb_block_open(const char *dev_root, const char *devname, unsigned major, unsigned minor,
		       bool chr, int flags, int *ret_fd)
{
	char path[LIMIT_PATH];
	_cleanup_(closep) int fd = -1;
	struct stat st;
	int r = node_path(dev_root, devname, path, sizeof(path));

	if (r < 0)
		return r;
	fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((chr ? !S_ISCHR(st.st_mode) : !S_ISBLK(st.st_mode)) ||
	    st.st_rdev != makedev(major, minor))
		return -ENODEV; /* not the device the kernel announced */
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int enf_usb_block_set_ro(const char *dev_root, const char *devname, unsigned major, unsigned minor,
			 bool ro)
{
	_cleanup_(closep) int fd = -1;
	int on = ro ? 1 : 0, now = -1;
	int r = enf_usb_block_open(dev_root, devname, major, minor, false, O_RDONLY, &fd);

	if (r < 0)
		return r;
	if (ioctl(fd, BLKROGET, &now) == 0 && now == on)
		return 0;
	if (ioctl(fd, BLKROSET, &on) < 0)
		return -errno;
	return 1;
}

int enf_usb_block_restrict(const char *dev_root, const char *devname, unsigned major,
			   unsigned minor, bool chr)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;
	int r = enf_usb_block_open(dev_root, devname, major, minor, chr, O_RDONLY, &fd);

	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* the ACL first: its mask would otherwise keep granting write to named users */
	if (fremovexattr(fd, "system.posix_acl_access") < 0 && errno != ENODATA && errno != ENOTSUP)
		return -errno;
	if ((st.st_mode & 0222) && fchmod(fd, st.st_mode & 07555) < 0)
		return -errno;
	return 0;
}

int enf_usb_block_mounts(const char *root, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *mounts = json_array();
	_cleanup_(freep) char *text = NULL;
	int r;

	if (!mounts)
		return -ENOMEM;
	r = fileio_read(root, "/proc/self/mountinfo", LIMIT_LARGE_FILE, &text, NULL);
	if (r < 0)
		return r;
	r = col_storage_parse_mountinfo(text, mounts);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(mounts);
	return 0;
}

int enf_usb_block_remount_ro(const char *mount_point)
{
	if (mount(NULL, mount_point, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return -errno;
	return 0;
}

/* ---- the udev rule's helper ---- */

/* The devpath a marker holds (what enf_usb.c wrote for a read-only USB device). */
static int read_marker(const char *root, const char *path, char *buf, size_t size)
{
	char full[LIMIT_PATH];
	_cleanup_(closep) int fd = -1;
	ssize_t n;
	int k = snprintf(full, sizeof(full), "%s%s", !root || streq(root, "/") ? "" : root, path);

	if (k < 0 || (size_t) k >= sizeof(full))
		return -E2BIG;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EBADMSG;
	buf[n] = '\0';
	return 0;
}

int enf_usb_block_udev(const struct enf_usb_options *o, const char *devpath)
{
	char text[2048], disk[USBDEV_PATH], comp[USBDEV_BUSPATH];
	const char *p = devpath;
	struct usbdev_uevent u;
	bool marked = false;
	int r;

	/* a marker names a USB device ("1-2"); is it one of this path's components? */
	while (p && *p && !marked) {
		const char *end = strchr(p + 1, '/');
		size_t n = end ? (size_t) (end - p - 1) : strlen(p + 1);
		char path[LIMIT_PATH], want[USBDEV_PATH];

		if (n > 0 && n < sizeof(comp)) {
			memcpy(comp, p + 1, n);
			comp[n] = '\0';
			(void) snprintf(path, sizeof(path), "%s/%s", ENF_USB_MARKER_DIR, comp);
			if (read_marker(o->root, path, want, sizeof(want)) == 0 &&
			    strncmp(devpath, want, strlen(want)) == 0 &&
			    devpath[strlen(want)] == '/')
				marked = true;
		}
		p = end;
	}
	if (!marked)
		return 0;
	usbdev_uevent_init(&u);
	r = usbdev_read_attr(o->sys_root, devpath, "uevent", text, sizeof(text));
	if (r < 0)
		return r;
	(void) usbdev_parse_uevent(text, &u);
	if (u.major < 0 || u.minor < 0 || !u.devname[0])
		return -EBADMSG;
	if (strstr(devpath, "/scsi_generic/"))
		return 1; /* a character device: the rule takes its write permission */
	if (streq(u.devtype, "partition")) {
		struct usbdev_uevent du;
		const char *slash = strrchr(devpath, '/');

		if (!slash || (size_t) (slash - devpath) >= sizeof(disk))
			return -EINVAL;
		memcpy(disk, devpath, (size_t) (slash - devpath));
		disk[slash - devpath] = '\0';
		usbdev_uevent_init(&du);
		if (usbdev_read_attr(o->sys_root, disk, "uevent", text, sizeof(text)) == 0) {
			(void) usbdev_parse_uevent(text, &du);
			if (du.major >= 0 && du.minor >= 0 && du.devname[0])
				(void) !enf_usb_block_set_ro(o->dev_root, du.devname,
							     (unsigned) du.major,
							     (unsigned) du.minor, true);
		}
	}
	r = enf_usb_block_set_ro(o->dev_root, u.devname, (unsigned) u.major, (unsigned) u.minor,
				 true);
	return r < 0 ? r : 1;
}
