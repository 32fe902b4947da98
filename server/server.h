/*
 * mamori-server's private header: the configuration (config.c), the built-in certificate
 * authority (ca.c), API tokens (auth.c), the HTTP layer (http.c), the agent API
 * (api_agent.c, ingest.c) and the admin API (api_hosts.c, api_tokens.c). The store is
 * reached only through server/store.h.
 *
 * Threads: libmicrohttpd runs the handlers on its own worker threads, several at once.
 * struct server is shared by all of them and read-only after startup except for its atomic
 * counters; everything else a handler touches belongs to its request.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>
#include <jansson.h>

#include "lib/buf.h"
#include "lib/diag.h"
#include "lib/jsonw.h"
#include "lib/macro.h"
#include "server/store.h"

/* ---- config.c: the configuration file and its defaults ---- */

#define CONFIG_NAMES_MAX     32 /* names in the server certificate */
#define CONFIG_CATALOGS_MAX  16 /* catalogue override files */
#define CONFIG_RETENTION_MAX 64 /* event types with their own retention */

/* How long events of one type are kept: retention.TYPE = DURATION (0: forever). */
struct config_retention {
	char *type;
	int64_t seconds;
};

struct config {
	char *state_dir;               /* CA, keys, the bootstrap token and the default store */
	char *agent_listen;            /* HOST:PORT of the agent API */
	char *api_listen;              /* HOST:PORT of the admin API */
	char *store_url;               /* NULL: "sqlite:STATE_DIR/store.db" */
	char *names[CONFIG_NAMES_MAX]; /* subject alternative names of the server cert */
	size_t n_names;                /* 0: localhost, 127.0.0.1, ::1 and the hostname */
	char *catalogs[CONFIG_CATALOGS_MAX]; /* catalogue override files, after the built-in */
	size_t n_catalogs;
	int log_level;
	unsigned threads;            /* threads (and sockets) per listener, 1..64 */
	unsigned max_connections;    /* per listener */
	unsigned connection_timeout; /* seconds of inactivity before a connection is closed */
	unsigned agent_max_inflight; /* agent requests served at once; more get 503 */
	unsigned retry_after;        /* seconds, in the 503's Retry-After */
	unsigned shutdown_timeout;   /* seconds to let requests finish on SIGTERM */
	unsigned checkin_interval;   /* seconds, told to agents */
	unsigned inventory_interval; /* seconds, told to agents */
	unsigned job_retry_interval; /* seconds between tries for a job another server runs */
	unsigned maintain_interval;  /* seconds between runs of the store_maintain job */

	/* retention of events (retention.c): retention.default and retention.TYPE */
	int64_t retention_default; /* seconds; 0: forever */
	struct config_retention retention[CONFIG_RETENTION_MAX];
	size_t n_retention;
	unsigned retention_interval; /* seconds between purge runs */

	/* forwarding events to a SIEM (siem.c); siem_target NULL: none */
	char *siem_target;      /* HOST:PORT of a syslog receiver over TLS (RFC 5425) */
	char *siem_ca;          /* PEM file of the CA the receiver's certificate must chain to */
	char *siem_name;        /* the name its certificate must carry; NULL: the target's host */
	bool siem_from_start;   /* a first start forwards every stored event, not only new ones */
	unsigned siem_interval; /* seconds between looks for new events */
};

/* Fills c with the defaults (docs/server.md); config_done() frees what it holds. */
int config_init(struct config *c) _wur_;
void config_done(struct config *c);

/*
 * Sets one setting from its text form, as the file and the flags give it: "state_dir",
 * "agent_listen", "api_listen", "store", "name" (appends), "catalog" (appends), "log_level",
 * "threads",
 * "max_connections", "connection_timeout", "agent_max_inflight", "retry_after",
 * "shutdown_timeout", "checkin_interval", "inventory_interval", "job_retry_interval",
 * "maintain_interval", "retention_interval", "siem_target", "siem_ca", "siem_name",
 * "siem_start", "siem_interval", and "retention.default" / "retention.TYPE" (a duration or
 * "forever"). -ENOENT for an unknown key, -EINVAL for a bad value, -E2BIG for too many
 * names or retention types, -EEXIST for a retention type set twice, -ENOMEM; errbuf says
 * why.
 */
