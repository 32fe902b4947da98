/*
 * bench/events-search: the admin's event search on the SQLite store, over millions of
 * generated events (issue 5's goals: filtered p95 < 50 ms, full-text p95 < 200 ms at 10
 * million events).
 *
 * Generation: hosts are enrolled through the store; events are written by a bulk loader
 * straight into the store's own tables (its schema, indexes, key layout and FTS5 triggers,
 * one transaction per 100,000 rows, synchronous off): the path agents take is measured by
 * bench-ingest, this one measures reads. The mix is what an office of telework laptops
 * produces: process starts with command lines, file writes, copies and deletes with
 * Japanese and English names, logins, Wi-Fi networks, USB devices, network connections,
 * for two users per host on average, spread over 90 days. A generated database can be
 * kept (--db PATH) and measured again without generating.
 *
 * Measurement: each kind of query runs --queries times with random parameters through
 * store_events_search() (pages of 100, newest first, as the console asks), timed one by
 * one; p50 and p95 are printed beside the goal, per kind and for all filtered and all
 * full-text queries together. Two-character queries (a trigram index cannot serve them)
 * are printed for information, without a goal.
 *
 *   bench-events-search [--events N] [--full] [--hosts H] [--queries Q] [--db PATH]
 *     default 1,000,000 events; --full is 10,000,000 (about 10 GB, several minutes)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store.h"
#include "tests/storetest.h"

#define NOW       1795650000
#define SPAN_DAYS 90
#define DAY_MS    (86400 * 1000LL)
#define TXN_ROWS  100000
#define KEY_SHIFT 20
#define GOAL_FILT 50.0
#define GOAL_TEXT 200.0
#define MAX_HOSTS 5000

struct opts {
	uint64_t events;
	unsigned hosts, queries;
	const char *db;
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so two runs measure the same data */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned pick(unsigned n)
{
	return (unsigned) (rnd() % n);
}

static double now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static const char *const words_ja[] = {
	"給与明細",   "見積書",   "人事評価", "議事録", "契約書", "請求書",   "顧客リスト",
	"売上報告",   "設計書",   "企画書",   "稟議書", "勤怠表", "経費精算", "社外秘",
	"取引先一覧", "採用計画", "予算案",   "納品書", "発注書", "業務報告",
};
static const char *const words_en[] = {
	"report", "budget",  "minutes", "contract", "invoice", "design", "roadmap",
	"backup", "payroll", "slides",  "notes",    "draft",   "final",  "customer",
};
static const char *const exts[] = {"xlsx", "docx", "pdf", "pptx", "txt", "csv", "zip"};
static const char *const family[] = {"yamada",   "suzuki",   "tanaka",    "sato",  "ito",
				     "watanabe", "nakamura", "kobayashi", "kato",  "yoshida",
				     "yamamoto", "sasaki",   "matsumoto", "inoue", "kimura"};
static const char *const given[] = {"taro",   "hanako",  "ichiro",  "yuki",    "kenji",
				    "akiko",  "hiroshi", "mai",     "satoshi", "naoko",
				    "takumi", "emi",     "daisuke", "rina",    "kazuya"};
static const char *const ssids[] = {
	"Cafe_FreeWiFi",     "Starbucks_Wi2", "HOME-5G-A1B2", "aterm-3f9c21-g", "Buffalo-G-7788",
	"FREE_SPOT_STATION", "docomo_wifi",   "au_Wi-Fi2",    "office-guest",   "hotel_lobby"};
/* A command line, one of ten shapes. */
static void command(char *out, size_t n, const char *path, const char *user)
{
	switch (pick(10)) {
	case 0:
		(void) snprintf(out, n, "/usr/bin/bash");
		break;
	case 1:
		(void) snprintf(out, n, "/usr/bin/vim %s", path);
		break;
	case 2:
		(void) snprintf(out, n, "/usr/bin/libreoffice --calc %s", path);
		break;
	case 3:
		(void) snprintf(out, n, "/usr/bin/scp %s backup@203.0.113.%u:", path, pick(250));
		break;
	case 4:
		(void) snprintf(out, n, "/usr/bin/firefox");
		break;
	case 5:
		(void) snprintf(out, n, "/usr/bin/zip -r %s.zip %s", path, path);
		break;
	case 6:
		(void) snprintf(out, n, "/usr/bin/rsync -a %s /media/%s/USB/", path, user);
		break;
	case 7:
		(void) snprintf(out, n, "/usr/bin/ssh admin@198.51.100.%u", pick(250));
		break;
	case 8:
		(void) snprintf(out, n, "/usr/bin/python3 %s", path);
		break;
	default:
		(void) snprintf(out, n, "/usr/bin/curl -O https://example.com%s", path);
		break;
	}
}

