/*
 * The store's front: parses the store URL, opens the backend it names and forwards every
 * operation through the backend's ops table (store_backend.h). Nothing here knows SQL.
 *
 * URL: "sqlite:PATH[?PARAMS]" or "postgres://…" / "postgresql://…". PARAMS are
 * "name=value" pairs joined by '&':
 *   readers=N  SQLite reader connections besides the writer (0..64, default 4; 0 makes
 *              every operation share the writer connection)
 *   vfs=NAME   SQLite VFS to open the file through. A test seam: tests/fault registers a
 *              VFS that fails the Nth write or sync, to prove failed operations change
 *              nothing. Production configurations never set it.
 *   pool=N     PostgreSQL connections (1..64, default 4)
 * A PostgreSQL URL's other parameters are libpq's (host=/run/postgresql, sslmode=…) and
 * are passed on untouched; libpq refuses those it does not know. A PATH cannot contain
 * '?'. The URL may hold a password, so it is never logged whole.
 *
 * Job locks are validated here (names) and kept by the backends.
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_backend.h"

#define STORE_DEFAULT_READERS 4u
#define STORE_MAX_READERS     64u
#define STORE_DEFAULT_POOL    4u
#define STORE_MAX_POOL        64u
#define JOB_NAME_MAX          64

typedef int (*open_fn)(const char *base, const struct store_params *p, struct store **ret);

static const struct {
	const char *prefix;
	bool keep_prefix; /* the backend wants the whole URL (a libpq connection URI) */
	open_fn open;     /* NULL: recognised, but not built into this program */
} backends[] = {
	{"sqlite:", false, store_sqlite_open},
#if HAVE_POSTGRES
	{"postgres://", true, store_pg_open},
	{"postgresql://", true, store_pg_open},
#else
	{"postgres://", true, NULL},
	{"postgresql://", true, NULL},
#endif
};

/*
 * Parses PARAMS into p. With `pass` (PostgreSQL), parameters that are not mamori's are
 * appended there for libpq; without it they are refused.
 */
static int parse_params(char *text, struct store_params *p, struct buf *pass)
{
	char *save = NULL;

	for (char *kv = strtok_r(text, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		const char *v;

		if (!eq) {
			log_error("(M4002) store URL: parameter '%s' has no value", kv);
			return -EINVAL;
		}
		*eq = '\0';
		v = eq + 1;
		if (pass && streq(kv, "pool")) {
			if (str_to_uint(v, 10, &p->pool) < 0 || p->pool < 1 ||
			    p->pool > STORE_MAX_POOL) {
				log_error("(M4002) store URL: pool must be 1..%u", STORE_MAX_POOL);
				return -EINVAL;
			}
		} else if (pass && !streq(kv, "vfs") && !streq(kv, "readers")) {
			if ((pass->len && buf_addc(pass, '&') < 0) ||
			    buf_addf(pass, "%s=%s", kv, v) < 0)
				return -ENOMEM;
		} else if (pass) {
			log_error("(M4002) store URL: '%s' is a SQLite parameter", kv);
			return -EINVAL;
		} else if (streq(kv, "vfs") && *v) {
			p->vfs = v;
		} else if (streq(kv, "readers")) {
			if (str_to_uint(v, 10, &p->readers) < 0 || p->readers > STORE_MAX_READERS) {
				log_error("(M4002) store URL: readers must be 0..%u",
					  STORE_MAX_READERS);
				return -EINVAL;
			}
		} else {
			log_error("(M4002) store URL: unknown parameter '%s'", kv);
			return -EINVAL;
		}
	}
	return 0;
}

int store_open(const char *url, struct store **ret)
{
	struct store_params p = {
		.vfs = NULL,
		.readers = STORE_DEFAULT_READERS,
		.pool = STORE_DEFAULT_POOL,
	};
	_cleanup_(freep) char *copy = NULL;
	struct buf pass;
	char *q;
	int r = -EINVAL;

	if (!url || !ret)
		return -EINVAL;
	copy = mm_strdup(url);
	if (!copy)
		return -ENOMEM;
	buf_init(&pass, strlen(url) + 1);
	q = strchr(copy, '?');
	if (q)
		*q++ = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		const char *rest = str_startswith(copy, backends[i].prefix);

		if (!rest)
			continue;
		if (!backends[i].open) {
			log_error("(M4001) store: '%s' names a backend this build does not have "
				  "(built without libpq); use sqlite:PATH",
				  backends[i].prefix);
			r = -EPROTONOSUPPORT;
			goto out;
		}
		if (!backends[i].keep_prefix && !*rest) {
			log_error("(M4002) store URL: '%s' names no database", url);
			goto out;
		}
		if (q) {
			r = parse_params(q, &p, backends[i].keep_prefix ? &pass : NULL);
			if (r < 0)
				goto out;
		}
		p.pass = pass.len ? buf_str(&pass) : NULL;
		r = backends[i].open(backends[i].keep_prefix ? copy : rest, &p, ret);
		goto out;
	}
	/* the scheme is all that is shown: a PostgreSQL URL may carry a password */
	log_error("(M4002) store URL: '%.12s…' is neither sqlite:PATH nor postgres://…", url);
out:
	buf_done(&pass);
	return r;
}

