/* Login records: what glibc writes to wtmp and lastlog is read back, field by field, and a
 * file cut in the middle of a record yields the whole records and a count of the rest. */
#include <errno.h>
#include <lastlog.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utmp.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/mm.h"
#include "tests/tap.h"

struct seen {
	int n, users;
	char last_user[33], last_host[257], last_line[33];
	int64_t last_time;
};

static int record(const struct utmp_entry *e, void *userdata)
{
	struct seen *s = userdata;

	s->n++;
	if (e->type == USER_PROCESS) {
		s->users++;
		snprintf(s->last_user, sizeof(s->last_user), "%s", e->user);
		snprintf(s->last_host, sizeof(s->last_host), "%s", e->host);
		snprintf(s->last_line, sizeof(s->last_line), "%s", e->line);
		s->last_time = e->tv_sec;
	}
	return 0;
}

static int stop(const struct utmp_entry *e, void *userdata)
{
	(void) e;
	(void) userdata;
	return -ECANCELED;
}

static void fill(struct utmp *u, short type, const char *user, const char *line, const char *host,
		 int32_t t)
{
	memset(u, 0, sizeof(*u));
	u->ut_type = type;
	u->ut_pid = 4242;
	strncpy(u->ut_user, user, sizeof(u->ut_user));
	strncpy(u->ut_line, line, sizeof(u->ut_line));
	strncpy(u->ut_host, host, sizeof(u->ut_host));
	u->ut_tv.tv_sec = t;
}

int main(void)
{
	char path[] = "/tmp/mamori-test-wtmp-XXXXXX";
	char full_user[33];
	struct utmp u;
	struct lastlog ll;
	struct utmp_lastlog out;
	struct seen s = {0};
	size_t len, trailing = 99;
	char *data = NULL;
	int fd = mkstemp(path);

	mm_setup_jansson();
	if (fd < 0)
		tap_skip_all("cannot create a temporary file");
	close(fd);
	CHECK_INT(utmp_record_size(), sizeof(struct utmp), "record size is the C library's");

	/* written the way login and sshd write them */
	fill(&u, BOOT_TIME, "reboot", "~", "6.1.0", 1714554000);
	updwtmp(path, &u);
	fill(&u, USER_PROCESS, "taro", "pts/0", "192.0.2.10", 1714638600);
	updwtmp(path, &u);
	memset(full_user, 'u', 32);
	full_user[32] = '\0';
	fill(&u, USER_PROCESS, full_user, "tty1", "", 1714700000);
	updwtmp(path, &u);

	CHECK_INT(fileio_read(NULL, path, 1 << 20, &data, &len), 0, "wtmp read");
	CHECK_INT(utmp_foreach(data, len, record, &s, &trailing), 3, "three records");
	CHECK_INT(trailing, 0, "no partial record");
	CHECK_INT(s.users, 2, "two user logins");
	CHECK_STR(s.last_user, full_user, "a 32-byte name (no NUL in the record) is whole");
	CHECK_STR(s.last_line, "tty1", "line");
	CHECK_INT(s.last_time, 1714700000, "time");

	memset(&s, 0, sizeof(s));
	CHECK_INT(utmp_foreach(data, len - 100, record, &s, &trailing), 2, "cut file: 2 records");
	CHECK_INT(trailing, sizeof(struct utmp) - 100, "… and the partial one's size");
	CHECK_STR(s.last_host, "192.0.2.10", "host of the last whole record");
	CHECK_INT(utmp_foreach(data, len, stop, NULL, NULL), -ECANCELED, "callback stops it");
	CHECK_INT(utmp_foreach(data, 10, record, &s, &trailing), 0, "shorter than a record");
	mm_free(data);
	unlink(path);

	memset(&ll, 0, sizeof(ll));
	CHECK_INT(utmp_lastlog_size(), sizeof(struct lastlog), "lastlog record size");
	CHECK_INT(utmp_lastlog_decode(&ll, sizeof(ll), &out), -ENOENT, "zero time: never");
	ll.ll_time = 1713603600;
	memset(ll.ll_line, 'l', sizeof(ll.ll_line));
	strncpy(ll.ll_host, "198.51.100.7", sizeof(ll.ll_host));
	CHECK_INT(utmp_lastlog_decode(&ll, sizeof(ll), &out), 0, "a record decodes");
	CHECK_INT(out.time, 1713603600, "time");
	CHECK_INT(strlen(out.line), 32, "a full line field stays within its 32 bytes");
	CHECK_STR(out.host, "198.51.100.7", "host");
	CHECK_INT(utmp_lastlog_decode(&ll, sizeof(ll) - 1, &out), -EBADMSG, "cut record refused");
	return tap_done();
}
