/* Fuzzes the collection profile parser with policies (JSON from the server): it accepts or
 * refuses with diagnostics, and what it accepts can always be reported in both languages. */
#include <errno.h>
#include <stdio.h>

#include "agent/monitors.h"
#include "lib/jsonw.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *policy = NULL;
	struct jsonw_error err;
	struct collection c;
	struct diag d;
	int r;

	fuzz_setup();
	if (jsonw_parse((const char *) data, size, LIMIT_CONFIG_FILE, &policy, &err) < 0)
		return 0;
	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_ASSERT(r != -EINVAL || d.n_errors > 0);
	if (r == 0) {
		FILE *null = fopen("/dev/null", "we");

		FUZZ_ASSERT(c.folders && c.exclude);
		if (null) {
			FUZZ_ASSERT(collection_print(&c, "en", null) == 0);
			FUZZ_ASSERT(collection_print(&c, "ja", null) == 0);
			fclose(null);
		}
		collection_done(&c);
	}
	diag_done(&d);
	json_decref(policy);
	return 0;
}
