/* Fuzz target: the /proc/net/if_inet6 parser. */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = mm_malloc(size + 1);
	json_t *by = json_object();
	int r = 0;

	if (text && by) {
		memcpy(text, data, size);
		text[size] = '\0';
		r = col_network_ip_parse_if_inet6(text, by);
	}
	json_decref(by);
	mm_free(text);
	(void) r; /* refusing the input is as fine an outcome as accepting it */
	return 0;
}
