/*
 * The sustained rate from each monitor to a spool-like sink, on one core: the monitors'
 * real dispatch paths (recvmsg/read, parsing, /proc reads, caches, JSON) fed with kernel-
 * format input through the same kind of descriptor they read in production, into a sink
 * that does what the spool's append costs short of SQLite (serialise the event, copy it
 * into a bounded buffer). Time is the CPU time of the thread inside dispatch(), so the
 * figure is events per second of one core; the wall rate is printed beside it.
 *
 *   proc       exec events on a datagram socket for live pids (this process and children):
 *              /proc reads, the parent's links, the hash cache (hits after the first)
 *   fanotify   CLOSE_WRITE records through a pipe; directory handles resolve through the
 *              monitor's cache, the process through its per-dispatch cache
 *   login      sshd and sudo lines appended to a followed auth.log
 *   net        RTM_NEWLINK up/down of a tun link on a datagram socket (a VPN event each)
 *
 * Baselines printed with each: the parser alone on the same bytes, and the sink alone on
 * the same events, so the monitor's own share is visible. Goal: >= 20,000 events/s.
 *
 *   bench-monitor-rate [EVENTS] [--spool]   (default 200000 per monitor)
 *
 * With --spool the sink is the agent's real spool (agent/spool.c, SQLite in WAL mode), one
 * transaction per dispatch as the daemon's monitors spool (mon_set.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "agent/monitors.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"

#define GOAL 20000.0

struct sink_state {
	struct mon_sink sink;
	struct spool *sp; /* --spool: the real spool, one transaction per dispatch */
	struct spool_event batch[512];
	char *texts[512];
	size_t n_batch;
	char *buf; /* a ring standing in for the spool's pages */
	size_t cap, pos;
	uint64_t events, bytes;
};

static int64_t now_ms_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The real spool: what the sink held goes in one transaction, as mon_set.c does. */
static void spool_flush(struct sink_state *st)
{
	if (!st->sp || st->n_batch == 0)
		return;
	if (spool_add_events(st->sp, st->batch, st->n_batch, NULL) < 0)
		fprintf(stderr, "bench-monitor-rate: the spool refused a batch\n");
	for (size_t i = 0; i < st->n_batch; i++)
		mm_free(st->texts[i]);
	st->n_batch = 0;
}

