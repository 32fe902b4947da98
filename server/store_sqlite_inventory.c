/*
 * Inventories in the SQLite store: each host's document as items (lib/invdiff.h), their
 * change history and the typed software view.
 *
 * inventory_items holds one row per item: (host, section, list, key) → value, with list
 * and key '' for a section's attributes item and key the item's key array as compact JSON
 * text (exactly the text invdiff uses). A commit applies a delta row by row: a removed or
 * changed item must be there with the delta's "old" value, an added one must not be there,
 * else the whole commit is refused with -EBADMSG and rolled back. Unchanged items are
 * never touched; `changed` records when each item got its current value.
 *
 * The software table mirrors the software.packages items in typed columns, written in the
 * same transaction, so the vulnerability matcher can join on (source, source_version)
 * with an index. A package without "source" or "source_version" (dpkg leaves them out
 * when they equal the binary package's) gets its name or version there.
 *
 * hosts.serial_number and hosts.chassis are copied from the identity attributes item
 * ("dmi"."serial" and "chassis") so the host list can show and search them.
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store_sqlite.h"

/* ---- reading ---- */

static int add_item(json_t *doc, const char *section, const char *list, json_t *value)
{
	json_t *sec = json_object_get(doc, section), *arr;

	if (!sec) {
		sec = json_object();
		if (jsonw_set(doc, section, sec) < 0)
			return -ENOMEM;
	}
	if (!*list) {
		if (!json_is_object(value))
			return -EIO;
		return json_object_update(sec, value) < 0 ? -ENOMEM : 0;
	}
	arr = json_object_get(sec, list);
	if (!arr) {
		arr = json_array();
		if (jsonw_set(sec, list, arr) < 0)
			return -ENOMEM;
	}
	return json_array_append(arr, value) < 0 ? -ENOMEM : 0;
}

static int inventory_get(struct store_sqlite_conn *c, const char *host_id, json_t **ret_doc,
			 char ret_digest[STORE_DIGEST_HEX])
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *h = NULL, *q = NULL;
	_cleanup_(json_decrefp) json_t *doc = json_object();
	const char *digest;
	int r;

	if (!doc)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT num, inventory_digest FROM hosts"
			      " WHERE id = ?1 AND deleted IS NULL",
			      &h);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(h, 1, host_id);
	r = store_sqlite_step(c, h, "finding a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	digest = (const char *) sqlite3_column_text(h, 1);
	if (!digest || strlen(digest) >= STORE_DIGEST_HEX)
		return -EIO;
	r = store_sqlite_stmt(c,
			      "SELECT section, list, value FROM inventory_items WHERE host = ?1"
			      " ORDER BY section, list, key",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, sqlite3_column_int64(h, 0));
	while ((r = store_sqlite_step(c, q, "reading an inventory")) > 0) {
		_cleanup_(json_decrefp) json_t *value = store_sqlite_column_json(q, 2);

		if (!value)
			return -ENOMEM;
		r = add_item(doc, (const char *) sqlite3_column_text(q, 0),
			     (const char *) sqlite3_column_text(q, 1), value);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	memcpy(ret_digest, digest, strlen(digest) + 1);
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

int store_sqlite_inventory_get(struct store *st, const char *host_id, json_t **ret_doc,
			       char ret_digest[STORE_DIGEST_HEX])
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	char digest[STORE_DIGEST_HEX];
	json_t *doc = NULL;
	int r;

	if (!host_id || !ret_doc || !ret_digest)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, inventory_get(c, host_id, &doc, digest));
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	*ret_doc = doc;
	memcpy(ret_digest, digest, sizeof(digest));
	return 0;
}

/* ---- committing a delta ---- */

static void bind_item(sqlite3_stmt *q, int64_t host, const struct store_item_entry *e)
{
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, e->section);
	(void) store_sqlite_bind_text(q, 3, e->list);
	(void) store_sqlite_bind_text(q, 4, e->key);
}

