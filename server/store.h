/*
 * The store: every piece of state mamori-server keeps, behind one interface, so the server
 * is stateless and the backend is chosen by one setting ("sqlite:PATH", the default, or
 * "postgres://…"). No SQL exists outside store_*.c. Each operation below is one
 * transaction: it happens whole or not at all, and a failed operation leaves the store as
 * it was. All functions are safe to call from several threads at once.
 *
 * Identifiers are text: host ids are UUIDs (36 characters), token ids are short random
 * ids. Secrets (enrolment tokens, API tokens) are never stored: only their SHA-256, which
 * is enough because they are 256-bit random values. Times are Unix seconds (int64_t)
 * unless a name says _ms. Read operations return jansson values whose shapes are those of
 * the admin API (docs/api.md), so the API layer passes them through.
 *
 * Errors: -ENOENT (no such object), -EEXIST (it exists already), -ESTALE (a precondition
 * on current state failed: retry after re-reading), -EINVAL (bad argument), -ENOMEM, -EIO
 * (the database failed; logged by the backend with its message), -EBUSY (the database
 * stayed locked by another process past the backend's timeout: answer 503 and retry).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/checks.h"
#include "lib/macro.h"

#define STORE_ID_MAX     40 /* room for a UUID and its NUL */
#define STORE_JOBS_MAX   16 /* job locks one handle holds at once (store_job_try_lock) */
#define STORE_DIGEST_HEX 65 /* a SHA-256 in hex and its NUL */

struct store;

/*
 * Opens (creating and migrating as needed) the store named by url: "sqlite:PATH" or, when
 * built with PostgreSQL, "postgres://…" / "postgresql://…". Migrations are versioned and
 * applied in order inside a transaction; a database newer than this program is refused
 * with -EPROTO. On success *ret is the caller's, freed with store_free().
 * "sqlite:PATH?readers=N" sets the reader connections (default 4, 0..64); "?vfs=NAME" is
 * a test seam (tests/fault). "postgres://…?pool=N" sets the PostgreSQL connections
 * (default 4, 1..64); the URL's other parameters are libpq's. A backend this build lacks
 * gives -EPROTONOSUPPORT; a malformed URL -EINVAL; a database that cannot be reached
 * -EIO. All are logged.
 */
int store_open(const char *url, struct store **ret) _wur_;
struct store *store_free(struct store *st);
DEFINE_POINTER_CLEANUP(struct store, store_free)

/* The schema version the store is at. */
int store_schema_version(struct store *st, int *ret) _wur_;

/* ---- admin API tokens ---- */

/* Creates an API token with the SHA-256 `hash` of its secret, a display name and a role
 * ("admin", "auditor"). expires = 0 means never. *ret_id gets the token's id. */
int store_api_token_create(struct store *st, const uint8_t hash[32], const char *name,
			   const char *role, int64_t now, int64_t expires,
			   char ret_id[STORE_ID_MAX]) _wur_;
/* Finds a live (not revoked, not expired at `now`) API token by hash and records its use.
 * *ret = {"id", "name", "role"}. -ENOENT when there is none. */
int store_api_token_check(struct store *st, const uint8_t hash[32], int64_t now, json_t **ret)
	_wur_;
/* How many API tokens exist (revoked included): 0 means the server must bootstrap one. */
int store_api_token_count(struct store *st, size_t *ret) _wur_;

/* ---- enrolment tokens ---- */

struct store_enroll_token {
	uint8_t hash[32];    /* SHA-256 of the secret */
	const char *comment; /* may be NULL */
	const char *group;   /* hosts enrolled with it join this group; may be NULL */
	int64_t created;
	int64_t expires;        /* > created */
	unsigned max_uses;      /* >= 1 */
	const char *created_by; /* API token id or name of the admin */
};

int store_enroll_token_create(struct store *st, const struct store_enroll_token *t,
			      char ret_id[STORE_ID_MAX]) _wur_;
/* *ret = {"tokens": [{"id", "comment", "group", "created", "expires", "max_uses", "uses",
 * "revoked", "state": "active"|"expired"|"used"|"revoked", "uses_detail": [{"time",
 * "host_id", "remote"}]}]}, newest first; `now` decides the state. */