static int sink_emit(struct mon_sink *s, const char *type, json_t *data)
{
	struct sink_state *st = s->userdata;
	char *text = jsonw_dump(data);
	size_t len, tlen = strlen(type);

	if (!text)
		return -ENOMEM;
	if (st->sp) {
		if (st->n_batch == ARRAY_SIZE(st->batch))
			spool_flush(st);
		st->texts[st->n_batch] = text;
		st->batch[st->n_batch++] =
			(struct spool_event){.type = type, .time_ms = now_ms_wall(), .data = text};
		st->events++;
		st->bytes += strlen(text);
		return 0;
	}
	len = strlen(text);
	if (st->pos + tlen + len + 16 > st->cap)
		st->pos = 0;
	memcpy(st->buf + st->pos, type, tlen);
	memcpy(st->buf + st->pos + tlen, text, len);
	st->pos += tlen + len;
	st->events++;
	st->bytes += len;
	mm_free(text);
	return 0;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void report(const char *name, uint64_t events, double cpu, double wall, double parse_cpu,
		   double sink_cpu)
{
	printf("%-9s %8.0f events/s on one core (%.2f us CPU each; wall %.0f/s)%s\n", name,
	       (double) events / cpu, cpu * 1e6 / (double) events, (double) events / wall,
	       (double) events / cpu >= GOAL ? "" : "   BELOW GOAL");
	printf("%-9s   baseline: parser alone %.0f ns, sink alone %.0f ns per event\n", "",
	       parse_cpu * 1e9 / (double) events, sink_cpu * 1e9 / (double) events);
}

/* The sink alone: n copies of a typical event, in batches of 64 into the spool if any. */
static double sink_cost(struct sink_state *st, const char *type, json_t *sample, uint64_t n)
{
	double t0 = cpu_now();

	for (uint64_t i = 0; i < n; i++) {
		(void) sink_emit(&st->sink, type, sample);
		if (i % 64 == 63)
			spool_flush(st);
	}
	spool_flush(st);
	return cpu_now() - t0;
}

/* ---- proc ---- */

static size_t exec_msg(unsigned char *buf, int pid, uint64_t ts)
{
	struct nlmsghdr nh = {0};
	struct cn_msg cn = {0};
	unsigned char ev[24] = {0};
	uint32_t what = PROC_EVENT_EXEC;
	size_t total = NLMSG_HDRLEN + sizeof(cn) + sizeof(ev);

	memcpy(ev, &what, 4);
	memcpy(ev + 8, &ts, 8);
	memcpy(ev + 16, &pid, 4);
	memcpy(ev + 20, &pid, 4);
	nh.nlmsg_len = (uint32_t) total;
	nh.nlmsg_type = NLMSG_DONE;
	cn.id.idx = CN_IDX_PROC;
	cn.id.val = CN_VAL_PROC;
	cn.len = sizeof(ev);
	memcpy(buf, &nh, sizeof(nh));
	memcpy(buf + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(buf + NLMSG_HDRLEN + sizeof(cn), ev, sizeof(ev));
	return total;
}

static int count_cb(const struct mon_proc_event *ev, void *u)
{
	(void) ev;
	(*(int *) u)++;
	return 0;
}

static void bench_proc(struct sink_state *st, uint64_t n)
{
	struct mon_priv *priv = mon_priv_direct_new(-1);
	struct monitor *m;
	pid_t kids[8];
	int sv[2], pids[9], np = 0, k = 0;
	unsigned char msg[128];
	double cpu = 0, wall0, parse = 0;
	json_t *policy = json_loads("{\"collection\": {\"profile\": \"detailed\"}}", 0, NULL);
	struct timespec mono;

	pids[np++] = getpid();
	for (int i = 0; i < 8; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
		pids[np++] = kids[i];
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		exit(1);
	if (mon_proc_new(sv[0], "/proc", priv, &m) < 0 || m->configure(m, policy) < 0)
		exit(1);
	st->events = 0;
	wall0 = wall_now();
	while (st->events < n) {
		double t0;
		int batch = 0;

		clock_gettime(CLOCK_MONOTONIC, &mono);
		for (; batch < 64; batch++) {
			size_t len = exec_msg(msg, pids[k++ % np],
					      (uint64_t) mono.tv_sec * 1000000000u +
						      (uint64_t) mono.tv_nsec);

			if (send(sv[1], msg, len, 0) < 0)
				break;
		}
		t0 = cpu_now();
		(void) m->dispatch(m, &st->sink);
		spool_flush(st);
		cpu += cpu_now() - t0;
		if (wall_now() - wall0 > 120) {
			fprintf(stderr, "bench-monitor-rate: %s stalled at %llu events\n", m->name,
				(unsigned long long) st->events);
			exit(1);
		}
	}
	{
		int cnt = 0;
		size_t len = exec_msg(msg, getpid(), 1);
		double t0 = cpu_now();

		for (uint64_t i = 0; i < st->events; i++)
			(void) !mon_proc_parse(msg, len, count_cb, &cnt);
		parse = cpu_now() - t0;
	}
	{
		json_t *sample = json_pack(
			"{s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:s}", "pid", 1234, "ppid", 1, "uid",
			1000, "user", "alice", "exe", "/usr/bin/sleep", "cmdline", "sleep 30",
			"cwd", "/home/alice", "sha256",
			"e296487a3a8f10a1c55e56056ba4bbb2d3ca22ae625af9f0d5cebaed28e55fa4");
		uint64_t events = st->events;
		double sink = sink_cost(st, "process.start", sample, events);

		report("proc", events, cpu, wall_now() - wall0, parse, sink);
		json_decref(sample);
	}
	m->free(m);
	close(sv[1]);
	for (int i = 0; i < 8; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	mon_priv_direct_free(priv);
	json_decref(policy);
}

/* ---- fanotify ---- */

static int stub_mark(struct mon_priv *p, enum mon_fan_op op, const char *path, uint64_t mask,
		     unsigned max, struct mon_fsid *fsid, char ***found)
{
	(void) p, (void) op, (void) path, (void) mask, (void) max, (void) fsid, (void) found;
	return 1;
}

static int stub_handle_path(struct mon_priv *p, const struct mon_fsid *fsid, int type,
			    const void *h, size_t len, char **ret)
{
	(void) p, (void) fsid, (void) type, (void) h, (void) len;
	*ret = mm_strdup("/bench/docs");
	return *ret ? 0 : -ENOMEM;
}

static size_t fan_record(unsigned char *buf, int pid, unsigned name)
{
	struct fanotify_event_metadata md = {.vers = FANOTIFY_METADATA_VERSION,
					     .metadata_len = FAN_EVENT_METADATA_LEN,
					     .mask = FAN_MODIFY | FAN_CLOSE_WRITE,
					     .fd = FAN_NOFD,
					     .pid = pid};
	struct fanotify_event_info_header hdr = {.info_type = FAN_EVENT_INFO_TYPE_DFID_NAME};
	int32_t fsid[2] = {1, 2}, htype = 1;
	uint32_t hb = 8;
	char nm[32];
	size_t nlen = (size_t) snprintf(nm, sizeof(nm), "report-%u.docx", name) + 1;
	size_t ilen = (4 + 8 + 8 + hb + nlen + 3) & ~(size_t) 3;

	md.event_len = (uint32_t) (sizeof(md) + ilen);
	hdr.len = (uint16_t) ilen;
	memset(buf, 0, md.event_len);
	memcpy(buf, &md, sizeof(md));
	memcpy(buf + sizeof(md), &hdr, 4);
	memcpy(buf + sizeof(md) + 4, fsid, 8);
	memcpy(buf + sizeof(md) + 12, &hb, 4);
	memcpy(buf + sizeof(md) + 16, &htype, 4);
	memset(buf + sizeof(md) + 20, 7, hb);
	memcpy(buf + sizeof(md) + 20 + hb, nm, nlen);
	return md.event_len;
}

static void bench_fanotify(struct sink_state *st, uint64_t n)
{
	struct mon_priv priv = {.fan_mark = stub_mark, .fan_handle_path = stub_handle_path};
	struct monitor *m;
	int pfd[2];
	unsigned char rec[256], chunk[60000];
	double cpu = 0, wall0, parse = 0;
	unsigned name = 0;
	json_t *policy =
		json_loads("{\"collection\": {\"files\": {\"folders\": [\"/bench\"]}}}", 0, NULL);
	pid_t writer = fork(); /* the monitor ignores the agent's own writes: another pid */

	if (writer == 0) {
		pause();
		_exit(0);
	}

	if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) < 0)
		exit(1);
	(void) fcntl(pfd[0], F_SETPIPE_SZ, 1 << 20);
	if (mon_fanotify_new(pfd[0], "/proc", &priv, &m) < 0 || m->configure(m, policy) < 0)
		exit(1);
	st->events = 0;
	wall0 = wall_now();
	while (st->events < n) {
		size_t off = 0;
		double t0;

		while (off + 128 < sizeof(chunk)) {
			size_t len = fan_record(rec, writer, name++ % 1000);

			memcpy(chunk + off, rec, len);
			off += len;
		}
		if (write(pfd[1], chunk, off) < 0)
			break;
		t0 = cpu_now();
		(void) m->dispatch(m, &st->sink);
		spool_flush(st);
		cpu += cpu_now() - t0;
		if (wall_now() - wall0 > 120) {
			fprintf(stderr, "bench-monitor-rate: %s stalled at %llu events\n", m->name,
				(unsigned long long) st->events);
			exit(1);
		}
	}
	{
		size_t len = fan_record(rec, getpid(), 1);
		struct mon_fan_record r;
		double t0 = cpu_now();

		for (uint64_t i = 0; i < st->events; i++)
			(void) !mon_fanotify_parse(rec, len, &r);
		parse = cpu_now() - t0;
	}
	{
		json_t *sample = json_pack("{s:s, s:[s,s], s:i, s:i, s:i, s:s, s:s}", "path",
					   "/bench/docs/report-1.docx", "ops", "modify",
					   "close_write", "pid", 1234, "ppid", 1, "uid", 1000,
					   "user", "alice", "exe", "/usr/bin/libreoffice");
		uint64_t events = st->events;

		report("fanotify", events, cpu, wall_now() - wall0, parse,
		       sink_cost(st, "file.write", sample, events));
		json_decref(sample);
	}
	m->free(m);
	close(pfd[1]);
	json_decref(policy);
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
}

/* ---- login ---- */

static void bench_login(struct sink_state *st, uint64_t n)
{
	char dir[] = "/tmp/mamori-bench-XXXXXX", path[128], wtmp[128], btmp[128];
	struct mon_priv *priv = mon_priv_direct_new(-1);
	struct mon_login_paths lp = {.utmp = "/nonexistent"};
	struct monitor *m;
	static const char *const lines[] = {
		"Nov 25 19:45:01 pc sshd[1234]: Accepted password for alice from 192.0.2.1 port "
		"51234 ssh2\n",
		"Nov 25 19:45:02 pc sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
		"COMMAND=/usr/bin/apt update\n",
	};
	double cpu = 0, wall0, parse = 0;
	int fd;

	if (!mkdtemp(dir))
		exit(1);
	snprintf(path, sizeof(path), "%s/auth.log", dir);
	snprintf(wtmp, sizeof(wtmp), "%s/wtmp", dir);
	snprintf(btmp, sizeof(btmp), "%s/btmp", dir);
	lp.auth_log = path;
	lp.wtmp = wtmp;
	lp.btmp = btmp;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	close(open(wtmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	close(open(btmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	if (fd < 0 || mon_login_new(&lp, priv, &m) < 0)
		exit(1);
	st->events = 0;
	wall0 = wall_now();
	while (st->events < n) {
		char block[32768];
		size_t off = 0;
		double t0;

		for (int i = 0; off + 200 < sizeof(block); i++) {
			size_t len = strlen(lines[i % 2]);

			memcpy(block + off, lines[i % 2], len);
			off += len;
		}
		if (write(fd, block, off) < 0)
			break;
		t0 = cpu_now();
		(void) m->dispatch(m, &st->sink);
		spool_flush(st);
		cpu += cpu_now() - t0;
		if (wall_now() - wall0 > 120) {
			fprintf(stderr, "bench-monitor-rate: %s stalled at %llu events\n", m->name,
				(unsigned long long) st->events);
			exit(1);
		}
	}
	{
		double t0 = cpu_now();

		for (uint64_t i = 0; i < st->events; i++) {
			char line[256];
			struct mon_auth a;

			snprintf(line, sizeof(line), "%s", lines[i % 2]);
			line[strlen(line) - 1] = '\0';
			(void) !mon_login_parse_auth_line(line, &a);
		}
		parse = cpu_now() - t0;
	}
	{
		json_t *sample =
			json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i}", "source", "auth.log",
				  "program", "sshd", "pid", 1234, "user", "alice", "method",
				  "password", "host", "192.0.2.1", "port", 51234);
		uint64_t events = st->events;

		report("login", events, cpu, wall_now() - wall0, parse,
		       sink_cost(st, "login.success", sample, events));
		json_decref(sample);
	}
	m->free(m);
	close(fd);
	unlink(path);
	unlink(wtmp);
	unlink(btmp);
	rmdir(dir);
	mon_priv_direct_free(priv);
}

/* ---- net ---- */

static size_t link_msg(unsigned char *buf, bool up)
{
	struct nlmsghdr nh = {.nlmsg_type = RTM_NEWLINK};
	struct ifinfomsg ifi = {
		.ifi_index = 9999, .ifi_type = ARPHRD_NONE, .ifi_flags = up ? 0x1041 : 0x1000};
	unsigned char *p = buf + NLMSG_HDRLEN;
	struct rtattr a = {.rta_type = IFLA_IFNAME, .rta_len = RTA_LENGTH(8)};
	struct rtattr li = {.rta_type = IFLA_LINKINFO, .rta_len = RTA_LENGTH(RTA_LENGTH(4))};
	struct rtattr kind = {.rta_type = 1, .rta_len = RTA_LENGTH(4)};

	memset(buf, 0, 128);
	memcpy(p, &ifi, sizeof(ifi));
	p += NLMSG_ALIGN(sizeof(ifi));
	memcpy(p, &a, sizeof(a));
	memcpy(p + RTA_LENGTH(0), "benchtun", 8);
	p += RTA_ALIGN(a.rta_len);
	memcpy(p, &li, sizeof(li));
	memcpy(p + RTA_LENGTH(0), &kind, sizeof(kind));
	memcpy(p + RTA_LENGTH(0) + RTA_LENGTH(0), "tun", 4);
	p += RTA_ALIGN(li.rta_len);
	nh.nlmsg_len = (uint32_t) (p - buf);
	memcpy(buf, &nh, sizeof(nh));
	return nh.nlmsg_len;
}

static void bench_net(struct sink_state *st, uint64_t n)
{
	struct mon_net_paths np = {.resolv_conf = "/nonexistent/resolv.conf",
				   .wpa_dir = "/nonexistent",
				   .dbus_address = ""};
	struct monitor *m;
	int sv[2];
	unsigned char msg[128];
	double cpu = 0, wall0, parse = 0;
	bool up = true;

	/* the monitor's own rtnetlink socket is swapped for a datagram pair we write to */
	if (mon_net_new(&np, &m) < 0)
		exit(1);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		exit(1);
	if (mon_net_test_replace_rtnl(m, sv[0]) < 0)
		exit(1);
	st->events = 0;
	wall0 = wall_now();
	while (st->events < n) {
		double t0;

		for (int i = 0; i < 64; i++, up = !up) {
			size_t len = link_msg(msg, up);

			if (send(sv[1], msg, len, 0) < 0)
				break;
		}
		t0 = cpu_now();
		(void) m->dispatch(m, &st->sink);
		spool_flush(st);
		cpu += cpu_now() - t0;
		if (wall_now() - wall0 > 120) {
			fprintf(stderr, "bench-monitor-rate: %s stalled at %llu events\n", m->name,
				(unsigned long long) st->events);
			exit(1);
		}
	}
	{
		size_t len = link_msg(msg, true);
		double t0 = cpu_now();

		for (uint64_t i = 0; i < st->events; i++)
			(void) !mon_net_parse_rtnl(msg, len, NULL, NULL);
		parse = cpu_now() - t0;
	}
	{
		json_t *sample = json_pack("{s:s, s:s, s:i}", "interface", "benchtun", "kind",
					   "tun", "index", 9999);
		uint64_t events = st->events;

		report("net", events, cpu, wall_now() - wall0, parse,
		       sink_cost(st, "net.vpn_up", sample, events));
		json_decref(sample);
	}
	m->free(m);
	close(sv[1]);
}

int main(int argc, char **argv)
{
	bool use_spool = argc > 1 && streq(argv[argc - 1], "--spool");
	uint64_t n = argc > (use_spool ? 2 : 1) ? strtoull(argv[1], NULL, 10) : 200000;
	struct sink_state st = {.cap = 64 * 1024 * 1024};
	char spool_dir[] = "/tmp/mamori-bench-spool-XXXXXX", spool_path[96] = "";
	struct rusage ru;

	if (use_spool) {
		if (!mkdtemp(spool_dir))
			return 1;
		(void) snprintf(spool_path, sizeof(spool_path), "%s/spool.db", spool_dir);
		if (spool_open(spool_path, (uint64_t) 4 << 30, false, &st.sp) < 0)
			return 1;
	}

	mm_setup_jansson();
	log_setup("bench-monitor-rate", LOG_ERR);
	st.buf = mm_malloc(st.cap);
	st.sink = (struct mon_sink){.emit = sink_emit, .userdata = &st};
	if (!st.buf || n == 0)
		return 1;
	printf("monitor → %s, %llu events each; goal >= %.0f events/s on one core\n",
	       st.sp ? "the real spool (SQLite, one transaction per dispatch)" : "spool-like sink",
	       (unsigned long long) n, GOAL);
	bench_proc(&st, n / 4 ? n / 4 : 1); /* each costs several /proc reads: fewer */
	bench_fanotify(&st, n);
	bench_login(&st, n);
	bench_net(&st, n);
	getrusage(RUSAGE_SELF, &ru);
	printf("process CPU: user %.2f s, system %.2f s; peak RSS %ld KiB\n",
	       (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6,
	       (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
	mm_free(st.buf);
	if (st.sp) {
		st.sp = spool_free(st.sp);
		(void) unlink(spool_path);
		for (const char *x = "-wal"; x; x = streq(x, "-wal") ? "-shm" : NULL) {
			char p[128];

			(void) snprintf(p, sizeof(p), "%s%s", spool_path, x);
			(void) unlink(p);
		}
		(void) rmdir(spool_dir);
	}
	return 0;
}
