/*
 * The admin API's event store (docs/api.md, "Events"): search with filters, full text and
 * cursor paging; counts for charts; exports as CSV or JSON lines, streamed page by page so
 * an export of millions of events never sits in memory; and a host's event-chain evidence
 * (gaps and breaks). Times in queries are Unix seconds, RFC 3339 ("2026-11-01",
 * "2026-11-01T09:00:00+09:00") or relative to now ("-7d", "-24h").
 *
 * Cursors are opaque to clients: "c" and the 16 hex digits of the last event's key. The
 * store's keyset paging makes them stable while events keep arriving.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/duration.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define PAGE_DEFAULT  100
#define PAGE_MAX      1000
#define EXPORT_PAGE   1000
#define FILTER_MAX    256u
#define CURSOR_PREFIX 'c'

/* ---- query parameters ---- */

/* A text query parameter of at most FILTER_MAX bytes of clean UTF-8, or NULL when absent. */
static int query_text(struct http_request *req, const char *name, const char **ret)
{
	const char *s = http_query(req, name);

	if (s && (strlen(s) > FILTER_MAX || !str_is_clean_utf8(s, strlen(s))))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter '%s': at most %u bytes of text", name,
				 FILTER_MAX);
	*ret = s && *s ? s : NULL;
	return 0;
}

static int two_digits(const char *s, int *ret)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -EINVAL;
	*ret = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

/* RFC 3339: YYYY-MM-DD[(T| )HH:MM[:SS[.fff]][Z|±HH:MM]], UTC when no zone is given. */
static int parse_rfc3339(const char *s, int64_t *ret_ms)
{
	struct tm tm = {0};
	int y = 0, mo, d, h = 0, mi = 0, sec = 0, zh, zm, ms = 0, sign;
	int64_t t;
	const char *p = s;

	for (int i = 0; i < 4; i++, p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		y = y * 10 + (*p - '0');
	}
	if (*p++ != '-' || two_digits(p, &mo) < 0 || p[2] != '-' || two_digits(p + 3, &d) < 0)
		return -EINVAL;
	p += 5;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (two_digits(p + 1, &h) < 0 || p[3] != ':' || two_digits(p + 4, &mi) < 0)
			return -EINVAL;
		p += 6;
		if (*p == ':') {
			if (two_digits(p + 1, &sec) < 0)
				return -EINVAL;
			p += 3;
			if (*p == '.') {
				int digits = 0;

				for (p++; *p >= '0' && *p <= '9'; p++, digits++)
					if (digits < 3)
						ms = ms * 10 + (*p - '0');
				if (digits == 0)
					return -EINVAL;
				for (; digits < 3; digits++)
					ms *= 10;
			}
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t) timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (two_digits(p + 1, &zh) < 0 || p[3] != ':' || two_digits(p + 4, &zm) < 0 ||
		    zh > 23 || zm > 59)
			return -EINVAL;
		t -= (int64_t) sign * ((int64_t) zh * 3600 + (int64_t) zm * 60);
		p += 6;
	}
	if (*p || t < 0)
		return -EINVAL;
	*ret_ms = t * 1000 + ms;
	return 0;
}

/* A time parameter into Unix ms: seconds, RFC 3339, or "-DURATION" before now. */
static int query_time(struct http_request *req, const char *name, int64_t *ret_ms)
{
	const char *s = http_query(req, name);
	int64_t v;

	if (!s || !*s)
		return 0;
	if (s[0] == '-' && duration_parse(s + 1, &v) == 0) {
		*ret_ms = MAX(INT64_C(0), req->now - v) * 1000;
		return 0;
	}
	if (strspn(s, "0123456789") == strlen(s) && str_to_i64(s, 10, &v) == 0 &&
	    v <= INT64_MAX / 1000) {
		*ret_ms = v * 1000;
		return 0;
	}
	if (strlen(s) <= 40 && parse_rfc3339(s, &v) == 0) {
		*ret_ms = v;
		return 0;
	}
	return http_fail(req, -EINVAL, "malformed",
			 "query parameter '%s': expected Unix seconds, an RFC 3339 time "
			 "(2026-11-01 or 2026-11-01T09:00:00+09:00) or -DURATION (-7d, -24h)",
			 name);
}

