/*
 * mamori-agent's daemon side: the state directory, the durable spool, the uplink to the
 * server, the scheduling arithmetic, privilege separation and enrolment (docs/agent.md,
 * docs/internals/spool.md, docs/internals/privsep.md).
 *
 * Why a second private header: STYLE.md wants one per program, but agent.h is the
 * collector interface that every collector branch edits; keeping the daemon's declarations
 * here keeps those merges trivial. agent.h stays the program's main header and this one
 * only adds to it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/agent.h"
#include "lib/buf.h"
#include "lib/diag.h"
#include "lib/jsonw.h"
#include "lib/macro.h"

/* ---- the state directory (state.c) ---- */

/* Files in the state directory (docs/agent.md, "State directory"). */
#define STATE_CONF    "agent.conf"
#define STATE_KEY     "agent.key"
#define STATE_CERT    "agent.crt"
#define STATE_CA      "ca.crt"
#define STATE_SPOOL   "spool.db"
#define STATE_STATUS  "status.json"
#define STATE_ACKED   "inventory.acked.json"
#define STATE_CONTROL "control.sock"

#define AGENT_SPOOL_MAX_DEFAULT  ((uint64_t) 256 * 1024 * 1024)
#define AGENT_SPOOL_MAX_MIN      ((uint64_t) 16 * 1024)
#define AGENT_SPOOL_MAX_MAX      ((uint64_t) 64 * 1024 * 1024 * 1024)
#define AGENT_DRAIN_RATE_DEFAULT 2u /* upload batches per second at most */
#define AGENT_DRAIN_RATE_MAX     1000u

/* agent.conf, written by `enroll`, read by every other verb. */
struct agent_conf {
	char *server;         /* "https://host:port", no trailing slash */
	char *host_id;        /* as the server assigned it */
	char *ca_fingerprint; /* SHA-256 of the pinned CA, 64 lower-case hex digits */
	uint64_t spool_max;   /* bytes; AGENT_SPOOL_MAX_DEFAULT unless set */
	unsigned drain_rate;  /* batches per second; AGENT_DRAIN_RATE_DEFAULT unless set */
	int log_level;        /* syslog level; LOG_INFO unless set */
};

void state_conf_done(struct agent_conf *c);

/*
 * Parses agent.conf text (modified in place): "key = value" lines, '#' comments. Every
 * error (unknown or repeated key, bad value, missing server or host_id) is recorded in d
 * with file:line, all in one pass. Returns 0 and fills *ret (the caller's, released with
 * state_conf_done()), or -EINVAL when d holds errors, or -ENOMEM.
 */
int state_conf_parse(char *text, const char *file, struct agent_conf *ret, struct diag *d) _wur_;

/* Reads and parses DIR/agent.conf, printing its errors to stderr. -ENOENT when the
 * directory is not enrolled. */
int state_conf_load(const char *dir, struct agent_conf *ret) _wur_;

/* Writes c as agent.conf text into a new string. */
int state_conf_format(const struct agent_conf *c, char **ret) _wur_;

/* "256M", "64K", "1G" or a plain number of bytes. -EINVAL or -ERANGE otherwise. */
int state_size_parse(const char *s, uint64_t *ret) _wur_;

/* DIR/NAME as a new string; NULL on allocation failure. */
char *state_path(const char *dir, const char *name);

/*
 * Replaces DIR/NAME with data atomically: a temporary file in DIR (mode `mode`), then
 * rename. With `durable`, the file and then the directory are fsync'ed, so after a crash
 * the name holds either the old or the new contents, whole. Returns 0 or -errno.
 */
int state_write_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
		       bool durable) _wur_;

/* Refuses (-EPERM) a file holding a secret that is group- or world-accessible, or owned by
 * another user than the caller (OpenSMTPD's check_file_secrecy). */
int state_check_secrecy(const char *path) _wur_;

/* Creates DIR (mode 0700) when missing; -ENOTDIR and friends otherwise. */
int state_dir_prepare(const char *dir) _wur_;

/* SHA-256 fingerprint (64 lower-case hex digits) of the first certificate in a PEM text. */
int state_cert_fingerprint(const char *pem, size_t len, char ret[65]) _wur_;

/*
 * Normalises a fingerprint given by an administrator: hex digits with optional ':' or
 * spaces, any case, optionally prefixed "sha256:" / "SHA256=". -EINVAL unless 64 digits.
 */
int state_fingerprint_normalize(const char *in, char ret[65]) _wur_;

