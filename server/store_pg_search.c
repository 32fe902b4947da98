/*
 * Searching and counting events in the PostgreSQL store (the admin API's /api/v1/events),
 * with the results, order and cursors of store_sqlite_search.c.
 *
 * Plans. Every filter has an index ending in the time-ordered key id (store_pg_events.c):
 * (host, id), (host, type, id), (type, id), (user_name, id), (id), in every monthly
 * partition, so a filtered page is one backwards range scan per partition, merged in key
 * order, stopping after `limit` rows. Unlike SQLite, PostgreSQL plans from statistics, so
 * it is left to choose the index: each statement carries every filter as "$n IS NULL OR
 * column = $n" and is planned for the values of each query (plan_cache_mode =
 * force_custom_plan, STORE_PG_SEARCH), so the filters not given fold away and the planner
 * sees the real ones — including how many events a text matches, which decides between
 * walking the key index newest first and collecting the text's matches first.
 *
 * Full text: pg_trgm. The text is matched with ILIKE on `text` (every string of the
 * event's data, one a line), which the GIN trigram index on it serves from three
 * characters on; a shorter text has no trigram, and the planner, which knows from the
 * column's statistics how common it is, answers it from the key index instead, walking
 * newest first until the page is full (docs/internals/store.md says why trigram, and not
 * tsvector: Japanese has no spaces between words). ILIKE ignores case in every script, as
 * FTS5's trigram tokenizer does. Cursors are the key of a page's last event, as in SQLite.
 * Every statement is a literal; caller text is only bound.
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_pg.h"

/* $1 host num, $2 user, $3 type, $4 lowest key, $5 highest key, $6 ILIKE pattern, $7 limit */
#define FILTERS                                                                               \
	" AND ($1::bigint IS NULL OR e.host = $1) AND ($2::text IS NULL OR e.user_name = $2)" \
	" AND ($3::text IS NULL OR e.type = $3)"                                              \
	" AND ($6::text IS NULL OR e.text ILIKE $6 ESCAPE '\\')"

#define SEARCH(order)                                                                 \
	"SELECT " STORE_PG_EVENT_COLS " FROM events e JOIN hosts h ON h.num = e.host" \
	" WHERE e.id BETWEEN $4 AND $5" FILTERS " ORDER BY e.id " order " LIMIT $7"

static const char *const search_sql[2] = {SEARCH("ASC"), SEARCH("DESC")};

/* A query's parameters, worked out before the transaction. */
struct bound {
	const struct store_event_query *q;
	int64_t lo, hi;
	char *pattern; /* the text as an ILIKE pattern, or NULL */
};

static void bound_done(struct bound *b)
{
	mm_free(b->pattern);
}

static int bound_init(struct bound *b, const struct store_event_query *q, bool paged)
{
	*b = (struct bound){.q = q};
	store_prep_event_range(q, paged, &b->lo, &b->hi);
	if (q->text && *q->text && !(b->pattern = store_prep_like_pattern(q->text)))
		return -ENOMEM;
	return 0;
}

/* The parameters of a search or count statement; host is the host's row number or -1. */
static void bind_query(struct store_pg_params *p, const struct bound *b, int64_t host,
		       int64_t limit)
{
	if (host >= 0)
		store_pg_int(p, host);
	else
		store_pg_text(p, NULL);
	store_pg_text(p, b->q->user);
	store_pg_text(p, b->q->type);
	store_pg_int(p, b->lo);
	store_pg_int(p, b->hi);
	store_pg_text(p, b->pattern);
	store_pg_int(p, limit);
}

/* The host filter's row number: -1 for none, -ENOENT for an unknown host. */
static int host_of(struct store_pg_conn *c, const char *host_id, int64_t *ret)
{
	if (!host_id) {
		*ret = -1;
		return 0;
	}
	return store_pg_host_num(c, host_id, false, ret);
}

static int search(struct store_pg_conn *c, const struct bound *b, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	_cleanup_(json_decrefp) json_t *events = json_array();
	size_t limit = b->q->limit;
	int64_t host, last = 0;
	int n;

	if (!events)
		return -ENOMEM;
	n = host_of(c, b->q->host_id, &host);
	if (n < 0)
		return n;
	if (b->lo <= b->hi) {
		bind_query(&p, b, host, (int64_t) limit);
		n = store_pg_exec(c, search_sql[!b->q->ascending], &p, "searching events", &res);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (jsonw_append(events, store_pg_events_json(res, i)) < 0)
				return -ENOMEM;
			last = store_pg_get_int(res, i, 11);
		}
	}
	/* a full page may have more after it; a short one is the end */
	*ret = json_array_size(events) == limit
		       ? json_pack("{sOsI}", "events", events, "next", (json_int_t) last)
		       : json_pack("{sOsn}", "events", events, "next");
	return *ret ? 0 : -ENOMEM;
}

