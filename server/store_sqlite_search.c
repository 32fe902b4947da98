/*
 * Searching and counting events in the SQLite store (the admin API's /api/v1/events).
 *
 * Plans. Every filter has an index that ends in the time-ordered key id (store_sqlite_
 * events.c): (host, id), (host, type, id) for "this PC's USB events", (type, id),
 * (user_name, id), and the primary key itself, so a filtered page is one backwards range
 * scan of one index, stopping after `limit` rows; the other filters are checked on the rows
 * it visits. The index is chosen here, by the most selective filters given (host and type,
 * host, user, type), and named with INDEXED BY rather than left to a planner without
 * statistics. A text query of three characters or more is answered from the FTS5 trigram
 * index, whose matches come in id order too, so the plan is the same: walk matches newest
 * first, check the other filters, stop at the limit.
 *
 * Text with a host or user filter has two costs: a common word ("見積書") matches millions
 * of events of which one host has a few, so walking matches and reading each event is
 * slow, while for a rare word the matches are few. So it is done in two phases: the first
 * MATCH_BUDGET matches (newest first) are walked, each checked against the host's (user's)
 * index before its row is read; if that fills the page, or exhausts the matches, that is
 * the answer; otherwise the rest of the range, beyond the last match walked, is the host's
 * own events in its index, each looked up in the set of the range's matches (built once
 * by SQLite from the FTS5 index). Both phases see every event of their key range, so the
 * page is exact; the first costs at most MATCH_BUDGET index probes, the second the host's
 * events plus the matches of the range, with no event row read that is not returned.
 *
 * Why trigram: the strings searched are paths, command lines, user names and SSIDs, often
 * Japanese (給与明細.xlsx, 営業部/見積書) with no spaces between words. The unicode61
 * tokenizer would make one token of "給与明細" and never find "明細" in it; trigram indexes
 * every three-character window, so any substring of three characters or more is found,
 * in any script, case-insensitively, at about twice the index size of unicode61. Shorter
 * queries (Japanese words are often two characters: 人事, 給与) cannot use a trigram index:
 * they fall back to LIKE on the stored text, correct but a scan bounded only by the other
 * filters (docs/api.md says so).
 *
 * Cursors are the id of the last event of a page: the next page is the range beyond it, so
 * events arriving meanwhile never shift a page. Every statement is a literal chosen from the
 * tables below (the statement cache keys on their address); caller text is only bound.
 */
#include <errno.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_sqlite.h"

#define KEY_SHIFT    20
#define KEY_TIME_MAX ((INT64_C(1) << 43) - 1)
#define TRIGRAM      3
#define MATCH_BUDGET 2000 /* matches walked before a filtered text search turns to the host */

/* ?1 host num, ?2 user, ?3 type, ?4 lowest id, ?5 highest id, ?6 LIKE pattern, ?7 limit,
 * ?8 FTS5 query */
#define FILTERS                                                                 \
	" AND (?1 IS NULL OR e.host = ?1) AND (?2 IS NULL OR e.user_name = ?2)" \
	" AND (?3 IS NULL OR e.type = ?3) AND (?6 IS NULL OR e.text LIKE ?6 ESCAPE '\\')"

#define SCAN(index, lead, order)                                                        \
	"SELECT " STORE_SQLITE_EVENT_COLS " FROM events e INDEXED BY " index            \
	" JOIN hosts h ON h.num = e.host WHERE " lead " e.id BETWEEN ?4 AND ?5" FILTERS \
	" ORDER BY e.id " order " LIMIT ?7"

#define MATCH(order)                                                                \
	"SELECT " STORE_SQLITE_EVENT_COLS " FROM events_fts CROSS JOIN events e"    \
	" ON e.id = events_fts.rowid JOIN hosts h ON h.num = e.host"                \
	" WHERE events_fts MATCH ?8 AND events_fts.rowid BETWEEN ?4 AND ?5" FILTERS \
	" ORDER BY events_fts.rowid " order " LIMIT ?7"

/* The first phase: at most ?9 matches of the range, newest (or oldest) first. */
/*
 * The first phase: at most ?9 matches of the range, newest (or oldest) first, the host
 * (user) checked in its index before any event row is read.
 */
