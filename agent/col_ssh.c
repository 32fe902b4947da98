/*
 * The ssh server's effective authentication settings, from /etc/ssh/sshd_config and the
 * files it includes, read the way sshd(8) reads them (servconf.c):
 *
 *  - keywords are case-insensitive; "Keyword value", "Keyword=value" and
 *    "Keyword = value" are the same; values may be double-quoted; '#' at the start of a
 *    word starts a comment;
 *  - for these keywords the FIRST value wins, so a drop-in included at the top of
 *    sshd_config (Debian's "Include /etc/ssh/sshd_config.d/ *.conf") overrides what
 *    follows it;
 *  - "Include" takes globs, relative to /etc/ssh when not absolute, expanded in sorted
 *    order, resolved under the collection root; a Match block inside an included file
 *    ends with that file;
 *  - "Match" starts a conditional block: its settings apply to some connections only,
 *    so they are not reported as effective, but the number of Match blocks is.
 *
 * Unset keywords get sshd's compiled-in defaults, with source "default". An Include loop
 * (a file including itself) is cut at LIMIT_INCLUDE_DEPTH levels, sshd's own limit, and
 * fan-out at LIMIT_INCLUDE_FILES files; both are reported.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define SSHD_DIR    "/etc/ssh"
#define MAX_ARGS    16

static const struct {
	const char *keyword;
	const char *alias; /* an older name for the same setting */
	const char *field;
	bool boolean;
	const char *def; /* sshd's default */
} sshd_keys[SSHD_KEY_MAX] = {
	[SSHD_PERMIT_ROOT_LOGIN] = {"PermitRootLogin", NULL, "permit_root_login", false,
				    "prohibit-password"},
	[SSHD_PASSWORD_AUTHENTICATION] = {"PasswordAuthentication", NULL, "password_authentication",
					  true, "yes"},
	[SSHD_KBD_INTERACTIVE_AUTHENTICATION] = {"KbdInteractiveAuthentication",
						 "ChallengeResponseAuthentication",
						 "kbd_interactive_authentication", true, "yes"},
	[SSHD_PUBKEY_AUTHENTICATION] = {"PubkeyAuthentication", NULL, "pubkey_authentication", true,
					"yes"},
	[SSHD_PERMIT_EMPTY_PASSWORDS] = {"PermitEmptyPasswords", NULL, "permit_empty_passwords",
					 true, "no"},
};

void col_ssh_config_done(struct sshd_config *c)
{
	for (size_t i = 0; i < SSHD_KEY_MAX; i++) {
		mm_free(c->value[i]);
		mm_free(c->source[i]);
		c->value[i] = c->source[i] = NULL;
	}
}

/*
 * Splits a line into keyword and arguments, in place. Returns the number of words
 * (keyword included), or -EBADMSG for an unterminated quote.
 */
static int split_line(char *s, char **argv)
{
	int n = 0;

	s += strspn(s, " \t\r");
	if (!*s || *s == '#')
		return 0;
	argv[n++] = s;
	s += strcspn(s, " \t\r=");
	if (*s) {
		bool eq = *s == '=';

		*s++ = '\0';
		s += strspn(s, " \t\r");
		if (!eq && *s == '=')
			s += 1 + strspn(s + 1, " \t\r");
	}
	while (*s && n < MAX_ARGS) {
		if (*s == '#')
			break; /* a comment to the end of the line */
		if (*s == '"') {
			char *end = strchr(++s, '"');

			if (!end)
				return -EBADMSG;
			*end = '\0';
			argv[n++] = s;
			s = end + 1;
		} else {
			argv[n++] = s;
			s += strcspn(s, " \t\r");
			if (*s)
				*s++ = '\0';
		}
		s += strspn(s, " \t\r");
	}
	return n;
}

static int keyword_index(const char *kw)
{
	for (int i = 0; i < SSHD_KEY_MAX; i++)
		if (!strcasecmp(kw, sshd_keys[i].keyword) ||
		    (sshd_keys[i].alias && !strcasecmp(kw, sshd_keys[i].alias)))
			return i;
	return -1;
}

