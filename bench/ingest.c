/*
 * bench/ingest: event ingestion at the store level (part (a) of the backbone benchmark).
 *
 * N simulated hosts (one thread each) send batches of chained events (lib/evchain, as
 * agents send them) through store_events_append(); beside it, in the same run, the same
 * rows go in with a plain batched INSERT on one connection with the store's pragmas (WAL,
 * synchronous=FULL as the store uses for events, the same page cache), into two tables:
 * a bare one (host, seq primary key only), and the store's own events table with its
 * indexes and full-text index (the rows as the store would write them, one FTS statement
 * per batch as the store does). The baseline is the second: what SQLite takes for this
 * schema; the store's overhead over it is validation, the chain's verification, the JSON
 * and the keys. The figure is events per second, the median of several runs, and the
 * ratio store / raw (goal >= 0.5).
 *
 * It also measures the two concurrency choices of the store while ingesting: certificate
 * lookups (store_host_by_serial, which every agent request makes) from another thread,
 * with reader connections (readers=4) and with everything on the writer (readers=0).
 *
 * With --store postgresql://… the same is measured on PostgreSQL: the store (pool=4, a
 * fresh database per run made through that URL) against a raw COPY of the same rows into
 * a plain table with PRIMARY KEY (host, seq), one COPY and one commit per batch on one
 * connection, in the same run. Start a durable throw-away server for it with
 * `eval "$(tests/pg-cluster.sh start --durable)"` (fsync on, as in production).
 *
 *   bench-ingest [--hosts N] [--batches B] [--batch S] [--runs R] [--store URL]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/evchain.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store.h"
#include "tests/storetest.h"

#define NOW      1795650000
#define MAX_RUNS 21

struct config {
	unsigned hosts, batches, batch, runs;
	const char *store; /* a postgres URL, or NULL for SQLite */
};

static double now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A realistic event body: a process start, about 200 bytes of JSON. */
static json_t *event_data(unsigned host, unsigned seq)
{
	char cmdline[128];

	(void) snprintf(cmdline, sizeof(cmdline),
			"/usr/bin/curl -s https://intranet.example.jp/api/v1/items/%u", seq);
	return json_pack("{sisisisssssss{si}}", "pid", (int) (1000 + seq % 30000), "ppid", 1, "uid",
			 (int) (1000 + host % 50), "exe", "/usr/bin/curl", "cmdline", cmdline,
			 "cwd", "/home/user", "session", "id", (int) host);
}

/* A batch of events first..first+n-1 of a host, chained from head (moved on). */
static json_t *make_batch(unsigned host, unsigned first, unsigned n, char head[EVCHAIN_HEX])
{
	json_t *a = json_array();

	for (unsigned s = first; s < first + n; s++) {
		json_t *d = event_data(host, s);
		char *text = jsonw_dump(d), prev[EVCHAIN_HEX], hash[EVCHAIN_HEX];

		memcpy(prev, head, EVCHAIN_HEX);
		if (!text ||
		    evchain_link(head, s, (int64_t) NOW * 1000 + s, s, "process.start", text,
				 hash) < 0 ||
		    jsonw_append(a, json_pack("{sIsIsIsssossss}", "seq", (json_int_t) s, "time",
					      (json_int_t) NOW * 1000 + s, "mono", (json_int_t) s,
					      "type", "process.start", "data", d, "prev", prev,
					      "hash", hash)) < 0) {
			mm_free(text);
			return NULL;
		}
		mm_free(text);
	}
	return a;
}

/* The searchable text of an event's data, as the store makes it: its strings, one a line. */
static char *text_of(json_t *d)
{
	struct buf b;
	const char *key;
	json_t *v;

	buf_init(&b, 8192);
	json_object_foreach (d, key, v)
		if (json_is_string(v) &&
		    ((b.len && buf_addc(&b, '\n') < 0) || buf_adds(&b, json_string_value(v)) < 0))
			break;
	return buf_take(&b, NULL);
}

/* ---- the raw baseline ---- */

