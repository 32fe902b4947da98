/*
 * Fuzzes the USB policy document (what the server sends, and the agent keeps): it parses
 * whole or fails with errors reported, never crashes or leaks; a document that parses
 * answers lookups and round-trips through its own text.
 */
#include <errno.h>
#include <string.h>

#include "agent/enf_usb.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usbdoc *doc = NULL, *again = NULL;
	struct diag d;
	int r;

	fuzz_setup();
	diag_init(&d);
	r = usbdoc_parse((const char *) data, size, &d, &doc);
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -E2BIG || r == -ENOMEM);
	FUZZ_ASSERT(r != 0 || d.n_errors == 0);
	FUZZ_ASSERT(r == 0 || r == -ENOMEM || d.n_errors > 0);
	if (doc) {
		for (size_t i = 0; i < doc->n_registry; i++)
			FUZZ_ASSERT(usbdoc_tags(doc, doc->registry[i].serial) != NULL);
		(void) usbdoc_next_expiry(doc, 0);
		r = usbdoc_parse(doc->text, strlen(doc->text), &d, &again);
		FUZZ_ASSERT(r == 0 || r == -ENOMEM);
		usbdoc_free(again);
	}
	usbdoc_free(doc);
	diag_done(&d);
	return 0;
}
