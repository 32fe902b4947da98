/*
 * Fuzzes the USB "descriptors" parser a device's own bytes reach, the kind derived from
 * what it returns, and USB control's decision on those interfaces (as the enforcer decides
 * a device that is not authorised yet, from its descriptors alone); the first byte picks
 * the active configuration value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "lib/usbpolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A policy with a class rule, a composite-device split and the input protection. */
static void decide(const struct col_usb_desc *d)
{
	static struct usb_policy *p;
	struct usb_interface ifs[LIMIT_USB_INTERFACES];
	struct usb_device_facts f = {.vendor_id = (uint16_t) d->vendor_id,
				     .product_id = (uint16_t) d->product_id,
				     .device_class = (uint8_t) d->device_class,
				     .interfaces = ifs,
				     .n_interfaces = d->n_ifaces};
	struct usb_part_decision pd;

	if (!p) {
		struct diag dg;

		diag_init(&dg);
		if (usb_policy_parse("fuzz",
				     "default block\nread-only class optical\n"
				     "block class mass-storage\nallow class hid,audio\n",
				     &dg, &p) < 0)
			abort();
		diag_done(&dg);
	}
	for (size_t i = 0; i < d->n_ifaces; i++)
		ifs[i] = (struct usb_interface){(uint8_t) d->ifaces[i].cls,
						(uint8_t) d->ifaces[i].subclass,
						(uint8_t) d->ifaces[i].protocol, NULL};
	usb_policy_decide_parts(p, &f, &pd);
	/* an input device is never blocked whole by rules that do not name it */
	if ((usb_policy_device_classes(&f) & USBC_HID) && pd.device.verdict == USB_BLOCK)
		abort();
	if (!pd.split && pd.rest.verdict != pd.device.verdict)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct col_usb_desc d;
	uint8_t *copy;
	unsigned config;

	if (size < 1)
		return 0;
	config = data[0];
	copy = mm_malloc(size); /* the input without its first byte; never 0 bytes */
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (col_usb_parse_descriptors(copy, size - 1, config, &d) == 0) {
		if (d.n_ifaces > LIMIT_USB_INTERFACES)
			abort();
		(void) col_usb_kind(d.device_class, d.ifaces, d.n_ifaces);
		for (size_t i = 0; i < d.n_ifaces; i++)
			(void) col_usb_class_name(d.ifaces[i].cls);
		decide(&d);
	}
	mm_free(copy);
	return 0;
}
