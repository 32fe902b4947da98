/*
 * USB control in the SQLite store: policy versions, the device registry (管理デバイス) and
 * temporary grants (一時利用許可), and the one read that gathers what a host's policy
 * document depends on.
 *
 * Policies are append-only: a change is a new row with the next version number (the
 * table's rowid, one sequence over every scope), and triggers refuse UPDATE and DELETE, so
 * the history an auditor reads is the history that was. The scope is one text column,
 * "all", "group:NAME" or "host:ID", exactly as the API names it.
 *
 * The registry keeps each device's tags twice: as a JSON array in devices.tags (what the
 * API shows) and one row per tag in device_tags, indexed by tag, because the question the
 * policy document asks is "which devices carry one of these tags" and must not scan the
 * registry. Both are written in the same transaction.
 *
 * Writes are administrators' actions and run with synchronous=FULL, like the audit trail
 * that records them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

#define LIST_MAX 1000u

/* ---- policies ---- */

static int policy_create(struct store_sqlite_conn *c, const struct store_policy *p,
			 const char *tags, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	const char *host = str_startswith(p->scope, "host:");
	int64_t num;
	int r;

	if (host) {
		r = store_sqlite_host_num(c, host, &num);
		if (r < 0)
			return r;
	}
	r = store_sqlite_stmt(c,
			      "INSERT INTO policies (scope, rules, tags, rule_count, comment,"
			      "   created, created_by)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING version",
			      &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, p->scope);
	(void) store_sqlite_bind_text(q, 2, p->rules);
	(void) store_sqlite_bind_text(q, 3, tags);
	(void) sqlite3_bind_int64(q, 4, (int64_t) p->rule_count);
	(void) store_sqlite_bind_text(q, 5, p->comment);
	(void) sqlite3_bind_int64(q, 6, p->created);
	(void) store_sqlite_bind_text(q, 7, p->created_by);
	r = store_sqlite_step(c, q, "storing a policy");
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = sqlite3_column_int64(q, 0);
	return store_sqlite_step(c, q, "storing a policy");
}

static bool scope_ok(const char *s)
{
	return s && (streq(s, "all") || (str_startswith(s, "group:") && s[6]) ||
		     (str_startswith(s, "host:") && s[5]));
}

int store_sqlite_policy_create(struct store *st, const struct store_policy *p, int64_t *ret_version)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	_cleanup_(freep) char *tags = NULL;
	int64_t version = 0;
	int r;

	if (!p || !scope_ok(p->scope) || !p->rules || !json_is_array(p->tags) || !p->created_by)
		return -EINVAL;
	tags = jsonw_dump(p->tags);
	if (!tags)
		return -ENOMEM;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, policy_create(c, p, tags, &version));
	if (r >= 0)
		*ret_version = version;
	return r;
}

/* The columns every policy listing selects, in this order. */
#define POLICY_COLUMNS "p.scope, p.version, p.created, p.created_by, p.comment, p.rule_count"

