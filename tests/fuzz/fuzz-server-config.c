/* Fuzzes mamori-server's configuration file parser (config_parse). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/diag.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct diag d;
	char *text;
	int r;

	if (size > LIMIT_CONFIG_FILE)
		return 0;
	text = mm_malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_init(&c) == 0) {
		diag_init(&d);
		r = config_parse(&c, text, size, "fuzz.conf", &d);
		/* Failure and diagnostics go together; names never overflow. */
		if ((r == -EINVAL) != (d.n_errors > 0) || c.n_names > CONFIG_NAMES_MAX)
			__builtin_trap();
		for (size_t i = 0; i < d.n; i++)
			mm_free(diag_format(&d.entries[i]));
		diag_done(&d);
		config_done(&c);
	}
	mm_free(text);
	return 0;
}