/* The bare table, or the store's own schema (created by opening a store on the file). */
static double run_raw(const struct config *cfg, bool schema)
{
	struct tmpstore tmp;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL, *fts = NULL;
	char **data, **text;
	size_t total = (size_t) cfg->hosts * cfg->batches * cfg->batch, k = 0;
	double t0, t1 = 0;

	data = mm_calloc(total, sizeof(*data));
	text = mm_calloc(total, sizeof(*text));
	if (!data || !text || tmpstore_init_at(&tmp, NULL, NULL) < 0)
		return 0;
	/* the same rows, serialised before the clock starts (the store serialises inside) */
	for (unsigned b = 0; b < cfg->batches; b++)
		for (unsigned h = 0; h < cfg->hosts; h++)
			for (unsigned i = 0; i < cfg->batch; i++) {
				json_t *d = event_data(h, b * cfg->batch + i + 1);

				data[k] = jsonw_dump(d);
				text[k++] = text_of(d);
				json_decref(d);
			}
	if (schema) {
		struct store *st = NULL;
		struct sign_log log = {0};
		char token_id[STORE_ID_MAX];

		if (store_open(tmp.url, &st) < 0 ||
		    make_token(st, "bench", NOW - 1, NOW + 3600, cfg->hosts, NULL, token_id) < 0)
			goto out;
		for (unsigned i = 0; i < cfg->hosts; i++) {
			struct store_enroll_result res = {0};
			char name[32];

			(void) snprintf(name, sizeof(name), "bench-%04u", i);
			if (enroll_host(st, "bench", NOW, name, &log, &res) < 0)
				goto out;
			mm_free(res.cert_pem);
		}
		store_free(st);
	}
	if (sqlite3_open(tmp.path, &db) != SQLITE_OK ||
	    sqlite_exec(db,
			"PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			"PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
			"PRAGMA cache_size = -16384; PRAGMA busy_timeout = 5000") != SQLITE_OK ||
	    (!schema &&
	     sqlite_exec(db, "CREATE TABLE events (host INTEGER NOT NULL,"
			     " seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
			     " type TEXT NOT NULL, data TEXT NOT NULL,"
			     " received INTEGER NOT NULL,"
			     " PRIMARY KEY (host, seq)) STRICT, WITHOUT ROWID") != SQLITE_OK) ||
	    sqlite3_prepare_v2(
		    db,
		    schema ? "INSERT INTO events (host, seq, time_ms, type, data, received,"
			     " id, mono_ms, text, prev, hash, rx)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?7)"
			     " ON CONFLICT DO NOTHING"
			   : "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
			     " ON CONFLICT DO NOTHING",
		    -1, &q, NULL) != SQLITE_OK ||
	    (schema && sqlite3_prepare_v2(db,
					  "INSERT INTO events_fts(rowid, text) SELECT id, text"
					  " FROM events WHERE rx > ?1 AND rx <= ?2 ORDER BY id",
					  -1, &fts, NULL) != SQLITE_OK))
		goto out;
	k = 0;
	t0 = now_s();
	for (unsigned b = 0; b < cfg->batches; b++)
		for (unsigned h = 0; h < cfg->hosts; h++) {
			size_t first = k;

			(void) sqlite_exec(db, "BEGIN IMMEDIATE");
			for (unsigned i = 0; i < cfg->batch; i++, k++) {
				unsigned seq = b * cfg->batch + i + 1;

				sqlite3_bind_int64(q, 1, h + 1);
				sqlite3_bind_int64(q, 2, seq);
				sqlite3_bind_int64(q, 3, (sqlite3_int64) NOW * 1000 + seq);
				sqlite3_bind_text(q, 4, "process.start", -1, SQLITE_STATIC);
				sqlite3_bind_text(q, 5, data[k], -1, SQLITE_STATIC);
				sqlite3_bind_int64(q, 6, NOW);
				if (schema) {
					sqlite3_bind_int64(q, 7, (sqlite3_int64) k + 1);
					sqlite3_bind_int64(q, 8, seq);
					sqlite3_bind_text(q, 9, text[k], -1, SQLITE_STATIC);
					sqlite3_bind_text(q, 10,
							  "4a6a008b753282ba91577071199eaeebc2b3429d"
							  "085cbe6e58c48134096ccb27",
							  -1, SQLITE_STATIC);
				}
				if (sqlite3_step(q) != SQLITE_DONE)
					goto out;
				sqlite3_reset(q);
			}
			if (schema) {
				sqlite3_bind_int64(fts, 1, (sqlite3_int64) first);
				sqlite3_bind_int64(fts, 2, (sqlite3_int64) k);
				if (sqlite3_step(fts) != SQLITE_DONE)
					goto out;
				sqlite3_reset(fts);
			}
			if (sqlite_exec(db, "COMMIT") != SQLITE_OK)
				goto out;
		}
	t1 = now_s() - t0;
out:
	sqlite3_finalize(q);
	sqlite3_finalize(fts);
	sqlite3_close(db);
	tmpstore_remove(&tmp);
	for (size_t i = 0; i < total; i++) {
		mm_free(data[i]);
		mm_free(text[i]);
	}
	mm_free(data);
	mm_free(text);
	return t1 > 0 ? (double) total / t1 : 0;
}

