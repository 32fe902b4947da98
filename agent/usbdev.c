/*
 * A USB device's facts as USB control decides on them: what its uevent says (from libudev's
 * properties or the sysfs `uevent` file, same KEY=VALUE form) and what its sysfs directory
 * holds — ids, strings, classes, and the interfaces, from the interface directories or,
 * when the kernel has not created them (the device is not authorised, or it is read in the
 * instant between its "add" uevent and its configuration), from the binary `descriptors`
 * attribute, parsed by col_usb_parse_descriptors() as the inventory does.
 *
 * This is on the decision's hot path: it allocates nothing. Every value lands in the fixed
 * buffers of struct usbdev; a string longer than a USB string descriptor can be, a path
 * longer than USBDEV_PATH, or a devpath with ".." in it, is refused rather than cut, so a
 * device can never be mistaken for another by truncation.
 *
 * Sysfs attributes are read relative to a directory descriptor of the device, opened once
 * under sys_root ("/" in production, where umockdev redirects /sys in tests).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/jsonw.h"
#include "lib/str.h"

/* Copies src into dst (size bytes); -E2BIG when it does not fit whole. */
static int copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -E2BIG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* A path that cannot climb out of the tree it is joined to: absolute, no "..", no "//". */
static bool safe_path(const char *p, bool absolute)
{
	if (absolute && p[0] != '/')
		return false;
	if (strstr(p, "/../") || str_endswith(p, "/..") || strncmp(p, "../", 3) == 0 ||
	    streq(p, "..") || strstr(p, "//"))
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

enum usbdev_action usbdev_action_from_string(const char *s)
{
	static const struct {
		const char *name;
		enum usbdev_action a;
	} actions[] = {
		{"add", USBDEV_ADD},   {"remove", USBDEV_REMOVE}, {"change", USBDEV_CHANGE},
		{"bind", USBDEV_BIND}, {"unbind", USBDEV_UNBIND},
	};

	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		if (streq(s, actions[i].name))
			return actions[i].a;
	return USBDEV_OTHER;
}

void usbdev_uevent_init(struct usbdev_uevent *u)
{
	*u = (struct usbdev_uevent){.major = -1, .minor = -1, .busnum = -1, .devnum = -1};
}

/* "a/b/c" with each part a number in `base` no larger than max. */
static int parse_triple(const char *s, int base, unsigned max, unsigned ret[3])
{
	char buf[64];
	char *p = buf, *save = NULL, *tok;
	unsigned v[3];
	size_t n = 0;

	if (copy_str(buf, sizeof(buf), s) < 0)
		return -EBADMSG;
	if (!*s || s[0] == '/' || str_endswith(s, "/") || strstr(s, "//"))
		return -EBADMSG;
	for (tok = strtok_r(p, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (n >= 3 || str_to_uint(tok, base, &v[n]) < 0 || v[n] > max)
			return -EBADMSG;
		n++;
	}
	if (n != 3)
		return -EBADMSG;
	memcpy(ret, v, sizeof(v));
	return 0;
}

static int set_int(const char *value, unsigned max, int *ret)
{
	unsigned v;

	if (str_to_uint(value, 10, &v) < 0 || v > max)
		return -EBADMSG;
	*ret = (int) v;
	return 0;
}

int usbdev_uevent_set(struct usbdev_uevent *u, const char *key, const char *value)
{
	unsigned t[3];
	int r;

	if (streq(key, "ACTION")) {
		u->action = usbdev_action_from_string(value);
		return 0;
	}
	if (streq(key, "DEVPATH")) {
		if (!safe_path(value, true))
			return -EBADMSG;
		return copy_str(u->devpath, sizeof(u->devpath), value);
	}
	if (streq(key, "SUBSYSTEM"))
		return copy_str(u->subsystem, sizeof(u->subsystem), value);
	if (streq(key, "DEVTYPE"))
		return copy_str(u->devtype, sizeof(u->devtype), value);
	if (streq(key, "DEVNAME")) {
		if (!*value || !safe_path(value, false))
			return -EBADMSG;
		return copy_str(u->devname, sizeof(u->devname), value);
	}
	if (streq(key, "MAJOR"))
		return set_int(value, 4095, &u->major);
	if (streq(key, "MINOR"))
		return set_int(value, (1u << 20) - 1, &u->minor);
	if (streq(key, "BUSNUM"))
		return set_int(value, 999, &u->busnum);
	if (streq(key, "DEVNUM"))
		return set_int(value, 999, &u->devnum);
	if (streq(key, "PRODUCT")) {
		r = parse_triple(value, 16, 0xffff, t);
		if (r < 0)
			return r;
		u->vendor_id = t[0];
		u->product_id = t[1];
		u->bcd_device = t[2];
		u->has_product = true;
		return 0;
	}
	if (streq(key, "TYPE") || streq(key, "INTERFACE")) {
		bool iface = key[0] == 'I';

		r = parse_triple(value, 10, 0xff, iface ? u->interface : u->type);
		if (r < 0)
			return r;
		if (iface)
			u->has_interface = true;
		else
			u->has_type = true;
		return 0;
	}
	return 0;
}

int usbdev_parse_uevent(char *text, struct usbdev_uevent *u)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *eq;

		line = str_strip(line);
		if (!*line)
			continue;
		eq = strchr(line, '=');
		if (!eq || eq == line) {
			bad++;
			continue;
		}
		*eq = '\0';
		if (usbdev_uevent_set(u, line, eq + 1) < 0)
			bad++;
	}
	return bad;
}