struct types {
	const char *type;
	unsigned weight;
};
static const struct types types[] = {
	{"process.start", 40}, {"network.connect", 15}, {"file.write", 18},   {"file.copy", 5},
	{"file.delete", 5},    {"login.success", 5},    {"login.failure", 1}, {"wifi.connect", 3},
	{"usb.insert", 1},     {"usb.remove", 1},       {"file.read", 5},     {"agent.start", 1},
};

static const char *pick_type(void)
{
	unsigned total = 0, r;

	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		total += types[i].weight;
	r = pick(total);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (r < types[i].weight)
			return types[i].type;
		r -= types[i].weight;
	}
	return types[0].type;
}

static void user_name(unsigned host, unsigned which, char *out, size_t n)
{
	unsigned u = host * 2 + which;

	(void) snprintf(out, n, "%s.%s", given[u % ARRAY_SIZE(given)],
			family[(u / ARRAY_SIZE(given)) % ARRAY_SIZE(family)]);
}

static void file_name(char *out, size_t n, const char *user)
{
	if (pick(2))
		(void) snprintf(out, n, "/home/%s/Documents/%s_%04u.%s", user,
				words_ja[pick(ARRAY_SIZE(words_ja))], pick(3000),
				exts[pick(ARRAY_SIZE(exts))]);
	else
		(void) snprintf(out, n, "/home/%s/work/%s-%s-%u.%s", user,
				words_en[pick(ARRAY_SIZE(words_en))],
				words_en[pick(ARRAY_SIZE(words_en))], pick(10000),
				exts[pick(ARRAY_SIZE(exts))]);
}

/* One event's data, search text and user, as store_chain.c would make them. */
static void make_event(unsigned host, const char *type, struct buf *data, struct buf *text,
		       char user[64])
{
	char path[256], dest[300], cmd[1024];
	int r = 0;

	buf_reset(data);
	buf_reset(text);
	user_name(host, pick(2), user, 64);
	if (str_startswith(type, "process.")) {
		file_name(path, sizeof(path), user);
		command(cmd, sizeof(cmd), path, user);
		r = buf_addf(data,
			     "{\"pid\":%u,\"ppid\":%u,\"user\":\"%s\",\"exe\":\"%.*s\","
			     "\"cmdline\":\"%s\"}",
			     1000 + pick(60000), 1 + pick(5000), user, (int) strcspn(cmd, " "), cmd,
			     cmd);
		if (r == 0)
			r = buf_addf(text, "%s\n%.*s\n%s", user, (int) strcspn(cmd, " "), cmd, cmd);
	} else if (str_startswith(type, "file.")) {
		file_name(path, sizeof(path), user);
		if (streq(type, "file.copy")) {
			(void) snprintf(dest, sizeof(dest), "/media/%s/USB%s", user,
					strrchr(path, '/'));
			r = buf_addf(data, "{\"user\":\"%s\",\"path\":\"%s\",\"dest\":\"%s\"}",
				     user, path, dest);
			if (r == 0)
				r = buf_addf(text, "%s\n%s\n%s", user, path, dest);
		} else {
			r = buf_addf(data, "{\"user\":\"%s\",\"path\":\"%s\",\"size\":%u}", user,
				     path, pick(1 << 24));
			if (r == 0)
				r = buf_addf(text, "%s\n%s", user, path);
		}
	} else if (str_startswith(type, "wifi.")) {
		const char *s = ssids[pick(ARRAY_SIZE(ssids))];

		r = buf_addf(data, "{\"user\":\"%s\",\"ssid\":\"%s\",\"security\":\"wpa2\"}", user,
			     s);
		if (r == 0)
			r = buf_addf(text, "%s\n%s\nwpa2", user, s);
	} else if (str_startswith(type, "network.")) {
		r = buf_addf(data, "{\"user\":\"%s\",\"dst\":\"192.0.2.%u\",\"port\":%u}", user,
			     pick(250), pick(2) ? 443u : 22u);
		if (r == 0)
			r = buf_addf(text, "%s\n192.0.2.%u", user, pick(250));
	} else if (str_startswith(type, "usb.")) {
		r = buf_addf(data, "{\"user\":\"%s\",\"vendor\":\"0781\",\"serial\":\"SN%08u\"}",
			     user, pick(100000000));
		if (r == 0)
			r = buf_addf(text, "%s\n0781\nSN%08u", user, pick(100000000));
	} else {
		r = buf_addf(data, "{\"user\":\"%s\",\"tty\":\"pts/%u\"}", user, pick(8));
		if (r == 0)
			r = buf_addf(text, "%s\npts/%u", user, pick(8));
	}
	if (r < 0)
		abort(); /* the buffers are large enough: a bug in this generator */
}

