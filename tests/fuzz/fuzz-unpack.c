/*
 * Fuzz target: the streaming decompressors of apt's lists (unpack_*): lz4 frames and gzip,
 * from memory, read in pieces whose size the first byte picks. Junk must give -EBADMSG,
 * never a read outside the buffers; the output is capped at 4 MiB.
 */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum unpack_format formats[] = {UNPACK_LZ4, UNPACK_GZIP, UNPACK_NONE};
	unsigned char out[4096];
	struct unpack *u = NULL;
	size_t piece;

	if (size < 1)
		return 0;
	piece = 1 + (data[0] >> 2) * 64;
	if (piece > sizeof(out))
		piece = sizeof(out);
	if (unpack_new(-1, data + 1, size - 1, formats[data[0] % 3], (size_t) 4 << 20, &u) < 0)
		return 0;
	while (unpack_read(u, out, piece) > 0)
		;
	unpack_free(u);
	return 0;
}