int store_enroll_token_list(struct store *st, int64_t now, json_t **ret) _wur_;
/* Revokes a token; -ENOENT when unknown. Revoking twice is not an error. */
int store_enroll_token_revoke(struct store *st, const char *id, int64_t now) _wur_;

/* ---- enrolment ---- */

enum store_token_verdict {
	STORE_TOKEN_OK,
	STORE_TOKEN_UNKNOWN,
	STORE_TOKEN_EXPIRED,
	STORE_TOKEN_USED,
	STORE_TOKEN_REVOKED,
};

/*
 * Issues the certificate for a new host, called by store_enroll() inside its transaction
 * with the serial number the store allocated (unique across every server sharing the
 * store). Returns 0 with *ret_cert_pem (the caller's, mm-allocated) or -errno, which
 * aborts the enrolment.
 */
typedef int (*store_sign_fn)(uint64_t serial, const char *host_id, void *userdata,
			     char **ret_cert_pem);

struct store_enroll_result {
	enum store_token_verdict verdict;
	char host_id[STORE_ID_MAX];
	uint64_t serial;
	char *cert_pem; /* the caller's (mm_free) when verdict is OK */
};

/*
 * Enrols a host with the token whose hash is given: checks the token at `now`; when it is
 * good, consumes one use, records it (time, host, remote address), creates the host with
 * `facts` (hostname, machine_id, os, agent_version — stored as given) in the token's
 * group, allocates a certificate serial, calls sign(), and stores the certificate with the
 * host. Returns 0 with ret->verdict saying whether the token was good (nothing is changed
 * when it was not), or -errno (nothing is changed).
 */
int store_enroll(struct store *st, const uint8_t token_hash[32], int64_t now, json_t *facts,
		 const char *remote, store_sign_fn sign, void *userdata,
		 struct store_enroll_result *ret) _wur_;

/* ---- agents' requests ---- */

struct store_host_auth {
	char host_id[STORE_ID_MAX];
	bool revoked; /* revoked or deleted: refuse */
};

/* Finds the host holding the certificate with this serial. -ENOENT when none does. */
int store_host_by_serial(struct store *st, uint64_t serial, struct store_host_auth *ret) _wur_;

struct store_checkin_result {
	char inventory_digest[STORE_DIGEST_HEX]; /* "" when the server holds no inventory */
	uint64_t acked_seq;                      /* highest event seq held, 0 for none */
	bool policy_changed; /* the state's policy versions differ from the last check-in's */
};

/* Records a check-in: last seen at `now`, from `remote`, and the agent's reported `state`
 * (agent_version, policy_version, spool figures — stored as given). `policy_changed` tells
 * the caller whether the members of the state the scorecard reads (policy_version and
 * usb_policy_version, for 管理者E-4) moved, so that a check-in that changes nothing else
 * re-scores nothing. */
int store_checkin(struct store *st, const char *host_id, int64_t now, const char *remote,
		  json_t *state, struct store_checkin_result *ret) _wur_;

/*
 * The host's current inventory document, rebuilt from its items, and its digest. An
 * empty object and "" when none was uploaded yet.
 */
int store_inventory_get(struct store *st, const char *host_id, json_t **ret_doc,
			char ret_digest[STORE_DIGEST_HEX]) _wur_;

/*
 * Applies an inventory delta (lib/invdiff.h format) to the host's stored items: each
 * added, changed and removed item is written and appended to the change history with
 * time `now`; unchanged items are not touched. Succeeds only if the host's digest is still
 * `base_digest` ("" for a host with none), else -ESTALE — so two uploads racing cannot
 * interleave. Then sets the host's digest to `new_digest` and its inventory time to `now`.
 * -EBADMSG when the delta does not fit the stored items. *ret_changes (optional) counts
 * the items written.
 */
int store_inventory_commit(struct store *st, const char *host_id, const char *base_digest,
			   const json_t *delta, const char *new_digest, int64_t now,
			   size_t *ret_changes) _wur_;

