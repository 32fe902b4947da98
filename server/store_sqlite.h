/*
 * Private to store_sqlite*.c: the SQLite backend's handle, its connections, transactions
 * and the small helpers every operation uses. See store_sqlite.c for the design and
 * docs/internals/store.md for the schema.
 */
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include "server/store_backend.h"

/* Prepared statements cached per connection, keyed by the address of their SQL literal. */
#define STORE_SQLITE_STMT_SLOTS 256

struct store_sqlite_conn {
	sqlite3 *db;
	bool durable; /* synchronous=FULL is in force on this connection */
	const char *sql[STORE_SQLITE_STMT_SLOTS];
	sqlite3_stmt *stmt[STORE_SQLITE_STMT_SLOTS];
};

struct store_sqlite {
	struct store base; /* first: the front casts between the two */
	char *path;
	char *vfs;

	pthread_mutex_t write_lock; /* held from BEGIN IMMEDIATE to COMMIT/ROLLBACK */
	struct store_sqlite_conn writer;

	pthread_mutex_t pool_lock; /* guards free_readers */
	pthread_cond_t pool_cond;
	struct store_sqlite_conn *readers; /* n_readers of them; none: reads use the writer */
	size_t n_readers;
	size_t *free_readers; /* a stack of indices into readers */
	size_t n_free;

	pthread_mutex_t jobs_lock;  /* guards jobs */
	char *jobs[STORE_JOBS_MAX]; /* names of the job locks held; NULL for a free slot */
};

/* How much a write transaction's commit must survive (see store_sqlite.c). */
enum store_sqlite_sync {
	STORE_SQLITE_NORMAL, /* survives a crash of the server; a power cut may undo it */
	STORE_SQLITE_FULL, /* survives a power cut: somebody else forgets their copy on our word */
};

/*
 * Transactions. begin_write takes the writer (blocking other writers in this process) and
 * runs BEGIN IMMEDIATE; begin_read takes a reader connection (or the writer when there
 * are none) and runs BEGIN, so every statement of the operation sees one snapshot.
 * store_sqlite_end() commits when r >= 0, rolls back otherwise, releases the connection
 * and returns r, or the commit's error. Every operation is begin → work → end.
 */
int store_sqlite_begin_write(struct store_sqlite *s, enum store_sqlite_sync sync,
			     struct store_sqlite_conn **ret) _wur_;
int store_sqlite_begin_read(struct store_sqlite *s, struct store_sqlite_conn **ret) _wur_;
int store_sqlite_end(struct store_sqlite *s, struct store_sqlite_conn *c, int r) _wur_;

/*
 * The cached prepared statement for sql, which must be a string literal (its address is
 * the key). Reset it after use: declare it `_cleanup_(store_sqlite_resetp)`.
 */
int store_sqlite_stmt(struct store_sqlite_conn *c, const char *sql, sqlite3_stmt **ret) _wur_;

static inline void store_sqlite_resetp(sqlite3_stmt **q)
{
	if (*q) {
		(void) sqlite3_reset(*q);
		(void) sqlite3_clear_bindings(*q);
	}
}

/* Maps a SQLite result code to -errno and logs real failures with SQLite's message: -EIO
 * mostly, -ENOMEM, -EBUSY (logged) for a lock held past the busy timeout, -EEXIST (not
 * logged: the caller expects it) for a duplicate primary or unique key. */
int store_sqlite_error(struct store_sqlite_conn *c, int rc, const char *what);

/* Steps q: 1 for a row, 0 when done, -errno (logged) on failure. */
int store_sqlite_step(struct store_sqlite_conn *c, sqlite3_stmt *q, const char *what) _wur_;

/* Binds text, or NULL when s is NULL; SQLite does not copy it, so s must outlive the step. */
int store_sqlite_bind_text(sqlite3_stmt *q, int i, const char *s);

/*
 * Finds the live (not deleted) host `host_id` and gives its row number, the key child
 * tables use. -ENOENT when there is none.
 */
int store_sqlite_host_num(struct store_sqlite_conn *c, const char *host_id, int64_t *ret) _wur_;

/* Parses the JSON text in column i into a new value (JSON null for SQL NULL). NULL on
 * allocation failure or corrupt text (logged). */
