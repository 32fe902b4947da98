/*
 * The process monitor's pieces: the process-connector parser (datagrams built the way the
 * kernel lays them out), the /proc parsers, the command-line rules, the executable hash,
 * and procinfo_read() against processes this test starts and reaps itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/monitors.h"
#include "lib/mm.h"
#include "tests/tap.h"

/* Appends one connector message carrying a proc_event with `data` (len bytes of union)
 * to buf at *off; the nlmsg is padded to NLMSG_ALIGN like the kernel's. */
static void put_event(unsigned char *buf, size_t *off, uint32_t what, const void *data, size_t len,
		      uint32_t idx)
{
	struct nlmsghdr nh = {0};
	struct cn_msg cn = {0};
	unsigned char ev[64] = {0};
	uint64_t ts = 123456789;
	size_t total = NLMSG_HDRLEN + sizeof(cn) + 16 + len;

	memcpy(ev, &what, 4);
	memcpy(ev + 8, &ts, 8);
	memcpy(ev + 16, data, len);
	nh.nlmsg_len = (uint32_t) total;
	nh.nlmsg_type = NLMSG_DONE;
	cn.id.idx = idx;
	cn.id.val = CN_VAL_PROC;
	cn.len = (uint16_t) (16 + len);
	memcpy(buf + *off, &nh, sizeof(nh));
	memcpy(buf + *off + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(buf + *off + NLMSG_HDRLEN + sizeof(cn), ev, 16 + len);
	*off += NLMSG_ALIGN(total);
}

struct seen {
	struct mon_proc_event ev[8];
	int n;
};

static int collect(const struct mon_proc_event *ev, void *userdata)
{
	struct seen *s = userdata;

	if (s->n < 8)
		s->ev[s->n++] = *ev;
	return 0;
}

static void test_parse(void)
{
	unsigned char buf[1024];
	size_t off = 0;
	struct seen s = {0};
	int32_t exec[2] = {4242, 4242}, fork_[4] = {1, 1, 4243, 4243};
	int32_t exit_old[4] = {4243, 4243, 256, 17}, exit_new[6] = {4244, 4244, 0, 17, 1, 1};
	uint32_t ack = 0;

	put_event(buf, &off, PROC_EVENT_EXEC, exec, sizeof(exec), CN_IDX_PROC);
	put_event(buf, &off, PROC_EVENT_FORK, fork_, sizeof(fork_), CN_IDX_PROC);
	put_event(buf, &off, PROC_EVENT_EXIT, exit_old, sizeof(exit_old), CN_IDX_PROC);
	put_event(buf, &off, PROC_EVENT_EXIT, exit_new, sizeof(exit_new), CN_IDX_PROC);
	put_event(buf, &off, PROC_EVENT_NONE, &ack, sizeof(ack), CN_IDX_PROC);
	put_event(buf, &off, PROC_EVENT_EXEC, exec, sizeof(exec), CN_IDX_PROC + 1);
	CHECK_INT(mon_proc_parse(buf, off, collect, &s), 5, "five proc events, another id skipped");
	CHECK_INT(s.ev[0].what, PROC_EVENT_EXEC, "first is an exec");
	CHECK_INT(s.ev[0].pid, 4242, "exec pid");
	CHECK_INT(s.ev[0].timestamp_ns, 123456789, "exec time stamp");
	CHECK_INT(s.ev[1].pid, 4243, "fork child pid");
	CHECK_INT(s.ev[1].parent_pid, 1, "fork parent pid");
	CHECK_INT(s.ev[2].exit_code, 256, "exit code of an old kernel's 16-byte exit");
	CHECK_INT(s.ev[3].parent_pid, 1, "a new kernel's exit names the parent");
	CHECK_INT(s.ev[4].what, PROC_EVENT_NONE, "the subscription's answer");

	/* truncations of the first message at every length */
	for (size_t n = 1; n < NLMSG_HDRLEN + sizeof(struct cn_msg) + 24; n++) {
		int r = mon_proc_parse(buf, n, NULL, NULL);

		if (r != -EBADMSG) {
			CHECK(false, "a datagram cut at %zu bytes is refused (got %d)", n, r);
			break;
		}
	}
	CHECK(true, "every truncation of an exec message is refused");

	{
		unsigned char bad[256];
		size_t o = 0;
		struct cn_msg cn;

		put_event(bad, &o, PROC_EVENT_EXEC, exec, sizeof(exec), CN_IDX_PROC);
		memcpy(&cn, bad + NLMSG_HDRLEN, sizeof(cn));
		cn.len = 200; /* claims more than the message holds */
		memcpy(bad + NLMSG_HDRLEN, &cn, sizeof(cn));
		CHECK_INT(mon_proc_parse(bad, o, NULL, NULL), -EBADMSG,
			  "a connector length past the message is refused");
		cn.len = 12; /* an exec without its pids */
		memcpy(bad + NLMSG_HDRLEN, &cn, sizeof(cn));
		CHECK_INT(mon_proc_parse(bad, o, NULL, NULL), -EBADMSG,
			  "an exec too short for its pids is refused");
	}
	CHECK_INT(mon_proc_parse(buf, 0, NULL, NULL), 0, "an empty datagram holds nothing");
}

static void test_stat_status(void)
{
	char stat[] = "4242 (a) b) (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
		      "987654 1000000 100 18446744073709551615";
	char bad[] = "4242 (x) S 17 1 2";
	char status[] = "Name:\tsleep\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t0\n";
	char nouid[] = "Name:\tsleep\n";
	int ppid = 0;
	uint64_t start = 0;
	int64_t uid = 0, euid = 0;

	CHECK_INT(procinfo_parse_stat(stat, &ppid, &start), 0, "a stat with ') (' in its name");
	CHECK_INT(ppid, 17, "ppid after a name holding parentheses and spaces");
	CHECK_INT(start, 987654, "start time is field 22");
	CHECK_INT(procinfo_parse_stat(bad, &ppid, &start), -EBADMSG, "a short stat is refused");
	CHECK_INT(procinfo_parse_status(status, &uid, &euid), 0, "status parses");
	CHECK_INT(uid, 1000, "real uid");
	CHECK_INT(euid, 0, "effective uid (a setuid program)");
	CHECK_INT(procinfo_parse_status(nouid, &uid, &euid), -EBADMSG, "no Uid: line");
}

static void test_cmdline(void)
{
	static const char raw[] = "ls\0-l\0/tmp\0";
	_cleanup_(freep) char *s = NULL, *big = NULL, *t = NULL;
	bool truncated = true;

	s = procinfo_cmdline(raw, sizeof(raw) - 1, &truncated);
	CHECK_STR(s, "ls -l /tmp", "NULs become spaces, the trailing one dropped");
	CHECK(!truncated, "a short command line is whole");
	big = mm_malloc(LIMIT_CMDLINE + 1);
	if (!big)
		abort();
	memset(big, 'a', LIMIT_CMDLINE + 1);
	t = procinfo_cmdline(big, LIMIT_CMDLINE + 1, &truncated);
	CHECK(t && strlen(t) == LIMIT_CMDLINE, "a long command line is cut at LIMIT_CMDLINE");
	CHECK(truncated, "and marked truncated");
}

static void test_hash(void)
{
	char path[] = "/tmp/mamori-test-hash-XXXXXX", hex[65];
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	(void) unlink(path);
	CHECK(write(fd, "abc", 3) == 3, "wrote the sample");
	CHECK_INT(mon_proc_hash_fd(fd, 1024, hex), 0, "hash of a small file");
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "SHA-256 of \"abc\" (FIPS 180-2 example)");
	CHECK_INT(mon_proc_hash_fd(fd, 2, hex), -EFBIG, "a file past the limit is not hashed");
	close(fd);
}

