/*
 * Inventory items and deltas (see invdiff.h for the model and the delta format).
 *
 * Keyed lists are indexed through jansson objects used as hash tables, key text → element,
 * so a diff of two 5,000-package inventories is linear. An element's key is the JSON array
 * of its key fields (null for a missing field); when two elements of one list share a key,
 * later ones get their occurrence number appended, so every item stays addressable.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

struct keyed_list {
	const char *section;
	const char *list;
	const char *fields[5]; /* NULL-terminated */
};

/* The natural keys of every keyed list in docs/inventory.md. */
static const struct keyed_list keyed_lists[] = {
	{"software", "packages", {"manager", "name", "arch", NULL}},
	{"network", "interfaces", {"name", NULL}},
	{"network", "routes", {"family", "destination", "gateway", "interface", NULL}},
	{"network", "listening", {"protocol", "address", "port", NULL}},
	{"storage", "block_devices", {"name", NULL}},
	{"storage", "partitions", {"name", NULL}},
	{"storage", "mounts", {"mount_point", NULL}},
	{"storage", "encrypted_volumes", {"device", NULL}},
	{"users", "accounts", {"name", NULL}},
	{"users", "groups", {"name", NULL}},
	{"usb", "devices", {"vendor_id", "product_id", "serial", "bus_path", NULL}},
};

static const struct keyed_list *find_list(const char *section, const char *list)
{
	for (size_t i = 0; i < ARRAY_SIZE(keyed_lists); i++)
		if (streq(keyed_lists[i].section, section) && streq(keyed_lists[i].list, list))
			return &keyed_lists[i];
	return NULL;
}

bool invdiff_is_keyed_list(const char *section, const char *list)
{
	return find_list(section, list) != NULL;
}

/* Whether member `name` of `section` (with value v) is a keyed list. */
static bool is_keyed(const char *section, const char *name, const json_t *v)
{
	return json_is_array(v) && find_list(section, name);
}

/* Builds the key array of element e (occurrence n > 1 appended). */
static json_t *element_key(const struct keyed_list *kl, json_t *e, size_t occurrence)
{
	json_t *key = json_array();

	if (!key)
		return NULL;
	for (size_t i = 0; kl->fields[i]; i++) {
		json_t *v = json_is_object(e) ? json_object_get(e, kl->fields[i]) : NULL;

		if (jsonw_append(key, v ? json_incref(v) : json_null()) < 0)
			goto fail;
	}
	if (occurrence > 1 && jsonw_append(key, json_integer((json_int_t) occurrence)) < 0)
		goto fail;
	return key;
fail:
	json_decref(key);
	return NULL;
}

/*
 * Indexes a keyed list: returns an object key text → [key array, element]. Elements with
 * equal keys get occurrence numbers in array order.
 */
static json_t *index_list(const struct keyed_list *kl, const json_t *arr)
{
	_cleanup_(json_decrefp) json_t *idx = json_object();
	size_t i;
	json_t *e;

	if (!idx)
		return NULL;
	if (!arr)
		return TAKE_PTR(idx);
	json_array_foreach ((json_t *) arr, i, e) {
		for (size_t occ = 1;; occ++) {
			_cleanup_(json_decrefp) json_t *key = element_key(kl, e, occ);
			_cleanup_(freep) char *text = NULL;

			if (!key)
				return NULL;
			text = jsonw_dump(key);
			if (!text)
				return NULL;
			if (json_object_get(idx, text))
				continue;
			if (jsonw_set(idx, text, json_pack("[OO]", key, e)) < 0)
				return NULL;
			break;
		}
	}
	return TAKE_PTR(idx);
}

/* A section's attributes item: a shallow copy without its keyed lists. */
static json_t *attributes(const char *section, const json_t *sec)
{
	json_t *attrs = json_object();
	const char *name;
	json_t *v;

	if (!attrs || !sec)
		return attrs;
	json_object_foreach ((json_t *) sec, name, v)
		if (!is_keyed(section, name, v) && json_object_set(attrs, name, v) < 0) {
			json_decref(attrs);
			return NULL;
		}
	return attrs;
}

struct section_delta {
	json_t *added, *removed, *changed;
};

