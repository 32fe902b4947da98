/* Fuzz target: clamd's VERSION answer (agent/col_clamd.c), which comes from a socket. A
 * parsed answer's strings are clean text within their buffers. */
#include <string.h>

#include "agent/agent.h"
#include "lib/str.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct clamd_version v;
	char *text = fuzz_text(data, size);

	if (!text)
		return 0;
	if (col_clamd_parse_version(text, &v) == 0) {
		FUZZ_ASSERT(strlen(v.engine) < sizeof(v.engine) && v.engine[0]);
		FUZZ_ASSERT(str_is_clean_utf8(v.engine, strlen(v.engine)));
		FUZZ_ASSERT(strlen(v.time_text) < sizeof(v.time_text));
		FUZZ_ASSERT(str_is_clean_utf8(v.time_text, strlen(v.time_text)));
	}
	mm_free(text);
	return 0;
}