/* Writes the item; -EBADMSG when the stored items do not fit the entry. */
static int write_item(struct store_sqlite_conn *c, int64_t host, const struct store_item_entry *e,
		      int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r;

	switch (e->op) {
	case STORE_ITEM_REMOVED:
		r = store_sqlite_stmt(c,
				      "DELETE FROM inventory_items WHERE host = ?1 AND section = ?2"
				      " AND list = ?3 AND key = ?4 AND value = ?5",
				      &q);
		break;
	case STORE_ITEM_CHANGED:
		r = store_sqlite_stmt(c,
				      "UPDATE inventory_items SET value = ?6, changed = ?7"
				      " WHERE host = ?1 AND section = ?2 AND list = ?3 AND key = ?4"
				      "   AND value = ?5",
				      &q);
		break;
	default:
		r = store_sqlite_stmt(
			c,
			"INSERT INTO inventory_items (host, section, list, key, value,"
			"   changed)"
			" VALUES (?1, ?2, ?3, ?4, ?6, ?7) ON CONFLICT DO NOTHING",
			&q);
		break;
	}
	if (r < 0)
		return r;
	bind_item(q, host, e);
	if (e->op != STORE_ITEM_ADDED)
		(void) store_sqlite_bind_text(q, 5, e->old_text);
	if (e->op != STORE_ITEM_REMOVED) {
		(void) store_sqlite_bind_text(q, 6, e->new_text);
		(void) sqlite3_bind_int64(q, 7, now);
	}
	r = store_sqlite_step(c, q, "writing an inventory item");
	if (r < 0)
		return r;
	return sqlite3_changes(c->db) == 1 ? 0 : -EBADMSG;
}

static int write_history(struct store_sqlite_conn *c, int64_t host,
			 const struct store_item_entry *e, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"INSERT INTO inventory_changes (host, section, list, key, time, op,"
		"   old, new)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		&q);

	if (r < 0)
		return r;
	bind_item(q, host, e);
	(void) sqlite3_bind_int64(q, 5, now);
	(void) store_sqlite_bind_text(q, 6, store_item_ops[e->op]);
	(void) store_sqlite_bind_text(q, 7, e->old_text);
	(void) store_sqlite_bind_text(q, 8, e->new_text);
	return store_sqlite_step(c, q, "recording an inventory change");
}

static const char *member(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

/* Keeps the software row of a software.packages item in step with it. */
static int write_software(struct store_sqlite_conn *c, int64_t host,
			  const struct store_item_entry *e)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	const char *name, *version;
	int r;

	if (e->op == STORE_ITEM_REMOVED) {
		r = store_sqlite_stmt(c, "DELETE FROM software WHERE host = ?1 AND item_key = ?2",
				      &q);
		if (r < 0)
			return r;
		(void) sqlite3_bind_int64(q, 1, host);
		(void) store_sqlite_bind_text(q, 2, e->key);
		return store_sqlite_step(c, q, "removing a software package");
	}
	r = store_sqlite_stmt(
		c,
		"INSERT INTO software (host, item_key, manager, name, arch, version,"
		"   source, source_version)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, coalesce(?7, ?4), coalesce(?8, ?6))"
		" ON CONFLICT (host, item_key) DO UPDATE SET"
		"   manager = excluded.manager, name = excluded.name,"
		"   arch = excluded.arch, version = excluded.version,"
		"   source = excluded.source, source_version = excluded.source_version",
		&q);
	if (r < 0)
		return r;
	name = member(e->new_v, "name");
	version = member(e->new_v, "version");
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, e->key);
	(void) store_sqlite_bind_text(q, 3, member(e->new_v, "manager") ?: "");
	(void) store_sqlite_bind_text(q, 4, name ?: "");
	(void) store_sqlite_bind_text(q, 5, member(e->new_v, "arch") ?: "");
	(void) store_sqlite_bind_text(q, 6, version);
	(void) store_sqlite_bind_text(q, 7, member(e->new_v, "source"));
	(void) store_sqlite_bind_text(q, 8, member(e->new_v, "source_version"));
	return store_sqlite_step(c, q, "writing a software package");
}