static int generate(const struct opts *o, const char *path, const char *url)
{
	struct store *st = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	struct buf data, text;
	uint64_t *seq = NULL;
	int64_t t0 = (int64_t) NOW * 1000 - SPAN_DAYS * DAY_MS, span = SPAN_DAYS * DAY_MS;
	int64_t *hostnum = NULL, last_ms = -1, sub = 0;
	struct {
		char *name, *sql;
		bool trigger;
	} schema[32] = {{0}};
	size_t n_schema = 0;
	double start = now_ms();
	int r = -1;

	if (store_open(url, &st) < 0)
		return -1;
	hostnum = mm_calloc(o->hosts, sizeof(*hostnum));
	seq = mm_calloc(o->hosts, sizeof(*seq));
	if (!hostnum || !seq)
		goto out;
	for (unsigned h = 0; h < o->hosts; h++) {
		struct sign_log log = {0};
		struct store_enroll_result res = {0};
		char secret[32], name[32], tid[STORE_ID_MAX];

		(void) snprintf(secret, sizeof(secret), "mtk_bench_%u", h);
		(void) snprintf(name, sizeof(name), "pc-%04u", h);
		if (make_token(st, secret, NOW - 10, NOW + 3600, 1, NULL, tid) < 0 ||
		    enroll_host(st, secret, NOW, name, &log, &res) < 0)
			goto out;
		mm_free(res.cert_pem);
		hostnum[h] = h + 1; /* hosts.num, assigned in order */
	}
	st = store_free(st);

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite_exec(db, "PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000;"
			    "PRAGMA temp_store = MEMORY;") != SQLITE_OK)
		goto out;
	/* The store's own indexes and full-text triggers on events, dropped for the load and
	 * made again from the same SQL afterwards: a sorted build beats row-by-row inserts. */
	if (sqlite3_prepare_v2(db,
			       "SELECT name, sql, type FROM sqlite_master WHERE tbl_name = 'events'"
			       " AND type IN ('index', 'trigger') AND sql IS NOT NULL",
			       -1, &ins, NULL) != SQLITE_OK)
		goto out;
	while (sqlite3_step(ins) == SQLITE_ROW && n_schema < ARRAY_SIZE(schema)) {
		schema[n_schema].name = mm_strdup((const char *) sqlite3_column_text(ins, 0));
		schema[n_schema].sql = mm_strdup((const char *) sqlite3_column_text(ins, 1));
		schema[n_schema].trigger =
			streq((const char *) sqlite3_column_text(ins, 2), "trigger");
		if (!schema[n_schema].name || !schema[n_schema].sql)
			goto out;
		n_schema++;
	}
	sqlite3_finalize(ins);
	ins = NULL;
	for (size_t k = 0; k < n_schema; k++) {
		char sql[256];

		(void) snprintf(sql, sizeof(sql), "DROP %s %s",
				schema[k].trigger ? "TRIGGER" : "INDEX", schema[k].name);
		if (sqlite_exec(db, sql) != SQLITE_OK)
			goto out;
	}
	if (sqlite3_prepare_v2(
		    db,
		    "INSERT INTO events (id, host, seq, time_ms, mono_ms, type, user_name,"
		    " data, text, prev, hash, chain, received, rx)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13)",
		    -1, &ins, NULL) != SQLITE_OK)
		goto out;
	buf_init(&data, 4096);
	buf_init(&text, 4096);
	(void) sqlite_exec(db, "BEGIN");
	for (uint64_t i = 0; i < o->events; i++) {
		/* times increase with i: the bulk load appends to the primary key */
		int64_t t = t0 + (int64_t) ((double) span * (double) i / (double) o->events);
		unsigned h = pick(o->hosts);
		const char *type = pick_type();
		char user[64];

		sub = t == last_ms ? sub + 1 : 0;
		last_ms = t;
		make_event(h, type, &data, &text, user);
		seq[h]++;
		(void) sqlite3_bind_int64(ins, 1, (t << KEY_SHIFT) + sub);
		(void) sqlite3_bind_int64(ins, 2, hostnum[h]);
		(void) sqlite3_bind_int64(ins, 3, (int64_t) seq[h]);
		(void) sqlite3_bind_int64(ins, 4, t);
		(void) sqlite3_bind_int64(ins, 5, (int64_t) i * 7);
		(void) sqlite3_bind_text(ins, 6, type, -1, SQLITE_STATIC);
		(void) sqlite3_bind_text(ins, 7, user, -1, SQLITE_STATIC);
		(void) sqlite3_bind_text(ins, 8, buf_str(&data), (int) data.len, SQLITE_STATIC);
		(void) sqlite3_bind_text(ins, 9, buf_str(&text), (int) text.len, SQLITE_STATIC);
		(void) sqlite3_bind_text(
			ins, 10, "4a6a008b753282ba91577071199eaeebc2b3429d085cbe6e58c48134096ccb27",
			64, SQLITE_STATIC);
		(void) sqlite3_bind_text(
			ins, 11, "cb848ee4563f05da52caeb3e22694f3e3ae11410d063cdab47f8299c3d509648",
			64, SQLITE_STATIC);
		(void) sqlite3_bind_int64(ins, 12, t / 1000);
		(void) sqlite3_bind_int64(ins, 13, (int64_t) i + 1);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fprintf(stderr, "bench: insert: %s\n", sqlite3_errmsg(db));
			goto out_bufs;
		}
		(void) sqlite3_reset(ins);
		if ((i + 1) % TXN_ROWS == 0) {
			(void) sqlite_exec(db, "COMMIT; BEGIN");
			if ((i + 1) % (TXN_ROWS * 10) == 0)
				fprintf(stderr, "  %" PRIu64 " events, %.0f s\n", i + 1,
					(now_ms() - start) / 1000);
		}
	}
	(void) sqlite_exec(db, "COMMIT");
	printf("  rows: %.0f s\n", (now_ms() - start) / 1000);
	for (size_t k = 0; k < n_schema; k++)
		if (!schema[k].trigger && sqlite_exec(db, schema[k].sql) != SQLITE_OK)
			goto out_bufs;
	printf("  indexes: %.0f s\n", (now_ms() - start) / 1000);
	if (sqlite_exec(db, "INSERT INTO events_fts(events_fts) VALUES ('rebuild')") != SQLITE_OK)
		goto out_bufs;
	printf("  full-text index: %.0f s\n", (now_ms() - start) / 1000);
	for (size_t k = 0; k < n_schema; k++)
		if (schema[k].trigger && sqlite_exec(db, schema[k].sql) != SQLITE_OK)
			goto out_bufs;
	{
		char sql[160];

		(void) snprintf(sql, sizeof(sql),
				"UPDATE counters SET value = %" PRIu64 " WHERE name = 'events_rx';"
				"UPDATE hosts SET max_seq = (SELECT max(seq) FROM events"
				" WHERE host = hosts.num)",
				o->events);
		(void) sqlite_exec(db, sql);
	}
	(void) sqlite_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	printf("generated %" PRIu64 " events for %u hosts in %.0f s\n", o->events, o->hosts,
	       (now_ms() - start) / 1000);
	r = 0;
