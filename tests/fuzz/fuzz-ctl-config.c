/* Fuzz target: mamorictl's config file parser. */
#include <stdint.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl c = {0};
	char *text = mm_malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void) !ctl_config_parse(&c, "fuzz", text);
	ctl_done(&c);
	mm_free(text);
	return 0;
}
