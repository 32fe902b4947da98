/*
 * The users section: local accounts (ROOT/etc/passwd, with password state and ageing from
 * ROOT/etc/shadow), groups (ROOT/etc/group), who is in the administrators' groups, which
 * accounts have an empty password, and each account's last login (ROOT/var/log/wtmp and
 * ROOT/var/log/lastlog). Accounts from LDAP or SSSD are not listed: only the files.
 *
 * Invariants:
 * - No password hash ever leaves this file: the shadow file is read into one buffer of
 *   exactly its size (no growing copies left behind), classified in place ("empty",
 *   "locked", "set" with the hash algorithm, "invalid") and wiped with explicit_bzero
 *   before it is freed. Error messages never quote shadow lines.
 * - An account is listed whenever its name, uid and gid parse, even when other fields are
 *   junk (they become null): hiding an account because of a bad GECOS would hide exactly
 *   what an administrator needs to see. Lines that cannot be accounts are counted in
 *   errors. Files are parsed as glibc's nss_files does: leading blanks skipped, empty and
 *   '#' lines ignored, the first of two entries with one name wins.
 * - "system" follows ROOT/etc/login.defs (UID_MIN, UID_MAX; 1000 and 60000 by default).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utmp.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define PASSWD_PATH     "/etc/passwd"
#define GROUP_PATH      "/etc/group"
#define SHADOW_PATH     "/etc/shadow"
#define LOGIN_DEFS_PATH "/etc/login.defs"
#define LASTLOG_PATH    "/var/log/lastlog"
#define WTMP_PATH       "/var/log/wtmp"

/* Groups whose members administer the machine (sudo, wheel) or read its logs (adm). */
static const char *const admin_groups[] = {"sudo", "wheel", "adm"};

static const struct {
	const char *prefix;
	const char *algorithm;
} hash_ids[] = {
	{"$y$", "yescrypt"},     {"$gy$", "gost-yescrypt"}, {"$7$", "scrypt"},
	{"$6$", "sha512crypt"},  {"$5$", "sha256crypt"},    {"$2a$", "bcrypt"},
	{"$2b$", "bcrypt"},      {"$2x$", "bcrypt"},        {"$2y$", "bcrypt"},
	{"$sha1$", "sha1crypt"}, {"$md5", "sunmd5"},        {"$1$", "md5crypt"},
	{"$3$", "nthash"},
};

void col_users_parse_login_defs(char *text, struct col_login_defs *ret)
{
	struct col_login_defs d = {.uid_min = 1000, .uid_max = 60000};

	for (char *cursor = text, *line; (line = str_next_line(&cursor));) {
		char *key, *value;
		unsigned v;

		line += strspn(line, " \t");
		if (*line == '#' || !*line)
			continue;
		key = line;
		value = key + strcspn(key, " \t");
		if (!*value)
			continue;
		*value++ = '\0';
		value = str_strip(value);
		if (str_to_uint(value, 10, &v) < 0)
			continue;
		if (streq(key, "UID_MIN"))
			d.uid_min = v;
		else if (streq(key, "UID_MAX"))
			d.uid_max = v;
	}
	*ret = d;
}

const char *col_users_password_state(const char *pw, const char **ret_algorithm)
{
	size_t n = strlen(pw);

	*ret_algorithm = NULL;
	if (n == 0)
		return "empty";
	if (pw[0] == '!' || pw[0] == '*')
		return "locked";
	if (pw[0] == '$') {
		*ret_algorithm = "unknown";
		for (size_t i = 0; i < ARRAY_SIZE(hash_ids); i++)
			if (str_startswith(pw, hash_ids[i].prefix)) {
				*ret_algorithm = hash_ids[i].algorithm;
				break;
			}
		return "set";
	}
	/* traditional DES: 13 characters of the crypt alphabet; BSDi extended DES: "_" + 19 */
	if ((n == 13 || (n == 20 && pw[0] == '_')) &&
	    strspn(pw + (pw[0] == '_'), "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"abcdefghijklmnopqrstuvwxyz") == n - (pw[0] == '_')) {
		*ret_algorithm = n == 13 ? "des" : "bsdicrypt";
		return "set";
	}
	/* "x" in shadow, "NP", "LK"…: no crypt() output equals it, so no password logs in */
	return "invalid";
}

/*
 * Splits line at ':' into at most max fields. Returns the number of fields, or max + 1
 * when there are more.
 */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *colon = strchr(p, ':');

		if (n == max)
			return max + 1;
		f[n++] = p;
		if (!colon)
			return n;
		*colon = '\0';
		p = colon + 1;
	}
}

