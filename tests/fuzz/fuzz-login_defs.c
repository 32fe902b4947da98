/* Fuzz target: /etc/login.defs (col_users_parse_login_defs). */
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
		struct col_login_defs defs;

		col_users_parse_login_defs(text, &defs);
	}
	(void) r; /* junk may be refused: only crashes and leaks are findings */
	mm_free(text);
	return 0;
}