static int query_cursor(struct http_request *req, int64_t *ret)
{
	const char *s = http_query(req, "cursor");
	uint64_t v;

	if (!s || !*s)
		return 0;
	if (s[0] != CURSOR_PREFIX || strlen(s) != 17 || str_to_u64(s + 1, 16, &v) < 0 || v == 0 ||
	    v > INT64_MAX)
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'cursor': not a cursor this server gave out");
	*ret = (int64_t) v;
	return 0;
}

/* The filters every events call takes. */
static int event_query(struct http_request *req, struct store_event_query *q)
{
	const char *order = NULL;
	int64_t limit;

	*q = (struct store_event_query){.limit = PAGE_DEFAULT};
	if (query_text(req, "host", &q->host_id) < 0 || query_text(req, "user", &q->user) < 0 ||
	    query_text(req, "type", &q->type) < 0 || query_text(req, "q", &q->text) < 0 ||
	    query_text(req, "order", &order) < 0 || query_time(req, "from", &q->from_ms) < 0 ||
	    query_time(req, "to", &q->to_ms) < 0 || query_cursor(req, &q->cursor) < 0 ||
	    http_query_int(req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0)
		return -EINVAL;
	if (order && !streq(order, "asc") && !streq(order, "desc"))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'order': expected asc or desc");
	q->ascending = order && streq(order, "asc");
	q->limit = (size_t) limit;
	return 0;
}

/* A store backend without the event store (PostgreSQL, for now): 501, in words. */
static int fail_missing(struct http_request *req)
{
	return http_fail(req, -ENOSYS, "not_implemented",
			 "this server's store (PostgreSQL) has no event search yet: it stores "
			 "events, but searching, exporting and the chain's evidence need SQLite "
			 "for now");
}

static int fail_search(struct http_request *req, int r, const struct store_event_query *q)
{
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", q->host_id);
	if (r == -EOPNOTSUPP)
		return fail_missing(req);
	return http_fail_store(req, r, "event search");
}

/* ---- search ---- */

static int handle_search(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *out = NULL;
	struct store_event_query q;
	json_t *next;
	int r;

	if (event_query(req, &q) < 0)
		return -EINVAL;
	r = store_events_search(req->srv->store, &q, &out);
	if (r < 0)
		return fail_search(req, r, &q);
	next = json_object_get(out, "next");
	if (json_is_integer(next)) {
		char cursor[24];

		(void) snprintf(cursor, sizeof(cursor), "%c%016" PRIx64, CURSOR_PREFIX,
				(uint64_t) json_integer_value(next));
		if (jsonw_set(out, "next_cursor", json_string(cursor)) < 0)
			return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	} else if (jsonw_set(out, "next_cursor", json_null()) < 0) {
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	}
	(void) json_object_del(out, "next");
	if (jsonw_set(out, "limit", json_integer((json_int_t) q.limit)) < 0)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	return http_reply_json(req, 200, TAKE_PTR(out));
}

/* ---- counts ---- */

static bool known_by(const char *s)
{
	static const char *const names[] = {"type", "host", "user", "hour", "day"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(s, names[i]))
			return true;
	return false;
}

static int handle_counts(struct http_request *req)
{
	struct store_event_query q;
	const char *by = NULL;
	char by1[16] = "", by2[16] = "";
	const char *comma;
	json_t *out = NULL;
	int r;

	if (event_query(req, &q) < 0 || query_text(req, "by", &by) < 0)
		return -EINVAL;
	if (!by)
		by = "type";
	comma = strchr(by, ',');
	if (comma) {
		(void) snprintf(by1, sizeof(by1), "%.*s", (int) MIN((size_t) (comma - by), 15u),
				by);
		(void) snprintf(by2, sizeof(by2), "%s", comma + 1);
	} else {
		(void) snprintf(by1, sizeof(by1), "%s", by);
	}
	if (!known_by(by1) || (comma && (!known_by(by2) || streq(by1, by2))))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'by': one or two of type, host, user, hour, day, "
				 "separated by a comma");
	r = store_events_counts(req->srv->store, &q, by1, comma ? by2 : NULL, &out);
	if (r == -E2BIG)
		return http_fail(req, r, "too_large",
				 "more than %u buckets: narrow the time range or group by less",
				 STORE_COUNTS_MAX);
	if (r < 0)
		return fail_search(req, r, &q);
	return http_reply_json(req, 200, out);
}

