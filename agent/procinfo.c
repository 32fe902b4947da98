/*
 * Who did it: what /proc tells about a process (parent, users, command line, executable,
 * working directory) and user names for uids, for the process and file monitors.
 *
 * Reading /proc races with the process: it may exit, and its pid may be reused, between
 * the kernel's event and our reads. So the process's /proc directory is opened once and
 * every file is read relative to it (a directory of a dead process answers ESRCH, never
 * another process's data), its start time is checked against the event's time (a later
 * start means the pid was reused), and what could be read is kept with `gone` set rather
 * than dropped. exe and cwd are symlinks only the process's owner (or CAP_SYS_PTRACE) may
 * read, so they come through mon_priv, and are dropped if the process vanished meanwhile.
 *
 * User names come from the password database (getpwuid_r, so LDAP and SSSD users resolve
 * too) through a small cache emptied when /etc/passwd changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/monitors.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define USER_CACHE_SIZE 64

void procinfo_done(struct procinfo *pi)
{
	mm_free(pi->exe);
	mm_free(pi->cwd);
	mm_free(pi->cmdline);
	pi->exe = pi->cwd = pi->cmdline = NULL;
	if (pi->exe_fd >= 0)
		(void) close(pi->exe_fd);
	pi->exe_fd = -1;
}

int procinfo_parse_stat(char *text, int *ret_ppid, uint64_t *ret_start_ticks)
{
	/* "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime …": comm may
	 * hold spaces and parentheses, so fields are counted from the last ')' */
	char *p = strrchr(text, ')'), *save = NULL, *tok;
	uint64_t start = 0;
	int64_t ppid = -1;
	int field = 2; /* the comm field */

	if (!p)
		return -EBADMSG;
	for (tok = strtok_r(p + 1, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		field++;
		if (field == 4 && (str_to_i64(tok, 10, &ppid) < 0 || ppid < 0 || ppid > INT32_MAX))
			return -EBADMSG;
		if (field == 22) {
			if (str_to_u64(tok, 10, &start) < 0)
				return -EBADMSG;
			break;
		}
	}
	if (field != 22)
		return -EBADMSG;
	*ret_ppid = (int) ppid;
	*ret_start_ticks = start;
	return 0;
}

int procinfo_parse_status(char *text, int64_t *ret_uid, int64_t *ret_euid)
{
	char *cursor = text, *line;

	while ((line = str_next_line(&cursor))) {
		const char *rest = str_startswith(line, "Uid:");
		char *save = NULL, *real, *eff;
		uint64_t u, e;

		if (!rest)
			continue;
		real = strtok_r((char *) rest, " \t", &save);
		eff = real ? strtok_r(NULL, " \t", &save) : NULL;
		if (!eff || str_to_u64(real, 10, &u) < 0 || str_to_u64(eff, 10, &e) < 0 ||
		    u > UINT32_MAX || e > UINT32_MAX)
			return -EBADMSG;
		*ret_uid = (int64_t) u;
		*ret_euid = (int64_t) e;
		return 0;
	}
	return -EBADMSG;
}

char *procinfo_cmdline(const char *raw, size_t len, bool *ret_truncated)
{
	bool truncated = len > LIMIT_CMDLINE;
	char *s;

	if (truncated)
		len = LIMIT_CMDLINE;
	else
		while (len > 0 && raw[len - 1] == '\0')
			len--;
	s = mm_malloc(len + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++)
		s[i] = raw[i] ? raw[i] : ' ';
	s[len] = '\0';
	*ret_truncated = truncated;
	return s;
}

