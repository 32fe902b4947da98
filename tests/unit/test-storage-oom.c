/*
 * The storage and usb collectors under allocation failure: against the laptop fixture,
 * every allocation in turn is made to fail — alone, and with all after it. Each run must
 * return 0 or -ENOMEM, never crash, and leave nothing allocated (AddressSanitizer's leak
 * check at exit); a run whose injected failure fired must not claim success with a section
 * that lost data silently, so it has to return -ENOMEM.
 */
#include <errno.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static int run(const struct col_ctx *ctx, col_fn fn)
{
	json_t *section = json_object();
	int r;

	if (!section)
		return -ENOMEM;
	r = fn(ctx, section);
	json_decref(section);
	return r;
}

static void sweep(const struct col_ctx *ctx, const char *name, col_fn fn, bool sticky)
{
	unsigned long total;
	unsigned bad = 0, silent = 0;

	(void) mm_fail_at(0, false);
	CHECK_INT(run(ctx, fn), 0, name);
	total = mm_fail_at(0, false);
	for (unsigned long n = 1; n <= total; n++) {
		int r;

		(void) mm_fail_at(n, sticky);
		r = run(ctx, fn);
		if (r != 0 && r != -ENOMEM)
			bad++;
		if (r == 0 && mm_fail_fired()) {
			if (silent++ == 0)
				tap_diag("%s: allocation %lu failed, yet 0 returned", name, n);
		}
	}
	(void) mm_fail_at(0, false);
	CHECK(total > 50, "%s: %lu allocations swept, %s", name, total,
	      sticky ? "each and all after it failing" : "each alone failing");
	CHECK_INT(bad, 0, "every failed run returns 0 or -ENOMEM");
	CHECK_INT(silent, 0, "no failed allocation goes unreported");
}

int main(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	char *root;
	struct col_ctx ctx = {0};

	mm_setup_jansson();
	root = mm_asprintf("%s/tests/fixtures/laptop", src ? src : ".");
	if (!root)
		return 1;
	ctx.root = root;
	sweep(&ctx, "storage", col_storage_collect, true);
	sweep(&ctx, "storage", col_storage_collect, false);
	sweep(&ctx, "usb", col_usb_collect, true);
	sweep(&ctx, "usb", col_usb_collect, false);
	mm_free(root);
	return tap_done();
}
