/*
 * The login monitor's parser of auth.log lines of sshd, sudo and su, in both syslog formats
 * Debian writes, including the lines an attacker shapes through the user name an ssh client
 * sends. (wtmp records are decoded by utmp.c, tested in test-utmp.c.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/monitors.h"
#include "lib/mm.h"
#include "tests/tap.h"

static char *dup_text(const char *s)
{
	char *t = mm_strdup(s);

	if (!t)
		abort();
	return t;
}

struct auth_case {
	const char *line;
	int ret;
	enum mon_auth_kind kind;
	const char *user, *host, *method, *target, *tty, *command;
	unsigned port;
	bool invalid;
};

static void test_auth(void)
{
	static const struct auth_case cases[] = {
		{"Nov 25 19:45:01 vm sshd[1234]: Accepted password for alice from 192.0.2.1 port "
		 "51234 ssh2",
		 1, MON_AUTH_SSH_ACCEPTED, "alice", "192.0.2.1", "password", NULL, NULL, NULL,
		 51234, false},
		{"2024-11-25T19:45:01.123456+09:00 vm sshd[1234]: Accepted publickey for bob from "
		 "2001:db8::7 port 22 ssh2: ED25519 SHA256:AbCd",
		 1, MON_AUTH_SSH_ACCEPTED, "bob", "2001:db8::7", "publickey", NULL, NULL, NULL, 22,
		 false},
		{"Nov  5 01:02:03 vm sshd[99]: Failed password for invalid user admin from "
		 "198.51.100.4 port 40000 ssh2",
		 1, MON_AUTH_SSH_FAILED, "admin", "198.51.100.4", "password", NULL, NULL, NULL,
		 40000, true},
		{"Nov  5 01:02:03 vm sshd[99]: Invalid user oracle from 198.51.100.4 port 40001", 1,
		 MON_AUTH_SSH_INVALID, "oracle", "198.51.100.4", NULL, NULL, NULL, NULL, 40001,
		 true},
		/* the user name is the client's: it cannot move the real host */
		{"Nov  5 01:02:03 vm sshd[99]: Failed password for invalid user x from 10.0.0.1 "
		 "port "
		 "22 from 203.0.113.9 port 5555 ssh2",
		 1, MON_AUTH_SSH_FAILED, "x from 10.0.0.1 port 22", "203.0.113.9", "password", NULL,
		 NULL, NULL, 5555, true},
		{"Nov  5 01:02:03 vm sshd[99]: Accepted keyboard-interactive/pam for carol from "
		 "192.0.2.3 port 2222 ssh2",
		 1, MON_AUTH_SSH_ACCEPTED, "carol", "192.0.2.3", "keyboard-interactive/pam", NULL,
		 NULL, NULL, 2222, false},
		{"Nov 25 19:45:02 vm sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
		 "COMMAND=/usr/bin/apt update",
		 1, MON_AUTH_SUDO, "alice", NULL, NULL, "root", "pts/0", "/usr/bin/apt update", 0,
		 false},
		{"Nov 25 19:45:02 vm sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; "
		 "USER=root ; COMMAND=/bin/sh -c 'a ; b'",
		 1, MON_AUTH_SUDO_DENIED, "bob", NULL, NULL, "root", "pts/1", "/bin/sh -c 'a ; b'",
		 0, false},
		{"2024-11-25T10:00:00Z vm sudo[77]: alice : 3 incorrect password attempts ; "
		 "TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
		 1, MON_AUTH_SUDO_FAILED, "alice", NULL, NULL, "root", "pts/0", "/bin/ls", 0,
		 false},
		{"Nov 25 19:45:02 vm sudo: pam_unix(sudo:session): session opened for user "
		 "root(uid=0)"
		 " by alice(uid=1000)",
		 0, MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
		{"Nov 25 19:46:00 vm su[555]: (to root) alice on pts/2", 1, MON_AUTH_SU, "alice",
		 NULL, NULL, "root", "pts/2", NULL, 0, false},
		{"Nov 25 19:46:00 vm su[556]: FAILED SU (to root) alice on pts/2", 1,
		 MON_AUTH_SU_FAILED, "alice", NULL, NULL, "root", "pts/2", NULL, 0, false},
		{"Nov 25 19:46:00 vm CRON[1]: pam_unix(cron:session): session opened for user root",
		 0, MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
		{"Nov 25 19:46:00 vm sshd[1]: Connection closed by 192.0.2.1 port 22 [preauth]", 0,
		 MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
		{"Nov 25 19:46:00 vm sshd[1]: Accepted password for alice from 192.0.2.1 port ssh2",
		 0, MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
		{"garbage", -EBADMSG, MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
		{"", -EBADMSG, MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
		{"Xyz 25 19:46:00 vm sshd[1]: x", -EBADMSG, MON_AUTH_NONE, NULL, NULL, NULL, NULL,
		 NULL, NULL, 0, false},
		{"2024-13-25T10:00:00Z vm sshd[1]: x", -EBADMSG, MON_AUTH_NONE, NULL, NULL, NULL,
		 NULL, NULL, NULL, 0, false},
		{"Nov 25 19:46:00 vm sshd[1x]: Accepted password for a from 1.2.3.4 port 1 ssh2",
		 -EBADMSG, MON_AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, 0, false},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct auth_case *c = &cases[i];
		_cleanup_(freep) char *line = dup_text(c->line);
		struct mon_auth a = {0};
		int r = mon_login_parse_auth_line(line, &a);

		CHECK_INT(r, c->ret, c->line);
		if (r != 1 || c->ret != 1)
			continue;
		CHECK_INT(a.kind, c->kind, "  kind");
		CHECK_STR(a.user, c->user, "  user");
		if (c->host)
			CHECK_STR(a.host, c->host, "  host");
		if (c->method)
			CHECK_STR(a.method, c->method, "  method");
		if (c->target)
			CHECK_STR(a.target, c->target, "  target");
		if (c->tty)
			CHECK_STR(a.tty, c->tty, "  tty");
		if (c->command)
			CHECK_STR(a.command, c->command, "  command");
		CHECK_INT(a.port, c->port, "  port");
		CHECK_INT(a.invalid_user, c->invalid, "  invalid user");
	}
	{
		_cleanup_(freep) char *line =
			dup_text("2024-11-25T19:45:01.5+09:00 vm sshd[1]: Accepted password for a "
				 "from 192.0.2.1 port 22 ssh2");
		struct mon_auth a;

		CHECK_INT(mon_login_parse_auth_line(line, &a), 1, "an RFC 3339 line");
		CHECK_INT(a.time, 1732531501, "its time in Unix seconds, the zone applied");
		CHECK_INT(a.pid, 1, "the logging pid");
	}
	{
		_cleanup_(freep) char *msg = dup_text("alice : TTY=pts/3 ; PWD=/ ; USER=bob ; "
						      "COMMAND=/usr/bin/id");
		struct mon_auth a;

		CHECK_INT(mon_login_parse_auth_message("sudo", 42, msg, &a), 1,
			  "a journal message (no syslog prefix)");
		CHECK_STR(a.target, "bob", "run as bob");
		CHECK_INT(a.pid, 42, "the journal's pid");
	}
}

int main(void)
{
	test_auth();
	return tap_done();
}
