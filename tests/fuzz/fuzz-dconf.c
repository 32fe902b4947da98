/*
 * Fuzz target: dconf keyfiles and locks (keyfile_parse with GVariant values,
 * col_screenlock_parse_dconf_locks), which also covers kscreenlockerrc, timesyncd.conf
 * and ufw.conf, read by the same key-file reader.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* results are not checked: the target looks for crashes, not values */
static volatile int sink_result;

static int each(const char *group, const char *key, const char *value, unsigned line,
		void *userdata)
{
	uint64_t u;
	bool b;

	(void) group;
	(void) key;
	(void) line;
	(void) userdata;
	sink_result = col_screenlock_parse_gvariant_uint(value, &u);
	sink_result = col_screenlock_parse_gvariant_bool(value, &b);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool locked[SCREENLOCK_GNOME_KEYS] = {false};
	char *a = mm_malloc(size + 1), *b = mm_malloc(size + 1);

	if (a && b) {
		memcpy(a, data, size);
		a[size] = '\0';
		memcpy(b, a, size + 1);
		sink_result = keyfile_parse(a, each, NULL);
		sink_result = col_screenlock_parse_dconf_locks(b, locked);
	}
	mm_free(a);
	mm_free(b);
	return 0;
}
