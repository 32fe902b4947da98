/*
 * USB control end to end under umockdev (run by tests/usb/hotplug.sh under
 * umockdev-wrapper): the enforcer runs as a child over a testbed; devices are plugged and
 * unplugged with the uevents the kernel would send; the test reads back the `authorized`
 * files, the block devices' read-only flags and the events.
 *
 * With loop devices (root; MAMORI_TEST_LOOP_{A,B,C}=major:minor from hotplug.sh), the
 * disks behind the fake USB sticks are real: a read-only stick's disk refuses writes and
 * writable mounts, an allowed stick's writes are recorded file by file, and a policy change
 * remounts a mounted stick read-only.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <linux/fs.h>

#include "lib/macro.h"
#include "tests/tap.h"
#include "tests/usb/usbbed.h"

static const char *policy_v42 =
	"{\"version\": \"42\", \"rules_text\": \""
	"default block\\n"                                   /* 1 */
	"network office: gateway 10.20.0.1\\n"               /* 2 */
	"allow serial ALLOWED-0001\\n"                       /* 3 */
	"read-only class optical tag company-issued\\n"      /* 4 */
	"block class optical\\n"                             /* 5 */
	"read-only class mass-storage tag company-issued\\n" /* 6 */
	"allow class mass-storage network office\\n"         /* 7 */
	"block class mtp,ptp\\n"                             /* 8 */
	"block class mass-storage\\n"                        /* 9 */
	"block class any\\n\","                              /* 10 */
	"\"registry\": [{\"serial\": \"REG-0001\", \"tags\": [\"company-issued\"]},"
	"              {\"serial\": \"REG-DVD\", \"tags\": [\"company-issued\"]}],"
	"\"grants\": []}";

/* the same, with ALLOWED-0001 registered instead of allowed: read-only */
static const char *policy_v43 =
	"{\"version\": \"43\", \"rules_text\": \""
	"default block\\n"
	"network office: gateway 10.20.0.1\\n"
	"allow serial NOBODY\\n"
	"read-only class optical tag company-issued\\n"
	"block class optical\\n"
	"read-only class mass-storage tag company-issued\\n"
	"allow class mass-storage network office\\n"
	"block class mtp,ptp\\n"
	"block class mass-storage\\n"
	"block class any\\n\","
	"\"registry\": [{\"serial\": \"REG-0001\", \"tags\": [\"company-issued\"]},"
	"              {\"serial\": \"ALLOWED-0001\", \"tags\": [\"company-issued\"]}],"
	"\"grants\": []}";

#define ROUTE_HEAD \
	"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
#define ROUTE_HOME   ROUTE_HEAD "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
#define ROUTE_OFFICE ROUTE_HEAD "eth0\t00000000\t0100140A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"

static struct bed bed;

/* A path in the test's directory; the last four stay valid (mount() takes two). */
static const char *tmp_path(const char *rel)
{
	static char bufs[4][1024];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", bed.tmp, rel);
	return b;
}

static void set_network(const char *route)
{
	bed_write_file(tmp_path("net/proc/net/route"), route);
	kill(bed.agent, SIGHUP);
}

static bool loop_dev(const char *var, unsigned *ret_major, unsigned *ret_minor)
{
	const char *v = getenv(var);

	return v && sscanf(v, "%u:%u", ret_major, ret_minor) == 2;
}

/* An event of `type` about bus whose data[key] is `want`, within ms. */
static json_t *wait_for_ms(const char *type, const char *bus, const char *key, json_t *want,
			   size_t from, int ms)
{
	json_t *ev;

	while ((ev = bed_wait_event(&bed, type, bus, &from, ms))) {
		if (!key || json_equal(json_object_get(json_object_get(ev, "data"), key), want)) {
			json_decref(want);
			return ev;
		}
	}
	json_decref(want);
	return NULL;
}

