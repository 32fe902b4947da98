/*
 * Fuzzes the audit record parser (the kernel's multicast texts USB control reads for
 * refused writes): the first byte picks the record type; strings decoded never hold a NUL
 * inside and always fit.
 */
#include <errno.h>
#include <string.h>

#include "agent/enf_usb.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = {1300, 1302, 1307, 1320};
	struct enf_usb_audit_rec r;
	char *text;

	if (size < 1)
		return 0;
	text = fuzz_text(data + 1, size - 1);
	if (!text)
		return 0;
	if (enf_usb_audit_parse(types[data[0] % 4], text, &r) == 0) {
		FUZZ_ASSERT(strlen(r.comm) < sizeof(r.comm) && strlen(r.name) < sizeof(r.name));
		FUZZ_ASSERT(strlen(r.key) < sizeof(r.key) && strlen(r.cwd) < sizeof(r.cwd));
		FUZZ_ASSERT(r.type == types[data[0] % 4]);
	}
	mm_free(text);
	return 0;
}