/* What storing a batch of events found (docs/protocol.md, "Event chain"). */
struct store_ingest_result {
	uint64_t acked_seq; /* the highest seq held for the host after the batch */
	size_t stored;      /* events new to the store (flagged ones included) */
	size_t duplicates;  /* already held, the same record: skipped */
	size_t altered;     /* stored, flagged: the record is not the one its hash was made for */
	size_t broken;      /* stored, flagged: its prev is not its predecessor's hash */
	size_t unchained;   /* stored, flagged: no chain fields */
	size_t conflicts;   /* a different record for a seq already held: kept as evidence only */
	size_t gaps;        /* gaps opened: sequence numbers skipped */
	uint64_t missing;   /* how many numbers they skipped */
	size_t explained;   /* numbers an eviction report explained */
};

/*
 * Stores a batch of events for a host: `events` is an array of objects {"seq": int >= 1,
 * "time": ms, "type": string, "data": object, "mono": ms, "prev": hex, "hash": hex, …}
 * and verifies the event chain on the way: every event's hash, its link to the event
 * before it (stored or in the batch), gaps in the numbering, and eviction reports that
 * explain gaps. Events are stored even when the chain does not hold — flagged, with the
 * evidence recorded (store_host_evidence) — because an investigator must see both what
 * arrived and that it was tampered with. A (host, seq) already held with the same record
 * is skipped, so a retried batch is stored once; a different record for it is not stored
 * but recorded as a conflict. One transaction. -EINVAL when an event is out of shape,
 * -E2BIG past LIMIT_EVENT_BATCH events, -ENOENT for an unknown host: nothing is stored.
 */
int store_events_ingest(struct store *st, const char *host_id, json_t *events, int64_t now,
			struct store_ingest_result *ret) _wur_;

/* store_events_ingest() for callers that need only the acknowledgement and the count. */
int store_events_append(struct store *st, const char *host_id, json_t *events, int64_t now,
			uint64_t *ret_acked, size_t *ret_stored) _wur_;

/* ---- administrators' reads and actions ---- */

struct store_host_query {
	const char *search; /* substring of hostname, id or serial number; NULL for all */
	const char *group;  /* NULL for all */
	const char *status; /* "active", "revoked" or NULL for all */
	const char *sort;   /* "hostname" (default), "last_seen", "enrolled" */
	bool descending;
	size_t limit; /* 1..1000 */
	size_t offset;
};

/* *ret = {"hosts": [{"id", "hostname", "group", "os", "agent_version", "enrolled",
 * "last_seen", "last_inventory", "revoked", "serial_number", "chassis"}], "total": N}. */
int store_hosts_list(struct store *st, const struct store_host_query *q, json_t **ret) _wur_;
/* One host with its enrolment facts, last check-in state and certificate, and the event
 * chain's evidence summary ("evidence": as in store_host_evidence). -ENOENT. */
int store_host_get(struct store *st, const char *host_id, json_t **ret) _wur_;
/* The host's software packages: {"packages": [...], "total": N}, filtered by a name
 * substring (NULL for all), sorted by name. */
int store_host_software(struct store *st, const char *host_id, const char *search, size_t limit,
			size_t offset, json_t **ret) _wur_;
/* The host's change history, newest first: {"changes": [{"id", "time", "section", "list",
 * "key", "op", "old", "new"}], "total": N}; only changes with time >= since. */
int store_host_history(struct store *st, const char *host_id, int64_t since, size_t limit,
		       size_t offset, json_t **ret) _wur_;
/* The host's events in sequence order: {"events": [...], "acked_seq": N}, seq > after, of
 * the given type only when type is not NULL. */
int store_host_events(struct store *st, const char *host_id, uint64_t after, const char *type,
		      size_t limit, json_t **ret) _wur_;
/* Revokes a host: its certificate is refused from now on. -ENOENT when unknown. */
int store_host_revoke(struct store *st, const char *host_id, int64_t now) _wur_;
/* Deletes a host and everything stored for it. Its certificate is refused afterwards. */
int store_host_delete(struct store *st, const char *host_id, int64_t now) _wur_;

