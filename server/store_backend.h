/*
 * The store's backend interface, private to store*.c. store.c parses the URL, picks a
 * backend from its table and forwards every store_* call through the backend's ops table;
 * a backend is one open function plus one function per operation, with the public
 * signature. Its handle embeds `struct store` as its first member, so a backend recovers
 * its own type with a cast and store.c never knows it.
 *
 * Adding a backend is: write store_NAME.c with an ops table and an open function, declare
 * the open function here, and name it in store.c's backends[]. No caller changes.
 *
 * Besides the operations, a backend offers bulk access to its tables for store_copy()
 * (store_copy.c): every table as rows in one canonical, backend-neutral form (store_tables
 * below), read in a canonical order and written in chunks, all inside one transaction.
 *
 * What every backend does the same outside SQL — ids, token states, audit hashes, LIKE
 * patterns, validating event batches and inventory deltas — is in store_prep.c, declared
 * at the end of this file, so the backends cannot drift apart.
 */
#pragma once

#include "server/store.h"
#include "server/store_chain.h"

/* Called by bulk_read for each row (a borrowed JSON array); a negative return stops it. */
typedef int (*store_row_fn)(json_t *row, void *userdata);

struct store_ops {
	const char *name; /* "sqlite", "postgres": for log lines */
	void (*free)(struct store *st);
	int (*schema_version)(struct store *st, int *ret);

	int (*api_token_create)(struct store *st, const uint8_t hash[32], const char *name,
				const char *role, int64_t now, int64_t expires,
				char ret_id[STORE_ID_MAX]);
	int (*api_token_check)(struct store *st, const uint8_t hash[32], int64_t now, json_t **ret);
	int (*api_token_count)(struct store *st, size_t *ret);

	int (*enroll_token_create)(struct store *st, const struct store_enroll_token *t,
				   char ret_id[STORE_ID_MAX]);
	int (*enroll_token_list)(struct store *st, int64_t now, json_t **ret);
	int (*enroll_token_revoke)(struct store *st, const char *id, int64_t now);
	int (*enroll)(struct store *st, const uint8_t token_hash[32], int64_t now, json_t *facts,
		      const char *remote, store_sign_fn sign, void *userdata,
		      struct store_enroll_result *ret);

	int (*host_by_serial)(struct store *st, uint64_t serial, struct store_host_auth *ret);
	int (*checkin)(struct store *st, const char *host_id, int64_t now, const char *remote,
		       json_t *state, struct store_checkin_result *ret);
	int (*inventory_get)(struct store *st, const char *host_id, json_t **ret_doc,
			     char ret_digest[STORE_DIGEST_HEX]);
	int (*inventory_commit)(struct store *st, const char *host_id, const char *base_digest,
				const json_t *delta, const char *new_digest, int64_t now,
				size_t *ret_changes);
	/* The batch is validated and sorted (store_chain.h); the backend runs
	 * store_chain_ingest() inside its write transaction and sets ret->acked_seq. */
	int (*events_ingest)(struct store *st, const char *host_id, const struct store_event *ev,
			     size_t n, int64_t now, struct store_ingest_result *ret);

	int (*hosts_list)(struct store *st, const struct store_host_query *q, json_t **ret);
	int (*host_get)(struct store *st, const char *host_id, json_t **ret);
	int (*host_software)(struct store *st, const char *host_id, const char *search,
			     size_t limit, size_t offset, json_t **ret);
	int (*host_history)(struct store *st, const char *host_id, int64_t since, size_t limit,
			    size_t offset, json_t **ret);
	int (*host_events)(struct store *st, const char *host_id, uint64_t after, const char *type,
			   size_t limit, json_t **ret);
	int (*host_revoke)(struct store *st, const char *host_id, int64_t now);
	int (*host_delete)(struct store *st, const char *host_id, int64_t now);

	/* The event store (store_{sqlite,pg}_search.c, store_{sqlite,pg}_events.c). */
	int (*events_search)(struct store *st, const struct store_event_query *q, json_t **ret);
	int (*events_counts)(struct store *st, const struct store_event_query *q, const char *by1,
			     const char *by2, json_t **ret);
	int (*host_evidence)(struct store *st, const char *host_id, size_t limit, json_t **ret);
	int (*events_purge)(struct store *st, const char *type, json_t *except, int64_t before_ms,
			    int64_t *io_key, size_t max, size_t *ret_deleted);
	int (*events_since)(struct store *st, int64_t after, size_t limit, json_t **ret);
	int (*events_position)(struct store *st, int64_t *ret);
	int (*cursor_get)(struct store *st, const char *name, int64_t *ret);
	int (*cursor_set)(struct store *st, const char *name, int64_t position, int64_t now);