int config_set(struct config *c, const char *key, const char *value, char *errbuf, size_t errlen)
	_wur_;
/* The retention of events of `type`: its own setting or the default (seconds, 0: forever). */
int64_t config_retention_of(const struct config *c, const char *type);

/* Forgets the names, so command-line --name flags replace those of the file. */
void config_clear_names(struct config *c);

/*
 * Parses a configuration text: lines "key = value", blank lines and lines starting with
 * '#'. Every error is recorded in d with file:line, the whole text is read, and then
 * -EINVAL is returned when there was any; settings before and after an error still apply.
 */
int config_parse(struct config *c, const char *text, size_t len, const char *file, struct diag *d)
	_wur_;
/* Reads and parses a configuration file (at most LIMIT_CONFIG_FILE bytes). */
int config_load(struct config *c, const char *path, struct diag *d) _wur_;

/* Parses "HOST:PORT", "[V6]:PORT" or "*:PORT" (numeric hosts, "localhost" and "*"). */
int config_parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) _wur_;
/* Parses a duration: "90", "90s", "15m", "24h", "7d" → seconds in [min, max]. */
int config_parse_duration(const char *s, int64_t min, int64_t max, int64_t *ret) _wur_;

/* ---- ca.c: the built-in certificate authority ---- */

struct ca;

/*
 * Loads the CA and the server certificate from state_dir, creating what is missing: an
 * ECDSA P-256 CA (ca.key, ca.crt) and a server key and certificate for `names` signed by it
 * (reissued when the names changed or it expires within 30 days). Refuses (-EPERM) key
 * files readable by group or others or owned by another user. errbuf says what failed.
 */
int ca_open(const char *state_dir, const char *const *names, size_t n_names, int64_t now,
	    struct ca **ret, char *errbuf, size_t errlen) _wur_;
struct ca *ca_free(struct ca *ca);
DEFINE_POINTER_CLEANUP(struct ca, ca_free)

const char *ca_cert_pem(const struct ca *ca);
const char *ca_server_cert_pem(const struct ca *ca); /* the server cert, then the CA */
const char *ca_server_key_pem(const struct ca *ca);
/* The CA certificate's SHA-256 fingerprint, lower-case hex with colons. */
const char *ca_fingerprint(const struct ca *ca);

/*
 * Refuses a secret file that is not a regular file owned by the effective user with no
 * group or other permission bits (OpenSMTPD's check_file_secrecy). -EPERM with errbuf
 * saying which; -errno when it cannot be examined.
 */
int ca_check_secrecy(const char *path, char *errbuf, size_t errlen) _wur_;

/*
 * Checks an agent's certificate request: PEM, one request, a valid self-signature, an
 * acceptable key (ECDSA P-256/384/521, Ed25519 or RSA of 2048 bits or more). -EBADMSG with
 * errbuf saying what is wrong.
 */
int ca_csr_check(const char *csr_pem, char *errbuf, size_t errlen) _wur_;

/*
 * Issues a client certificate for the public key of csr_pem (checked with
 * ca_csr_check()): subject CN=host_id, serial number `serial`, valid for one year from
 * `now`, keyUsage digitalSignature, extKeyUsage clientAuth. Nothing else is taken from the
 * request. On success *ret_pem is the caller's (mm_free).
 */
int ca_sign_csr(struct ca *ca, const char *csr_pem, uint64_t serial, const char *host_id,
		int64_t now, char **ret_pem, char *errbuf, size_t errlen) _wur_;

/*
 * Verifies the client certificate of a TLS session against the CA (chain, validity,
 * extKeyUsage clientAuth) and returns its serial number. -ENOKEY when the client sent
 * none, -EPERM (errbuf says why) when it does not verify.
 */
int ca_peer_serial(gnutls_session_t session, uint64_t *ret_serial, char *errbuf, size_t errlen)
	_wur_;

/* ---- the server ---- */

struct compliance;

struct server {
	struct config *cfg;
	struct store *store;
	struct compliance *compliance; /* the guideline scorecard (server/compliance.h) */
	struct ca *ca;
	atomic_uint inflight;       /* requests between their headers and their completion */
	atomic_uint agent_inflight; /* of which on the agent listener */
};