struct store *store_free(struct store *st)
{
	if (st)
		st->ops->free(st);
	return NULL;
}

/* ---- forwarding: one line per operation ---- */

int store_schema_version(struct store *st, int *ret)
{
	return st->ops->schema_version(st, ret);
}

int store_api_token_create(struct store *st, const uint8_t hash[32], const char *name,
			   const char *role, int64_t now, int64_t expires,
			   char ret_id[STORE_ID_MAX])
{
	return st->ops->api_token_create(st, hash, name, role, now, expires, ret_id);
}

int store_api_token_check(struct store *st, const uint8_t hash[32], int64_t now, json_t **ret)
{
	return st->ops->api_token_check(st, hash, now, ret);
}

int store_api_token_count(struct store *st, size_t *ret)
{
	return st->ops->api_token_count(st, ret);
}

int store_enroll_token_create(struct store *st, const struct store_enroll_token *t,
			      char ret_id[STORE_ID_MAX])
{
	return st->ops->enroll_token_create(st, t, ret_id);
}

int store_enroll_token_list(struct store *st, int64_t now, json_t **ret)
{
	return st->ops->enroll_token_list(st, now, ret);
}

int store_enroll_token_revoke(struct store *st, const char *id, int64_t now)
{
	return st->ops->enroll_token_revoke(st, id, now);
}

int store_enroll(struct store *st, const uint8_t token_hash[32], int64_t now, json_t *facts,
		 const char *remote, store_sign_fn sign, void *userdata,
		 struct store_enroll_result *ret)
{
	return st->ops->enroll(st, token_hash, now, facts, remote, sign, userdata, ret);
}

int store_host_by_serial(struct store *st, uint64_t serial, struct store_host_auth *ret)
{
	return st->ops->host_by_serial(st, serial, ret);
}

int store_checkin(struct store *st, const char *host_id, int64_t now, const char *remote,
		  json_t *state, struct store_checkin_result *ret)
{
	return st->ops->checkin(st, host_id, now, remote, state, ret);
}

int store_inventory_get(struct store *st, const char *host_id, json_t **ret_doc,
			char ret_digest[STORE_DIGEST_HEX])
{
	return st->ops->inventory_get(st, host_id, ret_doc, ret_digest);
}

int store_inventory_commit(struct store *st, const char *host_id, const char *base_digest,
			   const json_t *delta, const char *new_digest, int64_t now,
			   size_t *ret_changes)
{
	return st->ops->inventory_commit(st, host_id, base_digest, delta, new_digest, now,
					 ret_changes);
}

int store_events_ingest(struct store *st, const char *host_id, json_t *events, int64_t now,
			struct store_ingest_result *ret)
{
	struct store_ingest_result res = {0};
	struct store_event *ev = NULL;
	size_t n = 0;
	int r;

	if (!host_id || !ret)
		return -EINVAL;
	/* validated and serialised before the backend takes its write lock */
	r = store_chain_prepare(events, &ev, &n);
	if (r < 0)
		return r;
	r = st->ops->events_ingest(st, host_id, ev, n, now, &res);
	store_chain_events_free(ev, n);
	if (r >= 0)
		*ret = res;
	return r;
}

int store_events_append(struct store *st, const char *host_id, json_t *events, int64_t now,
			uint64_t *ret_acked, size_t *ret_stored)
{
	struct store_ingest_result res;
	int r = store_events_ingest(st, host_id, events, now, &res);

	if (r < 0)
		return r;
	if (ret_acked)
		*ret_acked = res.acked_seq;
	if (ret_stored)
		*ret_stored = res.stored;
	return 0;
}