/* ---- through the store ---- */

struct host_thread {
	struct store *st;
	char host_id[STORE_ID_MAX];
	json_t **batches;
	unsigned n;
	int failures;
};

static void *host_main(void *p)
{
	struct host_thread *h = p;

	for (unsigned i = 0; i < h->n; i++) {
		uint64_t acked;
		size_t stored;

		if (store_events_append(h->st, h->host_id, h->batches[i], NOW, &acked, &stored) < 0)
			h->failures++;
	}
	return NULL;
}

struct lookup_thread {
	struct store *st;
	uint64_t serial;
	atomic_bool stop;
	unsigned long lookups;
	double worst;
	int failures;
};

static void *lookup_main(void *p)
{
	struct lookup_thread *l = p;

	while (!atomic_load(&l->stop)) {
		struct store_host_auth auth;
		double t = now_s();

		if (store_host_by_serial(l->st, l->serial, &auth) < 0)
			l->failures++;
		t = now_s() - t;
		if (t > l->worst)
			l->worst = t;
		l->lookups++;
	}
	return NULL;
}

struct store_result {
	double events_per_s;
	double lookups_per_s;
	double worst_lookup_ms;
};

static int run_store(const struct config *cfg, unsigned readers, bool lookups,
		     struct store_result *ret)
{
	struct tmpstore tmp;
	char params[32], token_id[STORE_ID_MAX];
	struct store *st = NULL;
	struct host_thread *h = mm_calloc(cfg->hosts, sizeof(*h));
	struct lookup_thread l = {.stop = false};
	pthread_t *t = mm_calloc(cfg->hosts, sizeof(*t)), lt;
	struct sign_log log = {0};
	uint64_t first_serial = 0;
	char head[EVCHAIN_HEX];
	int failures = 0, r = -ENOMEM;
	double t0, elapsed;

	(void) snprintf(params, sizeof(params), cfg->store ? "pool=%u" : "readers=%u", readers);
	if (!h || !t || tmpstore_init_at(&tmp, cfg->store, params) < 0)
		goto out_free;
	r = store_open(tmp.url, &st);
	if (r < 0)
		goto out;
	r = make_token(st, "bench", NOW - 1, NOW + 3600, cfg->hosts, NULL, token_id);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < cfg->hosts; i++) {
		struct store_enroll_result res;
		char name[32];

		(void) snprintf(name, sizeof(name), "bench-%04u", i);
		r = enroll_host(st, "bench", NOW, name, &log, &res);
		if (r < 0 || res.verdict != STORE_TOKEN_OK)
			goto out;
		mm_free(res.cert_pem);
		memcpy(h[i].host_id, res.host_id, sizeof(h[i].host_id));
		if (i == 0)
			first_serial = res.serial;
		h[i].st = st;
		h[i].n = cfg->batches;
		h[i].batches = mm_calloc(cfg->batches, sizeof(json_t *));
		if (!h[i].batches || evchain_genesis(h[i].host_id, head) < 0)
			goto out;
		for (unsigned b = 0; b < cfg->batches; b++)
			if (!(h[i].batches[b] =
				      make_batch(i, b * cfg->batch + 1, cfg->batch, head)))
				goto out;
	}
	l.st = st;
	l.serial = first_serial;
	t0 = now_s();
	if (lookups)
		(void) pthread_create(&lt, NULL, lookup_main, &l);
	for (unsigned i = 0; i < cfg->hosts; i++)
		(void) pthread_create(&t[i], NULL, host_main, &h[i]);
	for (unsigned i = 0; i < cfg->hosts; i++) {
		(void) pthread_join(t[i], NULL);
		failures += h[i].failures;
	}
	elapsed = now_s() - t0;
	if (lookups) {
		atomic_store(&l.stop, true);
		(void) pthread_join(lt, NULL);
		failures += l.failures;
	}
	if (failures) {
		fprintf(stderr, "bench-ingest: %d store calls failed\n", failures);
		r = -EIO;
		goto out;
	}
	ret->events_per_s = (double) cfg->hosts * cfg->batches * cfg->batch / elapsed;
	ret->lookups_per_s = (double) l.lookups / elapsed;
	ret->worst_lookup_ms = l.worst * 1000;
	r = 0;
