/*
 * Collection profiles in the PostgreSQL store: the same table, statements and results as
 * store_sqlite_collection.c, whose comment explains them. Versions come from an identity
 * column (one sequence over every scope, never reused), and triggers refuse UPDATE, DELETE
 * and TRUNCATE of a version.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_pg.h"

#define LIST_MAX 1000u

static bool scope_ok(const char *s)
{
	return s && (streq(s, "all") || (str_startswith(s, "group:") && s[6]) ||
		     (str_startswith(s, "host:") && s[5]));
}

static int profile_create(struct store_pg_conn *c, const struct store_collection *p,
			  const char *text, int64_t *ret)
{
	struct store_pg_params q = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	const char *host = str_startswith(p->scope, "host:");
	int64_t num;
	int r;

	if (host) {
		/* locked, so a host deleted meanwhile cannot end up with a profile */
		r = store_pg_host_num(c, host, true, &num);
		if (r < 0)
			return r;
	}
	store_pg_text(&q, p->scope);
	store_pg_text(&q, text);
	store_pg_text(&q, p->name);
	store_pg_text(&q, p->comment);
	store_pg_int(&q, p->created);
	store_pg_text(&q, p->created_by);
	r = store_pg_exec(c,
			  "INSERT INTO collection_profiles (scope, profile, name, comment, created,"
			  "   created_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6) RETURNING version",
			  &q, "storing a collection profile", &res);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = store_pg_get_int(res, 0, 0);
	return 0;
}

int store_pg_collection_create(struct store *st, const struct store_collection *p,
			       int64_t *ret_version)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	_cleanup_(freep) char *text = NULL;
	int64_t version = 0;
	int r;

	if (!p || !scope_ok(p->scope) || !json_is_object(p->profile) || !p->name || !p->created_by)
		return -EINVAL;
	text = jsonw_dump(p->profile);
	if (!text)
		return -ENOMEM;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, profile_create(c, p, text, &version));
	if (r >= 0)
		*ret_version = version;
	return r;
}

#define PROFILE_COLUMNS "p.scope, p.version, p.name, p.created, p.created_by, p.comment"

