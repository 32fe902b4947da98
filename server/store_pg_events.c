/*
 * Events in the PostgreSQL store: agents' batches with the event chain verified on the way
 * in (store_chain.c over the primitives below), one host's events, the chain's evidence,
 * retention purges, the insertion-ordered reading the SIEM forwarder does, and the monthly
 * partitions events live in. It behaves as store_sqlite_events.c does; what differs is how
 * the same guarantees hold when several servers write one database at once.
 *
 * Partitions. events is partitioned by RANGE on `received` (the server's time of storing, in
 * seconds), one partition a month, named events_YYYYMM, so retention drops a month with a
 * DROP TABLE instead of deleting rows one by one. The key is the server's time rather than
 * the event's own `time_ms`: that comes from the agent's clock, and a laptop whose clock
 * says 1970 or 2099 (a dead RTC battery, or a hostile agent writing one event per month
 * over a thousand years) would otherwise decide which partitions exist. Events arrive
 * within days of happening (the spool holds them meanwhile), so the two times pick the same
 * month for nearly every event. A partition is created before the first insert into its
 * month — by store_maintain() ahead of time, or by the batch itself in a short transaction
 * of its own, serialised by an advisory lock, and remembered in this process. If a
 * partition disappears behind our back (dropped by retention, or by hand) the insert fails
 * with "no partition", the cache is forgotten and the batch retried once.
 *
 * event_seqs. PostgreSQL wants the partition key in every unique constraint, so neither
 * (host, seq) nor the event's key can be unique in events itself. event_seqs holds one row
 * per stored event — (host, seq) PRIMARY KEY, its key `id` UNIQUE, its `received` and its
 * insertion position `rx` UNIQUE — so the database itself keeps both unique across
 * partitions and servers; every write of events writes it in the same transaction.
 *
 * A batch. The host's row is locked (FOR UPDATE) first, which serialises the batches of one
 * host, through any server, so the chain is verified against a stable past. The stored
 * events the verification will ask for are read in one statement, the events it decides
 * to store are kept in memory and inserted at the end in one array statement, so a batch
 * of a thousand events is a handful of round trips. Keys: the event's millisecond and, for
 * its low 20 bits, the low bits of a sequence, so concurrent batches never pick the same
 * key; a key some earlier event of that millisecond already has (two events of the same
 * millisecond 2^20 sequence numbers apart) fails the batch on event_seqs' unique index
 * and it is retried with fresh numbers. Positions: the SIEM forwarder follows rx and must
 * never see a lower position commit after a higher one, so rx is taken from the counter
 * row at the very end of the transaction, under that row's lock until the commit — the
 * one moment batches queue behind each other, after the trigram index did its work.
 *
 * Retention. A purge first drops every month partition whose events all go (received
 * before the cut-off, none of them as new as it, none of a type kept longer), deleting
 * their event_seqs rows in the same transaction, then deletes the rest row by row in
 * bounded batches, in key order, as SQLite does.
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
#include "lib/str.h"
#include "server/store_pg.h"

#define LOCK_NS         1835101551
#define LOCK_PARTITIONS 3
#define MAX_MONTHS      1200 /* partitions created by one call: a century */
#define KEY_ATTEMPTS    3    /* batches retried after a key collision */
#define PREFETCH_SPAN   2048 /* stored events read ahead for one batch, at most */

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

/* ---- the primitives of the chain verification ---- */

/* A stored event as the verification saw it (read ahead, or looked up). */
struct held {
	int64_t seq;
	struct store_chain_held h;
};

/* An event the verification decided to store, inserted when the batch ends. */
struct pending {
	const struct store_event *e;
	unsigned flags;
};

struct ingest {
	struct store_pg_conn *c;
	int64_t host;
	int64_t now;
	int64_t max_seq;   /* the highest seq stored before the batch: none is held above it */
	struct held *held; /* the stored events of seqs [held_lo, held_hi], by seq */
	size_t n_held;
	int64_t held_lo, held_hi;
	struct pending *pend; /* by seq: the verification stores in increasing seq order */
	size_t n_pend;
};

static void ingest_done(struct ingest *in)
{
	mm_free(in->held);
	mm_free(in->pend);
}

static void copy_hex(char dst[EVCHAIN_HEX], const PGresult *res, int row, int col)
{
	const char *s = store_pg_get(res, row, col);

	if (s && strlen(s) == EVCHAIN_HEX - 1)
		memcpy(dst, s, EVCHAIN_HEX);
	else
		dst[0] = '\0';
}

