/*
 * The os section: /etc/os-release (or /usr/lib/os-release), the kernel release and
 * architecture from /proc/sys/kernel, and the boot time from /proc/stat.
 *
 * os-release is a shell-like KEY=value file (os-release(5)); values may be quoted with
 * single or double quotes and use backslash escapes in double quotes. Lines that do not
 * follow the format are skipped and counted, never fatal.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

static const struct {
	const char *key;   /* in os-release */
	const char *field; /* in the section */
} os_release_keys[] = {
	{"ID", "id"},
	{"ID_LIKE", "id_like"},
	{"NAME", "name"},
	{"PRETTY_NAME", "pretty_name"},
	{"VERSION", "version"},
	{"VERSION_ID", "version_id"},
	{"VERSION_CODENAME", "version_codename"},
	{"BUILD_ID", "build_id"},
	{"VARIANT_ID", "variant_id"},
};

/*
 * Unquotes an os-release value in place, as a shell would read it: 'single quotes' are
 * literal; in "double quotes" a backslash escapes only " \ ` and $ (and is kept before
 * anything else); outside quotes a backslash escapes any character. Quoted and unquoted
 * pieces may follow each other (NAME="a"'b'c is "abc"). -EBADMSG for an unterminated quote.
 */
static int unquote(char *v)
{
	char *out = v, quote = 0;

	for (; *v; v++) {
		if (quote == '\'') {
			if (*v == '\'')
				quote = 0;
			else
				*out++ = *v;
		} else if (quote == '"') {
			if (*v == '"')
				quote = 0;
			else {
				if (*v == '\\' && v[1] && strchr("\"\\`$", v[1]))
					v++;
				*out++ = *v;
			}
		} else if (*v == '"' || *v == '\'') {
			quote = *v;
		} else {
			if (*v == '\\' && v[1])
				v++;
			*out++ = *v;
		}
	}
	*out = '\0';
	return quote ? -EBADMSG : 0;
}

/*
 * Parses os-release text into section fields. Returns the number of malformed lines
 * (>= 0) or -ENOMEM. Only the keys in os_release_keys are kept.
 */
int col_os_parse_os_release(char *text, json_t *section)
{
	char *cursor = text, *line;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *eq, *key, *value;

		str_strip(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq || eq == line) {
			bad++;
			continue;
		}
		*eq = '\0';
		key = line;
		value = eq + 1;
		for (char *k = key; *k; k++)
			if (!isalnum((unsigned char) *k) && *k != '_') {
				bad++;
				goto next;
			}
		if (unquote(value) < 0 || !str_is_clean_utf8(value, strlen(value))) {
			bad++;
			continue;
		}
		for (size_t i = 0; i < ARRAY_SIZE(os_release_keys); i++)
			if (streq(key, os_release_keys[i].key) &&
			    jsonw_set(section, os_release_keys[i].field, json_string(value)) < 0)
				return -ENOMEM;
	next:;
	}
	return bad;
}

static int read_os_release(const struct col_ctx *ctx, json_t *section)
{
	static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};
	int r = -ENOENT;

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		_cleanup_(freep) char *text = NULL;

		r = col_read_file(ctx, paths[i], LIMIT_SMALL_FILE, &text, NULL);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return col_error(section, paths[i], r, NULL);
		r = col_os_parse_os_release(text, section);
		if (r < 0)
			return r;
		if (r > 0 && col_error(section, paths[i], 0, "%d malformed lines skipped", r) < 0)
			return -ENOMEM;
		if (!json_object_get(section, "id") &&
		    col_error(section, paths[i], 0, "no ID= line: not an os-release file") < 0)
			return -ENOMEM;
		return 0;
	}
	return col_error(section, "/etc/os-release", r, NULL);
}

static int read_string(const struct col_ctx *ctx, json_t *section, const char *path,
		       const char *field)
{
	_cleanup_(freep) char *v = NULL;
	int r = col_read_attr(ctx, path, &v);

	if (r < 0)
		return col_error(section, path, r, NULL);
	if (!*v || !str_is_clean_utf8(v, strlen(v)))
		return col_error(section, path, 0, "empty or not text");
	return jsonw_set(section, field, json_string(v));
}

/* The "btime" line of /proc/stat: boot time in Unix seconds. */
int col_os_parse_btime(char *text, int64_t *ret)
{
	char *cursor = text, *line;

	while ((line = str_next_line(&cursor))) {
		const char *v = str_startswith(line, "btime ");
		int64_t t;

		if (v && str_to_i64(v, 10, &t) == 0 && t > 0) {
			*ret = t;
			return 0;
		}
	}
	return -ENOENT;
}

static int read_boot_time(const struct col_ctx *ctx, json_t *section)
{
	_cleanup_(freep) char *text = NULL;
	int64_t btime;
	int r = col_read_file(ctx, "/proc/stat", LIMIT_LARGE_FILE, &text, NULL);

	if (r < 0)
		return col_error(section, "/proc/stat", r, NULL);
	if (col_os_parse_btime(text, &btime) < 0)
		return col_error(section, "/proc/stat", 0, "no btime line");
	if (jsonw_set(section, "boot_time", json_integer(btime)) < 0)
		return -ENOMEM;
	if (ctx->now >= btime)
		return jsonw_set(section, "uptime_seconds", json_integer(ctx->now - btime));
	return 0;
}

int col_os_collect(const struct col_ctx *ctx, json_t *section)
{
	int r;

	r = read_os_release(ctx, section);
	if (r < 0)
		return r;
	r = read_string(ctx, section, "/proc/sys/kernel/osrelease", "kernel_release");
	if (r < 0)
		return r;
	r = read_string(ctx, section, "/proc/sys/kernel/ostype", "kernel_name");
	if (r < 0)
		return r;
	r = read_string(ctx, section, "/proc/sys/kernel/arch", "architecture");
	if (r < 0)
		return r;
	return read_boot_time(ctx, section);
}
