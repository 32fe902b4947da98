/*
 * Private to store_pg*.c: the PostgreSQL backend's handle, its connection pool,
 * transactions, statements and the helpers every operation uses. See store_pg.c for the
 * design and docs/internals/store.md for the schema.
 */
#pragma once

#include <pthread.h>

#include <libpq-fe.h>

#include "server/store_backend.h"

/* Prepared statements cached per connection, keyed by the address of their SQL literal. */
#define STORE_PG_STMT_SLOTS 256
/* Parameters of one statement. */
#define STORE_PG_MAX_PARAMS 24

struct store_pg_conn {
	PGconn *pg;
	bool broken; /* the connection failed: reset it before the next use */
	const char *sql[STORE_PG_STMT_SLOTS]; /* prepared on this connection as "m<slot>" */
};

struct store_pg_job {
	char *name;
	int64_t key;
	PGconn *pg; /* the session holding the advisory lock */
};

struct store_pg {
	struct store base; /* first: the front casts between the two */
	char *conninfo;    /* the URL as libpq takes it (may hold a password: never logged) */

	pthread_mutex_t pool_lock; /* guards free_conns */
	pthread_cond_t pool_cond;
	struct store_pg_conn *conns; /* n_conns of them */
	size_t n_conns;
	size_t *free_conns; /* a stack of indices into conns */
	size_t n_free;

	pthread_mutex_t part_lock; /* guards part_lo, part_hi */
	int64_t part_lo, part_hi;  /* event partitions known to exist: months [lo, hi] */

	pthread_mutex_t jobs_lock; /* guards jobs */
	struct store_pg_job jobs[STORE_JOBS_MAX];
};

/* How a transaction starts (see store_pg.c, "Transactions and durability"). */
enum store_pg_tx {
	STORE_PG_READ,        /* REPEATABLE READ, READ ONLY: every statement sees one snapshot */
	STORE_PG_WRITE,       /* READ COMMITTED; commit waits for the WAL flush */
	STORE_PG_WRITE_ASYNC, /* the same, synchronous_commit off: survives a server crash,
			       * a power cut may undo it (check-ins, inventory) */
	STORE_PG_SEARCH,      /* STORE_PG_READ, planned for each query's values (searches) */
	STORE_PG_ONE,         /* no transaction: for a read that is one statement, its own
			       * snapshot, or a write of one statement whose commit need not wait
			       * for the WAL flush, spared the BEGIN and COMMIT round trips. A dead
			       * idle session is only noticed by the statement: retry once when the
			       * connection is then marked broken (store_pg_one() does) */
};

/*
 * Appends {"scope", "version"} to candidates for each scope that may apply to a host, most
 * specific first — "host:ID", "group:GROUP" (when group is not NULL), "all" — whose latest
 * version is in row's columns col, col + 1 and col + 2 (NULL: none in that scope). The
 * first candidate is the document in force. 0 or -ENOMEM.
 */
int store_pg_scope_candidates(const PGresult *q, int row, int col, const char *host_id,
			      const char *group, json_t *candidates) _wur_;

/*
 * Runs fn — one statement, safe to run twice (a read, or a write that sets rather than
 * adds) — on a pooled connection outside any transaction (STORE_PG_ONE), and once more on
 * a new session when the idle one had died under it. fn's result, or the first error.
 */
typedef int (*store_pg_one_fn)(struct store_pg_conn *c, void *userdata);
int store_pg_one(struct store_pg *s, store_pg_one_fn fn, void *userdata) _wur_;

/*
 * Takes a connection from the pool (waiting for one), repairs it if it broke, and starts a
 * transaction (none for STORE_PG_ONE). store_pg_end() commits when r >= 0 (and the commit
 * must succeed), rolls back otherwise, returns the connection and gives r, or the commit's
 * error.
 */
int store_pg_begin(struct store_pg *s, enum store_pg_tx kind, struct store_pg_conn **ret) _wur_;
int store_pg_end(struct store_pg *s, struct store_pg_conn *c, int r) _wur_;

