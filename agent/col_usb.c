/*
 * The usb section: every USB device the kernel knows, from /sys/bus/usb/devices (device
 * entries such as "1-2.1" and root hubs "usb1"; interface entries "1-2.1:1.0" are read as
 * the interfaces of their device). Each device gets a "kind" an administrator reads at a
 * glance — mass_storage, hid, phone_or_camera … — derived from its interface classes by
 * col_usb_kind(), which USB control reuses so that policy and inventory agree.
 *
 * A device that is not authorised has no interface directories: its interfaces are then
 * read from the binary "descriptors" attribute (device descriptor followed by every
 * configuration's raw descriptors), so a blocked USB stick still shows as mass storage.
 *
 * Limits: at most LIMIT_USB_INTERFACES interfaces per device; strings reported by devices
 * (manufacturer, product, serial) are outside input and kept as text only if clean, else
 * escaped (col_json_text).
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

#define USB_DT_DEVICE    1
#define USB_DT_CONFIG    2
#define USB_DT_INTERFACE 4

struct usb {
	const struct col_ctx *ctx;
	json_t *section;
	json_t *devices;
};

/* ---- class decoding (shared with USB control) --------------------------------------- */

const char *col_usb_class_name(unsigned cls)
{
	switch (cls) {
	case 0x00:
		return "per_interface";
	case 0x01:
		return "audio";
	case 0x02:
		return "communications";
	case 0x03:
		return "hid";
	case 0x05:
		return "physical";
	case 0x06:
		return "still_image";
	case 0x07:
		return "printer";
	case 0x08:
		return "mass_storage";
	case 0x09:
		return "hub";
	case 0x0a:
		return "cdc_data";
	case 0x0b:
		return "smart_card";
	case 0x0d:
		return "content_security";
	case 0x0e:
		return "video";
	case 0x0f:
		return "personal_healthcare";
	case 0x10:
		return "audio_video";
	case 0x11:
		return "billboard";
	case 0x12:
		return "type_c_bridge";
	case 0xdc:
		return "diagnostic";
	case 0xe0:
		return "wireless";
	case 0xef:
		return "miscellaneous";
	case 0xfe:
		return "application_specific";
	case 0xff:
		return "vendor_specific";
	default:
		return "unknown";
	}
}

/*
 * Kinds in the order they win when a composite device has several: what can carry data off
 * the machine first (a stick that is also a keyboard is a stick), input devices last.
 */
static const struct {
	unsigned cls;
	const char *kind;
} kind_order[] = {
	{0x08, "mass_storage"}, {0x06, "phone_or_camera"}, {0x07, "printer"}, {0x0b, "smart_card"},
	{0xe0, "wireless"},     {0x0e, "video"},           {0x01, "audio"},   {0x03, "hid"},
	{0x09, "hub"},
};

static bool is_mtp(const struct col_usb_iface *i)
{
	/* Android and most MTP players: a vendor-specific interface named "MTP" */
	return i->cls == 0xff && strstr(i->name, "MTP");
}

const char *col_usb_kind(unsigned device_class, const struct col_usb_iface *ifaces, size_t n)
{
	for (size_t k = 0; k < ARRAY_SIZE(kind_order); k++) {
		for (size_t i = 0; i < n; i++)
			if (ifaces[i].cls == kind_order[k].cls ||
			    (kind_order[k].cls == 0x06 && is_mtp(&ifaces[i])))
				return kind_order[k].kind;
		/* the device class speaks for devices whose interfaces are unknown */
		if (n == 0 && device_class == kind_order[k].cls)
			return kind_order[k].kind;
	}
	return "other";
}

/* ---- the binary descriptors attribute --------------------------------------------- */

static unsigned le16(const unsigned char *p)
{
	return p[0] | (unsigned) p[1] << 8;
}

/* Adds the alternate-setting-0 interfaces of one configuration's descriptors. */
static int parse_config(const unsigned char *p, size_t total, struct col_usb_desc *d)
{
	size_t off = p[0]; /* past the configuration descriptor itself */

	while (off + 2 <= total) {
		size_t len = p[off];

		if (len < 2 || len > total - off)
			return -EBADMSG;
		if (p[off + 1] == USB_DT_INTERFACE && len >= 9 && p[off + 3] == 0) {
			struct col_usb_iface *i;

			if (d->n_ifaces >= LIMIT_USB_INTERFACES)
				return -E2BIG;
			i = &d->ifaces[d->n_ifaces++];
			*i = (struct col_usb_iface){
				.number = p[off + 2],
				.cls = p[off + 5],
				.subclass = p[off + 6],
				.protocol = p[off + 7],
			};
		}
		off += len;
	}
	return 0;
}

