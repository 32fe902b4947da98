/* Fuzz target: dpkg's status file (col_dpkg_parse_status), which is parsed in place. */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool setup;
	char *text;
	int r = 0;

	if (!setup) {
		mm_setup_jansson();
		setup = true;
	}
	text = mm_malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	{
		json_t *packages = json_array();
		struct col_dpkg_stats st;

		if (packages)
			r = col_dpkg_parse_status(text, size, packages, &st);
		json_decref(packages);
	}
	(void) r; /* junk may be refused: only crashes and leaks are findings */
	mm_free(text);
	return 0;
}