out:
	store_free(st);
	tmpstore_remove(&tmp);
	for (unsigned i = 0; h && i < cfg->hosts; i++) {
		for (unsigned b = 0; h[i].batches && b < cfg->batches; b++)
			json_decref(h[i].batches[b]);
		mm_free(h[i].batches);
	}
out_free:
	mm_free(h);
	mm_free(t);
	return r;
}

/* ---- PostgreSQL ---- */

#if HAVE_POSTGRES
/* Appends s to b for COPY's text format: \\, tab, newline and CR escaped. */
static int copy_field(struct buf *b, const char *s)
{
	for (; *s; s++) {
		int r = *s == '\\'   ? buf_adds(b, "\\\\")
			: *s == '\t' ? buf_adds(b, "\\t")
			: *s == '\n' ? buf_adds(b, "\\n")
			: *s == '\r' ? buf_adds(b, "\\r")
				     : buf_addc(b, *s);

		if (r < 0)
			return r;
	}
	return 0;
}

static bool pg_ok(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "bench-ingest: %s: %s", sql, PQerrorMessage(pg));
	PQclear(res);
	return ok;
}

/*
 * The same rows with COPY, one batch per transaction, on one connection, into a table
 * with PRIMARY KEY (host, seq) and, when `searchable`, the trigram index the store's
 * events have: the cost of the rows themselves, and of the rows made searchable.
 */
static double run_raw_pg(const struct config *cfg, bool searchable)
{
	struct tmpstore tmp;
	struct buf *data;
	PGconn *pg = NULL;
	size_t nbatches = (size_t) cfg->hosts * cfg->batches, k = 0;
	double t0, t1 = 0;

	data = mm_calloc(nbatches, sizeof(*data));
	if (!data || tmpstore_init_at(&tmp, cfg->store, NULL) < 0) {
		mm_free(data);
		return 0;
	}
	/* the batches as COPY text, made before the clock starts */
	for (unsigned b = 0; b < cfg->batches; b++)
		for (unsigned h = 0; h < cfg->hosts; h++, k++) {
			buf_init(&data[k], LIMIT_STORE_PARAM);
			for (unsigned i = 0; i < cfg->batch; i++) {
				unsigned seq = b * cfg->batch + i + 1;
				json_t *d = event_data(h, seq);
				char *text = jsonw_dump(d);

				json_decref(d);
				if (!text ||
				    buf_addf(&data[k], "%u\t%u\t%lld\tprocess.start\t", h + 1, seq,
					     (long long) NOW * 1000 + seq) < 0 ||
				    copy_field(&data[k], text) < 0 ||
				    buf_addf(&data[k], "\t%d\n", NOW) < 0) {
					mm_free(text);
					goto out;
				}
				mm_free(text);
			}
		}
	pg = PQconnectdb(tmp.rawurl);
	if (PQstatus(pg) != CONNECTION_OK ||
	    !pg_ok(pg, "CREATE TABLE ev (host bigint NOT NULL, seq bigint NOT NULL,"
		       " time_ms bigint NOT NULL, type text NOT NULL, data text NOT NULL,"
		       " received bigint NOT NULL, PRIMARY KEY (host, seq))") ||
	    (searchable && (!pg_ok(pg, "CREATE EXTENSION IF NOT EXISTS pg_trgm") ||
			    !pg_ok(pg, "CREATE INDEX ON ev USING gin (data gin_trgm_ops)"))))
		goto out;
	t0 = now_s();
	for (k = 0; k < nbatches; k++) {
		PGresult *res;

		if (!pg_ok(pg, "BEGIN"))
			goto out;
		res = PQexec(pg, "COPY ev FROM STDIN");
		if (PQresultStatus(res) != PGRES_COPY_IN) {
			PQclear(res);
			goto out;
		}
		PQclear(res);
		if (PQputCopyData(pg, buf_str(&data[k]), (int) data[k].len) != 1 ||
		    PQputCopyEnd(pg, NULL) != 1)
			goto out;
		res = PQgetResult(pg);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench-ingest: COPY: %s", PQerrorMessage(pg));
			PQclear(res);
			goto out;
		}
		PQclear(res);
		if (!pg_ok(pg, "COMMIT"))
			goto out;
	}
	t1 = now_s() - t0;
