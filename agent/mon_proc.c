/*
 * Process starts, from the kernel's process connector (NETLINK_CONNECTOR, CN_IDX_PROC):
 * one "process.start" event per exec, with the process's parent, users, executable,
 * working directory, command line (when the profile keeps them) and the executable's
 * SHA-256 (docs/events.md).
 *
 * The connector only says "pid N exec'd"; the rest is read from /proc afterwards
 * (procinfo.c), which races with short-lived processes: what could be read is recorded and
 * the event says "gone". Datagrams are accepted only from the kernel (netlink port 0),
 * since any local process may send to our port. A full socket buffer (ENOBUFS) loses
 * events; that is reported as a monitor.overflow event, never silently.
 *
 * Hashing executables costs: the hash is cached by (device, inode, mtime, size) in an LRU
 * of LIMIT_HASH_CACHE entries, so a program run again costs nothing, and the bytes hashed
 * are rate-limited by a token bucket (collection.process.hash_rate_mib, one second of
 * burst). A miss that fits the bucket is hashed at once, inside the event; one that does
 * not goes to a queue of LIMIT_HASH_QUEUE open executables hashed in slices from a timer
 * (armed only while the queue holds work), and its hash follows in a "process.exe_hash"
 * event. So a burst of new large binaries neither stalls the event loop nor goes unhashed,
 * and an executable replaced or deleted after it started is still hashed as it ran (the
 * descriptor is the one the process executes).
 *
 * process.exit is not reported: the kernel sends one exit per thread and per forked child,
 * several times the exec traffic, while an investigation asks what was started, by whom,
 * from what. The parser decodes exits (and forks) so adding it is a policy flag away.
 *
 * The monitor's fd is an epoll set over the netlink socket and the hashing timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "agent/agent.h"
#include "agent/monitors.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define RECV_BUF      8192
#define HASH_CHUNK    ((size_t) 256 * 1024)
#define HASH_TICK_MS  100
#define SOCKET_RCVBUF (4 * 1024 * 1024)
#define TAG_NETLINK   1
#define TAG_TIMER     2

/* The proc_event header as the kernel lays it out: what, cpu, timestamp_ns, then the
 * union at offset 16. Read field by field from unaligned bytes. */
#define EV_OFF_WHAT 0
#define EV_OFF_TS   8
#define EV_OFF_DATA 16

struct hash_key {
	dev_t dev;
	ino_t ino;
	int64_t mtime_sec, mtime_nsec;
	uint64_t size;
};

struct hash_entry {
	struct hash_key key;
	uint64_t used; /* LRU clock */
	char hex[65];
};

struct hash_job {
	int fd;
	struct hash_key key;
	uint64_t done;
	gnutls_hash_hd_t ctx;
	int pid;
	char *exe;
};