static void test_procinfo(void)
{
	struct mon_priv *priv = mon_priv_direct_new(-1);
	struct procinfo pi;
	pid_t child;
	int status;

	if (!priv)
		abort();
	CHECK_INT(procinfo_read("/proc", priv, getpid(), PROCINFO_CMDLINE | PROCINFO_CWD, 0, &pi),
		  0, "this process can be read");
	CHECK(!pi.gone, "this process is not gone");
	CHECK(pi.exe && strstr(pi.exe, "test-mon-proc"), "its executable is this test");
	CHECK(pi.cmdline && strstr(pi.cmdline, "test-mon-proc"), "its command line names it");
	CHECK_INT(pi.ppid, getppid(), "its parent");
	CHECK_INT(pi.uid, getuid(), "its user");
	procinfo_done(&pi);

	child = fork();
	if (child == 0)
		_exit(0);
	(void) waitpid(child, &status, 0);
	CHECK_INT(procinfo_read("/proc", priv, child, PROCINFO_CMDLINE, 0, &pi), 0,
		  "a reaped process is no failure");
	CHECK(pi.gone, "it is reported gone");
	CHECK(!pi.exe && !pi.cmdline, "with nothing made up");
	procinfo_done(&pi);

	CHECK_INT(procinfo_read("/proc", priv, getpid(), 0, 1, &pi), 0, "a too-late start");
	CHECK(pi.gone, "a process younger than the event is not the one meant (pid reused)");
	procinfo_done(&pi);
	mon_priv_direct_free(priv);
}

int main(void)
{
	mm_setup_jansson();
	test_parse();
	test_stat_status();
	test_cmdline();
	test_hash();
	test_procinfo();
	return tap_done();
}