int col_usb_parse_descriptors(const void *data, size_t len, unsigned config_value,
			      struct col_usb_desc *ret)
{
	const unsigned char *p = data;
	struct col_usb_desc d = {0};
	const unsigned char *chosen = NULL;
	size_t chosen_len = 0, off;
	int r;

	if (len < 18 || p[0] < 18 || p[1] != USB_DT_DEVICE || p[0] > len)
		return -EBADMSG;
	d.bcd_usb = le16(p + 2);
	d.device_class = p[4];
	d.device_subclass = p[5];
	d.device_protocol = p[6];
	d.vendor_id = le16(p + 8);
	d.product_id = le16(p + 10);
	d.bcd_device = le16(p + 12);
	d.num_configs = p[17];
	/* configurations follow, each wTotalLength bytes; take the active one, else the first */
	for (off = p[0]; off + 9 <= len;) {
		const unsigned char *c = p + off;
		size_t total = le16(c + 2);

		if (c[1] != USB_DT_CONFIG || c[0] < 9 || total < c[0] || total > len - off)
			return -EBADMSG;
		if (!chosen ||
		    (config_value && c[5] == config_value && (chosen[5] != config_value))) {
			chosen = c;
			chosen_len = total;
		}
		off += total;
	}
	if (off != len)
		return -EBADMSG; /* trailing bytes that are no configuration */
	if (chosen) {
		r = parse_config(chosen, chosen_len, &d);
		if (r < 0)
			return r;
		d.config_value = chosen[5];
	}
	*ret = d;
	return 0;
}

/* ---- sysfs ---------------------------------------------------------------------------- */

static int set_text(json_t *obj, const char *key, const char *s)
{
	if (!s || !*s)
		return jsonw_set(obj, key, json_null());
	return jsonw_set(obj, key, col_json_text(s, strlen(s)));
}

/* Reads dir/name: *ret NULL when absent; other read errors are recorded. */
static int attr(const struct usb *u, const char *dir, const char *name, char **ret)
{
	_cleanup_(freep) char *path = mm_asprintf("%s/%s", dir, name);
	char *v = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = col_read_attr(u->ctx, path, &v);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT && col_error(u->section, path, r, NULL) < 0)
		return -ENOMEM;
	*ret = r < 0 ? NULL : v;
	return 0;
}

/* A hex attribute of `digits` digits ("0781", "08") into obj[key] and *ret_value. */
static int attr_hex(const struct usb *u, const char *dir, const char *name, size_t digits,
		    json_t *obj, const char *key, unsigned *ret_value)
{
	_cleanup_(freep) char *v = NULL;
	unsigned n;
	int r = attr(u, dir, name, &v);

	if (r < 0)
		return r;
	if (!v)
		return jsonw_set(obj, key, json_null());
	if (strlen(v) != digits || strspn(v, "0123456789abcdefABCDEF") != digits ||
	    str_to_uint(v, 16, &n) < 0) {
		if (col_error(u->section, dir, 0, "%s: expected %zu hex digits", name, digits) < 0)
			return -ENOMEM;
		return jsonw_set(obj, key, json_null());
	}
	for (char *c = v; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char) (*c - 'A' + 'a');
	if (ret_value)
		*ret_value = n;
	return jsonw_set(obj, key, json_string(v));
}

static int attr_uint(const struct usb *u, const char *dir, const char *name, json_t *obj,
		     const char *key)
{
	_cleanup_(freep) char *v = NULL;
	unsigned n;
	int r = attr(u, dir, name, &v);

	if (r < 0)
		return r;
	if (v && str_to_uint(v, 10, &n) == 0)
		return jsonw_set(obj, key, json_integer(n));
	if (v && col_error(u->section, dir, 0, "%s: not a number", name) < 0)
		return -ENOMEM;
	return jsonw_set(obj, key, json_null());
}

static int attr_text(const struct usb *u, const char *dir, const char *name, json_t *obj,
		     const char *key)
{
	_cleanup_(freep) char *v = NULL;
	int r = attr(u, dir, name, &v);

	if (r < 0)
		return r;
	return set_text(obj, key, v);
}

static json_t *hex2(unsigned v)
{
	char s[8];

	(void) snprintf(s, sizeof(s), "%02x", v & 0xff);
	return json_string(s);
}

static int iface_json(const struct col_usb_iface *i, const char *driver, json_t *arr)
{
	json_t *o = json_pack("{s:i, s:o, s:o, s:o, s:s}", "number", (int) i->number, "class",
			      hex2(i->cls), "subclass", hex2(i->subclass), "protocol",
			      hex2(i->protocol), "class_name", col_usb_class_name(i->cls));

	if (!o || jsonw_append(arr, o) < 0)
		return -ENOMEM;
	if (set_text(o, "name", i->name) < 0 || set_text(o, "driver", driver) < 0)
		return -ENOMEM;
	return 0;
}