	int (*audit_append)(struct store *st, int64_t now, const char *actor, const char *action,
			    const char *target, json_t *details, const char *remote);
	int (*audit_list)(struct store *st, size_t limit, size_t offset, json_t **ret);

	int (*policy_create)(struct store *st, const struct store_policy *p, int64_t *ret_version);
	int (*policy_list)(struct store *st, const char *scope, size_t limit, size_t offset,
			   json_t **ret);
	int (*policy_get)(struct store *st, int64_t version, json_t **ret);
	int (*policy_inputs)(struct store *st, const char *host_id, int64_t now, bool registry,
			     json_t **ret);
	int (*devices_put)(struct store *st, const struct store_device *devs, size_t n, int64_t now,
			   const char *actor, size_t *ret_created, size_t *ret_updated);
	int (*device_delete)(struct store *st, const char *serial);
	int (*devices_list)(struct store *st, const struct store_device_query *q, json_t **ret);
	int (*grant_create)(struct store *st, const struct store_grant *g,
			    char ret_id[STORE_ID_MAX]);
	int (*grants_list)(struct store *st, int64_t now, bool all, size_t limit, size_t offset,
			   json_t **ret);
	int (*grant_revoke)(struct store *st, const char *id, int64_t now, const char *actor);
	int (*collection_create)(struct store *st, const struct store_collection *p,
				 int64_t *ret_version);
	int (*collection_list)(struct store *st, const char *scope, size_t limit, size_t offset,
			       json_t **ret);
	int (*collection_get)(struct store *st, int64_t version, json_t **ret);
	int (*collection_inputs)(struct store *st, const char *host_id, bool full, json_t **ret);

	int (*maintain)(struct store *st, int64_t now);
	int (*job_try_lock)(struct store *st, const char *name, bool *ret_held);
	int (*job_unlock)(struct store *st, const char *name);

	/*
	 * Bulk access for store_copy(). bulk_begin opens a session — one transaction on one
	 * connection, a snapshot for reading or the write lock for writing — and bulk_end
	 * closes it, committing only when r >= 0 (and the session is a writing one). Within a
	 * session: bulk_read calls fn for every row of table t, in store_tables[t]'s order,
	 * as a JSON array in its canonical columns (fn's error stops it and is returned);
	 * bulk_write inserts rows (an array of such arrays; rows of per-host tables name
	 * hosts already written); bulk_clear empties every table, audit trail included.
	 */
	int (*bulk_begin)(struct store *st, bool write, void **ret);
	int (*bulk_read)(struct store *st, void *session, int t, store_row_fn fn, void *userdata);
	int (*bulk_write)(struct store *st, void *session, int t, json_t *rows);
	int (*bulk_clear)(struct store *st, void *session);
	int (*bulk_end)(struct store *st, void *session, int r);
	int (*host_set_owner)(struct store *st, const char *host_id, const char *owner);
	int (*compliance_host_get)(struct store *st, const char *host_id,
				   const struct checks_item *items,
				   struct store_compliance_host *ret);
	int (*compliance_scan)(struct store *st, const struct checks_item *items, const char *after,
			       size_t limit, store_compliance_scan_fn fn, void *userdata,
			       size_t *ret_count);
	int (*compliance_apply)(struct store *st, const struct store_compliance_result *hosts,
				size_t n, int64_t now, size_t *ret_changed);
	int (*compliance_events)(struct store *st, const char *host_id, const json_t *events,
				 int64_t now);
	int (*compliance_results)(struct store *st, const struct store_compliance_query *q,
				  json_t **ret);
	int (*compliance_rollups)(struct store *st, json_t **ret);
	int (*compliance_history)(struct store *st, int64_t since_day, json_t **ret);
	int (*attestation_add)(struct store *st, const struct store_attestation *a,
			       char ret_id[STORE_ID_MAX]);
	int (*attestation_list)(struct store *st, const char *measure, json_t **ret);
};

/* The head of every backend's handle. */
struct store {
	const struct store_ops *ops;
};

