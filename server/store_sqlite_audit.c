/*
 * The audit trail in the SQLite store: an append-only chain of admin actions.
 *
 * Each record's hash is SHA-256(prev_hash || canonical JSON of the record), in hex, where
 * the record is {"id", "time", "actor", "action", "target", "details", "remote"} serialised
 * compactly with sorted keys, and prev_hash is the previous record's hash (64 zeros for
 * the first). Altering, removing or reordering a record breaks the chain from there on,
 * which store_audit_list reports as chain_ok = false. Triggers refuse UPDATE and DELETE on
 * the table, so only somebody bypassing the store can tamper, and that shows.
 *
 * Limits: the chain proves the records are the ones written, in order, but not that none
 * were cut off the end; an external anchor (the latest hash copied elsewhere) would. The
 * whole chain is verified on every listing: linear, and fine for the trail of a few
 * administrators (a million records hash in about a second).
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

static int append(struct store_sqlite_conn *c, int64_t now, const char *actor, const char *action,
		  const char *target, json_t *details, const char *remote)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *last = NULL, *ins = NULL;
	_cleanup_(freep) char *details_text = details ? jsonw_dump(details) : NULL;
	char prev[STORE_DIGEST_HEX], hash[STORE_DIGEST_HEX];
	int64_t id = 1;
	int r;

	if (details && !details_text)
		return -ENOMEM;
	memcpy(prev, store_prep_audit_genesis, sizeof(prev));
	r = store_sqlite_stmt(c, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &last);
	if (r < 0)
		return r;
	r = store_sqlite_step(c, last, "reading the audit trail");
	if (r < 0)
		return r;
	if (r > 0) {
		const char *h = (const char *) sqlite3_column_text(last, 1);

		if (!h || strlen(h) != STORE_DIGEST_HEX - 1)
			return -EIO;
		memcpy(prev, h, STORE_DIGEST_HEX);
		id = sqlite3_column_int64(last, 0) + 1;
	}
	r = store_prep_audit_hash(prev, id, now, actor, action, target, details, remote, hash);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "INSERT INTO audit (id, time, actor, action, target, details, remote,"
			      "   prev_hash, hash)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			      &ins);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(ins, 1, id);
	(void) sqlite3_bind_int64(ins, 2, now);
	(void) store_sqlite_bind_text(ins, 3, actor);
	(void) store_sqlite_bind_text(ins, 4, action);
	(void) store_sqlite_bind_text(ins, 5, target);
	(void) store_sqlite_bind_text(ins, 6, details_text);
	(void) store_sqlite_bind_text(ins, 7, remote);
	(void) store_sqlite_bind_text(ins, 8, prev);
	(void) store_sqlite_bind_text(ins, 9, hash);
	return store_sqlite_step(c, ins, "appending to the audit trail");
}

int store_sqlite_audit_append(struct store *st, int64_t now, const char *actor, const char *action,
			      const char *target, json_t *details, const char *remote)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int r;

	if (!actor || !action || (details && !json_is_object(details)))
		return -EINVAL;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	return store_sqlite_end(s, c, append(c, now, actor, action, target, details, remote));
}

static const char *text_or_null(sqlite3_stmt *q, int i)
{
	return (const char *) sqlite3_column_text(q, i);
}

/* Walks the whole chain in order; *ret_ok tells whether every link and hash holds. */
static int verify(struct store_sqlite_conn *c, bool *ret_ok)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	char prev[STORE_DIGEST_HEX], hash[STORE_DIGEST_HEX];
	int r;

	memcpy(prev, store_prep_audit_genesis, sizeof(prev));
	r = store_sqlite_stmt(c,
			      "SELECT id, time, actor, action, target, details, remote, prev_hash,"
			      "   hash"
			      " FROM audit ORDER BY id",
			      &q);
	if (r < 0)
		return r;
	while ((r = store_sqlite_step(c, q, "verifying the audit trail")) > 0) {
		_cleanup_(json_decrefp) json_t *details = store_sqlite_column_json(q, 5);
		const char *stored_prev = text_or_null(q, 7), *stored = text_or_null(q, 8);
		const char *actor = text_or_null(q, 2), *action = text_or_null(q, 3);

		if (!details)
			return -ENOMEM;
		if (!stored_prev || !stored || !actor || !action || !streq(stored_prev, prev)) {
			*ret_ok = false;
			return 0;
		}
		r = store_prep_audit_hash(
			prev, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), actor, action,
			text_or_null(q, 4), json_is_null(details) ? NULL : details,
			text_or_null(q, 6), hash);
		if (r < 0)
			return r;
		if (!streq(hash, stored)) {
			*ret_ok = false;
			return 0;
		}
		memcpy(prev, hash, sizeof(prev));
	}
	if (r < 0)
		return r;
	*ret_ok = true;
	return 0;
}

static int list(struct store_sqlite_conn *c, size_t limit, size_t offset, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *n = NULL;
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
	r = store_sqlite_stmt(c, "SELECT count(*) FROM audit", &n);
	if (r < 0)
		return r;
	r = store_sqlite_step(c, n, "counting audit records");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT id, time, actor, action, target, details, remote, hash"
			      " FROM audit ORDER BY id DESC LIMIT ?1 OFFSET ?2",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, (int64_t) limit);
	(void) sqlite3_bind_int64(q, 2, (int64_t) offset);
	while ((r = store_sqlite_step(c, q, "listing audit records")) > 0) {
		json_t *rec = json_object();

		if (jsonw_append(records, rec) < 0 ||
		    jsonw_set(rec, "id", store_sqlite_column_int(q, 0)) < 0 ||
		    jsonw_set(rec, "time", store_sqlite_column_int(q, 1)) < 0 ||
		    jsonw_set(rec, "actor", store_sqlite_column_string(q, 2)) < 0 ||
		    jsonw_set(rec, "action", store_sqlite_column_string(q, 3)) < 0 ||
		    jsonw_set(rec, "target", store_sqlite_column_string(q, 4)) < 0 ||
		    jsonw_set(rec, "details", store_sqlite_column_json(q, 5)) < 0 ||
		    jsonw_set(rec, "remote", store_sqlite_column_string(q, 6)) < 0 ||
		    jsonw_set(rec, "hash", store_sqlite_column_string(q, 7)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsIsb}", "records", records, "total",
			 (json_int_t) sqlite3_column_int64(n, 0), "chain_ok", ok);
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_audit_list(struct store *st, size_t limit, size_t offset, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > 1000 || offset > INT64_MAX)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, list(c, limit, offset, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
