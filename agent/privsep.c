/*
 * Privilege separation (docs/internals/privsep.md), after OpenNTPD and OpenSMTPD: `run` as
 * root forks a worker that drops to an unprivileged user and does everything that touches
 * outside input — collectors' parsing, the spool, the network — while the parent keeps
 * root and only performs a short list of typed operations for it over a SOCK_SEQPACKET
 * socketpair.
 *
 * Operations (one request, one answer; fixed-size little structs, host byte order):
 *   READ_FILE id max    → err, len, bytes  read a root-only file named by its id in
 *                                          priv_files[], under --root; never a path
 *   READ_BLOCK name max → err, len, bytes  the first max bytes of block device /dev/NAME
 *                                          (a kernel device name: no '/', no "..") — for
 *                                          the storage collector's LUKS probe
 * USB control's operations (authorisation, read-only, marks, audit rules, descriptors for
 * the worker) are served the same way by privsep_usb.c.
 *
 * The parent trusts nothing the worker sends: a request of the wrong length, an unknown
 * operation, an id outside the table or a size outside its limit means the worker is not
 * the program we started (or is compromised), so the parent logs it, kills the worker and
 * exits (OpenNTPD's dispatch_imsg fatal()s the same way). The worker trusts the parent but
 * still checks each answer's length.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

enum {
	OP_READ_FILE = 1,
	OP_READ_BLOCK = 2,
};

#define NAME_MAX_LEN 48 /* a kernel block device name: "nvme0n1p2", "dm-0", "mmcblk0p1" */
/* Room for the longest request, the monitors' included, and one byte to see an overlong one. */
#define PRIVSEP_RAW_MAX \
	(MAX(MAX(sizeof(struct priv_req), (size_t) PRIVSEP_MON_REQUEST_MAX), (size_t) 8192) + 1)

struct priv_req {
	uint32_t op;
	uint32_t id;
	uint32_t max;
	uint32_t zero;           /* must be 0: room for later operations' fields */
	char name[NAME_MAX_LEN]; /* READ_BLOCK: NUL-terminated and padded; otherwise all 0 */
};

struct priv_rep {
	int32_t err;
	uint32_t len;
};

/* The root-only files the worker may ask for, by index. Append only: ids are the ABI
 * between a parent and a worker of the same binary. */
static const char *const priv_files[] = {
	"/etc/shadow",
	"/etc/gshadow",
	"/etc/sudoers",
	"/sys/class/dmi/id/product_serial",
	"/sys/class/dmi/id/product_uuid",
	"/sys/class/dmi/id/board_serial",
	"/sys/class/dmi/id/chassis_serial",
	"/proc/1/environ", /* container detection (col_identity.c) */
};

/* The worker's end of the channel; -1 when not separated. One worker per process. */
static int worker_fd = -1;

int privsep_channel(void)
{
	return worker_fd;
}

int privsep_file_id(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(priv_files); i++)
		if (streq(path, priv_files[i]))
			return (int) i;
	return -ENOENT;
}

/* A kernel block device name, as the parent accepts it. */
static bool valid_block_name(const char *name, size_t n)
{
	if (n == 0 || n >= NAME_MAX_LEN || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
			return false;
	}
	return true;
}

int privsep_read(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct priv_req req = {.op = OP_READ_FILE};
	struct priv_rep rep;
	_cleanup_(freep) char *msg = NULL;
	size_t cap = sizeof(rep) + LIMIT_PRIV_FILE;
	const char *dev = str_startswith(path, "/dev/");
	ssize_t n;
	int id = privsep_file_id(path);
	char *data;

	if (worker_fd < 0)
		return -ENOTSUP;
	if (id >= 0) {
		req.id = (uint32_t) id;
	} else if (dev && valid_block_name(dev, strlen(dev))) {
		if (max > LIMIT_PRIV_FILE)
			return -E2BIG;
		req.op = OP_READ_BLOCK;
		memcpy(req.name, dev, strlen(dev));
	} else {
		return -ENOTSUP;
	}
	req.max = (uint32_t) MIN(max, LIMIT_PRIV_FILE);
	if (req.max == 0)
		return -EINVAL;
	msg = mm_malloc(cap + 1);
	if (!msg)
		return -ENOMEM;
	do
		n = send(worker_fd, &req, sizeof(req), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t) sizeof(req))
		return -EPIPE;
	do
		n = recv(worker_fd, msg, cap + 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t) sizeof(rep))
		return -EPIPE;
	memcpy(&rep, msg, sizeof(rep));
	if (rep.err > 0 || (rep.err < 0 && rep.len != 0) || rep.len > req.max ||
	    (size_t) n != sizeof(rep) + rep.len)
		return -EPROTO;
	if (rep.err < 0)
		return rep.err;
	data = mm_malloc((size_t) rep.len + 1);
	if (!data)
		return -ENOMEM;
	memcpy(data, msg + sizeof(rep), rep.len);
	data[rep.len] = '\0';
	*ret = data;
	if (ret_len)
		*ret_len = rep.len;
	return 0;
}

