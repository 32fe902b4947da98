/*
 * The daemon's monitors: which run, how they reach the event loop and the spool
 * (docs/internals/monitors.md).
 *
 * Descriptors that need root (the process connector, the fanotify group) are opened by
 * mon_set_open_privileged() before privilege separation forks, so the worker inherits
 * them and never needs the privilege; the parent keeps only the fanotify group, on which
 * it places marks for the worker. The monitors themselves run in the worker: each is a
 * loop source of the daemon's epoll set, and each dispatch's events are spooled in one
 * transaction (the sink buffers them while the monitor runs), so a burst of a thousand
 * file events costs one commit, not a thousand.
 *
 * Monitors watch the live system, so they run only when the daemon's --root is "/"; a
 * fixture root (tests of the collectors and the uplink) has no kernel to watch.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"

#define MAX_MONITORS 4
#define BATCH_MAX    512 /* events held before a commit even inside one dispatch */
#define POLICY_FILE  "policy.json"

struct mon_slot {
	struct loop_source src; /* first: the loop hands us &src */
	struct mon_set *set;
	struct monitor *m;
};

struct mon_set {
	int proc_fd, fan_fd;
	struct mon_priv *priv;
	bool worker_priv;
	struct mon_slot slots[MAX_MONITORS];
	size_t n;
	int epfd;
	struct spool *spool;
	void (*spooled)(void *userdata);
	void *userdata;
	struct mon_sink sink;
	struct spool_event batch[BATCH_MAX];
	char *texts[BATCH_MAX];
	size_t n_batch;
	uint64_t dropped;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flush(struct mon_set *s)
{
	int r;

	if (s->n_batch == 0)
		return;
	r = spool_add_events(s->spool, s->batch, s->n_batch, NULL);
	if (r < 0)
		log_error("(M1242) cannot spool %zu monitor events: %s", s->n_batch, strerror(-r));
	for (size_t i = 0; i < s->n_batch; i++)
		mm_free(s->texts[i]);
	s->n_batch = 0;
	if (r >= 0 && s->spooled)
		s->spooled(s->userdata);
}

/* The sink: events wait in the batch until the dispatch ends (or the batch is full). */
static int sink_emit(struct mon_sink *sink, const char *type, json_t *data)
{
	struct mon_set *s = sink->userdata;
	char *text = jsonw_dump(data);

	if (!text)
		return -ENOMEM;
	if (strlen(text) > LIMIT_EVENT_SIZE) {
		/* cannot happen with the monitors' own limits; never let it fail a batch */
		log_warning("(M1243) a %s event of %zu bytes is over the event size limit;"
			    " dropped",
			    type, strlen(text));
		mm_free(text);
		s->dropped++;
		return 0;
	}
	if (s->n_batch == BATCH_MAX)
		flush(s);
	s->texts[s->n_batch] = text;
	s->batch[s->n_batch++] =
		(struct spool_event){.type = type, .time_ms = wall_ms(), .data = text};
	return 0;
}

static void drop(struct mon_slot *slot, int err)
{
	struct mon_set *s = slot->set;
	json_t *data = json_pack("{s:s, s:s}", "monitor", slot->m->name, "error", strerror(-err));

	log_error("(M1244) the %s monitor failed (%s) and was stopped; the others go on",
		  slot->m->name, strerror(-err));
	if (data) {
		(void) sink_emit(&s->sink, "agent.monitor_failed", data);
		json_decref(data);
		flush(s);
	}
	(void) epoll_ctl(s->epfd, EPOLL_CTL_DEL, slot->src.fd, NULL);
	slot->m->free(slot->m);
	slot->m = NULL;
	slot->src.fd = -1;
}

static void slot_dispatch(struct loop_source *src, uint32_t events)
{
	struct mon_slot *slot = (struct mon_slot *) src;
	int r;

	(void) events;
	if (!slot->m)
		return;
	r = slot->m->dispatch(slot->m, &slot->set->sink);
	flush(slot->set);
	if (r < 0)
		drop(slot, r);
}

/* The set opened before the fork, for the parent's side of it. */
static struct mon_set *opened;

int mon_set_open_privileged(struct mon_set **ret)
{
	struct mon_set *s = mm_calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->proc_fd = s->fan_fd = s->epfd = -1;
	if (geteuid() == 0) {
		r = mon_proc_open_privileged(&s->proc_fd);
		if (r < 0)
			log_warning("(M1245) no process monitor: the process connector: %s",
				    strerror(-r));
		r = mon_fanotify_open_privileged(&s->fan_fd);
		if (r < 0)
			log_warning("(M1245) no file monitor: fanotify: %s", strerror(-r));
	} else {
		log_notice("(M1246) not root: process starts and file operations are not"
			   " monitored; logins and network changes are");
	}
	opened = s;
	*ret = s;
	return 0;
}

void mon_set_parent_side(void)
{
	struct mon_set *s = opened;

	if (!s) {
		privsep_mon_parent_init(-1);
		return;
	}
	if (s->proc_fd >= 0)
		(void) close(s->proc_fd);
	s->proc_fd = -1;
	privsep_mon_parent_init(s->fan_fd);
}

static int load_policy(const char *state_dir, json_t **ret)
{
	_cleanup_(freep) char *path = state_dir ? state_path(state_dir, POLICY_FILE) : NULL;
	_cleanup_(freep) char *text = NULL;
	struct jsonw_error err;
	size_t len;
	int r;

	*ret = NULL;
	if (!path)
		return state_dir ? -ENOMEM : 0;
	r = fileio_read(NULL, path, LIMIT_CONFIG_FILE, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = jsonw_parse(text, len, LIMIT_CONFIG_FILE, ret, &err);
	if (r < 0)
		log_warning("(M1247) %s: %s; the standard collection profile applies", path,
			    err.text);
	return 0;
}

static int add(struct mon_set *s, struct monitor *m)
{
	struct mon_slot *slot = &s->slots[s->n];
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &slot->src};

	*slot = (struct mon_slot){
		.src = {.dispatch = slot_dispatch, .fd = m->fd}, .set = s, .m = m};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, m->fd, &ev) < 0) {
		int r = -errno;

		m->free(m);
		return r;
	}
	s->n++;
	return 0;
}