/* ---- jobs.c: background jobs, each on one server of those sharing a store ---- */

struct jobs;

/*
 * Starts the job runner: one thread that, every cfg->job_retry_interval seconds (and at
 * once), tries to take the store's lock of each job it does not hold yet
 * (store_job_try_lock) and runs each job it holds when its interval has passed since its
 * last run here (at once when just taken). The jobs: "maintain" (store_maintain, every
 * cfg->maintain_interval) and "retention" (retention_run, every cfg->retention_interval);
 * with cfg->siem_target, the SIEM forwarder on a thread of its own under the lock "siem"
 * (siem_forward, every cfg->siem_interval). A lock once taken is kept until jobs_stop(),
 * so a job stays on one server and moves only when that server stops or dies. Returns
 * -errno when a thread or its timer cannot be made, -EINVAL when siem_ca cannot be loaded
 * (logged, M4215).
 */
int jobs_start(struct server *srv, struct jobs **ret) _wur_;
/* Stops the thread (waiting for a job in progress), releases the locks and frees. NULL is
 * fine. */
struct jobs *jobs_stop(struct jobs *j);

/* ---- http.c: libmicrohttpd, routing, bodies, errors ---- */

enum http_api {
	HTTP_API_AGENT,
	HTTP_API_ADMIN,
};

struct http_request;
typedef int (*http_handler_fn)(struct http_request *req);

enum {
	HTTP_CERT = 1 << 0,  /* agent call: needs a verified client certificate */
	HTTP_WRITE = 1 << 1, /* admin call that changes something: needs role admin */
};

struct http_route {
	const char *method;
	const char *path; /* segments; "{id}" matches one segment, kept in req->param */
	http_handler_fn fn;
	unsigned flags;
};

struct MHD_Connection;
struct z_stream_s;

struct http_request {
	struct server *srv;
	struct MHD_Connection *conn;
	enum http_api api;
	const struct http_route *route;
	char method[16];
	char path[256];             /* for the log; truncated */
	char param[STORE_ID_MAX];   /* the {id} segment, when the route has one */
	char remote[64];            /* the client's address, numeric */
	int64_t now;                /* Unix seconds when the request arrived */
	char host_id[STORE_ID_MAX]; /* agent calls: the host of the client certificate */
	json_t *actor;              /* admin calls: {"id", "name", "role"} of the API token */

	/* the body */
	struct buf body;
	struct z_stream_s *zs; /* when Content-Encoding is gzip */
	bool zs_done;
	size_t raw_len; /* bytes received, before inflating */
	json_t *json;   /* parsed by http_body_json() */

	/* the outcome */
	bool replied; /* a response is queued */
	bool failed;  /* an error is recorded below and is what the client gets */
	unsigned status;
	const char *code;
	char message[512];
	json_t *error_extra; /* merged into the error body (http_fail_extra) */
	bool counted_agent;
};

/*
 * Starts the listener for `api` on addr ("HOST:PORT"; port 0 lets the kernel choose):
 * cfg->threads libmicrohttpd daemons with one epoll thread each on a SO_REUSEPORT group of
 * sockets, TLS with the CA's server certificate, cfg->max_connections in all and
 * cfg->connection_timeout. On the agent API client certificates are requested (not
 * required) and checked per request. *ret_bound gets the address actually bound. On
 * failure errbuf says why and nothing is left open.
 */
struct http_daemon;
int http_start(struct server *srv, enum http_api api, const char *addr, struct http_daemon **ret,
	       char *ret_bound, size_t boundlen, char *errbuf, size_t errlen) _wur_;
/* Stops accepting connections (new ones are refused); requests already received are still
 * answered. */
void http_quiesce(struct http_daemon *d);
/* Stops the listener, closing every connection, and frees it. NULL is fine. */
struct http_daemon *http_stop(struct http_daemon *d);

/*
 * Records why a request failed: err is a -errno that the table in http.c maps to a status
 * (and a default code when code is NULL); the message is for the client, in words. Returns
 * err, for `return http_fail(req, -EPERM, "token_expired", "…");`.
 */
int http_fail(struct http_request *req, int err, const char *code, const char *fmt, ...)
	_printf_(4, 5);
