/*
 * Helpers for tests and benchmarks of the store: an empty store (a SQLite file in a
 * temporary directory, or a new PostgreSQL database when MAMORI_STORE_URL names a
 * server), a raw connection beside it to look at what really is in the database, and a
 * signing callback that records its calls. Test code only.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <jansson.h>
#include <sqlite3.h>

#include "config.h"
#if HAVE_POSTGRES
#include <libpq-fe.h>
#endif

#include "lib/mm.h"
#include "server/store.h"

/*
 * A fresh, empty store for one test. By default a SQLite file in a new temporary
 * directory; when MAMORI_STORE_URL names a PostgreSQL database (tests/pg-cluster.sh sets
 * it), a new database created through that URL, so one test can make as many empty
 * stores as it needs. url is what store_open() takes; rawurl is for raw_open() (no
 * mamori parameters).
 */
struct tmpstore {
	char dir[64];
	char path[128];
	char url[600];
	char rawurl[512];
	char admin[512]; /* PostgreSQL: the URL databases are created and dropped through */
	char db[64];     /* PostgreSQL: the database's name; "" for SQLite */
};

static inline bool tmpstore_is_pg(const struct tmpstore *t)
{
	return t->db[0] != '\0';
}

#if HAVE_POSTGRES
/* Runs one statement on a new connection to url; 0 or -EIO (printed). */
static inline int pg_admin(const char *url, const char *sql)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *res = NULL;
	int r = -EIO;

	if (PQstatus(pg) == CONNECTION_OK) {
		res = PQexec(pg, sql);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			r = 0;
	}
	if (r < 0)
		printf("# %s: %s\n", sql, PQerrorMessage(pg));
	PQclear(res);
	PQfinish(pg);
	return r;
}
#endif

/*
 * Makes an empty store: under base (a postgres URL) or, when base is NULL or not a
 * PostgreSQL URL, a SQLite file in a new directory. params ("vfs=…", "pool=…") may be NULL.
 */
static inline int tmpstore_init_at(struct tmpstore *t, const char *base, const char *params)
{
	memset(t, 0, sizeof(*t));
	(void) snprintf(t->dir, sizeof(t->dir), "%s", "/tmp/mamori-store-XXXXXX");
	if (!mkdtemp(t->dir))
		return -errno;
	(void) snprintf(t->path, sizeof(t->path), "%s/store.db", t->dir);
	if (!base || (strncmp(base, "postgres://", 11) && strncmp(base, "postgresql://", 13))) {
		(void) snprintf(t->url, sizeof(t->url), "sqlite:%s%s%s", t->path, params ? "?" : "",
				params ? params : "");
		return 0;
	}
#if HAVE_POSTGRES
	{
		static int counter;
		const char *path = strchr(strstr(base, "://") + 3, '/');
		const char *query = strchr(base, '?');
		char sql[128];

		if (!path || (query && query < path) || strlen(base) >= sizeof(t->admin) - 64)
			return -EINVAL;
		(void) snprintf(t->db, sizeof(t->db), "mamori_t%d_%d", (int) getpid(),
				__atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST));
		(void) snprintf(t->admin, sizeof(t->admin), "%s", base);
		(void) snprintf(t->rawurl, sizeof(t->rawurl), "%.*s/%s%s", (int) (path - base),
				base, t->db, query ? query : "");
		(void) snprintf(t->url, sizeof(t->url), "%s%s%s", t->rawurl,
				params ? (query ? "&" : "?") : "", params ? params : "");
		(void) snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->db);
		return pg_admin(t->admin, sql);
	}
#else
	return -EPROTONOSUPPORT;
#endif
}

/* An empty store where MAMORI_STORE_URL says (SQLite when it is unset). */
static inline int tmpstore_init(struct tmpstore *t, const char *params)
{
	return tmpstore_init_at(t, getenv("MAMORI_STORE_URL"), params);
}

/* A short name for the backend under test, for test descriptions. */
static inline const char *tmpstore_backend(void)
{
	const char *u = getenv("MAMORI_STORE_URL");

	return u && strncmp(u, "postgres", 8) == 0 ? "postgres" : "sqlite";
}

static inline void tmpstore_remove(struct tmpstore *t)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char p[160];

#if HAVE_POSTGRES
	if (tmpstore_is_pg(t)) {
		char sql[128];

		(void) snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->db);
		(void) pg_admin(t->admin, sql);
	}
#endif
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		(void) snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
		(void) unlink(p);
	}
	(void) rmdir(t->dir);
}

/* A plain connection to the same database, for looking behind the store's back. */
struct raw {
	sqlite3 *db;
#if HAVE_POSTGRES
	PGconn *pg;
#endif
};

static inline bool raw_is_pg(const struct raw *r)
{
#if HAVE_POSTGRES
	return r && r->pg;
#else
	(void) r;
	return false;
#endif
}

/* sql_sqlite or sql_pg, whichever the raw connection speaks. */
#define RAW_SQL(r, sql_sqlite, sql_pg) (raw_is_pg(r) ? (sql_pg) : (sql_sqlite))