out_bufs:
	buf_done(&data);
	buf_done(&text);
out:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	store_free(st);
	mm_free(hostnum);
	mm_free(seq);
	for (size_t k = 0; k < n_schema; k++) {
		mm_free(schema[k].name);
		mm_free(schema[k].sql);
	}
	return r;
}

/* ---- measuring ---- */

struct kind {
	const char *name;
	bool text; /* a full-text query */
	bool info; /* printed without a goal */
	void (*make)(struct store_event_query *q, char *buf, size_t n, char *host);
};

static char host_ids[MAX_HOSTS][STORE_ID_MAX];
static unsigned n_hosts;
static char user_buf[64];

static const char *some_host(void)
{
	return host_ids[pick(n_hosts)];
}

static int64_t some_time(void)
{
	return (int64_t) NOW * 1000 - (int64_t) pick(SPAN_DAYS) * DAY_MS;
}

static void q_host(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) b, (void) n, (void) h;
	q->host_id = some_host();
}
static void q_host_day(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) b, (void) n, (void) h;
	q->host_id = some_host();
	q->to_ms = some_time();
	q->from_ms = q->to_ms - DAY_MS;
}
static void q_user(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) b, (void) n, (void) h;
	user_name(pick(n_hosts), pick(2), user_buf, sizeof(user_buf));
	q->user = user_buf;
}
static void q_type_week(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) b, (void) n, (void) h;
	q->type = types[pick(ARRAY_SIZE(types))].type;
	q->to_ms = some_time();
	q->from_ms = q->to_ms - 7 * DAY_MS;
}
static void q_host_type(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) b, (void) n, (void) h;
	q->host_id = some_host();
	q->type = pick(2) ? "file.copy" : "usb.insert";
}
static void q_hour(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) b, (void) n, (void) h;
	q->to_ms = some_time();
	q->from_ms = q->to_ms - 3600 * 1000;
}
static void q_text_ja(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) h;
	(void) snprintf(b, n, "%s_%04u", words_ja[pick(ARRAY_SIZE(words_ja))], pick(3000));
	q->text = b;
}
static void q_text_word(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) h;
	(void) snprintf(b, n, "%s", words_ja[pick(ARRAY_SIZE(words_ja))]);
	q->text = b;
}
static void q_text_host(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) h;
	(void) snprintf(b, n, "%s", words_ja[pick(ARRAY_SIZE(words_ja))]);
	q->text = b;
	q->host_id = some_host();
}
static void q_text_ascii(struct store_event_query *q, char *b, size_t n, char *h)
{
	(void) h;
	if (pick(2))
		(void) snprintf(b, n, "203.0.113.%u:", pick(250));
	else
		(void) snprintf(b, n, "%s", ssids[pick(ARRAY_SIZE(ssids))]);
	q->text = b;
}
static void q_text_short(struct store_event_query *q, char *b, size_t n, char *h)
{
	static const char *const two[] = {"給与", "人事", "契約", "経費", "予算"};

	(void) h;
	(void) snprintf(b, n, "%s", two[pick(ARRAY_SIZE(two))]);
	q->text = b;
}

