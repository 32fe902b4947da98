/*
 * Fuzz target: the route table parsers. The first byte picks /proc/net/route (even) or
 * /proc/net/ipv6_route (odd); the rest is the file's text.
 */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *routes;
	char *text;
	int r = 0;

	if (size == 0)
		return 0;
	text = mm_malloc(size);
	routes = json_array();
	if (text && routes) {
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		if (data[0] % 2 == 0)
			r = col_network_ip_parse_route(text, routes);
		else
			r = col_network_ip_parse_ipv6_route(text, routes);
	}
	json_decref(routes);
	mm_free(text);
	(void) r; /* refusing the input is as fine an outcome as accepting it */
	return 0;
}