#define MATCH_SOME(order)                                                                  \
	"SELECT " STORE_SQLITE_EVENT_COLS " FROM (SELECT m.rowid AS id FROM (SELECT rowid" \
	" FROM events_fts WHERE events_fts MATCH ?8 AND rowid BETWEEN ?4 AND ?5"           \
	" ORDER BY rowid " order " LIMIT ?9) m"                                            \
	" WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM events x INDEXED BY events_host_time" \
	"   WHERE x.host = ?1 AND x.id = m.rowid))"                                        \
	"   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM events x INDEXED BY events_user_time" \
	"   WHERE x.user_name = ?2 AND x.id = m.rowid))) f"                                \
	" CROSS JOIN events e ON e.id = f.id JOIN hosts h ON h.num = e.host"               \
	" WHERE 1" FILTERS " ORDER BY f.id " order " LIMIT ?7"
/* How far the first phase reaches: how many matches it walks, and the last one's key. */
#define MATCH_REACH(order, last)                                                       \
	"SELECT count(*), " last "(rowid) FROM (SELECT rowid FROM events_fts"          \
	" WHERE events_fts MATCH ?8 AND rowid BETWEEN ?4 AND ?5 ORDER BY rowid " order \
	" LIMIT ?9)"
/* The second phase: the host's (user's) events, each looked up in the set of matches of
 * the range, built once ("+" keeps SQLite from driving the scan by that set instead). */
#define IN_MATCHES                                                          \
	" +e.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?8" \
	"   AND rowid BETWEEN ?4 AND ?5) AND"

enum plan {
	PLAN_HOST_TYPE,
	PLAN_HOST,
	PLAN_USER,
	PLAN_TYPE,
	PLAN_TIME,
	PLAN_TEXT
};

static const char *const plans[][2] = {
	[PLAN_HOST_TYPE] = {SCAN("events_host_type_time", "e.host = ?1 AND e.type = ?3 AND", "ASC"),
			    SCAN("events_host_type_time", "e.host = ?1 AND e.type = ?3 AND",
				 "DESC")},
	[PLAN_HOST] = {SCAN("events_host_time", "e.host = ?1 AND", "ASC"),
		       SCAN("events_host_time", "e.host = ?1 AND", "DESC")},
	[PLAN_USER] = {SCAN("events_user_time", "e.user_name = ?2 AND", "ASC"),
		       SCAN("events_user_time", "e.user_name = ?2 AND", "DESC")},
	[PLAN_TYPE] = {SCAN("events_type_time", "e.type = ?3 AND", "ASC"),
		       SCAN("events_type_time", "e.type = ?3 AND", "DESC")},
	[PLAN_TIME] = {"SELECT " STORE_SQLITE_EVENT_COLS
		       " FROM events e JOIN hosts h ON h.num = e.host"
		       " WHERE e.id BETWEEN ?4 AND ?5" FILTERS " ORDER BY e.id ASC LIMIT ?7",
		       "SELECT " STORE_SQLITE_EVENT_COLS
		       " FROM events e JOIN hosts h ON h.num = e.host"
		       " WHERE e.id BETWEEN ?4 AND ?5" FILTERS " ORDER BY e.id DESC LIMIT ?7"},
	[PLAN_TEXT] = {MATCH("ASC"), MATCH("DESC")},
};

static const char *const match_some[2] = {MATCH_SOME("ASC"), MATCH_SOME("DESC")};
static const char *const match_rest[2][2] = {
	{SCAN("events_host_time", "e.host = ?1 AND" IN_MATCHES, "ASC"),
	 SCAN("events_host_time", "e.host = ?1 AND" IN_MATCHES, "DESC")},
	{SCAN("events_user_time", "e.user_name = ?2 AND" IN_MATCHES, "ASC"),
	 SCAN("events_user_time", "e.user_name = ?2 AND" IN_MATCHES, "DESC")},
};
static const char *const match_reach[2] = {MATCH_REACH("ASC", "max"), MATCH_REACH("DESC", "min")};

/* The query's bindings, worked out before the transaction where possible. */
struct bound {
	const struct store_event_query *q;
	int64_t lo, hi;
	char *like;  /* a LIKE pattern for short text, or NULL */
	char *match; /* an FTS5 phrase for longer text, or NULL */
};

static void bound_done(struct bound *b)
{
	mm_free(b->like);
	mm_free(b->match);
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char) *s & 0xc0) != 0x80;
	return n;
}

/* A phrase: the text in double quotes, its own quotes doubled (FTS5's string syntax). */
static char *fts_phrase(const char *text)
{
	size_t n = strlen(text), j = 0;
	char *p = mm_reallocarray(NULL, 2, n + 2);

	if (!p)
		return NULL;
	p[j++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '"')
			p[j++] = '"';
		p[j++] = text[i];
	}
	p[j++] = '"';
	p[j] = '\0';
	return p;
}