static json_t *wait_for(const char *type, const char *bus, const char *key, json_t *want,
			size_t from)
{
	return wait_for_ms(type, bus, key, want, from, 5000);
}

static const struct bed_dev keyboard0 = {"1-1",
					 0x046d,
					 0xc31c,
					 "Logitech",
					 "USB Keyboard",
					 NULL,
					 {{0x03, 0x01, 0x01, NULL}, {0x03, 0, 0, NULL}},
					 2};
static const struct bed_dev present = {
	"1-2", 0x0781, 0x5583, "SanDisk", "Ultra Fit", "UNKNOWN-P0", {{0x08, 0x06, 0x50, NULL}}, 1};

static void test_start(void)
{
	size_t from = 0;
	json_t *ev;
	char v[16];

	ev = bed_wait_event(&bed, "driver.ready", NULL, &from, 10000);
	CHECK(ev, "the enforcer starts and reports ready");
	CHECK_STR(bed_str(ev, "policy_version"), "42", "with the policy given");
	from = 0;
	ev = wait_for("usb.plug", "1-1", NULL, NULL, 0);
	CHECK(ev && json_is_true(json_object_get(json_object_get(ev, "data"), "at_start")),
	      "a keyboard present at start is decided");
	CHECK_STR(bed_str(ev, "verdict"), "allow", "and allowed");
	CHECK_STR(bed_str(ev, "reason"), "input device protected",
		  "because input devices are protected from 'block class any'");
	bed_attr(HUB "/1-1", "authorized", v, sizeof(v));
	CHECK_STR(v, "1", "its authorized file is untouched");
	ev = wait_for("usb.plug", "1-2", NULL, NULL, 0);
	CHECK(ev && json_is_true(json_object_get(json_object_get(ev, "data"), "at_start")),
	      "a stick present at start is decided");
	CHECK(ev && streq(bed_str(ev, "verdict"), "block") && bed_int(ev, "rule_line") == 9,
	      "and blocked by 'block class mass-storage' (line 9)");
	CHECK(bed_wait_attr(HUB "/1-2", "authorized", "0", 5000), "its authorized file says 0");
}

