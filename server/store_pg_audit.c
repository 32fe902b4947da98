/*
 * The audit trail in the PostgreSQL store: the same append-only hash chain as
 * store_sqlite_audit.c (the hash is store_prep_audit_hash()), for several servers at once.
 *
 * Appending reads the chain's head and writes the next record, so two servers appending at
 * the same moment must take turns or they would both link to the same head and fork the
 * chain. Each append first takes a transaction-level advisory lock (released at commit or
 * rollback, or when the session dies), so appends from every server sharing the database
 * queue up. Behind the lock stand two constraints that make a fork impossible even for a
 * writer that skips it: id is the primary key (one record per position) and prev_hash is
 * UNIQUE (one successor per record). Triggers refuse UPDATE, DELETE and TRUNCATE.
 *
 * Verifying walks the whole chain in id order, CHUNK records per round trip, so a long
 * trail never sits in memory at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "server/store_pg.h"

#define LOCK_NS    1835101551
#define LOCK_AUDIT 2
#define CHUNK      2000

static int append(struct store_pg_conn *c, int64_t now, const char *actor, const char *action,
		  const char *target, json_t *details, const char *remote)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *last = NULL;
	_cleanup_(freep) char *details_text = details ? jsonw_dump(details) : NULL;
	char prev[STORE_DIGEST_HEX], hash[STORE_DIGEST_HEX], lock[64];
	int64_t id = 1;
	int r;

	if (details && !details_text)
		return -ENOMEM;
	(void) snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d, %d)", LOCK_NS,
			LOCK_AUDIT);
	r = store_pg_simple(c, lock, "waiting to append to the audit trail");
	if (r < 0)
		return r;
	memcpy(prev, store_prep_audit_genesis, sizeof(prev));
	r = store_pg_exec(c, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", NULL,
			  "reading the audit trail", &last);
	if (r < 0)
		return r;
	if (r > 0) {
		const char *h = store_pg_get(last, 0, 1);

		if (!h || strlen(h) != STORE_DIGEST_HEX - 1)
			return -EIO;
		memcpy(prev, h, STORE_DIGEST_HEX);
		id = store_pg_get_int(last, 0, 0) + 1;
	}
	r = store_prep_audit_hash(prev, id, now, actor, action, target, details, remote, hash);
	if (r < 0)
		return r;
	store_pg_int(&p, id);
	store_pg_int(&p, now);
	store_pg_text(&p, actor);
	store_pg_text(&p, action);
	store_pg_text(&p, target);
	store_pg_text(&p, details_text);
	store_pg_text(&p, remote);
	store_pg_text(&p, prev);
	store_pg_text(&p, hash);
	r = store_pg_exec(c,
			  "INSERT INTO audit (id, time, actor, action, target, details, remote,"
			  "   prev_hash, hash)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			  &p, "appending to the audit trail", NULL);
	return r < 0 ? r : 0;
}

int store_pg_audit_append(struct store *st, int64_t now, const char *actor, const char *action,
			  const char *target, json_t *details, const char *remote)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	int r;

	if (!actor || !action || (details && !json_is_object(details)))
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	return store_pg_end(s, c, append(c, now, actor, action, target, details, remote));
}

/* Checks records [0, n) of one chunk against the chain so far (prev). */
static int verify_chunk(const PGresult *q, int n, char prev[STORE_DIGEST_HEX], bool *ret_ok)
{
	for (int i = 0; i < n; i++) {
		_cleanup_(json_decrefp) json_t *details = store_pg_json_value(q, i, 5);
		const char *stored_prev = store_pg_get(q, i, 7), *stored = store_pg_get(q, i, 8);
		const char *actor = store_pg_get(q, i, 2), *action = store_pg_get(q, i, 3);
		char hash[STORE_DIGEST_HEX];
		int r;

		if (!details)
			return -ENOMEM;
		if (!stored_prev || !stored || !actor || !action || !streq(stored_prev, prev)) {
			*ret_ok = false;
			return 0;
		}
		r = store_prep_audit_hash(
			prev, store_pg_get_int(q, i, 0), store_pg_get_int(q, i, 1), actor, action,
			store_pg_get(q, i, 4), json_is_null(details) ? NULL : details,
			store_pg_get(q, i, 6), hash);
		if (r < 0)
			return r;
		if (!streq(hash, stored)) {
			*ret_ok = false;
			return 0;
		}
		memcpy(prev, hash, STORE_DIGEST_HEX);
	}
	*ret_ok = true;
	return 0;
}

