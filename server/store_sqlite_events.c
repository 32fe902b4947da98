/*
 * Events in the SQLite store: agents' batches with the event chain verified on the way in
 * (store_chain.c over the primitives below), one host's events, the chain's evidence,
 * retention purges and the insertion-ordered reading the SIEM forwarder does.
 *
 * Keys. An event's id is its time in milliseconds shifted left by 20 bits plus a counter
 * (the lowest free value in that millisecond), so the primary key is the time index:
 * a time range is an id range, search pages are keyset ranges of id, and the FTS5 index
 * (content_rowid = id) yields matches newest first without sorting. Times are clamped to
 * [0, 2^43) ms (up to the year 2248) for the key; time_ms keeps what the agent sent.
 * (host, seq) is unique: a retried batch stores nothing twice. rx numbers events in the
 * order they were stored (counters.events_rx), which is the order the forwarder follows:
 * an offline laptop's week-old events arrive late but are still forwarded.
 *
 * Every batch is one write transaction with synchronous=FULL (the agent drops what we
 * acknowledge). Purges delete at most a caller-chosen number of rows per transaction so
 * the write lock is never held long.
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

#define KEY_SHIFT    STORE_EVENT_KEY_SHIFT
#define KEY_TIME_MAX STORE_EVENT_KEY_TIME_MAX
#define KEY_SPILL    16 /* milliseconds to move on when one is full (2^20 events) */

/* ---- the primitives of the chain verification ---- */

struct ingest {
	struct store_sqlite_conn *c;
	int64_t host;
	int64_t now;
	int64_t rx;
};

static void copy_hex(char dst[EVCHAIN_HEX], sqlite3_stmt *q, int i)
{
	const char *s = (const char *) sqlite3_column_text(q, i);

	if (s && strlen(s) == EVCHAIN_HEX - 1)
		memcpy(dst, s, EVCHAIN_HEX);
	else
		dst[0] = '\0';
}

static int io_get_event(void *ctx, int64_t seq, struct store_chain_held *ret)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		in->c, "SELECT hash, prev, chain FROM events WHERE host = ?1 AND seq = ?2", &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, in->host);
	(void) sqlite3_bind_int64(q, 2, seq);
	r = store_sqlite_step(in->c, q, "reading an event");
	if (r <= 0)
		return r;
	copy_hex(ret->hash, q, 0);
	copy_hex(ret->prev, q, 1);
	ret->flags = (unsigned) sqlite3_column_int(q, 2);
	return 1;
}

/* The lowest free id in the event's millisecond (or a later one, when it is full). */
static int allocate_id(struct ingest *in, int64_t time_ms, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int64_t t = MAX(INT64_C(0), MIN(time_ms, KEY_TIME_MAX));
	int r = store_sqlite_stmt(in->c, "SELECT max(id) FROM events WHERE id BETWEEN ?1 AND ?2",
				  &q);

	if (r < 0)
		return r;
	for (int i = 0; i < KEY_SPILL && t + i <= KEY_TIME_MAX; i++) {
		int64_t base = (t + i) << KEY_SHIFT, top = base + (INT64_C(1) << KEY_SHIFT) - 1;

		(void) sqlite3_reset(q);
		(void) sqlite3_bind_int64(q, 1, base);
		(void) sqlite3_bind_int64(q, 2, top);
		r = store_sqlite_step(in->c, q, "allocating an event key");
		if (r < 0)
			return r;
		if (sqlite3_column_type(q, 0) == SQLITE_NULL) {
			*ret = base;
			return 0;
		}
		if (sqlite3_column_int64(q, 0) < top) {
			*ret = sqlite3_column_int64(q, 0) + 1;
			return 0;
		}
	}
	return -E2BIG;
}