/* One interface directory ("2-1:1.0") into ifs[*n] and the JSON array. */
static int read_interface(const struct usb *u, const char *dir, struct col_usb_iface *ifs,
			  size_t *n, json_t *arr)
{
	_cleanup_(freep) char *num = NULL, *cls = NULL, *sub = NULL, *proto = NULL;
	_cleanup_(freep) char *name = NULL, *link = NULL, *driver_path = NULL;
	struct col_usb_iface i = {0};
	const char *driver = NULL;
	int r;

	if (attr(u, dir, "bInterfaceNumber", &num) < 0 ||
	    attr(u, dir, "bInterfaceClass", &cls) < 0 ||
	    attr(u, dir, "bInterfaceSubClass", &sub) < 0 ||
	    attr(u, dir, "bInterfaceProtocol", &proto) < 0 || attr(u, dir, "interface", &name) < 0)
		return -ENOMEM;
	if (!num || !cls || !sub || !proto || str_to_uint(num, 16, &i.number) < 0 ||
	    str_to_uint(cls, 16, &i.cls) < 0 || str_to_uint(sub, 16, &i.subclass) < 0 ||
	    str_to_uint(proto, 16, &i.protocol) < 0 || i.number > 0xff || i.cls > 0xff ||
	    i.subclass > 0xff || i.protocol > 0xff)
		return col_error(u->section, dir, 0, "interface attributes missing or not hex");
	if (name && str_is_clean_utf8(name, strlen(name)))
		(void) snprintf(i.name, sizeof(i.name), "%s", name);
	driver_path = mm_asprintf("%s/driver", dir);
	if (!driver_path)
		return -ENOMEM;
	r = fileio_readlink(u->ctx->root, driver_path, &link);
	if (r == -ENOMEM)
		return r;
	if (r == 0) {
		driver = strrchr(link, '/');
		driver = driver ? driver + 1 : link;
	}
	if (*n >= LIMIT_USB_INTERFACES)
		return col_error(u->section, dir, -E2BIG, "more than %u interfaces",
				 LIMIT_USB_INTERFACES);
	ifs[(*n)++] = i;
	return iface_json(&i, driver, arr);
}