/* ---- the event store: search, counts, evidence, retention, forwarding ---- */

/*
 * A search over every host's events. Results are ordered by event time, ties in arrival
 * order, newest first unless `ascending`; `cursor` (0 for the first page) is the `next`
 * value of the previous page, so paging is stable while events keep arriving.
 */
struct store_event_query {
	const char *host_id; /* NULL: every host */
	const char *user;    /* exact user name (data.user); NULL: any */
	const char *type;    /* exact event type; NULL: any */
	const char *text;    /* substring of the event's strings (case-insensitive); NULL */
	int64_t from_ms;     /* event time >= from_ms */
	int64_t to_ms;       /* event time < to_ms; 0: no bound */
	int64_t cursor;
	bool ascending;
	size_t limit; /* 1..1000 */
};

/*
 * *ret = {"events": [{"host_id", "hostname", "seq", "time", "mono", "type", "user", "data",
 * "received", "chain", "hash", "prev", …extra}], "next": N or null}. -ENOENT for an unknown
 * host_id, -EINVAL for a bad query.
 */
int store_events_search(struct store *st, const struct store_event_query *q, json_t **ret) _wur_;

/*
 * Counts of the events matching q (cursor, ascending and limit ignored), grouped by one or
 * two of "type", "host", "user", "hour", "day" (by2 may be NULL): *ret = {"by": [...],
 * "buckets": [{KEY: value, …, "count": N}], "total": N}; hour and day are the bucket's
 * start in Unix ms (UTC). At most STORE_COUNTS_MAX buckets (-E2BIG past it).
 */
#define STORE_COUNTS_MAX 10000u
int store_events_counts(struct store *st, const struct store_event_query *q, const char *by1,
			const char *by2, json_t **ret) _wur_;

/*
 * The event chain's evidence for a host: *ret = {"gaps": [{"first_seq", "last_seq", "count",
 * "reason": "missing"|"evicted", "report_seq", "detected"}], "breaks": [{"kind",
 * "first_seq", "last_seq", "detected", "detail"}], "summary": {"gaps", "missing", "evicted",
 * "breaks", "flagged"}}, in sequence order, at most `limit` (1..1000) of each. -ENOENT.
 */
int store_host_evidence(struct store *st, const char *host_id, size_t limit, json_t **ret) _wur_;

/*
 * Deletes at most `max` events older than before_ms, oldest first, in one short
 * transaction: of type `type`, or when type is NULL of every type not named in `except`
 * (an array of strings, may be NULL). *io_key is where the previous call stopped (0 to
 * start); it moves on so a run never rescans what it kept. *ret_deleted counts the events
 * deleted. Returns 1 when there may be more (call again with *io_key), 0 when done.
 */
int store_events_purge(struct store *st, const char *type, json_t *except, int64_t before_ms,
		       int64_t *io_key, size_t max, size_t *ret_deleted) _wur_;

/*
 * Events in the order they were stored (each with "rx", its position), after position
 * `after`, at most limit (1..1000): *ret = {"events": [...]} shaped as in the search.
 * store_events_position() gives the position of the last event stored (0 for none).
 */
int store_events_since(struct store *st, int64_t after, size_t limit, json_t **ret) _wur_;
int store_events_position(struct store *st, int64_t *ret) _wur_;

/* Durable named positions (the SIEM forwarder's). -ENOENT before the first set. */
int store_cursor_get(struct store *st, const char *name, int64_t *ret) _wur_;
int store_cursor_set(struct store *st, const char *name, int64_t position, int64_t now) _wur_;

/* ---- audit trail ---- */

/*
 * Appends an admin action to the audit trail: who (token id or user), what ("host.revoke"),
 * on what (an id), details (object, may be NULL), from where. Each record carries the
 * SHA-256 of the previous one, so removing or altering a record is detectable.
 */
int store_audit_append(struct store *st, int64_t now, const char *actor, const char *action,
		       const char *target, json_t *details, const char *remote) _wur_;
