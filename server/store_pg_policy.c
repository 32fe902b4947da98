/*
 * USB control in the PostgreSQL store: policy versions, the device registry and grants —
 * the same tables, statements and results as store_sqlite_policy.c, whose comment explains
 * them. Versions come from an identity column (one sequence over every scope, never
 * reused), and triggers refuse UPDATE, DELETE and TRUNCATE of a version.
 *
 * Search is ILIKE where SQLite has LIKE (both ignore ASCII case only, on "C"-collated
 * columns), and the tags a policy names are passed as its JSON text and expanded with
 * json_array_elements_text, as SQLite's json_each does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_pg.h"

#define LIST_MAX 1000u

/* ---- policies ---- */

static bool scope_ok(const char *s)
{
	return s && (streq(s, "all") || (str_startswith(s, "group:") && s[6]) ||
		     (str_startswith(s, "host:") && s[5]));
}

static int policy_create(struct store_pg_conn *c, const struct store_policy *p, const char *tags,
			 int64_t *ret)
{
	struct store_pg_params q = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	const char *host = str_startswith(p->scope, "host:");
	int64_t num;
	int r;

	if (host) {
		/* locked, so a host deleted meanwhile cannot end up with a policy */
		r = store_pg_host_num(c, host, true, &num);
		if (r < 0)
			return r;
	}
	store_pg_text(&q, p->scope);
	store_pg_text(&q, p->rules);
	store_pg_text(&q, tags);
	store_pg_int(&q, (int64_t) p->rule_count);
	store_pg_text(&q, p->comment);
	store_pg_int(&q, p->created);
	store_pg_text(&q, p->created_by);
	r = store_pg_exec(c,
			  "INSERT INTO policies (scope, rules, tags, rule_count, comment, created,"
			  "   created_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING version",
			  &q, "storing a policy", &res);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = store_pg_get_int(res, 0, 0);
	return 0;
}

int store_pg_policy_create(struct store *st, const struct store_policy *p, int64_t *ret_version)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	_cleanup_(freep) char *tags = NULL;
	int64_t version = 0;
	int r;

	if (!p || !scope_ok(p->scope) || !p->rules || !json_is_array(p->tags) || !p->created_by)
		return -EINVAL;
	tags = jsonw_dump(p->tags);
	if (!tags)
		return -ENOMEM;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, policy_create(c, p, tags, &version));
	if (r >= 0)
		*ret_version = version;
	return r;
}

#define POLICY_COLUMNS "p.scope, p.version, p.created, p.created_by, p.comment, p.rule_count"

