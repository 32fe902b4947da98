/*
 * Fuzz target: the /proc/net/{tcp,tcp6,udp,udp6} parser. The first byte picks the table
 * (so one corpus covers the four), the rest is the table's text.
 */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const protocols[] = {"tcp", "tcp6", "udp", "udp6"};
	json_t *listening;
	char *text;
	int r = 0;

	if (size == 0)
		return 0;
	text = mm_malloc(size);
	listening = json_array();
	if (text && listening) {
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		r = col_network_sockets_parse(text, protocols[data[0] % 4], listening);
	}
	json_decref(listening);
	mm_free(text);
	(void) r; /* refusing the input is as fine an outcome as accepting it */
	return 0;
}
