/*
 * The monitors' privileged operations across privilege separation (docs/internals/
 * privsep.md, "Monitors"): the worker's struct mon_priv sends each operation to the root
 * parent over the privsep channel, and the parent does it with the in-process
 * implementation (mon_priv.c) on its own copy of the fanotify group.
 *
 * Why these four and no more: the worker reads the process connector and the fanotify
 * group itself (descriptors opened as root before the fork and inherited), and parses
 * everything; what it cannot do as an unprivileged user is read other users' /proc/PID/exe
 * and cwd (ptrace access), place fanotify marks (CAP_SYS_ADMIN) and walk the directories to
 * mark, turn a file handle into a path (open_by_handle_at needs CAP_DAC_READ_SEARCH), and
 * open root-only logs (btmp, auth.log). Each is one typed request answered by one message;
 * file descriptors (the executable to hash, a log file) travel as SCM_RIGHTS.
 *
 * Requests, in host byte order (both ends are the same binary); every field is checked
 * by the parent, and anything off-contract is fatal to the agent (privsep.c kills the
 * worker and exits), because the worker is then not the program we started:
 *   PROC_LINKS  pid, want (cwd, exe fd)          → err, exe, cwd, [fd]
 *   FAN_MARK    op, mask, max, fsid, path        → count or -errno, fsid, found list
 *   HANDLE_PATH fsid, type, handle (1..128 B)    → err, path
 *   OPEN_FILE   id in mon_files[]                → err, [fd]
 * Masks are limited to the bits the file monitor uses; paths must be absolute, without
 * NUL, under LIMIT_PATH; a mark's path must not go through a symlink (mon_priv.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "agent/monitors.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/mm.h"

#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif

/* The bits a fanotify mark may ask for: what mon_fanotify.c uses. */
#define MARK_MASK_ALLOWED                                                                      \
	((uint64_t) (FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_MOVED_FROM | \
		     FAN_MOVED_TO | FAN_RENAME | FAN_ONDIR | FAN_EVENT_ON_CHILD))
#define HANDLE_MAX 128
#define WANT_CWD   1u
#define WANT_FD    2u

/* The root-only files the monitors follow, by id. Append only. */
static const char *const mon_files[] = {
	"/var/log/btmp",
	"/var/log/auth.log",
	"/var/log/wtmp",
};

struct req_proc {
	uint32_t op;
	int32_t pid;
	uint32_t want;
	uint32_t zero;
};
struct rep_proc {
	int32_t err;
	uint32_t exe_len, cwd_len, has_fd;
};
struct req_mark {
	uint32_t op;
	uint32_t mark_op;
	uint64_t mask;
	uint32_t max;
	int32_t fsid[2];
	uint32_t path_len;
};
struct rep_mark {
	int32_t r;
	int32_t fsid[2];
	uint32_t found_len;
};
struct req_handle {
	uint32_t op;
	int32_t fsid[2];
	int32_t type;
	uint32_t len;
	uint32_t zero;
};
struct rep_path {
	int32_t err;
	uint32_t len;
};
struct req_open {
	uint32_t op;
	uint32_t id;
	uint32_t zero[2];
};
struct rep_open {
	int32_t err;
	uint32_t has_fd;
};

#define REQ_MAX (sizeof(struct req_mark) + LIMIT_PATH)
#define REP_MAX (sizeof(struct rep_mark) + LIMIT_PRIV_FILE)

/* ---- both sides: one message, maybe with a descriptor ---- */

static int send_msg(int fd, const void *a, size_t alen, const void *b, size_t blen, int pass_fd)
{
	struct iovec iov[2] = {{.iov_base = (void *) a, .iov_len = alen},
			       {.iov_base = (void *) b, .iov_len = blen}};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = blen ? 2 : 1};
	ssize_t n;

	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t) n == alen + blen ? 0 : -EPIPE;
}

/* Receives one message into buf (at most size); *ret_fd gets a passed descriptor or -1. */
static ssize_t recv_msg(int fd, void *buf, size_t size, int *ret_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	ssize_t n;

	*ret_fd = -1;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*ret_fd >= 0)
			(void) close(*ret_fd);
		*ret_fd = -1;
		return -EPROTO;
	}
	return n;
}

