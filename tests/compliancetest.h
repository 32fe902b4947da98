/*
 * Helpers for tests and benchmarks of the compliance engine: inventory documents built
 * from the fixture roots plus small JSON edits (RFC 7386 merge patches from
 * tests/fixtures/compliance/), and a host enrolled into a store with such a document
 * committed. Test code only.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "agent/agent.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store.h"
#include "tests/storetest.h"

/* RFC 7386: applies patch to target (which it may replace) and returns the result. */
static inline json_t *merge_patch(json_t *target, const json_t *patch)
{
	const char *key;
	json_t *v;

	if (!json_is_object(patch)) {
		json_decref(target);
		return json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
	}
	json_object_foreach ((json_t *) patch, key, v) {
		if (json_is_null(v)) {
			(void) json_object_del(target, key);
			continue;
		}
		json_t *old = json_incref(json_object_get(target, key));

		(void) json_object_set_new(target, key, merge_patch(old, v));
	}
	return target;
}

/* The inventory of fixture root `tree` collected at `now`, edited by the merge patch in
 * tests/fixtures/compliance/PATCH (NULL for none). NULL on failure (reported). */
static inline json_t *fixture_doc(const char *tree, const char *patch, int64_t now)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	char root[1024], path[1024];
	struct col_ctx ctx = {.root = root, .now = now};
	json_t *doc, *p;
	json_error_t e;

	(void) snprintf(root, sizeof(root), "%s/tests/fixtures/%s", src ? src : ".", tree);
	doc = inventory_collect(&ctx, NULL);
	if (!doc || !patch)
		return doc;
	(void) snprintf(path, sizeof(path), "%s/tests/fixtures/compliance/%s", src ? src : ".",
			patch);
	p = json_load_file(path, 0, &e);
	if (!p) {
		printf("# %s:%d: %s\n", path, e.line, e.text);
		json_decref(doc);
		return NULL;
	}
	doc = merge_patch(doc, p);
	json_decref(p);
	return doc;
}

/* Commits doc as the host's whole inventory at `now` (the store holds `base` before). */
static inline int commit_doc(struct store *st, const char *host_id, const json_t *doc, int64_t now)
{
	json_t *stored = NULL, *delta = NULL;
	char base[STORE_DIGEST_HEX], digest[STORE_DIGEST_HEX];
	int r;

	r = store_inventory_get(st, host_id, &stored, base);
	if (r >= 0)
		r = invdiff_compute(stored, doc, &delta);
	if (r >= 0)
		r = invdiff_digest(doc, digest);
	if (r >= 0)
		r = store_inventory_commit(st, host_id, base, delta, digest, now, NULL);
	json_decref(stored);
	json_decref(delta);
	return r;
}

/* A check-in reporting policy_version (negative: none reported). */
static inline int checkin_policy(struct store *st, const char *host_id, int64_t now,
				 int64_t policy_version)
{
	struct store_checkin_result res;
	json_t *state = policy_version >= 0
				? json_pack("{s:I}", "policy_version", (json_int_t) policy_version)
				: json_object();
	int r = store_checkin(st, host_id, now, "192.0.2.1", state, &res);

	json_decref(state);
	return r;
}