/* Copies the identity facts the host list shows from the new attributes item. */
static int write_identity(struct store_sqlite_conn *c, int64_t host,
			  const struct store_item_entry *e)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	json_t *attrs = e->op == STORE_ITEM_REMOVED ? NULL : e->new_v;
	int r = store_sqlite_stmt(
		c, "UPDATE hosts SET serial_number = ?2, chassis = ?3 WHERE num = ?1", &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, member(json_object_get(attrs, "dmi"), "serial"));
	(void) store_sqlite_bind_text(q, 3, member(attrs, "chassis"));
	return store_sqlite_step(c, q, "copying identity facts");
}

static int apply_entry(struct store_sqlite_conn *c, int64_t host, const struct store_item_entry *e,
		       int64_t now)
{
	int r = write_item(c, host, e, now);

	if (r >= 0)
		r = write_history(c, host, e, now);
	if (r >= 0 && streq(e->section, "software") && streq(e->list, "packages"))
		r = write_software(c, host, e);
	if (r >= 0 && streq(e->section, "identity") && !*e->list)
		r = write_identity(c, host, e);
	return r;
}

static int commit(struct store_sqlite_conn *c, const char *host_id, const char *base_digest,
		  const struct store_item_entries *es, const char *new_digest, int64_t now)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *h = NULL, *u = NULL;
	int64_t host;
	int r;

	r = store_sqlite_stmt(c,
			      "SELECT num, inventory_digest = ?2 FROM hosts"
			      " WHERE id = ?1 AND deleted IS NULL",
			      &h);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(h, 1, host_id);
	(void) store_sqlite_bind_text(h, 2, base_digest);
	r = store_sqlite_step(c, h, "finding a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	host = sqlite3_column_int64(h, 0);
	if (!sqlite3_column_int(h, 1))
		return -ESTALE;
	for (size_t i = 0; i < es->n; i++) {
		r = apply_entry(c, host, &es->v[i], now);
		if (r < 0)
			return r;
	}
	r = store_sqlite_stmt(c,
			      "UPDATE hosts SET inventory_digest = ?2, inventory_time = ?3"
			      " WHERE num = ?1",
			      &u);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(u, 1, host);
	(void) store_sqlite_bind_text(u, 2, new_digest);
	(void) sqlite3_bind_int64(u, 3, now);
	return store_sqlite_step(c, u, "recording the inventory digest");
}

int store_sqlite_inventory_commit(struct store *st, const char *host_id, const char *base_digest,
				  const json_t *delta, const char *new_digest, int64_t now,
				  size_t *ret_changes)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_item_entries es = {.v = NULL, .n = 0};
	struct store_sqlite_conn *c;
	int r;

	if (!host_id || !base_digest || !json_is_object(delta) || !new_digest ||
	    strlen(base_digest) >= STORE_DIGEST_HEX || strlen(new_digest) >= STORE_DIGEST_HEX)
		return -EINVAL;
	r = store_prep_delta(delta, &es);
	if (r < 0)
		goto out;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		goto out;
	r = store_sqlite_end(s, c, commit(c, host_id, base_digest, &es, new_digest, now));
	if (r >= 0 && ret_changes)
		*ret_changes = es.n;
out:
	store_prep_delta_done(&es);
	return r;
}

/* ---- the admin's views: software and history ---- */

