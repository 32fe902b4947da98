/*
 * Test helpers for the checks' loading of inventory items (lib/checks.h, struct
 * checks_item): the partial document a store hands the checks, built from a whole
 * inventory document item by item as the stores do, either parsing each item whole or
 * through checks_item_parse() (only what the checks read). Tests hold the checks'
 * answers on the two against each other: keep lists that miss a path a check reads show
 * there.
 */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "lib/checks.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/mm.h"

struct checkstest_partial {
	json_t *doc;
	bool filtered;
	bool failed;
};

static inline const struct checks_item *checkstest_item(const char *section, const char *list)
{
	for (const struct checks_item *it = checks_inventory_items; it->section; it++)
		if (strcmp(it->section, section) == 0 &&
		    (list ? it->list && strcmp(it->list, list) == 0 : !it->list))
			return it;
	return NULL;
}

static inline int checkstest_add(const char *section, const char *list, const char *key,
				 json_t *value, void *userdata)
{
	struct checkstest_partial *p = userdata;
	const struct checks_item *it = checkstest_item(section, list);
	json_t *sec, *v;
	char *text;

	(void) key;
	if (!it)
		return 0;
	text = jsonw_dump(value);
	if (!text) {
		p->failed = true;
		return -ENOMEM;
	}
	v = p->filtered ? checks_item_parse(it, text, strlen(text), NULL)
			: json_loads(text, JSON_DECODE_ANY, NULL);
	mm_free(text);
	if (!v) {
		p->failed = true;
		return -ENOMEM;
	}
	sec = json_object_get(p->doc, section);
	if (!sec) {
		sec = json_object();
		if (json_object_set_new(p->doc, section, sec) < 0) {
			json_decref(v);
			return -ENOMEM;
		}
	}
	if (!list) {
		int r = json_is_object(v) ? json_object_update(sec, v) : 0;

		json_decref(v);
		return r < 0 ? -ENOMEM : 0;
	}
	if (!json_is_array(json_object_get(sec, list)) &&
	    json_object_set_new(sec, list, json_array()) < 0) {
		json_decref(v);
		return -ENOMEM;
	}
	return json_array_append_new(json_object_get(sec, list), v) < 0 ? -ENOMEM : 0;
}

/* The partial document of doc's items the checks read; NULL when memory ran out. */
static inline json_t *checkstest_partial(const json_t *doc, bool filtered)
{
	struct checkstest_partial p = {.doc = json_object(), .filtered = filtered};

	if (!p.doc || invdiff_foreach_item(doc, checkstest_add, &p) < 0 || p.failed) {
		json_decref(p.doc);
		return NULL;
	}
	return p.doc;
}
