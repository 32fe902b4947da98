/* Fuzz target: wtmp records (utmp_foreach), whole or cut anywhere. */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_record(const struct utmp_entry *e, void *userdata)
{
	(void) userdata;
	/* the decoded strings are always terminated: reading them must stay in bounds */
	return strlen(e->user) + strlen(e->line) + strlen(e->host) + strlen(e->id) > 1000 ? -1 : 0;
}

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
		size_t trailing;

		r = utmp_foreach(text, size, check_record, NULL, &trailing);
	}
	(void) r; /* junk may be refused: only crashes and leaks are findings */
	mm_free(text);
	return 0;
}