/* The next entry line of a passwd-style file, as nss_files reads it; NULL at the end. */
static char *next_entry(char **cursor)
{
	char *line;

	while ((line = str_next_line(cursor))) {
		size_t n;

		line += strspn(line, " \t");
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n > 0 && line[0] != '#')
			return line;
	}
	return NULL;
}

static bool is_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 256 && strcspn(s, " \t,:") == n && str_is_clean_utf8(s, n);
}

static bool parse_id(const char *s, unsigned *ret)
{
	/* (uid_t) -1 means "no id" to the kernel and to chown */
	return str_to_uint(s, 10, ret) == 0 && *ret != 0xffffffffu;
}

static json_t *string_or_null(const char *s)
{
	return s && str_is_clean_utf8(s, strlen(s)) ? json_string(s) : json_null();
}

static bool is_login_shell(const char *shell)
{
	const char *base = strrchr(shell, '/');

	base = base ? base + 1 : shell;
	/* an empty shell field means /bin/sh */
	return !streq(base, "nologin") && !streq(base, "false");
}

int col_users_parse_passwd(char *text, const struct col_login_defs *defs, json_t *accounts)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = next_entry(&cursor))) {
		_cleanup_(json_decrefp) json_t *acct = NULL;
		const char *state, *algorithm = NULL;
		char *f[7], *comma;
		unsigned uid, gid;
		bool shadowed;

		if (line[0] == '+' || line[0] == '-') { /* NIS compat entries: not accounts here */
			bad++;
			continue;
		}
		if (split_fields(line, f, 7) != 7 || !is_name(f[0]) || !parse_id(f[2], &uid) ||
		    !parse_id(f[3], &gid) || json_object_get(accounts, f[0])) {
			bad++;
			continue;
		}
		shadowed = streq(f[1], "x");
		state = shadowed ? "unknown" : col_users_password_state(f[1], &algorithm);
		acct = json_pack(
			"{s:s, s:I, s:I, s:o, s:o, s:o, s:b, s:b, s:s, s:s, s:o, s:n, s:b}", "name",
			f[0], "uid", (json_int_t) uid, "gid", (json_int_t) gid, "gecos",
			string_or_null(f[4]), "home", string_or_null(f[5]), "shell",
			string_or_null(*f[6] ? f[6] : "/bin/sh"), "system",
			uid < defs->uid_min || uid > defs->uid_max, "login_shell",
			is_login_shell(f[6]), "password_source", shadowed ? "shadow" : "passwd",
			"password_state", state, "password_algorithm",
			algorithm ? json_string(algorithm) : json_null(), "last_login", "admin",
			uid == 0);
		if (!acct)
			return -ENOMEM;
		comma = strchr(f[4], ',');
		if (comma)
			*comma = '\0';
		if (jsonw_set(acct, "full_name", string_or_null(f[4])) < 0 ||
		    jsonw_set(accounts, f[0], TAKE_PTR(acct)) < 0)
			return -ENOMEM;
	}
	return bad;
}

int col_users_parse_group(char *text, json_t *groups)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = next_entry(&cursor))) {
		_cleanup_(json_decrefp) json_t *members = NULL;
		char *f[4], *save = NULL;
		unsigned gid;

		if (line[0] == '+' || line[0] == '-') {
			bad++;
			continue;
		}
		if (split_fields(line, f, 4) != 4 || !is_name(f[0]) || !parse_id(f[2], &gid) ||
		    json_object_get(groups, f[0])) {
			bad++;
			continue;
		}
		members = json_array();
		if (!members)
			return -ENOMEM;
		for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			m = str_strip(m);
			if (!is_name(m)) {
				bad++;
				continue;
			}
			if (jsonw_append(members, json_string(m)) < 0)
				return -ENOMEM;
		}
		if (jsonw_set(groups, f[0],
			      json_pack("{s:s, s:I, s:O}", "name", f[0], "gid", (json_int_t) gid,
					"members", members)) < 0)
			return -ENOMEM;
	}
	return bad;
}

