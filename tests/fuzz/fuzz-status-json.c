/* Fuzz target: status.json, written by the daemon and read by `status` (state_status_parse). */
#include <stdint.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_status st;
	struct jsonw_error err;
	char *text = mm_malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (state_status_parse(text, size, &st, &err) == 0) {
		char *out = NULL;

		if (state_status_format(&st, &out) == 0 &&
		    state_status_parse(out, strlen(out), &st, &err) != 0)
			__builtin_trap();
		mm_free(out);
	}
	mm_free(text);
	return 0;
}
