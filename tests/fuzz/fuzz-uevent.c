/*
 * Fuzzes the uevent property parser USB control reads every hot-plug through (the sysfs
 * `uevent` file's KEY=VALUE lines, and libudev's properties one by one): every value kept
 * must be within its field's bounds, and no devpath or device name kept may climb out of
 * the tree it is joined to.
 */
#include <string.h>

#include "agent/enf_usb.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	struct usbdev_uevent u;
	char *eq;

	if (!text)
		return 0;
	usbdev_uevent_init(&u);
	FUZZ_ASSERT(usbdev_parse_uevent(text, &u) >= 0);
	FUZZ_ASSERT(u.major >= -1 && u.major <= 4095 && u.minor >= -1);
	FUZZ_ASSERT(!strstr(u.devpath, "/../") && !strstr(u.devname, ".."));
	FUZZ_ASSERT(!u.devpath[0] || u.devpath[0] == '/');
	FUZZ_ASSERT(!u.has_type || (u.type[0] <= 0xff && u.type[1] <= 0xff && u.type[2] <= 0xff));
	FUZZ_ASSERT(!u.has_product || (u.vendor_id <= 0xffff && u.product_id <= 0xffff));
	mm_free(text);

	/* the same bytes as one property, the way libudev hands them over */
	text = fuzz_text(data, size);
	if (!text)
		return 0;
	eq = strchr(text, '=');
	if (eq) {
		*eq = '\0';
		usbdev_uevent_init(&u);
		(void) !usbdev_uevent_set(&u, text, eq + 1);
		FUZZ_ASSERT(strlen(u.devpath) < sizeof(u.devpath));
	}
	mm_free(text);
	return 0;
}