/* Days since the epoch as "YYYY-MM-DD"; null for an empty or impossible field. */
static json_t *date_from_days(const char *field)
{
	char out[16];
	struct tm tm;
	int64_t days;
	time_t t;

	if (str_to_i64(field, 10, &days) < 0 || days < 0 || days > 3000000)
		return json_null();
	t = (time_t) (days * 86400);
	if (!gmtime_r(&t, &tm) || strftime(out, sizeof(out), "%Y-%m-%d", &tm) == 0)
		return json_null();
	return json_string(out);
}

static json_t *days_or_null(const char *field)
{
	int64_t days;

	if (str_to_i64(field, 10, &days) < 0 || days < 0 || days > INT32_MAX)
		return json_null();
	return json_integer(days);
}

int col_users_parse_shadow(char *text, json_t *accounts)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = next_entry(&cursor))) {
		const char *algorithm = NULL, *state;
		char *f[9];
		json_t *acct;
		int64_t lastchg;
		bool must_change;

		if (line[0] == '+' || line[0] == '-')
			continue;
		if (split_fields(line, f, 9) != 9) {
			bad++;
			continue;
		}
		acct = json_object_get(accounts, f[0]);
		if (!acct || json_object_get(acct, "password_last_change"))
			continue; /* no such account, or its first shadow entry was seen */
		state = col_users_password_state(f[1], &algorithm);
		if (streq(json_string_value(json_object_get(acct, "password_source")), "shadow") &&
		    (jsonw_set(acct, "password_state", json_string(state)) < 0 ||
		     jsonw_set(acct, "password_algorithm",
			       algorithm ? json_string(algorithm) : json_null()) < 0))
			return -ENOMEM;
		/* a last change of day 0 means "must change at next login", not 1970 */
		must_change = str_to_i64(f[2], 10, &lastchg) == 0 && lastchg == 0;
		if (jsonw_set(acct, "password_last_change",
			      must_change ? json_null() : date_from_days(f[2])) < 0 ||
		    jsonw_set(acct, "password_change_required", json_boolean(must_change)) < 0 ||
		    jsonw_set(acct, "password_max_days", days_or_null(f[4])) < 0 ||
		    jsonw_set(acct, "account_expires", date_from_days(f[7])) < 0)
			return -ENOMEM;
	}
	return bad;
}

/*
 * Reads a secret file into one buffer of exactly its size, so no partial copy is left in
 * freed memory; the caller wipes it with mm_free_secret(*ret, *ret_len + 1).
 */
static int read_secret(const struct col_ctx *ctx, const char *path, char **ret, size_t *ret_len)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;
	size_t size, got = 0;
	char *buf;
	int r;

	r = col_open(ctx, path, &fd);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t) st.st_size > LIMIT_LARGE_FILE)
		return -E2BIG;
	size = (size_t) st.st_size;
	buf = mm_malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t) got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			mm_free_secret(buf, size + 1);
			return r;
		}
		if (n == 0)
			break; /* shrunk while reading: take what is there */
		got += (size_t) n;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}

static int collect_shadow(const struct col_ctx *ctx, json_t *section, json_t *accounts)
{
	char *text = NULL;
	size_t len = 0;
	int r = read_secret(ctx, SHADOW_PATH, &text, &len);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(section, SHADOW_PATH, r, "%s: password states unknown",
				 r == -EACCES ? "readable by root only" : strerror(-r));
	(void) str_replace_nul(text, len, '\x7f');
	r = col_users_parse_shadow(text, accounts);
	mm_free_secret(text, len + 1);
	if (r > 0 && col_error(section, SHADOW_PATH, 0, "%d malformed lines skipped", r) < 0)
		return -ENOMEM;
	return r < 0 ? r : 0;
}

static int read_text(const struct col_ctx *ctx, json_t *section, const char *path, bool missing_ok,
		     char **ret)
{
	size_t len;
	int r = col_read_file(ctx, path, LIMIT_LARGE_FILE, ret, &len);

	if (r == 0)
		(void) str_replace_nul(*ret, len, '\x7f'); /* junk, not the end of the file */
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT && missing_ok)
		return 0;
	if (r < 0)
		return col_error(section, path, r, NULL) < 0 ? -ENOMEM : 0;
	return 1;
}

