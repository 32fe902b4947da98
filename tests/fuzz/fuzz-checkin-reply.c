/* Fuzz target: the server's answers the daemon parses — check-in, events, inventory, and
 * error bodies (proto_parse_*). */
#include <stdint.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_checkin_reply c;
	struct jsonw_error err;
	uint64_t acked;
	char digest[65], code[64], text[256];
	char *body = mm_malloc(size + 1);

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	if (proto_parse_checkin_reply(body, size, &c, &err) == 0 && c.inventory_base[0] &&
	    !proto_valid_digest(c.inventory_base))
		__builtin_trap();
	(void) !proto_parse_events_reply(body, size, &acked, &err);
	if (proto_parse_inventory_reply(body, size, digest, &err) == 0 &&
	    !proto_valid_digest(digest))
		__builtin_trap();
	proto_parse_error(body, size, code, text);
	for (const char *p = text; *p; p++)
		if ((unsigned char) *p < 0x20)
			__builtin_trap();
	mm_free(body);
	return 0;
}