/* What status.json holds (written by the daemon, read by `status`). Times are Unix
 * seconds, 0 meaning never. */
struct agent_status {
	int64_t updated;
	int64_t pid;
	bool running;
	int64_t last_checkin;
	int64_t last_upload;
	int64_t next_checkin;
	int64_t backoff_until;
	int64_t failures;
	int64_t checkin_interval;
	int64_t inventory_interval;
	char last_error[256];
	char inventory_digest[65];
};

/* Parses status.json; -EBADMSG (with err) when it is not what the daemon writes. */
int state_status_parse(const char *text, size_t len, struct agent_status *ret,
		       struct jsonw_error *err) _wur_;

/* Formats s as status.json text (the caller's). */
int state_status_format(const struct agent_status *s, char **ret) _wur_;

/* ---- the spool (spool.c) ---- */

/* Event priorities: eviction takes the lowest first, oldest first within one. */
enum spool_prio {
	SPOOL_PRIO_LOW = 0,    /* bulk: file events, test traffic */
	SPOOL_PRIO_NORMAL = 1, /* process, login, network events; inventory uploads */
	SPOOL_PRIO_HIGH = 2,   /* agent health and security events */
};

struct spool;

struct spool_event {
	const char *type; /* [a-z0-9_.], at most LIMIT_EVENT_TYPE bytes */
	int64_t time_ms;  /* Unix milliseconds */
	const char *data; /* a JSON object, at most LIMIT_EVENT_SIZE bytes */
	int64_t mono_ms;  /* CLOCK_BOOTTIME ms when it happened; 0: when it is spooled */
	/* Kept at high priority whatever its type: USB control's records, including the
	 * file.write of a copy to removable media, which a watched folder's file.write (low,
	 * the first evicted) must not push out. */
	bool evidence;
};

struct spool_stats {
	uint64_t depth;               /* entries waiting: events and inventory uploads */
	uint64_t events;              /* of which events */
	uint64_t bytes;               /* their accounted size */
	uint64_t max_bytes;           /* the bound */
	uint64_t last_seq;            /* the highest sequence number ever given, 0 if none */
	uint64_t acked_seq;           /* the highest the server acknowledged */
	uint64_t evicted_total;       /* entries evicted since the spool was created */
	uint64_t evicted_bytes_total; /* and their bytes */
	uint64_t evicted_unreported;  /* evicted but not yet reported in agent.spool_evicted */
};

/* The priority of an event type (docs/internals/spool.md has the table). */
enum spool_prio spool_priority(const char *type);

/*
 * Opens (creating when missing, unless read_only) the spool database at path. max_bytes
 * sets the spool's bound, which persists (the daemon does this; a lowered bound evicts at
 * once); 0 — and read_only — use the bound last set (AGENT_SPOOL_MAX_DEFAULT if none).
 * Returns 0 and *ret (released with spool_free()), -ENOENT when read_only and it does not
 * exist, -EIO when SQLite fails (logged), -ENOMEM.
 */
int spool_open(const char *path, uint64_t max_bytes, bool read_only, struct spool **ret) _wur_;
struct spool *spool_free(struct spool *sp);
DEFINE_POINTER_CLEANUP(struct spool, spool_free)

/*
 * Spools n events in one durable transaction, giving each the next sequence number and
 * linking each into the event chain (prev, hash, mono: lib/evchain.h). An
 * event that does not fit after evicting lower- or equal-priority entries is itself
 * counted as evicted (its number is used up and reported). *ret_first_seq (optional) gets
 * the first number given. -EINVAL for a bad type or data (nothing spooled), -EIO, -ENOMEM.
 */
int spool_add_events(struct spool *sp, const struct spool_event *ev, size_t n,
		     uint64_t *ret_first_seq) _wur_;

/*
 * Appends the oldest waiting events (sequence order) as an /agent/v1/events body to out:
 * at most max_n events and about max_bytes of body. *ret_last_seq gets the last sequence
 * in the batch and *ret_n the count; n = 0 means nothing waits.
 */
int spool_events_batch(struct spool *sp, size_t max_n, size_t max_bytes, struct buf *out,
		       uint64_t *ret_last_seq, size_t *ret_n) _wur_;

/* Whether events wait to be sent. */
int spool_has_events(struct spool *sp) _wur_;

/*
 * The server holds every event up to acked_seq: deletes them and remembers acked_seq
 * (never lowering it). If the server claims more than was ever given, the numbering moves
 * past it so no number is reused (logged). Returns the number deleted.
 */