static int read_interfaces(const struct usb *u, const char *devdir, json_t *dev,
			   struct col_usb_iface *ifs, size_t *n)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;
	_cleanup_(freep) char *raw = NULL, *cfg = NULL;
	_cleanup_(freep) char *desc_path = mm_asprintf("%s/descriptors", devdir);
	struct col_usb_desc d;
	json_t *arr;
	unsigned config_value = 0;
	size_t len;
	int r;

	if (!desc_path)
		return -ENOMEM;
	arr = json_array();
	if (jsonw_set(dev, "interfaces", arr) < 0)
		return -ENOMEM;
	r = col_list_dir(u->ctx, devdir, LIMIT_DIR_ENTRIES, &names, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(u->section, devdir, r, NULL);
	for (char **e = names; *e; e++) {
		_cleanup_(freep) char *dir = NULL;

		if (!strchr(*e, ':'))
			continue;
		dir = mm_asprintf("%s/%s", devdir, *e);
		if (!dir)
			return -ENOMEM;
		r = read_interface(u, dir, ifs, n, arr);
		if (r < 0)
			return r;
	}
	if (*n > 0)
		return 0;
	/* no interface directories (not authorised, not configured): the raw descriptors */
	r = col_read_file(u->ctx, desc_path, LIMIT_SMALL_FILE, &raw, &len);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return col_error(u->section, desc_path, r, NULL);
	if (attr(u, devdir, "bConfigurationValue", &cfg) < 0)
		return -ENOMEM;
	if (cfg && str_to_uint(cfg, 10, &config_value) < 0)
		config_value = 0;
	r = col_usb_parse_descriptors(raw, len, config_value, &d);
	if (r < 0)
		return col_error(u->section, desc_path, r == -E2BIG ? r : 0,
				 r == -E2BIG ? NULL : "malformed USB descriptors");
	for (size_t i = 0; i < d.n_ifaces; i++) {
		ifs[(*n)++] = d.ifaces[i];
		r = iface_json(&d.ifaces[i], NULL, arr);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "speed" in Mbit/s: "1.5", "12", "480", "5000" … */
static int read_speed(const struct usb *u, const char *dir, json_t *dev)
{
	_cleanup_(freep) char *v = NULL;
	unsigned n;
	int r = attr(u, dir, "speed", &v);

	if (r < 0)
		return r;
	if (v && streq(v, "1.5"))
		return jsonw_set(dev, "speed", json_real(1.5));
	if (v && str_to_uint(v, 10, &n) == 0)
		return jsonw_set(dev, "speed", json_integer(n));
	if (v && col_error(u->section, dir, 0, "speed: not a number") < 0)
		return -ENOMEM;
	return jsonw_set(dev, "speed", json_null());
}

static int read_flags(const struct usb *u, const char *dir, json_t *dev)
{
	_cleanup_(freep) char *auth = NULL, *removable = NULL;
	json_t *a = json_null(), *rm = json_null();

	if (attr(u, dir, "authorized", &auth) < 0 || attr(u, dir, "removable", &removable) < 0)
		return -ENOMEM;
	if (auth && (streq(auth, "0") || streq(auth, "1")))
		a = json_boolean(auth[0] == '1');
	else if (auth && col_error(u->section, dir, 0, "authorized: expected 0 or 1") < 0)
		return -ENOMEM;
	/* the hub port's view: "removable", "fixed" (built in) or "unknown" */
	if (removable && (streq(removable, "removable") || streq(removable, "fixed")))
		rm = json_boolean(streq(removable, "removable"));
	if (jsonw_set(dev, "authorized", a) < 0 || jsonw_set(dev, "removable", rm) < 0)
		return -ENOMEM;
	return 0;
}

static int collect_device(struct usb *u, const char *name)
{
	_cleanup_(freep) char *dir = NULL, *full = NULL;
	_cleanup_(freep) char *link = mm_asprintf("/sys/bus/usb/devices/%s", name);
	_cleanup_(freep) struct col_usb_iface *ifs = NULL;
	unsigned dev_class = 0;
	size_t n = 0;
	json_t *dev;
	int r;

	if (!link)
		return -ENOMEM;
	r = fileio_resolve_link(u->ctx->root, link, &dir);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(u->section, link, r, NULL);
	ifs = mm_calloc(LIMIT_USB_INTERFACES, sizeof(*ifs));
	full = fileio_path(u->ctx->root, dir);
	if (!ifs || !full)
		return -ENOMEM;
	if (access(full, F_OK) < 0)
		return col_error(u->section, link, -ENOENT, "dangling link to %s", dir);
	dev = json_pack("{s:s}", "bus_path", name);
	if (!dev || jsonw_append(u->devices, dev) < 0)
		return -ENOMEM;
	r = attr_hex(u, dir, "idVendor", 4, dev, "vendor_id", NULL);
	if (r >= 0)
		r = attr_hex(u, dir, "idProduct", 4, dev, "product_id", NULL);
	if (r >= 0)
		r = attr_text(u, dir, "manufacturer", dev, "manufacturer");
	if (r >= 0)
		r = attr_text(u, dir, "product", dev, "product");
	if (r >= 0)
		r = attr_text(u, dir, "serial", dev, "serial");
	if (r >= 0)
		r = attr_uint(u, dir, "busnum", dev, "busnum");
	if (r >= 0)
		r = attr_uint(u, dir, "devnum", dev, "devnum");
	if (r >= 0)
		r = read_speed(u, dir, dev);
	if (r >= 0)
		r = attr_text(u, dir, "version", dev, "usb_version");
	if (r >= 0)
		r = attr_hex(u, dir, "bDeviceClass", 2, dev, "device_class", &dev_class);
	if (r >= 0)
		r = attr_hex(u, dir, "bDeviceSubClass", 2, dev, "device_subclass", NULL);
	if (r >= 0)
		r = attr_hex(u, dir, "bDeviceProtocol", 2, dev, "device_protocol", NULL);
	if (r >= 0)
		r = read_flags(u, dir, dev);
	if (r >= 0)
		r = read_interfaces(u, dir, dev, ifs, &n);
	if (r >= 0)
		r = jsonw_set(dev, "kind", json_string(col_usb_kind(dev_class, ifs, n)));
	return r;
}

int col_usb_collect(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(fileio_strv_freep) char **names = NULL;
	struct usb u = {.ctx = ctx, .section = section, .devices = json_array()};
	int r;

	if (jsonw_set(section, "devices", u.devices) < 0)
		return -ENOMEM;
	r = col_list_dir(ctx, "/sys/bus/usb/devices", LIMIT_DIR_ENTRIES, &names, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT) /* a kernel without USB (this test VM): nothing to report */
		return jsonw_set(section, "available", json_false());
	if (r < 0)
		return col_error(section, "/sys/bus/usb/devices", r, NULL);
	if (jsonw_set(section, "available", json_true()) < 0)
		return -ENOMEM;
	for (char **n = names; *n; n++) {
		if (strchr(*n, ':'))
			continue; /* an interface: read with its device */
		if (!str_is_clean_utf8(*n, strlen(*n))) {
			if (col_error(section, "/sys/bus/usb/devices", 0, "name is not text") < 0)
				return -ENOMEM;
			continue;
		}
		r = collect_device(&u, *n);
		if (r < 0)
			return r;
	}
	return 0;
}
