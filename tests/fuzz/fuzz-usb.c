/*
 * Fuzzes the USB "descriptors" parser a device's own bytes reach, and the kind derived from
 * what it returns; the first byte picks the active configuration value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	}
	mm_free(copy);
	return 0;
}