int spool_ack(struct spool *sp, uint64_t acked_seq) _wur_;

/*
 * When entries were evicted since the last report, spools an agent.spool_evicted event
 * (count, bytes, oldest_seq, newest_seq, and the runs of evicted sequence numbers with the
 * hashes the event chain needs to continue across them: docs/protocol.md) and clears the
 * unreported counters, in one transaction; more than EVCHAIN_RUNS_MAX runs take several
 * events. Returns 1 when it spooled a report, 0 when there was nothing to report.
 */
int spool_report_evictions(struct spool *sp, int64_t now_ms) _wur_;

/*
 * Starts the event chain for host_id (lib/evchain.h): the next event links to the host's
 * genesis value. Events spooled before (for no host, or for a host this state directory
 * was enrolled as earlier) and not yet acknowledged are linked again from it, in sequence
 * order, so the server sees one unbroken chain. Nothing happens when the chain was
 * started for this host already. Called by the daemon at start and by `emit`.
 */
int spool_chain_start(struct spool *sp, const char *host_id) _wur_;

/*
 * Spools an inventory document (JSON text) for upload, replacing any upload still waiting
 * (a newer collection supersedes it; that is not an eviction). `full` asks for a full
 * snapshot rather than a delta. -ENOSPC when it does not fit (counted as evicted).
 */
int spool_inventory_put(struct spool *sp, const char *doc, size_t len, bool full) _wur_;

/* The waiting inventory upload: its id, document text (the caller's) and full flag.
 * -ENOENT when none waits. */
int spool_inventory_get(struct spool *sp, int64_t *ret_id, char **ret_doc, size_t *ret_len,
			bool *ret_full) _wur_;
int spool_inventory_set_full(struct spool *sp, int64_t id) _wur_;
/* The server acknowledged upload id: removes it. */
int spool_inventory_done(struct spool *sp, int64_t id) _wur_;

int spool_stats(struct spool *sp, struct spool_stats *ret) _wur_;

/* Frees SQLite's page cache of the spool (the daemon calls it when the spool is drained and
 * it goes back to idle; the next write reads the pages it needs from the file again). */
void spool_release_memory(struct spool *sp);

/* Small persistent integers the daemon keeps with the spool (intervals it was given). */
int spool_meta_get(struct spool *sp, const char *key, int64_t def, int64_t *ret) _wur_;
int spool_meta_set(struct spool *sp, const char *key, int64_t value) _wur_;

/* ---- scheduling arithmetic (sched.c) ---- */

#define SCHED_BACKOFF_MIN_MS     ((uint64_t) 1000)
#define SCHED_BACKOFF_MAX_MS     ((uint64_t) 15 * 60 * 1000)
#define SCHED_BACKOFF_JITTER     25u /* percent, protocol.md */
#define SCHED_INTERVAL_JITTER    10u /* percent, on check-in and inventory intervals */
#define SCHED_RETRY_AFTER_MAX_MS ((uint64_t) 60 * 60 * 1000)

/* A small deterministic generator (splitmix64); the daemon seeds it from getrandom(). */
struct sched_rng {
	uint64_t state;
};
void sched_rng_seed(struct sched_rng *r, uint64_t seed);
uint64_t sched_rng_next(struct sched_rng *r);

/* base_ms spread uniformly over [base - pct %, base + pct %]. */
uint64_t sched_jitter(struct sched_rng *r, uint64_t base_ms, unsigned pct);

/* Exponential back-off: 1 s doubling to 15 min, each delay with ±25 % jitter. */
struct sched_backoff {
	unsigned failures;
	uint64_t until_ms; /* no attempt before this monotonic time */
};

/*
 * Records a failure at now_ms and returns the delay chosen. retry_after_ms > 0 (a 503's
 * Retry-After, capped at SCHED_RETRY_AFTER_MAX_MS) is honoured as a lower bound, plus up
 * to 10 % so agents told the same do not return together.
 */
uint64_t sched_backoff_fail(struct sched_backoff *b, struct sched_rng *r, uint64_t now_ms,
			    uint64_t retry_after_ms);
void sched_backoff_reset(struct sched_backoff *b);

/* At most one batch per interval_ms (the drain rate). */
struct sched_rate {
	uint64_t interval_ms;
	uint64_t next_ms;
};
void sched_rate_init(struct sched_rate *r, unsigned per_second);
/* 0 when a batch may go at now_ms, otherwise how long to wait. */
uint64_t sched_rate_wait(const struct sched_rate *r, uint64_t now_ms);
void sched_rate_take(struct sched_rate *r, uint64_t now_ms);

