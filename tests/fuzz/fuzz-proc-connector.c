/* Fuzzes the process-connector parser: it never reads outside the datagram, reports each
 * event it accepts, and fails only with -EBADMSG. */
#include <errno.h>

#include "agent/monitors.h"
#include "tests/fuzz/fuzz.h"

static int count(const struct mon_proc_event *ev, void *userdata)
{
	int *n = userdata;

	(void) ev;
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) uint8_t *copy = mm_malloc(size ? size : 1);
	int n = 0, r;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size); /* an exact-size buffer, so ASan sees any overread */
	r = mon_proc_parse(copy, size, count, &n);
	FUZZ_ASSERT(r == -EBADMSG || r == n);
	return 0;
}
