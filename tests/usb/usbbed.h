/*
 * A USB test bed for the hot-plug harness and the decision benchmark: a umockdev testbed
 * with a root hub, devices built from a few facts (ids, strings, interfaces) with the
 * binary `descriptors` attribute a real device has, block and sg children, uevents sent
 * the way the kernel sends them (children before parents on removal), and the enforcer
 * (mamori-usb-enforce) as a child whose JSON-line events are read back.
 *
 * Runs under umockdev-wrapper (LD_PRELOAD), which redirects /sys for this process and the
 * enforcer; paths under the temporary directory are real.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <umockdev.h>

#define HUB "/devices/pci0000:00/0000:00:14.0/usb1"

struct bed_iface {
	unsigned cls, subclass, protocol;
	const char *name; /* the interface string, or NULL */
};

struct bed_dev {
	const char *bus_path; /* "1-3" */
	unsigned vendor, product;
	const char *manufacturer, *product_name, *serial;
	struct bed_iface ifaces[8];
	size_t n_ifaces;
};

struct bed {
	UMockdevTestbed *tb;
	char tmp[256];
	pid_t agent;
	int out; /* the enforcer's stdout */
	char line[1 << 16];
	size_t len;
	json_t *events; /* every event read so far */
	unsigned devnum;
};