static struct pending *find_pending(struct ingest *in, int64_t seq)
{
	size_t lo = 0, hi = in->n_pend;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (in->pend[mid].e->seq == seq)
			return &in->pend[mid];
		if (in->pend[mid].e->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct held *find_held(struct ingest *in, int64_t seq)
{
	size_t lo = 0, hi = in->n_held;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (in->held[mid].seq == seq)
			return &in->held[mid];
		if (in->held[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Reads the stored events a batch of seqs first..last will be checked against — the one
 * before it, and those it overlaps (a retry) — in one statement. A batch whose numbers are
 * spread wider than PREFETCH_SPAN reads nothing ahead; its lookups go one by one.
 */
static int prefetch(struct ingest *in, int64_t first, int64_t last)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	int64_t lo = MAX(INT64_C(1), first - 1), hi = MIN(last + 1, in->max_seq);
	int n;

	in->held_lo = 1;
	in->held_hi = 0;
	if (lo > hi || hi - lo >= PREFETCH_SPAN)
		return 0;
	store_pg_int(&p, in->host);
	store_pg_int(&p, lo);
	store_pg_int(&p, hi);
	n = store_pg_exec(in->c,
			  "SELECT seq, hash, prev, chain FROM events"
			  " WHERE host = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
			  &p, "reading events", &res);
	if (n < 0)
		return n;
	in->held = mm_calloc(n ? (size_t) n : 1, sizeof(*in->held));
	if (!in->held)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct held *h = &in->held[i];

		h->seq = store_pg_get_int(res, i, 0);
		copy_hex(h->h.hash, res, i, 1);
		copy_hex(h->h.prev, res, i, 2);
		h->h.flags = (unsigned) store_pg_get_int(res, i, 3);
	}
	in->n_held = (size_t) n;
	in->held_lo = lo;
	in->held_hi = hi;
	return 0;
}

static int io_get_event(void *ctx, int64_t seq, struct store_chain_held *ret)
{
	struct ingest *in = ctx;
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	struct pending *pe = find_pending(in, seq);
	struct held *h;
	int n;

	if (pe) {
		bool chained = !(pe->e->flags & STORE_CHAIN_UNCHAINED);

		memcpy(ret->hash, chained ? pe->e->hash : "", chained ? EVCHAIN_HEX : 1);
		memcpy(ret->prev, chained ? pe->e->prev : "", chained ? EVCHAIN_HEX : 1);
		ret->flags = pe->flags;
		return 1;
	}
	if (seq > in->max_seq)
		return 0;
	if (seq >= in->held_lo && seq <= in->held_hi) {
		h = find_held(in, seq);
		if (!h)
			return 0;
		*ret = h->h;
		return 1;
	}
	store_pg_int(&p, in->host);
	store_pg_int(&p, seq);
	n = store_pg_exec(in->c,
			  "SELECT hash, prev, chain FROM events WHERE host = $1 AND seq = $2", &p,
			  "reading an event", &res);
	if (n <= 0)
		return n;
	copy_hex(ret->hash, res, 0, 0);
	copy_hex(ret->prev, res, 0, 1);
	ret->flags = (unsigned) store_pg_get_int(res, 0, 2);
	return 1;
}

static int io_insert_event(void *ctx, const struct store_event *e, unsigned flags)
{
	struct ingest *in = ctx;

	/* the verification goes up the numbers; a batch holds at most LIMIT_EVENT_BATCH */
	if (in->n_pend > 0 && in->pend[in->n_pend - 1].e->seq >= e->seq)
		return -EINVAL;
	in->pend[in->n_pend++] = (struct pending){.e = e, .flags = flags};
	return 0;
}

static int io_set_flags(void *ctx, int64_t seq, unsigned flags)
{
	struct ingest *in = ctx;
	struct store_pg_params p = {.n = 0};
	struct pending *pe = find_pending(in, seq);
	struct held *h;
	int r;

	if (pe) {
		pe->flags = flags;
		return 0;
	}
	store_pg_int(&p, in->host);
	store_pg_int(&p, seq);
	store_pg_int(&p, (int64_t) flags);
	r = store_pg_exec(in->c, "UPDATE events SET chain = $3 WHERE host = $1 AND seq = $2", &p,
			  "flagging an event", NULL);
	if (r < 0)
		return r;
	h = seq >= in->held_lo && seq <= in->held_hi ? find_held(in, seq) : NULL;
	if (h)
		h->h.flags = flags;
	return 0;
}

#define GAP_COLS "first_seq, last_seq, reason, report_seq, run_prev, run_hash"

static void read_gap(const PGresult *res, struct store_chain_gap *g)
{
	g->first = store_pg_get_int(res, 0, 0);
	g->last = store_pg_get_int(res, 0, 1);
	g->evicted = streq(PQgetvalue(res, 0, 2), "evicted");
	g->report_seq = store_pg_get_int(res, 0, 3);
	copy_hex(g->prev, res, 0, 4);
	copy_hex(g->hash, res, 0, 5);
}

static int io_gap_from(void *ctx, int64_t seq, struct store_chain_gap *ret)
{
	struct ingest *in = ctx;
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *at = NULL, *after = NULL;
	int n;

	store_pg_int(&p, in->host);
	store_pg_int(&p, seq);
	n = store_pg_exec(in->c,
			  "SELECT " GAP_COLS " FROM event_gaps WHERE host = $1 AND first_seq <= $2"
			  " ORDER BY first_seq DESC LIMIT 1",
			  &p, "reading a gap", &at);
	if (n < 0)
		return n;
	if (n > 0 && store_pg_get_int(at, 0, 1) >= seq) {
		read_gap(at, ret);
		return 1;
	}
	n = store_pg_exec(in->c,
			  "SELECT " GAP_COLS " FROM event_gaps WHERE host = $1 AND first_seq > $2"
			  " ORDER BY first_seq LIMIT 1",
			  &p, "reading a gap", &after);
	if (n <= 0)
		return n;
	read_gap(after, ret);
	return 1;
}

static int io_gap_insert(void *ctx, const struct store_chain_gap *g)
{
	struct ingest *in = ctx;
	struct store_pg_params p = {.n = 0};
	int r;

	store_pg_int(&p, in->host);
	store_pg_int(&p, g->first);
	store_pg_int(&p, g->last);
	store_pg_text(&p, g->evicted ? "evicted" : "missing");
	if (g->evicted)
		store_pg_int(&p, g->report_seq);
	else
		store_pg_text(&p, NULL);
	store_pg_text(&p, g->prev[0] ? g->prev : NULL);
	store_pg_text(&p, g->hash[0] ? g->hash : NULL);
	store_pg_int(&p, in->now);
	r = store_pg_exec(in->c,
			  "INSERT INTO event_gaps (host, first_seq, last_seq, reason, report_seq,"
			  "   run_prev, run_hash, detected)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			  &p, "recording a gap", NULL);
	return r < 0 ? r : 0;
}

static int io_gap_delete(void *ctx, int64_t first)
{
	struct ingest *in = ctx;
	struct store_pg_params p = {.n = 0};
	int r;

	store_pg_int(&p, in->host);
	store_pg_int(&p, first);
	r = store_pg_exec(in->c, "DELETE FROM event_gaps WHERE host = $1 AND first_seq = $2", &p,
			  "closing a gap", NULL);
	return r < 0 ? r : 0;
}

static int io_evidence(void *ctx, const char *kind, int64_t first, int64_t last, json_t *detail)
{
	struct ingest *in = ctx;
	struct store_pg_params pe = {.n = 0}, pi = {.n = 0};
	_cleanup_(freep) char *text = NULL;
	int r;

	if (!detail) {
		store_pg_int(&pe, in->host);
		store_pg_text(&pe, kind);
		store_pg_int(&pe, first);
		store_pg_int(&pe, last);
		r = store_pg_exec(in->c,
				  "UPDATE chain_evidence SET last_seq = $4"
				  " WHERE host = $1 AND kind = $2 AND detail IS NULL"
				  "   AND last_seq = $3::bigint - 1",
				  &pe, "extending evidence", NULL);
		if (r != 0)
			return r < 0 ? r : 0;
	} else if (!(text = jsonw_dump(detail))) {
		return -ENOMEM;
	}
	store_pg_int(&pi, in->host);
	store_pg_text(&pi, kind);
	store_pg_int(&pi, first);
	store_pg_int(&pi, last);
	store_pg_int(&pi, in->now);
	store_pg_text(&pi, text);
	r = store_pg_exec(in->c,
			  "INSERT INTO chain_evidence (host, kind, first_seq, last_seq, detected,"
			  "   detail)"
			  " VALUES ($1, $2, $3, $4, $5, $6)",
			  &pi, "recording evidence", NULL);
	return r < 0 ? r : 0;
}

/* ---- ingest ---- */

/* The pending events as array parameters (store_pg_array_*). */
struct columns {
	struct buf seq, time, mono, type, user, data, extra, text, prev, hash, chain;
};

static void columns_done(struct columns *k)
{
	struct buf *all[] = {&k->seq,   &k->time, &k->mono, &k->type, &k->user, &k->data,
			     &k->extra, &k->text, &k->prev, &k->hash, &k->chain};

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		buf_done(all[i]);
}

static int columns_build(const struct ingest *in, struct columns *k)
{
	struct buf *all[] = {&k->seq,   &k->time, &k->mono, &k->type, &k->user, &k->data,
			     &k->extra, &k->text, &k->prev, &k->hash, &k->chain};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		store_pg_array_init(all[i]);
	for (size_t i = 0; i < in->n_pend && r >= 0; i++) {
		const struct store_event *e = in->pend[i].e;
		bool chained = !(e->flags & STORE_CHAIN_UNCHAINED);

		r = store_pg_array_add_int(&k->seq, e->seq);
		if (r >= 0)
			r = store_pg_array_add_int(&k->time, e->time_ms);
		if (r >= 0)
			r = chained ? store_pg_array_add_int(&k->mono, e->mono_ms)
				    : store_pg_array_add(&k->mono, NULL);
		if (r >= 0)
			r = store_pg_array_add(&k->type, e->type);
		if (r >= 0)
			r = store_pg_array_add(&k->user, e->user);
		if (r >= 0)
			r = store_pg_array_add(&k->data, e->data);
		if (r >= 0)
			r = store_pg_array_add(&k->extra, e->extra);
		if (r >= 0)
			r = store_pg_array_add(&k->text, e->text);
		if (r >= 0)
			r = store_pg_array_add(&k->prev, chained ? e->prev : NULL);
		if (r >= 0)
			r = store_pg_array_add(&k->hash, chained ? e->hash : NULL);
		if (r >= 0)
			r = store_pg_array_add_int(&k->chain, (int64_t) in->pend[i].flags);
	}
	for (size_t i = 0; i < ARRAY_SIZE(all) && r >= 0; i++)
		r = store_pg_array_end(all[i]);
	return r;
}

/*
 * Inserts the pending events, then — last, under the counter row's lock until the commit —
 * numbers them in event_seqs.
 */
static int store_pending(struct ingest *in, int64_t max_seq)
{
	struct store_pg_params pe = {.n = 0}, ph = {.n = 0}, ps = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *keys = NULL;
	struct columns k = {{0}};
	struct buf seqs, ids;
	int n, r;

	if (max_seq != in->max_seq) {
		store_pg_int(&ph, in->host);
		store_pg_int(&ph, max_seq);
		r = store_pg_exec(in->c, "UPDATE hosts SET max_seq = $2 WHERE num = $1", &ph,
				  "acknowledging events", NULL);
		if (r < 0)
			return r;
	}
	if (in->n_pend == 0)
		return 0;
	r = columns_build(in, &k);
	if (r >= 0) {
		store_pg_int(&pe, in->host);
		store_pg_int(&pe, in->now);
		store_pg_text(&pe, buf_str(&k.seq));
		store_pg_text(&pe, buf_str(&k.time));
		store_pg_text(&pe, buf_str(&k.mono));
		store_pg_text(&pe, buf_str(&k.type));
		store_pg_text(&pe, buf_str(&k.user));
		store_pg_text(&pe, buf_str(&k.data));
		store_pg_text(&pe, buf_str(&k.extra));
		store_pg_text(&pe, buf_str(&k.text));
		store_pg_text(&pe, buf_str(&k.prev));
		store_pg_text(&pe, buf_str(&k.hash));
		store_pg_text(&pe, buf_str(&k.chain));
		r = store_pg_exec(
			in->c,
			"INSERT INTO events (id, host, seq, time_ms, mono_ms, type, user_name, "
			"data,"
			"   extra, text, prev, hash, chain, received)"
			" SELECT (greatest(0, least(b.time_ms, 8796093022207)) << 20)"
			"     | (nextval('event_keys') & 1048575), $1::bigint, b.seq, b.time_ms,"
			"   b.mono_ms, b.type, b.user_name, b.data, b.extra, b.text, b.prev, "
			"b.hash,"
			"   b.chain, $2::bigint"
			" FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::text[],"
			"   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], "
			"$12::text[],"
			"   $13::smallint[])"
			"   AS b(seq, time_ms, mono_ms, type, user_name, data, extra, text, prev,"
			"     hash, chain)"
			" RETURNING seq, id",
			&pe, "storing events", &keys);
	}
	columns_done(&k);
	if (r < 0)
		return r;
	n = r;
	store_pg_array_init(&seqs);
	store_pg_array_init(&ids);
	for (int i = 0; i < n && r >= 0; i++) {
		r = store_pg_array_add_int(&seqs, store_pg_get_int(keys, i, 0));
		if (r >= 0)
			r = store_pg_array_add_int(&ids, store_pg_get_int(keys, i, 1));
	}
	if (r >= 0)
		r = store_pg_array_end(&seqs);
	if (r >= 0)
		r = store_pg_array_end(&ids);
	if (r >= 0) {
		store_pg_int(&ps, in->host);
		store_pg_int(&ps, n);
		store_pg_int(&ps, in->now);
		store_pg_text(&ps, buf_str(&seqs));
		store_pg_text(&ps, buf_str(&ids));
		r = store_pg_exec(
			in->c,
			"WITH c AS (UPDATE counters SET value = value + $2::bigint"
			"   WHERE name = 'events_rx' RETURNING value - $2::bigint AS base)"
			" INSERT INTO event_seqs (host, seq, id, received, rx)"
			" SELECT $1::bigint, s.seq, s.id, $3::bigint,"
			"   c.base + row_number() OVER (ORDER BY s.seq)"
			" FROM c, unnest($4::bigint[], $5::bigint[]) AS s(seq, id)",
			&ps, "numbering events", NULL);
		if (r >= 0 && r != n)
			r = -EIO; /* the counter row is missing: the schema is damaged */
	}
	buf_done(&seqs);
	buf_done(&ids);
	return r < 0 ? r : 0;
}

static int ingest(struct store_pg_conn *c, const char *host_id, const struct store_event *ev,
		  size_t n, int64_t now, struct store_ingest_result *res)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *h = NULL;
	struct ingest in = {.c = c, .now = now, .held_lo = 1, .held_hi = 0};
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

	store_pg_text(&p, host_id);
	r = store_pg_exec(c,
			  "SELECT num, max_seq FROM hosts WHERE id = $1 AND deleted IS NULL"
			  " FOR UPDATE",
			  &p, "finding a host", &h);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	in.host = store_pg_get_int(h, 0, 0);
	in.max_seq = max_seq = store_pg_get_int(h, 0, 1);
	in.pend = mm_calloc(n ? n : 1, sizeof(*in.pend));
	r = in.pend ? 0 : -ENOMEM;
	if (r >= 0 && n > 0)
		r = prefetch(&in, ev[0].seq, ev[n - 1].seq);
	if (r >= 0)
		r = store_chain_ingest(&io, host_id, ev, n, &max_seq, res);
	if (r >= 0)
		r = store_pending(&in, max_seq);
	ingest_done(&in);
	if (r < 0)
		return r;
	res->acked_seq = (uint64_t) max_seq;
	return 0;
}

int store_pg_events_ingest(struct store *st, const char *host_id, const struct store_event *ev,
			   size_t n, int64_t now, struct store_ingest_result *ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_ingest_result res;
	int r = 0, missing = 0, collisions = 0;

	if (!host_id || !ret)
		return -EINVAL;
	for (;;) {
		struct store_pg_conn *c;

		res = (struct store_ingest_result){0};
		r = store_pg_partitions_ensure(s, now, now);
		if (r < 0)
			break;
		r = store_pg_begin(s, STORE_PG_WRITE, &c);
		if (r < 0)
			break;
		r = store_pg_end(s, c, ingest(c, host_id, ev, n, now, &res));
		if (r == -ERANGE && missing++ == 0) {
			/* a partition we thought was there is not (retention dropped it) */
			partitions_forget(s);
			continue;
		}
		if (r == -EEXIST && ++collisions < KEY_ATTEMPTS) {
			/* an event's key was taken by an earlier event of its millisecond */
			log_debug("store: an event key was taken; storing the batch again");
			continue;
		}
		break;
	}
	if (r == -ERANGE) {
		log_error("(M4021) store: storing events: no partition for time %lld",
			  (long long) now);
		r = -EIO;
	}
	if (r < 0)
		return r;
	*ret = res;
	return 0;
}

/* ---- reading events ---- */

json_t *store_pg_events_json(const PGresult *res, int i)
{
	_cleanup_(json_decrefp) json_t *e =
		store_pg_is_null(res, i, 6) ? json_object() : store_pg_json_value(res, i, 6);

	if (!json_is_object(e) || jsonw_set(e, "host_id", store_pg_json_string(res, i, 12)) < 0 ||
	    jsonw_set(e, "hostname", store_pg_json_string(res, i, 13)) < 0 ||
	    jsonw_set(e, "seq", store_pg_json_int(res, i, 0)) < 0 ||
	    jsonw_set(e, "time", store_pg_json_int(res, i, 1)) < 0 ||
	    jsonw_set(e, "mono", store_pg_json_int(res, i, 2)) < 0 ||
	    jsonw_set(e, "type", store_pg_json_string(res, i, 3)) < 0 ||
	    /* an agent's own top-level "user" (kept in extra) stays when data names none */
	    (!store_pg_is_null(res, i, 4) || !json_object_get(e, "user")
		     ? jsonw_set(e, "user", store_pg_json_string(res, i, 4)) < 0
		     : false) ||
	    jsonw_set(e, "data", store_pg_json_value(res, i, 5)) < 0 ||
	    jsonw_set(e, "received", store_pg_json_int(res, i, 7)) < 0 ||
	    jsonw_set(e, "chain",
		      json_string(store_chain_flags_string(
			      (unsigned) store_pg_get_int(res, i, 8)))) < 0 ||
	    jsonw_set(e, "hash", store_pg_json_string(res, i, 9)) < 0 ||
	    jsonw_set(e, "prev", store_pg_json_string(res, i, 10)) < 0)
		return NULL;
	return TAKE_PTR(e);
}

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
			  "SELECT " STORE_PG_EVENT_COLS
			  " FROM events e JOIN hosts h ON h.num = e.host"
			  " WHERE e.host = $1 AND e.seq > $2 AND ($4::text IS NULL OR e.type = $4)"
			  " ORDER BY e.seq LIMIT $3",
			  &p, "listing events", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (jsonw_append(events, store_pg_events_json(q, i)) < 0)
			return -ENOMEM;
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

/* ---- evidence ---- */

int store_pg_events_evidence_summary(struct store_pg_conn *c, int64_t host, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	int n;

	store_pg_int(&p, host);
	n = store_pg_exec(
		c,
		"SELECT (SELECT count(*) FROM event_gaps WHERE host = $1),"
		"   (SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM event_gaps"
		"     WHERE host = $1 AND reason = 'missing'),"
		"   (SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM event_gaps"
		"     WHERE host = $1 AND reason = 'evicted'),"
		"   (SELECT count(*) FROM chain_evidence WHERE host = $1 AND kind <> 'unchained'),"
		"   (SELECT count(*) FROM events WHERE host = $1 AND chain <> 0)",
		&p, "summing up evidence", &res);
	if (n <= 0)
		return n < 0 ? n : -EIO;
	*ret = json_pack("{sIsIsIsIsI}", "gaps", (json_int_t) store_pg_get_int(res, 0, 0),
			 "missing", (json_int_t) store_pg_get_int(res, 0, 1), "evicted",
			 (json_int_t) store_pg_get_int(res, 0, 2), "breaks",
			 (json_int_t) store_pg_get_int(res, 0, 3), "flagged",
			 (json_int_t) store_pg_get_int(res, 0, 4));
	return *ret ? 0 : -ENOMEM;
}

static int evidence(struct store_pg_conn *c, const char *host_id, size_t limit, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *g = NULL, *b = NULL;
	_cleanup_(json_decrefp) json_t *gaps = json_array(), *breaks = json_array(), *sum = NULL;
	int64_t host;
	int n;

	if (!gaps || !breaks)
		return -ENOMEM;
	n = store_pg_host_num(c, host_id, false, &host);
	if (n < 0)
		return n;
	n = store_pg_events_evidence_summary(c, host, &sum);
	if (n < 0)
		return n;
	store_pg_int(&p, host);
	store_pg_int(&p, (int64_t) limit);
	n = store_pg_exec(c,
			  "SELECT first_seq, last_seq, reason, report_seq, detected"
			  " FROM event_gaps WHERE host = $1 ORDER BY first_seq LIMIT $2",
			  &p, "listing gaps", &g);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (jsonw_append(gaps, json_pack("{sIsIsIsosIso}", "first_seq",
						 (json_int_t) store_pg_get_int(g, i, 0), "last_seq",
						 (json_int_t) store_pg_get_int(g, i, 1), "count",
						 (json_int_t) store_pg_get_int(g, i, 1) -
							 (json_int_t) store_pg_get_int(g, i, 0) + 1,
						 "reason", store_pg_json_string(g, i, 2),
						 "detected", (json_int_t) store_pg_get_int(g, i, 4),
						 "report_seq", store_pg_json_int(g, i, 3))) < 0)
			return -ENOMEM;
	n = store_pg_exec(c,
			  "SELECT kind, first_seq, last_seq, detected, detail"
			  " FROM chain_evidence WHERE host = $1 ORDER BY first_seq, id LIMIT $2",
			  &p, "listing evidence", &b);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (jsonw_append(breaks,
				 json_pack("{sosIsIsIso}", "kind", store_pg_json_string(b, i, 0),
					   "first_seq", (json_int_t) store_pg_get_int(b, i, 1),
					   "last_seq", (json_int_t) store_pg_get_int(b, i, 2),
					   "detected", (json_int_t) store_pg_get_int(b, i, 3),
					   "detail", store_pg_json_value(b, i, 4))) < 0)
			return -ENOMEM;
	*ret = json_pack("{sssOsOsO}", "host_id", host_id, "gaps", gaps, "breaks", breaks,
			 "summary", sum);
	return *ret ? 0 : -ENOMEM;
}

int store_pg_events_evidence(struct store *st, const char *host_id, size_t limit, json_t **ret)
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
	r = store_pg_end(s, c, evidence(c, host_id, limit, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- retention ---- */

/* `except` (a JSON array of type names, or NULL) as a text[] literal. */
static int except_array(json_t *except, struct buf *b)
{
	json_t *v;
	size_t i;
	int r = 0;

	store_pg_array_init(b);
	json_array_foreach (except, i, v) {
		if (!json_is_string(v))
			return -EINVAL;
		r = store_pg_array_add(b, json_string_value(v));
		if (r < 0)
			return r;
	}
	return store_pg_array_end(b);
}

/* The month of a partition named events_YYYYMM; -EINVAL for any other name. */
static int partition_month(const char *name, int64_t *ret)
{
	const char *digits = str_startswith(name, "events_");
	unsigned y = 0, m = 0;

	if (!digits || strlen(digits) != 6 || strspn(digits, "0123456789") != 6)
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		y = y * 10 + (unsigned) (digits[i] - '0');
	m = (unsigned) (digits[4] - '0') * 10 + (unsigned) (digits[5] - '0');
	if (m < 1 || m > 12)
		return -EINVAL;
	*ret = (int64_t) y * 12 + m - 1;
	return 0;
}

/* Whether one query of the partition check finds a row ($1, $2: the partition's bounds). */
static int exists(struct store_pg_conn *c, const char *sql, const struct store_pg_params *p)
{
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	int n = store_pg_exec(c, sql, p, "checking a partition", &res);

	if (n <= 0)
		return n < 0 ? n : -EIO;
	return streq(PQgetvalue(res, 0, 0), "t");
}

/*
 * Whether every event of the partition of month m goes: nothing in it as new as the
 * cut-off and, for one type, nothing of another type, or for the default rule, nothing of
 * a type kept longer (except_text).
 */
static int partition_goes(struct store_pg_conn *c, int64_t m, const char *type,
			  const char *except_text, int64_t before_ms)
{
	struct store_pg_params p = {.n = 0}, q = {.n = 0};
	int r;

	store_pg_int(&p, month_start(m));
	store_pg_int(&p, month_start(m + 1));
	store_pg_int(&p, store_event_key(before_ms));
	store_pg_int(&q, month_start(m));
	store_pg_int(&q, month_start(m + 1));
	r = exists(c,
		   "SELECT EXISTS (SELECT 1 FROM events WHERE received >= $1 AND received < $2"
		   "   AND id >= $3)",
		   &p);
	if (r != 0)
		return r < 0 ? r : 0;
	store_pg_text(&q, type ? type : except_text);
	r = type ? exists(c,
			  "SELECT EXISTS (SELECT 1 FROM events WHERE received >= $1"
			  "   AND received < $2 AND type <> $3)",
			  &q)
		 : exists(c,
			  "SELECT EXISTS (SELECT 1 FROM events WHERE received >= $1"
			  "   AND received < $2 AND type = ANY($3::text[]))",
			  &q);
	return r < 0 ? r : !r;
}

/*
 * Drops the oldest month partition whose events all go (received before the cut-off, so
 * the month ingestion writes is never one), with its events' event_seqs rows. 1 with
 * *ret_deleted when one went, 0 when none can.
 */
static int drop_partition(struct store_pg_conn *c, const char *type, const char *except_text,
			  int64_t before_ms, size_t *ret_deleted)
{
	_cleanup_(store_pg_clearp) PGresult *parts = NULL;
	char sql[128];
	int n, r;

	(void) snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, %d)", LOCK_NS,
			LOCK_PARTITIONS);
	r = store_pg_simple(c, sql, "waiting for other servers' partitions");
	if (r < 0)
		return r;
	n = store_pg_exec(
		c,
		"SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
		" WHERE i.inhparent = 'events'::regclass ORDER BY 1",
		NULL, "listing partitions", &parts);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct store_pg_params p = {.n = 0};
		int64_t m;

		if (partition_month(PQgetvalue(parts, i, 0), &m) < 0)
			continue; /* not one of ours */
		if (month_start(m + 1) > before_ms / 1000)
			break; /* by name, the rest are newer */
		r = partition_goes(c, m, type, except_text, before_ms);
		if (r <= 0) {
			if (r < 0)
				return r;
			continue;
		}
		store_pg_int(&p, month_start(m));
		store_pg_int(&p, month_start(m + 1));
		r = store_pg_exec(c,
				  "DELETE FROM event_seqs s USING events e"
				  " WHERE e.received >= $1 AND e.received < $2"
				  "   AND s.host = e.host AND s.seq = e.seq",
				  &p, "purging events", NULL);
		if (r < 0)
			return r;
		*ret_deleted = (size_t) r;
		(void) snprintf(sql, sizeof(sql), "DROP TABLE events_%04lld%02lld",
				(long long) (m / 12), (long long) (m % 12 + 1));
		r = store_pg_simple(c, sql, "dropping an event partition");
		return r < 0 ? r : 1;
	}
	return 0;
}

/*
 * Deletes what one batch picks, as SQLite does: at most `max` keys walked from *io_key,
 * deleted by one statement over that key range, with their event_seqs rows.
 */
static int purge_rows(struct store_pg_conn *c, const char *type, const char *except_text,
		      int64_t before_ms, int64_t *io_key, size_t max, size_t *ret_deleted,
		      bool *ret_more)
{
	struct store_pg_params p = {.n = 0}, d = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *pick = NULL;
	int64_t last = *io_key, scanned;
	int r;

	store_pg_text(&p, type ? type : except_text);
	store_pg_int(&p, *io_key);
	store_pg_int(&p, store_event_key(before_ms));
	store_pg_int(&p, (int64_t) max);
	/* One type: its (type, id) index from the oldest. Every other type: the key from where
	 * the last batch stopped, stepping over (never rescanning) the types kept longer. */
	r = type ? store_pg_exec(c,
				 "SELECT max(id), count(*) FROM (SELECT id FROM events"
				 " WHERE type = $1 AND id > $2 AND id < $3 ORDER BY id LIMIT $4) x",
				 &p, "choosing events to purge", &pick)
		 : store_pg_exec(c,
				 "SELECT max(id), count(*) FROM (SELECT id FROM events"
				 " WHERE $1::text IS NOT NULL AND id > $2 AND id < $3 ORDER BY id"
				 " LIMIT $4) x",
				 &p, "choosing events to purge", &pick);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	scanned = store_pg_get_int(pick, 0, 1);
	if (scanned > 0)
		last = store_pg_get_int(pick, 0, 0);
	r = 0;
	if (scanned > 0) {
		store_pg_text(&d, type ? type : except_text);
		store_pg_int(&d, *io_key);
		store_pg_int(&d, last);
		r = type ? store_pg_exec(c,
					 "WITH x AS (DELETE FROM events WHERE type = $1"
					 "   AND id > $2 AND id <= $3 RETURNING host, seq)"
					 " DELETE FROM event_seqs s USING x"
					 " WHERE s.host = x.host AND s.seq = x.seq",
					 &d, "purging events", NULL)
			 : store_pg_exec(c,
					 "WITH x AS (DELETE FROM events WHERE id > $2 AND id <= $3"
					 "   AND type <> ALL($1::text[]) RETURNING host, seq)"
					 " DELETE FROM event_seqs s USING x"
					 " WHERE s.host = x.host AND s.seq = x.seq",
					 &d, "purging events", NULL);
		if (r < 0)
			return r;
	}
	*io_key = last;
	*ret_deleted = (size_t) r;
	*ret_more = (size_t) scanned == max;
	return 0;
}

int store_pg_events_purge(struct store *st, const char *type, json_t *except, int64_t before_ms,
			  int64_t *io_key, size_t max, size_t *ret_deleted)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	struct buf ex;
	int64_t key;
	size_t deleted = 0;
	bool more = false;
	int r;

	if (!io_key || !ret_deleted || max < 1 || max > 100000 ||
	    (except && !json_is_array(except)))
		return -EINVAL;
	r = except_array(except, &ex);
	if (r < 0)
		goto out;
	key = *io_key;
	if (key == 0) {
		/* a run starts with the month partitions that go whole */
		r = store_pg_begin(s, STORE_PG_WRITE_ASYNC, &c);
		if (r < 0)
			goto out;
		r = store_pg_end(s, c, drop_partition(c, type, buf_str(&ex), before_ms, &deleted));
		if (r < 0)
			goto out;
		if (r > 0) {
			partitions_forget(s);
			*ret_deleted = deleted;
			goto out; /* 1: call again, from the start */
		}
	}
	r = store_pg_begin(s, STORE_PG_WRITE_ASYNC, &c);
	if (r < 0)
		goto out;
	r = store_pg_end(s, c,
			 purge_rows(c, type, buf_str(&ex), before_ms, &key, max, &deleted, &more));
	if (r < 0)
		goto out;
	*io_key = key;
	*ret_deleted = deleted;
	r = more ? 1 : 0;
out:
	buf_done(&ex);
	return r;
}

/* ---- reading in insertion order ---- */

static int since(struct store_pg_conn *c, int64_t after, size_t limit, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	_cleanup_(json_decrefp) json_t *events = json_array();
	int n;

	if (!events)
		return -ENOMEM;
	store_pg_int(&p, after);
	store_pg_int(&p, (int64_t) limit);
	/* the event's `received` names its partition: the join probes one */
	n = store_pg_exec(c,
			  "SELECT " STORE_PG_EVENT_COLS ", s.rx FROM event_seqs s"
			  " JOIN events e ON e.host = s.host AND e.seq = s.seq"
			  "   AND e.received = s.received"
			  " JOIN hosts h ON h.num = e.host"
			  " WHERE s.rx > $1 ORDER BY s.rx LIMIT $2",
			  &p, "reading events in order", &q);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		json_t *e = store_pg_events_json(q, i);

		if (jsonw_append(events, e) < 0 || jsonw_set(e, "rx", store_pg_json_int(q, i, 14)))
			return -ENOMEM;
	}
	*ret = json_pack("{sO}", "events", events);
	return *ret ? 0 : -ENOMEM;
}

int store_pg_events_since(struct store *st, int64_t after, size_t limit, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	json_t *v = NULL;
	int r;

	if (limit < 1 || limit > 1000 || !ret)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, since(c, after, limit, &v));
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int position(struct store_pg_conn *c, int64_t *ret)
{
	_cleanup_(store_pg_clearp) PGresult *q = NULL;
	int n = store_pg_exec(c, "SELECT value FROM counters WHERE name = 'events_rx'", NULL,
			      "reading the event counter", &q);

	if (n <= 0)
		return n < 0 ? n : -EIO;
	*ret = store_pg_get_int(q, 0, 0);
	return 0;
}

int store_pg_events_position(struct store *st, int64_t *ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	int64_t v = 0;
	int r;

	if (!ret)
		return -EINVAL;
	r = store_pg_begin(s, STORE_PG_READ, &c);
	if (r < 0)
		return r;
	r = store_pg_end(s, c, position(c, &v));
	if (r >= 0)
		*ret = v;
	return r;
}