/* {"records": [...], "total": N, "chain_ok": bool}, newest first. */
int store_audit_list(struct store *st, size_t limit, size_t offset, json_t **ret) _wur_;

/* ---- maintenance, jobs and migration ---- */

/*
 * Prepares the store for the time ahead of `now`: with PostgreSQL, creates the event
 * partitions of this month and the next, so no ingestion pays for it (events_append
 * creates a missing one itself, so calling this is an optimisation, not a duty). SQLite
 * has nothing to do. Meant for an hourly background job.
 */
int store_maintain(struct store *st, int64_t now) _wur_;

/*
 * Takes the lock of background job `name` (1..64 of [a-z0-9._-]) if nobody holds it:
 * *ret_held = true when this handle now holds it, false when another holder (another
 * mamori-server sharing the database, or this handle already) does. With PostgreSQL it is
 * a session advisory lock on a connection of its own, held until store_job_unlock(), the
 * handle is freed, or the process dies (the session ends), so a crashed server never
 * blocks the job for long. With SQLite, which one server at a time uses, it is always
 * granted unless this handle holds it. -EINVAL for a bad name, -E2BIG past
 * STORE_JOBS_MAX locks held at once, -EIO when the database cannot be reached.
 */
int store_job_try_lock(struct store *st, const char *name, bool *ret_held) _wur_;
/* Releases a job lock this handle holds; -ENOENT when it holds none of that name. */
int store_job_unlock(struct store *st, const char *name) _wur_;

/*
 * Copies everything `from` holds into `to` (both open, any backends): API and enrolment
 * tokens, certificate serials, hosts and tombstones, token uses, inventory items, their
 * history, the software view, events and the audit chain, exactly (ids, times, hashes).
 * One read snapshot of `from`, one transaction on `to`: the copy happens whole or not at
 * all. Before committing it reads `to` back and compares the row count of every table and
 * a digest of every host's rows; a difference aborts it (-EIO, logged M4030).
 * `to` must be empty (-ENOTEMPTY otherwise) unless `force`, which empties it first.
 * *ret_report (optional) = {"tables": {NAME: rows}, "hosts": {ID: digest}}.
 */
int store_copy(struct store *from, struct store *to, bool force, json_t **ret_report) _wur_;

/* ---- USB control: policies, the device registry, temporary grants ---- */

/*
 * A policy version to store. The caller has checked everything: the scope's form, the
 * rules with usb_policy_parse() (the store never sees an invalid policy), the tags.
 */
struct store_policy {
	const char *scope;      /* "all", "group:NAME" or "host:ID" */
	const char *rules;      /* the rule text (docs/usb-rules.md) */
	json_t *tags;           /* array of the registry tags the rules name */
	size_t rule_count;      /* for listings */
	const char *comment;    /* may be NULL */
	int64_t created;        /* Unix seconds */
	const char *created_by; /* "token:ID" */
};

/*
 * Stores a new policy version for p->scope and gives its version number: versions are
 * one sequence over every scope, so a larger number is always a later change. Versions
 * are never changed or deleted afterwards. -ENOENT when the scope names a host that does
 * not exist (or was deleted).
 */
int store_policy_create(struct store *st, const struct store_policy *p, int64_t *ret_version) _wur_;
/*
 * The policies: *ret = {"current": [{"scope", "version", "created", "created_by",
 * "comment", "rule_count"}] — the latest version of each scope, "all" first, then groups
 * and hosts by name — "history": [the same members], newest first, of `scope` only when
 * not NULL, paged by limit (1..1000) and offset, "total": versions in the history}.
 */
int store_policy_list(struct store *st, const char *scope, size_t limit, size_t offset,
		      json_t **ret) _wur_;
/* One version: the list's members and "rules", "tags", "current" (no later version of its
 * scope exists), "superseded_by" (the next version of its scope, or null). -ENOENT. */
