/*
 * The privileged parent's side of privilege separation: it serves files of its table by
 * id, and treats any malformed request as fatal — it kills the worker and exits — as
 * OpenNTPD's dispatch_imsg does. The request layout is the one privsep.c defines.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "lib/log.h"
#include "tests/tap.h"

struct req {
	uint32_t op, id, max, zero;
	char name[48];
};

struct rep {
	int32_t err;
	uint32_t len;
};

static char root[] = "/tmp/test-privsep.XXXXXX";

/* Runs the parent's dispatcher on one end of a socketpair in a child; returns the other
 * end. *ret_pid gets the child. `victim` stands for the worker it would kill. */
static int start_parent(pid_t victim, pid_t *ret_pid)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		(void) close(sv[0]);
		while (privsep_parent_dispatch(sv[1], root, victim) == 0)
			;
		_exit(0);
	}
	(void) close(sv[1]);
	*ret_pid = pid;
	return sv[0];
}

static int ask(int fd, const void *msg, size_t len, char *out, size_t cap)
{
	if (send(fd, msg, len, 0) != (ssize_t) len)
		return -1;
	return (int) recv(fd, out, cap, 0);
}

static void test_serving(void)
{
	struct req q = {.op = 1,
			.id = (uint32_t) privsep_file_id("/sys/class/dmi/id/product_serial"),
			.max = 4096};
	char out[8192];
	struct rep r;
	pid_t pid;
	int fd, n, status;

	CHECK(privsep_file_id("/etc/shadow") >= 0, "/etc/shadow is in the table");
	CHECK_INT(privsep_file_id("/etc/passwd"), -ENOENT, "/etc/passwd is not");
	CHECK_INT(privsep_file_id("/etc/../etc/shadow"), -ENOENT,
		  "nor a path that spells it otherwise");
	fd = start_parent(0, &pid);
	n = ask(fd, &q, sizeof(q), out, sizeof(out));
	memcpy(&r, out, sizeof(r));
	CHECK(n == (int) sizeof(r) + 10 && r.err == 0 && r.len == 10 &&
		      memcmp(out + sizeof(r), "SER-12345\n", 10) == 0,
	      "a file of the table is served by id");
	q.id = (uint32_t) privsep_file_id("/sys/class/dmi/id/board_serial");
	n = ask(fd, &q, sizeof(q), out, sizeof(out));
	memcpy(&r, out, sizeof(r));
	CHECK(n == (int) sizeof(r) && r.err == -ENOENT && r.len == 0,
	      "a missing one answers -ENOENT");
	q.id = (uint32_t) privsep_file_id("/sys/class/dmi/id/product_serial");
	q.max = 4;
	n = ask(fd, &q, sizeof(q), out, sizeof(out));
	memcpy(&r, out, sizeof(r));
	CHECK(n == (int) sizeof(r) && r.err == -E2BIG, "one over the size asked answers -E2BIG");
	q = (struct req){.op = 2, .max = 16};
	memcpy(q.name, "sdz", 3);
	n = ask(fd, &q, sizeof(q), out, sizeof(out));
	memcpy(&r, out, sizeof(r));
	CHECK(n == (int) sizeof(r) + 16 && r.err == 0 && r.len == 16 &&
		      memcmp(out + sizeof(r), "LUKS\xba\xbe\0\2", 8) == 0,
	      "the first bytes of a block device (an image here) are served by name");
	memcpy(q.name, "fifo", 4);
	n = ask(fd, &q, sizeof(q), out, sizeof(out));
	memcpy(&r, out, sizeof(r));
	CHECK(n == (int) sizeof(r) && r.err == -EINVAL,
	      "a FIFO in /dev is refused with -EINVAL, not read");
	(void) close(fd);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the parent's loop ends when the worker closes the channel");
}

static void test_malformed(const char *what, const void *msg, size_t len)
{
	char out[64];
	pid_t victim, pid;
	int fd, status = 0, vstatus = 0;

	victim = fork();
	if (victim == 0) {
		pause();
		_exit(0);
	}
	fd = start_parent(victim, &pid);
	(void) ask(fd, msg, len, out, sizeof(out));
	(void) waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_FAILURE, "%s: the parent stops",
	      what);
	(void) waitpid(victim, &vstatus, 0);
	CHECK(WIFSIGNALED(vstatus) && WTERMSIG(vstatus) == SIGKILL, "%s: and kills the worker",
	      what);
	(void) close(fd);
}