/* The value sshd would take, lower-cased; NULL when sshd would refuse it. */
static const char *normalise(int key, const char *v)
{
	static const char *const root_values[] = {"yes", "prohibit-password", "without-password",
						  "forced-commands-only", "no"};

	if (sshd_keys[key].boolean) {
		if (!strcasecmp(v, "yes"))
			return "yes";
		if (!strcasecmp(v, "no"))
			return "no";
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(root_values); i++)
		if (!strcasecmp(v, root_values[i]))
			/* "without-password" is the old name of prohibit-password */
			return i == 2 ? "prohibit-password" : root_values[i];
	return NULL;
}

/* Adds file to c->files: 1 when it is new, 0 when it was read before, or -ENOMEM. */
static int note_file(struct sshd_config *c, const char *file)
{
	size_t i;
	json_t *v;

	if (!c->files)
		return 1;
	json_array_foreach (c->files, i, v) {
		const char *seen = json_string_value(v);

		if (seen && streq(seen, file))
			return 0;
	}
	return jsonw_append(c->files, col_security_text(file)) < 0 ? -ENOMEM : 1;
}

/* Records an error at file:line, unless the file is being read again through a loop. */
static _printf_(5, 6) int report_error(struct sshd_config *c, bool quiet, const char *file,
				       unsigned line, const char *fmt, ...)
{
	_cleanup_(freep) char *src = NULL;
	char msg[256];
	va_list ap;

	if (quiet)
		return 0;
	src = col_security_source(file, line);
	if (!src)
		return -ENOMEM;
	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return col_error(c->errsink, src, -EBADMSG, "%s", msg);
}

