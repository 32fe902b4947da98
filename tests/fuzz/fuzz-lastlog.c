/* Fuzz target: lastlog records (utmp_lastlog_decode), as the collector reads them by uid. */
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
		struct utmp_lastlog ll;
		size_t rec = utmp_lastlog_size();

		for (size_t off = 0; off < size; off += rec)
			r = utmp_lastlog_decode(text + off, MIN(rec, size - off), &ll);
	}
	(void) r; /* junk may be refused: only crashes and leaks are findings */
	mm_free(text);
	return 0;
}