/* Clamps intervals the server asks for, in seconds, to what the agent accepts. */
int64_t sched_clamp_checkin(int64_t s);
int64_t sched_clamp_inventory(int64_t s);

/* ---- the protocol's bodies (proto.c) ---- */

enum proto_inventory_want {
	PROTO_INVENTORY_OK,
	PROTO_INVENTORY_DELTA,
	PROTO_INVENTORY_FULL,
};

struct proto_checkin_reply {
	int64_t server_time;
	int64_t checkin_interval;   /* 0 when absent */
	int64_t inventory_interval; /* 0 when absent */
	enum proto_inventory_want inventory;
	char inventory_base[65]; /* with PROTO_INVENTORY_DELTA, "" when absent */
	uint64_t acked_seq;
	size_t n_commands;
};

struct proto_enroll_reply {
	char *host_id;
	char *certificate; /* PEM */
	char *ca;          /* PEM, may be NULL */
	int64_t checkin_interval;
	int64_t inventory_interval;
};

/* Parsers of what the server answers. -EBADMSG (with err) for anything off-contract, -E2BIG
 * over LIMIT_AGENT_REPLY, -ENOMEM. */
int proto_parse_checkin_reply(const char *body, size_t len, struct proto_checkin_reply *ret,
			      struct jsonw_error *err) _wur_;
int proto_parse_enroll_reply(const char *body, size_t len, struct proto_enroll_reply *ret,
			     struct jsonw_error *err) _wur_;
void proto_enroll_reply_done(struct proto_enroll_reply *r);
int proto_parse_events_reply(const char *body, size_t len, uint64_t *ret_acked_seq,
			     struct jsonw_error *err) _wur_;
int proto_parse_inventory_reply(const char *body, size_t len, char ret_digest[65],
				struct jsonw_error *err) _wur_;
/* The error body's "code" (a stable identifier) and "error" text; "" when absent. Never
 * fails: a body that is not an error object gives empty strings. */
void proto_parse_error(const char *body, size_t len, char code[64], char text[256]);

/* Whether s is a host id as the server hands them out: [A-Za-z0-9-], 1..LIMIT_HOST_ID. */
bool proto_valid_host_id(const char *s);
/* Whether s is 64 lower-case hex digits. */
bool proto_valid_digest(const char *s);

/* ---- the uplink (uplink.c) ---- */

/*
 * Something the event loop watches. epoll's data.ptr points at one; the loop calls
 * dispatch with the events that fired.
 */
struct loop_source {
	void (*dispatch)(struct loop_source *src, uint32_t events);
	int fd;
};

/* The structure a loop_source is embedded in. */
#define LOOP_OWNER(src, type, member) ((type *) (void *) ((char *) (src) -offsetof(type, member)))

struct uplink;

/*
 * A kept connection idle longer than this is not reused: the server closes idle
 * connections after its connection_timeout (30 s by default), and a request written into
 * a connection the server has just closed fails with EPIPE instead of being answered. The
 * requests of one check-in (check-in, inventory, events) follow each other closely and
 * share one connection; the next check-in, minutes later, opens a new one.
 */
#define UPLINK_MAX_IDLE 20

struct uplink_tls {
	const char *ca_file;   /* the pinned CA, the only trust anchor */
	const char *cert_file; /* the agent's certificate */
	const char *key_file;  /* and its key */
	unsigned max_idle;     /* seconds; 0: UPLINK_MAX_IDLE */
};

/* How a request ended. err < 0: no HTTP answer (-ETIMEDOUT, -ECONNREFUSED, -EPROTO for
 * TLS trouble, -E2BIG for an answer over LIMIT_AGENT_REPLY …) and status is 0. */
struct uplink_reply {
	int err;
	long status;
	const char *body; /* borrowed until the callback returns; NUL-terminated */
	size_t len;
	int64_t retry_after_s; /* from Retry-After, 0 when absent */
	const char *errtext;   /* curl's words for err, "" otherwise */
};

typedef void (*uplink_done_fn)(const struct uplink_reply *reply, void *userdata);

/*
 * Creates the uplink to server (its base URL) over the event loop epfd: curl's sockets and
 * its timer are registered there, and the loop calls their loop_source. Returns 0 or
 * -ENOMEM / -EIO.
 */
