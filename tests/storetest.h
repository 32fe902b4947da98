/*
 * Helpers for tests and benchmarks of the store: a store in a temporary directory, a raw
 * SQLite connection beside it to look at what really is in the file, and a signing
 * callback that records its calls. Test code only.
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

#include "lib/mm.h"
#include "server/store.h"

struct tmpstore {
	char dir[64];
	char path[128];
	char url[256];
};

/* Makes a fresh directory and the URL of a store in it; params ("vfs=…") may be NULL. */
static inline int tmpstore_init(struct tmpstore *t, const char *params)
{
	(void) snprintf(t->dir, sizeof(t->dir), "%s", "/tmp/mamori-store-XXXXXX");
	if (!mkdtemp(t->dir))
		return -errno;
	(void) snprintf(t->path, sizeof(t->path), "%s/store.db", t->dir);
	(void) snprintf(t->url, sizeof(t->url), "sqlite:%s%s%s", t->path, params ? "?" : "",
			params ? params : "");
	return 0;
}

static inline void tmpstore_remove(struct tmpstore *t)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char p[160];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		(void) snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
		(void) unlink(p);
	}
	(void) rmdir(t->dir);
}

/* A plain connection to the same file, for looking behind the store's back. */
static inline sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		printf("# raw open: %s\n", db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of sql as an integer; -1 on error. */
static inline long long raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		printf("# raw: %s: %s\n", sql, sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* The first column of the first row of sql as text into buf ("" for none). */
static inline const char *raw_text(sqlite3 *db, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *q = NULL;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		printf("# raw: %s: %s\n", sql, sqlite3_errmsg(db));
		return buf;
	}
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		(void) snprintf(buf, n, "%s", (const char *) sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return buf;
}

static inline int raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK) {
		printf("# raw exec: %s\n", err ? err : "?");
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
