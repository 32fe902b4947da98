/*
 * Appends one login record to a wtmp or btmp file with updwtmpx(3), as login(1), sshd and
 * systemd-logind do, for the login monitor's tests:
 *   utmp-writer FILE login USER LINE HOST PID     a USER_PROCESS record (a login)
 *   utmp-writer FILE logout - LINE - PID          a DEAD_PROCESS record (its logout)
 *   utmp-writer FILE fail USER LINE HOST PID      a LOGIN_PROCESS record (btmp: a failure)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <utmpx.h>

int main(int argc, char **argv)
{
	struct utmpx ut;
	struct timeval tv;

	if (argc != 7) {
		fprintf(stderr, "usage: utmp-writer FILE login|logout|fail USER LINE HOST PID\n");
		return 2;
	}
	memset(&ut, 0, sizeof(ut));
	if (strcmp(argv[2], "login") == 0)
		ut.ut_type = USER_PROCESS;
	else if (strcmp(argv[2], "logout") == 0)
		ut.ut_type = DEAD_PROCESS;
	else if (strcmp(argv[2], "fail") == 0)
		ut.ut_type = LOGIN_PROCESS;
	else
		return 2;
	ut.ut_pid = (pid_t) strtol(argv[6], NULL, 10);
	strncpy(ut.ut_line, argv[4], sizeof(ut.ut_line));
	if (strcmp(argv[3], "-") != 0)
		strncpy(ut.ut_user, argv[3], sizeof(ut.ut_user));
	if (strcmp(argv[5], "-") != 0)
		strncpy(ut.ut_host, argv[5], sizeof(ut.ut_host));
	strncpy(ut.ut_id, argv[4] + (strlen(argv[4]) > 4 ? strlen(argv[4]) - 4 : 0),
		sizeof(ut.ut_id));
	gettimeofday(&tv, NULL);
	ut.ut_tv.tv_sec = (int32_t) tv.tv_sec;
	ut.ut_tv.tv_usec = (int32_t) tv.tv_usec;
	updwtmpx(argv[1], &ut);
	return 0;
}