static json_t *policy_row(sqlite3_stmt *q)
{
	json_t *o = json_object();

	if (!o || jsonw_set(o, "scope", store_sqlite_column_string(q, 0)) < 0 ||
	    jsonw_set(o, "version", store_sqlite_column_int(q, 1)) < 0 ||
	    jsonw_set(o, "created", store_sqlite_column_int(q, 2)) < 0 ||
	    jsonw_set(o, "created_by", store_sqlite_column_string(q, 3)) < 0 ||
	    jsonw_set(o, "comment", store_sqlite_column_string(q, 4)) < 0 ||
	    jsonw_set(o, "rule_count", store_sqlite_column_int(q, 5)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int policy_list(struct store_sqlite_conn *c, const char *scope, size_t limit, size_t offset,
		       json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *cur = NULL, *hist = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *current = json_array(), *history = json_array();
	int r;

	if (!current || !history)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT " POLICY_COLUMNS " FROM policies p"
			      " WHERE p.version = (SELECT max(version) FROM policies q"
			      "                     WHERE q.scope = p.scope)"
			      " ORDER BY p.scope <> 'all', p.scope",
			      &cur);
	if (r < 0)
		return r;
	while ((r = store_sqlite_step(c, cur, "listing policies")) > 0)
		if (jsonw_append(current, policy_row(cur)) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT " POLICY_COLUMNS " FROM policies p"
			      " WHERE ?1 IS NULL OR p.scope = ?1"
			      " ORDER BY p.version DESC LIMIT ?2 OFFSET ?3",
			      &hist);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(hist, 1, scope);
	(void) sqlite3_bind_int64(hist, 2, (int64_t) limit);
	(void) sqlite3_bind_int64(hist, 3, (int64_t) offset);
	while ((r = store_sqlite_step(c, hist, "listing policy versions")) > 0)
		if (jsonw_append(history, policy_row(hist)) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "SELECT count(*) FROM policies WHERE ?1 IS NULL OR scope = ?1",
			      &n);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(n, 1, scope);
	r = store_sqlite_step(c, n, "counting policy versions");
	if (r < 0)
		return r;
	*ret = json_pack("{sOsOsI}", "current", current, "history", history, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_policy_list(struct store *st, const char *scope, size_t limit, size_t offset,
			     json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > LIST_MAX || offset > INT32_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, policy_list(c, scope, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* One version with its rules, tags and place in its scope's history. */
static int policy_get(struct store_sqlite_conn *c, int64_t version, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(json_decrefp) json_t *o = NULL;
	json_t *tags;
	int r = store_sqlite_stmt(c,
				  "SELECT " POLICY_COLUMNS ", p.rules, p.tags,"
				  "   (SELECT min(version) FROM policies q"
				  "     WHERE q.scope = p.scope AND q.version > p.version)"
				  " FROM policies p WHERE p.version = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, version);
	r = store_sqlite_step(c, q, "reading a policy");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	o = policy_row(q);
	tags = store_sqlite_column_json(q, 7);
	if (!o || jsonw_set(o, "tags", tags) < 0 ||
	    jsonw_set(o, "rules", store_sqlite_column_string(q, 6)) < 0 ||
	    jsonw_set(o, "superseded_by", store_sqlite_column_int(q, 8)) < 0 ||
	    jsonw_set(o, "current", json_boolean(sqlite3_column_type(q, 8) == SQLITE_NULL)) < 0)
		return -ENOMEM;
	if (!json_is_array(tags))
		return -EIO; /* store_sqlite_column_json() logged the corruption */
	*ret = TAKE_PTR(o);
	return 0;
}

int store_sqlite_policy_get(struct store *st, int64_t version, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, policy_get(c, version, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* Appends {"scope", "version"} to candidates when the scope has a policy. */
static int candidate(struct store_sqlite_conn *c, const char *scope, json_t *candidates)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "SELECT max(version) FROM policies WHERE scope = ?1", &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, scope);
	r = store_sqlite_step(c, q, "finding a policy");
	if (r < 0)
		return r;
	if (sqlite3_column_type(q, 0) == SQLITE_NULL)
		return 0;
	return jsonw_append(candidates, json_pack("{s:s, s:I}", "scope", scope, "version",
						  (json_int_t) sqlite3_column_int64(q, 0)));
}

static char *hex4(sqlite3_stmt *q, int i)
{
	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return NULL;
	return mm_asprintf("%04x", (unsigned) sqlite3_column_int(q, i) & 0xffffu);
}

/* A column holding a USB id as a JSON string of 4 hex digits, or JSON null. */
static json_t *column_id(sqlite3_stmt *q, int i)
{
	_cleanup_(freep) char *s = NULL;

	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return json_null();
	s = hex4(q, i);
	return s ? json_string(s) : NULL;
}

/* {tag: revision} for each of `tags` (a JSON array's text); 0 for a tag never used. */
static int revisions_for(struct store_sqlite_conn *c, const char *tags, json_t *revs)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "SELECT j.value, coalesce(t.rev, 0) FROM json_each(?1) j"
				  " LEFT JOIN tag_revisions t ON t.tag = j.value",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, tags);
	while ((r = store_sqlite_step(c, q, "reading tag revisions")) > 0) {
		const char *tag = (const char *) sqlite3_column_text(q, 0);

		if (!tag)
			return -EIO;
		if (json_object_set_new(revs, tag, json_integer(sqlite3_column_int64(q, 1))) < 0)
			return -ENOMEM;
	}
	return r;
}

/* The registered devices carrying one of `tags` (a JSON array's text), with those tags. */
static int registry_for(struct store_sqlite_conn *c, const char *tags, json_t *registry)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	json_t *last = NULL;
	int r = store_sqlite_stmt(c,
				  "SELECT d.serial, d.vendor, d.product, t.tag"
				  " FROM device_tags t JOIN devices d ON d.serial = t.serial"
				  " WHERE t.tag IN (SELECT value FROM json_each(?1))"
				  " ORDER BY d.serial, t.tag",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, tags);
	while ((r = store_sqlite_step(c, q, "reading the device registry")) > 0) {
		const char *serial = (const char *) sqlite3_column_text(q, 0);
		const char *prev = json_string_value(json_object_get(last, "serial"));

		if (!serial)
			return -EIO;
		if (!prev || !streq(prev, serial)) {
			last = json_object();
			if (jsonw_append(registry, last) < 0 ||
			    jsonw_set(last, "serial", store_sqlite_column_string(q, 0)) < 0 ||
			    jsonw_set(last, "vendor", column_id(q, 1)) < 0 ||
			    jsonw_set(last, "product", column_id(q, 2)) < 0 ||
			    jsonw_set(last, "tags", json_array()) < 0)
				return -ENOMEM;
		}
		if (jsonw_append(json_object_get(last, "tags"), store_sqlite_column_string(q, 3)) <
		    0)
			return -ENOMEM;
	}
	return r;
}

static int live_grants(struct store_sqlite_conn *c, const char *host_id, int64_t now,
		       json_t *grants)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "SELECT id, serial, host_id, user_name, expires FROM grants"
				  " WHERE revoked IS NULL AND expires > ?2"
				  "   AND (host_id = ?1 OR user_name IS NOT NULL)"
				  " ORDER BY id",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, host_id);
	(void) sqlite3_bind_int64(q, 2, now);
	while ((r = store_sqlite_step(c, q, "reading grants")) > 0) {
		json_t *g = json_object();
		bool by_host = sqlite3_column_type(q, 2) != SQLITE_NULL;

		if (jsonw_append(grants, g) < 0 ||
		    jsonw_set(g, "id", store_sqlite_column_string(q, 0)) < 0 ||
		    jsonw_set(g, "serial", store_sqlite_column_string(q, 1)) < 0 ||
		    jsonw_set(g, by_host ? "host_id" : "user",
			      store_sqlite_column_string(q, by_host ? 2 : 3)) < 0 ||
		    jsonw_set(g, "expires", store_sqlite_column_int(q, 4)) < 0)
			return -ENOMEM;
	}
	return r;
}

static int policy_inputs(struct store_sqlite_conn *c, const char *host_id, int64_t now,
			 bool with_registry, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *h = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL, *candidates = json_array();
	_cleanup_(json_decrefp) json_t *registry = json_array(), *grants = json_array();
	_cleanup_(json_decrefp) json_t *revs = json_object();
	_cleanup_(freep) char *host_scope = NULL, *group_scope = NULL, *tags = NULL;
	json_t *policy = NULL;
	int r;

	if (!candidates || !registry || !grants || !revs)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT id, hostname, group_name FROM hosts"
			      " WHERE id = ?1 AND deleted IS NULL",
			      &h);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(h, 1, host_id);
	r = store_sqlite_step(c, h, "reading a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	host_scope = mm_asprintf("host:%s", host_id);
	if (sqlite3_column_type(h, 2) != SQLITE_NULL)
		group_scope = mm_asprintf("group:%s", (const char *) sqlite3_column_text(h, 2));
	if (!host_scope || (sqlite3_column_type(h, 2) != SQLITE_NULL && !group_scope))
		return -ENOMEM;
	/* most specific first: the host's own, its group's, everyone's */
	if ((r = candidate(c, host_scope, candidates)) < 0 ||
	    (group_scope && (r = candidate(c, group_scope, candidates)) < 0) ||
	    (r = candidate(c, "all", candidates)) < 0)
		return r;
	if (json_array_size(candidates) > 0) {
		json_t *first = json_array_get(candidates, 0);

		r = policy_get(c, json_integer_value(json_object_get(first, "version")), &policy);
		if (r < 0)
			return r;
		tags = jsonw_dump(json_object_get(policy, "tags"));
		if (!tags) {
			json_decref(policy);
			return -ENOMEM;
		}
	}
	out = json_object();
	if (!out) {
		json_decref(policy);
		return -ENOMEM;
	}
	if (jsonw_set(out, "policy", policy ? policy : json_null()) < 0 ||
	    jsonw_set(out, "host_id", json_string(host_id)) < 0 ||
	    jsonw_set(out, "hostname", store_sqlite_column_string(h, 1)) < 0 ||
	    jsonw_set(out, "group", store_sqlite_column_string(h, 2)) < 0 ||
	    jsonw_set(out, "candidates", json_incref(candidates)) < 0 ||
	    jsonw_set(out, "tag_revisions", json_incref(revs)) < 0 ||
	    (with_registry && jsonw_set(out, "registry", json_incref(registry)) < 0) ||
	    jsonw_set(out, "grants", json_incref(grants)) < 0)
		return -ENOMEM;
	if (tags && (r = revisions_for(c, tags, revs)) < 0)
		return r;
	if (tags && with_registry && (r = registry_for(c, tags, registry)) < 0)
		return r;
	r = live_grants(c, host_id, now, grants);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_sqlite_policy_inputs(struct store *st, const char *host_id, int64_t now, bool registry,
			       json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, policy_inputs(c, host_id, now, registry, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- the device registry ---- */

/*
 * Moves the revision of every tag the device `serial` carries now: a policy document
 * holding the registry entries of a tag must be sent again (store_policy_inputs()).
 */
static int bump_revisions(struct store_sqlite_conn *c, const char *serial)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "INSERT INTO tag_revisions (tag, rev)"
				  " SELECT tag, 1 FROM device_tags WHERE serial = ?1 AND true"
				  " ON CONFLICT (tag) DO UPDATE SET rev = rev + 1",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, serial);
	return store_sqlite_step(c, q, "moving tag revisions");
}

static int device_put(struct store_sqlite_conn *c, const struct store_device *d, int64_t now,
		      const char *actor, bool *ret_created)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *e = NULL, *q = NULL, *del = NULL, *t = NULL;
	_cleanup_(freep) char *tags = jsonw_dump(d->tags);
	json_t *tag;
	size_t i;
	int r;

	if (!tags)
		return -ENOMEM;
	r = store_sqlite_stmt(c, "SELECT 1 FROM devices WHERE serial = ?1", &e);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(e, 1, d->serial);
	r = store_sqlite_step(c, e, "finding a device");
	if (r < 0)
		return r;
	*ret_created = r == 0;
	r = store_sqlite_stmt(c,
			      "INSERT INTO devices (serial, vendor, product, owner, note, tags,"
			      "   created, updated, updated_by)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)"
			      " ON CONFLICT (serial) DO UPDATE SET vendor = excluded.vendor,"
			      "   product = excluded.product, owner = excluded.owner,"
			      "   note = excluded.note, tags = excluded.tags,"
			      "   updated = excluded.updated, updated_by = excluded.updated_by",
			      &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, d->serial);
	if (d->vendor >= 0)
		(void) sqlite3_bind_int(q, 2, d->vendor);
	if (d->product >= 0)
		(void) sqlite3_bind_int(q, 3, d->product);
	(void) store_sqlite_bind_text(q, 4, d->owner);
	(void) store_sqlite_bind_text(q, 5, d->note);
	(void) store_sqlite_bind_text(q, 6, tags);
	(void) sqlite3_bind_int64(q, 7, now);
	(void) store_sqlite_bind_text(q, 8, actor);
	r = store_sqlite_step(c, q, "registering a device");
	if (r < 0)
		return r;
	r = bump_revisions(c, d->serial); /* the tags it had */
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "DELETE FROM device_tags WHERE serial = ?1", &del);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(del, 1, d->serial);
	r = store_sqlite_step(c, del, "replacing a device's tags");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "INSERT INTO device_tags (tag, serial) VALUES (?1, ?2)", &t);
	if (r < 0)
		return r;
	json_array_foreach (d->tags, i, tag) {
		(void) sqlite3_reset(t);
		(void) store_sqlite_bind_text(t, 1, json_string_value(tag));
		(void) store_sqlite_bind_text(t, 2, d->serial);
		r = store_sqlite_step(c, t, "tagging a device");
		if (r == -EEXIST)
			return -EINVAL; /* a tag given twice */
		if (r < 0)
			return r;
	}
	return bump_revisions(c, d->serial); /* the tags it has now */
}

