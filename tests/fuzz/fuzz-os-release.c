/* Fuzzes the os-release parser: any bytes give a count of malformed lines and only
 * clean UTF-8 string fields, never a crash. */
#include <errno.h>

#include "agent/agent.h"
#include "lib/str.h"
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
	r = col_os_parse_os_release(text, section);
	FUZZ_ASSERT(r >= 0);
	json_object_foreach (section, key, v)
		FUZZ_ASSERT(json_is_string(v) &&
			    str_is_clean_utf8(json_string_value(v), json_string_length(v)));
	json_decref(section);
	return 0;
}