json_t *store_sqlite_column_json(sqlite3_stmt *q, int i);
/* Column i as a JSON string, or JSON null for SQL NULL. */
json_t *store_sqlite_column_string(sqlite3_stmt *q, int i);
/* Column i as a JSON integer, or JSON null for SQL NULL. */
json_t *store_sqlite_column_int(sqlite3_stmt *q, int i);

static inline struct store_sqlite *store_sqlite_of(struct store *st)
{
	return (struct store_sqlite *) st;
}

/* Operations in store_sqlite_inventory.c. */
int store_sqlite_inventory_get(struct store *st, const char *host_id, json_t **ret_doc,
			       char ret_digest[STORE_DIGEST_HEX]) _wur_;
int store_sqlite_inventory_commit(struct store *st, const char *host_id, const char *base_digest,
				  const json_t *delta, const char *new_digest, int64_t now,
				  size_t *ret_changes) _wur_;
int store_sqlite_inventory_software(struct store *st, const char *host_id, const char *search,
				    size_t limit, size_t offset, json_t **ret) _wur_;
int store_sqlite_inventory_history(struct store *st, const char *host_id, int64_t since,
				   size_t limit, size_t offset, json_t **ret) _wur_;

/* Operations in store_sqlite_events.c. */
int store_sqlite_events_ingest(struct store *st, const char *host_id, const struct store_event *ev,
			       size_t n, int64_t now, struct store_ingest_result *ret) _wur_;
int store_sqlite_events_list(struct store *st, const char *host_id, uint64_t after,
			     const char *type, size_t limit, json_t **ret) _wur_;
int store_sqlite_events_evidence(struct store *st, const char *host_id, size_t limit, json_t **ret)
	_wur_;
int store_sqlite_events_purge(struct store *st, const char *type, json_t *except, int64_t before_ms,
			      int64_t *io_key, size_t max, size_t *ret_deleted) _wur_;
int store_sqlite_events_since(struct store *st, int64_t after, size_t limit, json_t **ret) _wur_;
int store_sqlite_events_position(struct store *st, int64_t *ret) _wur_;
/* The evidence summary of a host (store_host_get's "evidence"), inside a transaction. */
int store_sqlite_events_evidence_summary(struct store_sqlite_conn *c, int64_t host, json_t **ret)
	_wur_;

/*
 * The columns every listing of events selects, in this order, from events e JOIN hosts h,
 * and the object made of one such row (NULL on allocation failure): the admin API's event.
 */
#define STORE_SQLITE_EVENT_COLS                                                          \
	"e.seq, e.time_ms, e.mono_ms, e.type, e.user_name, e.data, e.extra, e.received," \
	" e.chain, e.hash, e.prev, e.id, e.rx, h.id, h.hostname"
json_t *store_sqlite_events_json(sqlite3_stmt *q);

/* Operations in store_sqlite_search.c. */
int store_sqlite_search_events(struct store *st, const struct store_event_query *q, json_t **ret)
	_wur_;
int store_sqlite_search_counts(struct store *st, const struct store_event_query *q, const char *by1,
			       const char *by2, json_t **ret) _wur_;

/* Operations in store_sqlite_jobs.c. */
int store_sqlite_jobs_cursor_get(struct store *st, const char *name, int64_t *ret) _wur_;
int store_sqlite_jobs_cursor_set(struct store *st, const char *name, int64_t position, int64_t now)
	_wur_;

/* Operations in store_sqlite_hosts.c. */
int store_sqlite_hosts_list(struct store *st, const struct store_host_query *q, json_t **ret) _wur_;
int store_sqlite_hosts_get(struct store *st, const char *host_id, json_t **ret) _wur_;
int store_sqlite_hosts_revoke(struct store *st, const char *host_id, int64_t now) _wur_;
int store_sqlite_hosts_delete(struct store *st, const char *host_id, int64_t now) _wur_;

/* Bulk access for store_copy, in store_sqlite_bulk.c (store_backend.h). */
int store_sqlite_bulk_begin(struct store *st, bool write, void **ret) _wur_;
int store_sqlite_bulk_read(struct store *st, void *session, int t, store_row_fn fn, void *userdata)
	_wur_;