static const struct kind kinds[] = {
	{"host, newest 100", false, false, q_host},
	{"host + one day", false, false, q_host_day},
	{"user", false, false, q_user},
	{"type + one week", false, false, q_type_week},
	{"host + rare type", false, false, q_host_type},
	{"one hour, all hosts", false, false, q_hour},
	{"text: a file name (給与明細_0042)", true, false, q_text_ja},
	{"text: a word (見積書)", true, false, q_text_word},
	{"text: a word + host", true, false, q_text_host},
	{"text: an address or SSID", true, false, q_text_ascii},
	{"text: two characters (人事), scanned", true, true, q_text_short},
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t) (p * (double) (n - 1) + 0.5);

	return v[MIN(i, n - 1)];
}

static int load_hosts(struct store *st)
{
	struct store_host_query hq = {.limit = 1000, .sort = "hostname"};

	n_hosts = 0;
	for (hq.offset = 0; n_hosts < MAX_HOSTS; hq.offset += hq.limit) {
		json_t *out = NULL, *h;
		size_t i;

		if (store_hosts_list(st, &hq, &out) < 0)
			return -1;
		json_array_foreach (json_object_get(out, "hosts"), i, h)
			if (n_hosts < MAX_HOSTS)
				(void) snprintf(host_ids[n_hosts++], STORE_ID_MAX, "%s",
						json_string_value(json_object_get(h, "id")));
		if (json_array_size(json_object_get(out, "hosts")) < hq.limit) {
			json_decref(out);
			break;
		}
		json_decref(out);
	}
	return n_hosts ? 0 : -1;
}