static _noreturn_ _printf_(2, 3) void fatal_worker(pid_t worker, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_error("(M2030) privilege separation: malformed message from the worker (%s);"
		  " killing it and stopping",
		  what);
	if (worker > 0)
		(void) kill(worker, SIGKILL);
	exit(EXIT_FAILURE);
}

void privsep_fatal(pid_t worker, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fatal_worker(worker, "%s", what);
}

int privsep_parent_dispatch(int fd, const char *root, pid_t worker)
{
	struct priv_req req;
	struct priv_rep rep = {0};
	_cleanup_(freep) char *data = NULL, *msg = NULL;
	/* room for the monitors' and USB control's requests too */
	char raw[PRIVSEP_RAW_MAX] __attribute__((aligned(8)));
	size_t len = 0, name_len;
	ssize_t n;
	int r;

	n = recv(fd, raw, sizeof(raw), MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n < 0) {
		log_error("(M2034) privilege separation: reading from the worker: %s",
			  strerror(errno));
		return 1;
	}
	if (n == 0)
		return 1;
	memcpy(&req.op, raw, MIN((size_t) n, sizeof(req.op)));
	if (n >= (ssize_t) sizeof(req.op) && privsep_mon_op(req.op)) {
		/* the monitors' operations (privsep_mon.c) */
		char why[128];

		r = privsep_mon_parent_dispatch(fd, raw, (size_t) n, root, why, sizeof(why));
		if (r == -EPROTO)
			fatal_worker(worker, "%s", why);
		return r;
	}
	if (n >= (ssize_t) sizeof(req.op) && privsep_usb_op(req.op))
		/* USB control's operations (privsep_usb.c) */
		return privsep_usb_parent(fd, root, worker, raw, (size_t) n);
	if (n != (ssize_t) sizeof(req))
		fatal_worker(worker, "%zd bytes, expected %zu", n, sizeof(req));
	memcpy(&req, raw, sizeof(req));
	if (req.op != OP_READ_FILE && req.op != OP_READ_BLOCK)
		fatal_worker(worker, "unknown operation %u", req.op);
	if (req.max == 0 || req.max > LIMIT_PRIV_FILE)
		fatal_worker(worker, "size %u outside 1..%zu", req.max, LIMIT_PRIV_FILE);
	if (req.zero != 0)
		fatal_worker(worker, "reserved field set");
	name_len = strnlen(req.name, sizeof(req.name));
	/* Every byte after the name must be 0, so nothing rides along unchecked. */
	for (size_t i = name_len; i < sizeof(req.name); i++)
		if (req.name[i] != '\0')
			fatal_worker(worker, "bytes after the name");
	if (req.op == OP_READ_FILE) {
		if (req.id >= ARRAY_SIZE(priv_files))
			fatal_worker(worker, "file id %u outside the table", req.id);
		if (name_len != 0)
			fatal_worker(worker, "a name with READ_FILE");
		r = fileio_read(root, priv_files[req.id], req.max, &data, &len);
	} else {
		_cleanup_(freep) char *path = NULL;

		if (req.id != 0)
			fatal_worker(worker, "an id with READ_BLOCK");
		if (!valid_block_name(req.name, name_len))
			fatal_worker(worker, "not a block device name");
		path = mm_asprintf("/dev/%s", req.name);
		data = mm_malloc(req.max);
		r = path && data ? fileio_read_prefix(root, path, data, req.max, &len) : -ENOMEM;
	}
	if (r < 0) {
		rep.err = r;
		len = 0;
	}
	rep.len = (uint32_t) len;
	msg = mm_malloc(sizeof(rep) + len);
	if (!msg) {
		rep = (struct priv_rep){.err = -ENOMEM};
		len = 0;
		if (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
			return 1;
		return 0;
	}
	memcpy(msg, &rep, sizeof(rep));
	if (len)
		memcpy(msg + sizeof(rep), data, len);
	if (send(fd, msg, sizeof(rep) + len, MSG_NOSIGNAL) == (ssize_t) (sizeof(rep) + len))
		return 0;
	if (errno != EMSGSIZE && errno != ENOBUFS)
		return 1;
	/* The socket's buffer is smaller than this file: say so rather than leave the
	 * worker waiting for an answer that never comes. */
	rep = (struct priv_rep){.err = -E2BIG};
	return send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0 ? 1 : 0;
}

/* The worker's state directory must be its own: the spool, status and key live there. */
static int hand_over(const char *dir, uid_t uid, gid_t gid)
{
	_cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (dfd < 0)
		return -errno;
	if (fchown(dfd, uid, gid) < 0 || fchmod(dfd, 0700) < 0)
		return -errno;
	d = fdopendir(dup(dfd));
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' && (!de->d_name[1] || streq(de->d_name, "..")))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode))
			continue;
		if (fchownat(dfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
			int r = -errno;

			(void) closedir(d);
			return r;
		}
	}
	(void) closedir(d);
	return 0;
}

static int drop_privileges(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;

	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	/* Make sure it stuck: no way back to root. */
	if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid)
		return -EPERM;
	if (uid != 0 && setuid(0) == 0)
		return -EPERM;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

static _noreturn_ void parent_loop(int fd, const char *root, pid_t worker)
{
	struct pollfd p[2];
	sigset_t mask;
	int sfd, status = 0;
	bool reaped = false;

	(void) sigemptyset(&mask);
	(void) sigaddset(&mask, SIGTERM);
	(void) sigaddset(&mask, SIGINT);
	(void) sigaddset(&mask, SIGHUP);
	(void) sigaddset(&mask, SIGUSR1);
	(void) sigaddset(&mask, SIGCHLD);
	(void) sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		log_error("(M2035) privilege separation: signalfd: %s", strerror(errno));
		(void) kill(worker, SIGTERM);
	}
	p[0] = (struct pollfd){.fd = fd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si) &&
			    si.ssi_signo != SIGCHLD)
				(void) kill(worker,
					    si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1
						    ? (int) si.ssi_signo
						    : SIGTERM);
			if (waitpid(worker, &status, WNOHANG) == worker) {
				reaped = true;
				break;
			}
		}
		if (p[0].revents & POLLIN) {
			if (privsep_parent_dispatch(fd, root, worker) > 0)
				p[0].fd = -1;
		} else if (p[0].revents & (POLLHUP | POLLERR)) {
			p[0].fd = -1;
		}
		if (p[0].fd < 0 && sfd < 0)
			break;
	}
	privsep_usb_parent_done(); /* the audit rules it added go with it */
	if (!reaped && waitpid(worker, &status, 0) != worker)
		exit(EXIT_FAILURE);
	if (WIFEXITED(status))
		exit(WEXITSTATUS(status));
	log_error("(M2036) the worker died of signal %d",
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	exit(EXIT_FAILURE);
}

