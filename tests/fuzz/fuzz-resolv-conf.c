/* Fuzz target: the resolv.conf parser. */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = mm_malloc(size + 1);
	json_t *servers = json_array(), *search = json_array();
	int r = 0;

	if (text && servers && search) {
		memcpy(text, data, size);
		text[size] = '\0';
		r = col_network_parse_resolv_conf(text, servers, search);
	}
	json_decref(search);
	json_decref(servers);
	mm_free(text);
	(void) r; /* refusing the input is as fine an outcome as accepting it */
	return 0;
}