/* Records a failure from a jsonw error (-EBADMSG → 400 malformed, -E2BIG → 413 …). */
int http_fail_json(struct http_request *req, int err, const struct jsonw_error *jerr);
/* Records a store failure: the store's -errno mapped, with a generic message for -EIO. */
int http_fail_store(struct http_request *req, int err, const char *what);

/* Answers with a JSON body (taking the reference) and status. Returns 0 or -ENOMEM. */
int http_reply_json(struct http_request *req, unsigned status, json_t *body) _wur_;
/* Answers with a text body of the given content type (copied). */
int http_reply_text(struct http_request *req, unsigned status, const char *content_type,
		    const char *text) _wur_;

/*
 * Answers with a body produced piece by piece, so a large answer (an export) is never held
 * in memory whole. fn is called from libmicrohttpd's thread, after the handler returned,
 * to fill buf with at most max bytes: it returns how many it wrote, 0 at the end, or -errno
 * to cut the body short (the status and headers are sent already, so a failure then can
 * only close the connection: the client sees a body without its end). done(cls) runs when
 * the response is over, however it ended (also when this call fails). filename, when not
 * NULL, is sent as Content-Disposition: attachment.
 */
#define HTTP_STREAM_BLOCK ((size_t) 64 * 1024)
typedef ssize_t (*http_stream_fn)(void *cls, char *buf, size_t max);
int http_reply_stream(struct http_request *req, unsigned status, const char *content_type,
		      const char *filename, http_stream_fn fn, void *cls, void (*done)(void *cls))
	_wur_;

/* The request body parsed as JSON (the reference stays with req); a failure is recorded. */
int http_body_json(struct http_request *req, json_t **ret) _wur_;
/* A query parameter, or NULL. */
const char *http_query(struct http_request *req, const char *name);
/* A query parameter as an integer in [min, max]; def when absent; a failure is recorded. */
int http_query_int(struct http_request *req, const char *name, int64_t def, int64_t min,
		   int64_t max, int64_t *ret) _wur_;

/*
 * Records a failure whose answer carries more than words: `extra` (an object, taken) is
 * merged into the error body, e.g. {"errors": ["policy:3:7: …"]}. Returns err.
 */
int http_fail_extra(struct http_request *req, int err, const char *code, json_t *extra,
		    const char *fmt, ...) _printf_(5, 6);
/* A request header, or NULL. */
const char *http_header(struct http_request *req, const char *name);
/* The request body as text: NUL-free (a failure is recorded otherwise); may be empty. */
int http_body_text(struct http_request *req, const char **ret, size_t *ret_len) _wur_;

/* The routes of each API (api_agent.c, api_hosts.c, api_tokens.c, api_policies.c,
 * api_devices.c, api_grants.c, api_events.c, api_compliance.c, api_collection.c). */
extern const struct http_route api_agent_routes[];
extern const size_t api_agent_n_routes;
extern const struct http_route api_hosts_routes[];
extern const size_t api_hosts_n_routes;
extern const struct http_route api_tokens_routes[];
extern const size_t api_tokens_n_routes;
extern const struct http_route api_policies_routes[];
extern const size_t api_policies_n_routes;
extern const struct http_route api_collection_routes[];
extern const size_t api_collection_n_routes;
extern const struct http_route api_devices_routes[];
extern const size_t api_devices_n_routes;
extern const struct http_route api_grants_routes[];
extern const size_t api_grants_n_routes;
extern const struct http_route api_events_routes[];
extern const size_t api_events_n_routes;
extern const struct http_route api_compliance_routes[];
extern const size_t api_compliance_n_routes;

/* ---- auth.c: secrets and admin authentication ---- */

#define AUTH_ENROLL_PREFIX "mtk_"
#define AUTH_API_PREFIX    "mat_"
#define AUTH_SECRET_LEN    (4 + 52) /* prefix + 32 random bytes in base32 */

/* Makes a new secret "PREFIX" + base32 of 32 random bytes (NUL-terminated in ret, which
 * holds AUTH_SECRET_LEN + 1 bytes) and its SHA-256. */
