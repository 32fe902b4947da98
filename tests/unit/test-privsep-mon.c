/*
 * The monitors' operations across privilege separation: every malformed request is
 * refused as a protocol violation (which privsep.c makes fatal), and well-formed ones
 * round-trip between the worker's mon_priv and a parent serving them in a child process
 * (/proc links with the executable's descriptor, file handles, root-only logs by id and,
 * as root, fanotify marks with a new directory's listing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/mm.h"
#include "tests/tap.h"

/* Sends msg to the parent side in this process; returns what dispatch returned. */
static int serve(const void *msg, size_t n)
{
	int sv[2], r;
	char why[128] = "";

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	r = privsep_mon_parent_dispatch(sv[0], msg, n, "/", why, sizeof(why));
	if (r == -EPROTO)
		tap_diag("refused: %s", why);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static void test_malformed(void)
{
	struct {
		uint32_t op;
		int32_t pid;
		uint32_t want, zero;
	} proc = {PRIVSEP_OP_MON_PROC_LINKS, 1, 0, 0};
	struct {
		uint32_t op, mark_op;
		uint64_t mask;
		uint32_t max;
		int32_t fsid[2];
		uint32_t path_len;
		char path[8];
	} mark = {PRIVSEP_OP_MON_FAN_MARK, MON_FAN_MARK_TREE, FAN_CREATE, 10, {0, 0}, 4, "/tmp"};
	size_t mark_len = offsetof(__typeof__(mark), path) + 4;
	struct {
		uint32_t op;
		int32_t fsid[2];
		int32_t type;
		uint32_t len, zero;
		unsigned char h[200];
	} handle = {PRIVSEP_OP_MON_HANDLE_PATH, {0, 0}, 1, 8, 0, {0}};
	struct {
		uint32_t op, id, zero[2];
	} open_req = {PRIVSEP_OP_MON_OPEN_FILE, 99, {0, 0}};
	uint32_t unknown = PRIVSEP_OP_MON_OPEN_FILE + 1;

	privsep_mon_parent_init(-1);
	CHECK(privsep_mon_op(PRIVSEP_OP_MON_PROC_LINKS) && !privsep_mon_op(1) &&
		      !privsep_mon_op(unknown),
	      "the monitors' operations are told apart from privsep.c's");
	CHECK_INT(serve(&proc, sizeof(proc) - 1), -EPROTO, "PROC_LINKS of the wrong length");
	proc.pid = 0;
	CHECK_INT(serve(&proc, sizeof(proc)), -EPROTO, "PROC_LINKS of pid 0");
	proc.pid = 1;
	proc.want = 4;
	CHECK_INT(serve(&proc, sizeof(proc)), -EPROTO, "PROC_LINKS wanting an unknown thing");
	proc.want = 0;
	proc.zero = 1;
	CHECK_INT(serve(&proc, sizeof(proc)), -EPROTO, "PROC_LINKS with its reserved field set");

	CHECK_INT(serve(&mark, 10), -EPROTO, "FAN_MARK cut short");
	CHECK_INT(serve(&mark, mark_len + 1), -EPROTO, "FAN_MARK longer than its path says");
	mark.mark_op = 0;
	CHECK_INT(serve(&mark, mark_len), -EPROTO, "FAN_MARK with operation 0");
	mark.mark_op = MON_FAN_MARK_NEW + 1;
	CHECK_INT(serve(&mark, mark_len), -EPROTO, "FAN_MARK with an unknown operation");
	mark.mark_op = MON_FAN_MARK_TREE;
	mark.mask = FAN_OPEN_PERM;
	CHECK_INT(serve(&mark, mark_len), -EPROTO, "FAN_MARK asking for a permission event");
	mark.mask = FAN_CREATE;
	mark.max = LIMIT_FANOTIFY_MARKS + 1;
	CHECK_INT(serve(&mark, mark_len), -EPROTO, "FAN_MARK over the marks limit");
	mark.max = 10;
	memcpy(mark.path, "tmp/", 4);
	CHECK_INT(serve(&mark, mark_len), -EPROTO, "FAN_MARK of a relative path");
	memcpy(mark.path, "/t\0p", 4);
	CHECK_INT(serve(&mark, mark_len), -EPROTO, "FAN_MARK of a path holding a NUL");
	mark.path_len = 0;
	CHECK_INT(serve(&mark, offsetof(__typeof__(mark), path)), -EPROTO,
		  "FAN_MARK of a tree without a path");

	handle.len = 0;
	CHECK_INT(serve(&handle, offsetof(__typeof__(handle), h)), -EPROTO,
		  "HANDLE_PATH of an empty handle");
	handle.len = 129;
	CHECK_INT(serve(&handle, offsetof(__typeof__(handle), h) + 129), -EPROTO,
		  "HANDLE_PATH of a handle over 128 bytes");
	handle.len = 8;
	CHECK_INT(serve(&handle, offsetof(__typeof__(handle), h) + 9), -EPROTO,
		  "HANDLE_PATH longer than its handle says");

	CHECK_INT(serve(&open_req, sizeof(open_req)), -EPROTO,
		  "OPEN_FILE of an id outside the table");
	open_req.id = 0;
	open_req.zero[1] = 7;
	CHECK_INT(serve(&open_req, sizeof(open_req)), -EPROTO,
		  "OPEN_FILE with its reserved field set");
	CHECK_INT(serve(&unknown, sizeof(unknown)), -EPROTO, "an unknown operation");
}

/* The parent: serves requests on fd until the worker closes it. */
static _noreturn_ void parent(int fd, int fan_fd)
{
	unsigned char msg[PRIVSEP_MON_REQUEST_MAX + 1];

	privsep_mon_parent_init(fan_fd);
	for (;;) {
		char why[128];
		ssize_t n = recv(fd, msg, sizeof(msg), 0);
		int r;

		if (n <= 0)
			_exit(0);
		r = privsep_mon_parent_dispatch(fd, msg, (size_t) n, "/", why, sizeof(why));
		if (r != 0)
			_exit(r == -EPROTO ? 3 : 4);
	}
}

static void test_roundtrip(void)
{
	struct mon_priv *w;
	_cleanup_(freep) char *exe = NULL, *cwd = NULL, *path = NULL, *self = NULL;
	struct mon_fsid fsid = {{1, 2}};
	struct stat a, b;
	int sv[2], fd = -1, fan_fd = -1, status;
	pid_t pid, dead;
	unsigned char h[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	if (geteuid() == 0 && mon_fanotify_open_privileged(&fan_fd) < 0)
		fan_fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		parent(sv[0], fan_fd);
	}
	close(sv[0]);
	w = privsep_mon_worker_new(sv[1]);
	if (!w)
		abort();

	CHECK_INT(w->proc_links(w, getpid(), &exe, &cwd, &fd), 0, "PROC_LINKS of this process");
	CHECK(fileio_readlink(NULL, "/proc/self/exe", &self) == 0 && exe && streq(exe, self),
	      "  its executable");
	CHECK(cwd && cwd[0] == '/', "  its working directory");
	CHECK(fd >= 0 && fstat(fd, &a) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino,
	      "  and a descriptor of the executable itself, passed across");
	if (fd >= 0)
		close(fd);

	dead = fork();
	if (dead == 0)
		_exit(0);
	(void) waitpid(dead, NULL, 0);
	mm_free(exe);
	exe = NULL;
	CHECK_INT(w->proc_links(w, dead, &exe, NULL, NULL), -ESRCH,
		  "PROC_LINKS of a reaped process");

	CHECK_INT(w->fan_handle_path(w, &fsid, 1, h, sizeof(h), &path), -ESTALE,
		  "HANDLE_PATH of an unknown file system");
	fd = -1;
	{
		int r = w->open_file(w, "/var/log/wtmp", &fd),
		    direct = open("/var/log/wtmp", O_RDONLY);

		CHECK((r == 0) == (direct >= 0), "OPEN_FILE by id answers as opening it would");
		if (fd >= 0)
			close(fd);
		if (direct >= 0)
			close(direct);
	}

	if (fan_fd >= 0) {
		char dir[] = "/tmp/mamori-privsep-mon-XXXXXX", sub[64], file[80];
		_cleanup_(fileio_strv_freep) char **found = NULL;
		int r;

		if (!mkdtemp(dir))
			abort();
		(void) snprintf(sub, sizeof(sub), "%s/new", dir);
		(void) snprintf(file, sizeof(file), "%s/new/early.txt", dir);
		mkdir(sub, 0755);
		close(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		r = w->fan_mark(w, MON_FAN_MARK_NEW, sub,
				FAN_CREATE | FAN_CLOSE_WRITE | FAN_ONDIR | FAN_EVENT_ON_CHILD, 100,
				&fsid, &found);
		CHECK_INT(r, 1, "FAN_MARK of a new directory marks it");
		CHECK(found && found[0] && streq(found[0], file) && !found[1],
		      "  and says what it already held");
		CHECK_INT(w->fan_mark(w, MON_FAN_FLUSH, NULL, 0, 0, NULL, NULL), 0, "FLUSH");
		unlink(file);
		rmdir(sub);
		rmdir(dir);
		close(fan_fd);
	} else {
		tap_diag("not root: fanotify marks across the channel not tried");
	}
	privsep_mon_worker_free(w);
	close(sv[1]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the parent saw nothing malformed and ended with the channel");
}

int main(void)
{
	mm_setup_jansson();
	test_malformed();
	test_roundtrip();
	return tap_done();
}
