/*
 * Events in the PostgreSQL store: the agents' event batches, the admin's view of them, and
 * the monthly partitions they live in.
 *
 * events is partitioned by RANGE on `received` (the server's time of storing, in seconds),
 * one partition a month, named events_YYYYMM, so the retention job drops a month with a
 * DROP TABLE instead of deleting rows one by one. The key is the server's time rather
 * than the event's own `time_ms`: that comes from the agent's clock, and a laptop whose
 * clock says 1970 or 2099 (a dead RTC battery, or a hostile agent writing one event per
 * month over a thousand years) would otherwise decide which partitions exist. Events
 * arrive within days of happening (the spool holds them meanwhile), so the two times pick
 * the same month for nearly every event.
 *
 * PostgreSQL wants the partition key in every unique constraint, so (host, seq) cannot be
 * unique in events itself. event_seqs (host, seq) PRIMARY KEY holds it instead: a batch
 * is one statement that inserts its seqs there ON CONFLICT DO NOTHING and inserts into
 * events only the rows whose seq went in, so a retried batch stores nothing twice, across
 * servers too (the primary key decides, not this process). The host's row is locked
 * first, which serialises batches of one host and so avoids two overlapping batches
 * deadlocking on each other's seqs; hosts.max_seq is the acknowledgement, as in SQLite.
 *
 * A partition is created before the first insert into its month — by store_maintain()
 * ahead of time, or by the batch itself in a short transaction of its own, serialised by an
 * advisory lock, and remembered in this process. If a partition disappears behind our
 * back (dropped by retention, or by hand) the insert fails with "no partition", the cache
 * is forgotten and the batch retried once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "server/store_pg.h"

#define LOCK_NS         1835101551
#define LOCK_PARTITIONS 3
#define MAX_MONTHS      1200 /* partitions created by one call: a century */

/* ---- partitions ---- */

/* The month holding Unix time t, as year * 12 + month (0-based). */
static int64_t month_of(int64_t t)
{
	time_t tt = (time_t) t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm))
		return 0;
	return ((int64_t) tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static int64_t month_start(int64_t m)
{
	struct tm tm = {.tm_year = (int) (m / 12 - 1900), .tm_mon = (int) (m % 12), .tm_mday = 1};

	return (int64_t) timegm(&tm);
}

/* Creates the partitions of months m0..m1 that do not exist yet, in c's transaction. */
static int create_partitions(struct store_pg_conn *c, int64_t m0, int64_t m1)
{
	char sql[256];
	int r;

	(void) snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, %d)", LOCK_NS,
			LOCK_PARTITIONS);
	r = store_pg_simple(c, sql, "waiting for other servers' partitions");
	for (int64_t m = m0; r >= 0 && m <= m1; m++) {
		(void) snprintf(sql, sizeof(sql),
				"CREATE TABLE IF NOT EXISTS events_%04lld%02lld PARTITION OF events"
				" FOR VALUES FROM (%lld) TO (%lld)",
				(long long) (m / 12), (long long) (m % 12 + 1),
				(long long) month_start(m), (long long) month_start(m + 1));
		r = store_pg_simple(c, sql, "creating an event partition");
	}
	return r;
}

static bool partitions_known(struct store_pg *s, int64_t m0, int64_t m1)
{
	bool known;

	(void) pthread_mutex_lock(&s->part_lock);
	known = s->part_lo <= m0 && m1 <= s->part_hi;
	(void) pthread_mutex_unlock(&s->part_lock);
	return known;
}

static void partitions_learn(struct store_pg *s, int64_t m0, int64_t m1)
{
	(void) pthread_mutex_lock(&s->part_lock);
	if (s->part_lo > s->part_hi || m1 + 1 < s->part_lo || m0 > s->part_hi + 1) {
		s->part_lo = m0; /* not adjacent to what was known: keep the newer range */
		s->part_hi = m1;
	} else {
		s->part_lo = MIN(s->part_lo, m0);
		s->part_hi = MAX(s->part_hi, m1);
	}
	(void) pthread_mutex_unlock(&s->part_lock);
}

static void partitions_forget(struct store_pg *s)
{
	(void) pthread_mutex_lock(&s->part_lock);
	s->part_lo = 1;
	s->part_hi = 0;
	(void) pthread_mutex_unlock(&s->part_lock);
}

/* Months of [from, to], checked: -EINVAL for times outside years 1970..9999. */
static int months(int64_t from, int64_t to, int64_t *m0, int64_t *m1)
{
	if (from > to || from < 0 || to > INT64_C(253402300799))
		return -EINVAL;
	*m0 = month_of(from);
	*m1 = month_of(to);
	return *m1 - *m0 >= MAX_MONTHS ? -E2BIG : 0;
}