static int measure(const struct opts *o, const char *url)
{
	struct store *st = NULL;
	double *all_f, *all_t, *t;
	size_t nf = 0, nt = 0;

	if (store_open(url, &st) < 0 || load_hosts(st) < 0)
		return -1;
	all_f = mm_calloc((size_t) o->queries * ARRAY_SIZE(kinds), sizeof(double));
	all_t = mm_calloc((size_t) o->queries * ARRAY_SIZE(kinds), sizeof(double));
	t = mm_calloc(o->queries, sizeof(double));
	if (!all_f || !all_t || !t)
		return -1;
	printf("\n%-40s %10s %10s %8s %10s\n", "query (pages of 100, newest first)", "p50 ms",
	       "p95 ms", "goal", "rows/query");
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		double rows = 0;

		for (unsigned i = 0; i < o->queries; i++) {
			struct store_event_query q = {.limit = 100};
			char text[128], host[STORE_ID_MAX];
			json_t *out = NULL;
			double a;

			kinds[k].make(&q, text, sizeof(text), host);
			a = now_ms();
			if (store_events_search(st, &q, &out) < 0) {
				fprintf(stderr, "bench: a search failed\n");
				return -1;
			}
			t[i] = now_ms() - a;
			rows += (double) json_array_size(json_object_get(out, "events"));
			json_decref(out);
			if (kinds[k].info)
				continue;
			if (kinds[k].text)
				all_t[nt++] = t[i];
			else
				all_f[nf++] = t[i];
		}
		qsort(t, o->queries, sizeof(*t), cmp_double);
		printf("%-40s %10.1f %10.1f %8s %10.0f\n", kinds[k].name, pct(t, o->queries, 0.5),
		       pct(t, o->queries, 0.95),
		       kinds[k].info   ? "-"
		       : kinds[k].text ? "< 200"
				       : "< 50",
		       rows / o->queries);
	}
	qsort(all_f, nf, sizeof(*all_f), cmp_double);
	qsort(all_t, nt, sizeof(*all_t), cmp_double);
	printf("\nfiltered, all kinds:  p50 %6.1f ms   p95 %6.1f ms   goal p95 < %.0f ms  %s\n",
	       pct(all_f, nf, 0.5), pct(all_f, nf, 0.95), GOAL_FILT,
	       pct(all_f, nf, 0.95) < GOAL_FILT ? "met" : "MISSED");
	printf("full text, all kinds: p50 %6.1f ms   p95 %6.1f ms   goal p95 < %.0f ms %s\n",
	       pct(all_t, nt, 0.5), pct(all_t, nt, 0.95), GOAL_TEXT,
	       pct(all_t, nt, 0.95) < GOAL_TEXT ? "met" : "MISSED");
	mm_free(all_f);
	mm_free(all_t);
	mm_free(t);
	store_free(st);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"events", required_argument, NULL, 'e'}, {"full", no_argument, NULL, 'f'},
		{"hosts", required_argument, NULL, 'H'},  {"queries", required_argument, NULL, 'q'},
		{"db", required_argument, NULL, 'd'},     {0},
	};
	struct opts o = {.events = 1000000, .hosts = 500, .queries = 100};
	struct tmpstore tmp;
	char path[512], url[600];
	struct stat sb;
	bool fresh;
	int c;

	mm_setup_jansson();
	log_setup("bench-events-search", LOG_WARNING);
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (str_to_u64(optarg, 10, &o.events) < 0 || o.events < 1000)
				return 2;
			break;
		case 'f':
			o.events = 10000000;
			break;
		case 'H':
			if (str_to_uint(optarg, 10, &o.hosts) < 0 || o.hosts < 1 ||
			    o.hosts > MAX_HOSTS)
				return 2;
			break;
		case 'q':
			if (str_to_uint(optarg, 10, &o.queries) < 0 || o.queries < 20)
				return 2;
			break;
		case 'd':
			o.db = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: bench-events-search [--events N] [--full] [--hosts H]"
				" [--queries Q] [--db PATH]\n");
			return 2;
		}
	}
	if (o.db) {
		(void) snprintf(path, sizeof(path), "%s", o.db);
	} else {
		if (tmpstore_init_at(&tmp, NULL, NULL) < 0)
			return 1;
		(void) snprintf(path, sizeof(path), "%s", tmp.path);
	}
	(void) snprintf(url, sizeof(url), "sqlite:%s", path);
	fresh = stat(path, &sb) < 0;
	printf("bench-events-search: SQLite %s, %s\n", sqlite3_libversion(),
	       fresh ? "generating" : "using the existing database");
	if (fresh && generate(&o, path, url) < 0) {
		fprintf(stderr, "bench: generating failed\n");
		return 1;
	}
	if (stat(path, &sb) == 0)
		printf("database: %s, %.1f GB\n", path, (double) sb.st_size / 1e9);
	if (measure(&o, url) < 0)
		return 1;
	if (!o.db)
		tmpstore_remove(&tmp);
	return 0;
}
