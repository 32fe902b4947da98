/*
 * Logins, logouts and authentication: "login.success", "login.logout", "login.failure",
 * "auth.sudo" and "auth.su" events (docs/events.md), from
 *   - wtmp (decoded by utmp.c, the users collector's decoder): USER_PROCESS records are logins,
 * DEAD_PROCESS records of a known session are logouts (the record has no user name; the session
 * table, seeded from utmp at start, names it);
 *   - btmp: failed logins (login(1), sshd);
 *   - auth.log: sshd's accepted and failed authentications (which say the method), sudo
 *     and su; or, where no auth.log exists and journald runs, the journal's messages of
 *     sshd, sudo and su, parsed by the same functions.
 * One SSH login so appears twice, from wtmp (with the terminal) and from sshd (with the
 * method and port); "source" tells them apart.
 *
 * Files are followed like `tail -F`: an inotify watch on each file's directory (so a file
 * created or rotated in is seen), a read from the last offset whenever it changes, a
 * rotation noticed by a new inode (the old file is read to its end first) and a truncation
 * by a size below the offset. The monitor starts at the end of each file: only what is
 * appended after it started is reported. Files are opened through mon_priv (btmp and
 * auth.log are readable by root, or the adm group, only).
 *
 * Parsers (utmp records, auth.log lines) take outside bytes and are fuzzed: a line from a
 * user-controlled field (an ssh user name is whatever the client sent) must not fake
 * another field, so sshd's "from HOST port N" is taken from the end of the line.
 *
 * The monitor's fd is an epoll set over the inotify descriptor and the journal's.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utmp.h>

#include <systemd/sd-journal.h>

#include "agent/agent.h"
#include "agent/monitors.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define TAG_INOTIFY 1
#define TAG_JOURNAL 2
#define READ_CHUNK  ((size_t) 64 * 1024)

enum follow_kind {
	FOLLOW_WTMP,
	FOLLOW_BTMP,
	FOLLOW_AUTH
};

struct follower {
	enum follow_kind kind;
	char *path;
	const char *base; /* in path */
	int wd;
	int fd;
	dev_t dev;
	ino_t ino;
	uint64_t off;
	struct buf partial; /* an unfinished line or record */
	bool skipping;      /* inside a line longer than LIMIT_LINE */
};

struct session {
	int32_t pid;
	char line[33];
	char user[33];
	char host[257];
};

struct login_mon {
	struct monitor m;
	int ino_fd;
	struct mon_priv *priv;
	bool enabled;
	struct follower f[3];
	size_t n_f;
	sd_journal *journal;
	struct session *sessions;
	size_t n_sessions;
	struct mon_sink *sink;
	unsigned char *chunk;
};

/* ---- parsers ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char) s[i]))
			return false;
	return true;
}

static unsigned num(const char *s, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned) (s[i] - '0');
	return v;
}

/* "2024-11-25T19:45:01[.frac](Z|±hh:mm)" → Unix seconds; -EBADMSG otherwise. */
static int parse_rfc3339(const char *s, int64_t *ret)
{
	unsigned y, mo, d, h, mi, se;
	int64_t t, off = 0;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return -EBADMSG;
	y = num(s, 4);
	mo = num(s + 5, 2);
	d = num(s + 8, 2);
	h = num(s + 11, 2);
	mi = num(s + 14, 2);
	se = num(s + 17, 2);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -EBADMSG;
	p = s + 19;
	if (*p == '.')
		for (p++; isdigit((unsigned char) *p); p++)
			;
	if (*p == 'Z') {
		p++;
	} else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' &&
		   digits(p + 4, 2)) {
		off = (int64_t) num(p + 1, 2) * 3600 + (int64_t) num(p + 4, 2) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EBADMSG;
	}
	if (*p)
		return -EBADMSG;
	t = days_from_civil(y, mo, d) * 86400 + (int64_t) h * 3600 + (int64_t) mi * 60 + se;
	*ret = t - off;
	return 0;
}