static int cmp_serial(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool device_ok(const struct store_device *d)
{
	json_t *t;
	size_t i;

	if (!d->serial || !*d->serial || !d->owner || d->vendor < -1 || d->vendor > 0xffff ||
	    d->product < -1 || d->product > 0xffff || !json_is_array(d->tags))
		return false;
	json_array_foreach (d->tags, i, t)
		if (!json_is_string(t))
			return false;
	return true;
}

int store_sqlite_policy_devices_put(struct store *st, const struct store_device *devs, size_t n,
				    int64_t now, const char *actor, size_t *ret_created,
				    size_t *ret_updated)
{
	struct store_sqlite *s = store_sqlite_of(st);
	_cleanup_(freep) const char **serials = NULL;
	struct store_sqlite_conn *c;
	size_t created = 0, updated = 0;
	int r = 0;

	if ((n && !devs) || !actor)
		return -EINVAL;
	serials = mm_calloc(n + 1, sizeof(*serials));
	if (!serials)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!device_ok(&devs[i]))
			return -EINVAL;
		serials[i] = devs[i].serial;
	}
	qsort(serials, n, sizeof(*serials), cmp_serial);
	for (size_t i = 1; i < n; i++)
		if (streq(serials[i - 1], serials[i]))
			return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		bool fresh = false;

		r = device_put(c, &devs[i], now, actor, &fresh);
		if (r >= 0 && fresh)
			created++;
		else if (r >= 0)
			updated++;
	}
	r = store_sqlite_end(s, c, r);
	if (r < 0)
		return r;
	if (ret_created)
		*ret_created = created;
	if (ret_updated)
		*ret_updated = updated;
	return 0;
}

