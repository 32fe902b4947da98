/* Fuzz target: the head of an apt Release or InRelease file (col_apt_parse_release). */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct col_apt_release rel;
	char *text = mm_malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (col_apt_parse_release(text, &rel) == 0)
		(void) col_apt_release_is_security(&rel);
	mm_free(text);
	return 0;
}