int store_policy_get(struct store *st, int64_t version, json_t **ret) _wur_;
/*
 * Everything the USB policy of a host depends on at `now`, read in one transaction:
 * *ret = {"host_id", "hostname", "group",
 *   "candidates": [{"scope", "version"}] — the latest version of the host's own scope,
 *                 its group's and "all", those that exist, most specific first,
 *   "policy": the first candidate with "rules" and "tags" (the members of
 *             store_policy_get()), or null when none exists,
 *   "tag_revisions": {tag: revision} — for each tag the policy names, a number that
 *             changes whenever a device carrying it (before or after) is registered,
 *             replaced or removed; 0 for a tag never used,
 *   "registry": [{"serial", "vendor", "product", "tags"}] — the registered devices with a
 *               tag the policy names, with only those tags, sorted by serial; only when
 *               `registry` (it can be large: the revisions tell whether it changed),
 *   "grants": [{"id", "serial", "host_id" | "user", "expires"}] — grants live at now (not
 *             revoked, not expired) for this host or for any user, sorted by id}.
 * -ENOENT for an unknown host.
 */
int store_policy_inputs(struct store *st, const char *host_id, int64_t now, bool registry,
			json_t **ret) _wur_;

/* A registered device (管理デバイス), as the caller has checked it. */
struct store_device {
	const char *serial;
	int vendor;        /* USB vendor id 0..0xffff, -1 when not given */
	int product;       /* USB product id, -1 when not given */
	const char *owner; /* who it was issued to */
	const char *note;  /* may be NULL */
	json_t *tags;      /* array of strings, each once; may be empty */
};

/*
 * Registers devices, replacing what is registered under the same serials (their
 * creation time stays): one device added by hand or a whole CSV import, in one
 * transaction, so an import is stored whole or not at all. *ret_created and *ret_updated
 * (both optional) count the new and the replaced ones. -EINVAL for a serial given twice.
 */
int store_devices_put(struct store *st, const struct store_device *devs, size_t n, int64_t now,
		      const char *actor, size_t *ret_created, size_t *ret_updated) _wur_;
/* Unregisters a device. -ENOENT when the serial is not registered. */
int store_device_delete(struct store *st, const char *serial) _wur_;

struct store_device_query {
	const char *serial; /* exactly this serial; NULL for all */
	const char *tag;    /* devices with this tag; NULL for all */
	const char *search; /* substring of serial, owner or note; NULL for all */
	size_t limit;       /* 0: all of them (the CSV export), else 1..1000 */
	size_t offset;
};

/* *ret = {"devices": [{"serial", "vendor", "product", "owner", "note", "tags", "created",
 * "updated", "updated_by"}], "total": N}, sorted by serial; vendor and product are 4
 * lower-case hex digits or null. */
int store_devices_list(struct store *st, const struct store_device_query *q, json_t **ret) _wur_;

/* A temporary exception (一時利用許可): a device, by serial, for one host or one user. */
struct store_grant {
	const char *serial;
	const char *host_id; /* exactly one of host_id and user */
	const char *user;
	const char *reason;
	int64_t created;
	int64_t expires; /* > created */
	const char *created_by;
};

/* Stores a grant and gives its id ("gr_" and 16 hex digits). -ENOENT for an unknown host. */
int store_grant_create(struct store *st, const struct store_grant *g, char ret_id[STORE_ID_MAX])
	_wur_;
/*
 * *ret = {"grants": [{"id", "serial", "host_id", "hostname", "user", "reason", "created",
 * "expires", "created_by", "revoked", "revoked_by", "state": "active"|"expired"|"revoked"}],
 * "total": N}, newest first, paged by limit (1..1000) and offset; only the grants active at
 * `now` unless `all`.
 */
int store_grants_list(struct store *st, int64_t now, bool all, size_t limit, size_t offset,
		      json_t **ret) _wur_;
/* Revokes a grant at now; revoking twice is not an error. -ENOENT for an unknown id. */
int store_grant_revoke(struct store *st, const char *id, int64_t now, const char *actor) _wur_;
/* ---- collection profiles (docs/events.md, "Collection profiles") ---- */

/*
 * A collection profile version to store. The caller has checked the profile with
 * collection_parse() (lib/collection.h): the store never sees one an agent would refuse.
 */
