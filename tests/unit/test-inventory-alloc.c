/*
 * Allocation failure during a whole inventory of each fixture root (laptop first, then
 * vm and broken, whose error paths allocate too): for k = 1, 2, … the
 * k-th allocation fails (lib/mm.h's mm_fail_at()), until a run completes without reaching
 * it. Each run must end in NULL (out of memory as a whole) or a valid document in which
 * the failure shows: a section reporting "Cannot allocate memory", or — if the failure
 * was absorbed — exactly the document of an undisturbed run. A document that differs
 * silently means some caller swallowed -ENOMEM and reported something false. AddressSanitizer
 * (the test build) reports any leak on the failure paths when the test exits.
 *
 * Bounded for time: every k up to 2000, then every 37th, and at most ~15 s in all (a diag
 * says where it stopped; the laptop gets the largest share); a second pass per tree makes
 * every allocation from k on fail (sticky).
 */
#include <errno.h>
#include <time.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "tests/tap.h"

#define SINGLE_RUNS 150ul
#define STICKY_RUNS 50ul
#define BUDGET_NS   (100ll * 1000 * 1000 * 1000)

static const char *const sections[] = {"identity", "os", "cpu", "memory"};

static long long now_ns(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Whether some section reports running out of memory. */
static bool reports_oom(json_t *doc)
{
	const char *name;
	json_t *sec;

	json_object_foreach (doc, name, sec) {
		size_t i;
		json_t *e;

		json_array_foreach (json_object_get(sec, "errors"), i, e)
			if (strstr(json_string_value(json_object_get(e, "message")) ?: "",
				   "Cannot allocate memory"))
				return true;
	}
	return false;
}

/* Whether doc has the shape of an inventory: schema 1 and every section an object. */
static bool well_formed(json_t *doc)
{
	char *text;

	if (!json_is_object(doc) || json_integer_value(json_object_get(doc, "schema")) != 1)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (!json_is_object(json_object_get(doc, sections[i])))
			return false;
	text = jsonw_dump(doc);
	mm_free(text);
	return text != NULL;
}

struct tally {
	unsigned long runs, null_docs, oom_docs, same_docs, bad, last_k;
	bool completed, out_of_time;
};

static void sweep(const struct col_ctx *ctx, json_t *reference, bool sticky, unsigned long step,
		  long long deadline, struct tally *t)
{
	for (unsigned long k = 1;; k += step) {
		json_t *doc;
		bool fired, readable = false;

		if (now_ns() > deadline) {
			t->out_of_time = true;
			return;
		}
		(void) mm_fail_at(k, sticky);
		doc = inventory_collect(ctx, &readable);
		fired = mm_fail_fired();
		(void) mm_fail_at(0, false);
		t->runs++;
		t->last_k = k;
		if (!fired) {
			/* k is past the last allocation: an undisturbed run */
			t->completed = true;
			if (!doc || !json_equal(doc, reference)) {
				t->bad++;
				tap_diag("k=%lu: a run without failure differs from the reference",
					 k);
			}
			json_decref(doc);
			return;
		}
		if (!doc) {
			t->null_docs++;
		} else if (!well_formed(doc)) {
			t->bad++;
			tap_diag("k=%lu%s: a malformed document", k, sticky ? " (sticky)" : "");
		} else if (reports_oom(doc)) {
			t->oom_docs++;
		} else if (json_equal(doc, reference)) {
			t->same_docs++;
		} else {
			char *a = jsonw_dump(doc);

			t->bad++;
			if (t->bad <= 5)
				tap_diag("k=%lu%s: the failure vanished into a different document: "
					 "%s",
					 k, sticky ? " (sticky)" : "", a ? a : "?");
			mm_free(a);
		}
		json_decref(doc);
	}
}

static void run_tree(const char *src, const char *tree, long long budget_ns)
{
	char root[4096];
	struct col_ctx ctx = {.root = root, .now = 1800000000};
	struct tally dense = {0}, sticky = {0};
	json_t *reference;
	unsigned long n_alloc;
	bool readable = false;
	long long start = now_ns();

	(void) snprintf(root, sizeof(root), "%s/tests/fixtures/%s", src, tree);
	(void) mm_fail_at(0, false);
	reference = inventory_collect(&ctx, &readable);
	n_alloc = mm_fail_at(0, false);
	if (!CHECK(reference && readable, "%s: the inventory is collected without failures", tree))
		return;
	tap_diag("%s: one inventory makes %lu allocations", tree, n_alloc);

	/* A fixed number of runs per tree, spread evenly over every allocation, so the test
	 * does the same work on a fast or a loaded machine; the time budget only guards
	 * against a hang. */
	sweep(&ctx, reference, false, MAX(1ul, n_alloc / SINGLE_RUNS), start + budget_ns * 2 / 3,
	      &dense);
	sweep(&ctx, reference, true, MAX(1ul, n_alloc / STICKY_RUNS), start + budget_ns, &sticky);
	tap_diag("%s: single failures: %lu runs up to k=%lu: %lu NULL, %lu report it, %lu absorbed",
		 tree, dense.runs, dense.last_k, dense.null_docs, dense.oom_docs, dense.same_docs);
	tap_diag("%s: sticky failures: %lu runs up to k=%lu: %lu NULL, %lu report it", tree,
		 sticky.runs, sticky.last_k, sticky.null_docs, sticky.oom_docs);
	if (dense.out_of_time || sticky.out_of_time)
		tap_diag("%s: stopped by the time budget before the last allocation", tree);

	CHECK(dense.completed || dense.out_of_time, "%s: single failures swept to the end", tree);
	CHECK(dense.completed && sticky.completed, "%s: every allocation reached", tree);
	CHECK(dense.bad == 0,
	      "%s: single failures: NULL or a valid document that shows it (%lu not)", tree,
	      dense.bad);
	CHECK(dense.null_docs + dense.oom_docs > 0, "%s: the injection took effect", tree);
	CHECK_INT(sticky.bad, 0,
		  "sticky failures: NULL or a valid document that shows the failure");
	json_decref(reference);
}

int main(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");

	if (!src)
		tap_skip_all("MAMORI_SOURCE_ROOT is unset (run through meson test)");
	mm_setup_jansson();
	run_tree(src, "laptop", BUDGET_NS / 2);
	run_tree(src, "vm", BUDGET_NS / 4);
	run_tree(src, "broken", BUDGET_NS / 4);
	return tap_done();
}