static int emit(json_t *to, const char *list, json_t *key, const char *f1, json_t *v1,
		const char *f2, json_t *v2)
{
	json_t *e = json_object();

	if (!e)
		return -ENOMEM;
	if ((list && (jsonw_set(e, "list", json_string(list)) < 0 ||
		      jsonw_set(e, "key", json_incref(key)) < 0)) ||
	    jsonw_set(e, f1, json_incref(v1)) < 0 ||
	    (f2 && jsonw_set(e, f2, json_incref(v2)) < 0)) {
		json_decref(e);
		return -ENOMEM;
	}
	return jsonw_append(to, e);
}

static int diff_list(const struct keyed_list *kl, const json_t *old_arr, const json_t *new_arr,
		     struct section_delta *d)
{
	_cleanup_(json_decrefp) json_t *oi = index_list(kl, old_arr);
	_cleanup_(json_decrefp) json_t *ni = index_list(kl, new_arr);
	const char *text;
	json_t *pair;

	if (!oi || !ni)
		return -ENOMEM;
	json_object_foreach (ni, text, pair) {
		json_t *o = json_object_get(oi, text);
		json_t *key = json_array_get(pair, 0), *nv = json_array_get(pair, 1);
		int r = 0;

		if (!o)
			r = emit(d->added, kl->list, key, "value", nv, NULL, NULL);
		else if (!json_equal(json_array_get(o, 1), nv))
			r = emit(d->changed, kl->list, key, "old", json_array_get(o, 1), "new", nv);
		if (r < 0)
			return r;
	}
	json_object_foreach (oi, text, pair)
		if (!json_object_get(ni, text) &&
		    emit(d->removed, kl->list, json_array_get(pair, 0), "old",
			 json_array_get(pair, 1), NULL, NULL) < 0)
			return -ENOMEM;
	return 0;
}

static const json_t *keyed_member(const char *section, const json_t *sec, const char *list)
{
	const json_t *v = sec ? json_object_get(sec, list) : NULL;

	return is_keyed(section, list, v) ? v : NULL;
}

static int diff_section(const char *section, const json_t *old_sec, const json_t *new_sec,
			json_t *out)
{
	_cleanup_(json_decrefp) json_t *oa = attributes(section, old_sec);
	_cleanup_(json_decrefp) json_t *na = attributes(section, new_sec);
	struct section_delta d = {json_array(), json_array(), json_array()};
	int r = -ENOMEM;

	if (!oa || !na || !d.added || !d.removed || !d.changed)
		goto out;
	if (json_object_size(oa) == 0 && json_object_size(na) > 0)
		r = emit(d.added, NULL, NULL, "value", na, NULL, NULL);
	else if (json_object_size(oa) > 0 && json_object_size(na) == 0)
		r = emit(d.removed, NULL, NULL, "old", oa, NULL, NULL);
	else if (!json_equal(oa, na))
		r = emit(d.changed, NULL, NULL, "old", oa, "new", na);
	else
		r = 0;
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(keyed_lists); i++) {
		const json_t *o, *n;

		if (!streq(keyed_lists[i].section, section))
			continue;
		o = keyed_member(section, old_sec, keyed_lists[i].list);
		n = keyed_member(section, new_sec, keyed_lists[i].list);
		if (!o && !n)
			continue;
		r = diff_list(&keyed_lists[i], o, n, &d);
		if (r < 0)
			goto out;
	}
	r = 0;
	if (json_array_size(d.added) + json_array_size(d.removed) + json_array_size(d.changed)) {
		json_t *s = json_object();

		r = jsonw_set(out, section, s);
		if (r == 0 && json_array_size(d.added))
			r = jsonw_set(s, "added", json_incref(d.added));
		if (r == 0 && json_array_size(d.removed))
			r = jsonw_set(s, "removed", json_incref(d.removed));
		if (r == 0 && json_array_size(d.changed))
			r = jsonw_set(s, "changed", json_incref(d.changed));
	}
out:
	json_decref(d.added);
	json_decref(d.removed);
	json_decref(d.changed);
	return r;
}