/* Statement parameters, all in text format except hashes (binary bytea). */
struct store_pg_params {
	int n;
	const char *values[STORE_PG_MAX_PARAMS];
	int lengths[STORE_PG_MAX_PARAMS];
	int formats[STORE_PG_MAX_PARAMS];
	char ints[STORE_PG_MAX_PARAMS][24];
};

/* Appends a text parameter; NULL is SQL NULL. s must outlive the statement. */
void store_pg_text(struct store_pg_params *p, const char *s);
void store_pg_int(struct store_pg_params *p, int64_t v);
/* Appends a bytea parameter of n bytes (binary format); b must outlive the statement. */
void store_pg_bytes(struct store_pg_params *p, const void *b, int n);

/*
 * Runs the cached prepared statement sql (a string literal: its address is the key) with
 * params p (may be NULL). Returns the number of rows it returned, or for a statement
 * without rows the number it changed; *ret (optional) gets the result, to be cleared with
 * PQclear (declare it `_cleanup_(store_pg_clearp)`). Failures are -errno as in
 * store_pg_error().
 */
int store_pg_exec(struct store_pg_conn *c, const char *sql, const struct store_pg_params *p,
		  const char *what, PGresult **ret) _wur_;
/* Runs text with the simple protocol (several statements, no parameters): 0 or -errno. */
int store_pg_simple(struct store_pg_conn *c, const char *text, const char *what) _wur_;

/*
 * Maps a failed result to -errno and logs real failures with PostgreSQL's message:
 * -EEXIST (not logged: the caller expects it) for a unique violation, -ERANGE (not logged)
 * for a row no event partition takes, -EBUSY (logged) for
 * a lock timeout, deadlock or serialisation failure, -ENOMEM when libpq ran out of memory,
 * -EIO otherwise (a lost connection is marked for repair). res may be NULL.
 */
int store_pg_error(struct store_pg_conn *c, const PGresult *res, const char *what);
/* The SQLSTATE of a failed result, or "" */
const char *store_pg_sqlstate(const PGresult *res);

static inline void store_pg_clearp(PGresult **r)
{
	if (*r)
		PQclear(*r);
}

/* Cell accessors: text (NULL for SQL NULL), integer (0 for NULL), JSON values. */
const char *store_pg_get(const PGresult *r, int row, int col);
int64_t store_pg_get_int(const PGresult *r, int row, int col);
bool store_pg_is_null(const PGresult *r, int row, int col);
/* The cell as a JSON string / integer, or JSON null for SQL NULL. */
json_t *store_pg_json_string(const PGresult *r, int row, int col);
json_t *store_pg_json_int(const PGresult *r, int row, int col);
/* Parses the JSON text in the cell (JSON null for SQL NULL); NULL on allocation failure or
 * corrupt text (logged, M4012). */
json_t *store_pg_json_value(const PGresult *r, int row, int col);

/* Copies a text cell into a buffer of n bytes; -EIO when NULL or too long. */
int store_pg_get_copy(const PGresult *r, int row, int col, char *buf, size_t n) _wur_;

/*
 * Array parameters: a PostgreSQL array literal ("{…}") built in a buffer, for statements
 * that take a whole batch in one round trip through unnest(). Values are quoted and
 * escaped; NULL is SQL NULL. Ceiling: LIMIT_STORE_PARAM (-E2BIG).
 */
struct buf;
int store_pg_array_add(struct buf *b, const char *v) _wur_;
int store_pg_array_add_int(struct buf *b, int64_t v) _wur_;
/* Closes the literal ("}"): b's text is then the parameter. */
int store_pg_array_end(struct buf *b) _wur_;
void store_pg_array_init(struct buf *b);

/*
 * Finds the live (not deleted) host `host_id` and gives its row number, the key child
 * tables use. With `lock`, the row is locked FOR UPDATE until the transaction ends. -ENOENT
 * when there is none.
 */
int store_pg_host_num(struct store_pg_conn *c, const char *host_id, bool lock, int64_t *ret) _wur_;

