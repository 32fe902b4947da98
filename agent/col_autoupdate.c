/*
 * Automatic updates: whether unattended-upgrades is installed and what apt's periodic
 * settings say (APT::Periodic::Enable, Update-Package-Lists, Unattended-Upgrade,
 * Download-Upgradeable-Packages), read from /etc/apt/apt.conf.d/ * in byte-wise order and
 * then /etc/apt/apt.conf, later assignments overriding earlier ones, as apt does.
 *
 * apt's configuration syntax (apt.conf(5)) is a small tokenizer away: words, "quoted
 * strings", '{', '}', ';', with line comments (// and #) and C block comments. A statement is
 * `Name [value] ;` or `Name [value] { statements } ;`; names in a block are relative to
 * the block's, so `APT::Periodic::Unattended-Upgrade "1";` and
 * `APT { Periodic { Unattended-Upgrade "1"; }; };` are the same setting. Names compare
 * case-insensitively. apt stops at a syntax error in a file (and refuses to run); so do
 * we, keeping what came before and reporting the error with file:line. "#include" and
 * "#clear" directives are treated as comments (not followed).
 *
 * The drop-in directory is filtered as apt filters it: names of [A-Za-z0-9_.-] only,
 * either without a dot or ending in ".conf".
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define APT_CONF_DIR "/etc/apt/apt.conf.d"
#define APT_CONF     "/etc/apt/apt.conf"
#define MAX_KEY      1024

static const struct {
	const char *name;
	const char *field;
	const char *def; /* what apt.systemd.daily assumes when unset */
} apt_keys[APT_KEY_MAX] = {
	[APT_PERIODIC_ENABLE] = {"APT::Periodic::Enable", "periodic_enable", "1"},
	[APT_PERIODIC_UPDATE_PACKAGE_LISTS] = {"APT::Periodic::Update-Package-Lists",
					       "update_package_lists", "0"},
	[APT_PERIODIC_UNATTENDED_UPGRADE] = {"APT::Periodic::Unattended-Upgrade",
					     "unattended_upgrade", "0"},
	[APT_PERIODIC_DOWNLOAD_UPGRADEABLE] = {"APT::Periodic::Download-Upgradeable-Packages",
					       "download_upgradeable_packages", "0"},
};

void col_autoupdate_periodic_done(struct apt_periodic *st)
{
	for (size_t i = 0; i < APT_KEY_MAX; i++) {
		mm_free(st->value[i]);
		mm_free(st->source[i]);
		st->value[i] = st->source[i] = NULL;
	}
}

enum tok {
	TOK_EOF,
	TOK_WORD,
	TOK_STRING,
	TOK_OPEN,
	TOK_CLOSE,
	TOK_SEMI,
	TOK_ERROR,
};

struct lexer {
	const char *p, *end;
	unsigned line;
	const char *error;
};

/* Skips white space and comments; false (with lx->error) on an unclosed comment. */
static bool skip_blank(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;

		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			lx->p++;
		} else if (c == '#' || (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/')) {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			lx->p += 2;
			while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/')) {
				if (*lx->p == '\n')
					lx->line++;
				lx->p++;
			}
			if (lx->p + 1 >= lx->end) {
				lx->error = "unclosed /* comment";
				return false;
			}
			lx->p += 2;
		} else {
			break;
		}
	}
	return true;
}

static enum tok next_token(struct lexer *lx, const char **ret, size_t *ret_len)
{
	const char *start;

	if (!skip_blank(lx))
		return TOK_ERROR;
	if (lx->p >= lx->end)
		return TOK_EOF;
	switch (*lx->p) {
	case '{':
		lx->p++;
		return TOK_OPEN;
	case '}':
		lx->p++;
		return TOK_CLOSE;
	case ';':
		lx->p++;
		return TOK_SEMI;
	case '"':
		start = ++lx->p;
		while (lx->p < lx->end && *lx->p != '"') {
			if (*lx->p == '\n')
				lx->line++;
			else if (*lx->p == '\0') {
				lx->error = "binary data (a NUL byte) in a string";
				return TOK_ERROR;
			}
			lx->p++;
		}
		if (lx->p >= lx->end) {
			lx->error = "unterminated string";
			return TOK_ERROR;
		}
		*ret = start;
		*ret_len = (size_t) (lx->p - start);
		lx->p++;
		return TOK_STRING;
	default:
		break;
	}
	start = lx->p;
	while (lx->p < lx->end) {
		unsigned char c = (unsigned char) *lx->p;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '{' || c == '}' ||
		    c == ';' || c == '"')
			break;
		if (c < 0x20 || c == 0x7f) {
			lx->error = "binary data (a control byte)";
			return TOK_ERROR;
		}
		lx->p++;
	}
	*ret = start;
	*ret_len = (size_t) (lx->p - start);
	return TOK_WORD;
}