/* URL parameters common to all backends: "BASE?name=value&name=value". */
struct store_params {
	const char *vfs;  /* sqlite: VFS name (test seam: tests/fault/faultvfs.c); NULL = default */
	unsigned readers; /* sqlite: reader connections besides the writer; 0 = share the writer */
	unsigned pool;    /* postgres: connections in the pool (1..64) */
	const char *pass; /* postgres: the parameters that are libpq's, "a=b&c=d", or NULL */
};

/* Whether name is a valid job name: 1..64 of [a-z0-9._-]. */
bool store_job_name_ok(const char *name);

/*
 * The tables as store_copy() sees them, in an order that respects references (a row only
 * names rows of earlier tables). Rows are JSON arrays of `columns`: integers, strings, or
 * null; `types` has one letter per column: 'i' integer, 't' text, 'h' a 32-byte hash as
 * 64 hex digits (a BLOB in SQLite, a bytea in PostgreSQL). Hosts are named by their id,
 * never by a backend's internal row number. Per-host tables have host_id first and are
 * read ordered by host_id, then by the rest of their key, byte-wise, in every backend.
 */
enum store_table {
	STORE_T_API_TOKENS,
	STORE_T_ENROLL_TOKENS,
	STORE_T_CA_SERIALS,
	STORE_T_HOSTS,
	STORE_T_TOKEN_USES,
	STORE_T_INVENTORY_ITEMS,
	STORE_T_INVENTORY_CHANGES,
	STORE_T_SOFTWARE,
	STORE_T_EVENTS,
	STORE_T_EVENT_GAPS,
	STORE_T_CHAIN_EVIDENCE,
	STORE_T_AUDIT,
	STORE_T_COMPLIANCE_FACTS,
	STORE_T_COMPLIANCE_RESULTS,
	STORE_T_COMPLIANCE_CHANGES,
	STORE_T_COMPLIANCE_ROLLUP,
	STORE_T_COMPLIANCE_DAILY,
	STORE_T_ATTESTATIONS,
	STORE_T_POLICIES,
	STORE_T_DEVICES,
	STORE_T_DEVICE_TAGS,
	STORE_T_TAG_REVISIONS,
	STORE_T_GRANTS,
	STORE_T_COLLECTION_PROFILES,
	STORE_T_COUNT,
};

struct store_table_desc {
	const char *name;
	const char *types;
	const char *const *columns; /* NULL-terminated */
	bool per_host;              /* first column is host_id */
};

extern const struct store_table_desc store_tables[STORE_T_COUNT];

/*
 * Opens the SQLite store at path (a file name, never a URI). Same contract as store_open().
 * Declared here, defined in store_sqlite.c.
 */
int store_sqlite_open(const char *path, const struct store_params *p, struct store **ret) _wur_;
/*
 * Opens the PostgreSQL store at url (a libpq connection URI without mamori's parameters;
 * p->pass holds libpq's own). Same contract as store_open(). Defined in store_pg.c, built
 * only with HAVE_POSTGRES.
 */
int store_pg_open(const char *url, const struct store_params *p, struct store **ret) _wur_;

/* ---- store_prep.c: the parts of operations every backend does the same ---- */

/* n random bytes from GnuTLS; -EIO (logged, M4013) when it fails. */
/*
 * Adds one stored inventory item (value, taken) to a partial inventory document, as the
 * compliance engine reads it: a section's attributes (list "") merge into the section, a
 * list's items append in the order given. -EIO when an attribute item is not an object,
 * -ENOMEM.
 */
int store_prep_add_item_value(json_t *doc, const char *section, const char *list, json_t *value)
	_wur_;
int store_prep_random(void *p, size_t n) _wur_;
/* A random (version 4) UUID in lower-case text. */
int store_prep_uuid(char ret[STORE_ID_MAX]) _wur_;
/* A short random id for tokens: 16 hex digits (64 bits) behind a prefix. */
int store_prep_token_id(const char *prefix, char ret[STORE_ID_MAX]) _wur_;
/* The state a token is in; the precedence (revoked, used, expired) is the verdict's. */
enum store_token_verdict store_prep_token_verdict(bool revoked, int64_t uses, int64_t max_uses,
						  int64_t expires, int64_t now);
/* The token list's names for the verdicts: "active", "expired", "used", "revoked". */
extern const char *const store_prep_token_states[];