/* curl_global_init() for the agent, without libssh2's initialisation (uplink_init.c):
 * 0, or -ENOMEM when libcurl cannot initialise. */
int uplink_global_init(void) _wur_;

int uplink_new(int epfd, const char *server, const struct uplink_tls *tls, struct uplink **ret)
	_wur_;
/* Abandons the request in flight, if any (its callback is not called), and frees u. */
struct uplink *uplink_free(struct uplink *u);

/*
 * POSTs body (JSON) to server + path; the body is gzip-compressed when over 1 KiB and
 * copied, so the caller may free it. done is called once, from the loop, when the request
 * ends. One request at a time: -EBUSY while one is in flight.
 */
int uplink_post(struct uplink *u, const char *path, const char *body, size_t len,
		uplink_done_fn done, void *userdata) _wur_;
bool uplink_busy(const struct uplink *u);
/* Abandons the request in flight without calling its callback. */
void uplink_abort(struct uplink *u);

/* gzip-compresses in into a new buffer. */
int uplink_gzip(const void *in, size_t len, void **ret, size_t *ret_len) _wur_;

/* ---- privilege separation (privsep.c) ---- */

/*
 * Starts privilege separation when running as root: forks the worker, which returns from
 * here as `user` (mamori, else nobody/nogroup) with no new privileges, while the parent
 * stays root and serves the worker's requests until it exits, then exits with its status
 * (it never returns). state_dir is handed to the worker's user first. When not root, returns
 * 0 without separating. Returns 1 in the worker when separated.
 */
int privsep_start(const char *state_dir, const char *root) _wur_;

/* The worker's end of the channel (-1 when not separated), for privsep_mon.c and
 * privsep_usb.c. */
int privsep_channel(void);

/* The privileged file table: the id of path, or -ENOENT when path is not in it. */
int privsep_file_id(const char *path);

/*
 * The col_ctx.read_privileged seam for the worker: reads a file of the table (whole, at
 * most max bytes) or the first max bytes of block device /dev/NAME through the parent;
 * -ENOTSUP for any other path (the caller reads it itself).
 */
int privsep_read(const char *path, size_t max, char **ret, size_t *ret_len) _wur_;

/*
 * The parent's side, one message: reads a request from fd and answers it. Returns 0, or 1
 * when the worker closed the channel. A malformed message is fatal: the parent logs it,
 * kills the worker and exits (OpenNTPD's dispatch_imsg). Exposed for tests.
 */
int privsep_parent_dispatch(int fd, const char *root, pid_t worker) _wur_;

/* For the parent's dispatchers: logs a malformed request, kills the worker, exits. */
_noreturn_ _printf_(2, 3) void privsep_fatal(pid_t worker, const char *fmt, ...);

/* ---- USB control under privilege separation (privsep_usb.c) ---- */

struct enf_usb_ops;

/* Whether op is one of USB control's requests. */
bool privsep_usb_op(uint32_t op);
/* The parent's side of one USB request (msg, len bytes): checks it, performs it, answers.
 * Returns 0, or 1 when the channel broke. A malformed request is fatal (privsep_fatal). */
int privsep_usb_parent(int fd, const char *root, pid_t worker, const void *msg, size_t len);
/* Deletes the audit rules the parent added and closes what it holds. */
void privsep_usb_parent_done(void);
/* The worker's side: USB control's privileged operations as requests to the parent. */
const struct enf_usb_ops *privsep_usb_ops(void);
/* Descriptors the parent opens for the worker: the audit multicast socket (auditing turned
 * on), the fanotify group for removable media. */
int privsep_usb_open_audit(int *ret_fd) _wur_;
int privsep_usb_open_fanotify(int *ret_fd) _wur_;
/* A fanotify mark through the parent (for mon_removable_set_mark). */
int privsep_usb_fan_mark(void *ud, const char *mount_point, bool add);

/* ---- the verbs (enroll.c, daemon.c) ---- */

struct enroll_options {
	const char *server;
	const char *token;
	const char *state_dir;
	const char *ca_fingerprint; /* NULL: trust on first use */
	bool force;
};

/* `mamori-agent enroll`. Returns an exit status. */
int enroll_main(const struct enroll_options *o);

struct daemon_options {
	const char *state_dir;
	const char *root;
	uint64_t spool_max; /* 0: from agent.conf */
	int log_level;      /* -1: from agent.conf */
};

/* `mamori-agent run`. Returns an exit status. */
int daemon_main(const struct daemon_options *o);