/* Walks the whole chain in order; *ret_ok tells whether every link and hash holds. */
static int verify(struct store_pg_conn *c, bool *ret_ok)
{
	char prev[STORE_DIGEST_HEX];
	int64_t after = INT64_MIN;
	bool ok = true;

	memcpy(prev, store_prep_audit_genesis, sizeof(prev));
	for (;;) {
		struct store_pg_params p = {.n = 0};
		_cleanup_(store_pg_clearp) PGresult *q = NULL;
		int n, r;

		store_pg_int(&p, after);
		store_pg_int(&p, CHUNK);
		n = store_pg_exec(c,
				  "SELECT id, time, actor, action, target, details, remote,"
				  "   prev_hash, hash"
				  " FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
				  &p, "verifying the audit trail", &q);
		if (n < 0)
			return n;
		r = verify_chunk(q, n, prev, &ok);
		if (r < 0)
			return r;
		if (!ok || n < CHUNK)
			break;
		after = store_pg_get_int(q, n - 1, 0);
	}
	*ret_ok = ok;
	return 0;
}

static int list(struct store_pg_conn *c, size_t limit, size_t offset, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL, *n = NULL;
	_cleanup_(json_decrefp) json_t *records = json_array();
	bool ok = false;
	int r;

	if (!records)
		return -ENOMEM;
	r = verify(c, &ok);
	if (r < 0)
		return r;
	if (!ok)
		log_warning("(M5001) audit trail: the hash chain is broken: records were altered "
			    "or removed outside mamori");
	r = store_pg_exec(c, "SELECT count(*) FROM audit", NULL, "counting audit records", &n);
	if (r < 0)
		return r;
	store_pg_int(&p, (int64_t) limit);
	store_pg_int(&p, (int64_t) offset);
	r = store_pg_exec(c,
			  "SELECT id, time, actor, action, target, details, remote, hash"
			  " FROM audit ORDER BY id DESC LIMIT $1 OFFSET $2",
			  &p, "listing audit records", &q);
	if (r < 0)
		return r;
	for (int i = 0; i < r; i++) {
		json_t *rec = json_object();

		if (jsonw_append(records, rec) < 0 ||
		    jsonw_set(rec, "id", store_pg_json_int(q, i, 0)) < 0 ||
		    jsonw_set(rec, "time", store_pg_json_int(q, i, 1)) < 0 ||
		    jsonw_set(rec, "actor", store_pg_json_string(q, i, 2)) < 0 ||
		    jsonw_set(rec, "action", store_pg_json_string(q, i, 3)) < 0 ||
		    jsonw_set(rec, "target", store_pg_json_string(q, i, 4)) < 0 ||
		    jsonw_set(rec, "details", store_pg_json_value(q, i, 5)) < 0 ||
		    jsonw_set(rec, "remote", store_pg_json_string(q, i, 6)) < 0 ||
		    jsonw_set(rec, "hash", store_pg_json_string(q, i, 7)) < 0)
			return -ENOMEM;
	}
	*ret = json_pack("{sOsIsb}", "records", records, "total",
			 (json_int_t) store_pg_get_int(n, 0, 0), "chain_ok", ok);
	return *ret ? 0 : -ENOMEM;
}

int store_pg_audit_list(struct store *st, size_t limit, size_t offset, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > 1000 || offset > INT64_MAX)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, list(c, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