/*
 * Creates the event partitions of the months holding [from, to] (Unix seconds) unless this
 * process knows they exist: in a transaction of its own (ensure), or in c's (in).
 */
int store_pg_partitions_ensure(struct store_pg *s, int64_t from, int64_t to) _wur_;
int store_pg_partitions_in(struct store_pg_conn *c, int64_t from, int64_t to) _wur_;

static inline struct store_pg *store_pg_of(struct store *st)
{
	return (struct store_pg *) st;
}

/* Operations in store_pg_inventory.c. */
int store_pg_inventory_get(struct store *st, const char *host_id, json_t **ret_doc,
			   char ret_digest[STORE_DIGEST_HEX]) _wur_;
int store_pg_inventory_commit(struct store *st, const char *host_id, const char *base_digest,
			      const json_t *delta, const char *new_digest, int64_t now,
			      size_t *ret_changes) _wur_;
int store_pg_inventory_software(struct store *st, const char *host_id, const char *search,
				size_t limit, size_t offset, json_t **ret) _wur_;
int store_pg_inventory_history(struct store *st, const char *host_id, int64_t since, size_t limit,
			       size_t offset, json_t **ret) _wur_;

/* Operations in store_pg_events.c. */
int store_pg_events_ingest(struct store *st, const char *host_id, const struct store_event *ev,
			   size_t n, int64_t now, struct store_ingest_result *ret) _wur_;
int store_pg_events_list(struct store *st, const char *host_id, uint64_t after, const char *type,
			 size_t limit, json_t **ret) _wur_;
int store_pg_events_maintain(struct store *st, int64_t now) _wur_;
int store_pg_events_evidence(struct store *st, const char *host_id, size_t limit, json_t **ret)
	_wur_;
int store_pg_events_purge(struct store *st, const char *type, json_t *except, int64_t before_ms,
			  int64_t *io_key, size_t max, size_t *ret_deleted) _wur_;
int store_pg_events_since(struct store *st, int64_t after, size_t limit, json_t **ret) _wur_;
int store_pg_events_position(struct store *st, int64_t *ret) _wur_;

/* An event as the API shows it, from a row of STORE_PG_EVENT_COLS (columns 0..13). */
#define STORE_PG_EVENT_COLS                                                              \
	"e.seq, e.time_ms, e.mono_ms, e.type, e.user_name, e.data, e.extra, e.received," \
	" e.chain, e.hash, e.prev, e.id, h.id, h.hostname"
json_t *store_pg_events_json(const PGresult *res, int row);
/* A host's evidence summary (store_host_evidence's "summary"), in c's transaction. */
int store_pg_events_evidence_summary(struct store_pg_conn *c, int64_t host, json_t **ret) _wur_;

/* Operations in store_pg_search.c. */
int store_pg_search_events(struct store *st, const struct store_event_query *q, json_t **ret) _wur_;
int store_pg_search_counts(struct store *st, const struct store_event_query *q, const char *by1,
			   const char *by2, json_t **ret) _wur_;

/* Operations in store_pg_jobs.c. */
int store_pg_jobs_cursor_get(struct store *st, const char *name, int64_t *ret) _wur_;
int store_pg_jobs_cursor_set(struct store *st, const char *name, int64_t position, int64_t now)
	_wur_;

/* Operations in store_pg_hosts.c. */
int store_pg_hosts_list(struct store *st, const struct store_host_query *q, json_t **ret) _wur_;
int store_pg_hosts_get(struct store *st, const char *host_id, json_t **ret) _wur_;
int store_pg_hosts_revoke(struct store *st, const char *host_id, int64_t now) _wur_;
int store_pg_hosts_delete(struct store *st, const char *host_id, int64_t now) _wur_;

/* Operations in store_pg_audit.c. */
int store_pg_audit_append(struct store *st, int64_t now, const char *actor, const char *action,
			  const char *target, json_t *details, const char *remote) _wur_;
int store_pg_audit_list(struct store *st, size_t limit, size_t offset, json_t **ret) _wur_;