int auth_secret_new(const char *prefix, char ret[AUTH_SECRET_LEN + 1], uint8_t ret_hash[32]) _wur_;
/* SHA-256 of a secret as given. */
void auth_secret_hash(const char *secret, uint8_t ret_hash[32]);
/* Whether s looks like a secret with the prefix (length and alphabet). */
bool auth_secret_wellformed(const char *s, const char *prefix);

/*
 * When the store holds no API token: makes an admin token, writes it to STATE/admin.token
 * (mode 0600) and prints it once on stdout. Returns 1 when it made one, 0 when not needed.
 */
int auth_bootstrap(struct server *srv) _wur_;
/* Authenticates an admin request by its "Authorization: Bearer mat_…" header: sets
 * req->actor, or records 401/403 and returns -EACCES/-EPERM. */
int auth_admin(struct http_request *req, const char *authorization) _wur_;
/* The actor of an admin request, for the audit trail ("token:ID"). */
const char *auth_actor_id(const struct http_request *req);
/* Appends the request's action to the audit trail; a failure is logged, not returned,
 * because the action itself has happened. */
void auth_audit(struct http_request *req, const char *action, const char *target, json_t *details);

/* ---- api_agent.c: validation of agents' bodies, callable without HTTP ---- */

struct api_agent_enroll {
	const char *token; /* borrowed from the body */
	const char *csr;
	json_t *facts; /* a new object with the known facts only: the caller's */
};

/* Validates an enrolment body. -EBADMSG with err naming the field. */
int api_agent_parse_enroll(json_t *body, struct api_agent_enroll *ret, struct jsonw_error *err)
	_wur_;

struct api_agent_checkin {
	const char *inventory_digest; /* "" when the agent holds none */
	const char *policy_version;   /* the USB policy document held; "" when none */
	json_t *state;                /* a new object with the known fields: the caller's */
};

int api_agent_parse_checkin(json_t *body, struct api_agent_checkin *ret, struct jsonw_error *err)
	_wur_;

struct api_agent_inventory {
	bool delta;
	const char *digest;      /* of the document after this upload */
	const char *base_digest; /* delta only */
	json_t *document;        /* full only; borrowed */
	json_t *changes;         /* delta only; borrowed */
};

int api_agent_parse_inventory(json_t *body, struct api_agent_inventory *ret,
			      struct jsonw_error *err) _wur_;

/* Validates an event batch; *ret_events is borrowed from body. -EBADMSG naming the index
 * and the field ("events[3].type: …"), -E2BIG for more than LIMIT_EVENT_BATCH events or
 * an event over LIMIT_EVENT_SIZE. */
int api_agent_parse_events(json_t *body, json_t **ret_events, struct jsonw_error *err) _wur_;

/* ---- retention.c: purging events past their retention ---- */

/*
 * One purge run at `now`: every event type with its own retention, then every other type
 * with the default, each in transactions of at most `batch` events, stopping early when
 * *stop becomes true. A run that deleted anything appends one "events.purge" record to the
 * audit trail. *ret_deleted counts what it deleted. -errno from the store (logged; what was
 * deleted before the failure is still audited).
 */
int retention_run(struct store *st, const struct config *cfg, int64_t now, size_t batch,
		  const atomic_bool *stop, size_t *ret_deleted) _wur_;

/* ---- siem.c: forwarding events to a SIEM over syslog/TLS ---- */

struct siem;

/* Prepares a forwarder from cfg's siem_* settings (loading siem_ca). errbuf says what is
 * wrong (-EINVAL). Nothing connects yet. */
int siem_new(const struct config *cfg, struct siem **ret, char *errbuf, size_t errlen) _wur_;
struct siem *siem_free(struct siem *s);
DEFINE_POINTER_CLEANUP(struct siem, siem_free)

/*
 * Forwards the events stored after the forwarder's cursor, connecting when needed, a batch
 * at a time, moving the cursor after each batch written. Returns 1 when more are waiting
 * (call again at once), 0 when caught up, -errno when the receiver or the store failed
 * (logged once per outage; the cursor stays, so nothing is skipped). *ret_sent counts.
 */
int siem_forward(struct siem *s, struct store *st, int64_t now, size_t *ret_sent) _wur_;

