/*
 * `mamori-agent run`: the daemon. One single-threaded epoll loop over a signalfd (TERM,
 * INT, HUP), a timerfd for its own schedule, a datagram socket that `emit` pokes when it
 * has spooled events, and the uplink's sockets and timer (uplink.c). The loop sleeps in
 * epoll_wait() until one of them fires: no polling, no sleep(), no busy wait.
 *
 * What it does (docs/agent.md):
 *  - check in every checkin_interval (the server's answer sets it; 300 s by default), ±10 %;
 *  - collect the inventory every inventory_interval (3600 s by default), ±10 %, spool it,
 *    and upload it as a delta against the last snapshot the server acknowledged
 *    (STATE/inventory.acked.json), or whole when there is none or the server asks;
 *  - upload spooled events in sequence order, one batch at a time, at most drain_rate
 *    batches per second, deleting them only once acknowledged;
 *  - after a failure, back off exponentially with jitter (1 s doubling to 15 min) or as a
 *    503's Retry-After says, for every request alike (one server, one state).
 * Everything is spooled before it is sent, so stopping — cleanly on SIGTERM, or by kill -9 —
 * loses nothing: the next start sends what is left.
 *
 * Times: CLOCK_BOOTTIME for the schedule, so a laptop waking from suspend checks in at once
 * instead of waiting out timers that did not run while it slept; wall-clock time only for
 * what goes on the wire and into status.json.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/daemon.h"
#include "agent/monitors.h"
#include "agent/enf_usb.h"
#include "config.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"

#define CHECKIN_DEFAULT_S   300
#define INVENTORY_DEFAULT_S 3600
#define FLUSH_DELAY_MS      1000u /* events arriving together go in one batch */
#define STOP_GRACE_MS       3000u /* how long SIGTERM waits for a request in flight */
#define BATCH_MAX_EVENTS    500u
#define BATCH_MAX_BYTES     ((size_t) 1024 * 1024)

/* A policy version as the server writes it ("12-4f3a9c0b1d2e", "12.3-4f3a9c0b1d2e"), with
 * its NUL; a longer or stranger one is not reported back (the server would refuse it). */
#define POLICY_VERSION_LEN   64
#define POLICY_VERSION_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum request {
	REQ_NONE,
	REQ_CHECKIN,
	REQ_EVENTS,
	REQ_INVENTORY,
};