static inline int64_t bed_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void bed_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static inline void bed_init(struct bed *b)
{
	GError *err = NULL;
	char path[512];

	memset(b, 0, sizeof(*b));
	b->agent = -1;
	b->out = -1;
	b->devnum = 2;
	b->events = json_array();
	/* under the runner's own directory when it gives one, so it can clean up after us */
	snprintf(b->tmp, sizeof(b->tmp), "%s/mamori-usbbed-XXXXXX",
		 getenv("MAMORI_TEST_TMP") ? getenv("MAMORI_TEST_TMP") : "/tmp");
	if (!mkdtemp(b->tmp)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/state", b->tmp);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/root", b->tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/root/run", b->tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dev", b->tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dev/dev", b->tmp);
	mkdir(path, 0755);
	b->tb = umockdev_testbed_new();
	if (!umockdev_testbed_add_from_string(b->tb,
					      "P: " HUB "\n"
					      "E: SUBSYSTEM=usb\n"
					      "E: DEVTYPE=usb_device\n"
					      "E: PRODUCT=1d6b/2/606\n"
					      "A: idVendor=1d6b\n"
					      "A: idProduct=0002\n"
					      "A: bDeviceClass=09\n"
					      "A: authorized=1\n"
					      "A: authorized_default=1\n",
					      &err)) {
		fprintf(stderr, "umockdev: %s\n", err->message);
		exit(1);
	}
}

/* The device and configuration descriptors of d, as hex for an "H:" line. */
static inline void bed_descriptors(const struct bed_dev *d, char *out, size_t size)
{
	unsigned char x[512];
	size_t n = 0, total = 9 + d->n_ifaces * (9 + 7);
	unsigned char dev[18] = {18,
				 1,
				 0x00,
				 0x02,
				 0,
				 0,
				 0,
				 64,
				 d->vendor & 0xff,
				 d->vendor >> 8,
				 d->product & 0xff,
				 d->product >> 8,
				 0x00,
				 0x01,
				 1,
				 2,
				 d->serial ? 3 : 0,
				 1};
	unsigned char cfg[9] = {9, 2, total & 0xff, total >> 8, (unsigned char) d->n_ifaces,
				1, 0, 0x80,         50};

	memcpy(x + n, dev, sizeof(dev));
	n += sizeof(dev);
	memcpy(x + n, cfg, sizeof(cfg));
	n += sizeof(cfg);
	for (size_t i = 0; i < d->n_ifaces; i++) {
		unsigned char ifd[9] = {9,
					4,
					(unsigned char) i,
					0,
					1,
					d->ifaces[i].cls,
					d->ifaces[i].subclass,
					d->ifaces[i].protocol,
					0};
		unsigned char ep[7] = {7, 5, (unsigned char) (0x81 + i), 2, 0x00, 0x02, 0};

		memcpy(x + n, ifd, sizeof(ifd));
		n += sizeof(ifd);
		memcpy(x + n, ep, sizeof(ep));
		n += sizeof(ep);
	}
	out[0] = '\0';
	for (size_t i = 0; i < n && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, 3, "%02x", x[i]);
}

/*
 * Plugs d in: the device (its "add" uevent goes first, as the kernel's does, before its
 * interfaces exist) and then each interface. Returns the device's devpath.
 */
static inline void bed_plug(struct bed *b, const struct bed_dev *d, char *ret_devpath, size_t size)
{
	static char rec[16384];
	char desc[1200];
	GError *err = NULL;
	unsigned devnum = b->devnum++;
	int n;

	bed_descriptors(d, desc, sizeof(desc));
	n = snprintf(rec, sizeof(rec),
		     "P: " HUB "/%s\n"
		     "E: SUBSYSTEM=usb\n"
		     "E: DEVTYPE=usb_device\n"
		     "E: DEVNAME=/dev/bus/usb/001/%03u\n"
		     "E: PRODUCT=%x/%x/100\n"
		     "E: TYPE=0/0/0\n"
		     "E: BUSNUM=001\n"
		     "E: DEVNUM=%03u\n"
		     "A: authorized=1\n"
		     "A: idVendor=%04x\n"
		     "A: idProduct=%04x\n"
		     "A: bcdDevice=0100\n"
		     "A: bDeviceClass=00\n"
		     "A: bDeviceSubClass=00\n"
		     "A: bDeviceProtocol=00\n"
		     "A: bConfigurationValue=1\n"
		     "A: busnum=1\n"
		     "A: devnum=%u\n"
		     "A: speed=480\n"
		     "A: manufacturer=%s\n"
		     "A: product=%s\n"
		     "%s%s%s"
		     "H: descriptors=%s\n",
		     d->bus_path, devnum, d->vendor, d->product, devnum, d->vendor, d->product,
		     devnum, d->manufacturer, d->product_name, d->serial ? "A: serial=" : "",
		     d->serial ? d->serial : "", d->serial ? "\n" : "", desc);
	if (!umockdev_testbed_add_from_string(b->tb, rec, &err)) {
		fprintf(stderr, "umockdev: %s\n", err->message);
		exit(1);
	}
	for (size_t i = 0; i < d->n_ifaces; i++) {
		const struct bed_iface *f = &d->ifaces[i];

		snprintf(rec, sizeof(rec),
			 "P: " HUB "/%s/%s:1.%zu\n"
			 "E: SUBSYSTEM=usb\n"
			 "E: DEVTYPE=usb_interface\n"
			 "E: INTERFACE=%u/%u/%u\n"
			 "A: authorized=1\n"
			 "A: bInterfaceNumber=%02zx\n"
			 "A: bInterfaceClass=%02x\n"
			 "A: bInterfaceSubClass=%02x\n"
			 "A: bInterfaceProtocol=%02x\n"
			 "A: bAlternateSetting=0\n"
			 "%s%s%s",
			 d->bus_path, d->bus_path, i, f->cls, f->subclass, f->protocol, i, f->cls,
			 f->subclass, f->protocol, f->name ? "A: interface=" : "",
			 f->name ? f->name : "", f->name ? "\n" : "");
		if (!umockdev_testbed_add_from_string(b->tb, rec, &err)) {
			fprintf(stderr, "umockdev: %s\n", err->message);
			exit(1);
		}
	}
	(void) n;
	snprintf(ret_devpath, size, HUB "/%s", d->bus_path);
}

/*
 * Adds a SCSI device (type 0 disk, 5 CD/DVD) under interface 0 of the USB device at
 * bus_path, with a block device `name` (dev major:minor) and optionally an sg node
 * (sg_name, dev sg_major:sg_minor). The block device's "add" uevent is what the enforcer
 * reacts to.
 */
static inline void bed_add_scsi(struct bed *b, const char *bus_path, unsigned host, int type,
				const char *name, unsigned major, unsigned minor,
				const char *sg_name, unsigned sg_major, unsigned sg_minor)
{
	static char rec[4096];
	GError *err = NULL;
	char base[512];

	snprintf(base, sizeof(base), HUB "/%s/%s:1.0/host%u/target%u:0:0/%u:0:0:0", bus_path,
		 bus_path, host, host, host);
	snprintf(rec, sizeof(rec),
		 "P: %s\n"
		 "E: SUBSYSTEM=scsi\n"
		 "E: DEVTYPE=scsi_device\n"
		 "A: type=%d\n"
		 "A: vendor=MAMORI\n\n"
		 "P: %s/block/%s\n"
		 "E: SUBSYSTEM=block\n"
		 "E: DEVTYPE=disk\n"
		 "E: DEVNAME=/dev/%s\n"
		 "E: MAJOR=%u\n"
		 "E: MINOR=%u\n"
		 "A: dev=%u:%u\n"
		 "A: ro=0\n"
		 "A: removable=1\n"
		 "L: device=../../../%u:0:0:0\n",
		 base, type, base, name, name, major, minor, major, minor, host);
	if (!umockdev_testbed_add_from_string(b->tb, rec, &err)) {
		fprintf(stderr, "umockdev: %s\n", err->message);
		exit(1);
	}
	if (!sg_name)
		return;
	snprintf(rec, sizeof(rec),
		 "P: %s/scsi_generic/%s\n"
		 "E: SUBSYSTEM=scsi_generic\n"
		 "E: DEVNAME=/dev/%s\n"
		 "E: MAJOR=%u\n"
		 "E: MINOR=%u\n"
		 "A: dev=%u:%u\n"
		 "L: device=../../../%u:0:0:0\n",
		 base, sg_name, sg_name, sg_major, sg_minor, sg_major, sg_minor, host);
	if (!umockdev_testbed_add_from_string(b->tb, rec, &err)) {
		fprintf(stderr, "umockdev: %s\n", err->message);
		exit(1);
	}
}

/* Unplugs the device at devpath with n interfaces: "remove" uevents for the interfaces,
 * then the device (remove_device() itself sends none), then the sysfs entries. */
static inline void bed_unplug(struct bed *b, const char *devpath, size_t n_ifaces)
{
	char sys[1024], bus[64];
	const char *slash = strrchr(devpath, '/');

	snprintf(bus, sizeof(bus), "%s", slash + 1);
	for (size_t i = 0; i < n_ifaces; i++) {
		snprintf(sys, sizeof(sys), "/sys%s/%s:1.%zu", devpath, bus, i);
		umockdev_testbed_uevent(b->tb, sys, "remove");
	}
	snprintf(sys, sizeof(sys), "/sys%s", devpath);
	umockdev_testbed_uevent(b->tb, sys, "remove");
	for (size_t i = n_ifaces; i > 0; i--) {
		char ifsys[1200];

		snprintf(ifsys, sizeof(ifsys), "%s/%s:1.%zu", sys, bus, i - 1);
		umockdev_testbed_remove_device(b->tb, ifsys);
	}
	umockdev_testbed_remove_device(b->tb, sys);
}

/* Reads a sysfs attribute through umockdev ("" when unreadable). */
static inline void bed_attr(const char *devpath, const char *name, char *out, size_t size)
{
	char path[700];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/sys%s/%s", devpath, name);
	out[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	fclose(f);
}

/* Waits up to ms for the attribute to read `want`; returns whether it did. */
static inline bool bed_wait_attr(const char *devpath, const char *name, const char *want, int ms)
{
	char v[64];
	int64_t end = bed_now_us() + (int64_t) ms * 1000;

	do {
		bed_attr(devpath, name, v, sizeof(v));
		if (strcmp(v, want) == 0)
			return true;
		usleep(2000);
	} while (bed_now_us() < end);
	return false;
}

/* Starts the enforcer with these extra arguments (NULL-terminated). */
static inline void bed_start(struct bed *b, const char *const *extra)
{
	const char *exe = getenv("MAMORI_USB_ENFORCE");
	char state[300], root[300], devroot[300];
	const char *argv[32];
	size_t n = 0;
	int p[2];

	snprintf(state, sizeof(state), "%s/state", b->tmp);
	snprintf(root, sizeof(root), "%s/root", b->tmp);
	snprintf(devroot, sizeof(devroot), "%s/dev", b->tmp);
	argv[n++] = exe;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n++] = "--root";
	argv[n++] = root;
	argv[n++] = "--dev-root";
	argv[n++] = devroot;
	for (; extra && *extra && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	b->agent = fork();
	if (b->agent == 0) {
		dup2(p[1], 1);
		execv(exe, (char **) argv);
		_exit(127);
	}
	close(p[1]);
	b->out = p[0];
	b->len = 0;
}

/* Reads what the enforcer printed within ms; returns false when it is gone. */
static inline bool bed_read(struct bed *b, int ms)
{
	struct pollfd pfd = {.fd = b->out, .events = POLLIN};
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return true;
	n = read(b->out, b->line + b->len, sizeof(b->line) - 1 - b->len);
	if (n <= 0)
		return false;
	b->len += (size_t) n;
	for (;;) {
		char *nl = memchr(b->line, '\n', b->len);
		json_t *ev;

		if (!nl)
			break;
		*nl = '\0';
		ev = json_loads(b->line, 0, NULL);
		if (ev)
			json_array_append_new(b->events, ev);
		else
			fprintf(stderr, "# not JSON: %s\n", b->line);
		b->len -= (size_t) (nl + 1 - b->line);
		memmove(b->line, nl + 1, b->len);
	}
	return true;
}

/* The bus_path an event is about. */
static inline const char *bed_ev_bus(const json_t *ev)
{
	const json_t *d = json_object_get(ev, "data");
	const char *s = json_string_value(json_object_get(d, "bus_path"));

	return s ? s : json_string_value(json_object_get(json_object_get(d, "device"), "bus_path"));
}

/*
 * Waits up to ms for an event of `type` about `bus` (NULL: any) at index >= *from; returns
 * it (borrowed) and moves *from past it, or NULL.
 */
static inline json_t *bed_wait_event(struct bed *b, const char *type, const char *bus, size_t *from,
				     int ms)
{
	int64_t end = bed_now_us() + (int64_t) ms * 1000;

	for (;;) {
		for (size_t i = *from; i < json_array_size(b->events); i++) {
			json_t *ev = json_array_get(b->events, i);
			const char *t = json_string_value(json_object_get(ev, "type"));
			const char *eb = bed_ev_bus(ev);

			if (t && strcmp(t, type) == 0 && (!bus || (eb && strcmp(eb, bus) == 0))) {
				*from = i + 1;
				return ev;
			}
		}
		if (bed_now_us() >= end)
			return NULL;
		if (!bed_read(b, 20))
			return NULL;
	}
}

static inline const char *bed_str(const json_t *ev, const char *key)
{
	return json_string_value(json_object_get(json_object_get(ev, "data"), key));
}

static inline long long bed_int(const json_t *ev, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(ev, "data"), key));
}

/* Stops the enforcer (SIGTERM) and returns its exit status (-1 when killed). */
static inline int bed_stop(struct bed *b)
{
	int64_t end = bed_now_us() + 10 * 1000000;
	int status = 0;

	if (b->agent <= 0)
		return -1;
	kill(b->agent, SIGTERM);
	while (bed_now_us() < end && bed_read(b, 100))
		if (waitpid(b->agent, &status, WNOHANG) == b->agent)
			goto reaped;
	if (bed_now_us() >= end)
		kill(b->agent, SIGKILL);
	waitpid(b->agent, &status, 0);
reaped:
	for (int i = 0; i < 100 && bed_read(b, 10); i++) /* what it printed last */
		;
	close(b->out);
	b->agent = -1;
	b->out = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline int bed_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path) < 0 ? -1 : 0;
}

static inline void bed_done(struct bed *b)
{
	if (b->agent > 0)
		(void) bed_stop(b);
	g_object_unref(b->tb);
	json_decref(b->events);
	if (nftw(b->tmp, bed_rm, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "# could not remove %s\n", b->tmp);
}
