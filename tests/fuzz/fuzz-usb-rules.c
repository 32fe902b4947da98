/* Fuzz target: the device-control rule parser, then a decision over a fixed device. */
#include <stdint.h>
#include <string.h>

#include "lib/mm.h"
#include "lib/usbpolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct usb_interface ifs[] = {{0x08, 0x06, 0x50, NULL},
						   {0x03, 0x01, 0x01, NULL}};
	static const char *const tags[] = {"company-issued", NULL};
	struct usb_device_facts dev = {.vendor_id = 0x0781,
				       .product_id = 0x5581,
				       .serial = "S1",
				       .product = "Ultra",
				       .interfaces = ifs,
				       .n_interfaces = 2,
				       .tags = tags,
				       .user = "taro",
				       .netctx = NET_HOME,
				       .now = 1800000000};
	struct usb_policy *p = NULL;
	struct usb_decision dec;
	struct diag d;
	char *text = mm_malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	diag_init(&d);
	if (usb_policy_parse("fuzz", text, &d, &p) == 0) {
		const char **tags_named = NULL;

		usb_policy_decide(p, &dev, &dec);
		/* the tags the server sends the registry for: each once, sorted */
		if (usb_policy_tags(p, &tags_named) == 0) {
			for (size_t i = 0; tags_named[i]; i++)
				if (!*tags_named[i] ||
				    (i > 0 && strcmp(tags_named[i - 1], tags_named[i]) >= 0))
					__builtin_trap();
			mm_free(tags_named);
		}
		usb_policy_free(p);
	}
	diag_done(&d);
	mm_free(text);
	return 0;
}