static int io_insert_event(void *ctx, const struct store_event *e, unsigned flags)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	bool chained = !(e->flags & STORE_CHAIN_UNCHAINED);
	int64_t id;
	int r;

	r = allocate_id(in, e->time_ms, &id);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(
		in->c,
		"INSERT INTO events (id, host, seq, time_ms, mono_ms, type, user_name,"
		"   data, extra, text, prev, hash, chain, received, rx)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
		"   ?15)",
		&q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, id);
	(void) sqlite3_bind_int64(q, 2, in->host);
	(void) sqlite3_bind_int64(q, 3, e->seq);
	(void) sqlite3_bind_int64(q, 4, e->time_ms);
	if (chained)
		(void) sqlite3_bind_int64(q, 5, e->mono_ms);
	(void) store_sqlite_bind_text(q, 6, e->type);
	(void) store_sqlite_bind_text(q, 7, e->user);
	(void) store_sqlite_bind_text(q, 8, e->data);
	(void) store_sqlite_bind_text(q, 9, e->extra);
	(void) store_sqlite_bind_text(q, 10, e->text);
	(void) store_sqlite_bind_text(q, 11, chained ? e->prev : NULL);
	(void) store_sqlite_bind_text(q, 12, chained ? e->hash : NULL);
	(void) sqlite3_bind_int(q, 13, (int) flags);
	(void) sqlite3_bind_int64(q, 14, in->now);
	(void) sqlite3_bind_int64(q, 15, ++in->rx);
	return store_sqlite_step(in->c, q, "storing an event");
}

static int io_set_flags(void *ctx, int64_t seq, unsigned flags)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(in->c,
				  "UPDATE events SET chain = ?3 WHERE host = ?1 AND seq = ?2", &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, in->host);
	(void) sqlite3_bind_int64(q, 2, seq);
	(void) sqlite3_bind_int(q, 3, (int) flags);
	return store_sqlite_step(in->c, q, "flagging an event");
}

static void read_gap(sqlite3_stmt *q, struct store_chain_gap *g)
{
	g->first = sqlite3_column_int64(q, 0);
	g->last = sqlite3_column_int64(q, 1);
	g->evicted = streq((const char *) sqlite3_column_text(q, 2), "evicted");
	g->report_seq = sqlite3_column_int64(q, 3);
	copy_hex(g->prev, q, 4);
	copy_hex(g->hash, q, 5);
}

static int io_gap_from(void *ctx, int64_t seq, struct store_chain_gap *ret)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *at = NULL, *after = NULL;
	int r = store_sqlite_stmt(
		in->c,
		"SELECT first_seq, last_seq, reason, report_seq, run_prev, run_hash"
		" FROM event_gaps WHERE host = ?1 AND first_seq <= ?2"
		" ORDER BY first_seq DESC LIMIT 1",
		&at);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(at, 1, in->host);
	(void) sqlite3_bind_int64(at, 2, seq);
	r = store_sqlite_step(in->c, at, "reading a gap");
	if (r < 0)
		return r;
	if (r > 0 && sqlite3_column_int64(at, 1) >= seq) {
		read_gap(at, ret);
		return 1;
	}
	r = store_sqlite_stmt(in->c,
			      "SELECT first_seq, last_seq, reason, report_seq, run_prev, run_hash"
			      " FROM event_gaps WHERE host = ?1 AND first_seq > ?2"
			      " ORDER BY first_seq LIMIT 1",
			      &after);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(after, 1, in->host);
	(void) sqlite3_bind_int64(after, 2, seq);
	r = store_sqlite_step(in->c, after, "reading a gap");
	if (r <= 0)
		return r;
	read_gap(after, ret);
	return 1;
}

static int io_gap_insert(void *ctx, const struct store_chain_gap *g)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(in->c,
				  "INSERT INTO event_gaps (host, first_seq, last_seq, reason,"
				  "   report_seq, run_prev, run_hash, detected)"
				  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
				  &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, in->host);
	(void) sqlite3_bind_int64(q, 2, g->first);
	(void) sqlite3_bind_int64(q, 3, g->last);
	(void) store_sqlite_bind_text(q, 4, g->evicted ? "evicted" : "missing");
	if (g->evicted)
		(void) sqlite3_bind_int64(q, 5, g->report_seq);
	(void) store_sqlite_bind_text(q, 6, g->prev[0] ? g->prev : NULL);
	(void) store_sqlite_bind_text(q, 7, g->hash[0] ? g->hash : NULL);
	(void) sqlite3_bind_int64(q, 8, in->now);
	return store_sqlite_step(in->c, q, "recording a gap");
}

static int io_gap_delete(void *ctx, int64_t first)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(in->c,
				  "DELETE FROM event_gaps WHERE host = ?1 AND first_seq = ?2", &q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, in->host);
	(void) sqlite3_bind_int64(q, 2, first);
	return store_sqlite_step(in->c, q, "closing a gap");
}