/* Appends one event (as the store lists it) to out as an RFC 5424 message with RFC 5425
 * octet counting: "LEN <PRI>1 TIME HOST mamori - TYPE - JSON". -E2BIG past 256 KiB. */
int siem_format(const json_t *event, struct buf *out) _wur_;

/* ---- ingest.c: storing inventories ---- */

/*
 * Stores an inventory upload for host_id: a full snapshot is diffed against what the
 * store holds and only the difference written; a delta must apply to the stored document
 * and produce the digest it announces. On refusal *ret_code is the protocol's code and
 * errbuf says why: -EBADMSG ("malformed": a full snapshot whose digest is not its own) or
 * -ESTALE ("inventory_base_mismatch": the delta's base is not the stored document or does
 * not apply to it; "inventory_digest_mismatch": the result has another digest). Store
 * errors as they come (*ret_code NULL). Nothing is stored on any failure.
 */
int ingest_inventory(struct store *st, const char *host_id, const struct api_agent_inventory *in,
		     int64_t now, char ret_digest[STORE_DIGEST_HEX], size_t *ret_changes,
		     const char **ret_code, char *errbuf, size_t errlen) _wur_;

/* ---- policy.c: USB policies, their scopes and the document an agent receives ---- */

/* Checks a scope: "all", "group:NAME" or "host:ID". -EINVAL with why. */
int policy_scope_check(const char *scope, char *why, size_t whylen) _wur_;
/*
 * Checks a policy text with the agent's own parser (usb_policy_parse), naming it `file` in
 * the diagnostics, which go to d (errors and warnings, with line and column). On success
 * *ret_tags is a new array of the registry tags the rules name and *ret_rules the number
 * of rules. -EINVAL when d holds errors, -E2BIG, -ENOMEM.
 */
int policy_check_text(const char *file, const char *text, struct diag *d, json_t **ret_tags,
		      size_t *ret_rules) _wur_;
/* A policy document version ("12-4f3a9c0b1d2e") and its NUL. */
#define POLICY_VERSION_MAX 64

/*
 * Builds the policy document (docs/usb-control.md) from store_policy_inputs()'s answer
 * read with the registry: a new object {"version", "policy_version", "scope",
 * "rules_text", "registry", "grants"}, or JSON null when no policy applies. -E2BIG when it
 * would be over what an agent accepts, -ENOMEM.
 */
int policy_document_build(json_t *inputs, json_t **ret_doc) _wur_;
/* The version of the document the inputs make (with or without the registry): the same
 * as policy_document_build()'s; "" when no policy applies. -E2BIG, -ENOMEM. */
int policy_version_build(json_t *inputs, char ret[POLICY_VERSION_MAX]) _wur_;
/* Reads the inputs for host_id at now, with the registry, and builds its document;
 * *ret_inputs (optional) gets the inputs. -ENOENT for an unknown host, -E2BIG (logged),
 * store errors. */
int policy_document(struct store *st, const char *host_id, int64_t now, json_t **ret_doc,
		    json_t **ret_inputs) _wur_;
/* The version of the whole policy host_id should hold at now (USB document and collection
 * profile, policy_combine_version(); "" when neither applies), without reading the
 * registry: what a check-in compares with the agent's. Errors as policy_document(). */
int policy_current(struct store *st, const char *host_id, int64_t now, char ret[POLICY_VERSION_MAX])
	_wur_;
/*
 * The whole policy's version from the USB document's ("" for none) and the version of the
 * collection profile in force (0 for none): the USB document's when no profile applies,
 * else "U.C-DIGEST12" (U the USB policy version or 0). -ENOMEM, -EIO.
 */
int policy_combine_version(const char *usb_version, int64_t collection_version,
			   char ret[POLICY_VERSION_MAX]) _wur_;
/*
 * The policy of a check-in answer for host_id at now: a new object {"version", "usb"?: the
 * USB document, "collection"?: the collection profile in force}, or JSON null when neither
 * applies. Errors as policy_document().
 */
int policy_answer(struct store *st, const char *host_id, int64_t now, json_t **ret) _wur_;
/*
 * The collection profile in force for host_id: *ret = {"host_id", "hostname", "group",
 * "candidates", "profile": the stored version in force or null, "effective": the settings
 * an agent applies (collection_to_json(); the standard profile when none applies), "why"}.
 * -ENOENT for an unknown host, store errors.
 */