static json_t *policy_row(const PGresult *q, int i)
{
	json_t *o = json_object();

	if (!o || jsonw_set(o, "scope", store_pg_json_string(q, i, 0)) < 0 ||
	    jsonw_set(o, "version", store_pg_json_int(q, i, 1)) < 0 ||
	    jsonw_set(o, "created", store_pg_json_int(q, i, 2)) < 0 ||
	    jsonw_set(o, "created_by", store_pg_json_string(q, i, 3)) < 0 ||
	    jsonw_set(o, "comment", store_pg_json_string(q, i, 4)) < 0 ||
	    jsonw_set(o, "rule_count", store_pg_json_int(q, i, 5)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int policy_list(struct store_pg_conn *c, const char *scope, size_t limit, size_t offset,
		       json_t **ret)
{
	struct store_pg_params ph = {.n = 0}, pn = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *cur = NULL, *hist = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *current = json_array(), *history = json_array();
	int r;

	if (!current || !history)
		return -ENOMEM;
	r = store_pg_exec(c,
			  "SELECT " POLICY_COLUMNS " FROM policies p"
			  " WHERE p.version = (SELECT max(version) FROM policies q"
			  "                     WHERE q.scope = p.scope)"
			  " ORDER BY p.scope <> 'all', p.scope",
			  NULL, "listing policies", &cur);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++)
		if (jsonw_append(current, policy_row(cur, i)) < 0)
			return -ENOMEM;
	store_pg_text(&ph, scope);
	store_pg_int(&ph, (int64_t) limit);
	store_pg_int(&ph, (int64_t) offset);
	r = store_pg_exec(c,
			  "SELECT " POLICY_COLUMNS " FROM policies p"
			  " WHERE $1::text IS NULL OR p.scope = $1"
			  " ORDER BY p.version DESC LIMIT $2 OFFSET $3",
			  &ph, "listing policy versions", &hist);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++)
		if (jsonw_append(history, policy_row(hist, i)) < 0)
			return -ENOMEM;
	store_pg_text(&pn, scope);
	r = store_pg_exec(c, "SELECT count(*) FROM policies WHERE $1::text IS NULL OR scope = $1",
			  &pn, "counting policy versions", &n);
	if (r < 0)
		return r;
	*ret = json_pack("{sOsOsI}", "current", current, "history", history, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_policy_list(struct store *st, const char *scope, size_t limit, size_t offset,
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
	r = store_pg_end(s, c, policy_list(c, scope, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int policy_get(struct store_pg_conn *c, int64_t version, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	_cleanup_(json_decrefp) json_t *o = NULL;
	json_t *tags;
	int r;

	store_pg_int(&p, version);
	r = store_pg_exec(c,
			  "SELECT " POLICY_COLUMNS ", p.rules, p.tags,"
			  "   (SELECT min(version) FROM policies q"
			  "     WHERE q.scope = p.scope AND q.version > p.version)"
			  " FROM policies p WHERE p.version = $1",
			  &p, "reading a policy", &q);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	o = policy_row(q, 0);
	tags = store_pg_json_value(q, 0, 7);
	if (!o || jsonw_set(o, "tags", tags) < 0 ||
	    jsonw_set(o, "rules", store_pg_json_string(q, 0, 6)) < 0 ||
	    jsonw_set(o, "superseded_by", store_pg_json_int(q, 0, 8)) < 0 ||
	    jsonw_set(o, "current", json_boolean(store_pg_is_null(q, 0, 8))) < 0)
		return -ENOMEM;
	if (!json_is_array(tags))
		return -EIO; /* store_pg_json_value() logged the corruption */
	*ret = TAKE_PTR(o);
	return 0;
}

int store_pg_policy_get(struct store *st, int64_t version, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, policy_get(c, version, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* A cell holding a USB id as a JSON string of 4 hex digits, or JSON null. */
static json_t *cell_id(const PGresult *q, int i, int col)
{
	char s[8];

	if (store_pg_is_null(q, i, col))
		return json_null();
	(void) snprintf(s, sizeof(s), "%04x", (unsigned) (store_pg_get_int(q, i, col) & 0xffff));
	return json_string(s);
}

/* {tag: revision} for each of `tags` (a JSON array's text); 0 for a tag never used. */
static int revisions_for(struct store_pg_conn *c, const char *tags, json_t *revs)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	int n;

	store_pg_text(&p, tags);
	n = store_pg_exec(c,
			  "SELECT j.tag, coalesce(t.rev, 0)"
			  " FROM json_array_elements_text($1::json) AS j(tag)"
			  " LEFT JOIN tag_revisions t ON t.tag = j.tag",
			  &p, "reading tag revisions", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const char *tag = store_pg_get(q, i, 0);

		if (!tag)
			return -EIO;
		if (json_object_set_new(revs, tag, json_integer(store_pg_get_int(q, i, 1))) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int registry_for(struct store_pg_conn *c, const char *tags, json_t *registry)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	json_t *last = NULL;
	int n;

	store_pg_text(&p, tags);
	n = store_pg_exec(c,
			  "SELECT d.serial, d.vendor, d.product, t.tag"
			  " FROM device_tags t JOIN devices d ON d.serial = t.serial"
			  " WHERE t.tag IN (SELECT json_array_elements_text($1::json))"
			  " ORDER BY d.serial, t.tag",
			  &p, "reading the device registry", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const char *serial = store_pg_get(q, i, 0);
		const char *prev = json_string_value(json_object_get(last, "serial"));

		if (!serial)
			return -EIO;
		if (!prev || !streq(prev, serial)) {
			last = json_object();
			if (jsonw_append(registry, last) < 0 ||
			    jsonw_set(last, "serial", store_pg_json_string(q, i, 0)) < 0 ||
			    jsonw_set(last, "vendor", cell_id(q, i, 1)) < 0 ||
			    jsonw_set(last, "product", cell_id(q, i, 2)) < 0 ||
			    jsonw_set(last, "tags", json_array()) < 0)
				return -ENOMEM;
		}
		if (jsonw_append(json_object_get(last, "tags"), store_pg_json_string(q, i, 3)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The host, the latest version in each scope that may apply to it (its own, its group's,
 * all) and its live grants — everything a check-in needs when no policy applies — in one
 * statement. Grants are built as the objects the document carries: {id, serial, host_id
 * or user, expires}, in id order.
 */
#define HOST_AND_CANDIDATES                                                                    \
	"SELECT h.id, h.hostname, h.group_name,"                                               \
	"   (SELECT max(version) FROM policies WHERE scope = 'host:' || $1),"                  \
	"   (SELECT max(version) FROM policies WHERE scope = 'group:' || h.group_name),"       \
	"   (SELECT max(version) FROM policies WHERE scope = 'all'),"                          \
	"   (SELECT coalesce(json_agg(CASE WHEN g.host_id IS NOT NULL"                         \
	"        THEN json_build_object('id', g.id, 'serial', g.serial, 'host_id', g.host_id," \
	"                               'expires', g.expires)"                                 \
	"        ELSE json_build_object('id', g.id, 'serial', g.serial, 'user', g.user_name,"  \
	"                               'expires', g.expires) END ORDER BY g.id), '[]')"       \
	"     FROM grants g WHERE g.revoked IS NULL AND g.expires > $2"                        \
	"       AND (g.host_id = $1 OR g.user_name IS NOT NULL))"                              \
	" FROM hosts h WHERE h.id = $1 AND h.deleted IS NULL"

struct host_inputs {
	const char *host_id;
	int64_t now;
	PGresult *h; /* the row of HOST_AND_CANDIDATES */
	json_t *candidates, *grants;
};

static void host_inputs_done(struct host_inputs *hi)
{
	PQclear(hi->h);
	json_decref(hi->candidates);
	json_decref(hi->grants);
	hi->h = NULL;
	hi->candidates = hi->grants = NULL;
}

static int host_inputs(struct store_pg_conn *c, void *userdata)
{
	struct host_inputs *hi = userdata;
	struct store_pg_params p = {.n = 0};
	int r;

	host_inputs_done(hi); /* a second try starts afresh */
	hi->candidates = json_array();
	if (!hi->candidates)
		return -ENOMEM;
	store_pg_text(&p, hi->host_id);
	store_pg_int(&p, hi->now);
	r = store_pg_exec(c, HOST_AND_CANDIDATES, &p, "reading a host's policy", &hi->h);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	hi->grants = store_pg_json_value(hi->h, 0, 6);
	if (!json_is_array(hi->grants))
		return -EIO; /* store_pg_json_value() logged it */
	return store_pg_scope_candidates(
		hi->h, 0, 3, hi->host_id,
		store_pg_is_null(hi->h, 0, 2) ? NULL : store_pg_get(hi->h, 0, 2), hi->candidates);
}

static int policy_inputs(struct store_pg_conn *c, struct host_inputs *hi, bool with_registry,
			 json_t **ret)
{
	_cleanup_(json_decrefp) json_t *out = NULL;
	_cleanup_(json_decrefp) json_t *registry = json_array();
	_cleanup_(json_decrefp) json_t *revs = json_object();
	_cleanup_(freep) char *tags = NULL;
	json_t *policy = NULL;
	int r;

	if (!registry || !revs)
		return -ENOMEM;
	if (json_array_size(hi->candidates) > 0) {
		json_t *first = json_array_get(hi->candidates, 0);

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
	    jsonw_set(out, "host_id", json_string(hi->host_id)) < 0 ||
	    jsonw_set(out, "hostname", store_pg_json_string(hi->h, 0, 1)) < 0 ||
	    jsonw_set(out, "group", store_pg_json_string(hi->h, 0, 2)) < 0 ||
	    jsonw_set(out, "candidates", json_incref(hi->candidates)) < 0 ||
	    jsonw_set(out, "tag_revisions", json_incref(revs)) < 0 ||
	    (with_registry && jsonw_set(out, "registry", json_incref(registry)) < 0) ||
	    jsonw_set(out, "grants", json_incref(hi->grants)) < 0)
		return -ENOMEM;
	if (tags && (r = revisions_for(c, tags, revs)) < 0)
		return r;
	if (tags && with_registry && (r = registry_for(c, tags, registry)) < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

/*
 * At every check-in, most hosts have no USB policy: then one statement outside a
 * transaction answers (store_pg_one()). When a policy applies, the policy, its tags'
 * revisions and the registry are read with the host again in one snapshot, so the version
 * and the document always describe one state of the store.
 */
int store_pg_policy_inputs(struct store *st, const char *host_id, int64_t now, bool registry,
			   json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct host_inputs hi = {.host_id = host_id, .now = now};
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id)
		return -EINVAL;
	r = store_pg_one(s, host_inputs, &hi);
	if (r >= 0 && json_array_size(hi.candidates) == 0) {
		r = policy_inputs(NULL, &hi, registry, &v);
		host_inputs_done(&hi);
		if (r < 0)
			return r;
		*ret = v;
		return 0;
	}
	host_inputs_done(&hi);
	if (r < 0)
		return r;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = host_inputs(c, &hi);
	if (r >= 0)
		r = policy_inputs(c, &hi, registry, &v);
	host_inputs_done(&hi);
	r = store_pg_end(s, c, r);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- the device registry ---- */

/* Moves the revision of every tag the device `serial` carries now (see
 * store_sqlite_policy.c). */
static int bump_revisions(struct store_pg_conn *c, const char *serial)
{
	struct store_pg_params p = {.n = 0};
	int r;

	store_pg_text(&p, serial);
	r = store_pg_exec(c,
			  "INSERT INTO tag_revisions (tag, rev)"
			  " SELECT tag, 1 FROM device_tags WHERE serial = $1"
			  " ON CONFLICT (tag) DO UPDATE SET rev = tag_revisions.rev + 1",
			  &p, "moving tag revisions", NULL);
	return r < 0 ? r : 0;
}

static int device_put(struct store_pg_conn *c, const struct store_device *d, int64_t now,
		      const char *actor, bool *ret_created)
{
	struct store_pg_params pi = {.n = 0}, pd = {.n = 0}, pt = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	_cleanup_(freep) char *tags = jsonw_dump(d->tags);
	int r;

	if (!tags)
		return -ENOMEM;
	store_pg_text(&pi, d->serial);
	if (d->vendor >= 0)
		store_pg_int(&pi, d->vendor);
	else
		store_pg_text(&pi, NULL);
	if (d->product >= 0)
		store_pg_int(&pi, d->product);
	else
		store_pg_text(&pi, NULL);
	store_pg_text(&pi, d->owner);
	store_pg_text(&pi, d->note);
	store_pg_text(&pi, tags);
	store_pg_int(&pi, now);
	store_pg_text(&pi, actor);
	/* xmax = 0 only for a row this statement inserted: tells created from replaced */
	r = store_pg_exec(c,
			  "INSERT INTO devices (serial, vendor, product, owner, note, tags,"
			  "   created, updated, updated_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)"
			  " ON CONFLICT (serial) DO UPDATE SET vendor = excluded.vendor,"
			  "   product = excluded.product, owner = excluded.owner,"
			  "   note = excluded.note, tags = excluded.tags,"
			  "   updated = excluded.updated, updated_by = excluded.updated_by"
			  " RETURNING xmax = 0",
			  &pi, "registering a device", &res);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret_created = streq(PQgetvalue(res, 0, 0), "t");
	r = bump_revisions(c, d->serial); /* the tags it had */
	if (r < 0)
		return r;
	store_pg_text(&pd, d->serial);
	r = store_pg_exec(c, "DELETE FROM device_tags WHERE serial = $1", &pd,
			  "replacing a device's tags", NULL);
	if (r < 0)
		return r;
	store_pg_text(&pt, d->serial);
	store_pg_text(&pt, tags);
	r = store_pg_exec(c,
			  "INSERT INTO device_tags (tag, serial)"
			  " SELECT json_array_elements_text($2::json), $1",
			  &pt, "tagging a device", NULL);
	if (r == -EEXIST)
		return -EINVAL; /* a tag given twice */
	if (r < 0)
		return r;
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

int store_pg_policy_devices_put(struct store *st, const struct store_device *devs, size_t n,
				int64_t now, const char *actor, size_t *ret_created,
				size_t *ret_updated)
{
	struct store_pg *s = store_pg_of(st);
	_cleanup_(freep) const char **serials = NULL;
	struct store_pg_conn *c;
	size_t created = 0, updated = 0;
	int r;

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
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
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
	r = store_pg_end(s, c, r);
	if (r < 0)
		return r;
	if (ret_created)
		*ret_created = created;
	if (ret_updated)
		*ret_updated = updated;
	return 0;
}

static int device_delete(struct store_pg_conn *c, const char *serial)
{
	struct store_pg_params p = {.n = 0};
	int r = bump_revisions(c, serial);

	if (r < 0)
		return r;
	store_pg_text(&p, serial);
	r = store_pg_exec(c, "DELETE FROM devices WHERE serial = $1", &p, "unregistering a device",
			  NULL);
	if (r < 0)
		return r;
	return r == 1 ? 0 : -ENOENT;
}

int store_pg_policy_device_delete(struct store *st, const char *serial)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	int r;

	if (!serial)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	return store_pg_end(s, c, device_delete(c, serial));
}

#define DEVICE_FILTER                                                              \
	" FROM devices d WHERE ($1::text IS NULL OR d.serial = $1)"                \
	"   AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM device_tags t"          \
	"                              WHERE t.tag = $2 AND t.serial = d.serial))" \
	"   AND ($3::text IS NULL OR d.serial ILIKE $3 ESCAPE '\\'"                \
	"        OR d.owner ILIKE $3 ESCAPE '\\' OR d.note ILIKE $3 ESCAPE '\\')"

static void device_filter(struct store_pg_params *p, const struct store_device_query *f,
			  const char *pattern)
{
	store_pg_text(p, f->serial);
	store_pg_text(p, f->tag);
	store_pg_text(p, pattern);
}

static int devices_list(struct store_pg_conn *c, const struct store_device_query *f, json_t **ret)
{
	struct store_pg_params pn = {.n = 0}, pq = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *devices = json_array();
	_cleanup_(freep) char *pattern = f->search ? store_prep_like_pattern(f->search) : NULL;
	int r;

	if (!devices || (f->search && !pattern))
		return -ENOMEM;
	device_filter(&pn, f, pattern);
	r = store_pg_exec(c, "SELECT count(*)" DEVICE_FILTER, &pn, "counting devices", &n);
	if (r < 0)
		return r;
	device_filter(&pq, f, pattern);
	if (f->limit)
		store_pg_int(&pq, (int64_t) f->limit);
	else
		store_pg_text(&pq, NULL); /* LIMIT NULL: all of them */
	store_pg_int(&pq, (int64_t) f->offset);
	r = store_pg_exec(c,
			  "SELECT d.serial, d.vendor, d.product, d.owner, d.note, d.tags,"
			  "   d.created, d.updated, d.updated_by" DEVICE_FILTER
			  " ORDER BY d.serial LIMIT $4::bigint OFFSET $5",
			  &pq, "listing devices", &q);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++) {
		json_t *d = json_object();

		if (jsonw_append(devices, d) < 0 ||
		    jsonw_set(d, "serial", store_pg_json_string(q, i, 0)) < 0 ||
		    jsonw_set(d, "vendor", cell_id(q, i, 1)) < 0 ||
		    jsonw_set(d, "product", cell_id(q, i, 2)) < 0 ||
		    jsonw_set(d, "owner", store_pg_json_string(q, i, 3)) < 0 ||
		    jsonw_set(d, "note", store_pg_json_string(q, i, 4)) < 0 ||
		    jsonw_set(d, "tags", store_pg_json_value(q, i, 5)) < 0 ||
		    jsonw_set(d, "created", store_pg_json_int(q, i, 6)) < 0 ||
		    jsonw_set(d, "updated", store_pg_json_int(q, i, 7)) < 0 ||
		    jsonw_set(d, "updated_by", store_pg_json_string(q, i, 8)) < 0)
			return -ENOMEM;
	}
	*ret = json_pack("{sOsI}", "devices", devices, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_policy_devices_list(struct store *st, const struct store_device_query *q, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (!q || q->limit > LIST_MAX || q->offset > INT32_MAX)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, devices_list(c, q, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- grants ---- */

static int grant_create(struct store_pg_conn *c, const struct store_grant *g, const char *id)
{
	struct store_pg_params p = {.n = 0};
	int64_t num;
	int r;

	if (g->host_id) {
		r = store_pg_host_num(c, g->host_id, true, &num);
		if (r < 0)
			return r;
	}
	store_pg_text(&p, id);
	store_pg_text(&p, g->serial);
	store_pg_text(&p, g->host_id);
	store_pg_text(&p, g->user);
	store_pg_text(&p, g->reason);
	store_pg_int(&p, g->created);
	store_pg_int(&p, g->expires);
	store_pg_text(&p, g->created_by);
	r = store_pg_exec(c,
			  "INSERT INTO grants (id, serial, host_id, user_name, reason, created,"
			  "   expires, created_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			  &p, "storing a grant", NULL);
	return r < 0 ? r : 0;
}

int store_pg_policy_grant_create(struct store *st, const struct store_grant *g,
				 char ret_id[STORE_ID_MAX])
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	char id[STORE_ID_MAX];
	int r;

	if (!g || !g->serial || !*g->serial || !g->reason || !g->created_by ||
	    !g->host_id == !g->user || g->expires <= g->created)
		return -EINVAL;
	r = store_prep_token_id("gr_", id);
	if (r < 0)
		return r;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, grant_create(c, g, id));
	if (r >= 0)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

#define GRANT_FILTER " FROM grants g WHERE $2::boolean OR (g.revoked IS NULL AND g.expires > $1)"

static int grants_list(struct store_pg_conn *c, int64_t now, bool all, size_t limit, size_t offset,
		       json_t **ret)
{
	struct store_pg_params pn = {.n = 0}, pq = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *grants = json_array();
	int r;

	if (!grants)
		return -ENOMEM;
	store_pg_int(&pn, now);
	store_pg_text(&pn, all ? "true" : "false");
	r = store_pg_exec(c, "SELECT count(*)" GRANT_FILTER, &pn, "counting grants", &n);
	if (r < 0)
		return r;
	store_pg_int(&pq, now);
	store_pg_text(&pq, all ? "true" : "false");
	store_pg_int(&pq, (int64_t) limit);
	store_pg_int(&pq, (int64_t) offset);
	r = store_pg_exec(c,
			  "SELECT g.id, g.serial, g.host_id,"
			  "   (SELECT hostname FROM hosts h WHERE h.id = g.host_id),"
			  "   g.user_name, g.reason, g.created, g.expires, g.created_by,"
			  "   g.revoked, g.revoked_by" GRANT_FILTER
			  " ORDER BY g.created DESC, g.id DESC LIMIT $3 OFFSET $4",
			  &pq, "listing grants", &q);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++) {
		bool revoked = !store_pg_is_null(q, i, 9);
		const char *state = revoked                            ? "revoked"
				    : store_pg_get_int(q, i, 7) <= now ? "expired"
								       : "active";
		json_t *g = json_object();

		if (jsonw_append(grants, g) < 0 ||
		    jsonw_set(g, "id", store_pg_json_string(q, i, 0)) < 0 ||
		    jsonw_set(g, "serial", store_pg_json_string(q, i, 1)) < 0 ||
		    jsonw_set(g, "host_id", store_pg_json_string(q, i, 2)) < 0 ||
		    jsonw_set(g, "hostname", store_pg_json_string(q, i, 3)) < 0 ||
		    jsonw_set(g, "user", store_pg_json_string(q, i, 4)) < 0 ||
		    jsonw_set(g, "reason", store_pg_json_string(q, i, 5)) < 0 ||
		    jsonw_set(g, "created", store_pg_json_int(q, i, 6)) < 0 ||
		    jsonw_set(g, "expires", store_pg_json_int(q, i, 7)) < 0 ||
		    jsonw_set(g, "created_by", store_pg_json_string(q, i, 8)) < 0 ||
		    jsonw_set(g, "revoked", store_pg_json_int(q, i, 9)) < 0 ||
		    jsonw_set(g, "revoked_by", store_pg_json_string(q, i, 10)) < 0 ||
		    jsonw_set(g, "state", json_string(state)) < 0)
			return -ENOMEM;
	}
	*ret = json_pack("{sOsI}", "grants", grants, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_policy_grants_list(struct store *st, int64_t now, bool all, size_t limit,
				size_t offset, json_t **ret)
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
	r = store_pg_end(s, c, grants_list(c, now, all, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int grant_revoke(struct store_pg_conn *c, const char *id, int64_t now, const char *actor)
{
	struct store_pg_params p = {.n = 0};
	int r;

	store_pg_text(&p, id);
	store_pg_int(&p, now);
	store_pg_text(&p, actor);
	r = store_pg_exec(c,
			  "UPDATE grants SET revoked = coalesce(revoked, $2),"
			  "   revoked_by = coalesce(revoked_by, $3)"
			  " WHERE id = $1",
			  &p, "revoking a grant", NULL);
	if (r < 0)
		return r;
	return r == 1 ? 0 : -ENOENT;
}

int store_pg_policy_grant_revoke(struct store *st, const char *id, int64_t now, const char *actor)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	int r;

	if (!id || !actor)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	return store_pg_end(s, c, grant_revoke(c, id, now, actor));
}
