/* Fuzzes the meminfo parser: every field it sets is a non-negative byte count, and it
 * succeeds exactly when it found MemTotal. */
#include <errno.h>

#include "agent/agent.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *text = NULL;
	json_t *section, *v;
	const char *key;
	int r;

	fuzz_setup();
	text = fuzz_text(data, size);
	section = json_object();
	if (!text || !section) {
		json_decref(section);
		return 0;
	}
	r = col_memory_parse_meminfo(text, section);
	FUZZ_ASSERT(r == 0 || r == -EBADMSG);
	FUZZ_ASSERT((r == 0) == (json_object_get(section, "total_bytes") != NULL));
	json_object_foreach (section, key, v)
		FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) >= 0);
	json_decref(section);
	return 0;
}
