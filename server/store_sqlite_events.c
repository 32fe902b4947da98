/*
 * Events in the SQLite store: the agents' event batches and the admin's view of them.
 *
 * events is keyed (host, seq) WITHOUT ROWID: the table is its own primary-key index, so an
 * event is written once rather than into a table and an index, and a host's events are
 * stored together in sequence order, which is how they are read back. A batch is one
 * INSERT … ON CONFLICT DO NOTHING per event in one transaction: a retried batch stores
 * nothing twice, and sqlite3_changes() tells which events were new. hosts.max_seq keeps
 * the highest sequence held, so acknowledging never scans the events.
 *
 * An event's "data" member goes to the data column; members other than seq, time, type
 * and data (none are defined yet) are kept together in extra, so nothing the agent sent
 * is dropped.
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "server/store_sqlite.h"

static int append(struct store_sqlite_conn *c, const char *host_id, const struct store_event *ev,
		  size_t n, int64_t now, uint64_t *ret_acked, size_t *ret_stored)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *ins = NULL, *upd = NULL;
	int64_t host, batch_max = 0;
	size_t stored = 0;
	int r;

	r = store_sqlite_host_num(c, host_id, &host);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "INSERT INTO events (host, seq, time_ms, type, data, extra, received)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
			      " ON CONFLICT DO NOTHING",
			      &ins);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(ins, 1, host);
	(void) sqlite3_bind_int64(ins, 7, now);
	for (size_t i = 0; i < n; i++) {
		(void) sqlite3_bind_int64(ins, 2, ev[i].seq);
		(void) sqlite3_bind_int64(ins, 3, ev[i].time_ms);
		(void) store_sqlite_bind_text(ins, 4, ev[i].type);
		(void) store_sqlite_bind_text(ins, 5, ev[i].data);
		(void) store_sqlite_bind_text(ins, 6, ev[i].extra);
		r = store_sqlite_step(c, ins, "storing an event");
		(void) sqlite3_reset(ins);
		if (r < 0)
			return r;
		stored += (size_t) sqlite3_changes(c->db);
		batch_max = MAX(batch_max, ev[i].seq);
	}
	r = store_sqlite_stmt(c,
			      "UPDATE hosts SET max_seq = max(max_seq, ?2) WHERE num = ?1"
			      " RETURNING max_seq",
			      &upd);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(upd, 1, host);
	(void) sqlite3_bind_int64(upd, 2, batch_max);
	r = store_sqlite_step(c, upd, "acknowledging events");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret_acked = (uint64_t) sqlite3_column_int64(upd, 0);
	*ret_stored = stored;
	return store_sqlite_step(c, upd, "acknowledging events");
}

int store_sqlite_events_append(struct store *st, const char *host_id, json_t *events, int64_t now,
			       uint64_t *ret_acked, size_t *ret_stored)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	struct store_event *ev = NULL;
	uint64_t acked = 0;
	size_t stored = 0, n = 0;
	int r;

	if (!host_id)
		return -EINVAL;
	/* validate and serialise before taking the writer: other threads may write meanwhile */
	r = store_prep_events(events, &ev, &n);
	if (r < 0)
		return r;
	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		goto out;
	r = store_sqlite_end(s, c, append(c, host_id, ev, n, now, &acked, &stored));
	if (r < 0)
		goto out;
	if (ret_acked)
		*ret_acked = acked;
	if (ret_stored)
		*ret_stored = stored;
out:
	store_prep_events_free(ev, n);
	return r;
}

static int list(struct store_sqlite_conn *c, const char *host_id, uint64_t after, const char *type,
		size_t limit, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL, *h = NULL;
	_cleanup_(json_decrefp) json_t *events = json_array();
	int r;

	if (!events)
		return -ENOMEM;
	r = store_sqlite_stmt(c, "SELECT num, max_seq FROM hosts WHERE id = ?1 AND deleted IS NULL",
			      &h);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(h, 1, host_id);
	r = store_sqlite_step(c, h, "finding a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	r = store_sqlite_stmt(c,
			      "SELECT seq, time_ms, type, data, extra, received FROM events"
			      " WHERE host = ?1 AND seq > ?2 AND (?4 IS NULL OR type = ?4)"
			      " ORDER BY seq LIMIT ?3",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, sqlite3_column_int64(h, 0));
	(void) sqlite3_bind_int64(q, 2, after > INT64_MAX ? INT64_MAX : (int64_t) after);
	(void) sqlite3_bind_int64(q, 3, (int64_t) limit);
	(void) store_sqlite_bind_text(q, 4, type);
	while ((r = store_sqlite_step(c, q, "listing events")) > 0) {
		json_t *e = sqlite3_column_type(q, 4) == SQLITE_NULL
				    ? json_object()
				    : store_sqlite_column_json(q, 4);

		if (jsonw_append(events, e) < 0 || !json_is_object(e) ||
		    jsonw_set(e, "seq", store_sqlite_column_int(q, 0)) < 0 ||
		    jsonw_set(e, "time", store_sqlite_column_int(q, 1)) < 0 ||
		    jsonw_set(e, "type", store_sqlite_column_string(q, 2)) < 0 ||
		    jsonw_set(e, "data", store_sqlite_column_json(q, 3)) < 0 ||
		    jsonw_set(e, "received", store_sqlite_column_int(q, 5)) < 0)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsI}", "events", events, "acked_seq",
			 (json_int_t) sqlite3_column_int64(h, 1));
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_events_list(struct store *st, const char *host_id, uint64_t after,
			     const char *type, size_t limit, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id || limit < 1 || limit > 1000)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, list(c, host_id, after, type, limit, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
