/* Fuzz target: the server's answer to an enrolment (proto_parse_enroll_reply). */
#include <stdint.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_enroll_reply r;
	struct jsonw_error err;
	char *body = mm_malloc(size + 1);

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	if (proto_parse_enroll_reply(body, size, &r, &err) == 0) {
		/* The host id goes into file contents and log lines: it must be tame. */
		if (!proto_valid_host_id(r.host_id) || !r.certificate)
			__builtin_trap();
		proto_enroll_reply_done(&r);
	}
	mm_free(body);
	return 0;
}