struct apt_parser {
	struct apt_periodic *st;
	const char *file;
	char key[MAX_KEY];
	size_t scope_len[LIMIT_CONFIG_NESTING + 1]; /* key length at each block level */
	unsigned depth;
};

/* Appends "::name" (or "name" at the top) to the key; false when it would not fit. */
static bool key_push(struct apt_parser *ps, const char *name, size_t n)
{
	size_t at = ps->scope_len[ps->depth];
	size_t sep = at ? 2 : 0;

	if (at + sep + n >= sizeof(ps->key))
		return false;
	if (sep)
		memcpy(ps->key + at, "::", 2);
	memcpy(ps->key + at + sep, name, n);
	ps->key[at + sep + n] = '\0';
	return true;
}

static int assign(struct apt_parser *ps, const char *value, size_t vlen, unsigned line)
{
	for (size_t i = 0; i < APT_KEY_MAX; i++) {
		char *v, *src;

		if (strcasecmp(ps->key, apt_keys[i].name) != 0)
			continue;
		v = mm_strndup(value ? value : "", value ? vlen : 0);
		src = col_security_source(ps->file, line);
		if (!v || !src) {
			mm_free(v);
			mm_free(src);
			return -ENOMEM;
		}
		mm_free(ps->st->value[i]);
		mm_free(ps->st->source[i]);
		ps->st->value[i] = v;
		ps->st->source[i] = src;
	}
	return 0;
}

int col_autoupdate_parse_apt_conf(char *text, size_t len, const char *file, struct apt_periodic *st,
				  json_t *errsink)
{
	struct lexer lx = {.p = text, .end = text + len, .line = 1};
	struct apt_parser ps = {.st = st, .file = file};
	const char *name = NULL, *value = NULL, *error = NULL;
	size_t name_len = 0, value_len = 0;
	unsigned ntok = 0, stmt_line = 1;
	int r;

	for (;;) {
		const char *t = NULL;
		size_t tlen = 0;
		enum tok k = next_token(&lx, &t, &tlen);

		if (k == TOK_ERROR) {
			error = lx.error;
			break;
		}
		if (k == TOK_WORD || k == TOK_STRING) {
			if (ntok == 0) {
				stmt_line = lx.line;
				if (k == TOK_WORD) {
					name = t;
					name_len = tlen;
				} else {
					name = NULL; /* a list item: `Key { "a"; "b"; };` */
					value = t;
					value_len = tlen;
				}
			} else if (ntok == 1 && name) {
				value = t;
				value_len = tlen;
			} else {
				error = "extra word in a statement (a missing ';'?)";
				break;
			}
			ntok++;
			continue;
		}
		if (k == TOK_SEMI || k == TOK_CLOSE || k == TOK_EOF) {
			if (ntok > 0 && k == TOK_EOF) {
				error = "statement not ended by ';' at the end of the file";
				break;
			}
			if (ntok > 0 && name) {
				if (!key_push(&ps, name, name_len)) {
					error = "option name too long";
					break;
				}
				r = assign(&ps, value, value_len, stmt_line);
				if (r < 0)
					return r;
				ps.key[ps.scope_len[ps.depth]] = '\0';
			}
			name = value = NULL;
			ntok = 0;
			if (k == TOK_CLOSE) {
				if (ps.depth == 0) {
					error = "'}' without a matching '{'";
					break;
				}
				ps.depth--;
				ps.key[ps.scope_len[ps.depth]] = '\0';
			}
			if (k == TOK_EOF) {
				if (ps.depth > 0)
					error = "'{' not closed at the end of the file";
				break;
			}
			continue;
		}
		/* TOK_OPEN: `Name [value] {` opens a block named Name */
		if (!name) {
			error = "a block without a name";
			break;
		}
		if (ps.depth >= LIMIT_CONFIG_NESTING) {
			error = "blocks nested too deep";
			break;
		}
		if (!key_push(&ps, name, name_len)) {
			error = "option name too long";
			break;
		}
		if (value) {
			r = assign(&ps, value, value_len, stmt_line);
			if (r < 0)
				return r;
		}
		ps.scope_len[++ps.depth] = strlen(ps.key);
		name = value = NULL;
		ntok = 0;
	}
	if (error) {
		_cleanup_(freep) char *src = col_security_source(file, lx.line);

		if (!src)
			return -ENOMEM;
		return col_error(errsink, src, -EBADMSG, "syntax error: %s", error);
	}
	return 0;
}