int privsep_start(const char *state_dir, const char *root)
{
	const struct passwd *pw;
	const struct group *gr;
	uid_t uid;
	gid_t gid;
	pid_t parent = getpid(), pid;
	int sv[2], r;
	bool dedicated = true;

	if (geteuid() != 0) {
		log_notice("(M2031) not started as root: running without privilege separation;"
			   " root-only files (DMI serial numbers, /etc/shadow) are reported"
			   " unreadable");
		return 0;
	}
	pw = getpwnam("mamori");
	if (!pw) {
		dedicated = false;
		pw = getpwnam("nobody");
	}
	if (!pw) {
		log_error(
			"(M2032) privilege separation: neither user 'mamori' nor 'nobody' exists");
		return -ESRCH;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (!dedicated) {
		gr = getgrnam("nogroup");
		if (gr)
			gid = gr->gr_gid;
		log_warning("(M2033) privilege separation: no 'mamori' user, the worker runs as"
			    " nobody; create a system user 'mamori' so that no other service can"
			    " read the agent's state");
	}
	if (uid == 0) {
		log_error("(M2032) privilege separation: the worker's user has uid 0");
		return -EPERM;
	}
	r = hand_over(state_dir, uid, gid);
	if (r < 0) {
		log_error("(M2037) cannot hand %s to the worker's user: %s", state_dir,
			  strerror(-r));
		return r;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	{
		/* Room for the largest answer in one message, whatever the system's default. */
		int size = (int) (2 * (LIMIT_PRIV_FILE + sizeof(struct priv_rep)));

		if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			log_debug("SO_SNDBUFFORCE: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		(void) close(sv[0]);
		(void) close(sv[1]);
		return r;
	}
	if (pid > 0) {
		(void) close(sv[1]);
		if (chdir("/") < 0)
			log_debug("chdir /: %s", strerror(errno));
		log_info("(M2038) privilege separation: worker %d runs as %s (uid %u)", (int) pid,
			 pw->pw_name, (unsigned) uid);
		mon_set_parent_side();
		parent_loop(sv[0], root, pid);
	}
	(void) close(sv[0]);
	r = drop_privileges(uid, gid);
	if (r < 0) {
		log_error("(M2039) privilege separation: cannot drop privileges: %s", strerror(-r));
		_exit(EXIT_FAILURE);
	}
	/* Changing credentials cleared it; set it now. The parent may already be gone. */
	(void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != parent)
		_exit(EXIT_FAILURE);
	worker_fd = sv[1];
	return 1;
}
