/* Fuzz target: the catalogue loader — parse an input as a catalogue file on top of nothing,
 * then validate it. */
#include <stdint.h>
#include <string.h>

#include "lib/catalog.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct catalog c;
	struct diag d;
	char *text = mm_malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	catalog_init(&c);
	diag_init(&d);
	if (catalog_parse(&c, "fuzz", text, &d) == 0)
		(void) !catalog_validate(&c, NULL, &d);
	for (size_t i = 0; i < d.n; i++)
		mm_free(diag_format(&d.entries[i]));
	diag_done(&d);
	catalog_done(&c);
	mm_free(text);
	return 0;
}