struct proc_mon {
	struct monitor m;
	int nl_fd, timer_fd;
	char *proc_root;
	struct mon_priv *priv;
	bool enabled, cmdline, hash;
	uint64_t hash_rate;
	double tokens;
	uint64_t tokens_at_ns;
	bool timer_armed;
	struct hash_entry *cache;
	size_t n_cache;
	uint64_t clock;
	struct hash_job jobs[LIMIT_HASH_QUEUE];
	size_t n_jobs;
	unsigned char *chunk;
	struct mon_sink *sink; /* during dispatch */
	long ticks_per_s;
	struct mon_proc_stats stats;
};

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Decodes one proc_event of len bytes. -EBADMSG when it is too short for its type. */
static int decode_event(const unsigned char *p, size_t len, struct mon_proc_event *ev)
{
	const unsigned char *d = p + EV_OFF_DATA;
	size_t need;

	if (len < EV_OFF_DATA)
		return -EBADMSG;
	*ev = (struct mon_proc_event){.what = get_u32(p + EV_OFF_WHAT),
				      .timestamp_ns = get_u64(p + EV_OFF_TS)};
	switch (ev->what) {
	case PROC_EVENT_NONE:
		need = 4;
		break;
	case PROC_EVENT_FORK:
	case PROC_EVENT_EXIT: /* kernels before 4.x sent no parent fields: 16 bytes */
		need = 16;
		break;
	default:
		need = 8; /* every other type starts with process_pid, process_tgid */
		break;
	}
	if (len - EV_OFF_DATA < need)
		return -EBADMSG;
	switch (ev->what) {
	case PROC_EVENT_NONE:
		ev->err = (int) get_u32(d);
		break;
	case PROC_EVENT_FORK:
		ev->parent_pid = (int) get_u32(d);
		ev->parent_tgid = (int) get_u32(d + 4);
		ev->pid = (int) get_u32(d + 8);
		ev->tgid = (int) get_u32(d + 12);
		break;
	case PROC_EVENT_EXIT:
		ev->pid = (int) get_u32(d);
		ev->tgid = (int) get_u32(d + 4);
		ev->exit_code = get_u32(d + 8);
		ev->exit_signal = get_u32(d + 12);
		if (len - EV_OFF_DATA >= 24) {
			ev->parent_pid = (int) get_u32(d + 16);
			ev->parent_tgid = (int) get_u32(d + 20);
		}
		break;
	default:
		ev->pid = (int) get_u32(d);
		ev->tgid = (int) get_u32(d + 4);
		break;
	}
	return 0;
}

int mon_proc_parse(const void *buf, size_t len, mon_proc_fn fn, void *userdata)
{
	const unsigned char *p = buf;
	int n = 0, r;

	while (len > 0) {
		struct nlmsghdr nh;
		struct cn_msg cn;
		struct mon_proc_event ev;
		size_t msg_len, step;

		if (len < sizeof(nh))
			return -EBADMSG;
		memcpy(&nh, p, sizeof(nh));
		msg_len = nh.nlmsg_len;
		if (msg_len < sizeof(nh) || msg_len > len)
			return -EBADMSG;
		step = NLMSG_ALIGN(msg_len);
		if (step > len)
			step = len; /* the last message needs no padding */
		if (nh.nlmsg_type == NLMSG_ERROR || nh.nlmsg_type == NLMSG_NOOP ||
		    nh.nlmsg_type == NLMSG_OVERRUN)
			goto next;
		/* the connector sends its messages as NLMSG_DONE */
		if (msg_len - NLMSG_HDRLEN < sizeof(cn) || NLMSG_HDRLEN > msg_len)
			return -EBADMSG;
		memcpy(&cn, p + NLMSG_HDRLEN, sizeof(cn));
		if (cn.len > msg_len - NLMSG_HDRLEN - sizeof(cn))
			return -EBADMSG;
		if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
			goto next;
		if (decode_event(p + NLMSG_HDRLEN + sizeof(cn), cn.len, &ev) < 0)
			return -EBADMSG;
		n++;
		if (fn) {
			r = fn(&ev, userdata);
			if (r < 0)
				return r;
		}
	next:
		p += step;
		len -= step;
	}
	return n;
}