/* Bulk access for store_copy, in store_pg_bulk.c. */
int store_pg_bulk_begin(struct store *st, bool write, void **ret) _wur_;
int store_pg_bulk_read(struct store *st, void *session, int t, store_row_fn fn, void *userdata)
	_wur_;
int store_pg_bulk_write(struct store *st, void *session, int t, json_t *rows) _wur_;
int store_pg_bulk_clear(struct store *st, void *session) _wur_;
int store_pg_bulk_end(struct store *st, void *session, int r) _wur_;

/* Operations in store_pg_collection.c. */
int store_pg_collection_create(struct store *st, const struct store_collection *p,
			       int64_t *ret_version) _wur_;
int store_pg_collection_list(struct store *st, const char *scope, size_t limit, size_t offset,
			     json_t **ret) _wur_;
int store_pg_collection_get(struct store *st, int64_t version, json_t **ret) _wur_;
int store_pg_collection_inputs(struct store *st, const char *host_id, bool full, json_t **ret)
	_wur_;

/* Operations in store_pg_compliance.c. */
int store_pg_compliance_set_owner(struct store *st, const char *host_id, const char *owner) _wur_;
int store_pg_compliance_host_get(struct store *st, const char *host_id,
				 const struct checks_item *items, struct store_compliance_host *ret)
	_wur_;
int store_pg_compliance_scan(struct store *st, const struct checks_item *items, const char *after,
			     size_t limit, store_compliance_scan_fn fn, void *userdata,
			     size_t *ret_count) _wur_;
int store_pg_compliance_apply(struct store *st, const struct store_compliance_result *hosts,
			      size_t n, int64_t now, size_t *ret_changed) _wur_;
int store_pg_compliance_events(struct store *st, const char *host_id, const json_t *events,
			       int64_t now) _wur_;
int store_pg_compliance_results(struct store *st, const struct store_compliance_query *q,
				json_t **ret) _wur_;
int store_pg_compliance_rollups(struct store *st, json_t **ret) _wur_;
int store_pg_compliance_history(struct store *st, int64_t since_day, json_t **ret) _wur_;
int store_pg_attestation_add(struct store *st, const struct store_attestation *a,
			     char ret_id[STORE_ID_MAX]) _wur_;
int store_pg_attestation_list(struct store *st, const char *measure, json_t **ret) _wur_;
/*
 * Takes host (a row number, its row locked by the caller) off the scorecard inside c's
 * transaction: its results leave the roll-ups (today's snapshot follows), its event
 * summary goes, and with `history` its status changes too. For revocation and deletion.
 */
int store_pg_compliance_forget(struct store_pg_conn *c, int64_t host, int64_t now, bool history)
	_wur_;

/* Operations in store_pg_policy.c. */
int store_pg_policy_create(struct store *st, const struct store_policy *p, int64_t *ret_version)
	_wur_;
int store_pg_policy_list(struct store *st, const char *scope, size_t limit, size_t offset,
			 json_t **ret) _wur_;
int store_pg_policy_get(struct store *st, int64_t version, json_t **ret) _wur_;
int store_pg_policy_inputs(struct store *st, const char *host_id, int64_t now, bool registry,
			   json_t **ret) _wur_;
int store_pg_policy_devices_put(struct store *st, const struct store_device *devs, size_t n,
				int64_t now, const char *actor, size_t *ret_created,
				size_t *ret_updated) _wur_;
int store_pg_policy_device_delete(struct store *st, const char *serial) _wur_;
int store_pg_policy_devices_list(struct store *st, const struct store_device_query *q, json_t **ret)
	_wur_;
int store_pg_policy_grant_create(struct store *st, const struct store_grant *g,
				 char ret_id[STORE_ID_MAX]) _wur_;
int store_pg_policy_grants_list(struct store *st, int64_t now, bool all, size_t limit,
				size_t offset, json_t **ret) _wur_;
int store_pg_policy_grant_revoke(struct store *st, const char *id, int64_t now, const char *actor)
	_wur_;
