/*
 * USB class decoding and the kind of a device, which USB control shares with inventory,
 * and the parser of the binary sysfs "descriptors" attribute.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "tests/tap.h"

static struct col_usb_iface iface(unsigned cls, unsigned sub, unsigned proto, const char *name)
{
	struct col_usb_iface i = {.cls = cls, .subclass = sub, .protocol = proto};

	(void) snprintf(i.name, sizeof(i.name), "%s", name);
	return i;
}

static void test_kind(void)
{
	struct col_usb_iface stick[] = {iface(0x08, 0x06, 0x50, "")};
	struct col_usb_iface keyboard[] = {iface(0x03, 0x01, 0x01, ""), iface(0x03, 0, 0, "")};
	struct col_usb_iface badusb[] = {iface(0x03, 0x01, 0x01, ""), iface(0x08, 0x06, 0x50, "")};
	struct col_usb_iface phone[] = {iface(0xff, 0xff, 0x00, "MTP"), iface(0xff, 0x42, 1, "")};
	struct col_usb_iface adb_only[] = {iface(0xff, 0x42, 0x01, "ADB Interface")};
	struct col_usb_iface camera[] = {iface(0x06, 0x01, 0x01, "")};
	struct col_usb_iface webcam[] = {iface(0x0e, 1, 0, ""), iface(0x0e, 2, 0, ""),
					 iface(0x01, 1, 0, ""), iface(0x01, 2, 0, "")};
	struct col_usb_iface headset[] = {iface(0x01, 1, 0, ""), iface(0x03, 0, 0, "")};
	struct col_usb_iface bt[] = {iface(0xe0, 0x01, 0x01, "")};
	struct col_usb_iface printer[] = {iface(0x07, 0x01, 0x02, "")};
	struct col_usb_iface reader[] = {iface(0x0b, 0, 0, "")};

	CHECK_STR(col_usb_kind(0, stick, 1), "mass_storage", "USB stick");
	CHECK_STR(col_usb_kind(0, keyboard, 2), "hid", "keyboard");
	CHECK_STR(col_usb_kind(0, badusb, 2), "mass_storage",
		  "keyboard that is also a stick counts as storage");
	CHECK_STR(col_usb_kind(0, phone, 2), "phone_or_camera", "Android phone in MTP mode");
	CHECK_STR(col_usb_kind(0, adb_only, 1), "other", "vendor interface without MTP");
	CHECK_STR(col_usb_kind(0, camera, 1), "phone_or_camera", "PTP camera");
	CHECK_STR(col_usb_kind(0xef, webcam, 4), "video", "webcam with microphone");
	CHECK_STR(col_usb_kind(0, headset, 2), "audio", "headset with volume keys");
	CHECK_STR(col_usb_kind(0xe0, bt, 1), "wireless", "Bluetooth adapter");
	CHECK_STR(col_usb_kind(0, printer, 1), "printer", "printer");
	CHECK_STR(col_usb_kind(0, reader, 1), "smart_card", "smart card reader");
	CHECK_STR(col_usb_kind(0x09, NULL, 0), "hub", "hub known by its device class only");
	CHECK_STR(col_usb_kind(0x00, NULL, 0), "other", "nothing known");
	CHECK_STR(col_usb_kind(0x08, keyboard, 2), "hid", "interfaces win over the device class");
	CHECK_STR(col_usb_class_name(0x08), "mass_storage", "class 08");
	CHECK_STR(col_usb_class_name(0xe0), "wireless", "class e0");
	CHECK_STR(col_usb_class_name(0x04), "unknown", "unassigned class 04");
	CHECK_STR(col_usb_class_name(0x1234), "unknown", "out of range");
}

/* A keyboard: device descriptor, one configuration with two HID interfaces. */
static const unsigned char kbd[] = {
	0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x6d, 0x04, 0x1c, 0xc3, 0x01,
	0x64, 0x01, 0x02, 0x00, 0x01, 0x09, 0x02, 0x3b, 0x00, 0x02, 0x01, 0x00, 0xa0,
	0x2d, 0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x01, 0x01, 0x00, 0x09, 0x21, 0x10,
	0x01, 0x00, 0x01, 0x22, 0x41, 0x00, 0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x0a,
	0x09, 0x04, 0x01, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x09, 0x21, 0x10, 0x01,
	0x00, 0x01, 0x22, 0x6c, 0x00, 0x07, 0x05, 0x82, 0x03, 0x04, 0x00, 0x0a};