int store_sqlite_bulk_write(struct store *st, void *session, int t, json_t *rows) _wur_;
int store_sqlite_bulk_clear(struct store *st, void *session) _wur_;
int store_sqlite_bulk_end(struct store *st, void *session, int r) _wur_;

/* Operations in store_sqlite_audit.c. */
int store_sqlite_audit_append(struct store *st, int64_t now, const char *actor, const char *action,
			      const char *target, json_t *details, const char *remote) _wur_;
int store_sqlite_audit_list(struct store *st, size_t limit, size_t offset, json_t **ret) _wur_;

/* Operations in store_sqlite_policy.c. */
int store_sqlite_policy_create(struct store *st, const struct store_policy *p, int64_t *ret_version)
	_wur_;
int store_sqlite_policy_list(struct store *st, const char *scope, size_t limit, size_t offset,
			     json_t **ret) _wur_;
int store_sqlite_policy_get(struct store *st, int64_t version, json_t **ret) _wur_;
int store_sqlite_policy_inputs(struct store *st, const char *host_id, int64_t now, bool registry,
			       json_t **ret) _wur_;
int store_sqlite_policy_devices_put(struct store *st, const struct store_device *devs, size_t n,
				    int64_t now, const char *actor, size_t *ret_created,
				    size_t *ret_updated) _wur_;
int store_sqlite_policy_device_delete(struct store *st, const char *serial) _wur_;
int store_sqlite_policy_devices_list(struct store *st, const struct store_device_query *q,
				     json_t **ret) _wur_;
int store_sqlite_policy_grant_create(struct store *st, const struct store_grant *g,
				     char ret_id[STORE_ID_MAX]) _wur_;
int store_sqlite_policy_grants_list(struct store *st, int64_t now, bool all, size_t limit,
				    size_t offset, json_t **ret) _wur_;
int store_sqlite_policy_grant_revoke(struct store *st, const char *id, int64_t now,
				     const char *actor) _wur_;

/* Operations in store_sqlite_collection.c. */
int store_sqlite_collection_create(struct store *st, const struct store_collection *p,
				   int64_t *ret_version) _wur_;
int store_sqlite_collection_list(struct store *st, const char *scope, size_t limit, size_t offset,
				 json_t **ret) _wur_;
int store_sqlite_collection_get(struct store *st, int64_t version, json_t **ret) _wur_;
int store_sqlite_collection_inputs(struct store *st, const char *host_id, bool full, json_t **ret)
	_wur_;

/* Operations in store_sqlite_compliance.c. */
int store_sqlite_compliance_set_owner(struct store *st, const char *host_id, const char *owner)
	_wur_;
int store_sqlite_compliance_host_get(struct store *st, const char *host_id,
				     const struct checks_item *items,
				     struct store_compliance_host *ret) _wur_;
int store_sqlite_compliance_scan(struct store *st, const struct checks_item *items,
				 const char *after, size_t limit, store_compliance_scan_fn fn,
				 void *userdata, size_t *ret_count) _wur_;
int store_sqlite_compliance_apply(struct store *st, const struct store_compliance_result *hosts,
				  size_t n, int64_t now, size_t *ret_changed) _wur_;
int store_sqlite_compliance_events(struct store *st, const char *host_id, const json_t *events,
				   int64_t now) _wur_;
int store_sqlite_compliance_results(struct store *st, const struct store_compliance_query *q,
				    json_t **ret) _wur_;
int store_sqlite_compliance_rollups(struct store *st, json_t **ret) _wur_;
int store_sqlite_compliance_history(struct store *st, int64_t since_day, json_t **ret) _wur_;
int store_sqlite_attestation_add(struct store *st, const struct store_attestation *a,
				 char ret_id[STORE_ID_MAX]) _wur_;
int store_sqlite_attestation_list(struct store *st, const char *measure, json_t **ret) _wur_;
/*
 * Removes a host's results from the scorecard (subtracting them from the roll-ups) and its
 * event summary, inside the caller's write transaction: when a host is revoked or deleted.
 * With `history`, its status changes go too (deletion forgets everything of a host).
 */
int store_sqlite_compliance_forget(struct store_sqlite_conn *c, int64_t host, int64_t now,
				   bool history) _wur_;
