/*
 * Collection profiles in the SQLite store: versions scoped "all", "group:NAME" or
 * "host:ID", and the read that tells which one is in force for a host.
 *
 * Like USB policies (store_sqlite_policy.c), profiles are append-only: a change is a new
 * row with the next version number (the table's rowid, one sequence over every scope), and
 * triggers refuse UPDATE and DELETE. The profile is kept as the JSON text the agent takes,
 * with the name of the profile it starts from beside it for listings. Finding the profile
 * in force is three lookups of max(version) on the (scope, version) index, so a check-in
 * can afford it every time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

#define LIST_MAX 1000u

static bool scope_ok(const char *s)
{
	return s && (streq(s, "all") || (str_startswith(s, "group:") && s[6]) ||
		     (str_startswith(s, "host:") && s[5]));
}

static int profile_create(struct store_sqlite_conn *c, const struct store_collection *p,
			  const char *text, int64_t *ret)
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
			      "INSERT INTO collection_profiles (scope, profile, name, comment,"
			      "   created, created_by)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING version",
			      &q);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, p->scope);
	(void) store_sqlite_bind_text(q, 2, text);
	(void) store_sqlite_bind_text(q, 3, p->name);
	(void) store_sqlite_bind_text(q, 4, p->comment);
	(void) sqlite3_bind_int64(q, 5, p->created);
	(void) store_sqlite_bind_text(q, 6, p->created_by);
	r = store_sqlite_step(c, q, "storing a collection profile");
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = sqlite3_column_int64(q, 0);
	return store_sqlite_step(c, q, "storing a collection profile");
}

int store_sqlite_collection_create(struct store *st, const struct store_collection *p,
				   int64_t *ret_version)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	_cleanup_(freep) char *text = NULL;
	int64_t version = 0;
	int r;

	if (!p || !scope_ok(p->scope) || !json_is_object(p->profile) || !p->name || !p->created_by)
		return -EINVAL;
	text = jsonw_dump(p->profile);
	if (!text)
		return -ENOMEM;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, profile_create(c, p, text, &version));
	if (r >= 0)
		*ret_version = version;
	return r;
}

/* The columns every listing selects, in this order. */
#define PROFILE_COLUMNS "p.scope, p.version, p.name, p.created, p.created_by, p.comment"