static void test_hotplug(void)
{
	static const struct bed_dev allowed = {"1-3",
					       0x0781,
					       0x5581,
					       "SanDisk",
					       "Ultra",
					       "ALLOWED-0001",
					       {{0x08, 0x06, 0x50, NULL}},
					       1};
	static const struct bed_dev unknown = {"1-4",
					       0x090c,
					       0x1000,
					       "Samsung",
					       "Flash Drive",
					       "UNKNOWN-4",
					       {{0x08, 0x06, 0x50, NULL}},
					       1};
	static const struct bed_dev phone = {
		"1-5",
		0x18d1,
		0x4ee1,
		"Google",
		"Pixel 7",
		"PHONE-1",
		{{0xff, 0xff, 0x00, "MTP"}, {0xff, 0x42, 0x01, "ADB Interface"}},
		2};
	static const struct bed_dev kbd = {
		"1-7", 0x413c, 0x2113, "Dell", "KB216 Keyboard", NULL, {{0x03, 0x01, 0x01, NULL}},
		1};
	static const struct bed_dev ducky = {"1-8",
					     0x1234,
					     0x5678,
					     "Hak5",
					     "Duck",
					     "DUCK-1",
					     {{0x03, 0x01, 0x01, NULL}, {0x08, 0x06, 0x50, NULL}},
					     2};
	char devpath[600], v[16];
	size_t mark = json_array_size(bed.events);
	json_t *ev;

	bed_plug(&bed, &allowed, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-3", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "allow") && bed_int(ev, "rule_line") == 3,
	      "a stick allowed by serial (line 3)");
	CHECK_STR(ev ? bed_str(ev, "user") : NULL, "hanako",
		  "the record names the user at the machine (logind's active session)");
	{
		json_t *net = ev ? json_object_get(json_object_get(ev, "data"), "network") : NULL;

		CHECK(net && json_array_size(net) == 1 &&
			      streq(json_string_value(json_array_get(net, 0)), "untrusted"),
		      "and the network context the decision saw (home is not the office)");
	}
	bed_attr(devpath, "authorized", v, sizeof(v));
	CHECK_STR(v, "1", "stays authorised");

	bed_plug(&bed, &unknown, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-4", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "block") && bed_int(ev, "rule_line") == 9,
	      "a stick blocked by class (line 9)");
	CHECK(bed_wait_attr(devpath, "authorized", "0", 5000), "is de-authorised");
	CHECK(ev && json_is_integer(json_object_get(json_object_get(ev, "data"), "latency_us")),
	      "the record says how long the decision took");
	{
		json_t *dev = json_object_get(json_object_get(ev, "data"), "device");

		CHECK(ev && streq(json_string_value(json_object_get(dev, "serial")), "UNKNOWN-4") &&
			      streq(json_string_value(json_object_get(dev, "vendor_id")), "090c") &&
			      streq(json_string_value(json_object_get(dev, "product")),
				    "Flash Drive") &&
			      json_array_size(json_object_get(dev, "interfaces")) == 1,
		      "and identifies the device: ids, names, serial, interfaces");
	}

	bed_plug(&bed, &phone, devpath, sizeof(devpath));
	CHECK(bed_wait_attr(devpath, "authorized", "0", 5000), "an unknown phone is blocked");
	{
		size_t from = mark;
		bool by_mtp = false;

		while ((ev = bed_wait_event(&bed, "usb.plug", "1-5", &from, 100)) ||
		       (ev = bed_wait_event(&bed, "usb.verdict", "1-5", &from, 2000)))
			if (bed_int(ev, "rule_line") == 8)
				by_mtp = true;
		CHECK(by_mtp, "by 'block class mtp,ptp' (line 8), once its MTP interface shows");
	}

	bed_plug(&bed, &kbd, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-7", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "allow"), "a keyboard plugged in is allowed");
	bed_attr(devpath, "authorized", v, sizeof(v));
	CHECK_STR(v, "1", "its authorized file is untouched by the class rules");

	bed_plug(&bed, &ducky, devpath, sizeof(devpath));
	CHECK(bed_wait_attr(devpath, "1-8:1.1/authorized", "0", 5000),
	      "a keyboard that is also a stick loses its storage interface");
	bed_attr(devpath, "authorized", v, sizeof(v));
	CHECK_STR(v, "1", "but the device stays authorised");
	bed_attr(devpath, "1-8:1.0/authorized", v, sizeof(v));
	CHECK_STR(v, "1", "and its keyboard interface keeps working");
	{
		size_t from = mark;
		bool split = false;

		while ((ev = bed_wait_event(&bed, "usb.plug", "1-8", &from, 100)) ||
		       (ev = bed_wait_event(&bed, "usb.verdict", "1-8", &from, 1000)))
			if (streq(bed_str(ev, "scope"), "interfaces"))
				split = true;
		CHECK(split, "the record says only interfaces were blocked");
	}
}

static void test_readonly(void)
{
	static const struct bed_dev reg = {"1-6",
					   0x0951,
					   0x1666,
					   "Kingston",
					   "DataTraveler",
					   "REG-0001",
					   {{0x08, 0x06, 0x50, NULL}},
					   1};
	char devpath[600], v[16], marker[600];
	size_t mark = json_array_size(bed.events);
	unsigned maj, min;
	json_t *ev;
	int fd, ro = -1;

	bed_plug(&bed, &reg, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-6", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "read-only") && bed_int(ev, "rule_line") == 6,
	      "a registered stick is read-only (line 6)");
	bed_attr(devpath, "authorized", v, sizeof(v));
	CHECK_STR(v, "1", "and stays authorised");
	snprintf(marker, sizeof(marker), "%s/root/run/mamori/usb-ro/1-6", bed.tmp);
	CHECK(access(marker, F_OK) == 0, "the udev rule's marker names it");

	if (!loop_dev("MAMORI_TEST_LOOP_A", &maj, &min)) {
		tap_diag("no loop device (not root?): the read-only disk is not tested for real");
		return;
	}
	if (mknod(tmp_path("dev/dev/sdb"), S_IFBLK | 0660, makedev(maj, min)) < 0)
		tap_diag("mknod: %s", strerror(errno));
	bed_add_scsi(&bed, "1-6", 6, 0, "sdb", maj, min, NULL, 0, 0);
	ev = wait_for("usb.storage", "1-6", NULL, NULL, mark);
	CHECK(ev && json_is_true(json_object_get(json_object_get(ev, "data"), "readonly")) &&
		      !json_object_get(json_object_get(ev, "data"), "error"),
	      "its disk is made read-only when its block device appears");
	fd = open(tmp_path("dev/dev/sdb"), O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (ioctl(fd, BLKROGET, &ro) < 0)
			ro = -1;
		close(fd);
	}
	CHECK_INT(ro, 1, "the kernel holds the disk read-only (BLKROGET)");
	fd = open(tmp_path("dev/dev/sdb"), O_WRONLY | O_CLOEXEC);
	{
		char block[512] = {0};
		ssize_t n = fd >= 0 ? pwrite(fd, block, sizeof(block), 4096) : -1;
		int err = errno;

		CHECK(n < 0 && err == EPERM, "a raw write to the stick is refused (EPERM)");
		if (fd >= 0)
			close(fd);
	}
	mkdir(tmp_path("mnt-a"), 0755);
	{
		int r = mount(tmp_path("dev/dev/sdb"), tmp_path("mnt-a"), "ext4", 0, NULL);
		int err = errno;

		CHECK(r < 0 && (err == EACCES || err == EROFS), "a writable mount is refused (%s)",
		      strerror(err));
		if (r == 0)
			umount(tmp_path("mnt-a"));
	}
	if (mount(tmp_path("dev/dev/sdb"), tmp_path("mnt-a"), "ext4", MS_RDONLY, NULL) == 0) {
		int f = open(tmp_path("mnt-a/copied.txt"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		int err = errno;

		CHECK(f < 0 && err == EROFS, "a read-only mount works, and refuses a new file");
		if (f >= 0)
			close(f);
		ev = wait_for("usb.mount", "1-6", NULL, NULL, mark);
		CHECK(ev && json_is_true(json_object_get(json_object_get(ev, "data"), "read_only")),
		      "the mount is recorded, read-only");
		if (getenv("MAMORI_TEST_AUDIT")) {
			/* audit names the directory a file could not be created in */
			ev = wait_for("usb.write_denied", "1-6", "path",
				      json_string(tmp_path("mnt-a/")), mark);
			CHECK(ev && streq(bed_str(ev, "result"), "refused") &&
				      streq(bed_str(ev, "error"), "Read-only file system"),
			      "the refused file write is recorded with where it was tried");
			ev = wait_for("usb.write_denied", "1-6", "path",
				      json_string(tmp_path("dev/dev/sdb")), mark);
			CHECK(ev, "and so is the raw write attempt on the disk");
			CHECK(ev && json_integer_value(json_object_get(
					    json_object_get(json_object_get(ev, "data"), "process"),
					    "pid")) == getpid(),
			      "with the process that tried");
		} else {
			tap_diag("no kernel audit here: refused writes are not recorded");
		}
		umount(tmp_path("mnt-a"));
	} else {
		CHECK(0, "a read-only mount of the stick works: %s", strerror(errno));
	}
}

static void test_network(void)
{
	size_t mark = json_array_size(bed.events);
	json_t *ev;

	set_network(ROUTE_OFFICE);
	ev = wait_for("usb.verdict", "1-4", "verdict", json_string("allow"), mark);
	CHECK(ev && bed_int(ev, "rule_line") == 7 && streq(bed_str(ev, "cause"), "network"),
	      "at the office the blocked stick is allowed (line 7): the network decided");
	CHECK(bed_wait_attr(HUB "/1-4", "authorized", "1", 5000), "and re-authorised");
	CHECK(bed_wait_attr(HUB "/1-2", "authorized", "1", 5000),
	      "so is the stick that was there at start");
}

static void test_optical(void)
{
	static const struct bed_dev dvd = {"1-9",
					   0x13fd,
					   0x0840,
					   "Generic",
					   "External DVD",
					   "DVD-1",
					   {{0x08, 0x06, 0x50, NULL}},
					   1};
	static const struct bed_dev regdvd = {"1-10",
					      0x0e8d,
					      0x1806,
					      "Lite-On",
					      "DVD Writer",
					      "REG-DVD",
					      {{0x08, 0x06, 0x50, NULL}},
					      1};
	char devpath[600];
	size_t mark = json_array_size(bed.events);
	unsigned maj, min;
	struct stat st;
	json_t *ev;

	/* at the office: as a mass-storage device it would be allowed (line 7) */
	bed_plug(&bed, &dvd, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-9", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "allow"),
	      "a DVD drive that looks like any stick is allowed at first");
	bed_add_scsi(&bed, "1-9", 9, 5, "sr0", 11, 0, NULL, 0, 0);
	ev = wait_for("usb.verdict", "1-9", "cause", json_string("optical"), mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "block") && bed_int(ev, "rule_line") == 5,
	      "once the block layer shows a CD/DVD drive it is blocked (line 5)");
	CHECK(bed_wait_attr(devpath, "authorized", "0", 5000), "and de-authorised");

	bed_plug(&bed, &regdvd, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-10", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "read-only"),
	      "a registered DVD drive is read-only");
	if (mknod(tmp_path("dev/dev/sg1"), S_IFCHR | 0666, makedev(1, 7)) < 0)
		tap_diag("mknod sg1: %s", strerror(errno));
	if (loop_dev("MAMORI_TEST_LOOP_C", &maj, &min)) {
		if (mknod(tmp_path("dev/dev/sr1"), S_IFBLK | 0666, makedev(maj, min)) < 0)
			tap_diag("mknod sr1: %s", strerror(errno));
	} else {
		maj = 11;
		min = 1;
	}
	bed_add_scsi(&bed, "1-10", 10, 5, "sr1", maj, min, "sg1", 1, 7);
	ev = wait_for("usb.verdict", "1-10", "cause", json_string("optical"), mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "read-only") && bed_int(ev, "rule_line") == 4,
	      "as an optical drive it is decided by 'read-only class optical' (line 4)");
	ev = wait_for("usb.storage", "1-10", "block", json_string("sg1"), mark);
	CHECK(ev && !json_object_get(json_object_get(ev, "data"), "error"),
	      "its SCSI generic node is handled");
	CHECK(stat(tmp_path("dev/dev/sg1"), &st) == 0 && (st.st_mode & 0222) == 0,
	      "and loses write permission, so burning through SG_IO needs a writable "
	      "descriptor it cannot get");
	if (getenv("MAMORI_TEST_LOOP_C")) {
		CHECK(stat(tmp_path("dev/dev/sr1"), &st) == 0 && (st.st_mode & 0222) == 0,
		      "so does its sr node");
		if (getenv("MAMORI_TEST_AUDIT")) {
			int fd = open(tmp_path("dev/dev/sr1"), O_RDWR | O_CLOEXEC);

			if (fd >= 0)
				close(fd); /* root ignores the mode bits: a burner run as root */
			ev = wait_for("usb.burn_denied", "1-10", NULL, NULL, mark);
			CHECK(ev, "a write open of the drive is recorded as a burn attempt");
		}
	}
}

static void test_files(void)
{
	static const struct bed_dev stick = {"1-11",
					     0x0781,
					     0x5581,
					     "SanDisk",
					     "Ultra",
					     "ALLOWED-0001",
					     {{0x08, 0x06, 0x50, NULL}},
					     1};
	char devpath[600];
	size_t mark = json_array_size(bed.events);
	unsigned maj, min;
	char data[1234];
	json_t *ev;
	int fd, busy;

	if (!loop_dev("MAMORI_TEST_LOOP_B", &maj, &min)) {
		tap_diag("no loop device: file records and remounts are not tested");
		return;
	}
	bed_plug(&bed, &stick, devpath, sizeof(devpath));
	ev = wait_for("usb.plug", "1-11", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "allow"), "an allowed stick for file records");
	if (mknod(tmp_path("dev/dev/sdc"), S_IFBLK | 0660, makedev(maj, min)) < 0)
		tap_diag("mknod sdc: %s", strerror(errno));
	bed_add_scsi(&bed, "1-11", 11, 0, "sdc", maj, min, NULL, 0, 0);
	ev = wait_for("usb.storage", "1-11", NULL, NULL, mark);
	CHECK(ev && json_is_false(json_object_get(json_object_get(ev, "data"), "readonly")),
	      "its disk stays writable");
	mkdir(tmp_path("mnt-b"), 0755);
	if (mount(tmp_path("dev/dev/sdc"), tmp_path("mnt-b"), "ext4", 0, NULL) < 0) {
		CHECK(0, "mount the allowed stick: %s", strerror(errno));
		return;
	}
	ev = wait_for("usb.mount", "1-11", NULL, NULL, mark);
	CHECK(ev && json_is_false(json_object_get(json_object_get(ev, "data"), "read_only")),
	      "its read-write mount is seen");
	memset(data, 'x', sizeof(data));
	fd = open(tmp_path("mnt-b/report.txt"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, data, sizeof(data)) == (ssize_t) sizeof(data),
	      "a file is written to it");
	if (fd >= 0)
		close(fd);
	{
		size_t from = mark;
		bool found = false;

		while (!found && (ev = bed_wait_event(&bed, "file.write", NULL, &from, 5000))) {
			const json_t *d = json_object_get(ev, "data");

			found = streq(json_string_value(json_object_get(d, "path")),
				      tmp_path("mnt-b/report.txt")) &&
				json_integer_value(json_object_get(d, "size")) == 1234 &&
				json_integer_value(json_object_get(json_object_get(d, "process"),
								   "pid")) == getpid() &&
				streq(json_string_value(json_object_get(
					      json_object_get(d, "device"), "serial")),
				      "ALLOWED-0001");
		}
		CHECK(found, "file.write records its path, size, process and device");
	}

	/* the policy changes while it is mounted read-write, with a file open for writing */
	busy = open(tmp_path("mnt-b/open.txt"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	bed_write_file(tmp_path("policy.json"), policy_v43);
	kill(bed.agent, SIGHUP);
	ev = wait_for("usb.verdict", "1-11", "verdict", json_string("read-only"), mark);
	CHECK(ev && streq(bed_str(ev, "cause"), "policy"),
	      "a new policy makes the mounted stick read-only");
	ev = wait_for("usb.remount", "1-11", NULL, NULL, mark);
	CHECK(ev && streq(bed_str(ev, "result"), "failed, retrying") &&
		      streq(bed_str(ev, "error"), "Device or resource busy"),
	      "its mount cannot be made read-only while a file is open for writing");
	if (getenv("MAMORI_TEST_AUDIT")) {
		fd = open(tmp_path("mnt-b/meanwhile.txt"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		ev = wait_for("usb.write_denied", "1-11", "path",
			      json_string(tmp_path("mnt-b/meanwhile.txt")), mark);
		CHECK(ev && strstr(bed_str(ev, "result"), "not read-only yet"),
		      "a write in the meantime is recorded as such, with the file's name");
	}
	if (busy >= 0)
		close(busy);
	mark = json_array_size(bed.events);
	/* retried every 5 s */
	ev = wait_for_ms("usb.remount", "1-11", "result", json_string("read-only"), mark, 15000);
	CHECK(ev, "once the file is closed the mount is remounted read-only (retried)");
	fd = open(tmp_path("mnt-b/after.txt"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd < 0 && errno == EROFS, "no file can be written to it any more");
	if (fd >= 0)
		close(fd);
	umount(tmp_path("mnt-b"));
	bed_write_file(tmp_path("policy.json"), policy_v42);
	kill(bed.agent, SIGHUP);
	(void) wait_for("usb.policy", NULL, "version", json_string("42"), mark);
}

static void test_unplug(void)
{
	size_t mark = json_array_size(bed.events);
	json_t *ev;

	set_network(ROUTE_HOME);
	(void) wait_for("usb.verdict", "1-4", "verdict", json_string("block"), mark);
	CHECK(bed_wait_attr(HUB "/1-4", "authorized", "0", 5000),
	      "back home the stick is blocked again");
	bed_unplug(&bed, HUB "/1-4", 1);
	ev = wait_for("usb.unplug", "1-4", NULL, NULL, mark);
	CHECK(ev, "unplugging is recorded");
	CHECK(ev &&
		      streq(json_string_value(json_object_get(
				    json_object_get(json_object_get(ev, "data"), "device"),
				    "serial")),
			    "UNKNOWN-4") &&
		      streq(bed_str(ev, "verdict"), "block"),
	      "with the device's identity and verdict");

	/* a "remove" lost on the way: another stick arrives where the allowed one was */
	{
		static const struct bed_dev other = {"1-3",
						     0x090c,
						     0x1000,
						     "Samsung",
						     "Bar",
						     "UNKNOWN-R",
						     {{0x08, 0x06, 0x50, NULL}},
						     1};
		char devpath[600];

		umockdev_testbed_remove_device(bed.tb, "/sys" HUB "/1-3/1-3:1.0");
		umockdev_testbed_remove_device(bed.tb, "/sys" HUB "/1-3");
		bed_plug(&bed, &other, devpath, sizeof(devpath));
		ev = wait_for("usb.plug", "1-3", NULL, NULL, mark);
		CHECK(ev && streq(bed_str(ev, "verdict"), "block"),
		      "a device arriving where another was still known is decided as new");
		CHECK(bed_wait_attr(devpath, "authorized", "0", 5000), "and blocked");
	}
}

static void test_grant_expiry(void)
{
	size_t mark = json_array_size(bed.events);
	char doc[4096];
	json_t *ev;
	int64_t t0;

	/* v42 plus a grant for the stick present at start, on this host, for 3 seconds */
	snprintf(doc, sizeof(doc),
		 "%.*s{\"serial\": \"UNKNOWN-P0\", \"host\": \"testhost\", "
		 "\"until\": %lld}]}",
		 (int) (strlen(policy_v42) - 2), policy_v42, (long long) time(NULL) + 3);
	memcpy(strstr(doc, "\"42\""), "\"44\"", 4);
	bed_write_file(tmp_path("policy.json"), doc);
	kill(bed.agent, SIGHUP);
	ev = wait_for("usb.verdict", "1-2", "verdict", json_string("allow"), mark);
	CHECK(ev && streq(bed_str(ev, "reason"), "grant"),
	      "a grant for this host lets a blocked stick in");
	CHECK(bed_wait_attr(HUB "/1-2", "authorized", "1", 5000), "and it is authorised");
	t0 = bed_now_us();
	ev = wait_for("usb.verdict", "1-2", "cause", json_string("expiry"), mark);
	CHECK(ev && streq(bed_str(ev, "verdict"), "block"),
	      "when the grant expires the plugged stick is blocked again, by the timer");
	CHECK(bed_wait_attr(HUB "/1-2", "authorized", "0", 5000), "its authorized file says 0");
	tap_diag("expiry acted %.1f s after the grant was taken", (bed_now_us() - t0) / 1e6);
	bed_write_file(tmp_path("policy.json"), policy_v42);
	kill(bed.agent, SIGHUP);
	(void) wait_for("usb.policy", NULL, "version", json_string("42"), mark);
}

static void test_offline_restart(void)
{
	const char *args[] = {"--no-audit", NULL};
	size_t from;
	json_t *ev;

	CHECK_INT(bed_stop(&bed), 0, "the enforcer stops cleanly");
	CHECK(access(tmp_path("state/usb-policy.json"), R_OK) == 0,
	      "the last good policy is kept in the state directory");
	from = json_array_size(bed.events);
	bed_start(&bed, args);
	ev = bed_wait_event(&bed, "usb.policy", NULL, &from, 10000);
	CHECK(ev && streq(bed_str(ev, "source"), "state") && streq(bed_str(ev, "version"), "42"),
	      "without a server it enforces the kept policy, and says which version");
	ev = wait_for("usb.plug", "1-2", NULL, NULL, from);
	CHECK(ev && streq(bed_str(ev, "verdict"), "block"),
	      "and decides the devices present when it starts");
}

int main(void)
{
	const char *audit = getenv("MAMORI_TEST_AUDIT");
	const char *args[] = {"--policy", NULL,       "--net-root",  NULL,
			      "--host",   "testhost", "--removable", audit ? NULL : "--no-audit",
			      NULL};
	char policy[600], net[600], devpath[600];

	if (!getenv("MAMORI_USB_ENFORCE") || !getenv("LD_PRELOAD"))
		tap_skip_all("run through tests/usb/hotplug.sh (umockdev-wrapper)");
	if (geteuid() != 0)
		args[6] = NULL; /* fanotify needs root */
	bed_init(&bed);
	snprintf(policy, sizeof(policy), "%s/policy.json", bed.tmp);
	bed_write_file(policy, policy_v42);
	mkdir(tmp_path("net"), 0755);
	mkdir(tmp_path("net/proc"), 0755);
	mkdir(tmp_path("net/proc/net"), 0755);
	bed_write_file(tmp_path("net/proc/net/route"), ROUTE_HOME);
	snprintf(net, sizeof(net), "%s/net", bed.tmp);
	args[1] = policy;
	args[3] = net;

	/* logind's state: hanako is at the machine */
	mkdir(tmp_path("root/run/systemd"), 0755);
	mkdir(tmp_path("root/run/systemd/seats"), 0755);
	mkdir(tmp_path("root/run/systemd/sessions"), 0755);
	bed_write_file(tmp_path("root/run/systemd/seats/seat0"),
		       "# This is private data. Do not parse.\nIS_SEAT0=1\nACTIVE=c2\n"
		       "ACTIVE_UID=1000\nSESSIONS=c2\n");
	bed_write_file(tmp_path("root/run/systemd/sessions/c2"),
		       "# This is private data. Do not parse.\nUID=1000\nUSER=hanako\nACTIVE=1\n"
		       "STATE=active\nSEAT=seat0\n");
	bed_plug(&bed, &keyboard0, devpath, sizeof(devpath));
	bed_plug(&bed, &present, devpath, sizeof(devpath));
	bed_start(&bed, args);

	test_start();
	test_hotplug();
	test_readonly();
	test_network();
	test_optical();
	test_files();
	test_unplug();
	test_grant_expiry();
	test_offline_restart();

	CHECK_INT(bed_stop(&bed), 0, "and stops cleanly again (no leaks under ASan)");
	/* a failed check may have left them mounted */
	umount2(tmp_path("mnt-a"), MNT_DETACH);
	umount2(tmp_path("mnt-b"), MNT_DETACH);
	if (getenv("MAMORI_TEST_DUMP"))
		json_dumpf(bed.events, stderr, JSON_INDENT(1));
	bed_done(&bed);
	return tap_done();
}