static int io_evidence(void *ctx, const char *kind, int64_t first, int64_t last, json_t *detail)
{
	struct ingest *in = ctx;
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *ext = NULL, *ins = NULL;
	_cleanup_(freep) char *text = NULL;
	int r;

	if (!detail) {
		r = store_sqlite_stmt(in->c,
				      "UPDATE chain_evidence SET last_seq = ?4"
				      " WHERE host = ?1 AND kind = ?2 AND detail IS NULL"
				      "   AND last_seq = ?3 - 1",
				      &ext);
		if (r < 0)
			return r;
		(void) sqlite3_bind_int64(ext, 1, in->host);
		(void) store_sqlite_bind_text(ext, 2, kind);
		(void) sqlite3_bind_int64(ext, 3, first);
		(void) sqlite3_bind_int64(ext, 4, last);
		r = store_sqlite_step(in->c, ext, "extending evidence");
		if (r < 0 || sqlite3_changes(in->c->db) > 0)
			return r;
	} else if (!(text = jsonw_dump(detail))) {
		return -ENOMEM;
	}
	r = store_sqlite_stmt(
		in->c,
		"INSERT INTO chain_evidence (host, kind, first_seq, last_seq, detected,"
		"   detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		&ins);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(ins, 1, in->host);
	(void) store_sqlite_bind_text(ins, 2, kind);
	(void) sqlite3_bind_int64(ins, 3, first);
	(void) sqlite3_bind_int64(ins, 4, last);
	(void) sqlite3_bind_int64(ins, 5, in->now);
	(void) store_sqlite_bind_text(ins, 6, text);
	return store_sqlite_step(in->c, ins, "recording evidence");
}

/* ---- ingest ---- */

static int counter(struct store_sqlite_conn *c, int64_t *ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(c, "SELECT value FROM counters WHERE name = 'events_rx'", &q);

	if (r < 0)
		return r;
	r = store_sqlite_step(c, q, "reading the event counter");
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = sqlite3_column_int64(q, 0);
	return 0;
}

static int ingest(struct store_sqlite_conn *c, const char *host_id, const struct store_event *ev,
		  size_t n, int64_t now, struct store_ingest_result *res)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *h = NULL, *upd = NULL, *cnt = NULL,
						    *fts = NULL;
	struct ingest in = {.c = c, .now = now};
	int64_t first_rx;
	const struct store_chain_io io = {
		.ctx = &in,
		.get_event = io_get_event,
		.insert_event = io_insert_event,
		.set_flags = io_set_flags,
		.gap_from = io_gap_from,
		.gap_insert = io_gap_insert,
		.gap_delete = io_gap_delete,
		.evidence = io_evidence,
	};
	int64_t max_seq;
	int r;

	r = store_sqlite_stmt(c, "SELECT num, max_seq FROM hosts WHERE id = ?1 AND deleted IS NULL",
			      &h);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(h, 1, host_id);
	r = store_sqlite_step(c, h, "finding a host");
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	in.host = sqlite3_column_int64(h, 0);
	max_seq = sqlite3_column_int64(h, 1);
	r = counter(c, &in.rx);
	if (r < 0)
		return r;
	first_rx = in.rx;
	r = store_chain_ingest(&io, host_id, ev, n, &max_seq, res);
	if (r < 0)
		return r;
	/* The batch into the full-text index in one statement, in key order: FTS5 writes its
	 * pending terms out at the end of every statement and whenever a key goes backwards,
	 * so a row at a time would make a segment per row (measured: 4x slower ingestion). */
	r = store_sqlite_stmt(c,
			      "INSERT INTO events_fts(rowid, text)"
			      " SELECT id, text FROM events WHERE rx > ?1 AND rx <= ?2 ORDER BY id",
			      &fts);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(fts, 1, first_rx);
	(void) sqlite3_bind_int64(fts, 2, in.rx);
	r = store_sqlite_step(c, fts, "indexing events");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "UPDATE hosts SET max_seq = ?2 WHERE num = ?1", &upd);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(upd, 1, in.host);
	(void) sqlite3_bind_int64(upd, 2, max_seq);
	r = store_sqlite_step(c, upd, "acknowledging events");
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c, "UPDATE counters SET value = ?1 WHERE name = 'events_rx'", &cnt);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(cnt, 1, in.rx);
	r = store_sqlite_step(c, cnt, "counting events");
	if (r < 0)
		return r;
	res->acked_seq = (uint64_t) max_seq;
	return 0;
}

