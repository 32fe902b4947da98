/*
 * Inventories in the PostgreSQL store: each host's document as items (lib/invdiff.h),
 * their change history and the typed software view — the same tables, rules and results
 * as store_sqlite_inventory.c, whose comment explains them.
 *
 * What differs is the number of round trips: SQLite is in-process, so it applies a delta
 * entry by entry; here each kind of write is one statement over arrays of the whole delta
 * (unnest), so a 5,000-package first upload costs about eight round trips, not 15,000.
 * The result is the same because a delta's entries address distinct items: the removals
 * go first, then the changes, then the additions (the order SQLite applies them in within
 * a section, and items of different sections never meet), and each statement's row count
 * must equal its number of entries — a removal or change whose old value does not match,
 * or an addition of an item that exists, leaves the count short and the whole commit is
 * refused with -EBADMSG and rolled back, exactly as there. History rows are numbered in
 * the order the entries apply (WITH ORDINALITY), as SQLite numbers them.
 *
 * Two uploads for one host serialise on the host's row (SELECT … FOR UPDATE), and the
 * digest is compared after the lock is granted: the second finds the digest moved and
 * gets -ESTALE, whichever server it came through.
 */
#include <errno.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "server/store_pg.h"

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

static int inventory_get(struct store_pg_conn *c, const char *host_id, json_t **ret_doc,
			 char ret_digest[STORE_DIGEST_HEX])
{
	struct store_pg_params ph = {.n = 0}, p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *h = NULL, *q = NULL;
	_cleanup_(json_decrefp) json_t *doc = json_object();
	int n;

	if (!doc)
		return -ENOMEM;
	store_pg_text(&ph, host_id);
	n = store_pg_exec(c,
			  "SELECT num, inventory_digest FROM hosts"
			  " WHERE id = $1 AND deleted IS NULL",
			  &ph, "finding a host", &h);
	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	store_pg_text(&p, PQgetvalue(h, 0, 0));
	n = store_pg_exec(c,
			  "SELECT section, list, value FROM inventory_items WHERE host = $1"
			  " ORDER BY section, list, key",
			  &p, "reading an inventory", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		_cleanup_(json_decrefp) json_t *value = store_pg_json_value(q, i, 2);
		int r;

		if (!value)
			return -ENOMEM;
		r = add_item(doc, PQgetvalue(q, i, 0), PQgetvalue(q, i, 1), value);
		if (r < 0)
			return r;
	}
	n = store_pg_get_copy(h, 0, 1, ret_digest, STORE_DIGEST_HEX);
	if (n < 0)
		return n;
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

int store_pg_inventory_get(struct store *st, const char *host_id, json_t **ret_doc,
			   char ret_digest[STORE_DIGEST_HEX])
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	char digest[STORE_DIGEST_HEX];
	json_t *doc = NULL;
	int r;

	if (!host_id || !ret_doc || !ret_digest)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, inventory_get(c, host_id, &doc, digest));
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	*ret_doc = doc;
	memcpy(ret_digest, digest, sizeof(digest));
	return 0;
}

/* ---- committing a delta ---- */

/* Array parameters of one statement: up to 7 columns, and how many rows they hold. */
struct arrays {
	struct buf col[7];
	size_t ncol, rows;
};

static void arrays_init(struct arrays *a, size_t ncol)
{
	a->ncol = ncol;
	a->rows = 0;
	for (size_t i = 0; i < ARRAY_SIZE(a->col); i++)
		store_pg_array_init(&a->col[i]);
}

static void arrays_done(struct arrays *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(a->col); i++)
		buf_done(&a->col[i]);
}

/* Adds one row of a->ncol values. */
static int arrays_add(struct arrays *a, const char *const *v)
{
	for (size_t i = 0; i < a->ncol; i++) {
		int r = store_pg_array_add(&a->col[i], v[i]);

		if (r < 0)
			return r;
	}
	a->rows++;
	return 0;
}