static inline struct raw *raw_open(const struct tmpstore *t)
{
	struct raw *r = mm_calloc(1, sizeof(*r));

	if (!r)
		return NULL;
#if HAVE_POSTGRES
	if (tmpstore_is_pg(t)) {
		r->pg = PQconnectdb(t->rawurl);
		if (PQstatus(r->pg) != CONNECTION_OK) {
			printf("# raw open: %s\n", PQerrorMessage(r->pg));
			PQfinish(r->pg);
			mm_free(r);
			return NULL;
		}
		PQclear(PQexec(r->pg, "SET client_min_messages = warning"));
		return r;
	}
#endif
	if (sqlite3_open_v2(t->path, &r->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		printf("# raw open: %s\n", r->db ? sqlite3_errmsg(r->db) : "?");
		sqlite3_close(r->db);
		mm_free(r);
		return NULL;
	}
	sqlite3_busy_timeout(r->db, 5000);
	return r;
}

static inline void raw_close(struct raw *r)
{
	if (!r)
		return;
#if HAVE_POSTGRES
	if (r->pg)
		PQfinish(r->pg);
#endif
	sqlite3_close(r->db);
	mm_free(r);
}

/* The first column of the first row of sql as text into buf ("" for none or NULL). */
static inline const char *raw_text(struct raw *r, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *q = NULL;

	buf[0] = '\0';
#if HAVE_POSTGRES
	if (r->pg) {
		PGresult *res = PQexec(r->pg, sql);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			printf("# raw: %s: %s\n", sql, PQerrorMessage(r->pg));
		else if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
			(void) snprintf(buf, n, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		return buf;
	}
#endif
	if (sqlite3_prepare_v2(r->db, sql, -1, &q, NULL) != SQLITE_OK) {
		printf("# raw: %s: %s\n", sql, sqlite3_errmsg(r->db));
		return buf;
	}
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		(void) snprintf(buf, n, "%s", (const char *) sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return buf;
}

/* The first column of the first row of sql as an integer; -1 on error or none. */
static inline long long raw_int(struct raw *r, const char *sql)
{
	char buf[64], *end = NULL;
	long long v;

	if (!*raw_text(r, sql, buf, sizeof(buf)))
		return -1;
	v = strtoll(buf, &end, 10);
	return end && *end == '\0' ? v : -1;
}

/* Runs sql (one or more statements); 0 (SQLITE_OK) on success, non-zero on failure. */
static inline int raw_exec(struct raw *r, const char *sql)
{
	char *err = NULL;
	int rc;

#if HAVE_POSTGRES
	if (r->pg) {
		PGresult *res = PQexec(r->pg, sql);
		ExecStatusType st = PQresultStatus(res);

		rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : 1;
		/* every line a TAP comment: PostgreSQL's messages have CONTEXT lines */
		for (const char *m = rc ? PQerrorMessage(r->pg) : ""; *m;) {
			size_t len = strcspn(m, "\n");

			printf("# raw exec: %.*s\n", (int) len, m);
			m += len + (m[len] == '\n');
		}
		PQclear(res);
		return rc;
	}
#endif
	rc = sqlite3_exec(r->db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		printf("# raw exec: %s\n", err ? err : "?");
		sqlite3_free(err);
	}
	return rc;
}

/* sqlite3_exec on a connection of a benchmark's own; SQLITE_OK or the error (printed). */
static inline int sqlite_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK) {
		printf("# sqlite exec: %s\n", err ? err : "?");
		sqlite3_free(err);
	}
	return rc;
}

static inline void sha256_of(const char *secret, uint8_t out[32])
{
	(void) gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), out);
}

static inline json_t *parse_json(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, 0, &e);

	if (!v)
		printf("# bad test JSON: %s\n", e.text);
	return v;
}

/* A signing callback that records its calls, and fails with `fail` when it is set. */
struct sign_log {
	int calls;
	int fail;
	uint64_t serial;
	char host_id[STORE_ID_MAX];
};

static inline int test_sign(uint64_t serial, const char *host_id, void *userdata,
			    char **ret_cert_pem)
{
	struct sign_log *l = userdata;

	l->calls++;
	l->serial = serial;
	(void) snprintf(l->host_id, sizeof(l->host_id), "%s", host_id);
	if (l->fail)
		return l->fail;
	*ret_cert_pem = mm_asprintf("-----BEGIN CERTIFICATE-----\nCN=%s serial=%llx\n"
				    "-----END CERTIFICATE-----\n",
				    host_id, (unsigned long long) serial);
	return *ret_cert_pem ? 0 : -ENOMEM;
}

/* Creates an enrolment token with secret `secret`; returns what store does. */
static inline int make_token(struct store *st, const char *secret, int64_t created, int64_t expires,
			     unsigned max_uses, const char *group, char id[STORE_ID_MAX])
{
	struct store_enroll_token t = {
		.comment = "test",
		.group = group,
		.created = created,
		.expires = expires,
		.max_uses = max_uses,
		.created_by = "admin",
	};

	sha256_of(secret, t.hash);
	return store_enroll_token_create(st, &t, id);
}

/* Enrols a host with token `secret` and facts {"hostname": hostname}. */
static inline int enroll_host(struct store *st, const char *secret, int64_t now,
			      const char *hostname, struct sign_log *log,
			      struct store_enroll_result *res)
{
	uint8_t h[32];
	json_t *facts = json_pack("{ssssssss}", "hostname", hostname, "machine_id", "m", "os",
				  "Debian GNU/Linux 12", "agent_version", "0.1.0");
	int r;

	sha256_of(secret, h);
	r = store_enroll(st, h, now, facts, "192.0.2.1", test_sign, log, res);
	json_decref(facts);
	return r;
}
