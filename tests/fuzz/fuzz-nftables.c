/* Fuzz target: nftables.conf rule counting and iptables-save rule counting. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* results are not checked: the target looks for crashes, not values */
static volatile int sink_result;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nft_summary s;
	char *a = mm_malloc(size + 1), *b = mm_malloc(size + 1);

	if (a && b) {
		memcpy(a, data, size);
		a[size] = '\0';
		memcpy(b, a, size + 1);
		sink_result = col_firewall_parse_nft_conf(a, &s);
		sink_result = col_firewall_count_iptables_rules(b);
	}
	mm_free(a);
	mm_free(b);
	return 0;
}