static int64_t key_of(int64_t ms)
{
	return MAX(INT64_C(0), MIN(ms, KEY_TIME_MAX)) << KEY_SHIFT;
}

static int bound_init(struct bound *b, const struct store_event_query *q, bool paged)
{
	*b = (struct bound){.q = q, .lo = key_of(q->from_ms), .hi = INT64_MAX};

	if (q->to_ms > 0)
		b->hi = q->to_ms > KEY_TIME_MAX ? INT64_MAX : key_of(q->to_ms) - 1;
	if (paged && q->cursor > 0) {
		if (q->ascending)
			b->lo = MAX(b->lo, q->cursor < INT64_MAX ? q->cursor + 1 : INT64_MAX);
		else
			b->hi = MIN(b->hi, q->cursor - 1);
	}
	if (q->text && *q->text) {
		if (utf8_chars(q->text) >= TRIGRAM)
			b->match = fts_phrase(q->text);
		else
			b->like = store_prep_like_pattern(q->text);
		if (!b->match && !b->like)
			return -ENOMEM;
	}
	return 0;
}

/* Binds everything but ?1 (the host's number, looked up in the transaction). Parameters a
 * statement does not have are ignored (sqlite3_bind_* says SQLITE_RANGE). */
static void bind_query(sqlite3_stmt *s, const struct bound *b, int64_t limit)
{
	(void) store_sqlite_bind_text(s, 2, b->q->user);
	(void) store_sqlite_bind_text(s, 3, b->q->type);
	(void) sqlite3_bind_int64(s, 4, b->lo);
	(void) sqlite3_bind_int64(s, 5, b->hi);
	(void) store_sqlite_bind_text(s, 6, b->like);
	(void) sqlite3_bind_int64(s, 7, limit);
	(void) store_sqlite_bind_text(s, 8, b->match);
	(void) sqlite3_bind_int64(s, 9, MATCH_BUDGET);
}

static int bind_host(struct store_sqlite_conn *c, sqlite3_stmt *s, const char *host_id)
{
	int64_t host;
	int r;

	if (!host_id)
		return sqlite3_bind_null(s, 1) == SQLITE_OK ? 0 : -EIO;
	r = store_sqlite_host_num(c, host_id, &host);
	if (r < 0)
		return r;
	(void) sqlite3_bind_int64(s, 1, host);
	return 0;
}

/* Runs one plan over b's range, appending at most `limit` events; *io_last is the key of
 * the last one appended. */
static int run(struct store_sqlite_conn *c, const struct bound *b, const char *sql, size_t limit,
	       json_t *events, int64_t *io_last)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL;
	int r;

	if (b->lo > b->hi || limit == 0)
		return 0;
	r = store_sqlite_stmt(c, sql, &s);
	if (r < 0)
		return r;
	r = bind_host(c, s, b->q->host_id);
	if (r < 0)
		return r;
	bind_query(s, b, (int64_t) limit);
	while ((r = store_sqlite_step(c, s, "searching events")) > 0) {
		if (jsonw_append(events, store_sqlite_events_json(s)) < 0)
			return -ENOMEM;
		*io_last = sqlite3_column_int64(s, 11);
	}
	return r;
}

/* How far the first phase of a filtered text search reaches: 1 when it walks every match of
 * the range, 0 when the budget stops it, with the key of the last match it walks. */
static int reach(struct store_sqlite_conn *c, const struct bound *b, int64_t *ret_last)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL;
	int r = store_sqlite_stmt(c, match_reach[!b->q->ascending], &s);

	if (r < 0)
		return r;
	bind_query(s, b, 0);
	r = store_sqlite_step(c, s, "searching events");
	if (r <= 0)
		return r < 0 ? r : -EIO;
	*ret_last = sqlite3_column_int64(s, 1);
	return sqlite3_column_int64(s, 0) < MATCH_BUDGET;
}