/* ---- the event store ---- */

int store_events_search(struct store *st, const struct store_event_query *q, json_t **ret)
{
	return st->ops->events_search(st, q, ret);
}

int store_events_counts(struct store *st, const struct store_event_query *q, const char *by1,
			const char *by2, json_t **ret)
{
	return st->ops->events_counts(st, q, by1, by2, ret);
}

int store_host_evidence(struct store *st, const char *host_id, size_t limit, json_t **ret)
{
	return st->ops->host_evidence(st, host_id, limit, ret);
}

int store_events_purge(struct store *st, const char *type, json_t *except, int64_t before_ms,
		       int64_t *io_key, size_t max, size_t *ret_deleted)
{
	return st->ops->events_purge(st, type, except, before_ms, io_key, max, ret_deleted);
}

int store_events_since(struct store *st, int64_t after, size_t limit, json_t **ret)
{
	return st->ops->events_since(st, after, limit, ret);
}

int store_events_position(struct store *st, int64_t *ret)
{
	return st->ops->events_position(st, ret);
}

int store_cursor_get(struct store *st, const char *name, int64_t *ret)
{
	return st->ops->cursor_get(st, name, ret);
}

int store_cursor_set(struct store *st, const char *name, int64_t position, int64_t now)
{
	return st->ops->cursor_set(st, name, position, now);
}

int store_hosts_list(struct store *st, const struct store_host_query *q, json_t **ret)
{
	return st->ops->hosts_list(st, q, ret);
}

int store_host_get(struct store *st, const char *host_id, json_t **ret)
{
	return st->ops->host_get(st, host_id, ret);
}

int store_host_software(struct store *st, const char *host_id, const char *search, size_t limit,
			size_t offset, json_t **ret)
{
	return st->ops->host_software(st, host_id, search, limit, offset, ret);
}

int store_host_history(struct store *st, const char *host_id, int64_t since, size_t limit,
		       size_t offset, json_t **ret)
{
	return st->ops->host_history(st, host_id, since, limit, offset, ret);
}

int store_host_events(struct store *st, const char *host_id, uint64_t after, const char *type,
		      size_t limit, json_t **ret)
{
	return st->ops->host_events(st, host_id, after, type, limit, ret);
}

int store_host_revoke(struct store *st, const char *host_id, int64_t now)
{
	return st->ops->host_revoke(st, host_id, now);
}

int store_host_delete(struct store *st, const char *host_id, int64_t now)
{
	return st->ops->host_delete(st, host_id, now);
}

int store_audit_append(struct store *st, int64_t now, const char *actor, const char *action,
		       const char *target, json_t *details, const char *remote)
{
	return st->ops->audit_append(st, now, actor, action, target, details, remote);
}

int store_audit_list(struct store *st, size_t limit, size_t offset, json_t **ret)
{
	return st->ops->audit_list(st, limit, offset, ret);
}

int store_maintain(struct store *st, int64_t now)
{
	return st->ops->maintain(st, now);
}

bool store_job_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > JOB_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '.' || name[i] == '_' || name[i] == '-'))
			return false;
	return true;
}

int store_job_try_lock(struct store *st, const char *name, bool *ret_held)
{
	if (!store_job_name_ok(name) || !ret_held)
		return -EINVAL;
	return st->ops->job_try_lock(st, name, ret_held);
}

int store_job_unlock(struct store *st, const char *name)
{
	if (!store_job_name_ok(name))
		return -EINVAL;
	return st->ops->job_unlock(st, name);
}

int store_policy_create(struct store *st, const struct store_policy *p, int64_t *ret_version)
{
	return st->ops->policy_create(st, p, ret_version);
}

int store_policy_list(struct store *st, const char *scope, size_t limit, size_t offset,
		      json_t **ret)
{
	return st->ops->policy_list(st, scope, limit, offset, ret);
}

int store_policy_get(struct store *st, int64_t version, json_t **ret)
{
	return st->ops->policy_get(st, version, ret);
}

int store_policy_inputs(struct store *st, const char *host_id, int64_t now, bool registry,
			json_t **ret)
{
	return st->ops->policy_inputs(st, host_id, now, registry, ret);
}

int store_devices_put(struct store *st, const struct store_device *devs, size_t n, int64_t now,
		      const char *actor, size_t *ret_created, size_t *ret_updated)
{
	return st->ops->devices_put(st, devs, n, now, actor, ret_created, ret_updated);
}