/* ---- the worker's side ---- */

struct worker_priv {
	struct mon_priv ops;
	int chan;
	unsigned char *buf; /* REP_MAX */
};

static struct worker_priv *to_worker(struct mon_priv *p)
{
	return (struct worker_priv *) p;
}

/* Sends a request and receives its answer into w->buf; returns the answer's length. */
static ssize_t call(struct worker_priv *w, const void *req, size_t len, const void *tail,
		    size_t tail_len, size_t fixed, int *ret_fd)
{
	ssize_t n;
	int r = send_msg(w->chan, req, len, tail, tail_len, -1);

	if (r < 0)
		return r;
	n = recv_msg(w->chan, w->buf, REP_MAX, ret_fd);
	if (n >= 0 && (size_t) n < fixed) {
		if (*ret_fd >= 0)
			(void) close(*ret_fd);
		return -EPROTO;
	}
	return n;
}

static char *dup_n(const unsigned char *p, size_t n)
{
	return mm_strndup((const char *) p, n);
}

static int w_proc_links(struct mon_priv *p, int pid, char **ret_exe, char **ret_cwd,
			int *ret_exe_fd)
{
	struct worker_priv *w = to_worker(p);
	struct req_proc req = {.op = PRIVSEP_OP_MON_PROC_LINKS,
			       .pid = pid,
			       .want = (ret_cwd ? WANT_CWD : 0) | (ret_exe_fd ? WANT_FD : 0)};
	struct rep_proc rep;
	char *exe = NULL, *cwd = NULL;
	int fd;
	ssize_t n = call(w, &req, sizeof(req), NULL, 0, sizeof(rep), &fd);

	if (n < 0)
		return (int) n;
	memcpy(&rep, w->buf, sizeof(rep));
	if ((size_t) n != sizeof(rep) + rep.exe_len + rep.cwd_len || rep.err > 0 ||
	    (rep.has_fd != 0) != (fd >= 0)) {
		if (fd >= 0)
			(void) close(fd);
		return -EPROTO;
	}
	if (rep.err < 0)
		return rep.err;
	if (rep.exe_len)
		exe = dup_n(w->buf + sizeof(rep), rep.exe_len);
	if (rep.cwd_len)
		cwd = dup_n(w->buf + sizeof(rep) + rep.exe_len, rep.cwd_len);
	if ((rep.exe_len && !exe) || (rep.cwd_len && !cwd)) {
		mm_free(exe);
		mm_free(cwd);
		if (fd >= 0)
			(void) close(fd);
		return -ENOMEM;
	}
	if (ret_exe)
		*ret_exe = exe;
	else
		mm_free(exe);
	if (ret_cwd)
		*ret_cwd = cwd;
	else
		mm_free(cwd);
	if (ret_exe_fd)
		*ret_exe_fd = fd;
	else if (fd >= 0)
		(void) close(fd);
	return 0;
}

static int w_fan_mark(struct mon_priv *p, enum mon_fan_op op, const char *path, uint64_t mask,
		      unsigned max_marks, struct mon_fsid *fsid, char ***ret_found)
{
	struct worker_priv *w = to_worker(p);
	size_t plen = path ? strlen(path) : 0;
	struct req_mark req = {.op = PRIVSEP_OP_MON_FAN_MARK,
			       .mark_op = (uint32_t) op,
			       .mask = mask,
			       .max = max_marks,
			       .path_len = (uint32_t) plen};
	struct rep_mark rep;
	char **found = NULL;
	ssize_t n;
	int fd;

	if (plen >= LIMIT_PATH)
		return -E2BIG;
	if (fsid)
		memcpy(req.fsid, fsid->val, sizeof(req.fsid));
	n = call(w, &req, sizeof(req), path, plen, sizeof(rep), &fd);
	if (n < 0)
		return (int) n;
	if (fd >= 0)
		(void) close(fd);
	memcpy(&rep, w->buf, sizeof(rep));
	if ((size_t) n != sizeof(rep) + rep.found_len)
		return -EPROTO;
	if (rep.found_len && ret_found) {
		/* NUL-separated entries */
		const unsigned char *q = w->buf + sizeof(rep), *end = q + rep.found_len;
		size_t count = 0, k = 0;

		for (const unsigned char *s = q; s < end; s++)
			count += *s == '\0';
		found = mm_calloc(count + 1, sizeof(char *));
		if (!found)
			return -ENOMEM;
		while (q < end && k < count) {
			size_t len = strnlen((const char *) q, (size_t) (end - q));

			found[k] = dup_n(q, len);
			if (!found[k]) {
				fileio_strv_free(found);
				return -ENOMEM;
			}
			k++;
			q += len + 1;
		}
	}
	if (fsid && rep.r >= 0)
		memcpy(fsid->val, rep.fsid, sizeof(rep.fsid));
	if (ret_found)
		*ret_found = found;
	return rep.r;
}