size_t usbdev_trim(char *s, size_t len)
{
	size_t start = 0;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t' ||
			   s[len - 1] == '\r' || s[len - 1] == '\0'))
		len--;
	while (start < len && (s[start] == ' ' || s[start] == '\t'))
		start++;
	if (start)
		memmove(s, s + start, len - start);
	len -= start;
	s[len] = '\0';
	return len;
}

int usbdev_parse_hex(const char *s, unsigned digits, unsigned *ret)
{
	unsigned v;

	if (strlen(s) != digits || strspn(s, "0123456789abcdefABCDEF") != digits ||
	    str_to_uint(s, 16, &v) < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int usbdev_parse_devnum(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	char buf[32];
	char *colon;
	unsigned maj, min;

	if (copy_str(buf, sizeof(buf), s) < 0)
		return -EINVAL;
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (str_to_uint(buf, 10, &maj) < 0 || str_to_uint(colon + 1, 10, &min) < 0 || maj > 4095 ||
	    min > (1u << 20) - 1)
		return -EINVAL;
	*ret_major = maj;
	*ret_minor = min;
	return 0;
}

bool usbdev_parse_env(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t) (end - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			n -= klen + 1;
			if (n == 0 || n >= size)
				return false;
			memcpy(out, p + klen + 1, n);
			out[n] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* ---- reading sysfs ---- */

/* root + path without a doubled slash when root is "/" (umockdev traps "/sys/…" only). */
static int join(char *buf, size_t size, const char *root, const char *path)
{
	int n;

	if (!root || streq(root, "/"))
		root = "";
	n = snprintf(buf, size, "%s%s", root, path);
	return n < 0 || (size_t) n >= size ? -E2BIG : 0;
}

/* Reads the file name under dfd into buf (size bytes at most); -E2BIG when larger. */
static int read_at(int dfd, const char *name, void *buf, size_t size, size_t *ret_len)
{
	_cleanup_(closep) int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t k = read(fd, (char *) buf + n, size - n);
		char extra;

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		n += (size_t) k;
		if (n == size) {
			k = read(fd, &extra, 1);
			if (k > 0)
				return -E2BIG;
			break;
		}
	}
	*ret_len = n;
	return 0;
}

/* A text attribute, trimmed, NUL-terminated: at most size - 1 bytes. */
static int read_text(int dfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	int r = read_at(dfd, name, buf, size - 1, &len);

	if (r < 0)
		return r;
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		len = strlen(buf); /* an embedded NUL ends the value, as for any C reader */
	(void) usbdev_trim(buf, len);
	return 0;
}

static int read_hex(int dfd, const char *name, unsigned digits, unsigned *ret)
{
	char buf[16];
	int r = read_text(dfd, name, buf, sizeof(buf));

	if (r < 0)
		return r;
	return usbdev_parse_hex(buf, digits, ret) < 0 ? -EBADMSG : 0;
}

static int read_dec(int dfd, const char *name, unsigned *ret)
{
	char buf[16];
	int r = read_text(dfd, name, buf, sizeof(buf));

	if (r < 0)
		return r;
	return str_to_uint(buf, 10, ret) < 0 ? -EBADMSG : 0;
}

int usbdev_read_attr(const char *sys_root, const char *devpath, const char *name, char *buf,
		     size_t size)
{
	char path[LIMIT_PATH];
	_cleanup_(closep) int dfd = -1;
	int r;

	if (!safe_path(devpath, true) || !safe_path(name, false))
		return -EINVAL;
	r = join(path, sizeof(path), sys_root, "/sys");
	if (r < 0)
		return r;
	if (strlen(path) + strlen(devpath) >= sizeof(path))
		return -E2BIG;
	memcpy(path + strlen(path), devpath, strlen(devpath) + 1);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return read_text(dfd, name, buf, size);
}

/* One interface directory ("1-2:1.0") into *ret. */
static int read_interface(int dfd, const char *name, struct col_usb_iface *ret)
{
	_cleanup_(closep) int ifd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct col_usb_iface i = {0};
	char text[sizeof(i.name)];
	int r;

	if (ifd < 0)
		return -errno;
	r = read_hex(ifd, "bInterfaceNumber", 2, &i.number);
	if (r >= 0)
		r = read_hex(ifd, "bInterfaceClass", 2, &i.cls);
	if (r >= 0)
		r = read_hex(ifd, "bInterfaceSubClass", 2, &i.subclass);
	if (r >= 0)
		r = read_hex(ifd, "bInterfaceProtocol", 2, &i.protocol);
	if (r < 0)
		return r;
	/* the interface string ("MTP") is optional; a long one is cut: it is only searched */
	if (read_text(ifd, "interface", text, sizeof(text)) == 0 &&
	    str_is_clean_utf8(text, strlen(text)))
		memcpy(i.name, text, sizeof(i.name));
	*ret = i;
	return 0;
}

/* The interface directories of the device: entries named "<bus_path>:<config>.<n>". */
static int read_interfaces(int dfd, struct usbdev *d)
{
	char buf[4096] __attribute__((aligned(8)));
	size_t prefix = strlen(d->bus_path);

	for (;;) {
		ssize_t n = getdents64(dfd, buf, sizeof(buf));

		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *e = (const void *) (buf + off);
			struct col_usb_iface i = {0};

			off += e->d_reclen;
			if (strncmp(e->d_name, d->bus_path, prefix) != 0 ||
			    e->d_name[prefix] != ':')
				continue;
			if (read_interface(dfd, e->d_name, &i) < 0)
				continue; /* half-created or gone: the descriptors still count */
			if (d->n_ifaces >= LIMIT_USB_INTERFACES)
				return -E2BIG;
			/* kept sorted by number, so records are stable */
			size_t k = d->n_ifaces++;

			while (k > 0 && d->ifaces[k - 1].number > i.number) {
				d->ifaces[k] = d->ifaces[k - 1];
				k--;
			}
			d->ifaces[k] = i;
		}
	}
	return 0;
}

/*
 * The interfaces of the active configuration are all in the descriptors; the interface
 * directories appear one by one after the device's "add" uevent (and never for a device
 * that is not authorised), but carry the interface strings ("MTP"). So: the descriptors'
 * list, each entry taken from its directory when there is one.
 */
static void merge_descriptors(struct usbdev *d, const struct col_usb_desc *desc)
{
	struct col_usb_iface merged[LIMIT_USB_INTERFACES];
	size_t n = 0, from_dirs = 0;

	for (size_t i = 0; i < desc->n_ifaces && n < LIMIT_USB_INTERFACES; i++) {
		merged[n] = desc->ifaces[i];
		for (size_t k = 0; k < d->n_ifaces; k++)
			if (d->ifaces[k].number == desc->ifaces[i].number) {
				merged[n] = d->ifaces[k];
				from_dirs++;
			}
		n++;
	}
	/* a directory the descriptors do not list (another configuration): kept too */
	for (size_t k = 0; k < d->n_ifaces && n < LIMIT_USB_INTERFACES; k++) {
		bool listed = false;

		for (size_t i = 0; i < desc->n_ifaces; i++)
			listed = listed || desc->ifaces[i].number == d->ifaces[k].number;
		if (!listed)
			merged[n++] = d->ifaces[k];
	}
	memcpy(d->ifaces, merged, n * sizeof(merged[0]));
	d->ifaces_from_descriptors = from_dirs == 0 && n > 0;
	d->n_ifaces = n;
}

int usbdev_read(const char *sys_root, const char *devpath, void *scratch, size_t scratch_size,
		struct usbdev *ret)
{
	char path[LIMIT_PATH];
	_cleanup_(closep) int dfd = -1;
	struct usbdev d = {.busnum = -1, .devnum = -1, .authorized = true};
	struct col_usb_desc desc = {0};
	const char *base;
	bool ids = true, have_desc = false;
	unsigned v, config = 0;
	size_t len = 0;
	int r;

	if (!safe_path(devpath, true))
		return -EINVAL;
	r = copy_str(d.devpath, sizeof(d.devpath), devpath);
	if (r < 0)
		return r;
	base = strrchr(devpath, '/') + 1;
	r = copy_str(d.bus_path, sizeof(d.bus_path), base);
	if (r < 0 || !*base)
		return -EINVAL;
	r = join(path, sizeof(path), sys_root, "/sys");
	if (r < 0 || strlen(path) + strlen(devpath) >= sizeof(path))
		return -E2BIG;
	memcpy(path + strlen(path), devpath, strlen(devpath) + 1);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;

	if (read_hex(dfd, "idVendor", 4, &d.vendor_id) < 0 ||
	    read_hex(dfd, "idProduct", 4, &d.product_id) < 0)
		ids = false;
	(void) !read_hex(dfd, "bcdDevice", 4, &d.bcd_device);
	(void) !read_hex(dfd, "bDeviceClass", 2, &d.device_class);
	(void) !read_hex(dfd, "bDeviceSubClass", 2, &d.device_subclass);
	(void) !read_hex(dfd, "bDeviceProtocol", 2, &d.device_protocol);
	if (read_dec(dfd, "busnum", &v) == 0 && v <= 999)
		d.busnum = (int) v;
	if (read_dec(dfd, "devnum", &v) == 0 && v <= 999)
		d.devnum = (int) v;
	if (read_dec(dfd, "bConfigurationValue", &v) == 0 && v <= 255)
		config = v;
	{
		char a[8];

		if (read_text(dfd, "authorized", a, sizeof(a)) == 0)
			d.authorized = !streq(a, "0");
	}
	/* strings are what the device says: absent is "", too long is refused */
	if (read_text(dfd, "manufacturer", d.manufacturer, sizeof(d.manufacturer)) == -E2BIG ||
	    read_text(dfd, "product", d.product, sizeof(d.product)) == -E2BIG ||
	    read_text(dfd, "serial", d.serial, sizeof(d.serial)) == -E2BIG)
		return -EBADMSG;

	if (scratch && scratch_size >= 18 &&
	    read_at(dfd, "descriptors", scratch, scratch_size, &len) == 0 &&
	    col_usb_parse_descriptors(scratch, len, config, &desc) == 0)
		have_desc = true;
	if (!ids) {
		if (!have_desc)
			return -EBADMSG;
		d.vendor_id = desc.vendor_id;
		d.product_id = desc.product_id;
		d.bcd_device = desc.bcd_device;
		d.device_class = desc.device_class;
		d.device_subclass = desc.device_subclass;
		d.device_protocol = desc.device_protocol;
	}
	r = read_interfaces(dfd, &d);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EBADMSG;
	d.config_value = config ? config : (have_desc ? desc.config_value : 0);
	if (have_desc)
		merge_descriptors(&d, &desc);
	memcpy(ret, &d, sizeof(d));
	return 0;
}

/* ---- records ---- */

static json_t *text_or_null(const char *s)
{
	return *s ? col_json_text(s, strlen(s)) : json_null();
}

static json_t *hexn(unsigned v, int digits)
{
	char s[8];

	(void) snprintf(s, sizeof(s), "%0*x", digits, v);
	return json_string(s);
}

json_t *usbdev_identity_json(const struct usbdev *d)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	json_t *ifs = json_array();

	o = json_pack(
		"{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:s}", "bus_path", d->bus_path,
		"vendor_id", hexn(d->vendor_id, 4), "product_id", hexn(d->product_id, 4),
		"manufacturer", text_or_null(d->manufacturer), "product", text_or_null(d->product),
		"serial", text_or_null(d->serial), "device_class", hexn(d->device_class, 2),
		"interfaces", ifs ? ifs : json_null(), "kind",
		col_usb_kind(d->device_class, d->ifaces, d->n_ifaces), "busnum",
		d->busnum >= 0 ? json_integer(d->busnum) : json_null(), "devpath", d->devpath);
	if (!o || !ifs)
		return NULL;
	for (size_t i = 0; i < d->n_ifaces; i++) {
		const struct col_usb_iface *f = &d->ifaces[i];
		json_t *e = json_pack("{s:i, s:o, s:o, s:o, s:s, s:o}", "number", (int) f->number,
				      "class", hexn(f->cls, 2), "subclass", hexn(f->subclass, 2),
				      "protocol", hexn(f->protocol, 2), "class_name",
				      col_usb_class_name(f->cls), "name", text_or_null(f->name));

		if (!e || jsonw_append(ifs, e) < 0)
			return NULL;
	}
	return TAKE_PTR(o);
}