/* Sends one PROC_CN_MCAST_* request of op_len bytes to the connector. */
static int send_mcast(int fd, const void *op, size_t op_len)
{
	unsigned char msg[NLMSG_HDRLEN + sizeof(struct cn_msg) + 8] = {0};
	struct nlmsghdr nh = {.nlmsg_type = NLMSG_DONE}; /* port 0: the kernel assigns ours */
	struct cn_msg cn = {.id = {.idx = CN_IDX_PROC, .val = CN_VAL_PROC}};
	size_t total = NLMSG_HDRLEN + sizeof(cn) + op_len;

	nh.nlmsg_len = (uint32_t) total;
	cn.len = (uint16_t) op_len;
	memcpy(msg, &nh, sizeof(nh));
	memcpy(msg + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(msg + NLMSG_HDRLEN + sizeof(cn), op, op_len);
	if (send(fd, msg, total, 0) != (ssize_t) total)
		return -errno;
	return 0;
}

int mon_proc_open_privileged(int *ret_fd)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
	uint32_t listen_op = PROC_CN_MCAST_LISTEN;
	/* struct proc_input (Linux 6.6): the operation and the events wanted */
	uint32_t filtered[2] = {PROC_CN_MCAST_LISTEN, PROC_EVENT_EXEC};
	int size = SOCKET_RCVBUF, r;
	_cleanup_(closep) int fd = -1;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (fd < 0)
		return -errno;
	/* a burst of execs (a build, a login) must not overflow the default 200 KiB */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return -errno;
	/*
	 * The plain request first, understood by every kernel; then the filtered one, which a
	 * kernel before 6.6 ignores (wrong length) and a newer one applies to this socket, so
	 * forks and exits are not even sent to us.
	 */
	r = send_mcast(fd, &listen_op, sizeof(listen_op));
	if (r < 0)
		return r;
	r = send_mcast(fd, filtered, sizeof(filtered));
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int mon_proc_hash_fd(int fd, uint64_t max, char ret_hex[65])
{
	unsigned char buf[64 * 1024], md[32];
	gnutls_hash_hd_t h;
	uint64_t off = 0;
	int r = 0;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t) off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		off += (uint64_t) n;
		if (off > max) {
			r = -EFBIG;
			break;
		}
		if (gnutls_hash(h, buf, (size_t) n) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	gnutls_hash_deinit(h, md);
	if (r < 0)
		return r;
	str_hex(md, sizeof(md), ret_hex);
	return 0;
}

static struct proc_mon *to_proc(struct monitor *m)
{
	return (struct proc_mon *) m;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	(void) clock_gettime(clk, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void refill(struct proc_mon *p)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	double cap = (double) p->hash_rate;

	p->tokens += (double) (now - p->tokens_at_ns) * cap / 1e9;
	if (p->tokens > cap)
		p->tokens = cap;
	p->tokens_at_ns = now;
}

static bool key_eq(const struct hash_key *a, const struct hash_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->mtime_sec == b->mtime_sec &&
	       a->mtime_nsec == b->mtime_nsec && a->size == b->size;
}

static const char *cache_get(struct proc_mon *p, const struct hash_key *k)
{
	for (size_t i = 0; i < p->n_cache; i++)
		if (key_eq(&p->cache[i].key, k)) {
			p->cache[i].used = ++p->clock;
			return p->cache[i].hex;
		}
	return NULL;
}

static void cache_put(struct proc_mon *p, const struct hash_key *k, const char *hex)
{
	struct hash_entry *e;

	if (p->n_cache < LIMIT_HASH_CACHE) {
		e = &p->cache[p->n_cache++];
	} else {
		e = &p->cache[0];
		for (size_t i = 1; i < p->n_cache; i++)
			if (p->cache[i].used < e->used)
				e = &p->cache[i];
	}
	e->key = *k;
	e->used = ++p->clock;
	memcpy(e->hex, hex, 65);
}

static void arm_timer(struct proc_mon *p, bool on)
{
	struct itimerspec its = {0};

	if (on == p->timer_armed)
		return;
	if (on) {
		its.it_value.tv_nsec = HASH_TICK_MS * 1000000L;
		its.it_interval = its.it_value;
	}
	if (timerfd_settime(p->timer_fd, 0, &its, NULL) == 0)
		p->timer_armed = on;
}

static void job_done(struct hash_job *j)
{
	if (j->ctx)
		gnutls_hash_deinit(j->ctx, NULL);
	if (j->fd >= 0)
		(void) close(j->fd);
	mm_free(j->exe);
	*j = (struct hash_job){.fd = -1};
}

/*
 * Decides the hash fields of an event for the executable at fd (taken: kept by a queued
 * job or closed): "sha256", or "sha256_pending" (a process.exe_hash event follows), or
 * "sha256_skipped" with the reason.
 */
static int hash_fields(struct proc_mon *p, json_t *data, int fd, int pid, const char *exe)
{
	_cleanup_(closep) int owned = fd;
	struct hash_key key;
	struct stat st;
	const char *hex;
	char buf[65];
	int r;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return jsonw_set(data, "sha256_skipped", json_string("unreadable"));
	key = (struct hash_key){.dev = st.st_dev,
				.ino = st.st_ino,
				.mtime_sec = st.st_mtim.tv_sec,
				.mtime_nsec = st.st_mtim.tv_nsec,
				.size = (uint64_t) st.st_size};
	hex = cache_get(p, &key);
	if (hex) {
		p->stats.hash_cache_hits++;
		return jsonw_set(data, "sha256", json_string(hex));
	}
	if (key.size > LIMIT_HASH_FILE) {
		p->stats.hash_skipped++;
		return jsonw_set(data, "sha256_skipped", json_string("too_large"));
	}
	refill(p);
	if ((double) key.size <= p->tokens) {
		r = mon_proc_hash_fd(fd, LIMIT_HASH_FILE, buf);
		if (r < 0) {
			p->stats.hash_skipped++;
			return jsonw_set(data, "sha256_skipped",
					 json_string(r == -ENOMEM ? "no_memory" : "unreadable"));
		}
		p->tokens -= (double) key.size;
		p->stats.hashed_inline++;
		p->stats.bytes_hashed += key.size;
		cache_put(p, &key, buf);
		return jsonw_set(data, "sha256", json_string(buf));
	}
	for (size_t i = 0; i < p->n_jobs; i++)
		if (key_eq(&p->jobs[i].key, &key))
			return jsonw_set(data, "sha256_pending", json_true());
	if (p->n_jobs >= LIMIT_HASH_QUEUE) {
		p->stats.hash_skipped++;
		return jsonw_set(data, "sha256_skipped", json_string("busy"));
	}
	{
		struct hash_job *j = &p->jobs[p->n_jobs];

		*j = (struct hash_job){.fd = -1, .key = key, .pid = pid};
		j->exe = mm_strdup(exe ? exe : "");
		if (!j->exe || gnutls_hash_init(&j->ctx, GNUTLS_DIG_SHA256) < 0) {
			job_done(j);
			return -ENOMEM;
		}
		j->fd = TAKE_FD(owned);
		p->n_jobs++;
		arm_timer(p, true);
	}
	return jsonw_set(data, "sha256_pending", json_true());
}

static void lost_event(struct proc_mon *p, int r)
{
	(void) p;
	if (r == -ENOMEM)
		log_warning("(M1201) process monitor: out of memory, a process start was lost");
}

/* Turns one exec into a process.start event. */
static int on_exec(struct proc_mon *p, const struct mon_proc_event *ev)
{
	_cleanup_(json_decrefp) json_t *data = NULL;
	struct procinfo pi;
	uint64_t not_after = 0;
	unsigned what = PROCINFO_CWD;
	int r, fd;

	if (ev->timestamp_ns && p->ticks_per_s > 0) {
		/* the event's time is CLOCK_MONOTONIC, a process's start time is CLOCK_BOOTTIME
		 * (which also counts suspend); one tick of slack for the rounding */
		uint64_t boot =
			ev->timestamp_ns + (now_ns(CLOCK_BOOTTIME) - now_ns(CLOCK_MONOTONIC));

		not_after = boot / (1000000000u / (uint64_t) p->ticks_per_s) + 1;
	}
	if (p->cmdline)
		what |= PROCINFO_CMDLINE;
	if (p->hash)
		what |= PROCINFO_EXE_FD;
	r = procinfo_read(p->proc_root, p->priv, ev->pid, what, not_after, &pi);
	if (r < 0)
		return r;
	data = json_object();
	if (!data) {
		procinfo_done(&pi);
		return -ENOMEM;
	}
	r = procinfo_to_json(&pi, data);
	fd = pi.exe_fd;
	pi.exe_fd = -1;
	if (r >= 0 && p->hash)
		r = hash_fields(p, data, fd, pi.pid, pi.exe);
	else if (fd >= 0)
		(void) close(fd);
	if (pi.gone)
		p->stats.gone++;
	procinfo_done(&pi);
	if (r < 0)
		return r;
	p->stats.events++;
	r = p->sink->emit(p->sink, "process.start", data);
	return r == -ENOSPC ? 0 : r;
}

static int on_event(const struct mon_proc_event *ev, void *userdata)
{
	struct proc_mon *p = userdata;
	int r;

	if (ev->what == PROC_EVENT_NONE && ev->err)
		log_warning("(M1202) process monitor: the kernel refused the subscription: %s",
			    strerror((int) ev->err));
	if (ev->what != PROC_EVENT_EXEC || !p->enabled)
		return 0;
	r = on_exec(p, ev);
	if (r < 0)
		lost_event(p, r);
	return 0;
}

static int emit_overflow(struct proc_mon *p)
{
	_cleanup_(json_decrefp) json_t *data =
		json_pack("{s:s, s:s}", "monitor", "proc", "reason", "socket buffer full");
	int r;

	if (!data)
		return -ENOMEM;
	r = p->sink->emit(p->sink, "monitor.overflow", data);
	return r == -ENOSPC ? 0 : r;
}

static int drain_netlink(struct proc_mon *p)
{
	unsigned char buf[RECV_BUF];

	for (;;) {
		struct sockaddr_nl from = {0};
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = &iov,
				    .msg_iovlen = 1};
		ssize_t n = recvmsg(p->nl_fd, &mh, MSG_DONTWAIT);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno == ENOBUFS) {
				r = emit_overflow(p);
				if (r < 0)
					lost_event(p, r);
				continue;
			}
			return -errno;
		}
		/* only the kernel speaks for the connector; anyone may send to our port */
		if (from.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC))
			continue;
		r = mon_proc_parse(buf, (size_t) n, on_event, p);
		if (r == -EBADMSG)
			log_debug("process monitor: a malformed connector datagram was skipped");
	}
}

