/* Fuzzes the fanotify record parser over raw record bytes: each record it accepts lies
 * within the buffer, and so do its handles and NUL-terminated names. */
#include <errno.h>

#include "agent/monitors.h"
#include "tests/fuzz/fuzz.h"

static void check_name(const struct mon_fan_name *n, const uint8_t *buf, size_t off, size_t len)
{
	const uint8_t *h = n->handle, *s = (const uint8_t *) n->name;

	if (!n->present)
		return;
	FUZZ_ASSERT(n->handle_len > 0 && h >= buf + off && h + n->handle_len <= buf + off + len);
	if (*n->name)
		FUZZ_ASSERT(s >= buf + off && s + strlen(n->name) < buf + off + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) uint8_t *copy = mm_malloc(size ? size : 1);
	size_t off = 0;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	while (off < size) {
		struct mon_fan_record rec;
		int len = mon_fanotify_parse(copy + off, size - off, &rec);

		FUZZ_ASSERT(len == -EBADMSG || (len > 0 && (size_t) len <= size - off));
		if (len <= 0)
			break;
		check_name(&rec.dir, copy, off, (size_t) len);
		check_name(&rec.to, copy, off, (size_t) len);
		off += (size_t) len;
	}
	return 0;
}
