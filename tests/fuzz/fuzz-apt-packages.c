/*
 * Fuzz target: an apt Packages list (col_apt_parse_packages), fed the way the collector
 * feeds it: in pieces, the unparsed rest of each carried over to the next. The first byte
 * picks the piece size, so the fuzzer explores stanzas cut at every place; the result must
 * be the same stanzas as one whole parse, else it aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	unsigned long hash;
	size_t n;
};

static int count(const char *package, const char *arch, const char *version, void *userdata)
{
	struct seen *s = userdata;

	for (const char *p = package; *p; p++)
		s->hash = s->hash * 31 + (unsigned char) *p;
	for (const char *p = arch; *p; p++)
		s->hash = s->hash * 37 + (unsigned char) *p;
	for (const char *p = version; *p; p++)
		s->hash = s->hash * 41 + (unsigned char) *p;
	s->n++;
	return 0;
}

/* Parses data in pieces of `piece` bytes (0: whole). */
static struct seen parse(const uint8_t *data, size_t size, size_t piece)
{
	struct col_apt_packages_stats st = {0};
	struct seen s = {0};
	char *buf = mm_malloc(size + 1);
	size_t len = 0, fed = 0;

	if (!buf)
		abort();
	for (;;) {
		size_t k = piece ? MIN(piece, size - fed) : size - fed, used = 0;
		bool end;

		memcpy(buf + len, data + fed, k);
		fed += k;
		len += k;
		buf[len] = '\0';
		end = fed == size;
		if (col_apt_parse_packages(buf, len, end, count, &s, &st, &used) < 0 || used > len)
			abort();
		memmove(buf, buf + used, len - used);
		len -= used;
		if (end)
			break;
	}
	mm_free(buf);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen whole, pieces;

	if (size < 1)
		return 0;
	whole = parse(data + 1, size - 1, 0);
	pieces = parse(data + 1, size - 1, 1 + data[0] % 64);
	if (whole.n != pieces.n || whole.hash != pieces.hash)
		abort(); /* a stanza was lost or changed across a piece boundary */
	return 0;
}
