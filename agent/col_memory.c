/*
 * The memory section, from /proc/meminfo: total, available and swap, in bytes. The
 * kernel prints kB (KiB); values are converted with overflow checks.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

static const struct {
	const char *key;
	const char *field;
} meminfo_keys[] = {
	{"MemTotal", "total_bytes"},
	{"MemAvailable", "available_bytes"},
	{"SwapTotal", "swap_total_bytes"},
	{"SwapFree", "swap_free_bytes"},
};

/* Parses meminfo text. Returns 0, -EBADMSG when MemTotal is missing, or -ENOMEM. */
int col_memory_parse_meminfo(char *text, json_t *section)
{
	char *cursor = text, *line;

	while ((line = str_next_line(&cursor))) {
		char *colon = strchr(line, ':'), *value, *unit;
		uint64_t v, bytes;

		if (!colon)
			continue;
		*colon = '\0';
		value = str_strip(colon + 1);
		unit = strchr(value, ' ');
		if (unit) {
			*unit++ = '\0';
			if (!streq(str_strip(unit), "kB"))
				continue;
		}
		if (str_to_u64(value, 10, &v) < 0)
			continue;
		if (unit && __builtin_mul_overflow(v, 1024, &bytes))
			continue;
		if (!unit)
			bytes = v;
		for (size_t i = 0; i < ARRAY_SIZE(meminfo_keys); i++)
			if (streq(line, meminfo_keys[i].key) && bytes <= INT64_MAX &&
			    jsonw_set(section, meminfo_keys[i].field,
				      json_integer((json_int_t) bytes)) < 0)
				return -ENOMEM;
	}
	return json_object_get(section, "total_bytes") ? 0 : -EBADMSG;
}

int col_memory_collect(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(freep) char *text = NULL;
	int r = col_read_file(ctx, "/proc/meminfo", LIMIT_SMALL_FILE, &text, NULL);

	if (r < 0)
		return col_error(section, "/proc/meminfo", r, NULL);
	r = col_memory_parse_meminfo(text, section);
	if (r == -EBADMSG)
		return col_error(section, "/proc/meminfo", 0, "no MemTotal line");
	return r;
}