/* Reads dirfd/name (a /proc file: size 0, read to EOF) into buf of size n, NUL-terminated.
 * Returns the bytes read (at most n - 1) or -errno. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t n)
{
	_cleanup_(closep) int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len < n - 1) {
		ssize_t k = read(fd, buf + len, n - 1 - len);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t) k;
	}
	buf[len] = '\0';
	return (ssize_t) len;
}

static bool vanished(int err)
{
	return err == -ENOENT || err == -ESRCH;
}

int procinfo_read(const char *proc_root, struct mon_priv *priv, int pid, unsigned what,
		  uint64_t not_after_ticks, struct procinfo *ret)
{
	struct procinfo pi = {
		.pid = pid, .ppid = -1, .uid = -1, .euid = -1, .loginuid = -1, .exe_fd = -1};
	_cleanup_(freep) char *big = NULL;
	_cleanup_(closep) int dirfd = -1;
	char path[64], buf[4096];
	ssize_t n;
	int r;

	(void) snprintf(path, sizeof(path), "%s/%d", proc_root, pid);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		pi.gone = true;
		goto out;
	}
	n = read_at(dirfd, "stat", buf, sizeof(buf));
	if (n < 0 || procinfo_parse_stat(buf, &pi.ppid, &pi.start_ticks) < 0) {
		pi.gone = true;
		goto out;
	}
	if (not_after_ticks && pi.start_ticks > not_after_ticks) {
		/* another process got the pid since the event: nothing here is about ours */
		pi.ppid = -1;
		pi.start_ticks = 0;
		pi.gone = true;
		goto out;
	}
	n = read_at(dirfd, "status", buf, sizeof(buf));
	if (n < 0 || procinfo_parse_status(buf, &pi.uid, &pi.euid) < 0)
		pi.gone = true;
	n = read_at(dirfd, "loginuid", buf, sizeof(buf));
	if (n > 0) {
		uint64_t v;

		if (str_to_u64(str_strip(buf), 10, &v) == 0 && v < UINT32_MAX)
			pi.loginuid = (int64_t) v;
	}
	if (what & PROCINFO_CMDLINE) {
		big = mm_malloc(LIMIT_CMDLINE + 2);
		if (!big)
			return -ENOMEM;
		n = read_at(dirfd, "cmdline", big, LIMIT_CMDLINE + 2);
		if (n >= 0) {
			pi.cmdline = procinfo_cmdline(big, (size_t) n, &pi.cmdline_truncated);
			if (!pi.cmdline)
				return -ENOMEM;
		} else if (vanished((int) n)) {
			pi.gone = true;
		}
	}
	if (priv && priv->proc_links) {
		r = priv->proc_links(priv, pid, &pi.exe, (what & PROCINFO_CWD) ? &pi.cwd : NULL,
				     (what & PROCINFO_EXE_FD) ? &pi.exe_fd : NULL);
		if (r == -ENOMEM) {
			procinfo_done(&pi);
			return r;
		}
		if (r < 0 || !pi.exe)
			pi.gone = true; /* a zombie has no exe link either */
	}
	/* the links were read by pid: if the process died meanwhile they may name its successor */
	n = read_at(dirfd, "stat", buf, sizeof(buf));
	if (n < 0) {
		mm_free(pi.exe);
		mm_free(pi.cwd);
		pi.exe = pi.cwd = NULL;
		if (pi.exe_fd >= 0)
			(void) close(pi.exe_fd);
		pi.exe_fd = -1;
		pi.gone = true;
	}
	if (pi.exe && str_endswith(pi.exe, " (deleted)")) {
		pi.exe[strlen(pi.exe) - strlen(" (deleted)")] = '\0';
		pi.exe_deleted = true;
	}
out:
	*ret = pi;
	return 0;
}

const char *procinfo_user_name(int64_t uid)
{
	static struct {
		int64_t uid;
		bool known; /* false: the database has no such uid */
		char name[64];
	} cache[USER_CACHE_SIZE];
	static size_t used, next;
	static struct timespec checked, mtime;
	struct timespec now;
	struct passwd pw, *res = NULL;
	char buf[1024];
	size_t slot;

	if (uid < 0 || uid > UINT32_MAX)
		return NULL;
	/* forget everything when /etc/passwd changed; looked at once a second at most */
	(void) clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec != checked.tv_sec) {
		struct stat st;

		checked = now;
		if (stat("/etc/passwd", &st) == 0 &&
		    (st.st_mtim.tv_sec != mtime.tv_sec || st.st_mtim.tv_nsec != mtime.tv_nsec)) {
			mtime = st.st_mtim;
			used = next = 0;
		}
	}
	for (size_t i = 0; i < used; i++)
		if (cache[i].uid == uid)
			return cache[i].known ? cache[i].name : NULL;
	if (used < USER_CACHE_SIZE)
		slot = used++;
	else
		slot = next++ % USER_CACHE_SIZE;
	cache[slot].uid = uid;
	cache[slot].known = getpwuid_r((uid_t) uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
			    strlen(res->pw_name) < sizeof(cache[slot].name);
	if (cache[slot].known)
		(void) snprintf(cache[slot].name, sizeof(cache[slot].name), "%s", res->pw_name);
	return cache[slot].known ? cache[slot].name : NULL;
}

static int set_text(json_t *obj, const char *key, const char *s)
{
	return jsonw_set(obj, key, col_json_text(s, strlen(s)));
}

static int set_user(json_t *obj, const char *uid_key, const char *name_key, int64_t uid)
{
	const char *name;
	int r;

	if (uid < 0)
		return 0;
	r = jsonw_set(obj, uid_key, json_integer(uid));
	if (r < 0)
		return r;
	name = procinfo_user_name(uid);
	return name ? set_text(obj, name_key, name) : 0;
}

int procinfo_to_json(const struct procinfo *pi, json_t *obj)
{
	int r;

	r = jsonw_set(obj, "pid", json_integer(pi->pid));
	if (r >= 0 && pi->ppid >= 0)
		r = jsonw_set(obj, "ppid", json_integer(pi->ppid));
	if (r >= 0)
		r = set_user(obj, "uid", "user", pi->uid);
	if (r >= 0 && pi->euid >= 0 && pi->euid != pi->uid)
		r = set_user(obj, "euid", "euser", pi->euid);
	if (r >= 0)
		r = set_user(obj, "login_uid", "login_user", pi->loginuid);
	if (r >= 0 && pi->exe)
		r = set_text(obj, "exe", pi->exe);
	if (r >= 0 && pi->exe_deleted)
		r = jsonw_set(obj, "exe_deleted", json_true());
	if (r >= 0 && pi->cmdline)
		r = set_text(obj, "cmdline", pi->cmdline);
	if (r >= 0 && pi->cmdline_truncated)
		r = jsonw_set(obj, "cmdline_truncated", json_true());
	if (r >= 0 && pi->cwd)
		r = set_text(obj, "cwd", pi->cwd);
	if (r >= 0 && pi->gone)
		r = jsonw_set(obj, "gone", json_true());
	return r;
}