int store_pg_partitions_ensure(struct store_pg *s, int64_t from, int64_t to)
{
	struct store_pg_conn *c;
	int64_t m0, m1;
	int r = months(from, to, &m0, &m1);

	if (r < 0 || partitions_known(s, m0, m1))
		return r;
	r = store_pg_begin(s, STORE_PG_WRITE, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, create_partitions(c, m0, m1));
	if (r < 0)
		return r;
	partitions_learn(s, m0, m1);
	return 0;
}

/* For bulk copies: the partitions of [from, to], created in c's own transaction. */
int store_pg_partitions_in(struct store_pg_conn *c, int64_t from, int64_t to)
{
	int64_t m0, m1;
	int r = months(from, to, &m0, &m1);

	return r < 0 ? r : create_partitions(c, m0, m1);
}

int store_pg_events_maintain(struct store *st, int64_t now)
{
	struct store_pg *s = store_pg_of(st);

	/* this month and the next: 32 days on from any day of a month is in the next one */
	return store_pg_partitions_ensure(s, now, now + (int64_t) 32 * 86400);
}

/* ---- appending ---- */

struct seq_ix {
	int64_t seq;
	size_t i;
};

static int cmp_seq_ix(const void *a, const void *b)
{
	const struct seq_ix *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The batch as array parameters, each seq once (its first occurrence, as SQLite keeps). */
struct batch {
	struct buf seq, time, type, data, extra;
	int64_t max_seq;
};

static void batch_done(struct batch *b)
{
	buf_done(&b->seq);
	buf_done(&b->time);
	buf_done(&b->type);
	buf_done(&b->data);
	buf_done(&b->extra);
}

static int batch_build(const struct store_event *ev, size_t n, struct batch *b)
{
	_cleanup_(freep) struct seq_ix *ix = mm_calloc(n ? n : 1, sizeof(*ix));
	_cleanup_(freep) bool *dup = mm_calloc(n ? n : 1, sizeof(*dup));
	int r = 0;

	store_pg_array_init(&b->seq);
	store_pg_array_init(&b->time);
	store_pg_array_init(&b->type);
	store_pg_array_init(&b->data);
	store_pg_array_init(&b->extra);
	b->max_seq = 0;
	if (!ix || !dup)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct seq_ix){.seq = ev[i].seq, .i = i};
	qsort(ix, n, sizeof(*ix), cmp_seq_ix);
	for (size_t k = 1; k < n; k++)
		if (ix[k].seq == ix[k - 1].seq)
			dup[ix[k].i] = true;
	for (size_t i = 0; i < n && r >= 0; i++) {
		b->max_seq = MAX(b->max_seq, ev[i].seq);
		if (dup[i])
			continue;
		r = store_pg_array_add_int(&b->seq, ev[i].seq);
		if (r >= 0)
			r = store_pg_array_add_int(&b->time, ev[i].time_ms);
		if (r >= 0)
			r = store_pg_array_add(&b->type, ev[i].type);
		if (r >= 0)
			r = store_pg_array_add(&b->data, ev[i].data);
		if (r >= 0)
			r = store_pg_array_add(&b->extra, ev[i].extra);
	}
	if (r >= 0)
		r = store_pg_array_end(&b->seq);
	if (r >= 0)
		r = store_pg_array_end(&b->time);
	if (r >= 0)
		r = store_pg_array_end(&b->type);
	if (r >= 0)
		r = store_pg_array_end(&b->data);
	if (r >= 0)
		r = store_pg_array_end(&b->extra);
	return r;
}

static int append(struct store_pg_conn *c, const char *host_id, const struct batch *b, int64_t now,
		  uint64_t *ret_acked, size_t *ret_stored)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	int64_t host;
	int r;

	r = store_pg_host_num(c, host_id, true, &host);
	if (r < 0)
		return r;
	store_pg_int(&p, host);
	store_pg_text(&p, buf_str(&b->seq));
	store_pg_text(&p, buf_str(&b->time));
	store_pg_text(&p, buf_str(&b->type));
	store_pg_text(&p, buf_str(&b->data));
	store_pg_text(&p, buf_str(&b->extra));
	store_pg_int(&p, now);
	store_pg_int(&p, b->max_seq);
	r = store_pg_exec(
		c,
		"WITH b AS (SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::text[],"
		"     $5::text[], $6::text[]) AS b(seq, time_ms, type, data, extra)),"
		" fresh AS (INSERT INTO event_seqs (host, seq) SELECT $1::bigint, seq FROM b"
		"     ON CONFLICT DO NOTHING RETURNING seq),"
		" ins AS (INSERT INTO events (host, seq, time_ms, type, data, extra, received)"
		"     SELECT $1::bigint, b.seq, b.time_ms, b.type, b.data, b.extra, $7::bigint"
		"     FROM b JOIN fresh USING (seq) RETURNING 1)"
		" UPDATE hosts SET max_seq = greatest(max_seq, $8::bigint) WHERE num = $1::bigint"
		" RETURNING max_seq, (SELECT count(*) FROM ins)",
		&p, "storing events", &res);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret_acked = (uint64_t) store_pg_get_int(res, 0, 0);
	*ret_stored = (size_t) store_pg_get_int(res, 0, 1);
	return 0;
}