/* The newer of a known last login and a candidate. */
static int offer_login(json_t *acct, int64_t time, const char *line, const char *host,
		       const char *source)
{
	json_t *cur = json_object_get(acct, "last_login");
	json_int_t cur_time = json_integer_value(json_object_get(cur, "time"));

	if (json_is_object(cur) && cur_time >= time)
		return 0;
	return jsonw_set(acct, "last_login",
			 json_pack("{s:I, s:o, s:o, s:s}", "time", (json_int_t) time, "line",
				   *line ? string_or_null(line) : json_null(), "host",
				   *host ? string_or_null(host) : json_null(), "source", source));
}

struct wtmp_scan {
	json_t *accounts;
	int err;
};

static int wtmp_record(const struct utmp_entry *e, void *userdata)
{
	struct wtmp_scan *scan = userdata;
	json_t *acct;

	if (e->type != USER_PROCESS || !e->user[0] || e->tv_sec <= 0)
		return 0;
	acct = json_object_get(scan->accounts, e->user);
	if (acct && offer_login(acct, e->tv_sec, e->line, e->host, "wtmp") < 0)
		return -ENOMEM;
	return 0;
}

static int collect_wtmp(const struct col_ctx *ctx, json_t *section, json_t *accounts)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) char *buf = NULL;
	struct wtmp_scan scan = {.accounts = accounts};
	size_t rec = utmp_record_size(), want, got = 0, trailing = 0;
	struct stat st;
	off_t start = 0;
	int r;

	r = col_open(ctx, WTMP_PATH, &fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || fstat(fd, &st) < 0)
		return col_error(section, WTMP_PATH, r < 0 ? r : -errno, NULL);
	if (!S_ISREG(st.st_mode))
		return col_error(section, WTMP_PATH, 0, "not a regular file");
	want = (size_t) st.st_size;
	if (want > LIMIT_WTMP_TAIL) { /* only the newest records, from a record boundary */
		start = (off_t) ((want - LIMIT_WTMP_TAIL + rec - 1) / rec * rec);
		want -= (size_t) start;
	}
	buf = mm_malloc(want + 1);
	if (!buf)
		return -ENOMEM;
	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got, start + (off_t) got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return col_error(section, WTMP_PATH, -errno, NULL);
		if (n == 0)
			break;
		got += (size_t) n;
	}
	r = utmp_foreach(buf, got, wtmp_record, &scan, &trailing);
	if (r < 0)
		return r;
	if (trailing &&
	    col_error(section, WTMP_PATH, 0, "ends with a partial record of %zu bytes (cut short?)",
		      trailing) < 0)
		return -ENOMEM;
	return 0;
}

