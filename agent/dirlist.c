/*
 * Directory listings and globs under the collection root. Configuration often lives in
 * drop-in directories (sshd_config.d, apt.conf.d, dconf's db/local.d) whose files are read
 * in byte-wise order; both functions here return sorted names so every caller gets that
 * order without sorting again.
 *
 * Listing a directory reads no file, so it is not counted by col_read_*(); the files a
 * caller then reads are. Names that are not clean UTF-8 are left out: nothing could
 * report them (JSON strings are UTF-8), and a caller that used one as a source in an
 * error would fail. Every list is bounded (the caller's max): a directory of a
 * million entries costs at most max names, then -E2BIG.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

void dirlist_done(struct dirlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		mm_free(l->names[i]);
	mm_free(l->names);
	l->names = NULL;
	l->n = 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int push(struct dirlist *l, size_t *cap, const char *name)
{
	char *copy;

	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **v = mm_reallocarray(l->names, ncap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->names = v;
		*cap = ncap;
	}
	copy = mm_strdup(name);
	if (!copy)
		return -ENOMEM;
	l->names[l->n++] = copy;
	return 0;
}

int dirlist_read(const struct col_ctx *ctx, const char *dir, size_t max, struct dirlist *ret)
{
	char **names = NULL;
	size_t n = 0;
	int r = fileio_list_dir(ctx->root, dir, max, &names);

	if (r < 0)
		return r;
	/* sorted already; drop the names nothing could report, keeping the order */
	for (size_t i = 0; names[i]; i++) {
		if (str_is_clean_utf8(names[i], strlen(names[i])))
			names[n++] = names[i];
		else
			mm_free(names[i]);
	}
	names[n] = NULL;
	*ret = (struct dirlist){.names = names, .n = n};
	return 0;
}

/* Copies s with glob's special characters escaped, so a root such as "/tmp/a[1]" is
 * taken literally. */
static char *glob_escape(const char *s)
{
	struct buf b;
	int r = 0;

	buf_init(&b, (size_t) LIMIT_PATH * 2);
	for (; *s && r == 0; s++) {
		if (strchr("*?[]\\", *s))
			r = buf_addc(&b, '\\');
		if (r == 0)
			r = buf_addc(&b, *s);
	}
	if (r < 0) {
		buf_done(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}

int dirlist_glob(const struct col_ctx *ctx, const char *pattern, size_t max, struct dirlist *ret)
{
	_cleanup_(freep) char *root = NULL, *full = NULL;
	struct dirlist l = {0};
	size_t cap = 0, skip;
	glob_t g;
	int r;

	if (pattern[0] != '/')
		return -EINVAL;
	if (!ctx->root || streq(ctx->root, "/") || !*ctx->root) {
		skip = 0;
		full = mm_strdup(pattern);
	} else {
		size_t n = strlen(ctx->root);

		while (n > 1 && ctx->root[n - 1] == '/')
			n--;
		root = mm_strndup(ctx->root, n);
		if (!root)
			return -ENOMEM;
		skip = n;
		{
			_cleanup_(freep) char *escaped = glob_escape(root);

			if (!escaped)
				return -ENOMEM;
			full = mm_asprintf("%s%s", escaped, pattern);
		}
	}
	if (!full)
		return -ENOMEM;
	r = glob(full, GLOB_NOSORT, NULL, &g);
	if (r == GLOB_NOMATCH) {
		*ret = l;
		return 0;
	}
	if (r == GLOB_NOSPACE)
		return -ENOMEM;
	if (r != 0) {
		globfree(&g);
		return -EIO;
	}
	r = 0;
	for (size_t i = 0; i < g.gl_pathc && r == 0; i++) {
		const char *p = g.gl_pathv[i];

		if (strlen(p) <= skip || (root && strncmp(p, root, skip) != 0))
			continue; /* cannot happen: glob keeps the literal prefix */
		if (!str_is_clean_utf8(p + skip, strlen(p + skip)))
			continue;
		if (l.n >= max)
			r = -E2BIG;
		else
			r = push(&l, &cap, p + skip);
	}
	globfree(&g);
	if (r < 0) {
		dirlist_done(&l);
		return r;
	}
	if (l.n > 1)
		qsort(l.names, l.n, sizeof(*l.names), cmp_names);
	*ret = l;
	return 0;
}
