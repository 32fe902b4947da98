/*
 * USB control's device facts: uevent properties, sysfs attribute values, logind's state
 * files, and a device read from a sysfs tree — the laptop fixture, and trees made here for
 * what a fixture cannot hold (a device mid-configuration, junk, a devpath that climbs).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "tests/tap.h"

static char text[4096];

static const char *fixture(void)
{
	static char path[1024];
	const char *src = getenv("MAMORI_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/tests/fixtures/laptop", src ? src : "..");
	return path;
}

static void put(const char *dir, const char *name, const char *value)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (f) {
		fputs(value, f);
		fclose(f);
	}
}

static int rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(p);
}

static void test_uevent(void)
{
	struct usbdev_uevent u;

	usbdev_uevent_init(&u);
	snprintf(text, sizeof(text),
		 "ACTION=add\nDEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-3\n"
		 "SUBSYSTEM=usb\nDEVTYPE=usb_device\nDEVNAME=bus/usb/001/004\n"
		 "PRODUCT=781/5581/100\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM=004\nMAJOR=189\n"
		 "MINOR=3\nSEQNUM=4242\n");
	CHECK_INT(usbdev_parse_uevent(text, &u), 0, "a USB device's uevent parses cleanly");
	CHECK(u.action == USBDEV_ADD, "action add");
	CHECK_STR(u.devpath, "/devices/pci0000:00/0000:00:14.0/usb1/1-3", "devpath");
	CHECK_STR(u.devtype, "usb_device", "devtype");
	CHECK(u.has_product && u.vendor_id == 0x781 && u.product_id == 0x5581 &&
		      u.bcd_device == 0x100,
	      "PRODUCT's hex ids");
	CHECK(u.busnum == 1 && u.devnum == 4 && u.major == 189 && u.minor == 3,
	      "bus and device numbers (leading zeros), major and minor");

	usbdev_uevent_init(&u);
	snprintf(text, sizeof(text),
		 "DEVTYPE=usb_interface\nINTERFACE=8/6/80\nPRODUCT=zz/1/1\nMAJOR=99999\n"
		 "DEVPATH=/devices/../../etc\nno equals sign\n=value\nTYPE=0/0\n");
	CHECK_INT(usbdev_parse_uevent(text, &u), 6, "six bad lines are counted, not fatal");
	CHECK(u.has_interface && u.interface[0] == 8 && u.interface[1] == 6 && u.interface[2] == 80,
	      "INTERFACE's decimal class, subclass, protocol");
	CHECK(!u.has_product && u.major == -1 && !u.devpath[0] && !u.has_type,
	      "bad values are left unset: hex junk, a major past 4095, a climbing devpath, "
	      "two parts of three");
	CHECK_INT(usbdev_uevent_set(&u, "DEVNAME", "../../etc/shadow"), -EBADMSG,
		  "a device name that climbs is refused");
	{
		char big[400];

		memset(big, 'a', sizeof(big) - 1);
		big[0] = '/';
		big[sizeof(big) - 1] = '\0';
		CHECK_INT(usbdev_uevent_set(&u, "DEVPATH", big), -E2BIG,
			  "a devpath longer than the buffer is refused, not cut");
	}
	CHECK(usbdev_action_from_string("remove") == USBDEV_REMOVE &&
		      usbdev_action_from_string("offline") == USBDEV_OTHER,
	      "actions");
}

static void test_attrs(void)
{
	unsigned v = 0, maj = 0, min = 0;
	char s[32];

	CHECK(usbdev_parse_hex("0781", 4, &v) == 0 && v == 0x781, "a vendor id");
	CHECK(usbdev_parse_hex("781", 4, &v) == -EINVAL, "three digits are not a vendor id");
	CHECK(usbdev_parse_hex("08", 2, &v) == 0 && v == 8, "a class");
	CHECK(usbdev_parse_hex("0x", 2, &v) == -EINVAL, "not hex");
	CHECK(usbdev_parse_devnum("8:16", &maj, &min) == 0 && maj == 8 && min == 16, "8:16");
	CHECK(usbdev_parse_devnum("8:", &maj, &min) == -EINVAL &&
		      usbdev_parse_devnum("4096:1", &maj, &min) == -EINVAL &&
		      usbdev_parse_devnum("-1:2", &maj, &min) == -EINVAL,
	      "malformed device numbers");
	snprintf(s, sizeof(s), "  Ultra \n");
	CHECK_INT(usbdev_trim(s, strlen(s)), 5, "trimmed length");
	CHECK_STR(s, "Ultra", "trimmed text");
	snprintf(text, sizeof(text), "IS_SEAT0=1\nACTIVE=c2\nACTIVE_UID=1000\n");
	CHECK(usbdev_parse_env(text, "ACTIVE", s, sizeof(s)) && streq(s, "c2"),
	      "logind's active session");
	CHECK(!usbdev_parse_env(text, "USER", s, sizeof(s)), "an absent key");
	CHECK(!usbdev_parse_env("USER=\n", "USER", s, sizeof(s)), "an empty value");
	CHECK(!usbdev_parse_env("ACTIVE_X=1\n", "ACTIVE", s, sizeof(s)), "a longer key is not it");
}

static void test_read_fixture(void)
{
	unsigned char *scratch = mm_malloc(LIMIT_USB_DESCRIPTORS);
	struct usbdev *d = mm_calloc(1, sizeof(*d));
	json_t *id;

	if (!scratch || !d)
		abort();
	CHECK_INT(usbdev_read(fixture(), "/devices/pci0000:00/0000:00:14.0/usb2/2-1", scratch,
			      LIMIT_USB_DESCRIPTORS, d),
		  0, "a stick reads from the fixture");
	CHECK(d->vendor_id == 0x0781 && d->product_id == 0x5583, "ids");
	CHECK_STR(d->serial, "4C530001230405117283", "serial");
	CHECK_STR(d->bus_path, "2-1", "bus path");
	CHECK(d->n_ifaces == 1 && d->ifaces[0].cls == 8 && d->ifaces[0].subclass == 6 &&
		      d->ifaces[0].protocol == 0x50 && !d->ifaces_from_descriptors,
	      "its interface, from the interface directory");
	CHECK(d->config_value == 1, "its configuration");
	id = usbdev_identity_json(d);
	CHECK(id && streq(json_string_value(json_object_get(id, "kind")), "mass_storage") &&
		      streq(json_string_value(json_object_get(id, "vendor_id")), "0781"),
	      "its identity for records");
	json_decref(id);

	CHECK_INT(usbdev_read(fixture(), "/devices/pci0000:00/0000:00:14.0/usb1/1-3", scratch,
			      LIMIT_USB_DESCRIPTORS, d),
		  0, "a blocked camera reads too");
	CHECK(!d->authorized && d->ifaces_from_descriptors && d->n_ifaces == 1 &&
		      d->ifaces[0].cls == 6,
	      "its interfaces come from the descriptors, as it has no interface directories");
	CHECK_INT(usbdev_read(fixture(), "/devices/pci0000:00/0000:00:14.0/usb1/9-9", scratch,
			      LIMIT_USB_DESCRIPTORS, d),
		  -ENOENT, "a device gone");
	CHECK_INT(usbdev_read(fixture(), "/devices/../../etc", scratch, LIMIT_USB_DESCRIPTORS, d),
		  -EINVAL, "a devpath that climbs out of the root");
	mm_free(scratch);
	mm_free(d);
}

static void test_read_made(void)
{
	char tmp[] = "/tmp/test-usbdev-XXXXXX", dir[256];
	unsigned char *scratch = mm_malloc(LIMIT_USB_DESCRIPTORS);
	struct usbdev *d = mm_calloc(1, sizeof(*d));
	char big[600];
	int fd;
	/* a device and configuration descriptor with one HID interface */
	static const unsigned char desc[] = {18, 1,    0,  2, 0, 0, 0, 8, 0x6d, 0x04, 0x1c, 0xc3,
					     0,  1,    1,  2, 0, 1, 9, 2, 18,   0,    1,    1,
					     0,  0x80, 50, 9, 4, 0, 0, 1, 3,    1,    1,    0};

	if (!scratch || !d || !mkdtemp(tmp))
		abort();
	snprintf(dir, sizeof(dir), "%s/sys/devices/usb1/1-4", tmp);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "%s/sys", tmp);
		mkdir(cmd, 0755);
		snprintf(cmd, sizeof(cmd), "%s/sys/devices", tmp);
		mkdir(cmd, 0755);
		snprintf(cmd, sizeof(cmd), "%s/sys/devices/usb1", tmp);
		mkdir(cmd, 0755);
		mkdir(dir, 0755);
	}
	/* mid-configuration: no id attributes yet, only the descriptors */
	snprintf(big, sizeof(big), "%s/descriptors", dir);
	fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, desc, sizeof(desc)) != (ssize_t) sizeof(desc))
		abort();
	close(fd);
	CHECK_INT(usbdev_read(tmp, "/devices/usb1/1-4", scratch, LIMIT_USB_DESCRIPTORS, d), 0,
		  "a device with descriptors only reads");
	CHECK(d->vendor_id == 0x046d && d->product_id == 0xc31c && d->n_ifaces == 1 &&
		      d->ifaces[0].cls == 3,
	      "ids and interfaces come from its descriptors");
	/* a serial longer than any USB string descriptor */
	memset(big, 'S', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(dir, "serial", big);
	CHECK_INT(usbdev_read(tmp, "/devices/usb1/1-4", scratch, LIMIT_USB_DESCRIPTORS, d),
		  -EBADMSG, "an over-long serial is refused, never cut into another serial");
	put(dir, "serial", "ABC\n");
	put(dir, "idVendor", "junk");
	put(dir, "idProduct", "c31c\n");
	CHECK_INT(usbdev_read(tmp, "/devices/usb1/1-4", scratch, LIMIT_USB_DESCRIPTORS, d), 0,
		  "a junk vendor attribute falls back to the descriptors");
	CHECK(d->vendor_id == 0x046d && streq(d->serial, "ABC"), "and the serial is trimmed");
	snprintf(big, sizeof(big), "%s/descriptors", dir);
	unlink(big);
	CHECK_INT(usbdev_read(tmp, "/devices/usb1/1-4", scratch, LIMIT_USB_DESCRIPTORS, d),
		  -EBADMSG, "without ids anywhere the device cannot be read");
	nftw(tmp, rm, 8, FTW_DEPTH | FTW_PHYS);
	mm_free(scratch);
	mm_free(d);
}

int main(void)
{
	mm_setup_jansson();
	test_uevent();
	test_attrs();
	test_read_fixture();
	test_read_made();
	return tap_done();
}
