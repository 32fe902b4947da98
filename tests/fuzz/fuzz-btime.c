/* Fuzzes the /proc/stat btime parser: a boot time, when found, is positive. */
#include <errno.h>

#include "agent/agent.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *text = fuzz_text(data, size);
	int64_t t = -1;
	int r;

	if (!text)
		return 0;
	r = col_os_parse_btime(text, &t);
	FUZZ_ASSERT(r == 0 || r == -ENOENT);
	FUZZ_ASSERT(r == 0 ? t > 0 : t == -1);
	return 0;
}