/* ---- export ---- */

struct export
{
	struct store *st;
	struct store_event_query q;
	char *host, *user, *type, *text; /* the query's strings, owned */
	bool csv;
	bool done;
	struct buf out;
	size_t off;
};

static void export_free(void *cls)
{
	struct export *x = cls;

	if (!x)
		return;
	mm_free(x->host);
	mm_free(x->user);
	mm_free(x->type);
	mm_free(x->text);
	buf_done(&x->out);
	mm_free(x);
}

/* A CSV field: quoted when it must be; text an attacker chose (host and user names) that a
 * spreadsheet would run as a formula gets a leading apostrophe (OWASP's advice). */
static int csv_field(struct buf *b, const char *s, bool untrusted)
{
	bool formula, quote;
	int r;

	if (!s)
		return 0;
	formula = untrusted && s[0] && strchr("=+-@\t\r", s[0]);
	quote = formula || strpbrk(s, ",\"\r\n");
	if (!quote)
		return buf_adds(b, s);
	r = buf_addc(b, '"');
	if (r == 0 && formula)
		r = buf_addc(b, '\'');
	for (const char *p = s; r == 0 && *p; p++)
		r = *p == '"' ? buf_adds(b, "\"\"") : buf_addc(b, *p);
	return r == 0 ? buf_addc(b, '"') : r;
}

static void utc_ms(int64_t ms, char out[64])
{
	time_t t = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		(void) snprintf(out, 64, "%" PRId64, ms);
		return;
	}
	(void) snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			(int) (ms - (int64_t) t * 1000));
}

static int csv_row(struct buf *b, json_t *e)
{
	_cleanup_(freep) char *data = jsonw_dump(json_object_get(e, "data"));
	char when[64];
	int r;

	if (!data)
		return -ENOMEM;
	utc_ms(json_integer_value(json_object_get(e, "time")), when);
	r = buf_addf(b, "%s,", when);
	if (r == 0)
		r = csv_field(b, json_string_value(json_object_get(e, "host_id")), false);
	if (r == 0)
		r = buf_addc(b, ',');
	if (r == 0)
		r = csv_field(b, json_string_value(json_object_get(e, "hostname")), true);
	if (r == 0)
		r = buf_addf(b, ",%" PRId64 ",",
			     (int64_t) json_integer_value(json_object_get(e, "seq")));
	if (r == 0)
		r = csv_field(b, json_string_value(json_object_get(e, "type")), true);
	if (r == 0)
		r = buf_addc(b, ',');
	if (r == 0)
		r = csv_field(b, json_string_value(json_object_get(e, "user")), true);
	if (r == 0)
		r = buf_addc(b, ',');
	if (r == 0)
		r = csv_field(b, json_string_value(json_object_get(e, "chain")), false);
	if (r == 0)
		r = buf_addc(b, ',');
	if (r == 0)
		r = csv_field(b, data, false);
	if (r == 0)
		r = buf_addc(b, ',');
	if (r == 0)
		r = csv_field(b, json_string_value(json_object_get(e, "hash")), false);
	return r == 0 ? buf_adds(b, "\r\n") : r;
}

/* Formats the next page of events into x->out; sets done after the last. */
static int export_page(struct export *x)
{
	_cleanup_(json_decrefp) json_t *page = NULL;
	json_t *e, *next;
	size_t i;
	int r;

	r = store_events_search(x->st, &x->q, &page);
	if (r < 0) {
		log_error("(M4140) export stopped: the store failed: %s", strerror(-r));
		return r;
	}
	json_array_foreach (json_object_get(page, "events"), i, e) {
		if (x->csv) {
			r = csv_row(&x->out, e);
		} else {
			_cleanup_(freep) char *line = jsonw_dump(e);

			r = line ? buf_adds(&x->out, line) : -ENOMEM;
			if (r == 0)
				r = buf_addc(&x->out, '\n');
		}
		if (r < 0)
			return r;
	}
	next = json_object_get(page, "next");
	if (json_is_integer(next))
		x->q.cursor = json_integer_value(next);
	else
		x->done = true;
	return 0;
}