static int arrays_end(struct arrays *a)
{
	for (size_t i = 0; i < a->ncol; i++) {
		int r = store_pg_array_end(&a->col[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static void arrays_params(const struct arrays *a, struct store_pg_params *p)
{
	for (size_t i = 0; i < a->ncol; i++)
		store_pg_text(p, buf_str(&a->col[i]));
}

static const char *member(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

/* The delta as the array parameters of each statement commit() runs. */
struct plan {
	struct arrays removed;  /* section, list, key, old */
	struct arrays changed;  /* section, list, key, old, new */
	struct arrays added;    /* section, list, key, new */
	struct arrays history;  /* section, list, key, op, old, new */
	struct arrays sw_gone;  /* item_key */
	struct arrays sw_write; /* item_key, manager, name, arch, version, source, source_version */
	const struct store_item_entry *identity; /* the last entry on identity's attributes */
};

static void plan_done(struct plan *pl)
{
	arrays_done(&pl->removed);
	arrays_done(&pl->changed);
	arrays_done(&pl->added);
	arrays_done(&pl->history);
	arrays_done(&pl->sw_gone);
	arrays_done(&pl->sw_write);
}

static int plan_entry(struct plan *pl, const struct store_item_entry *e)
{
	const char *item[] = {e->section, e->list, e->key, NULL, NULL};
	const char *hist[] = {e->section,  e->list,    e->key, store_item_ops[e->op],
			      e->old_text, e->new_text};
	int r;

	switch (e->op) {
	case STORE_ITEM_REMOVED:
		item[3] = e->old_text;
		r = arrays_add(&pl->removed, item);
		break;
	case STORE_ITEM_CHANGED:
		item[3] = e->old_text;
		item[4] = e->new_text;
		r = arrays_add(&pl->changed, item);
		break;
	default:
		item[3] = e->new_text;
		r = arrays_add(&pl->added, item);
		break;
	}
	if (r >= 0)
		r = arrays_add(&pl->history, hist);
	if (r >= 0 && streq(e->section, "software") && streq(e->list, "packages")) {
		if (e->op == STORE_ITEM_REMOVED) {
			r = arrays_add(&pl->sw_gone, (const char *const[]){e->key});
		} else {
			const char *sw[] = {e->key,
					    member(e->new_v, "manager") ?: "",
					    member(e->new_v, "name") ?: "",
					    member(e->new_v, "arch") ?: "",
					    member(e->new_v, "version"),
					    member(e->new_v, "source"),
					    member(e->new_v, "source_version")};

			r = arrays_add(&pl->sw_write, sw);
		}
	}
	if (streq(e->section, "identity") && !*e->list)
		pl->identity = e;
	return r;
}

static int plan_build(const struct store_item_entries *es, struct plan *pl)
{
	int r = 0;

	arrays_init(&pl->removed, 4);
	arrays_init(&pl->changed, 5);
	arrays_init(&pl->added, 4);
	arrays_init(&pl->history, 6);
	arrays_init(&pl->sw_gone, 1);
	arrays_init(&pl->sw_write, 7);
	pl->identity = NULL;
	for (size_t i = 0; i < es->n && r >= 0; i++)
		r = plan_entry(pl, &es->v[i]);
	if (r >= 0)
		r = arrays_end(&pl->removed);
	if (r >= 0)
		r = arrays_end(&pl->changed);
	if (r >= 0)
		r = arrays_end(&pl->added);
	if (r >= 0)
		r = arrays_end(&pl->history);
	if (r >= 0)
		r = arrays_end(&pl->sw_gone);
	if (r >= 0)
		r = arrays_end(&pl->sw_write);
	return r;
}

/* Runs sql over a's arrays ($2…) for host ($1) and extra integer `x` (the last $). The
 * statement must change exactly a->rows rows, else the items do not fit: -EBADMSG. */
static int write_items(struct store_pg_conn *c, const char *sql, int64_t host,
		       const struct arrays *a, int64_t x, const char *what)
{
	struct store_pg_params p = {.n = 0};
	int r;

	if (!a->rows)
		return 0;
	store_pg_int(&p, host);
	arrays_params(a, &p);
	store_pg_int(&p, x);
	r = store_pg_exec(c, sql, &p, what, NULL);
	if (r < 0)
		return r;
	return (size_t) r == a->rows ? 0 : -EBADMSG;
}

static int write_history(struct store_pg_conn *c, int64_t host, const struct plan *pl, int64_t now)
{
	struct store_pg_params p = {.n = 0};
	int r;

	if (!pl->history.rows)
		return 0;
	store_pg_int(&p, host);
	arrays_params(&pl->history, &p);
	store_pg_int(&p, now);
	r = store_pg_exec(c,
			  "INSERT INTO inventory_changes (host, time, section, list, key, op,"
			  "   old, new)"
			  " SELECT $1::bigint, $8::bigint, s, l, k, o, a, b"
			  " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
			  "   $7::text[]) WITH ORDINALITY AS u(s, l, k, o, a, b, n)"
			  " ORDER BY n",
			  &p, "recording inventory changes", NULL);
	return r < 0 ? r : 0;
}

static int write_software(struct store_pg_conn *c, int64_t host, const struct plan *pl)
{
	int r;

	if (pl->sw_gone.rows) {
		struct store_pg_params p = {.n = 0};

		store_pg_int(&p, host);
		arrays_params(&pl->sw_gone, &p);
		r = store_pg_exec(c,
				  "DELETE FROM software WHERE host = $1::bigint"
				  "   AND item_key = ANY($2::text[])",
				  &p, "removing software packages", NULL);
		if (r < 0)
			return r;
	}
	if (pl->sw_write.rows) {
		struct store_pg_params p = {.n = 0};

		store_pg_int(&p, host);
		arrays_params(&pl->sw_write, &p);
		r = store_pg_exec(
			c,
			"INSERT INTO software (host, item_key, manager, name, arch, version,"
			"   source, source_version)"
			" SELECT $1::bigint, k, m, n, a, v, coalesce(s, n), coalesce(sv, v)"
			" FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
			"   $7::text[], $8::text[]) AS u(k, m, n, a, v, s, sv)"
			" ON CONFLICT (host, item_key) DO UPDATE SET"
			"   manager = excluded.manager, name = excluded.name,"
			"   arch = excluded.arch, version = excluded.version,"
			"   source = excluded.source, source_version = excluded.source_version",
			&p, "writing software packages", NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Copies the identity facts the host list shows from the last attributes entry. */
static int write_identity(struct store_pg_conn *c, int64_t host, const struct plan *pl)
{
	const struct store_item_entry *e = pl->identity;
	json_t *attrs = e && e->op != STORE_ITEM_REMOVED ? e->new_v : NULL;
	struct store_pg_params p = {.n = 0};
	int r;

	if (!e)
		return 0;
	store_pg_int(&p, host);
	store_pg_text(&p, member(json_object_get(attrs, "dmi"), "serial"));
	store_pg_text(&p, member(attrs, "chassis"));
	r = store_pg_exec(c, "UPDATE hosts SET serial_number = $2, chassis = $3 WHERE num = $1", &p,
			  "copying identity facts", NULL);
	return r < 0 ? r : 0;
}

static int commit(struct store_pg_conn *c, const char *host_id, const char *base_digest,
		  const struct plan *pl, const char *new_digest, int64_t now)
{
	struct store_pg_params ph = {.n = 0}, pu = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *h = NULL;
	int64_t host;
	int r;

	store_pg_text(&ph, host_id);
	store_pg_text(&ph, base_digest);
	r = store_pg_exec(c,
			  "SELECT num, inventory_digest = $2 FROM hosts"
			  " WHERE id = $1 AND deleted IS NULL FOR UPDATE",
			  &ph, "finding a host", &h);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	host = store_pg_get_int(h, 0, 0);
	if (!streq(PQgetvalue(h, 0, 1), "t"))
		return -ESTALE;
	r = write_items(c,
			"DELETE FROM inventory_items i"
			" USING unnest($2::text[], $3::text[], $4::text[], $5::text[])"
			"   AS d(section, list, key, old)"
			" WHERE i.host = $1::bigint AND i.section = d.section AND i.list = d.list"
			"   AND i.key = d.key AND i.value = d.old AND $6::bigint IS NOT NULL",
			host, &pl->removed, now, "removing inventory items");
	if (r >= 0)
		r = write_items(c,
				"UPDATE inventory_items i SET value = d.new, changed = $7::bigint"
				" FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],"
				"   $6::text[]) AS d(section, list, key, old, new)"
				" WHERE i.host = $1::bigint AND i.section = d.section"
				"   AND i.list = d.list AND i.key = d.key AND i.value = d.old",
				host, &pl->changed, now, "changing inventory items");
	if (r >= 0)
		r = write_items(c,
				"INSERT INTO inventory_items (host, section, list, key, value,"
				"   changed)"
				" SELECT $1::bigint, s, l, k, v, $6::bigint"
				" FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])"
				"   AS u(s, l, k, v)"
				" ON CONFLICT DO NOTHING",
				host, &pl->added, now, "adding inventory items");
	if (r >= 0)
		r = write_history(c, host, pl, now);
	if (r >= 0)
		r = write_software(c, host, pl);
	if (r >= 0)
		r = write_identity(c, host, pl);
	if (r < 0)
		return r;
	store_pg_int(&pu, host);
	store_pg_text(&pu, new_digest);
	store_pg_int(&pu, now);
	r = store_pg_exec(c,
			  "UPDATE hosts SET inventory_digest = $2, inventory_time = $3"
			  " WHERE num = $1",
			  &pu, "recording the inventory digest", NULL);
	return r < 0 ? r : 0;
}

int store_pg_inventory_commit(struct store *st, const char *host_id, const char *base_digest,
			      const json_t *delta, const char *new_digest, int64_t now,
			      size_t *ret_changes)
{
	struct store_pg *s = store_pg_of(st);
	struct store_item_entries es = {.v = NULL, .n = 0};
	struct plan pl;
	struct store_pg_conn *c;
	int r;

	if (!host_id || !base_digest || !json_is_object(delta) || !new_digest ||
	    strlen(base_digest) >= STORE_DIGEST_HEX || strlen(new_digest) >= STORE_DIGEST_HEX)
		return -EINVAL;
	/* everything is parsed and serialised before a connection is taken */
	r = store_prep_delta(delta, &es);
	if (r < 0) {
		store_prep_delta_done(&es);
		return r;
	}
	r = plan_build(&es, &pl);
	if (r < 0)
		goto out;
	r = store_pg_begin(s, STORE_PG_WRITE_ASYNC, &c);
	if (r < 0)
		goto out;
	r = store_pg_end(s, c, commit(c, host_id, base_digest, &pl, new_digest, now));
	if (r >= 0 && ret_changes)
		*ret_changes = es.n;
out:
	plan_done(&pl);
	store_prep_delta_done(&es);
	return r;
}

/* ---- the admin's views: software and history ---- */

static int software(struct store_pg_conn *c, const char *host_id, const char *search, size_t limit,
		    size_t offset, json_t **ret)
{
	struct store_pg_params pn = {.n = 0}, pq = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *packages = json_array();
	_cleanup_(freep) char *pattern = search ? store_prep_like_pattern(search) : NULL;
	int64_t host;
	int r;

	if (!packages || (search && !pattern))
		return -ENOMEM;
	r = store_pg_host_num(c, host_id, false, &host);
	if (r < 0)
		return r;
	store_pg_int(&pn, host);
	store_pg_text(&pn, pattern);
	r = store_pg_exec(c,
			  "SELECT count(*) FROM software"
			  " WHERE host = $1 AND ($2::text IS NULL OR name ILIKE $2 ESCAPE '\\')",
			  &pn, "counting software", &n);
	if (r < 0)
		return r;
	store_pg_int(&pq, host);
	store_pg_text(&pq, pattern);
	store_pg_int(&pq, (int64_t) limit);
	store_pg_int(&pq, (int64_t) offset);
	r = store_pg_exec(c,
			  "SELECT i.value FROM software s JOIN inventory_items i"
			  "   ON i.host = s.host AND i.section = 'software'"
			  "   AND i.list = 'packages' AND i.key = s.item_key"
			  " WHERE s.host = $1 AND ($2::text IS NULL OR s.name ILIKE $2 ESCAPE '\\')"
			  " ORDER BY s.name, s.arch, s.item_key LIMIT $3 OFFSET $4",
			  &pq, "listing software", &q);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++)
		if (jsonw_append(packages, store_pg_json_value(q, i, 0)) < 0)
			return -ENOMEM;
	*ret = json_pack("{sOsI}", "packages", packages, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_inventory_software(struct store *st, const char *host_id, const char *search,
				size_t limit, size_t offset, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id || limit < 1 || limit > 1000 || offset > INT64_MAX)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, software(c, host_id, search, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static json_t *text_or_null(const PGresult *q, int row, int col)
{
	const char *t = store_pg_get(q, row, col);

	return t && *t ? json_string(t) : json_null();
}

static int history(struct store_pg_conn *c, const char *host_id, int64_t since, size_t limit,
		   size_t offset, json_t **ret)
{
	struct store_pg_params pn = {.n = 0}, pq = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *changes = json_array();
	int64_t host;
	int r;

	if (!changes)
		return -ENOMEM;
	r = store_pg_host_num(c, host_id, false, &host);
	if (r < 0)
		return r;
	store_pg_int(&pn, host);
	store_pg_int(&pn, since);
	r = store_pg_exec(c,
			  "SELECT count(*) FROM inventory_changes WHERE host = $1 AND time >= $2",
			  &pn, "counting changes", &n);
	if (r < 0)
		return r;
	store_pg_int(&pq, host);
	store_pg_int(&pq, since);
	store_pg_int(&pq, (int64_t) limit);
	store_pg_int(&pq, (int64_t) offset);
	r = store_pg_exec(c,
			  "SELECT id, time, section, list, key, op, old, new"
			  " FROM inventory_changes WHERE host = $1 AND time >= $2"
			  " ORDER BY time DESC, id DESC LIMIT $3 OFFSET $4",
			  &pq, "listing changes", &q);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++) {
		const char *key = store_pg_get(q, i, 4);
		json_t *ch = json_object();

		if (jsonw_append(changes, ch) < 0 ||
		    jsonw_set(ch, "id", store_pg_json_int(q, i, 0)) < 0 ||
		    jsonw_set(ch, "time", store_pg_json_int(q, i, 1)) < 0 ||
		    jsonw_set(ch, "section", store_pg_json_string(q, i, 2)) < 0 ||
		    jsonw_set(ch, "list", text_or_null(q, i, 3)) < 0 ||
		    jsonw_set(ch, "key", key && *key ? store_pg_json_value(q, i, 4) : json_null()) <
			    0 ||
		    jsonw_set(ch, "op", store_pg_json_string(q, i, 5)) < 0 ||
		    jsonw_set(ch, "old", store_pg_json_value(q, i, 6)) < 0 ||
		    jsonw_set(ch, "new", store_pg_json_value(q, i, 7)) < 0)
			return -ENOMEM;
	}
	*ret = json_pack("{sOsI}", "changes", changes, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_inventory_history(struct store *st, const char *host_id, int64_t since, size_t limit,
			       size_t offset, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id || limit < 1 || limit > 1000 || offset > INT64_MAX)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, history(c, host_id, since, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
