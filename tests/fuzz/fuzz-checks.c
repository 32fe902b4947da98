/*
 * Fuzz target: every automated check of the built-in catalogue over arbitrary JSON as the
 * inventory document, both as the agent runs them (no server facts) and as the server
 * does (with facts, and with the input's "events" member folded into an event summary by
 * checks_events_summarise(), its "gaps" and "breaks" by checks_events_chain()). Properties,
 * abort()ing on a violation:
 *   - a check never fails except for memory; its verdict is one of the four statuses;
 *   - its evidence is an object that serialises, jsonw_dump_compact() as jansson does;
 *   - the same input gives the same verdict and evidence twice (checks are pure);
 *   - on the items a store hands over, loaded through checks_item_parse() (only what the
 *     checks read) or whole, every check gives the same verdict and evidence.
 */
#include <errno.h>

#include "lib/buf.h"
#include "lib/catalog_builtin.h"
#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "tests/checkstest.h"
#include "tests/fuzz/fuzz.h"

static struct catalog cat;
static bool loaded;

/* The checks on the items loaded whole and loaded through their keep lists agree. */
static void same_on_kept(const json_t *doc, const struct checks_host *host)
{
	json_t *whole = checkstest_partial(doc, false), *kept = checkstest_partial(doc, true);
	struct checks_input a = {.doc = whole, .host = host, .now = 1800000000};
	struct checks_input b = {.doc = kept, .host = host, .now = 1800000000};

	FUZZ_ASSERT(!whole == !kept); /* what loads whole loads kept, and the other way round */

	for (size_t i = 0; whole && kept && i < cat.n; i++) {
		const struct catalog_stanza *m = &cat.stanzas[i];
		enum checks_status sa, sb;
		json_t *ea = NULL, *eb = NULL;

		if (!streq(m->kind, "Measure") || !catalog_get(m, "Check"))
			continue;
		if (checks_run(m, &a, &sa, &ea) == 0 && checks_run(m, &b, &sb, &eb) == 0)
			FUZZ_ASSERT(sa == sb && json_equal(ea, eb));
		json_decref(ea);
		json_decref(eb);
	}
	json_decref(whole);
	json_decref(kept);
}

static void run_all(const json_t *doc, const struct checks_host *host)
{
	struct checks_input in = {.doc = doc, .host = host, .now = 1800000000};

	for (size_t i = 0; i < cat.n; i++) {
		const struct catalog_stanza *m = &cat.stanzas[i];
		enum checks_status a, b;
		json_t *ea = NULL, *eb = NULL;
		char *text;
		int r;

		if (!streq(m->kind, "Measure") || !catalog_get(m, "Check"))
			continue;
		r = checks_run(m, &in, &a, &ea);
		if (r == -ENOMEM)
			continue;
		FUZZ_ASSERT(r == 0 && a < CHECKS_STATUS_MAX && json_is_object(ea));
		text = jsonw_dump(ea);
		FUZZ_ASSERT(text);
		mm_free(text);
		{
			/* the engine's serialisation of evidence is jansson's, byte for byte */
			char *want = json_dumps(ea, JSON_COMPACT);
			struct buf out;

			buf_init(&out, (size_t) 1 << 24);
			if (want && jsonw_dump_compact(ea, &out) == 0)
				FUZZ_ASSERT(streq(buf_str(&out), want));
			buf_done(&out);
			mm_free(want);
		}
		if (checks_run(m, &in, &b, &eb) == 0) {
			FUZZ_ASSERT(a == b && json_equal(ea, eb));
			json_decref(eb);
		}
		json_decref(ea);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL, *summary;
	struct checks_host host = {
		.last_inventory = 1799990000,
		.owner = "",
		.policy_version = 0,
		.vuln_matches = -1,
	};

	fuzz_setup();
	if (!loaded) {
		struct diag d;

		catalog_init(&cat);
		diag_init(&d);
		FUZZ_ASSERT(catalog_builtin_load(&cat, NULL, 0, &d) == 0);
		diag_done(&d);
		loaded = true;
	}
	if (jsonw_parse((const char *) data, size, LIMIT_INVENTORY_DOC, &doc, NULL) < 0)
		return 0;
	run_all(doc, NULL);
	summary = json_object();
	if (summary &&
	    checks_events_summarise(summary, json_object_get(doc, "events"), 1800000000) == 0 &&
	    checks_events_chain(summary, json_object_get(doc, "gaps"),
				json_object_get(doc, "breaks"),
				json_is_true(json_object_get(doc, "truncated")), 1800000000) == 0) {
		host.events = summary;
		run_all(doc, &host);
		same_on_kept(doc, &host);
		/* a summary from arbitrary input may be arbitrary too: use the input itself */
		host.events = json_object_get(doc, "summary");
		run_all(doc, &host);
	}
	json_decref(summary);
	json_decref(doc);
	return 0;
}
