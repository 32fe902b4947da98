/* Fuzzes the cpuinfo parser: counts are consistent (1 <= sockets <= cores <= threads)
 * whenever a processor was found. */
#include <errno.h>

#include "agent/agent.h"
#include "tests/fuzz/fuzz.h"

static json_int_t get(json_t *s, const char *field)
{
	json_t *v = json_object_get(s, field);

	FUZZ_ASSERT(json_is_integer(v));
	return json_integer_value(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *text = NULL;
	json_t *section;
	int r;

	fuzz_setup();
	text = fuzz_text(data, size);
	section = json_object();
	if (!text || !section) {
		json_decref(section);
		return 0;
	}
	r = col_cpu_parse_cpuinfo(text, section);
	FUZZ_ASSERT(r == 0 || r == -EBADMSG);
	if (r == 0) {
		json_int_t sockets = get(section, "sockets"), cores = get(section, "cores"),
			   threads = get(section, "threads");

		FUZZ_ASSERT(sockets >= 1 && sockets <= cores && cores <= threads);
		FUZZ_ASSERT(json_is_boolean(json_object_get(section, "hypervisor_flag")));
	}
	json_decref(section);
	return 0;
}