int store_pg_events_append(struct store *st, const char *host_id, json_t *events, int64_t now,
			   uint64_t *ret_acked, size_t *ret_stored)
{
	struct store_pg *s = store_pg_of(st);
	struct store_event *ev = NULL;
	struct batch b;
	uint64_t acked = 0;
	size_t stored = 0, n = 0;
	int r;

	if (!host_id)
		return -EINVAL;
	/* validate and serialise before taking a connection: other threads may write meanwhile */
	r = store_prep_events(events, &ev, &n);
	if (r < 0)
		return r;
	r = batch_build(ev, n, &b);
	store_prep_events_free(ev, n);
	for (int attempt = 0; r >= 0; attempt++) {
		struct store_pg_conn *c;

		r = store_pg_partitions_ensure(s, now, now);
		if (r < 0)
			break;
		r = store_pg_begin(s, STORE_PG_WRITE, &c);
		if (r < 0)
			break;
		r = store_pg_end(s, c, append(c, host_id, &b, now, &acked, &stored));
		if (r != -ERANGE || attempt > 0)
			break;
		/* a partition we thought was there is not (retention dropped it): learn again */
		partitions_forget(s);
		r = 0;
	}
	if (r == -ERANGE) {
		log_error("(M4021) store: storing events: no partition for time %lld",
			  (long long) now);
		r = -EIO;
	}
	batch_done(&b);
	if (r < 0)
		return r;
	if (ret_acked)
		*ret_acked = acked;
	if (ret_stored)
		*ret_stored = stored;
	return 0;
}

/* ---- the admin's view ---- */

static int list(struct store_pg_conn *c, const char *host_id, uint64_t after, const char *type,
		size_t limit, json_t **ret)
{
	struct store_pg_params ph = {.n = 0}, p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *h = NULL, *q = NULL;
	_cleanup_(json_decrefp) json_t *events = json_array();
	int n;

	if (!events)
		return -ENOMEM;
	store_pg_text(&ph, host_id);
	n = store_pg_exec(c, "SELECT num, max_seq FROM hosts WHERE id = $1 AND deleted IS NULL",
			  &ph, "finding a host", &h);
	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	store_pg_text(&p, PQgetvalue(h, 0, 0));
	store_pg_int(&p, after > INT64_MAX ? INT64_MAX : (int64_t) after);
	store_pg_int(&p, (int64_t) limit);
	store_pg_text(&p, type);
	n = store_pg_exec(c,
			  "SELECT seq, time_ms, type, data, extra, received FROM events"
			  " WHERE host = $1 AND seq > $2 AND ($4::text IS NULL OR type = $4)"
			  " ORDER BY seq LIMIT $3",
			  &p, "listing events", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		json_t *e =
			store_pg_is_null(q, i, 4) ? json_object() : store_pg_json_value(q, i, 4);

		if (jsonw_append(events, e) < 0 || !json_is_object(e) ||
		    jsonw_set(e, "seq", store_pg_json_int(q, i, 0)) < 0 ||
		    jsonw_set(e, "time", store_pg_json_int(q, i, 1)) < 0 ||
		    jsonw_set(e, "type", store_pg_json_string(q, i, 2)) < 0 ||
		    jsonw_set(e, "data", store_pg_json_value(q, i, 3)) < 0 ||
		    jsonw_set(e, "received", store_pg_json_int(q, i, 5)) < 0)
			return -ENOMEM;
	}
	*ret = json_pack("{sOsI}", "events", events, "acked_seq",
			 (json_int_t) store_pg_get_int(h, 0, 1));
	return *ret ? 0 : -ENOMEM;
}

int store_pg_events_list(struct store *st, const char *host_id, uint64_t after, const char *type,
			 size_t limit, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (!host_id || limit < 1 || limit > 1000)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, list(c, host_id, after, type, limit, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