struct store_collection {
	const char *scope;      /* "all", "group:NAME" or "host:ID" */
	json_t *profile;        /* the policy's "collection" object, as the agent takes it */
	const char *name;       /* the profile it starts from: "minimal", "standard", "detailed" */
	const char *comment;    /* may be NULL */
	int64_t created;        /* Unix seconds */
	const char *created_by; /* "token:ID" */
};

/*
 * Stores a new collection profile version for p->scope and gives its version number: one
 * sequence over every scope (apart from USB policies'), never changed or deleted
 * afterwards. -ENOENT when the scope names a host that does not exist (or was deleted).
 */
int store_collection_create(struct store *st, const struct store_collection *p,
			    int64_t *ret_version) _wur_;
/*
 * The profiles: *ret = {"current": [{"scope", "version", "name", "created", "created_by",
 * "comment"}] — the latest version of each scope, "all" first, then groups and hosts by
 * name — "history": [the same], newest first, of `scope` only when not NULL, paged by limit
 * (1..1000) and offset, "total": versions in the history}.
 */
int store_collection_list(struct store *st, const char *scope, size_t limit, size_t offset,
			  json_t **ret) _wur_;
/* One version: the list's members and "profile" (the object), "current" (no later
 * version of its scope exists), "superseded_by" (the next version of its scope, or null).
 * -ENOENT. */
int store_collection_get(struct store *st, int64_t version, json_t **ret) _wur_;
/*
 * Which profile is in force for a host, read in one transaction from the scopes' indexes:
 * *ret = {"host_id", "hostname", "group",
 *   "candidates": [{"scope", "version"}] — the latest version of the host's own scope, its
 *                 group's and "all", those that exist, most specific first (the first is
 *                 in force),
 *   "profile": store_collection_get()'s answer for the first candidate, or null when none
 *              exists; only when `full` (a check-in compares versions first)}.
 * -ENOENT for an unknown host.
 */
int store_collection_inputs(struct store *st, const char *host_id, bool full, json_t **ret) _wur_;

/* ---- compliance: the guideline scorecard (server/compliance.c, docs/internals/store.md) ---- */

/* Sets (or with NULL clears) the person responsible for a host. -ENOENT when unknown. */
int store_host_set_owner(struct store *st, const char *host_id, const char *owner) _wur_;

/* What the checks need of one host (lib/checks.h). */
struct store_compliance_host {
	char host_id[STORE_ID_MAX];
	json_t *doc;            /* the inventory items asked for, as a partial document */
	int64_t last_inventory; /* Unix seconds of the last inventory commit; -1: none */
	char *owner;            /* NULL: nobody assigned */
	int64_t policy_version; /* from the last check-in's state; -1: not reported */
	json_t *events;         /* the event summary (checks_events_summarise); {} when none */
};
void store_compliance_host_done(struct store_compliance_host *h);

/*
 * Loads one host for evaluation: its inventory items named in `items` (lib/checks.h: ended
 * by an item whose section is NULL; each value without the members at its `drop` paths),
 * its owner, last
 * inventory time, reported policy version and event summary. -ENOENT when the host is
 * unknown, deleted or revoked (revoked hosts are not scored). On success ret is the
 * caller's: store_compliance_host_done().
 */
int store_compliance_host_get(struct store *st, const char *host_id,
			      const struct checks_item *items, struct store_compliance_host *ret)
	_wur_;

/* Called for each host of a scan; h is valid during the call only. A negative return
 * stops the scan and is what store_compliance_scan() returns. */
typedef int (*store_compliance_scan_fn)(const struct store_compliance_host *h, void *userdata);
/*
 * Calls fn for up to `limit` live, unrevoked hosts whose id sorts after `after` (NULL or ""
 * for the first), in id order, from one snapshot. *ret_count (optional) gets how many were
 * visited: fewer than limit means the scan reached the end. Paging lets the caller write
 * each page's results between reads.
 */
int store_compliance_scan(struct store *st, const struct checks_item *items, const char *after,
			  size_t limit, store_compliance_scan_fn fn, void *userdata,
			  size_t *ret_count) _wur_;