static int w_handle_path(struct mon_priv *p, const struct mon_fsid *fsid, int type,
			 const void *handle, size_t len, char **ret)
{
	struct worker_priv *w = to_worker(p);
	struct req_handle req = {
		.op = PRIVSEP_OP_MON_HANDLE_PATH, .type = type, .len = (uint32_t) len};
	struct rep_path rep;
	char *s;
	ssize_t n;
	int fd;

	if (len == 0 || len > HANDLE_MAX)
		return -EINVAL;
	memcpy(req.fsid, fsid->val, sizeof(req.fsid));
	n = call(w, &req, sizeof(req), handle, len, sizeof(rep), &fd);
	if (n < 0)
		return (int) n;
	if (fd >= 0)
		(void) close(fd);
	memcpy(&rep, w->buf, sizeof(rep));
	if ((size_t) n != sizeof(rep) + rep.len || rep.err > 0)
		return -EPROTO;
	if (rep.err < 0)
		return rep.err;
	s = dup_n(w->buf + sizeof(rep), rep.len);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int w_open_file(struct mon_priv *p, const char *path, int *ret_fd)
{
	struct worker_priv *w = to_worker(p);
	struct req_open req = {.op = PRIVSEP_OP_MON_OPEN_FILE};
	struct rep_open rep;
	ssize_t n;
	size_t id;
	int fd;

	for (id = 0; id < ARRAY_SIZE(mon_files); id++)
		if (streq(path, mon_files[id]))
			break;
	if (id == ARRAY_SIZE(mon_files)) {
		/* not root-only: the worker opens it itself */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return -errno;
		*ret_fd = fd;
		return 0;
	}
	req.id = (uint32_t) id;
	n = call(w, &req, sizeof(req), NULL, 0, sizeof(rep), &fd);
	if (n < 0)
		return (int) n;
	memcpy(&rep, w->buf, sizeof(rep));
	if ((size_t) n != sizeof(rep) || rep.err > 0 || (rep.err == 0) != (fd >= 0)) {
		if (fd >= 0)
			(void) close(fd);
		return -EPROTO;
	}
	if (rep.err < 0)
		return rep.err;
	*ret_fd = fd;
	return 0;
}

struct mon_priv *privsep_mon_worker_new(int chan)
{
	struct worker_priv *w = mm_calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->buf = mm_malloc(REP_MAX);
	if (!w->buf) {
		mm_free(w);
		return NULL;
	}
	w->chan = chan;
	w->ops = (struct mon_priv){.proc_links = w_proc_links,
				   .fan_mark = w_fan_mark,
				   .fan_handle_path = w_handle_path,
				   .open_file = w_open_file,
				   .userdata = w};
	return &w->ops;
}

void privsep_mon_worker_free(struct mon_priv *p)
{
	struct worker_priv *w;

	if (!p)
		return;
	w = to_worker(p);
	mm_free(w->buf);
	mm_free(w);
}

/* ---- the parent's side ---- */

static struct mon_priv *parent_priv; /* the in-process implementation, on the parent's group */

void privsep_mon_parent_init(int fan_fd)
{
	mon_priv_direct_free(parent_priv);
	parent_priv = mon_priv_direct_new(fan_fd);
	if (!parent_priv)
		log_error("(M1241) privilege separation: no memory for the monitors' operations");
}

bool privsep_mon_op(uint32_t op)
{
	return op >= PRIVSEP_OP_MON_PROC_LINKS && op <= PRIVSEP_OP_MON_OPEN_FILE;
}

static int fail(char *why, size_t size, const char *what)
{
	(void) snprintf(why, size, "%s", what);
	return -EPROTO;
}

/* A path field: 1..LIMIT_PATH-1 bytes, absolute, no NUL; copied NUL-terminated into out. */
static bool take_path(const unsigned char *p, size_t len, char *out)
{
	if (len == 0 || len >= LIMIT_PATH || p[0] != '/' || memchr(p, '\0', len))
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

static int serve_proc(int fd, const unsigned char *msg, size_t n, char *why, size_t size)
{
	struct req_proc req;
	struct rep_proc rep = {0};
	_cleanup_(freep) char *exe = NULL, *cwd = NULL;
	_cleanup_(closep) int efd = -1;
	struct buf b;
	int r;

	if (n != sizeof(req))
		return fail(why, size, "PROC_LINKS: wrong length");
	memcpy(&req, msg, sizeof(req));
	if (req.pid <= 0 || (req.want & ~(WANT_CWD | WANT_FD)) || req.zero)
		return fail(why, size, "PROC_LINKS: bad fields");
	r = parent_priv->proc_links(parent_priv, req.pid, &exe, (req.want & WANT_CWD) ? &cwd : NULL,
				    (req.want & WANT_FD) ? &efd : NULL);
	if (r < 0) {
		rep.err = r;
		return send_msg(fd, &rep, sizeof(rep), NULL, 0, -1) < 0 ? 1 : 0;
	}
	rep.exe_len = exe ? (uint32_t) strlen(exe) : 0;
	rep.cwd_len = cwd ? (uint32_t) strlen(cwd) : 0;
	rep.has_fd = efd >= 0;
	buf_init(&b, 2 * LIMIT_PATH + 2);
	if ((exe && buf_adds(&b, exe) < 0) || (cwd && buf_adds(&b, cwd) < 0)) {
		buf_done(&b);
		rep = (struct rep_proc){.err = -ENOMEM};
		return send_msg(fd, &rep, sizeof(rep), NULL, 0, -1) < 0 ? 1 : 0;
	}
	r = send_msg(fd, &rep, sizeof(rep), b.data, b.len, efd);
	buf_done(&b);
	return r < 0 ? 1 : 0;
}

static int serve_mark(int fd, const unsigned char *msg, size_t n, char *why, size_t size)
{
	struct req_mark req;
	struct rep_mark rep = {0};
	_cleanup_(fileio_strv_freep) char **found = NULL;
	struct mon_fsid fsid;
	char path[LIMIT_PATH];
	struct buf b;
	int r;

	if (n < sizeof(req))
		return fail(why, size, "FAN_MARK: short");
	memcpy(&req, msg, sizeof(req));
	if (n != sizeof(req) + req.path_len)
		return fail(why, size, "FAN_MARK: wrong length");
	if (req.mark_op < MON_FAN_MARK_TREE || req.mark_op > MON_FAN_MARK_NEW ||
	    (req.mask & ~MARK_MASK_ALLOWED) || req.max > LIMIT_FANOTIFY_MARKS)
		return fail(why, size, "FAN_MARK: bad fields");
	if (req.mark_op == MON_FAN_FLUSH || req.mark_op == MON_FAN_UNMARK_FS) {
		if (req.path_len && !take_path(msg + sizeof(req), req.path_len, path))
			return fail(why, size, "FAN_MARK: bad path");
		if (!req.path_len)
			path[0] = '\0';
	} else if (!take_path(msg + sizeof(req), req.path_len, path)) {
		return fail(why, size, "FAN_MARK: bad path");
	}
	memcpy(fsid.val, req.fsid, sizeof(fsid.val));
	if (!parent_priv) {
		rep.r = -ENOMEM;
		return send_msg(fd, &rep, sizeof(rep), NULL, 0, -1) < 0 ? 1 : 0;
	}
	r = parent_priv->fan_mark(parent_priv, (enum mon_fan_op) req.mark_op, path[0] ? path : NULL,
				  req.mask, req.max, &fsid,
				  req.mark_op == MON_FAN_MARK_NEW ? &found : NULL);
	rep.r = r;
	memcpy(rep.fsid, fsid.val, sizeof(rep.fsid));
	buf_init(&b, LIMIT_PRIV_FILE);
	for (char **p = found; p && *p; p++) {
		size_t len = strlen(*p) + 1;

		/* what does not fit says so, as a listing cut at its own limit does */
		if (b.len + len > LIMIT_PRIV_FILE - sizeof("…") || buf_add(&b, *p, len) < 0) {
			(void) !buf_add(&b, "…", sizeof("…"));
			break;
		}
	}
	rep.found_len = (uint32_t) b.len;
	r = send_msg(fd, &rep, sizeof(rep), b.data, b.len, -1);
	buf_done(&b);
	return r < 0 ? 1 : 0;
}

static int serve_handle(int fd, const unsigned char *msg, size_t n, char *why, size_t size)
{
	struct req_handle req;
	struct rep_path rep = {0};
	_cleanup_(freep) char *path = NULL;
	struct mon_fsid fsid;
	int r;

	if (n < sizeof(req))
		return fail(why, size, "HANDLE_PATH: short");
	memcpy(&req, msg, sizeof(req));
	if (req.len == 0 || req.len > HANDLE_MAX || req.zero || n != sizeof(req) + req.len)
		return fail(why, size, "HANDLE_PATH: bad fields");
	memcpy(fsid.val, req.fsid, sizeof(fsid.val));
	r = parent_priv ? parent_priv->fan_handle_path(parent_priv, &fsid, req.type,
						       msg + sizeof(req), req.len, &path)
			: -ENOMEM;
	if (r == 0 && strlen(path) >= LIMIT_PATH)
		r = -E2BIG;
	rep.err = r < 0 ? r : 0;
	rep.len = r < 0 ? 0 : (uint32_t) strlen(path);
	return send_msg(fd, &rep, sizeof(rep), path, rep.len, -1) < 0 ? 1 : 0;
}

static int serve_open(int fd, const unsigned char *msg, size_t n, const char *root, char *why,
		      size_t size)
{
	struct req_open req;
	struct rep_open rep = {0};
	_cleanup_(freep) char *path = NULL;
	_cleanup_(closep) int file = -1;

	if (n != sizeof(req))
		return fail(why, size, "OPEN_FILE: wrong length");
	memcpy(&req, msg, sizeof(req));
	if (req.id >= ARRAY_SIZE(mon_files) || req.zero[0] || req.zero[1])
		return fail(why, size, "OPEN_FILE: bad fields");
	path = fileio_path(root, mon_files[req.id]);
	if (!path)
		rep.err = -ENOMEM;
	else if ((file = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)) < 0)
		rep.err = -errno;
	rep.has_fd = file >= 0;
	return send_msg(fd, &rep, sizeof(rep), NULL, 0, file) < 0 ? 1 : 0;
}

int privsep_mon_parent_dispatch(int fd, const void *msg, size_t n, const char *root, char *why,
				size_t why_size)
{
	uint32_t op;

	if (n < sizeof(op))
		return fail(why, why_size, "short");
	memcpy(&op, msg, sizeof(op));
	switch (op) {
	case PRIVSEP_OP_MON_PROC_LINKS:
		if (!parent_priv) {
			struct rep_proc rep = {.err = -ENOMEM};

			return send_msg(fd, &rep, sizeof(rep), NULL, 0, -1) < 0 ? 1 : 0;
		}
		return serve_proc(fd, msg, n, why, why_size);
	case PRIVSEP_OP_MON_FAN_MARK:
		return serve_mark(fd, msg, n, why, why_size);
	case PRIVSEP_OP_MON_HANDLE_PATH:
		return serve_handle(fd, msg, n, why, why_size);
	case PRIVSEP_OP_MON_OPEN_FILE:
		return serve_open(fd, msg, n, root, why, why_size);
	default:
		return fail(why, why_size, "unknown monitor operation");
	}
}

_Static_assert(REQ_MAX <= PRIVSEP_MON_REQUEST_MAX, "privsep.c's buffer holds every request");