int invdiff_compute(const json_t *old_doc, const json_t *new_doc, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *out = NULL;
	const char *name;
	json_t *v;
	int r;

	if (!json_is_object(old_doc) || !json_is_object(new_doc))
		return -EINVAL;
	out = json_object();
	if (!out)
		return -ENOMEM;
	json_object_foreach ((json_t *) new_doc, name, v) {
		json_t *o = json_object_get(old_doc, name);

		if (!json_is_object(v))
			continue;
		r = diff_section(name, json_is_object(o) ? o : NULL, v, out);
		if (r < 0)
			return r;
	}
	json_object_foreach ((json_t *) old_doc, name, v) {
		if (!json_is_object(v) || json_is_object(json_object_get(new_doc, name)))
			continue;
		r = diff_section(name, v, NULL, out);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- applying a delta ---- */

static _printf_(3, 4) int misfit(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errlen) {
		va_start(ap, fmt);
		(void) vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* Finds the element of list `arr` whose key equals `key`; returns its index or -1. */
static ssize_t find_element(const struct keyed_list *kl, json_t *arr, const json_t *key, int *err)
{
	_cleanup_(json_decrefp) json_t *idx = index_list(kl, arr);
	_cleanup_(freep) char *text = jsonw_dump(key);
	json_t *pair, *e;
	size_t i;

	*err = 0;
	if (!idx || !text) {
		*err = -ENOMEM;
		return -1;
	}
	pair = json_object_get(idx, text);
	if (!pair)
		return -1;
	e = json_array_get(pair, 1);
	json_array_foreach (arr, i, pair)
		if (pair == e)
			return (ssize_t) i;
	return -1;
}

static int apply_attributes(const char *section, json_t *sec, const char *op, json_t *entry,
			    char *errbuf, size_t errlen)
{
	_cleanup_(json_decrefp) json_t *cur = attributes(section, sec);
	json_t *old = json_object_get(entry, "old");
	json_t *nv = streq(op, "added") ? json_object_get(entry, "value")
					: json_object_get(entry, "new");
	const char *name;
	json_t *v;
	void *tmp;

	if (!cur)
		return -ENOMEM;
	if (streq(op, "added") ? json_object_size(cur) != 0 : !json_equal(cur, old))
		return misfit(errbuf, errlen, "%s: attributes do not match the delta's base",
			      section);
	if (!streq(op, "removed") && !json_is_object(nv))
		return misfit(errbuf, errlen, "%s: attributes must be an object", section);
	json_object_foreach_safe (sec, tmp, name, v)
		if (!is_keyed(section, name, v))
			(void) json_object_del(sec, name);
	if (nv && !streq(op, "removed")) {
		json_object_foreach (nv, name, v)
			if (json_object_set(sec, name, v) < 0)
				return -ENOMEM;
	}
	return 0;
}

/*
 * Removals are resolved against the section as it was and carried out together at the end:
 * removing one of several items that share a key renumbers the later ones (their
 * occurrence numbers count from the front), so removing them one by one would miss.
 */
struct removal {
	json_t *arr;
	size_t at;
};

struct removals {
	struct removal *v;
	size_t n, cap;
};

static int removals_add(struct removals *rm, json_t *arr, size_t at)
{
	if (rm->n == rm->cap) {
		size_t cap = rm->cap ? rm->cap * 2 : 16;
		struct removal *v = mm_reallocarray(rm->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		rm->v = v;
		rm->cap = cap;
	}
	rm->v[rm->n++] = (struct removal){arr, at};
	return 0;
}

/* Orders removals by list, then from the back, so each index is still valid when used. */
static int cmp_removal(const void *a, const void *b)
{
	const struct removal *x = a, *y = b;

	if (x->arr != y->arr)
		return (uintptr_t) x->arr < (uintptr_t) y->arr ? -1 : 1;
	return x->at < y->at ? 1 : x->at > y->at ? -1 : 0;
}

static int removals_run(struct removals *rm, const char *section, char *errbuf, size_t errlen)
{
	if (rm->n > 1)
		qsort(rm->v, rm->n, sizeof(*rm->v), cmp_removal);
	for (size_t i = 0; i < rm->n; i++) {
		if (i > 0 && rm->v[i].arr == rm->v[i - 1].arr && rm->v[i].at == rm->v[i - 1].at)
			return misfit(errbuf, errlen, "%s: one item is removed twice", section);
		if (json_array_remove(rm->v[i].arr, rm->v[i].at) < 0)
			return -ENOMEM;
	}
	rm->n = 0;
	return 0;
}

/* Applies one entry of a delta; list removals are only recorded in rm (see above). */
static int apply_entry(const char *section, json_t *sec, const char *op, json_t *entry,
		       struct removals *rm, char *errbuf, size_t errlen)
{
	const struct keyed_list *kl;
	json_t *list_v, *key, *arr, *val;
	const char *list;
	ssize_t at;
	int err;

	if (!json_is_object(entry))
		return misfit(errbuf, errlen, "%s.%s: an entry is not an object", section, op);
	list_v = json_object_get(entry, "list");
	if (!list_v)
		return apply_attributes(section, sec, op, entry, errbuf, errlen);
	list = json_string_value(list_v);
	kl = list ? find_list(section, list) : NULL;
	key = json_object_get(entry, "key");
	if (!kl || !json_is_array(key))
		return misfit(errbuf, errlen, "%s.%s: unknown list or missing key", section, op);
	arr = json_object_get(sec, list);
	if (arr && !json_is_array(arr))
		return misfit(errbuf, errlen, "%s.%s is not a list", section, list);
	if (!arr) {
		arr = json_array();
		if (jsonw_set(sec, list, arr) < 0)
			return -ENOMEM;
	}
	at = find_element(kl, arr, key, &err);
	if (err < 0)
		return err;
	if (streq(op, "added")) {
		val = json_object_get(entry, "value");
		if (at >= 0 || !val)
			return misfit(errbuf, errlen, "%s.%s: added item exists or has no value",
				      section, list);
		return json_array_append(arr, val) < 0 ? -ENOMEM : 0;
	}
	if (at < 0 || !json_equal(json_array_get(arr, (size_t) at), json_object_get(entry, "old")))
		return misfit(errbuf, errlen, "%s.%s: item to %s is not in the base", section, list,
			      streq(op, "removed") ? "remove" : "change");
	if (streq(op, "removed"))
		return removals_add(rm, arr, (size_t) at);
	val = json_object_get(entry, "new");
	if (!val)
		return misfit(errbuf, errlen, "%s.%s: changed item has no new value", section,
			      list);
	return json_array_set(arr, (size_t) at, val) < 0 ? -ENOMEM : 0;
}

int invdiff_apply(json_t *doc, const json_t *delta, char *errbuf, size_t errlen)
{
	static const char *const ops[] = {"removed", "changed", "added"};
	_cleanup_(json_decrefp) json_t *copy = NULL;
	struct removals rm = {NULL, 0, 0};
	const char *section;
	json_t *sd;
	int r = 0;

	if (!json_is_object(doc) || !json_is_object(delta))
		return misfit(errbuf, errlen, "the delta and the document must be objects");
	copy = json_deep_copy(doc);
	if (!copy)
		return -ENOMEM;
	json_object_foreach ((json_t *) delta, section, sd) {
		json_t *sec = json_object_get(copy, section);

		if (!json_is_object(sd)) {
			r = misfit(errbuf, errlen, "%s: expected an object", section);
			goto out;
		}
		/* a member that is not an object is no section (invdiff_compute() skips it
		 * too): a section of that name replaces it */
		if (!json_is_object(sec)) {
			sec = json_object();
			r = jsonw_set(copy, section, sec);
			if (r < 0)
				goto out;
		}
		for (size_t k = 0; k < ARRAY_SIZE(ops); k++) {
			json_t *entries = json_object_get(sd, ops[k]), *e;
			size_t i;

			if (entries && !json_is_array(entries)) {
				r = misfit(errbuf, errlen, "%s.%s: expected a list", section,
					   ops[k]);
				goto out;
			}
			json_array_foreach (entries, i, e) {
				r = apply_entry(section, sec, ops[k], e, &rm, errbuf, errlen);
				if (r < 0)
					goto out;
			}
			r = removals_run(&rm, section, errbuf, errlen);
			if (r < 0)
				goto out;
		}
		if (json_object_size(sec) == 0)
			(void) json_object_del(copy, section);
	}
	if (json_object_update(doc, copy) < 0) {
		r = -ENOMEM;
		goto out;
	}
	{
		const char *name;
		json_t *v;
		void *tmp;

		json_object_foreach_safe (doc, tmp, name, v)
			if (!json_object_get(copy, name))
				(void) json_object_del(doc, name);
	}
out:
	mm_free(rm.v);
	return r;
}

/* ---- canonical form, items and digests ---- */

struct sort_entry {
	char *key;
	json_t *value;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct sort_entry *) a)->key, ((const struct sort_entry *) b)->key);
}

static int sort_list(const struct keyed_list *kl, json_t *arr)
{
	size_t n = json_array_size(arr), i;
	_cleanup_(freep) struct sort_entry *v = mm_reallocarray(NULL, n ? n : 1, sizeof(*v));
	_cleanup_(json_decrefp) json_t *sorted = json_array();
	int r = -ENOMEM;
	json_t *e;

	if (!v || !sorted)
		return -ENOMEM;
	json_array_foreach (arr, i, e) {
		_cleanup_(json_decrefp) json_t *key = element_key(kl, e, 1);

		v[i].value = e;
		v[i].key = key ? jsonw_dump(key) : NULL;
		if (!v[i].key) {
			n = i;
			goto out;
		}
	}
	qsort(v, n, sizeof(*v), cmp_entry);
	for (i = 0; i < n; i++)
		if (json_array_append(sorted, v[i].value) < 0)
			goto out;
	r = json_array_clear(arr) < 0 || json_array_extend(arr, sorted) < 0 ? -ENOMEM : 0;
out:
	for (i = 0; i < n; i++)
		mm_free(v[i].key);
	return r;
}

int invdiff_canonicalize(json_t *doc)
{
	const char *section, *name;
	json_t *sec, *v;
	void *tmp, *tmp2;

	json_object_foreach_safe (doc, tmp, section, sec) {
		if (!json_is_object(sec))
			continue;
		json_object_foreach_safe (sec, tmp2, name, v) {
			if (!is_keyed(section, name, v))
				continue;
			if (json_array_size(v) == 0) {
				(void) json_object_del(sec, name);
				continue;
			}
			if (sort_list(find_list(section, name), v) < 0)
				return -ENOMEM;
		}
		if (json_object_size(sec) == 0)
			(void) json_object_del(doc, section);
	}
	return 0;
}

int invdiff_foreach_item(const json_t *doc, invdiff_item_fn fn, void *userdata)
{
	const char *section, *name;
	json_t *sec, *v;

	json_object_foreach ((json_t *) doc, section, sec) {
		_cleanup_(json_decrefp) json_t *attrs = NULL;
		int r;

		if (!json_is_object(sec))
			continue;
		attrs = attributes(section, sec);
		if (!attrs)
			return -ENOMEM;
		if (json_object_size(attrs)) {
			r = fn(section, NULL, NULL, attrs, userdata);
			if (r < 0)
				return r;
		}
		json_object_foreach (sec, name, v) {
			_cleanup_(json_decrefp) json_t *idx = NULL;
			const char *text;
			json_t *pair;

			if (!is_keyed(section, name, v))
				continue;
			idx = index_list(find_list(section, name), v);
			if (!idx)
				return -ENOMEM;
			json_object_foreach (idx, text, pair) {
				r = fn(section, name, text, json_array_get(pair, 1), userdata);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

/*
 * Writes every -0.0 in v as 0.0. json_equal() holds the two equal (so no delta carries the
 * difference), but they serialise differently, and equal documents must hash alike.
 */
static void normalize_zeros(json_t *v)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_real(v) && json_real_value(v) == 0.0)
		(void) json_real_set(v, 0.0);
	else if (json_is_object(v))
		json_object_foreach (v, key, child)
			normalize_zeros(child);
	else if (json_is_array(v))
		json_array_foreach (v, i, child)
			normalize_zeros(child);
}

int invdiff_digest(const json_t *doc, char ret[65])
{
	_cleanup_(json_decrefp) json_t *copy = json_deep_copy(doc);
	_cleanup_(freep) char *text = NULL;
	unsigned char md[32];

	const char *name;
	json_t *v;
	void *tmp;

	if (!copy || invdiff_canonicalize(copy) < 0)
		return -ENOMEM;
	/* only the sections are items: schema, collected_at and agent_version are not stored
	 * by the server and change without the inventory changing */
	json_object_foreach_safe (copy, tmp, name, v)
		if (!json_is_object(v))
			(void) json_object_del(copy, name);
	normalize_zeros(copy);
	text = jsonw_dump(copy);
	if (!text)
		return -ENOMEM;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), md) < 0)
		return -EIO;
	str_hex(md, sizeof(md), ret);
	return 0;
}