int store_sqlite_events_ingest(struct store *st, const char *host_id, const struct store_event *ev,
			       size_t n, int64_t now, struct store_ingest_result *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_ingest_result res = {0};
	struct store_sqlite_conn *c;
	int r;

	r = store_sqlite_begin_write(s, STORE_SQLITE_FULL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, ingest(c, host_id, ev, n, now, &res));
	if (r >= 0)
		*ret = res;
	return r;
}

/* ---- reading events ---- */

json_t *store_sqlite_events_json(sqlite3_stmt *q)
{
	_cleanup_(json_decrefp) json_t *e = sqlite3_column_type(q, 6) == SQLITE_NULL
						    ? json_object()
						    : store_sqlite_column_json(q, 6);

	if (!json_is_object(e) || jsonw_set(e, "host_id", store_sqlite_column_string(q, 13)) < 0 ||
	    jsonw_set(e, "hostname", store_sqlite_column_string(q, 14)) < 0 ||
	    jsonw_set(e, "seq", store_sqlite_column_int(q, 0)) < 0 ||
	    jsonw_set(e, "time", store_sqlite_column_int(q, 1)) < 0 ||
	    jsonw_set(e, "mono", store_sqlite_column_int(q, 2)) < 0 ||
	    jsonw_set(e, "type", store_sqlite_column_string(q, 3)) < 0 ||
	    /* an agent's own top-level "user" (kept in extra) stays when data names none */
	    (sqlite3_column_type(q, 4) != SQLITE_NULL || !json_object_get(e, "user")
		     ? jsonw_set(e, "user", store_sqlite_column_string(q, 4)) < 0
		     : false) ||
	    jsonw_set(e, "data", store_sqlite_column_json(q, 5)) < 0 ||
	    jsonw_set(e, "received", store_sqlite_column_int(q, 7)) < 0 ||
	    jsonw_set(e, "chain",
		      json_string(store_chain_flags_string((unsigned) sqlite3_column_int(q, 8)))) <
		    0 ||
	    jsonw_set(e, "hash", store_sqlite_column_string(q, 9)) < 0 ||
	    jsonw_set(e, "prev", store_sqlite_column_string(q, 10)) < 0)
		return NULL;
	return TAKE_PTR(e);
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
			      "SELECT " STORE_SQLITE_EVENT_COLS
			      " FROM events e JOIN hosts h ON h.num = e.host"
			      " WHERE e.host = ?1 AND e.seq > ?2 AND (?4 IS NULL OR e.type = ?4)"
			      " ORDER BY e.seq LIMIT ?3",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, sqlite3_column_int64(h, 0));
	(void) sqlite3_bind_int64(q, 2, after > INT64_MAX ? INT64_MAX : (int64_t) after);
	(void) sqlite3_bind_int64(q, 3, (int64_t) limit);
	(void) store_sqlite_bind_text(q, 4, type);
	while ((r = store_sqlite_step(c, q, "listing events")) > 0)
		if (jsonw_append(events, store_sqlite_events_json(q)) < 0)
			return -ENOMEM;
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

/* ---- evidence ---- */

int store_sqlite_events_evidence_summary(struct store_sqlite_conn *c, int64_t host, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	int r = store_sqlite_stmt(
		c,
		"SELECT (SELECT count(*) FROM event_gaps WHERE host = ?1),"
		"   (SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM event_gaps"
		"     WHERE host = ?1 AND reason = 'missing'),"
		"   (SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM event_gaps"
		"     WHERE host = ?1 AND reason = 'evicted'),"
		"   (SELECT count(*) FROM chain_evidence WHERE host = ?1 AND kind != 'unchained'),"
		"   (SELECT count(*) FROM events WHERE host = ?1 AND chain != 0)",
		&q);

	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, host);
	r = store_sqlite_step(c, q, "summing up evidence");
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret = json_pack("{sIsIsIsIsI}", "gaps", (json_int_t) sqlite3_column_int64(q, 0), "missing",
			 (json_int_t) sqlite3_column_int64(q, 1), "evicted",
			 (json_int_t) sqlite3_column_int64(q, 2), "breaks",
			 (json_int_t) sqlite3_column_int64(q, 3), "flagged",
			 (json_int_t) sqlite3_column_int64(q, 4));
	return *ret ? 0 : -ENOMEM;
}