/* Splits the next space-separated token off *s (several spaces count as one). */
static char *next_token(char **s)
{
	char *p = *s, *tok;

	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	tok = p;
	while (*p && *p != ' ')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return tok;
}

/* Reads a decimal port (1..65535) that ends at a space or the string's end. */
static bool parse_port(const char *s, unsigned *ret, const char **ret_end)
{
	unsigned v = 0;
	const char *p = s;

	while (isdigit((unsigned char) *p) && p - s < 6)
		v = v * 10 + (unsigned) (*p++ - '0');
	if (p == s || (*p && *p != ' ') || v == 0 || v > 65535)
		return false;
	*ret = v;
	*ret_end = p;
	return true;
}

/*
 * sshd: "Accepted|Failed METHOD for [invalid user ]USER from HOST port N …" and
 * "Invalid user USER from HOST port N". The user is whatever the client sent, so the
 * " from HOST port N" that ends the line's fixed part is searched from the right.
 */
static int parse_sshd(char *msg, struct mon_auth *a)
{
	char *p, *from = NULL, *rest;
	const char *end;

	if ((rest = (char *) str_startswith(msg, "Accepted "))) {
		a->kind = MON_AUTH_SSH_ACCEPTED;
	} else if ((rest = (char *) str_startswith(msg, "Failed "))) {
		a->kind = MON_AUTH_SSH_FAILED;
	} else if ((rest = (char *) str_startswith(msg, "Invalid user "))) {
		a->kind = MON_AUTH_SSH_INVALID;
		a->invalid_user = true;
	} else {
		return 0;
	}
	/* the last " from HOST port N" whose port is a number */
	for (p = rest; (p = strstr(p, " from ")); p++) {
		char *host = p + 6, *sp = strchr(host, ' ');
		unsigned port;

		if (sp && str_startswith(sp, " port ") && parse_port(sp + 6, &port, &end)) {
			from = p;
			a->port = port;
		}
	}
	if (!from)
		return 0;
	*from = '\0';
	a->host = from + 6;
	*strchr(a->host, ' ') = '\0';
	if (a->kind != MON_AUTH_SSH_INVALID) {
		char *sp = strchr(rest, ' ');

		if (!sp || !str_startswith(sp, " for "))
			return 0;
		*sp = '\0';
		a->method = rest;
		rest = sp + 5;
		if ((p = (char *) str_startswith(rest, "invalid user "))) {
			a->invalid_user = true;
			rest = p;
		}
	}
	a->user = rest;
	return 1;
}

/*
 * sudo: "USER : [REASON ; ]TTY=… ; PWD=… ; USER=… ; [ENV=… ; ]COMMAND=…". COMMAND is last
 * and may itself hold " ; ", so it takes the rest of the line.
 */
static int parse_sudo(char *msg, struct mon_auth *a)
{
	char *sep, *p, *field;

	while (*msg == ' ')
		msg++;
	sep = strstr(msg, " : ");
	if (!sep || sep == msg || memchr(msg, ' ', (size_t) (sep - msg)))
		return 0;
	*sep = '\0';
	a->user = msg;
	a->kind = MON_AUTH_SUDO;
	for (p = sep + 3; p && *p;) {
		char *next;

		field = p;
		if (str_startswith(field, "COMMAND=")) {
			a->command = field + 8;
			break;
		}
		next = strstr(p, " ; ");
		if (next) {
			*next = '\0';
			p = next + 3;
		} else {
			p = NULL;
		}
		if (str_startswith(field, "TTY="))
			a->tty = field + 4;
		else if (str_startswith(field, "PWD="))
			a->pwd = field + 4;
		else if (str_startswith(field, "USER="))
			a->target = field + 5;
		else if (!strchr(field, '=') && !a->tty && !a->reason) {
			unsigned n = 0;

			a->reason = field;
			if (strstr(field, "incorrect password attempt")) {
				for (const char *q = field; isdigit((unsigned char) *q) && n < 1000;
				     q++)
					n = n * 10 + (unsigned) (*q - '0');
				a->attempts = n;
				a->kind = MON_AUTH_SUDO_FAILED;
			} else if (strstr(field, "password is required")) {
				a->kind = MON_AUTH_SUDO_FAILED;
			} else {
				a->kind = MON_AUTH_SUDO_DENIED;
			}
		}
	}
	if (!a->tty && !a->command)
		return 0; /* not a command line: "pam_unix(sudo:session): …" and friends */
	return 1;
}

