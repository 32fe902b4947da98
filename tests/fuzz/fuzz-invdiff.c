/*
 * Property fuzzing of inventory deltas (lib/invdiff.c). The input is two JSON documents
 * separated by the first NUL byte. When both parse as objects:
 *   1. apply(old, compute(old, new)) equals new, compared in canonical form and without the
 *      top-level members that are not sections (the delta does not carry them);
 *   2. the two results have the same digest;
 *   3. the delta applied to the wrong base (new itself, when anything changed) is refused
 *      with -EBADMSG and leaves that base exactly as it was;
 *   4. whichever document a delta is applied to, it fits or is refused without change —
 *      never half-applied.
 * A violation abort()s.
 */
#include <errno.h>
#include <stdio.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "tests/fuzz/fuzz.h"

static json_t *parse(const char *text, size_t len)
{
	json_t *v = NULL;

	if (jsonw_parse(text, len, LIMIT_INVENTORY_DOC, &v, NULL) < 0)
		return NULL;
	if (!json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* A canonical deep copy holding only the sections (object members) of doc. */
static json_t *sections(const json_t *doc)
{
	json_t *copy = json_deep_copy(doc), *v;
	const char *name;
	void *tmp;

	FUZZ_ASSERT(copy);
	json_object_foreach_safe (copy, tmp, name, v)
		if (!json_is_object(v))
			(void) json_object_del(copy, name);
	FUZZ_ASSERT(invdiff_canonicalize(copy) == 0);
	return copy;
}

static void report(const char *what, const json_t *a, const json_t *b)
{
	char *x = jsonw_dump(a), *y = jsonw_dump(b);

	fprintf(stderr, "invdiff property violated: %s\n  got:  %s\n  want: %s\n", what,
		x ? x : "?", y ? y : "?");
	mm_free(x);
	mm_free(y);
	abort();
}

/* Applies delta to a copy of base: either it fits, or base is untouched. */
static void apply_or_refuse(const json_t *base, const json_t *delta)
{
	json_t *doc = json_deep_copy(base);
	char err[256];
	int r;

	FUZZ_ASSERT(doc);
	r = invdiff_apply(doc, delta, err, sizeof(err));
	FUZZ_ASSERT(r == 0 || r == -EBADMSG);
	if (r < 0 && !json_equal(doc, base))
		report("a refused delta changed its base", doc, base);
	json_decref(doc);
}

static void check(const json_t *old_doc, const json_t *new_doc)
{
	json_t *delta = NULL, *result, *got, *want, *wrong;
	char err[256], d1[65], d2[65];
	int r;

	FUZZ_ASSERT(invdiff_compute(old_doc, new_doc, &delta) == 0);
	result = json_deep_copy(old_doc);
	FUZZ_ASSERT(result);
	r = invdiff_apply(result, delta, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "apply refused its own delta: %s\n", err);
		report("apply(old, compute(old, new)) failed", delta, new_doc);
	}
	got = sections(result);
	want = sections(new_doc);
	if (!json_equal(got, want))
		report("apply(old, compute(old, new)) != new", got, want);
	FUZZ_ASSERT(invdiff_digest(got, d1) == 0 && invdiff_digest(want, d2) == 0);
	FUZZ_ASSERT(streq(d1, d2));

	if (json_object_size(delta) > 0) {
		wrong = json_deep_copy(new_doc);
		FUZZ_ASSERT(wrong);
		r = invdiff_apply(wrong, delta, err, sizeof(err));
		if (r != -EBADMSG)
			report("a delta applied to the wrong base was accepted", wrong, new_doc);
		if (!json_equal(wrong, new_doc))
			report("a refused delta changed its base", wrong, new_doc);
		json_decref(wrong);
	}
	json_decref(got);
	json_decref(want);
	json_decref(result);
	json_decref(delta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	const char *nul = memchr(text, '\0', size);
	json_t *old_doc, *new_doc, *delta = NULL;
	size_t n1;

	fuzz_setup();
	if (!nul)
		return 0;
	n1 = (size_t) (nul - text);
	old_doc = parse(text, n1);
	new_doc = parse(nul + 1, size - n1 - 1);
	if (old_doc && new_doc) {
		check(old_doc, new_doc);
		check(new_doc, old_doc);
		check(old_doc, old_doc);
		/* a delta between the two, applied to the other one's base */
		FUZZ_ASSERT(invdiff_compute(new_doc, old_doc, &delta) == 0);
		apply_or_refuse(new_doc, delta);
		apply_or_refuse(old_doc, delta);
		json_decref(delta);
	}
	json_decref(old_doc);
	json_decref(new_doc);
	return 0;
}
