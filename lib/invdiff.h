/*
 * Inventory documents as sets of items, and the difference between two of them.
 *
 * An inventory (docs/inventory.md) is a set of sections. Each section is seen as items:
 * one "attributes" item holding every member that is not a keyed list, and one item per
 * element of each keyed list (software.packages, network.interfaces …), identified by its
 * natural key (package manager + name + architecture, interface name …). The table of keyed
 * lists is in invdiff.c. Two documents differ by items added, removed and changed; the
 * agent sends that difference as its delta, and the server stores items, so an unchanged
 * package is never rewritten.
 *
 * Delta format (also what `mamori-agent inventory --diff` prints):
 *   { "SECTION": { "added":   [ {"list": L, "key": K, "value": V} … ],
 *                  "removed": [ {"list": L, "key": K, "old": V} … ],
 *                  "changed": [ {"list": L, "key": K, "old": V, "new": V} … ] } … }
 * where L and K are absent for the attributes item and K is an array of the key values.
 * Sections without changes are absent. Top-level members that are not sections (schema,
 * collected_at, agent_version) are not part of the difference.
 */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "lib/macro.h"

/*
 * Computes the delta from old_doc to new_doc. Both must be objects. *ret is a new object
 * (empty when nothing changed). Returns 0, -EINVAL when a document is not an object, or
 * -ENOMEM.
 */
int invdiff_compute(const json_t *old_doc, const json_t *new_doc, json_t **ret) _wur_;

/*
 * Applies a delta to doc in place, so that apply(old, compute(old, new)) equals new once
 * both are canonical. Returns 0; -EBADMSG when the delta is malformed or does not fit the
 * document (an item it removes or changes is not there, one it adds already is), leaving
 * doc unchanged; or -ENOMEM.
 */
int invdiff_apply(json_t *doc, const json_t *delta, char *errbuf, size_t errlen) _wur_;

/* Sorts every keyed list of doc by its key, in place, so equal inventories compare equal
 * and hash alike. Returns 0 or -ENOMEM. */
int invdiff_canonicalize(json_t *doc) _wur_;

/*
 * Calls fn once per item of doc: section name, list name (NULL for the attributes item),
 * key (a JSON array text, NULL for the attributes item) and value (borrowed). Stops at the
 * first negative return of fn and returns it. Returns 0 or -ENOMEM.
 */
typedef int (*invdiff_item_fn)(const char *section, const char *list, const char *key,
			       json_t *value, void *userdata);
int invdiff_foreach_item(const json_t *doc, invdiff_item_fn fn, void *userdata) _wur_;

/* Whether section.list is a keyed list. */
bool invdiff_is_keyed_list(const char *section, const char *list);

/* SHA-256 (hex) of the canonical compact serialisation of doc's sections (its object
 * members; schema, collected_at and agent_version are left out, as they are not items), for
 * digests on the wire. Equal inventories have equal digests whenever they were collected. */
int invdiff_digest(const json_t *doc, char ret[65]) _wur_;