int policy_collection_view(struct store *st, const char *host_id, json_t **ret) _wur_;
/* Why the inputs' policy applies, in words, as a new string (mm_free). -ENOMEM. */
int policy_why(json_t *inputs, char **ret) _wur_;
/*
 * What a host holds against what it should: *ret = {"in_force": the document version the
 * agent last reported (state's policy_version; null when it holds none), "effective": the
 * version it should hold ("" → null: no policy applies), "current": whether they are the
 * same, "reported": when the agent said so (state's time)}. -ENOMEM.
 */
int policy_status(const char *effective, json_t *state, json_t **ret) _wur_;

/* ---- registry.c: the device registry's fields and its CSV form ---- */

#define REGISTRY_SERIAL_MAX 126u  /* a USB serial string has at most 126 characters */
#define REGISTRY_OWNER_MAX  256u  /* bytes */
#define REGISTRY_NOTE_MAX   1024u /* bytes */
#define REGISTRY_TAG_MAX    64u   /* bytes */
#define REGISTRY_TAGS_MAX   32u   /* tags per device, as the agent accepts */

/* Whether s can be a registered serial: 1..REGISTRY_SERIAL_MAX bytes of clean text. */
bool registry_serial_ok(const char *s);
/* Whether s can be a tag: a word the rule language can name. */
bool registry_tag_ok(const char *s);
/*
 * Checks a device object {"serial", "vendor", "product", "owner", "tags", "note"} (vendor
 * and product as 4 hex digits; an unknown member is an error) and normalises it in place:
 * tags sorted, each once, [] when absent. On success *ret points into obj. On failure
 * -EINVAL with *ret_field naming the field and why saying what is wrong; -ENOMEM.
 */
int registry_device_check(json_t *obj, struct store_device *ret, const char **ret_field, char *why,
			  size_t whylen) _wur_;
/*
 * Parses a registry CSV (see registry.c) named `file` in diagnostics: every error goes to
 * d with its line and column. Returns 0 with *ret_devices a new array of device objects
 * checked with registry_device_check(), or -EINVAL (d holds the errors; nothing is
 * returned), -ENOMEM.
 */
int registry_csv_parse(const char *file, const char *text, size_t len, struct diag *d,
		       json_t **ret_devices) _wur_;
/* Formats devices (store_devices_list()'s "devices") as CSV with a header row, CRLF line
 * ends and a UTF-8 byte order mark when bom; *ret is a new string. -E2BIG past
 * LIMIT_CSV_EXPORT bytes, -ENOMEM. */
int registry_csv_format(json_t *devices, bool bom, char **ret) _wur_;

/* ---- api_policies.c: validation of the policy API's body, callable without HTTP ---- */

struct api_policies_create {
	const char *scope; /* borrowed from the body */
	const char *rules;
	const char *comment; /* NULL when absent */
	json_t *tags;        /* a new array: the caller's */
	size_t rule_count;
};

/*
 * Validates a POST /api/v1/policies body {scope, rules, comment, file}. A malformed body
 * is -EBADMSG with err naming the field; a policy text with errors is -EINVAL with every
 * error (and warning) in d, named `file` (default "policy"). Warnings of a good policy
 * are in d too.
 */
int api_policies_parse_create(json_t *body, struct api_policies_create *ret, struct diag *d,
			      struct jsonw_error *err) _wur_;

/* ---- api_collection.c: validation of the collection profile API's body ---- */

struct api_collection_create {
	const char *scope;   /* borrowed from the body */
	json_t *profile;     /* borrowed: the "collection" object */
	const char *comment; /* NULL when absent */
	char name[16];       /* the profile it starts from: "minimal", "standard", "detailed" */
};

/*
 * Validates a POST /api/v1/collection-profiles body {scope, profile, comment}. A malformed
 * body is -EBADMSG with err naming the field; a profile the agent would refuse is -EINVAL
 * with every error (and warning) in d, each message opening with the member's path.
 * Warnings of a good profile are in d too.
 */
int api_collection_parse_create(json_t *body, struct api_collection_create *ret, struct diag *d,
				struct jsonw_error *err) _wur_;
