/*
 * The store's backend interface, private to store*.c. store.c parses the URL, picks a
 * backend from its table and forwards every store_* call through the backend's ops table;
 * a backend is one open function plus one function per operation, with the public
 * signature. Its handle embeds `struct store` as its first member, so a backend recovers
 * its own type with a cast and store.c never knows it.
 *
 * Adding a backend (PostgreSQL comes next) is: write store_pg.c with an ops table and an
 * open function, declare the open function here, and name it in store.c's backends[]. No
 * caller changes.
 */
#pragma once

#include "server/store.h"

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
	int (*events_append)(struct store *st, const char *host_id, json_t *events, int64_t now,
			     uint64_t *ret_acked, size_t *ret_stored);

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

	int (*audit_append)(struct store *st, int64_t now, const char *actor, const char *action,
			    const char *target, json_t *details, const char *remote);
	int (*audit_list)(struct store *st, size_t limit, size_t offset, json_t **ret);

	int (*policy_create)(struct store *st, const struct store_policy *p, int64_t *ret_version);
	int (*policy_list)(struct store *st, const char *scope, size_t limit, size_t offset,
			   json_t **ret);
	int (*policy_get)(struct store *st, int64_t version, json_t **ret);
	int (*policy_inputs)(struct store *st, const char *host_id, int64_t now, json_t **ret);
	int (*devices_put)(struct store *st, const struct store_device *devs, size_t n, int64_t now,
			   const char *actor, size_t *ret_created, size_t *ret_updated);
	int (*device_delete)(struct store *st, const char *serial);
	int (*devices_list)(struct store *st, const struct store_device_query *q, json_t **ret);
	int (*grant_create)(struct store *st, const struct store_grant *g,
			    char ret_id[STORE_ID_MAX]);
	int (*grants_list)(struct store *st, int64_t now, bool all, size_t limit, size_t offset,
			   json_t **ret);
	int (*grant_revoke)(struct store *st, const char *id, int64_t now, const char *actor);
};

/* The head of every backend's handle. */
struct store {
	const struct store_ops *ops;
};

/* URL parameters common to all backends: "BASE?name=value&name=value". */
struct store_params {
	const char *vfs;  /* sqlite: VFS name (test seam: tests/fault/faultvfs.c); NULL = default */
	unsigned readers; /* sqlite: reader connections besides the writer; 0 = share the writer */
};

/*
 * Opens the SQLite store at path (a file name, never a URI). Same contract as store_open().
 * Declared here, defined in store_sqlite.c.
 */
int store_sqlite_open(const char *path, const struct store_params *p, struct store **ret) _wur_;