/* apt's filter for configuration parts: run-parts names, no extension or ".conf". */
static bool apt_part_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return !dot || streq(dot, ".conf");
}

static int read_conf(struct sec_ctx *s, const char *path, struct apt_periodic *st, bool must_exist)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;
	int r = col_read_file(s->col, path, LIMIT_CONFIG_FILE, &text, &len);

	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT && !must_exist)
		return 0;
	if (r < 0)
		return col_error(s->section, path, r, NULL);
	return col_autoupdate_parse_apt_conf(text, len, path, st, s->section);
}

/* Whether an apt periodic value turns the job on: "always" or a positive interval. */
static bool periodic_on(const char *v)
{
	size_t digits = strspn(v, "0123456789");

	if (!strcasecmp(v, "always"))
		return true;
	/* a leading number that is not all zeros ("1", "7", "1d" in newer apt) */
	return strspn(v, "0") < digits;
}

static int report_timer(struct sec_ctx *s, json_t *out, const char *unit, const char *field,
			bool *ret_masked)
{
	bool enabled, masked;
	int r = col_security_unit(s, unit, &enabled, &masked);

	if (r < 0)
		return r;
	*ret_masked = masked;
	return jsonw_set(out, field, json_pack("{s:b, s:b}", "enabled", enabled, "masked", masked));
}

int col_autoupdate_collect(struct sec_ctx *s, json_t *out)
{
	struct apt_periodic st = {0};
	struct dirlist dl = {0};
	bool installed = s->pkgs[SEC_PKG_UNATTENDED_UPGRADES].installed ||
			 col_security_exists(s->col, "/usr/bin/unattended-upgrade");
	bool all_on = installed, masked1 = false, masked2 = false;
	int r;

	if (jsonw_set(out, "unattended_upgrades_installed", json_boolean(installed)) < 0)
		return -ENOMEM;
	r = dirlist_read(s->col, APT_CONF_DIR, LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT)
		r = col_error(s->section, APT_CONF_DIR, r, NULL);
	else
		r = 0;
	for (size_t i = 0; r >= 0 && i < dl.n; i++) {
		_cleanup_(freep) char *path = NULL;

		if (!apt_part_name(dl.names[i]))
			continue;
		path = mm_asprintf("%s/%s", APT_CONF_DIR, dl.names[i]);
		r = path ? read_conf(s, path, &st, true) : -ENOMEM;
	}
	dirlist_done(&dl);
	if (r >= 0)
		r = read_conf(s, APT_CONF, &st, false);
	for (size_t i = 0; r >= 0 && i < APT_KEY_MAX; i++) {
		const char *v = st.value[i] ? st.value[i] : apt_keys[i].def;

		if (i != APT_PERIODIC_DOWNLOAD_UPGRADEABLE && !periodic_on(v))
			all_on = false;
		r = jsonw_set(out, apt_keys[i].field,
			      json_pack("{s:o, s:s}", "value", col_security_text(v), "source",
					st.source[i] ? st.source[i] : "default"));
	}
	col_autoupdate_periodic_done(&st);
	if (r >= 0)
		r = report_timer(s, out, "apt-daily.timer", "apt_daily_timer", &masked1);
	if (r >= 0)
		r = report_timer(s, out, "apt-daily-upgrade.timer", "apt_daily_upgrade_timer",
				 &masked2);
	if (r >= 0)
		r = jsonw_set(out, "auto_updates_configured",
			      json_boolean(all_on && !masked1 && !masked2));
	return r < 0 ? r : 0;
}