/* su (util-linux): "[FAILED SU ](to TARGET) USER on TTY". */
static int parse_su(char *msg, struct mon_auth *a)
{
	char *p = msg, *close, *on;

	a->kind = MON_AUTH_SU;
	if (str_startswith(p, "FAILED SU ")) {
		a->kind = MON_AUTH_SU_FAILED;
		p += strlen("FAILED SU ");
	}
	if (!str_startswith(p, "(to "))
		return 0;
	close = strchr(p, ')');
	if (!close || close[1] != ' ')
		return 0;
	*close = '\0';
	a->target = p + 4;
	p = close + 2;
	on = strstr(p, " on ");
	if (on) {
		*on = '\0';
		a->tty = on + 4;
	}
	if (!*p)
		return 0;
	a->user = p;
	return 1;
}

int mon_login_parse_auth_message(const char *program, int pid, char *msg, struct mon_auth *ret)
{
	struct mon_auth a = {.pid = pid};
	int r;

	if (streq(program, "sshd"))
		r = parse_sshd(msg, &a);
	else if (streq(program, "sudo"))
		r = parse_sudo(msg, &a);
	else if (streq(program, "su") || streq(program, "su-l"))
		r = parse_su(msg, &a);
	else
		return 0;
	if (r <= 0)
		return r;
	a.program = program;
	*ret = a;
	return 1;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int mon_login_parse_auth_line(char *line, struct mon_auth *ret)
{
	char *p = line, *tag, *prog, *msg, *bracket;
	int64_t when = 0;
	int pid = -1, r;

	if (isdigit((unsigned char) line[0])) {
		char *stamp = next_token(&p);

		if (!stamp || parse_rfc3339(stamp, &when) < 0)
			return -EBADMSG;
	} else {
		/* "Nov 25 19:45:01": no year, no zone; the time is left unknown */
		char *mon = next_token(&p), *day = next_token(&p), *hms = next_token(&p);
		bool ok = false;

		for (size_t i = 0; mon && i < ARRAY_SIZE(months); i++)
			ok = ok || streq(mon, months[i]);
		if (!ok || !day || !hms || strlen(day) > 2 || !digits(day, strlen(day)) ||
		    strlen(hms) != 8 || hms[2] != ':' || hms[5] != ':')
			return -EBADMSG;
	}
	if (!next_token(&p)) /* the host */
		return -EBADMSG;
	while (*p == ' ')
		p++;
	tag = p;
	msg = strstr(p, ": ");
	if (!msg) {
		size_t n = strlen(p);

		if (n == 0 || p[n - 1] != ':')
			return -EBADMSG;
		p[n - 1] = '\0';
		msg = p + n - 1;
	} else {
		*msg = '\0';
		msg += 2;
	}
	if (strchr(tag, ' '))
		return 0; /* not a "prog[pid]" tag: some other format */
	prog = tag;
	bracket = strchr(tag, '[');
	if (bracket) {
		uint64_t v;
		char *close = strchr(bracket, ']');

		if (!close || close[1])
			return -EBADMSG;
		*close = '\0';
		*bracket = '\0';
		if (str_to_u64(bracket + 1, 10, &v) < 0 || v > INT32_MAX)
			return -EBADMSG;
		pid = (int) v;
	}
	r = mon_login_parse_auth_message(prog, pid, msg, ret);
	if (r > 0)
		ret->time = when;
	return r;
}

/* ---- the monitor ---- */

static struct login_mon *to_login(struct monitor *m)
{
	return (struct login_mon *) m;
}

static int set_text(json_t *obj, const char *key, const char *s)
{
	if (!s || !*s)
		return 0;
	return jsonw_set(obj, key, col_json_text(s, strlen(s)));
}

static int emit(struct login_mon *l, const char *type, json_t *data)
{
	int r;

	if (!data) {
		log_warning("(M1221) login monitor: out of memory, a login event was lost");
		return -ENOMEM;
	}
	r = l->sink->emit(l->sink, type, data);
	json_decref(data);
	if (r == -ENOMEM)
		log_warning("(M1221) login monitor: out of memory, a login event was lost");
	return r == -ENOSPC ? 0 : r;
}

/* A terminal line that says how the user came in. */
static const char *login_method(const struct utmp_entry *u)
{
	if (u->host[0] && u->host[0] != ':')
		return "remote";
	if (u->line[0] == ':' || u->host[0] == ':')
		return "graphical";
	return "console";
}

static struct session *session_find(struct login_mon *l, const struct utmp_entry *u)
{
	for (size_t i = 0; i < l->n_sessions; i++)
		if (l->sessions[i].pid == u->pid && u->pid > 0)
			return &l->sessions[i];
	for (size_t i = 0; i < l->n_sessions; i++)
		if (u->line[0] && streq(l->sessions[i].line, u->line))
			return &l->sessions[i];
	return NULL;
}

static void session_add(struct login_mon *l, const struct utmp_entry *u)
{
	struct session *s = session_find(l, u);

	if (!s) {
		if (l->n_sessions >= LIMIT_LOGIN_SESSIONS)
			memmove(&l->sessions[0], &l->sessions[1],
				--l->n_sessions * sizeof(l->sessions[0]));
		s = &l->sessions[l->n_sessions++];
	}
	s->pid = u->pid;
	(void) snprintf(s->line, sizeof(s->line), "%s", u->line);
	(void) snprintf(s->user, sizeof(s->user), "%s", u->user);
	(void) snprintf(s->host, sizeof(s->host), "%s", u->host);
}

/* ut_addr_v6 as text: IPv4 in the first word alone, else IPv6; "" when unset. */
static void addr_text(const struct utmp_entry *u, char out[INET6_ADDRSTRLEN])
{
	out[0] = '\0';
	if (u->addr[1] || u->addr[2] || u->addr[3])
		(void) inet_ntop(AF_INET6, u->addr, out, INET6_ADDRSTRLEN);
	else if (u->addr[0])
		(void) inet_ntop(AF_INET, u->addr, out, INET6_ADDRSTRLEN);
}

static json_t *utmp_json(const struct utmp_entry *u, const char *source)
{
	json_t *d = json_object();
	char addr[INET6_ADDRSTRLEN];

	addr_text(u, addr);
	if (!d || jsonw_set(d, "source", json_string(source)) < 0 ||
	    set_text(d, "user", u->user) < 0 || set_text(d, "line", u->line) < 0 ||
	    set_text(d, "host", u->host) < 0 || set_text(d, "addr", addr) < 0 ||
	    (u->pid > 0 && jsonw_set(d, "pid", json_integer(u->pid)) < 0) ||
	    (u->tv_sec > 0 && jsonw_set(d, "logged_at", json_integer(u->tv_sec)) < 0)) {
		json_decref(d);
		return NULL;
	}
	return d;
}

static void on_wtmp(struct login_mon *l, const struct utmp_entry *u)
{
	json_t *d;

	if (u->type == USER_PROCESS && u->user[0]) {
		session_add(l, u);
		d = utmp_json(u, "wtmp");
		if (d && jsonw_set(d, "method", json_string(login_method(u))) < 0) {
			json_decref(d);
			d = NULL;
		}
		(void) emit(l, "login.success", d);
	} else if (u->type == DEAD_PROCESS) {
		struct session *s = session_find(l, u);
		struct utmp_entry named = *u;

		if (!s)
			return; /* a getty ending, or a session older than we know */
		(void) snprintf(named.user, sizeof(named.user), "%s", s->user);
		if (!named.host[0])
			(void) snprintf(named.host, sizeof(named.host), "%s", s->host);
		*s = l->sessions[--l->n_sessions];
		(void) emit(l, "login.logout", utmp_json(&named, "wtmp"));
	}
}

static void on_btmp(struct login_mon *l, const struct utmp_entry *u)
{
	json_t *d;

	if (u->type != USER_PROCESS && u->type != LOGIN_PROCESS)
		return;
	d = utmp_json(u, "btmp");
	if (d && jsonw_set(d, "method", json_string(login_method(u))) < 0) {
		json_decref(d);
		d = NULL;
	}
	(void) emit(l, "login.failure", d);
}

static void on_auth(struct login_mon *l, const struct mon_auth *a, const char *source)
{
	const char *type;
	json_t *d = json_object();
	int r;

	if (!d) {
		(void) emit(l, "login.failure", NULL);
		return;
	}
	switch (a->kind) {
	case MON_AUTH_SSH_ACCEPTED:
		type = "login.success";
		break;
	case MON_AUTH_SSH_FAILED:
	case MON_AUTH_SSH_INVALID:
		type = "login.failure";
		break;
	case MON_AUTH_SU:
	case MON_AUTH_SU_FAILED:
		type = "auth.su";
		break;
	default:
		type = "auth.sudo";
		break;
	}
	r = jsonw_set(d, "source", json_string(source));
	if (r >= 0)
		r = set_text(d, "program", a->program);
	if (r >= 0 && a->pid > 0)
		r = jsonw_set(d, "pid", json_integer(a->pid));
	if (r >= 0)
		r = set_text(d, "user", a->user);
	if (r >= 0)
		r = set_text(d, "target", a->target);
	if (r >= 0)
		r = set_text(d, "method", a->method);
	if (r >= 0)
		r = set_text(d, "host", a->host);
	if (r >= 0 && a->port)
		r = jsonw_set(d, "port", json_integer(a->port));
	if (r >= 0 && a->invalid_user)
		r = jsonw_set(d, "invalid_user", json_true());
	if (r >= 0)
		r = set_text(d, "tty", a->tty);
	if (r >= 0)
		r = set_text(d, "pwd", a->pwd);
	if (r >= 0)
		r = set_text(d, "command", a->command);
	if (r >= 0)
		r = set_text(d, "reason", a->reason);
	if (r >= 0 && a->attempts)
		r = jsonw_set(d, "attempts", json_integer(a->attempts));
	if (r >= 0 && a->time)
		r = jsonw_set(d, "logged_at", json_integer(a->time));
	if (r >= 0 && a->kind >= MON_AUTH_SUDO)
		r = jsonw_set(d, "result",
			      json_string(a->kind == MON_AUTH_SUDO || a->kind == MON_AUTH_SU
						  ? "allowed"
					  : a->kind == MON_AUTH_SUDO_DENIED ? "denied"
									    : "failed"));
	if (r < 0) {
		json_decref(d);
		d = NULL;
	}
	(void) emit(l, type, d);
}

/* Hands complete records or lines of data to the follower's parser, keeping the rest. */
static void consume(struct login_mon *l, struct follower *f, const unsigned char *data, size_t n)
{
	if (f->kind == FOLLOW_AUTH) {
		for (size_t i = 0; i < n;) {
			const unsigned char *nl = memchr(data + i, '\n', n - i);
			size_t len = nl ? (size_t) (nl - (data + i)) : n - i;

			if (!f->skipping && buf_add(&f->partial, data + i, len) < 0) {
				f->skipping = true; /* a line over LIMIT_LINE: dropped whole */
				buf_reset(&f->partial);
			}
			i += len;
			if (!nl)
				break;
			i++;
			if (!f->skipping && f->partial.len > 0) {
				struct mon_auth a;
				char *line = f->partial.data;

				if (line[f->partial.len - 1] == '\r')
					line[f->partial.len - 1] = '\0';
				if (mon_login_parse_auth_line(line, &a) > 0)
					on_auth(l, &a, "auth.log");
			}
			f->skipping = false;
			buf_reset(&f->partial);
		}
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t rec = utmp_record_size(), take = MIN(rec - f->partial.len, n - i);
		struct utmp_entry u;

		if (buf_add(&f->partial, data + i, take) < 0)
			return;
		i += take;
		if (f->partial.len < rec)
			break;
		utmp_decode(f->partial.data, &u);
		if (f->kind == FOLLOW_WTMP)
			on_wtmp(l, &u);
		else
			on_btmp(l, &u);
		buf_reset(&f->partial);
	}
}

/* Reads what was appended to the follower's open file since its offset. */
static void read_new(struct login_mon *l, struct follower *f)
{
	struct stat st;

	if (f->fd < 0 || fstat(f->fd, &st) < 0)
		return;
	if ((uint64_t) st.st_size < f->off) {
		f->off = 0; /* truncated in place (copytruncate) */
		buf_reset(&f->partial);
	}
	for (;;) {
		ssize_t n = pread(f->fd, l->chunk, READ_CHUNK, (off_t) f->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		f->off += (uint64_t) n;
		if (l->enabled)
			consume(l, f, l->chunk, (size_t) n);
	}
}

/* (Re)opens the follower's file when it appeared or was replaced. at_end: start at its
 * end (the monitor's start) rather than its beginning (a file rotated in). */
static void reopen(struct login_mon *l, struct follower *f, bool at_end)
{
	struct stat st;
	int fd, r;

	if (stat(f->path, &st) < 0)
		return; /* gone: keep reading the old one, if any, until a new one appears */
	if (f->fd >= 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		return;
	read_new(l, f); /* what the old file got before it was moved away */
	r = l->priv->open_file(l->priv, f->path, &fd);
	if (r < 0) {
		log_warning("(M1222) login monitor: cannot open %s: %s", f->path, strerror(-r));
		return;
	}
	if (f->fd >= 0)
		(void) close(f->fd);
	f->fd = fd;
	if (fstat(fd, &st) < 0) {
		st.st_dev = 0;
		st.st_ino = 0;
		st.st_size = 0;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->off = at_end ? (uint64_t) st.st_size : 0;
	buf_reset(&f->partial);
	f->skipping = false;
	if (at_end && f->kind != FOLLOW_AUTH)
		f->off -= f->off % utmp_record_size();
}

static int add_follower(struct login_mon *l, enum follow_kind kind, const char *path)
{
	struct follower *f = &l->f[l->n_f];
	_cleanup_(freep) char *dir = NULL;
	char *slash;

	*f = (struct follower){.kind = kind, .fd = -1, .wd = -1};
	buf_init(&f->partial, kind == FOLLOW_AUTH ? LIMIT_LINE : utmp_record_size());
	f->path = mm_strdup(path);
	dir = mm_strdup(path);
	if (!f->path || !dir) {
		mm_free(f->path);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (!slash || path[0] != '/') {
		mm_free(f->path);
		return -EINVAL;
	}
	f->base = strrchr(f->path, '/') + 1;
	*(slash == dir ? slash + 1 : slash) = '\0';
	f->wd = inotify_add_watch(l->ino_fd, dir,
				  IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |
					  IN_ONLYDIR);
	if (f->wd < 0)
		log_warning("(M1223) login monitor: cannot watch %s: %s", dir, strerror(errno));
	l->n_f++;
	reopen(l, f, true);
	return 0;
}

/* The sessions open now (utmp), so their logouts can name the user. */
static void seed_sessions(struct login_mon *l, const char *utmp)
{
	_cleanup_(freep) char *data = NULL;
	size_t len, rec = utmp_record_size();

	/* utmp is readable by everyone: no need for mon_priv */
	if (fileio_read(NULL, utmp, LIMIT_SMALL_FILE * 16, &data, &len) < 0)
		return;
	for (size_t off = 0; off + rec <= len; off += rec) {
		struct utmp_entry u;

		utmp_decode(data + off, &u);
		if (u.type == USER_PROCESS && u.user[0])
			session_add(l, &u);
	}
}

static void drain_inotify(struct login_mon *l)
{
	union {
		struct inotify_event ev;
		char raw[4096];
	} u;

	for (;;) {
		ssize_t n = read(l->ino_fd, u.raw, sizeof(u.raw));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t off = 0; off + (ssize_t) sizeof(struct inotify_event) <= n;) {
			struct inotify_event ev;
			const char *name = u.raw + off + sizeof(ev); /* NUL-padded by the kernel */

			memcpy(&ev, u.raw + off, sizeof(ev));
			if (off + (ssize_t) sizeof(ev) + ev.len > n)
				break;
			for (size_t i = 0; i < l->n_f; i++) {
				struct follower *f = &l->f[i];

				if (ev.wd != f->wd || (ev.len && !streq(name, f->base)))
					continue;
				if (ev.mask & (IN_CREATE | IN_MOVED_TO | IN_ATTRIB))
					reopen(l, f, false);
				else if (f->fd < 0)
					reopen(l, f, false);
				read_new(l, f);
			}
			if (ev.mask & IN_Q_OVERFLOW)
				for (size_t i = 0; i < l->n_f; i++) {
					reopen(l, &l->f[i], false);
					read_new(l, &l->f[i]);
				}
			off += (ssize_t) sizeof(ev) + ev.len;
		}
	}
}

static void drain_journal(struct login_mon *l)
{
	if (sd_journal_process(l->journal) < 0)
		return;
	while (sd_journal_next(l->journal) > 0) {
		const void *v;
		size_t len;
		char prog[32] = "", *msg = NULL;
		int pid = -1;
		struct mon_auth a;

		if (sd_journal_get_data(l->journal, "SYSLOG_IDENTIFIER", &v, &len) >= 0 &&
		    len > 18 && len - 18 < sizeof(prog))
			memcpy(prog, (const char *) v + 18, len - 18);
		if (sd_journal_get_data(l->journal, "_PID", &v, &len) >= 0 && len > 5 && len < 16) {
			char tmp[16];
			uint64_t p;

			memcpy(tmp, (const char *) v + 5, len - 5);
			tmp[len - 5] = '\0';
			if (str_to_u64(tmp, 10, &p) == 0 && p <= INT32_MAX)
				pid = (int) p;
		}
		if (sd_journal_get_data(l->journal, "MESSAGE", &v, &len) < 0 || len < 8 ||
		    len > LIMIT_LINE)
			continue;
		msg = mm_strndup((const char *) v + 8, len - 8);
		if (!msg)
			continue;
		if (l->enabled && mon_login_parse_auth_message(prog, pid, msg, &a) > 0)
			on_auth(l, &a, "journal");
		mm_free(msg);
	}
}

static int dispatch(struct monitor *m, struct mon_sink *sink)
{
	struct login_mon *l = to_login(m);
	struct epoll_event evs[2];
	int n;

	l->sink = sink;
	n = epoll_wait(m->fd, evs, (int) ARRAY_SIZE(evs), 0);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == TAG_INOTIFY)
			drain_inotify(l);
		else
			drain_journal(l);
	}
	l->sink = NULL;
	return 0;
}

static int configure(struct monitor *m, const json_t *policy)
{
	struct login_mon *l = to_login(m);
	struct collection c;
	struct diag d;
	int r;

	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	diag_done(&d);
	if (r < 0)
		return r;
	l->enabled = c.login;
	collection_done(&c);
	return 0;
}

static void login_free(struct monitor *m)
{
	struct login_mon *l = to_login(m);

	if (!l)
		return;
	for (size_t i = 0; i < l->n_f; i++) {
		if (l->f[i].fd >= 0)
			(void) close(l->f[i].fd);
		buf_done(&l->f[i].partial);
		mm_free(l->f[i].path);
	}
	if (l->journal)
		sd_journal_close(l->journal);
	if (l->ino_fd >= 0)
		(void) close(l->ino_fd);
	if (m->fd >= 0)
		(void) close(m->fd);
	mm_free(l->sessions);
	mm_free(l->chunk);
	mm_free(l);
}

/* Follows the journal's sshd, sudo and su messages from now on. */
static int open_journal(struct login_mon *l)
{
	static const char *const ids[] = {"SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sudo",
					  "SYSLOG_IDENTIFIER=su", "SYSLOG_IDENTIFIER=su-l"};
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_JOURNAL};
	int r, fd;

	r = sd_journal_open(&l->journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(ids) && r >= 0; i++)
		r = sd_journal_add_match(l->journal, ids[i], 0);
	if (r >= 0)
		r = sd_journal_seek_tail(l->journal);
	if (r >= 0)
		r = sd_journal_previous(l->journal);
	fd = r >= 0 ? sd_journal_get_fd(l->journal) : r;
	if (fd < 0)
		return fd;
	if (epoll_ctl(l->m.fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int mon_login_new(const struct mon_login_paths *paths, struct mon_priv *priv, struct monitor **ret)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_INOTIFY};
	const char *wtmp = paths && paths->wtmp ? paths->wtmp : "/var/log/wtmp";
	const char *btmp = paths && paths->btmp ? paths->btmp : "/var/log/btmp";
	const char *auth = paths && paths->auth_log ? paths->auth_log : "/var/log/auth.log";
	struct login_mon *l;
	struct stat st;
	int r;

	l = mm_calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->m = (struct monitor){.name = "login",
				.fd = -1,
				.dispatch = dispatch,
				.configure = configure,
				.free = login_free};
	l->priv = priv;
	l->enabled = true;
	l->sessions = mm_calloc(LIMIT_LOGIN_SESSIONS, sizeof(*l->sessions));
	l->chunk = mm_malloc(READ_CHUNK);
	l->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	l->m.fd = epoll_create1(EPOLL_CLOEXEC);
	if (!l->sessions || !l->chunk) {
		login_free(&l->m);
		return -ENOMEM;
	}
	if (l->ino_fd < 0 || l->m.fd < 0 || epoll_ctl(l->m.fd, EPOLL_CTL_ADD, l->ino_fd, &ev) < 0) {
		r = -errno;
		login_free(&l->m);
		return r;
	}
	seed_sessions(l, paths && paths->utmp ? paths->utmp : "/var/run/utmp");
	r = add_follower(l, FOLLOW_WTMP, wtmp);
	if (r >= 0)
		r = add_follower(l, FOLLOW_BTMP, btmp);
	if (r >= 0) {
		if (paths && paths->journal && stat(auth, &st) < 0 && errno == ENOENT) {
			r = open_journal(l);
			if (r < 0)
				log_warning("(M1224) login monitor: no %s and no journal: %s", auth,
					    strerror(-r));
			r = 0;
		} else {
			r = add_follower(l, FOLLOW_AUTH, auth);
		}
	}
	if (r < 0) {
		login_free(&l->m);
		return r;
	}
	*ret = &l->m;
	return 0;
}
