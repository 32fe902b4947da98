/* Fuzzes the rtnetlink parser: links and routes it reports have terminated names and
 * addresses; it fails only with -EBADMSG. */
#include <errno.h>

#include "agent/monitors.h"
#include "tests/fuzz/fuzz.h"

static int check(enum mon_net_msg_kind kind, const struct mon_net_link *l,
		 const struct mon_net_route *r, void *userdata)
{
	(void) userdata;
	if (kind == MON_NET_MSG_LINK) {
		FUZZ_ASSERT(strlen(l->name) < sizeof(l->name) && strlen(l->kind) < sizeof(l->kind));
		(void) mon_net_link_is_vpn(l);
	} else if (kind == MON_NET_MSG_ROUTE) {
		FUZZ_ASSERT(strlen(r->gateway) < sizeof(r->gateway) &&
			    strlen(r->dst) < sizeof(r->dst));
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) uint8_t *copy = mm_malloc(size ? size : 1);
	int r;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	r = mon_net_parse_rtnl(copy, size, check, NULL);
	FUZZ_ASSERT(r >= 0 || r == -EBADMSG);
	return 0;
}
