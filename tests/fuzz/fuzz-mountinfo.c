/*
 * Fuzzes the mountinfo parser (and through it the octal unescaping and col_json_text):
 * every input must parse or be counted as malformed, never crash or leak.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = mm_malloc(size + 1);
	json_t *mounts = json_array();

	if (text && mounts) {
		memcpy(text, data, size);
		text[size] = '\0';
		int r = col_storage_parse_mountinfo(text, mounts);
		size_t i;
		json_t *m;

		/* malformed lines are counted, never fatal; every mount kept is complete */
		if (r < 0 && r != -ENOMEM)
			abort();
		json_array_foreach (mounts, i, m)
			if (!json_string_value(json_object_get(m, "mount_point")) ||
			    !json_string_value(json_object_get(m, "source")))
				abort();
	}
	json_decref(mounts);
	mm_free(text);
	return 0;
}
