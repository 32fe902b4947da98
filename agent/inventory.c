/*
 * The inventory: runs every collector in a fixed order and assembles one document
 * (docs/inventory.md). A collector that fails for lack of memory leaves its section with
 * an error; any other trouble is recorded inside the section by the collector itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "config.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

/* One entry per line, in document order (clang-format would pack them into columns), so
 * that each collector added is a one-line change. */
/* clang-format off */
static const struct collector collectors[] = {
	{"identity", col_identity_collect},
	{"os", col_os_collect},
	{"cpu", col_cpu_collect},
	{"memory", col_memory_collect},
	{"storage", col_storage_collect},
	{"network", col_network_collect},
	{"software", col_software_collect},
	{"users", col_users_collect},
	{"security", col_security_collect},
	{"usb", col_usb_collect},
};
/* clang-format on */

int col_error(json_t *section, const char *source, int err, const char *fmt, ...)
{
	json_t *errors = json_object_get(section, "errors");
	struct buf msg;
	va_list ap;
	int r;

	/* running out of memory is not a fact about the source: fail the section instead */
	if (err == -ENOMEM)
		return -ENOMEM;
	if (!errors) {
		errors = json_array();
		if (jsonw_set(section, "errors", errors) < 0)
			return -ENOMEM;
	}
	buf_init(&msg, 1024);
	if (fmt) {
		va_start(ap, fmt);
		r = buf_vaddf(&msg, fmt, ap);
		va_end(ap);
	} else {
		r = buf_adds(&msg, strerror(err < 0 ? -err : err));
	}
	if (r < 0 && r != -E2BIG) {
		buf_done(&msg);
		return -ENOMEM;
	}
	/* sources and messages may carry bytes from outside (file names, quoted junk):
	 * escape them rather than let jansson refuse a string that is not UTF-8 */
	r = jsonw_append(errors,
			 json_pack("{s:o, s:o}", "source", col_json_text(source, strlen(source)),
				   "message", col_json_text(buf_str(&msg), msg.len)));
	buf_done(&msg);
	return r;
}

int col_read_file(const struct col_ctx *ctx, const char *path, size_t max, char **ret,
		  size_t *ret_len)
{
	int r = -ENOTSUP;

	if (ctx->read_privileged)
		r = ctx->read_privileged(path, max, ret, ret_len);
	if (r == -ENOTSUP)
		r = fileio_read(ctx->root, path, max, ret, ret_len);
	if (r == 0 && ctx->n_read)
		(*ctx->n_read)++;
	return r;
}

int col_read_head(const struct col_ctx *ctx, const char *path, size_t n, char **ret,
		  size_t *ret_len)
{
	int r = fileio_read_head(ctx->root, path, n, ret, ret_len);

	if (r == 0 && ctx->n_read)
		(*ctx->n_read)++;
	return r;
}

int col_read_attr(const struct col_ctx *ctx, const char *path, char **ret)
{
	int r = -ENOTSUP;
	char *s = NULL;

	if (ctx->read_privileged) {
		r = ctx->read_privileged(path, LIMIT_SMALL_FILE, &s, NULL);
		if (r == 0)
			*ret = str_strip(s);
	}
	if (r == -ENOTSUP)
		r = fileio_read_attr(ctx->root, path, ret);
	if (r == 0 && ctx->n_read)
		(*ctx->n_read)++;
	return r;
}

int col_stat(const struct col_ctx *ctx, const char *path, struct stat *ret)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, path);

	if (!full)
		return -ENOMEM;
	return stat(full, ret) < 0 ? -errno : 0;
}

int col_open(const struct col_ctx *ctx, const char *path, int *ret_fd)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, path);
	int fd;

	if (!full)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (ctx->n_read)
		(*ctx->n_read)++;
	*ret_fd = fd;
	return 0;
}

int col_readlink(const struct col_ctx *ctx, const char *path, char **ret)
{
	int r = fileio_readlink(ctx->root, path, ret);

	if (r == 0 && ctx->n_read)
		(*ctx->n_read)++;
	return r;
}

int col_read_prefix(const struct col_ctx *ctx, const char *path, void *buf, size_t n,
		    size_t *ret_len)
{
	_cleanup_(freep) char *data = NULL;
	size_t len = 0;
	int r = -ENOTSUP;

	/* Block devices are root's: the privileged parent reads their first bytes. */
	if (ctx->read_privileged && str_startswith(path, "/dev/")) {
		r = ctx->read_privileged(path, n, &data, &len);
		if (r == 0) {
			memcpy(buf, data, MIN(len, n));
			*ret_len = MIN(len, n);
		}
	}
	if (r == -ENOTSUP)
		r = fileio_read_prefix(ctx->root, path, buf, n, ret_len);

	if (r == 0 && ctx->n_read)
		(*ctx->n_read)++;
	return r;
}

