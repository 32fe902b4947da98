/*
 * USB control's requests to the privileged parent (agent/privsep_usb.c), against a copy of
 * the laptop fixture: what names a USB device is served, what does not is refused
 * (-EPERM) without effect, and a malformed request is fatal — the parent kills the worker
 * and exits. The request layout is the one privsep_usb.c defines.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "tests/tap.h"

enum {
	OP_USB_AUTHORIZE =
		32, /* as agent/privsep_usb.c numbers them since the merge with the monitors */
	OP_USB_SET_RO,
	OP_USB_RESTRICT,
	OP_USB_REMOUNT_RO,
	OP_USB_MARKER,
	OP_USB_AUDIT,
};

struct usb_req {
	uint32_t op;
	uint32_t major, minor, flag;
	char kind[8];
	char a[4096];
	char b[256];
};

struct usb_rep {
	int32_t err;
	uint32_t len;
};

#define STICK "/devices/pci0000:00/0000:00:14.0/usb2/2-1"

static char root[] = "/tmp/test-privsep-usb.XXXXXX";

static int rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(p);
}

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

/* Sends req; returns the answer's err, or 1000 when the parent answered nothing. */
static int ask(int fd, const struct usb_req *req)
{
	struct usb_rep rep;

	if (send(fd, req, sizeof(*req), 0) != (ssize_t) sizeof(*req))
		return 1000;
	if (recv(fd, &rep, sizeof(rep), 0) != (ssize_t) sizeof(rep))
		return 1000;
	return rep.err;
}

static void attr(const char *rel, char *out, size_t size)
{
	char path[600];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	out[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(out, 1, size - 1, f);
	while (n > 0 && out[n - 1] == '\n') /* a fixture file: the kernel's newline stays */
		n--;
	out[n] = '\0';
	fclose(f);
}

int main(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	char cmd[1024], v[64];
	struct usb_req req;
	pid_t parent = -1, victim;
	int fd, status;

	log_setup("test-privsep-usb", LOG_CRIT);
	if (!mkdtemp(root))
		return 1;
	snprintf(cmd, sizeof(cmd), "cp -a '%s/tests/fixtures/laptop/sys' '%s/'", src ? src : "..",
		 root);
	if (system(cmd) != 0) /* checksrc: allow (test setup: copy a fixture tree) */
		return 1;

	victim = fork();
	if (victim == 0) {
		pause();
		_exit(0);
	}
	fd = start_parent(victim, &parent);
	if (fd < 0)
		return 1;

	req = (struct usb_req){.op = OP_USB_AUTHORIZE, .flag = 0};
	snprintf(req.a, sizeof(req.a), "%s", STICK);
	CHECK_INT(ask(fd, &req), 0, "a USB device is de-authorised on request");
	attr("/sys" STICK "/authorized", v, sizeof(v));
	CHECK_STR(v, "0", "its authorized file says 0");
	req.flag = 1;
	CHECK(ask(fd, &req) == 0 && (attr("/sys" STICK "/authorized", v, sizeof(v)), streq(v, "1")),
	      "and authorised again");

	req = (struct usb_req){.op = OP_USB_AUTHORIZE, .flag = 0};
	snprintf(req.a, sizeof(req.a), "/devices/pci0000:00/0000:00:14.0");
	CHECK_INT(ask(fd, &req), -EPERM, "a device that is not a USB device is refused");
	req = (struct usb_req){.op = OP_USB_AUTHORIZE, .flag = 0};
	snprintf(req.a, sizeof(req.a), "/devices/pci0000:00/0000:00:14.0/usb2");
	CHECK_INT(ask(fd, &req), -EPERM, "so is a root hub (it would take the whole bus)");

	req = (struct usb_req){.op = OP_USB_SET_RO, .major = 8, .minor = 0, .flag = 1};
	snprintf(req.a, sizeof(req.a), "sda");
	CHECK_INT(ask(fd, &req), -EPERM, "BLKROSET on a disk that is not on the USB is refused");

	req = (struct usb_req){.op = OP_USB_MARKER, .flag = 1};
	snprintf(req.a, sizeof(req.a), "2-1");
	snprintf(req.b, sizeof(req.b), "%s", STICK);
	CHECK_INT(ask(fd, &req), 0, "a marker for the udev rule");
	attr("/run/mamori/usb-ro/2-1", v, sizeof(v));
	CHECK_STR(v, STICK, "holds the device's devpath");
	req = (struct usb_req){.op = OP_USB_MARKER, .flag = 1};
	snprintf(req.a, sizeof(req.a), "../etc");
	snprintf(req.b, sizeof(req.b), "%s", STICK);
	CHECK_INT(ask(fd, &req), -EPERM, "a marker named like a path is refused");
	req = (struct usb_req){.op = OP_USB_MARKER, .flag = 2};
	CHECK(ask(fd, &req) == 0 && (attr("/run/mamori/usb-ro/2-1", v, sizeof(v)), !v[0]),
	      "markers are cleared");

	req = (struct usb_req){.op = OP_USB_REMOUNT_RO};
	snprintf(req.a, sizeof(req.a), "/");
	CHECK_INT(ask(fd, &req), -EPERM, "the root file system is never remounted");

	/* a malformed request: bytes after a string's end */
	req = (struct usb_req){.op = OP_USB_AUTHORIZE};
	snprintf(req.a, sizeof(req.a), "%s", STICK);
	req.a[sizeof(req.a) - 1] = 'x';
	CHECK_INT(ask(fd, &req), 1000, "a malformed request gets no answer");
	CHECK(waitpid(parent, &status, 0) == parent && WIFEXITED(status) &&
		      WEXITSTATUS(status) != 0,
	      "the parent stops");
	CHECK(waitpid(victim, &status, 0) == victim && WIFSIGNALED(status) &&
		      WTERMSIG(status) == SIGKILL,
	      "and kills the worker");
	close(fd);
	nftw(root, rm, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