static int device_delete(struct store_sqlite_conn *c, const char *serial)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = bump_revisions(c, serial);

	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "DELETE FROM devices WHERE serial = ?1", &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, serial);
	r = store_sqlite_step(c, q, "unregistering a device");
	if (r < 0)
		return r;
	return sqlite3_changes(c->db) == 1 ? 0 : -ENOENT;
}

int store_sqlite_policy_device_delete(struct store *st, const char *serial)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!serial)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, device_delete(c, serial));
}

#define DEVICE_FILTER                                                                   \
	" FROM devices d WHERE (?1 IS NULL OR d.serial = ?1)"                           \
	"   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM device_tags t"                     \
	"                              WHERE t.tag = ?2 AND t.serial = d.serial))"      \
	"   AND (?3 IS NULL OR d.serial LIKE ?3 ESCAPE '\\' OR d.owner LIKE ?3 ESCAPE " \
	"'\\'"                                                                          \
	"        OR d.note LIKE ?3 ESCAPE '\\')"

static void bind_device_filter(sqlite3_stmt *q, const struct store_device_query *f,
			       const char *pattern)
{
	(void) store_sqlite_bind_text(q, 1, f->serial);
	(void) store_sqlite_bind_text(q, 2, f->tag);
	(void) store_sqlite_bind_text(q, 3, pattern);
}