int col_list_dir(const struct col_ctx *ctx, const char *path, size_t max, char ***ret,
		 size_t *ret_n)
{
	char **names = NULL;
	size_t n = 0;
	int r = fileio_list_dir(ctx->root, path, max, &names);

	if (r < 0)
		return r;
	while (names[n])
		n++;
	if (ctx->n_read)
		(*ctx->n_read)++;
	*ret = names;
	if (ret_n)
		*ret_n = n;
	return 0;
}

void col_names_free(char **names)
{
	fileio_strv_free(names);
}

json_t *col_json_text(const char *s, size_t len)
{
	struct buf b;
	json_t *v;
	size_t i = 0;

	if (str_is_clean_utf8(s, len))
		return json_stringn(s, len);
	buf_init(&b, 4 * len + 1);
	while (i < len) {
		/* the longest clean prefix of one character, else one escaped byte */
		size_t n = 1;
		unsigned char c = (unsigned char) s[i];

		if (c >= 0xf0)
			n = 4;
		else if (c >= 0xe0)
			n = 3;
		else if (c >= 0xc0)
			n = 2;
		if (n <= len - i && str_is_clean_utf8(s + i, n) && c != '\\') {
			if (buf_add(&b, s + i, n) < 0)
				goto fail;
			i += n;
			continue;
		}
		if (buf_addf(&b, "\\x%02x", c) < 0)
			goto fail;
		i++;
	}
	v = json_stringn(buf_str(&b), b.len);
	buf_done(&b);
	return v;
fail:
	buf_done(&b);
	return NULL;
}

json_t *inventory_collect(const struct col_ctx *ctx, bool *ret_readable)
{
	_cleanup_(json_decrefp) json_t *doc = NULL;
	unsigned n_read = 0;
	struct col_ctx c = *ctx;
	char when[32];
	struct tm tm;
	time_t t = (time_t) ctx->now;

	(void) gmtime_r(&t, &tm);
	(void) strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	doc = json_pack("{s:i, s:s, s:s}", "schema", INVENTORY_SCHEMA, "collected_at", when,
			"agent_version", MAMORI_VERSION);
	if (!doc)
		return NULL;
	c.n_read = &n_read;
	c.doc = doc;
	for (size_t i = 0; i < ARRAY_SIZE(collectors); i++) {
		json_t *section = json_object();
		int r;

		if (jsonw_set(doc, collectors[i].section, section) < 0)
			return NULL;
		r = collectors[i].collect(&c, section);
		if (r < 0) {
			json_object_clear(section);
			if (col_error(section, collectors[i].section, 0, "%s", strerror(-r)) < 0)
				return NULL;
		}
	}
	if (ret_readable)
		*ret_readable = n_read > 0;
	return TAKE_PTR(doc);
}

static void print_value(FILE *f, const json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), f);
		return;
	}
	s = jsonw_dump(v);
	fputs(s ? s : "?", f);
	mm_free(s);
}

static void print_object(FILE *f, const json_t *obj, int indent);

static void print_item(FILE *f, const char *key, const json_t *v, int indent)
{
	size_t i;
	const json_t *e;

	if (json_is_object(v)) {
		fprintf(f, "%*s%s:\n", indent, "", key);
		print_object(f, v, indent + 2);
	} else if (json_is_array(v) && json_array_size(v) > 0 &&
		   json_is_object(json_array_get(v, 0))) {
		fprintf(f, "%*s%s (%zu):\n", indent, "", key, json_array_size(v));
		json_array_foreach (v, i, e) {
			fprintf(f, "%*s-\n", indent + 2, "");
			print_object(f, e, indent + 4);
		}
	} else {
		fprintf(f, "%*s%s: ", indent, "", key);
		print_value(f, v);
		fputc('\n', f);
	}
}

static void print_object(FILE *f, const json_t *obj, int indent)
{
	const char *key;
	const json_t *v;

	json_object_foreach ((json_t *) obj, key, v)
		print_item(f, key, v, indent);
}

int inventory_print_text(const json_t *doc, FILE *f)
{
	const char *key;
	const json_t *v;

	json_object_foreach ((json_t *) doc, key, v) {
		if (json_is_object(v)) {
			fprintf(f, "[%s]\n", key);
			print_object(f, v, 2);
		} else {
			print_item(f, key, v, 0);
		}
	}
	return ferror(f) ? -EIO : 0;
}