/* One timer tick: hashes what the bucket allows of the queued executables. */
static void run_jobs(struct proc_mon *p)
{
	uint64_t expirations;

	(void) !read(p->timer_fd, &expirations, sizeof(expirations));
	refill(p);
	while (p->n_jobs > 0 && p->tokens >= 1) {
		struct hash_job *j = &p->jobs[0];
		size_t want = (size_t) MIN((double) HASH_CHUNK, p->tokens);
		ssize_t n = pread(j->fd, p->chunk, want, (off_t) j->done);

		if (n > 0) {
			p->tokens -= (double) n;
			j->done += (uint64_t) n;
			p->stats.bytes_hashed += (uint64_t) n;
			if (gnutls_hash(j->ctx, p->chunk, (size_t) n) < 0)
				n = -1;
		}
		if (n < 0 || j->done > LIMIT_HASH_FILE) {
			p->stats.hash_skipped++;
		} else if (n == 0) {
			unsigned char md[32];
			char hex[65];
			json_t *data;

			gnutls_hash_deinit(j->ctx, md);
			j->ctx = NULL;
			str_hex(md, sizeof(md), hex);
			cache_put(p, &j->key, hex);
			p->stats.hashed_deferred++;
			data = json_pack("{s:i, s:o, s:s, s:I}", "pid", j->pid, "exe",
					 col_json_text(j->exe, strlen(j->exe)), "sha256", hex,
					 "size", (json_int_t) j->key.size);
			if (data) {
				(void) !p->sink->emit(p->sink, "process.exe_hash", data);
				json_decref(data);
			} else {
				lost_event(p, -ENOMEM);
			}
		} else {
			continue;
		}
		job_done(j);
		memmove(&p->jobs[0], &p->jobs[1], (p->n_jobs - 1) * sizeof(p->jobs[0]));
		p->n_jobs--;
	}
	if (p->n_jobs == 0)
		arm_timer(p, false);
}