static int devices_list(struct store_sqlite_conn *c, const struct store_device_query *f,
			json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *devices = json_array();
	_cleanup_(freep) char *pattern = f->search ? store_prep_like_pattern(f->search) : NULL;
	int r;

	if (!devices || (f->search && !pattern))
		return -ENOMEM;
	r = store_sqlite_stmt(c, "SELECT count(*)" DEVICE_FILTER, &n);
	if (r < 0)
		return r;
	bind_device_filter(n, f, pattern);
	r = store_sqlite_step(c, n, "counting devices");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT d.serial, d.vendor, d.product, d.owner, d.note, d.tags,"
			      "   d.created, d.updated, d.updated_by" DEVICE_FILTER
			      " ORDER BY d.serial LIMIT ?4 OFFSET ?5",
			      &q);
	if (r < 0)
		return r;
	bind_device_filter(q, f, pattern);
	(void) sqlite3_bind_int64(q, 4, f->limit ? (int64_t) f->limit : -1);
	(void) sqlite3_bind_int64(q, 5, (int64_t) f->offset);
	while ((r = store_sqlite_step(c, q, "listing devices")) > 0) {
		json_t *d = json_object();

		if (jsonw_append(devices, d) < 0 ||
		    jsonw_set(d, "serial", store_sqlite_column_string(q, 0)) < 0 ||
		    jsonw_set(d, "vendor", column_id(q, 1)) < 0 ||
		    jsonw_set(d, "product", column_id(q, 2)) < 0 ||
		    jsonw_set(d, "owner", store_sqlite_column_string(q, 3)) < 0 ||
		    jsonw_set(d, "note", store_sqlite_column_string(q, 4)) < 0 ||
		    jsonw_set(d, "tags", store_sqlite_column_json(q, 5)) < 0 ||
		    jsonw_set(d, "created", store_sqlite_column_int(q, 6)) < 0 ||
		    jsonw_set(d, "updated", store_sqlite_column_int(q, 7)) < 0 ||
		    jsonw_set(d, "updated_by", store_sqlite_column_string(q, 8)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsI}", "devices", devices, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_policy_devices_list(struct store *st, const struct store_device_query *q,
				     json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!q || q->limit > LIST_MAX || q->offset > INT32_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, devices_list(c, q, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- grants ---- */

static int grant_create(struct store_sqlite_conn *c, const struct store_grant *g, const char *id)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int64_t num;
	int r;

	if (g->host_id) {
		r = store_sqlite_host_num(c, g->host_id, &num);
		if (r < 0)
			return r;
	}
	r = store_sqlite_stmt(c,
			      "INSERT INTO grants (id, serial, host_id, user_name, reason, created,"
			      "   expires, created_by)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			      &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, id);
	(void) store_sqlite_bind_text(q, 2, g->serial);
	(void) store_sqlite_bind_text(q, 3, g->host_id);
	(void) store_sqlite_bind_text(q, 4, g->user);
	(void) store_sqlite_bind_text(q, 5, g->reason);
	(void) sqlite3_bind_int64(q, 6, g->created);
	(void) sqlite3_bind_int64(q, 7, g->expires);
	(void) store_sqlite_bind_text(q, 8, g->created_by);
	return store_sqlite_step(c, q, "storing a grant");
}

int store_sqlite_policy_grant_create(struct store *st, const struct store_grant *g,
				     char ret_id[STORE_ID_MAX])
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	char id[STORE_ID_MAX];
	int r;

	if (!g || !g->serial || !*g->serial || !g->reason || !g->created_by ||
	    !g->host_id == !g->user || g->expires <= g->created)
		return -EINVAL;
	r = store_prep_token_id("gr_", id);
	if (r < 0)
		return r;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, grant_create(c, g, id));
	if (r >= 0)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

#define GRANT_FILTER " FROM grants g WHERE ?2 OR (g.revoked IS NULL AND g.expires > ?1)"

static int grants_list(struct store_sqlite_conn *c, int64_t now, bool all, size_t limit,
		       size_t offset, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *grants = json_array();
	int r;

	if (!grants)
		return -ENOMEM;
	r = store_sqlite_stmt(c, "SELECT count(*)" GRANT_FILTER, &n);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(n, 1, now);
	(void) sqlite3_bind_int(n, 2, all);
	r = store_sqlite_step(c, n, "counting grants");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT g.id, g.serial, g.host_id,"
			      "   (SELECT hostname FROM hosts h WHERE h.id = g.host_id),"
			      "   g.user_name, g.reason, g.created, g.expires, g.created_by,"
			      "   g.revoked, g.revoked_by" GRANT_FILTER
			      " ORDER BY g.created DESC, g.id DESC LIMIT ?3 OFFSET ?4",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, now);
	(void) sqlite3_bind_int(q, 2, all);
	(void) sqlite3_bind_int64(q, 3, (int64_t) limit);
	(void) sqlite3_bind_int64(q, 4, (int64_t) offset);
	while ((r = store_sqlite_step(c, q, "listing grants")) > 0) {
		bool revoked = sqlite3_column_type(q, 9) != SQLITE_NULL;
		const char *state = revoked                             ? "revoked"
				    : sqlite3_column_int64(q, 7) <= now ? "expired"
									: "active";
		json_t *g = json_object();

		if (jsonw_append(grants, g) < 0 ||
		    jsonw_set(g, "id", store_sqlite_column_string(q, 0)) < 0 ||
		    jsonw_set(g, "serial", store_sqlite_column_string(q, 1)) < 0 ||
		    jsonw_set(g, "host_id", store_sqlite_column_string(q, 2)) < 0 ||
		    jsonw_set(g, "hostname", store_sqlite_column_string(q, 3)) < 0 ||
		    jsonw_set(g, "user", store_sqlite_column_string(q, 4)) < 0 ||
		    jsonw_set(g, "reason", store_sqlite_column_string(q, 5)) < 0 ||
		    jsonw_set(g, "created", store_sqlite_column_int(q, 6)) < 0 ||
		    jsonw_set(g, "expires", store_sqlite_column_int(q, 7)) < 0 ||
		    jsonw_set(g, "created_by", store_sqlite_column_string(q, 8)) < 0 ||
		    jsonw_set(g, "revoked", store_sqlite_column_int(q, 9)) < 0 ||
		    jsonw_set(g, "revoked_by", store_sqlite_column_string(q, 10)) < 0 ||
		    jsonw_set(g, "state", json_string(state)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsI}", "grants", grants, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_policy_grants_list(struct store *st, int64_t now, bool all, size_t limit,
				    size_t offset, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > LIST_MAX || offset > INT32_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, grants_list(c, now, all, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int grant_revoke(struct store_sqlite_conn *c, const char *id, int64_t now, const char *actor)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c,
				  "UPDATE grants SET revoked = coalesce(revoked, ?2),"
				  "   revoked_by = coalesce(revoked_by, ?3)"
				  " WHERE id = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, id);
	(void) sqlite3_bind_int64(q, 2, now);
	(void) store_sqlite_bind_text(q, 3, actor);
	r = store_sqlite_step(c, q, "revoking a grant");
	if (r < 0)
		return r;
	return sqlite3_changes(c->db) == 1 ? 0 : -ENOENT;
}

int store_sqlite_policy_grant_revoke(struct store *st, const char *id, int64_t now,
				     const char *actor)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!id || !actor)
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, grant_revoke(c, id, now, actor));
}
