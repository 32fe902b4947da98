/* Fuzz target: agent.conf, which administrators edit by hand (state_conf_parse). */
#include <stdint.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_conf c = {0};
	struct diag d;
	char *text = mm_malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	diag_init(&d);
	if (state_conf_parse(text, "agent.conf", &c, &d) == 0) {
		char *out = NULL;

		/* What parses must format and parse again. */
		if (state_conf_format(&c, &out) == 0) {
			struct agent_conf again = {0};
			struct diag d2;

			diag_init(&d2);
			if (state_conf_parse(out, "agent.conf", &again, &d2) != 0)
				__builtin_trap();
			state_conf_done(&again);
			diag_done(&d2);
		}
		mm_free(out);
	}
	state_conf_done(&c);
	diag_done(&d);
	mm_free(text);
	return 0;
}
