/* Bounded buffers: the ceiling holds, failures leave the buffer as it was. */
#include <errno.h>

#include "lib/buf.h"
#include "lib/mm.h"
#include "tests/tap.h"

int main(void)
{
	struct buf b;
	char *s;
	size_t n;

	buf_init(&b, 10);
	CHECK_INT(buf_adds(&b, "hello"), 0, "add within the limit");
	CHECK_INT(buf_addf(&b, "%d", 12345), 0, "formatted add up to the limit");
	CHECK_STR(buf_str(&b), "hello12345", "content is kept");
	CHECK_INT(buf_addc(&b, 'x'), -E2BIG, "one byte past the limit is refused");
	CHECK_STR(buf_str(&b), "hello12345", "a refused add leaves the buffer as it was");
	s = buf_take(&b, &n);
	CHECK(s && n == 10, "take hands out the data and its length");
	mm_free(s);
	CHECK(b.data == NULL && b.len == 0, "take leaves the buffer empty");

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		if (buf_adds(&b, "0123456789") < 0)
			break;
	CHECK_INT(b.len, 100000, "growth over many adds");
	buf_reset(&b);
	CHECK_INT(b.len, 0, "reset empties");

	(void) mm_fail_at(1, true);
	buf_done(&b);
	buf_init(&b, 100);
	CHECK_INT(buf_adds(&b, "abc"), -ENOMEM, "allocation failure is reported");
	CHECK(b.len == 0 && b.data == NULL, "and leaves the buffer untouched");
	(void) mm_fail_at(0, false);
	buf_done(&b);
	return tap_done();
}