static int evidence(struct store_sqlite_conn *c, const char *host_id, size_t limit, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *g = NULL, *b = NULL;
	_cleanup_(json_decrefp) json_t *gaps = json_array(), *breaks = json_array(), *sum = NULL;
	int64_t host;
	int r;

	if (!gaps || !breaks)
		return -ENOMEM;
	r = store_sqlite_host_num(c, host_id, &host);
	if (r < 0)
		return r;
	r = store_sqlite_events_evidence_summary(c, host, &sum);
	if (r < 0)
		return r;
	r = store_sqlite_stmt(c,
			      "SELECT first_seq, last_seq, reason, report_seq, detected"
			      " FROM event_gaps WHERE host = ?1 ORDER BY first_seq LIMIT ?2",
			      &g);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(g, 1, host);
	(void) sqlite3_bind_int64(g, 2, (int64_t) limit);
	while ((r = store_sqlite_step(c, g, "listing gaps")) > 0)
		if (jsonw_append(gaps,
				 json_pack("{sIsIsIsosIso}", "first_seq",
					   (json_int_t) sqlite3_column_int64(g, 0), "last_seq",
					   (json_int_t) sqlite3_column_int64(g, 1), "count",
					   (json_int_t) (sqlite3_column_int64(g, 1) -
							 sqlite3_column_int64(g, 0) + 1),
					   "reason", store_sqlite_column_string(g, 2), "detected",
					   (json_int_t) sqlite3_column_int64(g, 4), "report_seq",
					   store_sqlite_column_int(g, 3))) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	r = store_sqlite_stmt(
		c,
		"SELECT kind, first_seq, last_seq, detected, detail"
		" FROM chain_evidence WHERE host = ?1 ORDER BY first_seq, id LIMIT ?2",
		&b);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(b, 1, host);
	(void) sqlite3_bind_int64(b, 2, (int64_t) limit);
	while ((r = store_sqlite_step(c, b, "listing evidence")) > 0)
		if (jsonw_append(breaks,
				 json_pack("{sosIsIsIso}", "kind", store_sqlite_column_string(b, 0),
					   "first_seq", (json_int_t) sqlite3_column_int64(b, 1),
					   "last_seq", (json_int_t) sqlite3_column_int64(b, 2),
					   "detected", (json_int_t) sqlite3_column_int64(b, 3),
					   "detail", store_sqlite_column_json(b, 4))) < 0)
			return -ENOMEM;
	if (r < 0)
		return r;
	*ret = json_pack("{sssOsOsO}", "host_id", host_id, "gaps", gaps, "breaks", breaks,
			 "summary", sum);
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_events_evidence(struct store *st, const char *host_id, size_t limit, json_t **ret)
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
	r = store_sqlite_end(s, c, evidence(c, host_id, limit, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- retention ---- */

/*
 * Deletes what one batch picks; *ret_more tells whether the batch was full. The batch is
 * found by walking at most `max` keys, then deleted by one statement over that key range,
 * because FTS5 writes its pending changes out at the end of every statement.
 */
static int purge(struct store_sqlite_conn *c, const char *type, const char *except,
		 int64_t before_ms, int64_t *io_key, size_t max, size_t *ret_deleted,
		 bool *ret_more)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *pick = NULL, *del = NULL;
	int64_t cutoff = MAX(INT64_C(0), MIN(before_ms, KEY_TIME_MAX)) << KEY_SHIFT;
	int64_t key = *io_key, last = *io_key;
	size_t scanned = 0;
	int r;

	/* One type: its (type, id) index from the oldest. Every other type: the primary key
	 * from where the last batch stopped, stepping over (never rescanning) the types kept
	 * longer; they count against the batch, so a batch stays short either way. */
	if (type)
		r = store_sqlite_stmt(
			c,
			"SELECT max(id), count(*) FROM (SELECT id FROM events"
			" WHERE type = ?1 AND id > ?2 AND id < ?3 ORDER BY id LIMIT ?4)",
			&pick);
	else
		r = store_sqlite_stmt(c,
				      "SELECT max(id), count(*) FROM (SELECT id FROM events"
				      " WHERE id > ?2 AND id < ?3 AND ?1 IS NOT NULL ORDER BY id"
				      " LIMIT ?4)",
				      &pick);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(pick, 1, type ? type : except);
	(void) sqlite3_bind_int64(pick, 2, key);
	(void) sqlite3_bind_int64(pick, 3, cutoff);
	(void) sqlite3_bind_int64(pick, 4, (int64_t) max);
	r = store_sqlite_step(c, pick, "choosing events to purge");
	if (r < 0)
		return r;
	scanned = (size_t) sqlite3_column_int64(pick, 1);
	if (scanned > 0)
		last = sqlite3_column_int64(pick, 0);
	if (type)
		r = store_sqlite_stmt(
			c, "DELETE FROM events WHERE type = ?1 AND id > ?2 AND id <= ?3", &del);
	else
		r = store_sqlite_stmt(c,
				      "DELETE FROM events WHERE id > ?2 AND id <= ?3"
				      "   AND type NOT IN (SELECT value FROM json_each(?1))",
				      &del);
	if (r < 0)
		return r;
	(void) store_sqlite_bind_text(del, 1, type ? type : except);
	(void) sqlite3_bind_int64(del, 2, key);
	(void) sqlite3_bind_int64(del, 3, last);
	r = scanned ? store_sqlite_step(c, del, "purging events") : 0;
	if (r < 0)
		return r;
	*io_key = last;
	*ret_deleted = scanned ? (size_t) sqlite3_changes(c->db) : 0;
	*ret_more = scanned == max;
	return 0;
}

int store_sqlite_events_purge(struct store *st, const char *type, json_t *except, int64_t before_ms,
			      int64_t *io_key, size_t max, size_t *ret_deleted)
{
	struct store_sqlite *s = store_sqlite_of(st);
	_cleanup_(freep) char *except_text = NULL;
	struct store_sqlite_conn *c;
	int64_t key;
	size_t deleted = 0;
	bool more = false;
	int r;

	if (!io_key || !ret_deleted || max < 1 || max > 100000 ||
	    (except && !json_is_array(except)))
		return -EINVAL;
	except_text = except ? jsonw_dump(except) : mm_strdup("[]");
	if (!except_text)
		return -ENOMEM;
	key = *io_key;
	r = store_sqlite_begin_write(s, STORE_SQLITE_NORMAL, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c,
			     purge(c, type, except_text, before_ms, &key, max, &deleted, &more));
	if (r < 0)
		return r;
	*io_key = key;
	*ret_deleted = deleted;
	return more ? 1 : 0;
}

/* ---- reading in insertion order ---- */

static int since(struct store_sqlite_conn *c, int64_t after, size_t limit, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *q = NULL;
	_cleanup_(json_decrefp) json_t *events = json_array();
	int r;

	if (!events)
		return -ENOMEM;
	r = store_sqlite_stmt(c,
			      "SELECT " STORE_SQLITE_EVENT_COLS
			      " FROM events e JOIN hosts h ON h.num = e.host"
			      " WHERE e.rx > ?1 ORDER BY e.rx LIMIT ?2",
			      &q);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(q, 1, after);
	(void) sqlite3_bind_int64(q, 2, (int64_t) limit);
	while ((r = store_sqlite_step(c, q, "reading events in order")) > 0) {
		json_t *e = store_sqlite_events_json(q);

		if (jsonw_append(events, e) < 0 ||
		    jsonw_set(e, "rx", store_sqlite_column_int(q, 12)))
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sO}", "events", events);
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_events_since(struct store *st, int64_t after, size_t limit, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > 1000 || !ret)
		return -EINVAL;
	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, since(c, after, limit, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

int store_sqlite_events_position(struct store *st, int64_t *ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	int64_t v = 0;
	int r;

	r = store_sqlite_begin_read(s, &c);
	if (r < 0)
		return r;
	r = store_sqlite_end(s, c, counter(c, &v));
	if (r >= 0)
		*ret = v;
	return r;
}