/* The hash before the first audit record: 64 zeros. */
extern const char store_prep_audit_genesis[STORE_DIGEST_HEX];
/*
 * An audit record's hash: SHA-256(prev ‖ canonical JSON of {id, time, actor, action,
 * target, details, remote}) in hex. details may be NULL (JSON null).
 */
int store_prep_audit_hash(const char *prev, int64_t id, int64_t time, const char *actor,
			  const char *action, const char *target, json_t *details,
			  const char *remote, char ret[STORE_DIGEST_HEX]) _wur_;

/*
 * A LIKE pattern matching `text` as a substring: "%" text "%", with \, % and _ escaped
 * by '\' (use ESCAPE '\'). NULL on allocation failure.
 */
char *store_prep_like_pattern(const char *text);

/*
 * The key range [*ret_lo, *ret_hi] (store_chain.h's keys) of an event query's from_ms and
 * to_ms and, when `paged`, beyond its cursor in its order. The range is empty when lo > hi.
 */
void store_prep_event_range(const struct store_event_query *q, bool paged, int64_t *ret_lo,
			    int64_t *ret_hi);
/* Whether a search text has the STORE_PREP_TRIGRAM characters (not bytes) a trigram index
 * needs; shorter ones are answered by scanning. */
#define STORE_PREP_TRIGRAM 3
bool store_prep_text_indexed(const char *text);

enum store_item_op {
	STORE_ITEM_REMOVED,
	STORE_ITEM_CHANGED,
	STORE_ITEM_ADDED,
};

/* "removed", "changed", "added": the delta's and the history's names of the ops. */
extern const char *const store_item_ops[];

/* One delta entry, resolved to the item it addresses and the text of its values. */
struct store_item_entry {
	const char *section;
	const char *list; /* "" for the attributes item */
	char *key;        /* the key array as compact JSON; "" for the attributes item */
	enum store_item_op op;
	json_t *old_v, *new_v;     /* borrowed from the delta */
	char *old_text, *new_text; /* NULL for added / removed */
};

struct store_item_entries {
	struct store_item_entry *v;
	size_t n;
};

/*
 * Resolves every entry of an inventory delta, in the order they apply (per section:
 * removed, changed, added), serialising their values. -EBADMSG when the delta is not of
 * the invdiff shape, -ENOMEM. Call store_prep_delta_done() afterwards, also on failure.
 */
int store_prep_delta(const json_t *delta, struct store_item_entries *es) _wur_;
void store_prep_delta_done(struct store_item_entries *es);

/* ---- the scorecard (store_*_compliance.c) ---- */

/* One result's evidence, as compact JSON text: longer is refused (-EINVAL). */
#define STORE_EVIDENCE_MAX ((size_t) 256 * 1024)

/*
 * How one roll-up row's counts move. The kinds are indices into store_rollup_kinds
 * ("organisation" with id "", "category", "role", "measure"), in the order the roll-ups
 * list them.
 */
#define STORE_ROLLUP_KINDS 4
extern const char *const store_rollup_kinds[STORE_ROLLUP_KINDS];

struct store_rollup_delta {
	int kind;
	char *id;
	int64_t d[CHECKS_STATUS_MAX];
};

struct store_rollup_deltas {
	struct store_rollup_delta *v;
	size_t n;
};

/*
 * Counts (by = +1) or uncounts (-1) one result of `measure` (with its category and role)
 * in status `status` (enum checks_status) in all four roll-ups. -ENOMEM, -EINVAL.
 */
int store_prep_rollup_move(struct store_rollup_deltas *ds, const char *measure,
			   const char *category, const char *role, int status, int by) _wur_;
/* Whether a delta moves nothing (a result rewritten in the same status). */
bool store_prep_rollup_zero(const struct store_rollup_delta *d);
void store_prep_rollup_done(struct store_rollup_deltas *ds);

/* Whether a result row is well-formed (store_compliance_apply() refuses it otherwise). */
bool store_prep_compliance_row_ok(const struct store_compliance_row *w);
/* Whether one host's results are well-formed: every row, and no measure twice. */
bool store_prep_compliance_result_ok(const struct store_compliance_result *h);
/* Whether an attestation is well-formed (store_attestation_add() refuses it otherwise). */
bool store_prep_attestation_ok(const struct store_attestation *a);