out:
	PQfinish(pg);
	tmpstore_remove(&tmp);
	for (size_t i = 0; i < nbatches; i++)
		buf_done(&data[i]);
	mm_free(data);
	return t1 > 0 ? (double) cfg->hosts * cfg->batches * cfg->batch / t1 : 0;
}

/*
 * The PostgreSQL runs: the store (pool=4, one thread per host) against COPY into a plain
 * table and into one with the store's trigram index, run by run. The goal is stated
 * against the second: both then store the same searchable rows, so the ratio is what the
 * store's own work costs (validation, idempotency, acknowledgement); the first shows what
 * making events searchable costs PostgreSQL itself.
 */
static int bench_pg(const struct config *cfg)
{
	double plain[MAX_RUNS], raw[MAX_RUNS], st[MAX_RUNS], ratio[MAX_RUNS], ratio_plain[MAX_RUNS];
	double lk[MAX_RUNS], worst[MAX_RUNS];

	printf("bench-ingest: %u hosts x %u batches x %u events per run, %u runs, PostgreSQL "
	       "(libpq %d)\n",
	       cfg->hosts, cfg->batches, cfg->batch, cfg->runs, PQlibVersion());
	for (unsigned i = 0; i < cfg->runs; i++) {
		struct store_result a;

		plain[i] = run_raw_pg(cfg, false);
		raw[i] = run_raw_pg(cfg, true);
		if (run_store(cfg, 4, true, &a) < 0 || raw[i] <= 0 || plain[i] <= 0) {
			fprintf(stderr, "bench-ingest: run %u failed\n", i + 1);
			return 1;
		}
		st[i] = a.events_per_s;
		lk[i] = a.lookups_per_s;
		worst[i] = a.worst_lookup_ms;
		ratio[i] = st[i] / raw[i];
		ratio_plain[i] = st[i] / plain[i];
		printf("  run %u: COPY %.0f/s, COPY + trigram index %.0f/s, store %.0f/s, "
		       "ratio %.2f\n",
		       i + 1, plain[i], raw[i], st[i], ratio[i]);
		fflush(stdout);
	}
	printf("raw COPY, PK only                        %10.0f events/s\n",
	       median(plain, cfg->runs));
	printf("raw COPY, PK + trigram index (baseline)  %10.0f events/s\n",
	       median(raw, cfg->runs));
	printf("store_events_append, pool=4, %u threads   %10.0f events/s  ratio %.2f "
	       "(median of per-run ratios; goal >= 0.50); %.2f of COPY without the index\n",
	       cfg->hosts, median(st, cfg->runs), median(ratio, cfg->runs),
	       median(ratio_plain, cfg->runs));
	printf("certificate lookups while ingesting: %.0f/s (worst %.1f ms)\n",
	       median(lk, cfg->runs), median(worst, cfg->runs));
	return 0;
}
#endif

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *ret)
{
	unsigned v;

	if (str_to_uint(s, 10, &v) < 0 || v < lo || v > hi) {
		fprintf(stderr, "bench-ingest: '%s' is not a number in %u..%u\n", s, lo, hi);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"hosts", required_argument, NULL, 'h'}, {"batches", required_argument, NULL, 'b'},
		{"batch", required_argument, NULL, 's'}, {"runs", required_argument, NULL, 'r'},
		{"store", required_argument, NULL, 'u'}, {NULL, 0, NULL, 0},
	};
	struct config cfg = {.hosts = 4, .batches = 25, .batch = 500, .runs = 5, .store = NULL};
	double raw[MAX_RUNS], raw_rowid[MAX_RUNS], pooled[MAX_RUNS], shared[MAX_RUNS];
	double lk_pooled[MAX_RUNS], lk_shared[MAX_RUNS], worst_pooled[MAX_RUNS],
		worst_shared[MAX_RUNS], ratio[MAX_RUNS], ratio_shared[MAX_RUNS];
	int c;

	log_setup("bench-ingest", LOG_WARNING);
	mm_setup_jansson();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = -EINVAL;

		switch (c) {
		case 'h':
			r = parse_uint(optarg, 1, 256, &cfg.hosts);
			break;
		case 'b':
			r = parse_uint(optarg, 1, 100000, &cfg.batches);
			break;
		case 's':
			r = parse_uint(optarg, 1, 1000, &cfg.batch);
			break;
		case 'r':
			r = parse_uint(optarg, 1, MAX_RUNS, &cfg.runs);
			break;
		case 'u':
			cfg.store = optarg;
			r = str_startswith(optarg, "postgres") ? 0 : -EINVAL;
			break;
		default:
			break;
		}
		if (r < 0) {
			fprintf(stderr, "usage: bench-ingest [--hosts N] [--batches B] [--batch S] "
					"[--runs R] [--store postgresql://…]\n");
			return 2;
		}
	}
	if (cfg.store) {
#if HAVE_POSTGRES
		return bench_pg(&cfg);
#else
		fprintf(stderr, "bench-ingest: built without PostgreSQL\n");
		return 1;
#endif
	}
	printf("bench-ingest: %u hosts x %u batches x %u events per run, %u runs, SQLite %s, "
	       "synchronous=FULL\n",
	       cfg.hosts, cfg.batches, cfg.batch, cfg.runs, sqlite3_libversion());
	for (unsigned i = 0; i < cfg.runs; i++) {
		struct store_result a, b, la, lb;

		raw_rowid[i] = run_raw(&cfg, false);
		raw[i] = run_raw(&cfg, true);
		if (run_store(&cfg, 4, false, &a) < 0 || run_store(&cfg, 0, false, &b) < 0 ||
		    run_store(&cfg, 4, true, &la) < 0 || run_store(&cfg, 0, true, &lb) < 0 ||
		    raw[i] <= 0 || raw_rowid[i] <= 0) {
			fprintf(stderr, "bench-ingest: run %u failed\n", i + 1);
			return 1;
		}
		pooled[i] = a.events_per_s;
		shared[i] = b.events_per_s;
		lk_pooled[i] = la.lookups_per_s;
		lk_shared[i] = lb.lookups_per_s;
		worst_pooled[i] = la.worst_lookup_ms;
		worst_shared[i] = lb.worst_lookup_ms;
		ratio[i] = pooled[i] / raw[i];
		ratio_shared[i] = shared[i] / raw[i];
		printf("  run %u: raw (schema) %.0f/s, raw (bare) %.0f/s, store %.0f/s "
		       "(readers=4), "
		       "%.0f/s (readers=0), ratio %.2f\n",
		       i + 1, raw[i], raw_rowid[i], pooled[i], shared[i], ratio[i]);
		fflush(stdout);
	}
	{
		double m_raw = median(raw, cfg.runs), m_store = median(pooled, cfg.runs);

		/* the ratio is taken run by run (raw and store measured minutes apart at most,
		 * on the same disk) and its median reported: the disk's fsync time varies a lot
		 * on a shared machine, and this cancels most of it */
		printf("raw batched INSERT, the store's schema   %10.0f events/s (baseline)\n",
		       m_raw);
		printf("raw batched INSERT, bare (host, seq) table %8.0f events/s\n",
		       median(raw_rowid, cfg.runs));
		printf("store_events_append, readers=4           %10.0f events/s  ratio %.2f "
		       "(median of per-run ratios; goal >= 0.50)\n",
		       m_store, median(ratio, cfg.runs));
		printf("store_events_append, readers=0           %10.0f events/s  ratio %.2f\n",
		       median(shared, cfg.runs), median(ratio_shared, cfg.runs));
		printf("certificate lookups while ingesting: readers=4 %.0f/s (worst %.1f ms), "
		       "readers=0 %.0f/s (worst %.1f ms)\n",
		       median(lk_pooled, cfg.runs), median(worst_pooled, cfg.runs),
		       median(lk_shared, cfg.runs), median(worst_shared, cfg.runs));
	}
	return 0;
}