int store_pg_search_events(struct store *st, const struct store_event_query *q, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	struct bound b;
	json_t *v = NULL;
	int r;

	if (!q || !ret || q->limit < 1 || q->limit > 1000 || q->cursor < 0 || q->from_ms < 0 ||
	    q->to_ms < 0)
		return -EINVAL;
	r = bound_init(&b, q, true);
	if (r >= 0)
		r = store_pg_begin(s, STORE_PG_SEARCH, &c);
	if (r >= 0)
		r = store_pg_end(s, c, search(c, &b, &v));
	bound_done(&b);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

/* ---- counts ---- */

#define K_TYPE "e.type"
#define K_HOST "h.id"
#define K_USER "e.user_name"
#define K_HOUR "(e.time_ms / 3600000) * 3600000"
#define K_DAY  "(e.time_ms / 86400000) * 86400000"

/* Keys sort as in SQLite: byte order ("C" columns), NULL first. */
#define COUNT(k1, k2)                                                                        \
	"SELECT " k1 ", " k2 ", count(*), max(h.hostname)"                                   \
	" FROM events e JOIN hosts h ON h.num = e.host WHERE e.id BETWEEN $4 AND $5" FILTERS \
	" GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST LIMIT $7"

#define COUNT_ROW(n1, k1)                                                         \
	{n1, NULL, COUNT(k1, "NULL::text")}, {n1, "type", COUNT(k1, K_TYPE)},     \
		{n1, "host", COUNT(k1, K_HOST)}, {n1, "user", COUNT(k1, K_USER)}, \
		{n1, "hour", COUNT(k1, K_HOUR)},                                  \
	{                                                                         \
		n1, "day", COUNT(k1, K_DAY)                                       \
	}

static const struct {
	const char *by1, *by2;
	const char *sql;
} counts_sql[] = {
	COUNT_ROW("type", K_TYPE), COUNT_ROW("host", K_HOST), COUNT_ROW("user", K_USER),
	COUNT_ROW("hour", K_HOUR), COUNT_ROW("day", K_DAY),
};

static json_t *key_value(const PGresult *res, int row, int col, const char *by)
{
	return streq(by, "hour") || streq(by, "day") ? store_pg_json_int(res, row, col)
						     : store_pg_json_string(res, row, col);
}

static int counts(struct store_pg_conn *c, const struct bound *b, const char *sql, const char *by1,
		  const char *by2, json_t **ret)
{
	struct store_pg_params p = {.n = 0};
	_cleanup_(store_pg_clearp) PGresult *res = NULL;
	_cleanup_(json_decrefp) json_t *buckets = json_array(), *by = json_array();
	bool with_host = streq(by1, "host") || (by2 && streq(by2, "host"));
	int64_t total = 0, host;
	int n;

	if (!buckets || !by || jsonw_append(by, json_string(by1)) < 0 ||
	    (by2 && jsonw_append(by, json_string(by2)) < 0))
		return -ENOMEM;
	n = host_of(c, b->q->host_id, &host);
	if (n < 0)
		return n;
	bind_query(&p, b, host, (int64_t) STORE_COUNTS_MAX + 1);
	n = store_pg_exec(c, sql, &p, "counting events", &res);
	if (n < 0)
		return n;
	if ((size_t) n > STORE_COUNTS_MAX)
		return -E2BIG;
	for (int i = 0; i < n; i++) {
		json_t *bucket = json_object();

		if (jsonw_append(buckets, bucket) < 0 ||
		    jsonw_set(bucket, by1, key_value(res, i, 0, by1)) < 0 ||
		    (by2 && jsonw_set(bucket, by2, key_value(res, i, 1, by2)) < 0) ||
		    jsonw_set(bucket, "count", store_pg_json_int(res, i, 2)) < 0 ||
		    (with_host &&
		     jsonw_set(bucket, "hostname", store_pg_json_string(res, i, 3)) < 0))
			return -ENOMEM;
		total += store_pg_get_int(res, i, 2);
	}
	*ret = json_pack("{sOsOsI}", "by", by, "buckets", buckets, "total", (json_int_t) total);
	return *ret ? 0 : -ENOMEM;
}

int store_pg_search_counts(struct store *st, const struct store_event_query *q, const char *by1,
			   const char *by2, json_t **ret)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_conn *c;
	const char *sql = NULL;
	struct bound b;
	json_t *v = NULL;
	int r;

	if (!q || !ret || !by1 || q->from_ms < 0 || q->to_ms < 0 || (by2 && streq(by1, by2)))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(counts_sql); i++)
		if (streq(counts_sql[i].by1, by1) &&
		    (by2 ? counts_sql[i].by2 && streq(counts_sql[i].by2, by2) : !counts_sql[i].by2))
			sql = counts_sql[i].sql;
	if (!sql)
		return -EINVAL;
	r = bound_init(&b, q, false);
	if (r >= 0)
		r = store_pg_begin(s, STORE_PG_SEARCH, &c);
	if (r >= 0)
		r = store_pg_end(s, c, counts(c, &b, sql, by1, by2, &v));
	bound_done(&b);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