int store_device_delete(struct store *st, const char *serial)
{
	return st->ops->device_delete(st, serial);
}

int store_devices_list(struct store *st, const struct store_device_query *q, json_t **ret)
{
	return st->ops->devices_list(st, q, ret);
}

int store_grant_create(struct store *st, const struct store_grant *g, char ret_id[STORE_ID_MAX])
{
	return st->ops->grant_create(st, g, ret_id);
}

int store_grants_list(struct store *st, int64_t now, bool all, size_t limit, size_t offset,
		      json_t **ret)
{
	return st->ops->grants_list(st, now, all, limit, offset, ret);
}

int store_grant_revoke(struct store *st, const char *id, int64_t now, const char *actor)
{
	return st->ops->grant_revoke(st, id, now, actor);
}

int store_collection_create(struct store *st, const struct store_collection *p,
			    int64_t *ret_version)
{
	return st->ops->collection_create(st, p, ret_version);
}

int store_collection_list(struct store *st, const char *scope, size_t limit, size_t offset,
			  json_t **ret)
{
	return st->ops->collection_list(st, scope, limit, offset, ret);
}

int store_collection_get(struct store *st, int64_t version, json_t **ret)
{
	return st->ops->collection_get(st, version, ret);
}

int store_collection_inputs(struct store *st, const char *host_id, bool full, json_t **ret)
{
	return st->ops->collection_inputs(st, host_id, full, ret);
}

/* ---- compliance and attestations: a backend without them answers -EOPNOTSUPP ---- */

void store_compliance_host_done(struct store_compliance_host *h)
{
	json_decref(h->doc);
	json_decref(h->events);
	mm_free(h->owner);
	*h = (struct store_compliance_host){.last_inventory = -1, .policy_version = -1};
}

int store_host_set_owner(struct store *st, const char *host_id, const char *owner)
{
	if (!st->ops->host_set_owner)
		return -EOPNOTSUPP;
	return st->ops->host_set_owner(st, host_id, owner);
}

int store_compliance_host_get(struct store *st, const char *host_id,
			      const struct checks_item *items, struct store_compliance_host *ret)
{
	if (!st->ops->compliance_host_get)
		return -EOPNOTSUPP;
	return st->ops->compliance_host_get(st, host_id, items, ret);
}

int store_compliance_scan(struct store *st, const struct checks_item *items, const char *after,
			  size_t limit, store_compliance_scan_fn fn, void *userdata,
			  size_t *ret_count)
{
	if (!st->ops->compliance_scan)
		return -EOPNOTSUPP;
	return st->ops->compliance_scan(st, items, after, limit, fn, userdata, ret_count);
}

int store_compliance_apply(struct store *st, const struct store_compliance_result *hosts, size_t n,
			   int64_t now, size_t *ret_changed)
{
	if (!st->ops->compliance_apply)
		return -EOPNOTSUPP;
	return st->ops->compliance_apply(st, hosts, n, now, ret_changed);
}

int store_compliance_events(struct store *st, const char *host_id, const json_t *events,
			    int64_t now)
{
	if (!st->ops->compliance_events)
		return -EOPNOTSUPP;
	return st->ops->compliance_events(st, host_id, events, now);
}

int store_compliance_results(struct store *st, const struct store_compliance_query *q, json_t **ret)
{
	if (!st->ops->compliance_results)
		return -EOPNOTSUPP;
	return st->ops->compliance_results(st, q, ret);
}

int store_compliance_rollups(struct store *st, json_t **ret)
{
	if (!st->ops->compliance_rollups)
		return -EOPNOTSUPP;
	return st->ops->compliance_rollups(st, ret);
}

int store_compliance_history(struct store *st, int64_t since_day, json_t **ret)
{
	if (!st->ops->compliance_history)
		return -EOPNOTSUPP;
	return st->ops->compliance_history(st, since_day, ret);
}

int store_attestation_add(struct store *st, const struct store_attestation *a,
			  char ret_id[STORE_ID_MAX])
{
	if (!st->ops->attestation_add)
		return -EOPNOTSUPP;
	return st->ops->attestation_add(st, a, ret_id);
}

int store_attestation_list(struct store *st, const char *measure, json_t **ret)
{
	if (!st->ops->attestation_list)
		return -EOPNOTSUPP;
	return st->ops->attestation_list(st, measure, ret);
}
