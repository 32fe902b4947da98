/*
 * Fuzz target: the /proc/net/fib_trie parser, followed by the assignment of the addresses
 * it found to interfaces through a fixed set of routes, so odd tries reach that code too.
 */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = mm_malloc(size + 1);
	json_t *fib = json_object(), *by = json_object(), *un = json_array();
	json_t *routes =
		json_pack("[{s:s, s:s, s:n, s:s}, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:n, s:s},"
			  " {s:s, s:s, s:n, s:s}]",
			  "family", "inet", "destination", "192.168.1.0/24", "gateway", "interface",
			  "wlan0", "family", "inet", "destination", "0.0.0.0/0", "gateway",
			  "192.168.1.1", "interface", "wlan0", "family", "inet", "destination",
			  "10.0.0.0/8", "gateway", "interface", "wg0", "family", "inet",
			  "destination", "192.168.1.0/24", "gateway", "interface", "eth0");
	int r = 0;

	if (text && fib && by && un && routes) {
		memcpy(text, data, size);
		text[size] = '\0';
		r = col_network_ip_parse_fib_trie(text, fib);
		if (r >= 0)
			r = col_network_ip_assign_ipv4(fib, routes, "lo", by, un);
	}
	json_decref(routes);
	json_decref(un);
	json_decref(by);
	json_decref(fib);
	mm_free(text);
	(void) r; /* refusing the input is as fine an outcome as accepting it */
	return 0;
}