static json_t *profile_row(sqlite3_stmt *q)
{
	json_t *o = json_object();

	if (!o || jsonw_set(o, "scope", store_sqlite_column_string(q, 0)) < 0 ||
	    jsonw_set(o, "version", store_sqlite_column_int(q, 1)) < 0 ||
	    jsonw_set(o, "name", store_sqlite_column_string(q, 2)) < 0 ||
	    jsonw_set(o, "created", store_sqlite_column_int(q, 3)) < 0 ||
	    jsonw_set(o, "created_by", store_sqlite_column_string(q, 4)) < 0 ||
	    jsonw_set(o, "comment", store_sqlite_column_string(q, 5)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int profile_list(struct store_sqlite_conn *c, const char *scope, size_t limit, size_t offset,
			json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *cur = NULL, *hist = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *current = json_array(), *history = json_array();
	int r;

	if (!current || !history)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT " PROFILE_COLUMNS " FROM collection_profiles p"
			      " WHERE p.version = (SELECT max(version) FROM collection_profiles q"
			      "                     WHERE q.scope = p.scope)"
			      " ORDER BY p.scope <> 'all', p.scope",
			      &cur);
	if (r < 0)
		return r;
	while ((r = store_sqlite_step(c, cur, "listing collection profiles")) > 0)
		if (jsonw_append(current, profile_row(cur)) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT " PROFILE_COLUMNS " FROM collection_profiles p"
			      " WHERE ?1 IS NULL OR p.scope = ?1"
			      " ORDER BY p.version DESC LIMIT ?2 OFFSET ?3",
			      &hist);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(hist, 1, scope);
	(void) sqlite3_bind_int64(hist, 2, (int64_t) limit);
	(void) sqlite3_bind_int64(hist, 3, (int64_t) offset);
	while ((r = store_sqlite_step(c, hist, "listing collection profile versions")) > 0)
		if (jsonw_append(history, profile_row(hist)) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT count(*) FROM collection_profiles"
			      " WHERE ?1 IS NULL OR scope = ?1",
			      &n);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(n, 1, scope);
	r = store_sqlite_step(c, n, "counting collection profile versions");
	if (r < 0)
		return r;
	*ret = json_pack("{sOsOsI}", "current", current, "history", history, "total",
			 (json_int_t) sqlite3_column_int64(n, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_collection_list(struct store *st, const char *scope, size_t limit, size_t offset,
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
	r = store_sqlite_end(s, c, profile_list(c, scope, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int profile_get(struct store_sqlite_conn *c, int64_t version, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(json_decrefp) json_t *o = NULL;
	json_t *profile;
	int r = store_sqlite_stmt(c,
				  "SELECT " PROFILE_COLUMNS ", p.profile,"
				  "   (SELECT min(version) FROM collection_profiles q"
				  "     WHERE q.scope = p.scope AND q.version > p.version)"
				  " FROM collection_profiles p WHERE p.version = ?1",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, version);
	r = store_sqlite_step(c, q, "reading a collection profile");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	o = profile_row(q);
	profile = store_sqlite_column_json(q, 6);
	if (!o || jsonw_set(o, "profile", profile) < 0 ||
	    jsonw_set(o, "superseded_by", store_sqlite_column_int(q, 7)) < 0 ||
	    jsonw_set(o, "current", json_boolean(sqlite3_column_type(q, 7) == SQLITE_NULL)) < 0)
		return -ENOMEM;
	if (!json_is_object(profile))
		return -EIO; /* store_sqlite_column_json() logged the corruption */
	*ret = TAKE_PTR(o);
	return 0;
}

int store_sqlite_collection_get(struct store *st, int64_t version, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, profile_get(c, version, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* Appends {"scope", "version"} to candidates when the scope has a profile. */
static int candidate(struct store_sqlite_conn *c, const char *scope, json_t *candidates)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c, "SELECT max(version) FROM collection_profiles WHERE scope = ?1", &q);

	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(q, 1, scope);
	r = store_sqlite_step(c, q, "finding a collection profile");
	if (r < 0)
		return r;
	if (sqlite3_column_type(q, 0) == SQLITE_NULL)
		return 0;
	return jsonw_append(candidates, json_pack("{s:s, s:I}", "scope", scope, "version",
						  (json_int_t) sqlite3_column_int64(q, 0)));
}

static int profile_inputs(struct store_sqlite_conn *c, const char *host_id, bool full, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *h = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL, *candidates = json_array();
	_cleanup_(freep) char *host_scope = NULL, *group_scope = NULL;
	json_t *profile = NULL;
	int r;

	if (!candidates)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT hostname, group_name FROM hosts"
			      " WHERE id = ?1 AND deleted IS NULL",
			      &h);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(h, 1, host_id);
	r = store_sqlite_step(c, h, "reading a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	host_scope = mm_asprintf("host:%s", host_id);
	if (sqlite3_column_type(h, 1) != SQLITE_NULL)
		group_scope = mm_asprintf("group:%s", (const char *) sqlite3_column_text(h, 1));
	if (!host_scope || (sqlite3_column_type(h, 1) != SQLITE_NULL && !group_scope))
		return -ENOMEM;
	/* most specific first: the host's own, its group's, everyone's */
	if ((r = candidate(c, host_scope, candidates)) < 0 ||
	    (group_scope && (r = candidate(c, group_scope, candidates)) < 0) ||
	    (r = candidate(c, "all", candidates)) < 0)
		return r;
	out = json_pack("{s:s, s:o, s:o, s:O}", "host_id", host_id, "hostname",
			store_sqlite_column_string(h, 0), "group", store_sqlite_column_string(h, 1),
			"candidates", candidates);
	if (!out)
		return -ENOMEM;
	if (full && json_array_size(candidates) > 0) {
		json_t *first = json_array_get(candidates, 0);

		r = profile_get(c, json_integer_value(json_object_get(first, "version")), &profile);
		if (r < 0)
			return r;
	}
	if (full && jsonw_set(out, "profile", profile ? profile : json_null()) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int store_sqlite_collection_inputs(struct store *st, const char *host_id, bool full, json_t **ret)
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
	r = store_sqlite_end(s, c, profile_inputs(c, host_id, full, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