int main(void)
{
	struct req q;
	char path[256];
	int fd;

	log_setup("test-privsep", LOG_CRIT);
	if (!mkdtemp(root))
		tap_skip_all("no temporary directory");
	(void) snprintf(path, sizeof(path), "%s/sys", root);
	(void) mkdir(path, 0755);
	(void) snprintf(path, sizeof(path), "%s/sys/class", root);
	(void) mkdir(path, 0755);
	(void) snprintf(path, sizeof(path), "%s/sys/class/dmi", root);
	(void) mkdir(path, 0755);
	(void) snprintf(path, sizeof(path), "%s/sys/class/dmi/id", root);
	(void) mkdir(path, 0755);
	(void) snprintf(path, sizeof(path), "%s/sys/class/dmi/id/product_serial", root);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0400);
	if (fd < 0 || write(fd, "SER-12345\n", 10) != 10)
		tap_skip_all("cannot write the fixture");
	(void) close(fd);

	(void) snprintf(path, sizeof(path), "%s/dev", root);
	(void) mkdir(path, 0755);
	(void) snprintf(path, sizeof(path), "%s/dev/sdz", root);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "LUKS\xba\xbe\0\2 and the rest of a header", 34) != 34)
		tap_skip_all("cannot write the fixture");
	(void) close(fd);
	(void) snprintf(path, sizeof(path), "%s/dev/fifo", root);
	(void) mkfifo(path, 0600);
	(void) snprintf(path, sizeof(path), "%s/sys/class/dmi/id/product_serial", root);

	test_serving();
	q = (struct req){.op = 1, .id = 0, .max = 100};
	test_malformed("a short request", &q, sizeof(q) - 1);
	{
		char longer[sizeof(q) + 1] = {0};

		memcpy(longer, &q, sizeof(q));
		test_malformed("a long request", longer, sizeof(longer));
	}
	q = (struct req){.op = 99, .id = 0, .max = 100};
	test_malformed("an unknown operation", &q, sizeof(q));
	q = (struct req){.op = 1, .id = 1000, .max = 100};
	test_malformed("an id outside the table", &q, sizeof(q));
	q = (struct req){.op = 1, .id = 0, .max = 0};
	test_malformed("a size of 0", &q, sizeof(q));
	q = (struct req){.op = 1, .id = 0, .max = 1u << 30};
	test_malformed("a size over the limit", &q, sizeof(q));
	q = (struct req){.op = 1, .id = 0, .max = 100, .zero = 1};
	test_malformed("a reserved field set", &q, sizeof(q));
	q = (struct req){.op = 1, .id = 0, .max = 100};
	memcpy(q.name, "sda", 3);
	test_malformed("a name with READ_FILE", &q, sizeof(q));
	q = (struct req){.op = 2, .max = 100};
	memcpy(q.name, "../etc/shadow", 13);
	test_malformed("a block device name with '/'", &q, sizeof(q));
	q = (struct req){.op = 2, .max = 100};
	memcpy(q.name, "..", 2);
	test_malformed("a block device name '..'", &q, sizeof(q));
	q = (struct req){.op = 2, .max = 100};
	test_malformed("an empty block device name", &q, sizeof(q));
	q = (struct req){.op = 2, .max = 100};
	memcpy(q.name, "sda\0xyz", 7);
	test_malformed("bytes after the name", &q, sizeof(q));
	q = (struct req){.op = 2, .id = 3, .max = 100};
	memcpy(q.name, "sda", 3);
	test_malformed("an id with READ_BLOCK", &q, sizeof(q));

	{
		char p2[300];

		(void) snprintf(p2, sizeof(p2), "%s/dev/sdz", root);
		(void) unlink(p2);
		(void) snprintf(p2, sizeof(p2), "%s/dev/fifo", root);
		(void) unlink(p2);
		(void) snprintf(p2, sizeof(p2), "%s/dev", root);
		(void) rmdir(p2);
	}
	(void) unlink(path);
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(path, '/');

		*slash = '\0';
		(void) rmdir(path);
	}
	(void) rmdir(root);
	return tap_done();
}
