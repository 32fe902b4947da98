/*
 * The security section under allocation failure: against the laptop and broken fixture
 * trees, make each allocation of a collection fail in turn. Every run must end in 0 or
 * -ENOMEM — never a crash, a leak (LeakSanitizer checks at exit) or an out-of-memory
 * mistaken for something else (a success after an injected failure must still give a
 * section whose parts are all there).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static int collect(const char *root, bool *complete)
{
	struct col_ctx ctx = {.root = root, .now = 1767225600};
	json_t *section = json_object();
	int r;

	if (!section)
		return -ENOMEM;
	r = col_security_collect(&ctx, section);
	*complete = json_object_get(section, "antivirus") && json_object_get(section, "firewall") &&
		    json_object_get(section, "auto_updates") && json_object_get(section, "ssh") &&
		    json_object_get(section, "time_sync") &&
		    json_object_get(section, "screen_lock");
	json_decref(section);
	return r;
}

static void sweep(const char *src, const char *tree, bool sticky)
{
	_cleanup_(freep) char *root = mm_asprintf("%s/tests/fixtures/%s", src, tree);
	unsigned long total, step, bad = 0, runs = 0;
	bool complete;

	if (!root)
		return;
	(void) mm_fail_at(0, false);
	CHECK_INT(collect(root, &complete), 0, "a collection without failures succeeds");
	total = mm_fail_at(0, false);
	CHECK(complete && total > 0, "and allocates");
	/* a stride bounds the runs (~1000) on a tree that allocates more */
	step = total / 1000 + 1;
	for (unsigned long n = 1; n <= total; n += step) {
		int r;

		(void) mm_fail_at(n, sticky);
		r = collect(root, &complete);
		(void) mm_fail_at(0, false);
		runs++;
		if (r != -ENOMEM && !(r == 0 && complete)) {
			if (bad++ < 5)
				tap_diag("%s: failing allocation %lu gave %d", tree, n, r);
		}
	}
	tap_diag("%s: %lu allocations, %lu runs with the n-th failing%s", tree, total, runs,
		 sticky ? " and all after it" : "");
	CHECK_INT(bad, 0, "every injected failure ends in -ENOMEM or a complete section");
}

int main(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");

	mm_setup_jansson();
	for (int sticky = 1; sticky >= 0; sticky--) {
		sweep(src ? src : ".", "laptop", sticky);
		sweep(src ? src : ".", "broken", sticky);
	}
	return tap_done();
}