static ssize_t export_read(void *cls, char *buf, size_t max)
{
	struct export *x = cls;
	size_t n;

	while (x->off == x->out.len) {
		if (x->done)
			return 0;
		buf_reset(&x->out);
		x->off = 0;
		if (export_page(x) < 0)
			return -EIO;
	}
	n = MIN(max, x->out.len - x->off);
	memcpy(buf, x->out.data + x->off, n);
	x->off += n;
	return (ssize_t) n;
}

static int handle_export(struct http_request *req)
{
	struct export *x;
	struct store_event_query q;
	const char *format = NULL;
	_cleanup_(json_decrefp) json_t *probe = NULL, *details = NULL;
	int r;

	if (event_query(req, &q) < 0 || query_text(req, "format", &format) < 0)
		return -EINVAL;
	if (!format || (!streq(format, "csv") && !streq(format, "jsonl")))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'format': expected csv or jsonl");
	if (!http_query(req, "order"))
		q.ascending = true; /* an export reads like a log: oldest first */
	/* the first page now, so a bad host or a failing store is a proper error status */
	q.limit = 1;
	r = store_events_search(req->srv->store, &q, &probe);
	if (r < 0)
		return fail_search(req, r, &q);
	x = mm_calloc(1, sizeof(*x));
	if (!x)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	x->st = req->srv->store;
	x->q = q;
	x->q.limit = EXPORT_PAGE;
	x->csv = streq(format, "csv");
	buf_init(&x->out, (size_t) 64 * 1024 * 1024);
	if ((q.host_id && !(x->host = mm_strdup(q.host_id))) ||
	    (q.user && !(x->user = mm_strdup(q.user))) ||
	    (q.type && !(x->type = mm_strdup(q.type))) ||
	    (q.text && !(x->text = mm_strdup(q.text)))) {
		export_free(x);
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	}
	x->q.host_id = x->host;
	x->q.user = x->user;
	x->q.type = x->type;
	x->q.text = x->text;
	/* a BOM, so spreadsheet programs read the UTF-8 (Japanese names) as UTF-8 */
	if (x->csv && buf_adds(&x->out, "\xef\xbb\xbftime,host_id,hostname,seq,type,user,chain,"
					"data,hash\r\n") < 0) {
		export_free(x);
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	}
	details = json_pack("{ssss?ss?ss?ss?sIsI}", "format", format, "host", q.host_id, "user",
			    q.user, "type", q.type, "q", q.text, "from", (json_int_t) q.from_ms,
			    "to", (json_int_t) q.to_ms);
	auth_audit(req, "events.export", NULL, details);
	return http_reply_stream(
		req, 200, x->csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
		x->csv ? "events.csv" : "events.jsonl", export_read, x, export_free);
}

/* ---- evidence ---- */

static int handle_evidence(struct http_request *req)
{
	json_t *out = NULL;
	int64_t limit;
	int r;

	if (http_query_int(req, "limit", PAGE_MAX, 1, PAGE_MAX, &limit) < 0)
		return -EINVAL;
	r = store_host_evidence(req->srv->store, req->param, (size_t) limit, &out);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r == -EOPNOTSUPP)
		return fail_missing(req);
	if (r < 0)
		return http_fail_store(req, r, "evidence");
	return http_reply_json(req, 200, out);
}

const struct http_route api_events_routes[] = {
	{"GET", "/api/v1/events", handle_search, 0},
	{"GET", "/api/v1/events/counts", handle_counts, 0},
	{"GET", "/api/v1/events/export", handle_export, 0},
	{"GET", "/api/v1/hosts/{id}/evidence-gaps", handle_evidence, 0},
};
const size_t api_events_n_routes = ARRAY_SIZE(api_events_routes);