static int software(struct store_sqlite_conn *c, const char *host_id, const char *search,
		    size_t limit, size_t offset, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *packages = json_array();
	_cleanup_(freep) char *pattern = search ? store_prep_like_pattern(search) : NULL;
	int64_t host;
	int r;

	if (!packages || (search && !pattern))
		return -ENOMEM;
	r = store_sqlite_host_num(c, host_id, &host);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT count(*) FROM software"
			      " WHERE host = ?1 AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\')",
			      &n);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(n, 1, host);
	(void) store_sqlite_bind_text(n, 2, pattern);
	r = store_sqlite_step(c, n, "counting software");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT i.value FROM software s JOIN inventory_items i"
			      "   ON i.host = s.host AND i.section = 'software'"
			      "   AND i.list = 'packages' AND i.key = s.item_key"
			      " WHERE s.host = ?1 AND (?2 IS NULL OR s.name LIKE ?2 ESCAPE '\\')"
			      " ORDER BY s.name, s.arch, s.item_key LIMIT ?3 OFFSET ?4",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	(void) store_sqlite_bind_text(q, 2, pattern);
	(void) sqlite3_bind_int64(q, 3, (int64_t) limit);
	(void) sqlite3_bind_int64(q, 4, (int64_t) offset);
	while ((r = store_sqlite_step(c, q, "listing software")) > 0)
		if (jsonw_append(packages, store_sqlite_column_json(q, 0)) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	*ret = json_pack("{sOsI}", "packages", packages, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_inventory_software(struct store *st, const char *host_id, const char *search,
				    size_t limit, size_t offset, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id || limit < 1 || limit > 1000 || offset > INT64_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, software(c, host_id, search, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static json_t *column_text_or_null(sqlite3_stmt *q, int i)
{
	const char *t = (const char *) sqlite3_column_text(q, i);

	return t && *t ? json_string(t) : json_null();
}

static int history(struct store_sqlite_conn *c, const char *host_id, int64_t since, size_t limit,
		   size_t offset, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *changes = json_array();
	int64_t host;
	int r;

	if (!changes)
		return -ENOMEM;
	r = store_sqlite_host_num(c, host_id, &host);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(
		c, "SELECT count(*) FROM inventory_changes WHERE host = ?1 AND time >= ?2", &n);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(n, 1, host);
	(void) sqlite3_bind_int64(n, 2, since);
	r = store_sqlite_step(c, n, "counting changes");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT id, time, section, list, key, op, old, new"
			      " FROM inventory_changes WHERE host = ?1 AND time >= ?2"
			      " ORDER BY time DESC, id DESC LIMIT ?3 OFFSET ?4",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	(void) sqlite3_bind_int64(q, 2, since);
	(void) sqlite3_bind_int64(q, 3, (int64_t) limit);
	(void) sqlite3_bind_int64(q, 4, (int64_t) offset);
	while ((r = store_sqlite_step(c, q, "listing changes")) > 0) {
		const char *key = (const char *) sqlite3_column_text(q, 4);
		json_t *ch = json_object();

		if (jsonw_append(changes, ch) < 0 ||
		    jsonw_set(ch, "id", store_sqlite_column_int(q, 0)) < 0 ||
		    jsonw_set(ch, "time", store_sqlite_column_int(q, 1)) < 0 ||
		    jsonw_set(ch, "section", store_sqlite_column_string(q, 2)) < 0 ||
		    jsonw_set(ch, "list", column_text_or_null(q, 3)) < 0 ||
		    jsonw_set(ch, "key",
			      key && *key ? store_sqlite_column_json(q, 4) : json_null()) < 0 ||
		    jsonw_set(ch, "op", store_sqlite_column_string(q, 5)) < 0 ||
		    jsonw_set(ch, "old", store_sqlite_column_json(q, 6)) < 0 ||
		    jsonw_set(ch, "new", store_sqlite_column_json(q, 7)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsI}", "changes", changes, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_inventory_history(struct store *st, const char *host_id, int64_t since,
				   size_t limit, size_t offset, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id || limit < 1 || limit > 1000 || offset > INT64_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, history(c, host_id, since, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