static int collect_lastlog(const struct col_ctx *ctx, json_t *section, json_t *accounts)
{
	_cleanup_(closep) int fd = -1;
	size_t size = utmp_lastlog_size();
	unsigned char rec[512];
	unsigned truncated = 0;
	const char *name;
	json_t *acct;
	int r;

	r = col_open(ctx, LASTLOG_PATH, &fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return col_error(section, LASTLOG_PATH, r, NULL);
	if (size > sizeof(rec))
		return col_error(section, LASTLOG_PATH, 0, "record layout not supported");
	json_object_foreach (accounts, name, acct) {
		json_int_t uid = json_integer_value(json_object_get(acct, "uid"));
		struct utmp_lastlog ll;
		ssize_t n;

		/* the file is indexed by uid and sparse: read just this account's record */
		n = pread(fd, rec, size, (off_t) uid * (off_t) size);
		if (n <= 0)
			continue;
		r = utmp_lastlog_decode(rec, (size_t) n, &ll);
		if (r == -EBADMSG)
			truncated++;
		if (r < 0)
			continue;
		if (offer_login(acct, ll.time, ll.line, ll.host, "lastlog") < 0)
			return -ENOMEM;
	}
	if (truncated && col_error(section, LASTLOG_PATH, 0, "ends with a partial record") < 0)
		return -ENOMEM;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The keys of a JSON object used as a set, as a sorted array. */
static json_t *sorted_keys(json_t *set)
{
	_cleanup_(freep) const char **names = NULL;
	_cleanup_(json_decrefp) json_t *out = json_array();
	size_t n = 0;
	const char *key;
	json_t *v;

	if (!out)
		return NULL;
	if (json_object_size(set) == 0)
		return TAKE_PTR(out);
	names = mm_reallocarray(NULL, json_object_size(set), sizeof(char *));
	if (!names)
		return NULL;
	json_object_foreach (set, key, v)
		names[n++] = key;
	qsort(names, n, sizeof(char *), compare_strings);
	for (size_t i = 0; i < n; i++)
		if (jsonw_append(out, json_string(names[i])) < 0)
			return NULL;
	return TAKE_PTR(out);
}

static int collect_admins(json_t *section, json_t *accounts, json_t *groups)
{
	json_t *admins = json_object();
	const char *name;
	json_t *acct;

	if (jsonw_set(section, "admin_members", admins) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(admin_groups); i++) {
		_cleanup_(json_decrefp) json_t *set = json_object();
		json_t *group = json_object_get(groups, admin_groups[i]), *m;
		json_int_t gid = json_integer_value(json_object_get(group, "gid"));
		size_t k;

		if (!set)
			return -ENOMEM;
		if (!group)
			continue;
		json_array_foreach (json_object_get(group, "members"), k, m)
			if (jsonw_set(set, json_string_value(m), json_true()) < 0)
				return -ENOMEM;
		json_object_foreach (accounts, name, acct)
			if (json_integer_value(json_object_get(acct, "gid")) == gid &&
			    jsonw_set(set, name, json_true()) < 0)
				return -ENOMEM;
		if (!streq(admin_groups[i], "adm")) {
			json_object_foreach (set, name, m) {
				acct = json_object_get(accounts, name);
				if (acct && jsonw_set(acct, "admin", json_true()) < 0)
					return -ENOMEM;
			}
		}
		if (jsonw_set(admins, admin_groups[i], sorted_keys(set)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The values of a name → object map, in file order, as the section's keyed list. */
static int set_list(json_t *section, const char *key, json_t *by_name)
{
	json_t *list = json_array(), *v;
	const char *name;

	if (jsonw_set(section, key, list) < 0)
		return -ENOMEM;
	json_object_foreach (by_name, name, v)
		if (json_array_append(list, v) < 0)
			return -ENOMEM;
	return 0;
}

int col_users_collect(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(json_decrefp) json_t *accounts = json_object(), *groups = json_object();
	_cleanup_(json_decrefp) json_t *empty = json_object();
	_cleanup_(freep) char *defs_text = NULL, *passwd = NULL, *group = NULL;
	struct col_login_defs defs = {.uid_min = 1000, .uid_max = 60000};
	const char *name;
	json_t *acct;
	int r;

	if (!accounts || !groups || !empty)
		return -ENOMEM;
	r = read_text(ctx, section, LOGIN_DEFS_PATH, true, &defs_text);
	if (r < 0)
		return r;
	if (r > 0)
		col_users_parse_login_defs(defs_text, &defs);

	r = read_text(ctx, section, PASSWD_PATH, false, &passwd);
	if (r < 0)
		return r;
	if (r > 0) {
		r = col_users_parse_passwd(passwd, &defs, accounts);
		if (r < 0)
			return r;
		if (r > 0 &&
		    col_error(section, PASSWD_PATH, 0, "%d malformed lines skipped", r) < 0)
			return -ENOMEM;
		r = collect_shadow(ctx, section, accounts);
		if (r < 0)
			return r;
	}
	r = read_text(ctx, section, GROUP_PATH, false, &group);
	if (r < 0)
		return r;
	if (r > 0) {
		r = col_users_parse_group(group, groups);
		if (r < 0)
			return r;
		if (r > 0 &&
		    col_error(section, GROUP_PATH, 0, "%d malformed entries skipped", r) < 0)
			return -ENOMEM;
	}
	r = collect_wtmp(ctx, section, accounts);
	if (r < 0)
		return r;
	r = collect_lastlog(ctx, section, accounts);
	if (r < 0)
		return r;
	r = collect_admins(section, accounts, groups);
	if (r < 0)
		return r;
	json_object_foreach (accounts, name, acct)
		if (streq(json_string_value(json_object_get(acct, "password_state")), "empty") &&
		    jsonw_set(empty, name, json_true()) < 0)
			return -ENOMEM;
	if (jsonw_set(section, "empty_password_accounts", sorted_keys(empty)) < 0 ||
	    jsonw_set(section, "uid_min", json_integer(defs.uid_min)) < 0 ||
	    jsonw_set(section, "uid_max", json_integer(defs.uid_max)) < 0)
		return -ENOMEM;
	r = set_list(section, "accounts", accounts);
	if (r < 0)
		return r;
	return set_list(section, "groups", groups);
}