static int dispatch(struct monitor *m, struct mon_sink *sink)
{
	struct proc_mon *p = to_proc(m);
	struct epoll_event evs[2];
	int n, r = 0;

	p->sink = sink;
	n = epoll_wait(m->fd, evs, (int) ARRAY_SIZE(evs), 0);
	for (int i = 0; i < n && r >= 0; i++) {
		if (evs[i].data.u32 == TAG_NETLINK)
			r = drain_netlink(p);
		else
			run_jobs(p);
	}
	p->sink = NULL;
	return r;
}

static int configure(struct monitor *m, const json_t *policy)
{
	struct proc_mon *p = to_proc(m);
	struct collection c;
	struct diag d;
	int r;

	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	diag_done(&d);
	if (r < 0)
		return r;
	p->enabled = c.process;
	p->cmdline = c.process_cmdline;
	p->hash = c.process_hash;
	p->hash_rate = c.hash_rate;
	if (p->tokens > (double) p->hash_rate)
		p->tokens = (double) p->hash_rate;
	collection_done(&c);
	return 0;
}

static void proc_free(struct monitor *m)
{
	struct proc_mon *p = to_proc(m);

	if (!p)
		return;
	for (size_t i = 0; i < p->n_jobs; i++)
		job_done(&p->jobs[i]);
	if (p->nl_fd >= 0)
		(void) close(p->nl_fd);
	if (p->timer_fd >= 0)
		(void) close(p->timer_fd);
	if (m->fd >= 0)
		(void) close(m->fd);
	mm_free(p->cache);
	mm_free(p->chunk);
	mm_free(p->proc_root);
	mm_free(p);
}