int mon_set_start(struct mon_set *s, int epfd, int chan, struct spool *sp, const char *state_dir,
		  void (*spooled)(void *userdata), void *userdata)
{
	_cleanup_(json_decrefp) json_t *policy = NULL;
	struct mon_login_paths lp = {.journal = true};
	struct monitor *m;
	int r;

	s->epfd = epfd;
	s->spool = sp;
	s->spooled = spooled;
	s->userdata = userdata;
	s->sink = (struct mon_sink){.emit = sink_emit, .userdata = s};
	s->worker_priv = chan >= 0;
	s->priv = chan >= 0 ? privsep_mon_worker_new(chan) : mon_priv_direct_new(s->fan_fd);
	if (!s->priv)
		return -ENOMEM;
	r = load_policy(state_dir, &policy);
	if (r < 0)
		log_warning("(M1247) cannot read the saved policy: %s; the standard collection"
			    " profile applies",
			    strerror(-r));
	if (s->proc_fd >= 0) {
		r = mon_proc_new(TAKE_FD(s->proc_fd), "/proc", s->priv, &m);
		if (r >= 0)
			r = add(s, m);
		if (r < 0)
			log_warning("(M1245) no process monitor: %s", strerror(-r));
	}
	if (s->fan_fd >= 0) {
		/* the worker reads the group; the parent keeps its own copy for marks */
		r = mon_fanotify_new(TAKE_FD(s->fan_fd), "/proc", s->priv, &m);
		if (r >= 0)
			r = add(s, m);
		if (r < 0)
			log_warning("(M1245) no file monitor: %s", strerror(-r));
	}
	r = mon_login_new(&lp, s->priv, &m);
	if (r >= 0)
		r = add(s, m);
	if (r < 0)
		log_warning("(M1245) no login monitor: %s", strerror(-r));
	r = mon_net_new(NULL, &m);
	if (r >= 0)
		r = add(s, m);
	if (r < 0)
		log_warning("(M1245) no network monitor: %s", strerror(-r));
	r = mon_set_configure(s, policy);
	if (r < 0)
		log_warning("(M1247) the saved policy's collection settings are refused (%s); the"
			    " standard profile applies",
			    strerror(-r));
	log_info("(M1248) %zu monitors running", s->n);
	return 0;
}

int mon_set_configure(struct mon_set *s, const json_t *policy)
{
	struct collection c;
	struct diag d;
	int r;

	/* checked once, so that every monitor takes it or none does */
	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	for (size_t i = 0; i < d.n; i++) {
		_cleanup_(freep) char *msg = diag_format(&d.entries[i]);

		log_warning("(M1249) policy: %s", msg ? msg : "(out of memory)");
	}
	diag_done(&d);
	if (r < 0)
		return r;
	collection_done(&c);
	for (size_t i = 0; i < s->n; i++)
		if (s->slots[i].m && s->slots[i].m->configure) {
			r = s->slots[i].m->configure(s->slots[i].m, policy);
			if (r < 0)
				log_warning("(M1249) the %s monitor keeps its settings: %s",
					    s->slots[i].m->name, strerror(-r));
		}
	flush(s);
	return 0;
}

struct monitor *mon_set_fanotify(struct mon_set *s)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->slots[i].m && streq(s->slots[i].m->name, "fanotify"))
			return s->slots[i].m;
	return NULL;
}

struct mon_set *mon_set_free(struct mon_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->slots[i].m) {
			if (s->epfd >= 0)
				(void) epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->slots[i].src.fd, NULL);
			s->slots[i].m->free(s->slots[i].m);
		}
	for (size_t i = 0; i < s->n_batch; i++)
		mm_free(s->texts[i]);
	if (s->worker_priv)
		privsep_mon_worker_free(s->priv);
	else
		mon_priv_direct_free(s->priv);
	if (s->proc_fd >= 0)
		(void) close(s->proc_fd);
	if (s->fan_fd >= 0)
		(void) close(s->fan_fd);
	if (opened == s)
		opened = NULL;
	mm_free(s);
	return NULL;
}