struct daemon {
	/* (ordered by size: clang's padding check) */
	const struct daemon_options *opt;
	struct spool *spool;
	struct uplink *up;
	char *inv_doc; /* the document being uploaded, the acknowledged one once it is */
	size_t inv_len;
	int64_t inv_id;
	uint64_t batch_last_seq;
	size_t batch_n;
	uint64_t next_checkin, next_inventory, flush_at; /* boot-time ms */
	uint64_t stop_deadline;
	int64_t checkin_interval, inventory_interval; /* seconds */
	struct sched_rng rng;
	struct sched_backoff backoff;
	struct sched_rate rate;
	struct agent_conf conf;
	struct agent_status st;
	struct loop_source sig, timer, ctl;
	struct mon_set *mons; /* the monitors (mon_set.c); NULL under a fixture --root */
	/* USB control (docs/usb-control.md): NULL when not running as root */
	struct monitor *usb, *removable;
	struct loop_source usb_src, rm_src;
	struct mon_sink sink;
	int epfd;
	enum request inflight;
	bool separated;
	bool inv_full;
	bool want_checkin, want_collect, want_full;
	bool events_waiting, inventory_waiting;
	bool stopping, done;
	char inv_digest[65];
	char acked_digest[65]; /* "" when nothing is acknowledged */
	/* the version of the whole policy last applied (USB and collection), which the
	 * check-in reports; "" when none was (STATE/policy.json keeps it across starts) */
	char policy_version[POLICY_VERSION_LEN];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int64_t wall_s(void)
{
	return (int64_t) time(NULL);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall-clock time of a boot-time deadline, for status.json. */
static int64_t wall_of(uint64_t mono)
{
	uint64_t now = now_ms();

	return wall_s() + (mono > now ? (int64_t) ((mono - now + 999) / 1000) : 0);
}

static void write_status(struct daemon *d)
{
	_cleanup_(freep) char *text = NULL;
	int r;

	d->st.updated = wall_s();
	d->st.pid = getpid();
	d->st.running = !d->done;
	d->st.next_checkin = d->done ? 0 : wall_of(MAX(d->next_checkin, d->backoff.until_ms));
	d->st.backoff_until = d->backoff.until_ms > now_ms() ? wall_of(d->backoff.until_ms) : 0;
	d->st.failures = d->backoff.failures;
	d->st.checkin_interval = d->checkin_interval;
	d->st.inventory_interval = d->inventory_interval;
	(void) snprintf(d->st.inventory_digest, sizeof(d->st.inventory_digest), "%s",
			d->acked_digest);
	r = state_status_format(&d->st, &text);
	if (r == 0)
		r = state_write_atomic(d->opt->state_dir, STATE_STATUS, text, strlen(text), 0644,
				       false);
	if (r < 0)
		log_warning("(M2060) cannot write status.json: %s", strerror(-r));
}

static void spool_event_as(struct daemon *d, const char *type, json_t *data, bool evidence)
{
	_cleanup_(freep) char *text = data ? jsonw_dump(data) : NULL;
	int r;

	json_decref(data);
	if (!text) {
		log_error("(M2061) cannot record %s: out of memory", type);
		return;
	}
	r = spool_add_events(
		d->spool,
		&(struct spool_event){
			.type = type, .time_ms = wall_ms(), .data = text, .evidence = evidence},
		1, NULL);
	if (r < 0)
		log_error("(M2061) cannot record %s in the spool: %s", type, strerror(-r));
	else
		d->events_waiting = true;
}

static void spool_agent_event(struct daemon *d, const char *type, json_t *data)
{
	spool_event_as(d, type, data, false);
}

/* The spool failing is logged where it fails (M2001); the daemon carries on, since the
 * next attempt may well succeed, and what was spooled before is safe. */
static void spool_note(int r, const char *what)
{
	if (r < 0)
		log_debug("spool: %s: %s", what, strerror(-r));
}

/* The network section of a fresh inventory: the facts the policy's network lines read. */
static void usb_network(struct daemon *d, const json_t *doc)
{
	struct usbnet net;

	if (!d->usb || !json_object_get(doc, "network"))
		return;
	usbdoc_network(json_object_get(doc, "network"), &net);
	enf_usb_set_network(d->usb, &net);
}

/* The server sends documents of up to LIMIT_USB_POLICY_DOC bytes and collection profiles of
 * up to LIMIT_COLLECTION_PROFILE (server/policy.c): an answer the uplink cut short would
 * fail every check-in of a host with a large registry. */
_Static_assert(LIMIT_AGENT_REPLY >=
		       LIMIT_USB_POLICY_DOC + LIMIT_COLLECTION_PROFILE + (size_t) 64 * 1024,
	       "a check-in's answer holds a whole USB policy document and collection profile");

/* Keeps the version of the policy just applied (or found in STATE/policy.json at start)
 * for the check-in to report; "" when it is no version the server would take back. */
static void remember_policy_version(struct daemon *d, const json_t *version)
{
	const char *v = json_string_value(version);

	if (v && *v && strlen(v) < sizeof(d->policy_version) &&
	    strspn(v, POLICY_VERSION_CHARS) == strlen(v))
		memcpy(d->policy_version, v, strlen(v) + 1);
	else
		d->policy_version[0] = '\0';
}

/* The policy applied before this start: what the monitors were configured from
 * (mon_set.c reads the same file), so its version is what this agent holds. */
static void load_policy_version(struct daemon *d)
{
	_cleanup_(freep) char *path = state_path(d->opt->state_dir, "policy.json"), *text = NULL;
	_cleanup_(json_decrefp) json_t *policy = NULL;
	struct jsonw_error err;
	size_t len;

	d->policy_version[0] = '\0';
	if (!path || fileio_read(NULL, path, LIMIT_CONFIG_FILE, &text, &len) < 0 ||
	    jsonw_parse(text, len, LIMIT_CONFIG_FILE, &policy, &err) < 0)
		return;
	remember_policy_version(d, json_object_get(policy, "version"));
}

/*
 * A policy in the check-in answer ({"policy": {"version", "usb": {…}, "collection": {…}}},
 * sent when this agent holds another version): USB control takes its "usb" part, the
 * monitors its collection profile. Applied, it is saved as STATE/policy.json (0644: the
 * teleworker's `status --collection` reads it; it holds no secret) for the next start and
 * recorded as agent.policy_applied; a part refused leaves the last good policy in force.
 */
static void apply_policy(struct daemon *d, const struct uplink_reply *reply)
{
	_cleanup_(json_decrefp) json_t *body = NULL;
	_cleanup_(freep) char *path = NULL, *text = NULL;
	struct collection c;
	struct diag diag;
	struct jsonw_error err;
	json_t *policy, *version;
	bool refused = false;

	if (jsonw_parse(reply->body, reply->len, LIMIT_AGENT_REPLY, &body, &err) < 0)
		return;
	policy = json_object_get(body, "policy");
	if (!json_is_object(policy))
		return;
	version = json_object_get(policy, "version");
	if (d->usb && json_object_get(policy, "usb") && d->usb->configure(d->usb, policy) < 0) {
		spool_agent_event(d, "usb.policy_refused",
				  json_pack("{s:s}", "in_force", enf_usb_policy_version(d->usb)));
		refused = true;
	}
	diag_init(&diag);
	if (collection_parse(policy, &c, &diag) < 0) {
		_cleanup_(freep) char *why = diag.n ? diag_format(&diag.entries[0]) : NULL;

		spool_agent_event(d, "agent.policy_refused",
				  json_pack("{s:O?, s:s}", "version", version, "error",
					    why ? why : "the collection profile is invalid"));
		diag_done(&diag);
		return;
	}
	diag_done(&diag);
	if (d->mons && mon_set_configure(d->mons, policy) < 0)
		refused = true;
	if (refused) {
		collection_done(&c);
		return;
	}
	path = state_path(d->opt->state_dir, "policy.json");
	text = jsonw_dump(policy);
	if (!path || !text || fileio_write_atomic(path, text, strlen(text), 0644) < 0)
		log_warning("(M1249) the policy applies but could not be saved for the next start");
	spool_agent_event(d, "agent.policy_applied",
			  json_pack("{s:O?, s:s}", "version", version, "profile", c.profile));
	collection_done(&c);
	remember_policy_version(d, version);
}

/* ---- the acknowledged inventory snapshot ---- */

static int load_acked(struct daemon *d, json_t **ret)
{
	_cleanup_(freep) char *path = state_path(d->opt->state_dir, STATE_ACKED), *text = NULL;
	struct jsonw_error err;
	size_t len;
	int r;

	if (!path)
		return -ENOMEM;
	r = fileio_read(NULL, path, LIMIT_INVENTORY_DOC, &text, &len);
	if (r < 0)
		return r;
	r = jsonw_parse(text, len, LIMIT_INVENTORY_DOC, ret, &err);
	if (r == 0 && !json_is_object(*ret)) {
		json_decref(*ret);
		r = -EBADMSG;
	}
	if (r < 0 && r != -ENOMEM) {
		/* Damaged: forget it, the server gets a full snapshot. */
		log_warning("(M2062) %s is damaged (%s); the next inventory is sent whole", path,
			    r == -EBADMSG ? err.text : strerror(-r));
		(void) unlink(path);
		d->acked_digest[0] = '\0';
		return -ENOENT;
	}
	return r;
}

static void collect_inventory(struct daemon *d)
{
	_cleanup_(json_decrefp) json_t *doc = NULL;
	_cleanup_(freep) char *text = NULL;
	struct col_ctx ctx = {.root = d->opt->root, .now = wall_s()};
	char digest[65];
	bool full = d->want_full || !d->acked_digest[0];
	int r;

	d->want_collect = false;
	d->next_inventory =
		now_ms() + sched_jitter(&d->rng, (uint64_t) d->inventory_interval * 1000,
					SCHED_INTERVAL_JITTER);
	if (d->separated)
		ctx.read_privileged = privsep_read;
	doc = inventory_collect(&ctx, NULL);
	if (!doc || invdiff_canonicalize(doc) < 0) {
		log_error("(M2063) out of memory while collecting the inventory");
		return;
	}
	usb_network(d, doc);
	/* The digest covers the sections only (protocol.md): an unchanged endpoint collected
	 * again has the acknowledged digest, and nothing is sent. */
	if (invdiff_digest(doc, digest) < 0) {
		log_error("(M2063) out of memory while collecting the inventory");
		return;
	}
	spool_note(spool_meta_set(d->spool, "last_collect", wall_s()), "last_collect");
	if (!full && streq(digest, d->acked_digest)) {
		log_debug("inventory unchanged (%s)", digest);
		return;
	}
	text = jsonw_dump(doc);
	if (!text) {
		log_error("(M2063) out of memory while collecting the inventory");
		return;
	}
	r = spool_inventory_put(d->spool, text, strlen(text), full);
	if (r < 0) {
		log_error("(M2064) cannot spool the inventory: %s", strerror(-r));
		return;
	}
	d->want_full = false;
	d->inventory_waiting = true;
	log_info("(M2065) inventory collected (%s, %zu bytes), spooled for upload",
		 full ? "full" : "delta", strlen(text));
}

/* Gives back to the system what a collection or a large upload borrowed, so the idle
 * daemon's private memory stays small (docs/agent.md, "Memory"). */
static void trim(void)
{
	(void) malloc_trim(0);
}

/*
 * The allocator's settings for a long-lived daemon whose heap must stay small while idle:
 * blocks of 64 KiB and more (read buffers, device tables, upload bodies) are mapped on
 * their own, so pages never written stay unbacked and a freed block goes back to the system
 * at once (glibc would otherwise raise the mapping threshold after the first such free and
 * carve later ones out of the heap, zeroing — and so backing — every page); the top of the
 * heap is given back past 128 KiB; one arena, though libcurl's resolver runs a thread.
 */
static void tune_malloc(void)
{
	(void) mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	(void) mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	(void) mallopt(M_ARENA_MAX, 1);
}

/* Whether there is something to send as events: spooled events, or evictions to report
 * (making room for a report can evict again; that goes into the next one). */
static bool events_pending(struct daemon *d)
{
	struct spool_stats s;

	if (spool_has_events(d->spool) > 0)
		return true;
	return spool_stats(d->spool, &s) == 0 && s.evicted_unreported > 0;
}

/* ---- requests ---- */

static void on_reply(const struct uplink_reply *reply, void *userdata);

static void failed(struct daemon *d, const char *what, const struct uplink_reply *reply,
		   const char *detail)
{
	char code[64] = "", text[256] = "";
	uint64_t delay;

	if (reply && reply->err == 0)
		proto_parse_error(reply->body, reply->len, code, text);
	delay = sched_backoff_fail(
		&d->backoff, &d->rng, now_ms(),
		reply && reply->status == 503 ? (uint64_t) reply->retry_after_s * 1000u : 0);
	if (reply && reply->err < 0)
		(void) snprintf(d->st.last_error, sizeof(d->st.last_error), "%s: %s", what,
				reply->errtext);
	else if (reply)
		(void) snprintf(d->st.last_error, sizeof(d->st.last_error), "%s: HTTP %ld %s%s%s",
				what, reply->status, code, *text ? ": " : "", text);
	else
		(void) snprintf(d->st.last_error, sizeof(d->st.last_error), "%s: %s", what, detail);
	if (reply && (reply->status == 401 || reply->status == 403))
		log_error("(M2041) %s; the server refuses this agent's certificate: re-enrol it"
			  " (retrying in %.1f s)",
			  d->st.last_error, (double) delay / 1000.0);
	else
		log_warning("(M2040) %s; retrying in %.1f s", d->st.last_error,
			    (double) delay / 1000.0);
	write_status(d);
}

static void succeeded(struct daemon *d)
{
	sched_backoff_reset(&d->backoff);
	d->st.last_error[0] = '\0';
}

static void start_checkin(struct daemon *d)
{
	_cleanup_(json_decrefp) json_t *body = NULL;
	_cleanup_(freep) char *text = NULL;
	const char *usb = d->usb ? enf_usb_policy_version(d->usb) : "", *held;
	struct spool_stats s = {0};
	int r;

	spool_note(spool_stats(d->spool, &s), "stats");
	/* policy_version is the whole policy held (USB and collection profile), which the
	 * server compares with the one the host should hold to decide whether to send it
	 * (protocol.md); an agent without USB control holds one too, and must say so or be
	 * sent it at every check-in. The USB document's version goes apart, for compliance
	 * (E-4): USB control applied, or not. Before any whole policy was kept (an agent
	 * upgraded in place), the USB document's version is the one held; 0 when none is. */
	held = *d->policy_version ? d->policy_version : usb;
	body = json_pack("{s:s, s:I, s:s, s:o, s:{s:I, s:I, s:I}, s:I, s:s}", "agent_version",
			 MAMORI_VERSION, "time", (json_int_t) wall_s(), "inventory_digest",
			 d->acked_digest, "policy_version",
			 *held ? json_string(held) : json_integer(0), "spool", "depth",
			 (json_int_t) s.depth, "bytes", (json_int_t) s.bytes, "evicted_total",
			 (json_int_t) s.evicted_total, "last_seq", (json_int_t) s.last_seq,
			 "usb_policy_version", usb);
	text = body ? jsonw_dump(body) : NULL;
	if (!text) {
		failed(d, "check-in", NULL, "out of memory");
		return;
	}
	r = uplink_post(d->up, "/agent/v1/checkin", text, strlen(text), on_reply, d);
	if (r < 0) {
		failed(d, "check-in", NULL, strerror(-r));
		return;
	}
	d->want_checkin = false;
	d->inflight = REQ_CHECKIN;
}

static void checkin_done(struct daemon *d, const struct uplink_reply *reply)
{
	struct proto_checkin_reply c;
	struct jsonw_error err;
	uint64_t now = now_ms();
	int r;

	r = proto_parse_checkin_reply(reply->body, reply->len, &c, &err);
	if (r < 0) {
		d->want_checkin = true;
		failed(d, "check-in", NULL, r == -EBADMSG ? err.text : strerror(-r));
		return;
	}
	succeeded(d);
	apply_policy(d, reply);
	d->st.last_checkin = wall_s();
	if (c.checkin_interval && sched_clamp_checkin(c.checkin_interval) != d->checkin_interval) {
		d->checkin_interval = sched_clamp_checkin(c.checkin_interval);
		spool_note(spool_meta_set(d->spool, "checkin_interval", d->checkin_interval),
			   "checkin_interval");
	}
	if (c.inventory_interval &&
	    sched_clamp_inventory(c.inventory_interval) != d->inventory_interval) {
		d->inventory_interval = sched_clamp_inventory(c.inventory_interval);
		spool_note(spool_meta_set(d->spool, "inventory_interval", d->inventory_interval),
			   "inventory_interval");
		d->next_inventory =
			MIN(d->next_inventory, now + (uint64_t) d->inventory_interval * 1000u);
	}
	d->next_checkin = now + sched_jitter(&d->rng, (uint64_t) d->checkin_interval * 1000,
					     SCHED_INTERVAL_JITTER);
	r = spool_ack(d->spool, c.acked_seq);
	if (r < 0)
		log_error("(M2066) cannot drop acknowledged events from the spool: %s",
			  strerror(-r));
	if (c.inventory == PROTO_INVENTORY_FULL) {
		log_info("(M2067) the server asks for a full inventory");
		if (d->inventory_waiting) {
			int64_t id;
			_cleanup_(freep) char *doc = NULL;
			size_t len;
			bool full;

			if (spool_inventory_get(d->spool, &id, &doc, &len, &full) == 0)
				spool_note(spool_inventory_set_full(d->spool, id), "set full");
		} else {
			d->want_full = true;
			d->want_collect = true;
		}
	} else if (c.inventory == PROTO_INVENTORY_DELTA && !d->inventory_waiting) {
		if (!streq(c.inventory_base, d->acked_digest))
			d->want_full = true;
		d->want_collect = true;
	}
	d->events_waiting = events_pending(d);
	write_status(d);
}

static void start_events(struct daemon *d)
{
	struct buf body;
	size_t n = 0;
	uint64_t last = 0;
	int r;

	/* Report evictions once the server answers again, not at every failed attempt: a
	 * week offline makes one report, not one per retry. */
	r = d->backoff.failures == 0 ? spool_report_evictions(d->spool, wall_ms()) : 0;
	if (r < 0)
		log_error("(M2068) cannot report spool evictions: %s", strerror(-r));
	buf_init(&body, LIMIT_AGENT_BODY);
	r = spool_events_batch(d->spool, BATCH_MAX_EVENTS, BATCH_MAX_BYTES, &body, &last, &n);
	if (r < 0) {
		buf_done(&body);
		failed(d, "events", NULL, strerror(-r));
		return;
	}
	if (n == 0) {
		buf_done(&body);
		d->events_waiting = false;
		return;
	}
	r = uplink_post(d->up, "/agent/v1/events", buf_str(&body), body.len, on_reply, d);
	buf_done(&body);
	if (r < 0) {
		failed(d, "events", NULL, strerror(-r));
		return;
	}
	sched_rate_take(&d->rate, now_ms());
	d->inflight = REQ_EVENTS;
	d->batch_last_seq = last;
	d->batch_n = n;
	log_debug("sending %zu events up to %" PRIu64, n, last);
}

static void events_done(struct daemon *d, const struct uplink_reply *reply)
{
	struct jsonw_error err;
	uint64_t acked;
	int r;

	r = proto_parse_events_reply(reply->body, reply->len, &acked, &err);
	if (r < 0) {
		failed(d, "events", NULL, r == -EBADMSG ? err.text : strerror(-r));
		return;
	}
	r = spool_ack(d->spool, acked);
	if (r < 0)
		log_error("(M2066) cannot drop acknowledged events from the spool: %s",
			  strerror(-r));
	if (acked < d->batch_last_seq) {
		char detail[128];

		(void) snprintf(detail, sizeof(detail),
				"the server acknowledged up to %" PRIu64
				" of a batch ending at %" PRIu64,
				acked, d->batch_last_seq);
		failed(d, "events", NULL, detail);
		return;
	}
	succeeded(d);
	d->st.last_upload = wall_s();
	d->events_waiting = events_pending(d);
	write_status(d);
	if (!d->events_waiting) {
		/* Drained: back to idle, give back what the batches borrowed. */
		spool_release_memory(d->spool);
		trim();
	}
}

static void inventory_forget_upload(struct daemon *d)
{
	mm_free(d->inv_doc);
	d->inv_doc = NULL;
	d->inv_len = 0;
	d->inv_id = 0;
}

static int build_inventory_body(struct daemon *d, char **ret, size_t *ret_len)
{
	_cleanup_(json_decrefp) json_t *doc = NULL, *acked = NULL, *delta = NULL, *body = NULL;
	struct jsonw_error err;
	struct buf b;
	int r;

	r = jsonw_parse(d->inv_doc, d->inv_len, LIMIT_INVENTORY_DOC, &doc, &err);
	if (r < 0)
		return r;
	r = invdiff_digest(doc, d->inv_digest);
	if (r < 0)
		return r;
	if (!d->inv_full && d->acked_digest[0]) {
		r = load_acked(d, &acked);
		if (r == 0)
			r = invdiff_compute(acked, doc, &delta);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (delta) {
		body = json_pack("{s:s, s:s, s:s, s:O}", "kind", "delta", "base_digest",
				 d->acked_digest, "digest", d->inv_digest, "delta", delta);
		if (!body)
			return -ENOMEM;
		*ret = jsonw_dump(body);
		if (!*ret)
			return -ENOMEM;
		*ret_len = strlen(*ret);
		return 0;
	}
	/* Whole: splice the spooled text in rather than serialise the document again. */
	buf_init(&b, LIMIT_AGENT_BODY);
	r = buf_addf(&b, "{\"kind\":\"full\",\"digest\":\"%s\",\"document\":", d->inv_digest);
	if (r == 0)
		r = buf_add(&b, d->inv_doc, d->inv_len);
	if (r == 0)
		r = buf_addc(&b, '}');
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	d->inv_full = true;
	*ret = buf_take(&b, ret_len);
	return *ret ? 0 : -ENOMEM;
}

static void start_inventory(struct daemon *d)
{
	_cleanup_(freep) char *body = NULL;
	size_t len = 0;
	int r;

	inventory_forget_upload(d);
	r = spool_inventory_get(d->spool, &d->inv_id, &d->inv_doc, &d->inv_len, &d->inv_full);
	if (r == -ENOENT) {
		d->inventory_waiting = false;
		return;
	}
	if (r == 0)
		r = build_inventory_body(d, &body, &len);
	if (r == 0)
		r = uplink_post(d->up, "/agent/v1/inventory", body, len, on_reply, d);
	if (r < 0) {
		inventory_forget_upload(d);
		failed(d, "inventory", NULL, strerror(-r));
		return;
	}
	sched_rate_take(&d->rate, now_ms());
	d->inflight = REQ_INVENTORY;
	log_debug("sending the inventory (%s, %zu bytes)", d->inv_full ? "full" : "delta", len);
}

static void inventory_done(struct daemon *d, const struct uplink_reply *reply)
{
	struct jsonw_error err;
	char digest[65];
	int r;

	r = proto_parse_inventory_reply(reply->body, reply->len, digest, &err);
	if (r < 0) {
		inventory_forget_upload(d);
		failed(d, "inventory", NULL, r == -EBADMSG ? err.text : strerror(-r));
		return;
	}
	if (!streq(digest, d->inv_digest))
		log_warning("(M2069) the server holds inventory %s, the agent sent %s; the next"
			    " check-in sorts it out",
			    digest, d->inv_digest);
	/* Durable before the spool entry goes: a crash in between re-sends, never loses. */
	r = state_write_atomic(d->opt->state_dir, STATE_ACKED, d->inv_doc, d->inv_len, 0600, true);
	if (r < 0) {
		log_error("(M2070) cannot write %s: %s", STATE_ACKED, strerror(-r));
		d->acked_digest[0] = '\0';
	} else {
		memcpy(d->acked_digest, d->inv_digest, sizeof(d->acked_digest));
	}
	r = spool_inventory_done(d->spool, d->inv_id);
	if (r < 0)
		log_error("(M2066) cannot drop the uploaded inventory from the spool: %s",
			  strerror(-r));
	log_info("(M2071) inventory %s acknowledged (%s)", d->acked_digest,
		 d->inv_full ? "full" : "delta");
	inventory_forget_upload(d);
	trim();
	succeeded(d);
	d->st.last_upload = wall_s();
	d->inventory_waiting = false;
	{
		int64_t id;
		_cleanup_(freep) char *doc = NULL;
		size_t len;
		bool full;

		/* A newer collection may have been spooled meanwhile. */
		d->inventory_waiting = spool_inventory_get(d->spool, &id, &doc, &len, &full) == 0;
	}
	write_status(d);
}

static void on_reply(const struct uplink_reply *reply, void *userdata)
{
	struct daemon *d = userdata;
	enum request req = d->inflight;
	static const char *const names[] = {"", "check-in", "events", "inventory"};

	d->inflight = REQ_NONE;
	if (req == REQ_CHECKIN && (reply->err < 0 || reply->status != 200))
		d->want_checkin = true; /* again once the back-off allows */
	if (req == REQ_INVENTORY && reply->status == 413) {
		/* It will never fit: sending it again would block nothing but waste the link. */
		log_error("(M2074) the server refuses the inventory as too large (HTTP 413);"
			  " dropped, the next collection tries again");
		spool_note(spool_inventory_done(d->spool, d->inv_id), "drop inventory");
		inventory_forget_upload(d);
		d->inventory_waiting = false;
		return;
	}
	if (reply->err < 0 || reply->status >= 500 || reply->status == 429 ||
	    (reply->status != 200 && !(req == REQ_INVENTORY && reply->status == 409))) {
		if (req == REQ_INVENTORY)
			inventory_forget_upload(d);
		failed(d, names[req], reply, NULL);
		return;
	}
	switch (req) {
	case REQ_CHECKIN:
		checkin_done(d, reply);
		break;
	case REQ_EVENTS:
		events_done(d, reply);
		break;
	case REQ_INVENTORY:
		if (reply->status == 409) {
			bool was_full = d->inv_full;

			spool_note(spool_inventory_set_full(d->spool, d->inv_id), "set full");
			inventory_forget_upload(d);
			if (was_full) {
				failed(d, "inventory", reply, NULL);
				break;
			}
			log_info("(M2072) the server's inventory differs from the agent's base:"
				 " sending a full snapshot");
			break;
		}
		inventory_done(d, reply);
		break;
	case REQ_NONE:
		break;
	}
}

/* ---- the loop ---- */

static void tick(struct daemon *d)
{
	uint64_t now = now_ms();

	if (d->stopping) {
		if (!uplink_busy(d->up) || now >= d->stop_deadline) {
			if (uplink_busy(d->up))
				log_notice("(M2051) abandoning the request in flight; it stays in"
					   " the spool");
			uplink_abort(d->up);
			d->inflight = REQ_NONE;
			d->done = true;
		}
		return;
	}
	if (d->want_collect || now >= d->next_inventory) {
		collect_inventory(d);
		trim();
	}
	if (uplink_busy(d->up) || now < d->backoff.until_ms)
		return;
	if (d->want_checkin || now >= d->next_checkin) {
		start_checkin(d);
		return;
	}
	if (sched_rate_wait(&d->rate, now) > 0)
		return;
	if (d->events_waiting && now >= d->flush_at) {
		start_events(d);
		if (uplink_busy(d->up))
			return;
	}
	if (d->inventory_waiting)
		start_inventory(d);
}

static void arm(struct daemon *d)
{
	uint64_t now = now_ms(), at = d->next_inventory;
	struct itimerspec its = {0};

	if (d->stopping) {
		at = d->stop_deadline;
	} else if (!uplink_busy(d->up)) {
		uint64_t next = d->want_checkin ? now : d->next_checkin;

		if (d->events_waiting)
			next = MIN(next, MAX(d->flush_at, d->rate.next_ms));
		if (d->inventory_waiting)
			next = MIN(next, d->rate.next_ms);
		at = MIN(at, MAX(next, d->backoff.until_ms));
	}
	if (d->want_collect)
		at = now;
	at = MAX(at, now);
	its.it_value.tv_sec = (time_t) (at / 1000);
	its.it_value.tv_nsec = (long) (at % 1000) * 1000000L + 1; /* never all-zero: disarm */
	if (timerfd_settime(d->timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_error("(M2052) cannot arm the timer: %s", strerror(errno));
}

static void begin_stop(struct daemon *d, const char *why)
{
	struct spool_stats s = {0};

	if (d->stopping)
		return;
	d->stopping = true;
	d->stop_deadline = now_ms() + STOP_GRACE_MS;
	spool_agent_event(d, "agent.stop", json_pack("{s:s}", "reason", why));
	spool_note(spool_stats(d->spool, &s), "stats");
	log_notice("(M2050) stopping (%s); %" PRIu64 " entries (%" PRIu64 " bytes) stay in the"
		   " spool for the next start",
		   why, s.depth, s.bytes);
}

static void sig_dispatch(struct loop_source *src, uint32_t events)
{
	struct daemon *d = LOOP_OWNER(src, struct daemon, sig);
	struct signalfd_siginfo si;

	(void) events;
	while (read(src->fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("(M2053) SIGHUP: checking in now");
			d->want_checkin = true;
			sched_backoff_reset(&d->backoff);
		} else if (si.ssi_signo == SIGUSR1) {
			log_info("(M2075) SIGUSR1: collecting the inventory now");
			d->want_collect = true;
			sched_backoff_reset(&d->backoff);
		} else {
			begin_stop(d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		}
	}
}

static void timer_dispatch(struct loop_source *src, uint32_t events)
{
	uint64_t ticks;

	(void) events;
	(void) !read(src->fd, &ticks, sizeof(ticks));
}

static void ctl_dispatch(struct loop_source *src, uint32_t events)
{
	struct daemon *d = LOOP_OWNER(src, struct daemon, ctl);
	char msg[64];
	bool any = false;

	(void) events;
	while (recv(src->fd, msg, sizeof(msg), MSG_DONTWAIT) >= 0)
		any = true;
	if (any && !d->events_waiting) {
		d->events_waiting = true;
		d->flush_at = now_ms() + FLUSH_DELAY_MS;
	}
}

/* The monitors spooled events: send them soon, together with what else comes meanwhile. */
static void monitors_spooled(void *userdata)
{
	struct daemon *d = userdata;

	if (!d->events_waiting) {
		d->events_waiting = true;
		d->flush_at = now_ms() + FLUSH_DELAY_MS;
	}
}

static int watch(struct daemon *d, struct loop_source *src)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

static int open_control(struct daemon *d)
{
	_cleanup_(freep) char *path = state_path(d->opt->state_dir, STATE_CONTROL);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (!path)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warning("(M2054) %s is too long a path for a socket: `emit` cannot wake the"
			    " daemon, its events go at the next check-in",
			    path);
		return 0;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	(void) unlink(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0) {
		int r = -errno;

		(void) close(fd);
		return r;
	}
	d->ctl = (struct loop_source){.dispatch = ctl_dispatch, .fd = fd};
	return watch(d, &d->ctl);
}

/* ---- USB control (docs/usb-control.md) ---- */

/* USB control's records, a copy to removable media's file.write among them: evidence. */
static int usb_emit(struct mon_sink *sink, const char *type, json_t *data)
{
	spool_event_as(sink->userdata, type, json_incref(data), true);
	return 0;
}

static void monitor_dispatch(struct daemon *d, struct monitor *m, struct loop_source *src)
{
	int r = m->dispatch(m, &d->sink);

	if (r >= 0)
		return;
	log_error("(M1442) %s monitor failed: %s; it stops", m->name, strerror(-r));
	spool_agent_event(d, "agent.monitor_failed",
			  json_pack("{s:s, s:s}", "monitor", m->name, "error", strerror(-r)));
	(void) epoll_ctl(d->epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

static void usb_dispatch(struct loop_source *src, uint32_t events)
{
	struct daemon *d = LOOP_OWNER(src, struct daemon, usb_src);

	(void) events;
	monitor_dispatch(d, d->usb, src);
}

static void rm_dispatch(struct loop_source *src, uint32_t events)
{
	struct daemon *d = LOOP_OWNER(src, struct daemon, rm_src);

	(void) events;
	monitor_dispatch(d, d->removable, src);
}

/*
 * Starts USB control in this process — the worker, which decides, while the privileged
 * parent performs what needs root (privsep_usb.c). Not root at all: nothing can be
 * enforced, and it says so. A failure here leaves the rest of the agent running.
 */
static void usb_setup(struct daemon *d)
{
	struct enf_usb_options o = {.sys_root = d->opt->root,
				    .dev_root = d->opt->root,
				    .root = d->opt->root,
				    .state_dir = d->opt->state_dir,
				    .host = d->conf.host_id};
	struct enf_usb_audit *audit = NULL;
	int r, fd = -1;

	if (!d->separated && geteuid() != 0) {
		log_notice("(M1441) not root: USB control is not enforced");
		return;
	}
	r = enf_usb_new(&o, &d->usb);
	if (r < 0) {
		log_error("(M1442) USB control cannot start: %s", strerror(-r));
		return;
	}
	if (d->separated) {
		enf_usb_set_ops(d->usb, privsep_usb_ops());
		r = privsep_usb_open_audit(&fd);
		if (r == 0)
			r = enf_usb_audit_from_fd(fd, &audit);
	} else {
		r = enf_usb_audit_open(&audit);
	}
	if (r < 0) {
		if (fd >= 0)
			(void) close(fd);
		log_notice("(M1432) USB control: no audit records (%s): refused writes are "
			   "refused but not recorded",
			   strerror(-r));
	} else if (enf_usb_set_audit(d->usb, audit) < 0) {
		log_warning("(M1432) USB control: no audit records");
	}
	fd = -1;
	r = d->separated ? privsep_usb_open_fanotify(&fd) : mon_removable_open_privileged();
	if (!d->separated && r >= 0)
		fd = r;
	if (r >= 0 && mon_removable_new(fd, d->opt->root, &d->removable) == 0) {
		if (d->separated)
			mon_removable_set_mark(d->removable, privsep_usb_fan_mark, NULL);
		enf_usb_set_removable(d->usb, d->removable);
		d->rm_src = (struct loop_source){.dispatch = rm_dispatch, .fd = d->removable->fd};
		if (watch(d, &d->rm_src) < 0)
			log_warning("(M1442) cannot watch removable media");
	} else {
		if (fd >= 0)
			(void) close(fd);
		log_warning("(M1421) removable media: files written are not recorded (%s)",
			    strerror(r < 0 ? -r : ENOMEM));
	}
	d->sink = (struct mon_sink){.emit = usb_emit, .userdata = d};
	d->usb_src = (struct loop_source){.dispatch = usb_dispatch, .fd = d->usb->fd};
	if (watch(d, &d->usb_src) < 0) {
		log_error("(M1442) USB control cannot be watched");
		d->usb->free(d->usb);
		d->usb = NULL;
	}
}

static int setup(struct daemon *d)
{
	_cleanup_(freep) char *key = state_path(d->opt->state_dir, STATE_KEY);
	_cleanup_(freep) char *cert = state_path(d->opt->state_dir, STATE_CERT);
	_cleanup_(freep) char *ca = state_path(d->opt->state_dir, STATE_CA);
	_cleanup_(freep) char *spool = state_path(d->opt->state_dir, STATE_SPOOL);
	_cleanup_(json_decrefp) json_t *acked = NULL;
	struct uplink_tls tls = {.ca_file = ca, .cert_file = cert, .key_file = key};
	uint64_t seed = 0, now;
	int64_t last_collect;
	sigset_t mask;
	int r;

	if (!key || !cert || !ca || !spool)
		return -ENOMEM;
	r = state_check_secrecy(key);
	if (r < 0) {
		log_error("(M2055) %s: %s", key,
			  r == -EPERM ? "the private key must be owned by the agent's user and"
					" readable by it only (chmod 600)"
				      : strerror(-r));
		return r;
	}
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t) sizeof(seed))
		seed = (uint64_t) now_ms() ^ (uint64_t) getpid();
	sched_rng_seed(&d->rng, seed);
	sched_rate_init(&d->rate, d->conf.drain_rate);

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	(void) sigemptyset(&mask);
	(void) sigaddset(&mask, SIGTERM);
	(void) sigaddset(&mask, SIGINT);
	(void) sigaddset(&mask, SIGHUP);
	(void) sigaddset(&mask, SIGUSR1);
	d->sig = (struct loop_source){.dispatch = sig_dispatch,
				      .fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)};
	d->timer = (struct loop_source){
		.dispatch = timer_dispatch,
		.fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC)};
	if (d->sig.fd < 0 || d->timer.fd < 0)
		return -errno;
	r = watch(d, &d->sig);
	if (r == 0)
		r = watch(d, &d->timer);
	if (r < 0)
		return r;
	r = open_control(d);
	if (r < 0)
		log_warning("(M2054) no control socket (%s): `emit` cannot wake the daemon",
			    strerror(-r));

	r = spool_open(spool, d->conf.spool_max, false, &d->spool);
	if (r < 0)
		return r;
	r = spool_chain_start(d->spool, d->conf.host_id);
	if (r < 0)
		return r;
	r = uplink_new(d->epfd, d->conf.server, &tls, &d->up);
	if (r < 0)
		return r;
	if (d->mons) {
		r = mon_set_start(d->mons, d->epfd, d->separated ? privsep_channel() : -1, d->spool,
				  d->opt->state_dir, monitors_spooled, d);
		if (r < 0)
			return r;
	}

	if (spool_meta_get(d->spool, "checkin_interval", CHECKIN_DEFAULT_S, &d->checkin_interval) <
		    0 ||
	    spool_meta_get(d->spool, "inventory_interval", INVENTORY_DEFAULT_S,
			   &d->inventory_interval) < 0 ||
	    spool_meta_get(d->spool, "last_collect", 0, &last_collect) < 0)
		return -EIO;
	d->checkin_interval = sched_clamp_checkin(d->checkin_interval);
	d->inventory_interval = sched_clamp_inventory(d->inventory_interval);
	if (load_acked(d, &acked) == 0 && invdiff_digest(acked, d->acked_digest) < 0)
		d->acked_digest[0] = '\0';

	now = now_ms();
	d->want_checkin = true;
	d->flush_at = now;
	d->events_waiting = events_pending(d);
	{
		int64_t id;
		_cleanup_(freep) char *doc = NULL;
		size_t len;
		bool full;

		d->inventory_waiting = spool_inventory_get(d->spool, &id, &doc, &len, &full) == 0;
	}
	/* Collect at start unless a recent collection is acknowledged or waiting. */
	if ((!d->acked_digest[0] && !d->inventory_waiting) || last_collect <= 0 ||
	    last_collect + d->inventory_interval <= wall_s())
		d->next_inventory = now;
	else
		d->next_inventory =
			now + (uint64_t) (last_collect + d->inventory_interval - wall_s()) * 1000u;
	usb_setup(d);
	load_policy_version(d);
	return 0;
}

static void teardown(struct daemon *d)
{
	if (d->usb)
		d->usb->free(d->usb);
	if (d->removable)
		d->removable->free(d->removable);
	d->usb = d->removable = NULL;
	if (d->spool)
		write_status(d);
	d->mons = mon_set_free(d->mons);
	d->up = uplink_free(d->up);
	d->spool = spool_free(d->spool);
	inventory_forget_upload(d);
	if (d->ctl.fd >= 0) {
		_cleanup_(freep) char *path = state_path(d->opt->state_dir, STATE_CONTROL);

		(void) close(d->ctl.fd);
		if (path)
			(void) unlink(path);
	}
	if (d->sig.fd >= 0)
		(void) close(d->sig.fd);
	if (d->timer.fd >= 0)
		(void) close(d->timer.fd);
	if (d->epfd >= 0)
		(void) close(d->epfd);
	state_conf_done(&d->conf);
}

int daemon_main(const struct daemon_options *o)
{
	struct daemon d = {.opt = o, .epfd = -1, .sig.fd = -1, .timer.fd = -1, .ctl.fd = -1};
	sigset_t mask;
	struct stat st;
	int r;

	if (stat(o->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mamori-agent: cannot use --root %s: not a directory\n", o->root);
		return 2;
	}
	r = state_conf_load(o->state_dir, &d.conf);
	if (r == -ENOENT) {
		fprintf(stderr,
			"mamori-agent: %s is not enrolled (no %s): run `mamori-agent enroll` "
			"first\n",
			o->state_dir, STATE_CONF);
		return EXIT_FAILURE;
	}
	if (r < 0)
		return EXIT_FAILURE;
	if (o->spool_max)
		d.conf.spool_max = o->spool_max;
	if (o->log_level >= 0)
		d.conf.log_level = o->log_level;
	log_setup("mamori-agent", d.conf.log_level);
	tune_malloc();

	/* Blocked before the fork, so the worker inherits it and reads them from a signalfd. */
	(void) sigemptyset(&mask);
	(void) sigaddset(&mask, SIGTERM);
	(void) sigaddset(&mask, SIGINT);
	(void) sigaddset(&mask, SIGHUP);
	(void) sigaddset(&mask, SIGUSR1);
	(void) sigprocmask(SIG_BLOCK, &mask, NULL);
	/* the monitors' root-only sources, opened before the worker drops root (mon_set.c) */
	if (streq(o->root, "/") && mon_set_open_privileged(&d.mons) < 0)
		return EXIT_FAILURE;
	r = privsep_start(o->state_dir, o->root);
	if (r < 0)
		return EXIT_FAILURE;
	d.separated = r > 0;

	if (uplink_global_init() < 0) {
		log_error("(M2056) cannot initialise libcurl");
		return EXIT_FAILURE;
	}
	r = setup(&d);
	if (r < 0) {
		log_error("(M2057) cannot start: %s", strerror(-r));
		teardown(&d);
		curl_global_cleanup();
		return EXIT_FAILURE;
	}
	log_info("(M2058) mamori-agent %s started: server %s, host %s, spool bound %" PRIu64
		 " bytes%s",
		 MAMORI_VERSION, d.conf.server, d.conf.host_id, d.conf.spool_max,
		 d.separated ? ", privilege-separated" : "");
	spool_agent_event(
		&d, "agent.start",
		json_pack("{s:s, s:b}", "version", MAMORI_VERSION, "privsep", d.separated));
	write_status(&d);

	while (!d.done) {
		struct epoll_event ev;
		int n;

		tick(&d);
		if (d.done)
			break;
		arm(&d);
		/* One event per wake-up: a handler may free another source (curl's sockets). */
		n = epoll_wait(d.epfd, &ev, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("(M2059) epoll_wait: %s", strerror(errno));
			break;
		}
		if (n == 1) {
			struct loop_source *src = ev.data.ptr;

			src->dispatch(src, ev.events);
		}
	}
	teardown(&d);
	curl_global_cleanup();
	log_info("(M2073) stopped");
	return EXIT_SUCCESS;
}