int mon_proc_new(int fd, const char *proc_root, struct mon_priv *priv, struct monitor **ret)
{
	struct proc_mon *p;
	struct epoll_event ev = {.events = EPOLLIN};
	struct collection c;

	p = mm_calloc(1, sizeof(*p));
	if (!p) {
		(void) close(fd);
		return -ENOMEM;
	}
	p->m = (struct monitor){.name = "proc",
				.fd = -1,
				.dispatch = dispatch,
				.configure = configure,
				.free = proc_free};
	p->nl_fd = fd;
	p->timer_fd = -1;
	p->priv = priv;
	p->ticks_per_s = sysconf(_SC_CLK_TCK);
	p->proc_root = mm_strdup(proc_root ? proc_root : "/proc");
	p->cache = mm_calloc(LIMIT_HASH_CACHE, sizeof(*p->cache));
	p->chunk = mm_malloc(HASH_CHUNK);
	if (!p->proc_root || !p->cache || !p->chunk || collection_init_default(&c) < 0) {
		proc_free(&p->m);
		return -ENOMEM;
	}
	p->enabled = c.process;
	p->cmdline = c.process_cmdline;
	p->hash = c.process_hash;
	p->hash_rate = c.hash_rate;
	collection_done(&c);
	p->tokens = (double) p->hash_rate;
	p->tokens_at_ns = now_ns(CLOCK_MONOTONIC);
	p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	p->m.fd = epoll_create1(EPOLL_CLOEXEC);
	if (p->timer_fd < 0 || p->m.fd < 0) {
		int r = -errno;

		proc_free(&p->m);
		return r;
	}
	ev.data.u32 = TAG_NETLINK;
	if (epoll_ctl(p->m.fd, EPOLL_CTL_ADD, p->nl_fd, &ev) < 0) {
		int r = -errno;

		proc_free(&p->m);
		return r;
	}
	ev.data.u32 = TAG_TIMER;
	if (epoll_ctl(p->m.fd, EPOLL_CTL_ADD, p->timer_fd, &ev) < 0) {
		int r = -errno;

		proc_free(&p->m);
		return r;
	}
	*ret = &p->m;
	return 0;
}

void mon_proc_get_stats(const struct monitor *m, struct mon_proc_stats *ret)
{
	*ret = ((const struct proc_mon *) m)->stats;
}
