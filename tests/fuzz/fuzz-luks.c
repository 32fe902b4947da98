/*
 * Fuzzes what the storage collector reads from the start of a block device: the LUKS
 * header parser, the LUKS2 header area (checksum and JSON, when the input is long enough),
 * the content probe; and, on the same bytes, the SCSI serial page and dm-crypt UUID
 * parsers, which also read attributes a device controls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = mm_malloc(size + 1);
	struct luks_header h;
	char out[256], type[16], uuid[40];
	int r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	r = luks_parse_header(copy, size, &h);
	if (r == 1) {
		/* what a parsed header promises the collector */
		if ((h.version != 1 && h.version != 2) || !h.uuid[0] ||
		    (h.version == 2 && h.hdr_size > LIMIT_LUKS2_HEADER))
			abort();
		if (h.version == 2) {
			r = luks_parse_area(copy, size, &h);
			if (r == 0 && h.checksum_valid == 0)
				abort();
		}
	}
	(void) col_storage_probe(copy, size);
	r = col_storage_parse_vpd80(copy, size, out, sizeof(out));
	if (r == 0 && strlen(out) >= sizeof(out))
		abort();
	r = col_storage_parse_dm_uuid(copy, type, sizeof(type), uuid, sizeof(uuid));
	if (r == 1 && uuid[0] && strlen(uuid) != 36)
		abort();
	mm_free(copy);
	return 0;
}