static int search(struct store_sqlite_conn *c, struct bound *b, enum plan plan, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *events = json_array();
	size_t limit = b->q->limit;
	int64_t last = 0, reached = 0;
	int r;

	if (!events)
		return -ENOMEM;
	if (plan == PLAN_TEXT && (b->q->host_id || b->q->user) && b->lo <= b->hi) {
		r = reach(c, b, &reached);
		if (r < 0)
			return r;
		if (r == 0) {
			/* phase 1 up to the budget, phase 2 beyond it */
			struct bound rest = *b;

			r = run(c, b, match_some[!b->q->ascending], limit, events, &last);
			if (r < 0)
				return r;
			if (b->q->ascending)
				rest.lo = reached + 1;
			else
				rest.hi = reached - 1;
			r = run(c, &rest, match_rest[!b->q->host_id][!b->q->ascending],
				limit - json_array_size(events), events, &last);
			if (r < 0)
				return r;
			goto out;
		}
	}
	r = run(c, b, plans[plan][!b->q->ascending], limit, events, &last);
	if (r < 0)
		return r;
out:
	/* a full page may have more after it; a short one is the end */
	*ret = json_array_size(events) == limit
		       ? json_pack("{sOsI}", "events", events, "next", (json_int_t) last)
		       : json_pack("{sOsn}", "events", events, "next");
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_search_events(struct store *st, const struct store_event_query *q, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
	struct bound b;
	enum plan plan;
	json_t *v = NULL;
	int r;

	if (!q || !ret || q->limit < 1 || q->limit > 1000 || q->cursor < 0 || q->from_ms < 0 ||
	    q->to_ms < 0)
		return -EINVAL;
	plan = q->host_id && q->type ? PLAN_HOST_TYPE
	       : q->host_id          ? PLAN_HOST
	       : q->user             ? PLAN_USER
	       : q->type             ? PLAN_TYPE
				     : PLAN_TIME;
	r = bound_init(&b, q, true);
	if (r < 0) {
		bound_done(&b);
		return r;
	}
	if (b.match)
		plan = PLAN_TEXT;
	r = store_sqlite_begin_read(s, &c);
	if (r >= 0)
		r = store_sqlite_end(s, c, search(c, &b, plan, &v));
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

#define COUNT(k1, k2)                                                                           \
	"SELECT " k1 ", " k2 ", count(*), max(h.hostname)"                                      \
	" FROM events e JOIN hosts h ON h.num = e.host WHERE e.id BETWEEN ?4 AND ?5" FILTERS    \
	" AND (?8 IS NULL OR e.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?8))" \
	" GROUP BY 1, 2 ORDER BY 1, 2 LIMIT ?7"

#define COUNT_ROW(n1, k1)                                                         \
	{n1, NULL, COUNT(k1, "NULL")}, {n1, "type", COUNT(k1, K_TYPE)},           \
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

static json_t *key_value(sqlite3_stmt *s, int i, const char *by)
{
	return streq(by, "hour") || streq(by, "day") ? store_sqlite_column_int(s, i)
						     : store_sqlite_column_string(s, i);
}

static int counts(struct store_sqlite_conn *c, const struct bound *b, const char *sql,
		  const char *by1, const char *by2, json_t **ret)
{
	_cleanup_(store_sqlite_resetp) sqlite3_stmt *s = NULL;
	_cleanup_(json_decrefp) json_t *buckets = json_array(), *by = json_array();
	int64_t total = 0;
	int r;

	if (!buckets || !by || jsonw_append(by, json_string(by1)) < 0 ||
	    (by2 && jsonw_append(by, json_string(by2)) < 0))
		return -ENOMEM;
	r = store_sqlite_stmt(c, sql, &s);
	if (r < 0)
		return r;
	r = bind_host(c, s, b->q->host_id);
	if (r < 0)
		return r;
	bind_query(s, b, (int64_t) STORE_COUNTS_MAX + 1);
	while ((r = store_sqlite_step(c, s, "counting events")) > 0) {
		json_t *bucket = json_object();

		if (json_array_size(buckets) >= STORE_COUNTS_MAX) {
			json_decref(bucket);
			return -E2BIG;
		}
		if (jsonw_append(buckets, bucket) < 0 ||
		    jsonw_set(bucket, by1, key_value(s, 0, by1)) < 0 ||
		    (by2 && jsonw_set(bucket, by2, key_value(s, 1, by2)) < 0) ||
		    jsonw_set(bucket, "count", store_sqlite_column_int(s, 2)) < 0 ||
		    ((streq(by1, "host") || (by2 && streq(by2, "host"))) &&
		     jsonw_set(bucket, "hostname", store_sqlite_column_string(s, 3)) < 0))
			return -ENOMEM;
		total += sqlite3_column_int64(s, 2);
	}
	if (r < 0)
		return r;
	*ret = json_pack("{sOsOsI}", "by", by, "buckets", buckets, "total", (json_int_t) total);
	return *ret ? 0 : -ENOMEM;
}

int store_sqlite_search_counts(struct store *st, const struct store_event_query *q, const char *by1,
			       const char *by2, json_t **ret)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_sqlite_conn *c;
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
		r = store_sqlite_begin_read(s, &c);
	if (r >= 0)
		r = store_sqlite_end(s, c, counts(c, &b, sql, by1, by2, &v));
	bound_done(&b);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