static json_t *profile_row(const PGresult *q, int i)
{
	json_t *o = json_object();

	if (!o || jsonw_set(o, "scope", store_pg_json_string(q, i, 0)) < 0 ||
	    jsonw_set(o, "version", store_pg_json_int(q, i, 1)) < 0 ||
	    jsonw_set(o, "name", store_pg_json_string(q, i, 2)) < 0 ||
	    jsonw_set(o, "created", store_pg_json_int(q, i, 3)) < 0 ||
	    jsonw_set(o, "created_by", store_pg_json_string(q, i, 4)) < 0 ||
	    jsonw_set(o, "comment", store_pg_json_string(q, i, 5)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int profile_list(struct store_pg_conn *c, const char *scope, size_t limit, size_t offset,
			json_t **ret)
{
	struct store_pg_params ph = {.n = 0}, pn = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *cur = NULL, *hist = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *current = json_array(), *history = json_array();
	int r;

	if (!current || !history)
		return -ENOMEM;
	r = store_pg_exec(c,
			  "SELECT " PROFILE_COLUMNS " FROM collection_profiles p"
			  " WHERE p.version = (SELECT max(version) FROM collection_profiles q"
			  "                     WHERE q.scope = p.scope)"
			  " ORDER BY p.scope <> 'all', p.scope",
			  NULL, "listing collection profiles", &cur);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++)
		if (jsonw_append(current, profile_row(cur, i)) < 0)
			return -ENOMEM;
	store_pg_text(&ph, scope);
	store_pg_int(&ph, (int64_t) limit);
	store_pg_int(&ph, (int64_t) offset);
	r = store_pg_exec(c,
			  "SELECT " PROFILE_COLUMNS " FROM collection_profiles p"
			  " WHERE $1::text IS NULL OR p.scope = $1"
			  " ORDER BY p.version DESC LIMIT $2 OFFSET $3",
			  &ph, "listing collection profile versions", &hist);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++)
		if (jsonw_append(history, profile_row(hist, i)) < 0)
			return -ENOMEM;
	store_pg_text(&pn, scope);
	r = store_pg_exec(c,
			  "SELECT count(*) FROM collection_profiles"
			  " WHERE $1::text IS NULL OR scope = $1",
			  &pn, "counting collection profile versions", &n);
	if (r < 0)
		return r;
	*ret = json_pack("{sOsOsI}", "current", current, "history", history, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_collection_list(struct store *st, const char *scope, size_t limit, size_t offset,
			     json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > LIST_MAX || offset > INT32_MAX)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, profile_list(c, scope, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int profile_get(struct store_pg_conn *c, int64_t version, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	_cleanup_(json_decrefp) json_t *o = NULL;
	json_t *profile;
	int r;

	store_pg_int(&p, version);
	r = store_pg_exec(c,
			  "SELECT " PROFILE_COLUMNS ", p.profile,"
			  "   (SELECT min(version) FROM collection_profiles q"
			  "     WHERE q.scope = p.scope AND q.version > p.version)"
			  " FROM collection_profiles p WHERE p.version = $1",
			  &p, "reading a collection profile", &q);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	o = profile_row(q, 0);
	profile = store_pg_json_value(q, 0, 6);
	if (!o || jsonw_set(o, "profile", profile) < 0 ||
	    jsonw_set(o, "superseded_by", store_pg_json_int(q, 0, 7)) < 0 ||
	    jsonw_set(o, "current", json_boolean(store_pg_is_null(q, 0, 7))) < 0)
		return -ENOMEM;
	if (!json_is_object(profile))
		return -EIO; /* store_pg_json_value() logged the corruption */
	*ret = TAKE_PTR(o);
	return 0;
}

int store_pg_collection_get(struct store *st, int64_t version, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, profile_get(c, version, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

struct profile_args {
	const char *host_id;
	bool full;
	json_t *out;
};

/* The host and the latest profile version in each scope that may apply to it, in one
 * statement; with `full`, the profile in force too (in the caller's snapshot). */
static int profile_inputs(struct store_pg_conn *c, void *userdata)
{
	struct profile_args *a = userdata;
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *h = NULL;
	_cleanup_(json_decrefp) json_t *out = NULL, *candidates = json_array();
	json_t *profile = NULL;
	int r;

	json_decref(a->out); /* a second try starts afresh */
	a->out = NULL;
	if (!candidates)
		return -ENOMEM;
	store_pg_text(&p, a->host_id);
	r = store_pg_exec(
		c,
		"SELECT h.hostname, h.group_name,"
		"   (SELECT max(version) FROM collection_profiles WHERE scope = 'host:' || $1),"
		"   (SELECT max(version) FROM collection_profiles"
		"     WHERE scope = 'group:' || h.group_name),"
		"   (SELECT max(version) FROM collection_profiles WHERE scope = 'all')"
		" FROM hosts h WHERE h.id = $1 AND h.deleted IS NULL",
		&p, "reading a host's collection profile", &h);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	/* most specific first: the host's own, its group's, everyone's */
	r = store_pg_scope_candidates(h, 0, 2, a->host_id,
				      store_pg_is_null(h, 0, 1) ? NULL : store_pg_get(h, 0, 1),
				      candidates);
	if (r < 0)
		return r;
	out = json_pack("{s:s, s:o, s:o, s:O}", "host_id", a->host_id, "hostname",
			store_pg_json_string(h, 0, 0), "group", store_pg_json_string(h, 0, 1),
			"candidates", candidates);
	if (!out)
		return -ENOMEM;
	if (a->full && json_array_size(candidates) > 0) {
		json_t *first = json_array_get(candidates, 0);

		r = profile_get(c, json_integer_value(json_object_get(first, "version")), &profile);
		if (r < 0)
			return r;
	}
	if (a->full && jsonw_set(out, "profile", profile ? profile : json_null()) < 0)
		return -ENOMEM;
	a->out = TAKE_PTR(out);
	return 0;
}

/* At every check-in (not `full`): one statement outside a transaction. With `full`, the
 * profile is read in the same snapshot as the versions. */
int store_pg_collection_inputs(struct store *st, const char *host_id, bool full, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct profile_args a = {.host_id = host_id, .full = full};
	struct store_pg_conn *c;
	int r;

	if (!host_id)
		return -EINVAL;
	if (!full) {
		r = store_pg_one(s, profile_inputs, &a);
	} else {
		r = store_pg_begin(s, STORE_PG_READ, &c);
		if (r < 0)
			return r;
		r = store_pg_end(s, c, profile_inputs(c, &a));
	}
	if (r < 0) {
		json_decref(a.out);
		return r;
	}
	*ret = a.out;
	return 0;
}