/* Two configurations: 1 is mass storage, 2 is MTP-like vendor; interface 0 has an
 * alternate setting 1 that must not be counted. */
static const unsigned char two_configs[] = {0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x81,
					    0x07, 0x83, 0x55, 0x00, 0x01, 0x01, 0x02, 0x03, 0x02,
					    /* config 1 */
					    0x09, 0x02, 0x1b, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
					    0x09, 0x04, 0x00, 0x00, 0x00, 0x08, 0x06, 0x50, 0x00,
					    0x09, 0x04, 0x00, 0x01, 0x00, 0x08, 0x06, 0x62, 0x00,
					    /* config 2 */
					    0x09, 0x02, 0x12, 0x00, 0x01, 0x02, 0x00, 0x80, 0x32,
					    0x09, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00};

static void test_descriptors(void)
{
	struct col_usb_desc d;
	unsigned char bad[sizeof(kbd)];

	CHECK_INT(col_usb_parse_descriptors(kbd, sizeof(kbd), 1, &d), 0, "keyboard descriptors");
	CHECK_INT(d.vendor_id, 0x046d, "idVendor, little-endian");
	CHECK_INT(d.product_id, 0xc31c, "idProduct");
	CHECK_INT(d.bcd_usb, 0x0200, "USB 2.0");
	CHECK_INT(d.n_ifaces, 2, "two interfaces");
	CHECK_INT(d.ifaces[0].cls, 0x03, "HID");
	CHECK_INT(d.ifaces[0].protocol, 0x01, "keyboard protocol");
	CHECK_INT(d.ifaces[1].number, 1, "second interface number");
	CHECK_STR(col_usb_kind(d.device_class, d.ifaces, d.n_ifaces), "hid", "kind from blob");

	CHECK_INT(col_usb_parse_descriptors(two_configs, sizeof(two_configs), 2, &d), 0,
		  "two configurations");
	CHECK_INT(d.config_value, 2, "the active one chosen");
	CHECK_INT(d.n_ifaces, 1, "one interface in it");
	CHECK_INT(d.ifaces[0].cls, 0xff, "vendor class");
	CHECK_INT(col_usb_parse_descriptors(two_configs, sizeof(two_configs), 0, &d), 0,
		  "unconfigured device");
	CHECK_INT(d.config_value, 1, "first configuration");
	CHECK_INT(d.n_ifaces, 1, "alternate settings not counted as interfaces");
	CHECK_INT(d.ifaces[0].cls, 0x08, "mass storage");

	CHECK_INT(col_usb_parse_descriptors(kbd, 17, 1, &d), -EBADMSG, "truncated device");
	CHECK_INT(col_usb_parse_descriptors(kbd, sizeof(kbd) - 1, 1, &d), -EBADMSG,
		  "configuration longer than the data");
	CHECK_INT(col_usb_parse_descriptors(kbd, 18, 1, &d), 0, "device without configurations");
	CHECK_INT(d.n_ifaces, 0, "has no interfaces");
	memcpy(bad, kbd, sizeof(kbd));
	bad[27] = 0; /* a descriptor of length 0 would loop for ever */
	CHECK_INT(col_usb_parse_descriptors(bad, sizeof(bad), 1, &d), -EBADMSG,
		  "zero-length descriptor refused");
	memcpy(bad, kbd, sizeof(kbd));
	bad[1] = 0x02;
	CHECK_INT(col_usb_parse_descriptors(bad, sizeof(bad), 1, &d), -EBADMSG,
		  "not a device descriptor");
}

static void test_many_interfaces(void)
{
	static unsigned char b[18 + 9 + 9 * (LIMIT_USB_INTERFACES + 1)];
	size_t total = 9 + 9 * (LIMIT_USB_INTERFACES + 1);
	struct col_usb_desc d;

	memcpy(b, kbd, 18);
	b[18] = 9;
	b[19] = 2;
	b[20] = (unsigned char) total;
	b[21] = (unsigned char) (total >> 8);
	b[23] = 1;
	for (unsigned i = 0; i <= LIMIT_USB_INTERFACES; i++) {
		unsigned char *p = b + 27 + 9 * i;

		p[0] = 9;
		p[1] = 4;
		p[2] = (unsigned char) i;
		p[5] = 0x03;
	}
	CHECK_INT(col_usb_parse_descriptors(b, sizeof(b), 1, &d), -E2BIG,
		  "more interfaces than LIMIT_USB_INTERFACES refused");
}

int main(void)
{
	test_kind();
	test_descriptors();
	test_many_interfaces();
	return tap_done();
}