static int include(struct sshd_config *c, char **argv, int argc, const char *file, unsigned line,
		   unsigned depth)
{
	for (int i = 1; i < argc; i++) {
		_cleanup_(freep) char *pattern = NULL;
		int r;

		if (depth + 1 > LIMIT_INCLUDE_DEPTH) {
			r = report_error(c, c->loop_reported, file, line,
					 "Include nested more than %u deep (an Include loop?)",
					 LIMIT_INCLUDE_DEPTH);
			c->loop_reported = true;
			return r;
		}
		if (!c->include)
			continue;
		pattern = argv[i][0] == '/' ? mm_strdup(argv[i])
					    : mm_asprintf("%s/%s", SSHD_DIR, argv[i]);
		if (!pattern)
			return -ENOMEM;
		r = c->include(c, pattern, depth + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

int col_ssh_parse_sshd_config(struct sshd_config *c, char *text, const char *file, unsigned depth)
{
	char *cursor = text, *line;
	unsigned lineno = 0;
	bool in_match = false; /* a Match block ends with the file (servconf.c) */
	bool quiet;            /* read before, through a loop: already reported */
	int r;

	if (c->parsed >= LIMIT_INCLUDE_FILES) {
		r = report_error(c, c->loop_reported, file, 0,
				 "more than %u files included: the rest not read",
				 LIMIT_INCLUDE_FILES);
		c->loop_reported = true;
		return r;
	}
	c->parsed++;
	r = note_file(c, file);
	if (r < 0)
		return r;
	quiet = r == 0;
	while ((line = str_next_line(&cursor))) {
		char *argv[MAX_ARGS];
		const char *v;
		int argc, key;

		lineno++;
		/* checked whole, before splitting: every word may end up in a report */
		argc = col_security_clean_line(line) ? split_line(line, argv) : -EBADMSG;
		if (argc == 0)
			continue;
		if (argc < 0) {
			if (report_error(c, quiet, file, lineno,
					 "malformed line (sshd refuses this file)") < 0)
				return -ENOMEM;
			continue;
		}
		if (!strcasecmp(argv[0], "Match")) {
			in_match = true;
			c->match_blocks += !quiet;
			continue;
		}
		if (in_match)
			continue;
		if (!strcasecmp(argv[0], "Include")) {
			r = include(c, argv, argc, file, lineno, depth);
			if (r < 0)
				return r;
			continue;
		}
		key = keyword_index(argv[0]);
		if (key < 0 || c->value[key])
			continue;
		v = argc >= 2 ? normalise(key, argv[1]) : NULL;
		if (!v) {
			if (report_error(c, quiet, file, lineno,
					 "%s: missing or invalid value (sshd refuses this file)",
					 sshd_keys[key].keyword) < 0)
				return -ENOMEM;
			continue;
		}
		c->value[key] = mm_strdup(v);
		c->source[key] = col_security_source(file, lineno);
		if (!c->value[key] || !c->source[key])
			return -ENOMEM;
	}
	return 0;
}

/* The include callback: every file matching pattern under the root, in sorted order. */
static int include_files(struct sshd_config *c, const char *pattern, unsigned depth)
{
	struct sec_ctx *s = c->userdata;
	struct dirlist dl = {0};
	int r = dirlist_glob(s->col, pattern, LIMIT_CONF_DIR_ENTRIES, &dl);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(s->section, pattern, r, "Include: %s", strerror(-r));
	for (size_t i = 0; r >= 0 && i < dl.n; i++) {
		_cleanup_(freep) char *text = NULL;

		r = col_read_file(s->col, dl.names[i], LIMIT_CONFIG_FILE, &text, NULL);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			r = col_error(s->section, dl.names[i], r, NULL);
			continue;
		}
		r = col_ssh_parse_sshd_config(c, text, dl.names[i], depth);
	}
	dirlist_done(&dl);
	return r < 0 ? r : 0;
}

static int report(const struct sshd_config *c, json_t *out)
{
	for (size_t i = 0; i < SSHD_KEY_MAX; i++) {
		const char *v = c->value[i] ? c->value[i] : sshd_keys[i].def;
		json_t *value =
			sshd_keys[i].boolean ? json_boolean(streq(v, "yes")) : json_string(v);

		if (jsonw_set(out, sshd_keys[i].field,
			      json_pack("{s:o, s:s}", "value", value, "source",
					c->source[i] ? c->source[i] : "default")) < 0)
			return -ENOMEM;
	}
	return jsonw_set(out, "match_blocks", json_integer(c->match_blocks));
}

int col_ssh_collect(struct sec_ctx *s, json_t *out)
{
	struct sshd_config c = {.errsink = s->section, .include = include_files, .userdata = s};
	const struct sec_pkg *pkg = &s->pkgs[SEC_PKG_OPENSSH_SERVER];
	bool by_path = !pkg->installed && col_security_exists(s->col, "/usr/sbin/sshd");
	_cleanup_(freep) char *text = NULL;
	int r;

	c.files = json_array();
	if (jsonw_set(out, "config_files", c.files) < 0)
		return -ENOMEM;
	if (jsonw_set(out, "sshd_installed", json_boolean(pkg->installed || by_path)) < 0 ||
	    jsonw_set(out, "sshd_installed_evidence",
		      pkg->installed ? json_string("dpkg")
		      : by_path      ? json_string("/usr/sbin/sshd")
				     : json_null()) < 0 ||
	    col_security_set_running(s, out, "sshd_running", "sshd_pid",
				     col_security_proc(s, "sshd", NULL)) < 0)
		return -ENOMEM;
	r = col_read_file(s->col, SSHD_CONFIG, LIMIT_CONFIG_FILE, &text, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && (r != -ENOENT || pkg->installed || by_path))
		r = col_error(s->section, SSHD_CONFIG, r, NULL);
	else if (r == 0)
		r = col_ssh_parse_sshd_config(&c, text, SSHD_CONFIG, 0);
	else
		r = 0;
	if (r >= 0)
		r = report(&c, out);
	col_ssh_config_done(&c);
	return r;
}
