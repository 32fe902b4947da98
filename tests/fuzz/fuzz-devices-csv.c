/*
 * Fuzzes the device registry's CSV import (registry_csv_parse) and checks the round trip:
 * whatever it accepts, formatted again (registry_csv_format), parses to the same devices.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/diag.h"
#include "lib/limits.h"
#include "server/server.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *devices = NULL, *again = NULL;
	char *text, *csv = NULL;
	struct diag d;
	int r;

	if (size > LIMIT_API_BODY)
		return 0;
	fuzz_setup();
	text = fuzz_text(data, size);
	if (!text)
		return 0;
	diag_init(&d);
	r = registry_csv_parse("fuzz.csv", text, size, &d, &devices);
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_ASSERT(r != -EINVAL || (d.n_errors > 0 && !devices));
	if (r == 0 && registry_csv_format(devices, size % 2, &csv) == 0) {
		struct diag d2;

		diag_init(&d2);
		r = registry_csv_parse("again.csv", csv, strlen(csv), &d2, &again);
		FUZZ_ASSERT(r == 0 || r == -ENOMEM);
		FUZZ_ASSERT(r != 0 || json_equal(devices, again));
		json_decref(again);
		diag_done(&d2);
		mm_free(csv);
	}
	json_decref(devices);
	diag_done(&d);
	mm_free(text);
	return 0;
}
