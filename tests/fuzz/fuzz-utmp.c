/* Fuzzes the utmp record decoder over whole files of records: every string it returns is
 * terminated within its field. */
#include <errno.h>

#include "agent/monitors.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t rec = mon_login_utmp_size();

	for (size_t off = 0; off < size; off += rec) {
		_cleanup_(freep) uint8_t *copy = mm_malloc(MIN(rec, size - off) + 1);
		struct mon_utmp u;
		int r;

		if (!copy)
			return 0;
		memcpy(copy, data + off, MIN(rec, size - off));
		r = mon_login_parse_utmp(copy, MIN(rec, size - off), &u);
		FUZZ_ASSERT(r == 0 || (r == -EINVAL && size - off < rec));
		if (r == 0)
			FUZZ_ASSERT(strlen(u.line) < sizeof(u.line) &&
				    strlen(u.user) < sizeof(u.user) &&
				    strlen(u.host) < sizeof(u.host) &&
				    strlen(u.addr) < sizeof(u.addr));
	}
	return 0;
}