/* One measure's result for one host. Strings are borrowed. */
struct store_compliance_row {
	const char *measure, *category, *role;
	const char *status;   /* "met", "not_met", "unknown", "not_applicable" */
	const char *evidence; /* compact JSON text: the same evidence always gives the same text */
};
/* The complete set of results of one host: measures without a row here are dropped. */
struct store_compliance_result {
	const char *host_id;
	const struct store_compliance_row *rows;
	size_t n;
};

/*
 * Stores the results of n hosts in one transaction. Only rows whose status, evidence,
 * category or role differ from what is stored are written (a row keeps the time its
 * status began: "since"); rows of measures missing from a host's set are deleted. The
 * roll-ups (per organisation, category, role and measure: counts of each status) move by
 * the same deltas; every change of a stored row's status (not a first evaluation, not a
 * row dropped with its measure) is appended to the history at `now`; when anything
 * changed, the snapshot of the roll-ups for the day of `now` (UTC) is refreshed. Hosts
 * that are unknown, deleted or revoked are skipped. *ret_changed (optional) counts the
 * rows written or deleted. -EINVAL for a row that is not well-formed or a measure given twice
 * for one host; nothing is stored.
 */
int store_compliance_apply(struct store *st, const struct store_compliance_result *hosts, size_t n,
			   int64_t now, size_t *ret_changed) _wur_;

/* Folds an event batch into the host's event summary (lib/checks.h), in one transaction
 * with reading it, so concurrent batches of one host do not lose counts; and, when the
 * store verifies the event chain, replaces the summary's chain findings with the host's
 * gaps and breaks as they stand (checks_events_chain(): the rows detected within
 * CHECKS_EVENT_DAYS days, newest first), which J-5 is decided from. Called after the
 * batch's ingestion. -ENOENT. */
int store_compliance_events(struct store *st, const char *host_id, const json_t *events,
			    int64_t now) _wur_;

struct store_compliance_query {
	const char *host_id; /* NULL: every host */
	const char *measure; /* NULL: every measure */
	const char *status;  /* NULL: every status */
	size_t limit;        /* 1..10000 */
	size_t offset;
};
/* Stored results: {"results": [{"host_id", "hostname", "owner", "measure", "category",
 * "role", "status", "evidence" (object), "since"}], "total": N}, by hostname, then
 * measure. */
int store_compliance_results(struct store *st, const struct store_compliance_query *q, json_t **ret)
	_wur_;

/* The roll-ups: {"hosts": N (scored hosts), "organisation": COUNTS, "category": {ID:
 * COUNTS}, "role": {ID: COUNTS}, "measure": {ID: COUNTS}}, COUNTS = {"met", "not_met",
 * "unknown", "not_applicable"}. */
int store_compliance_rollups(struct store *st, json_t **ret) _wur_;

/* The history from day `since_day` (Unix days, UTC) on: {"days": [{"day", "organisation":
 * COUNTS, "category": {…}, "role": {…}, "measure": {…}}], "changes": [{"day", "total",
 * "to_met", "to_not_met", "to_unknown", "to_not_applicable"}]}, oldest first. */
int store_compliance_history(struct store *st, int64_t since_day, json_t **ret) _wur_;

/* ---- attestations: the evidence for manual measures ---- */

struct store_attestation {
	const char *measure;
	const char *status; /* "met", "not_met", "not_applicable" */
	const char *evidence;
	const char *link; /* may be NULL */
	const char *owner;
	int64_t date;         /* when the measure was checked (Unix seconds) */
	unsigned review_days; /* >= 1 */
	int64_t created;
	const char *created_by;
};

/* Records an attestation (they are never changed, only superseded by newer ones). */
int store_attestation_add(struct store *st, const struct store_attestation *a,
			  char ret_id[STORE_ID_MAX]) _wur_;
/* {"attestations": [{"id", "measure", "status", "evidence", "link", "owner", "date",
 * "review_days", "created", "created_by"}]}, for one measure or all (NULL), by measure
 * then newest date first. */
int store_attestation_list(struct store *st, const char *measure, json_t **ret) _wur_;
