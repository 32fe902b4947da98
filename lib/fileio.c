/*
 * Whole-file reads with a ceiling. The ceiling is checked while reading, not from st_size,
 * because /proc and /sys files report size 0 and may grow while being read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

char *fileio_path(const char *root, const char *path)
{
	size_t n;

	if (!root || streq(root, "/") || !*root)
		return mm_strdup(path);
	n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	return mm_asprintf("%.*s%s%s", (int) n, root, path[0] == '/' ? "" : "/", path);
}

int fileio_read(const char *root, const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_(freep) char *full = fileio_path(root, path);
	_cleanup_(closep) int fd = -1;
	struct stat st;
	struct buf b;
	char chunk[16384];
	int r = 0;

	if (!full)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* only regular files: a FIFO or a device left in a tree must not hang or flood us */
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	buf_init(&b, max);
	/* a known size is allocated once (files in /proc and /sys say 0 and grow as read);
	 * doubling from small would briefly hold twice a large file */
	if (st.st_size > 0 && (r = buf_reserve(&b, MIN((size_t) st.st_size + 1, max))) < 0 &&
	    r != -E2BIG) {
		buf_done(&b);
		return r;
	}
	r = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		r = buf_add(&b, chunk, (size_t) n);
		if (r < 0)
			break;
	}
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = buf_take(&b, ret_len);
	return *ret ? 0 : -ENOMEM;
}

int fileio_read_head(const char *root, const char *path, size_t n, char **ret, size_t *ret_len)
{
	_cleanup_(freep) char *data = mm_malloc(n + 1);
	size_t len = 0;
	int r;

	if (!data)
		return -ENOMEM;
	/* fileio_read_prefix() refuses a FIFO or a character device, which could hang us */
	r = fileio_read_prefix(root, path, data, n, &len);
	if (r < 0)
		return r;
	data[len] = '\0';
	*ret = TAKE_PTR(data);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fileio_read_attr(const char *root, const char *path, char **ret)
{
	char *s = NULL;
	int r = fileio_read(root, path, LIMIT_SMALL_FILE, &s, NULL);

	if (r < 0)
		return r;
	*ret = str_strip(s);
	return 0;
}

int fileio_readlink(const char *root, const char *path, char **ret)
{
	_cleanup_(freep) char *full = fileio_path(root, path);
	char target[LIMIT_PATH];
	ssize_t n;

	if (!full)
		return -ENOMEM;
	n = readlink(full, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	*ret = mm_strdup(target);
	return *ret ? 0 : -ENOMEM;
}

void fileio_normalize_path(char *p)
{
	char *out = p, *in = p;

	while (*in) {
		size_t n;

		while (*in == '/')
			in++;
		n = strcspn(in, "/");
		if (n == 0)
			break;
		if (n == 1 && in[0] == '.') {
			in += n;
			continue;
		}
		if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (out > p && *--out != '/')
				;
			in += n;
			continue;
		}
		*out++ = '/';
		memmove(out, in, n);
		out += n;
		in += n;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

/* A normalised copy of path into *ret. */
static int strdup_normalized(const char *path, char **ret)
{
	char *p = mm_strdup(path);

	if (!p)
		return -ENOMEM;
	fileio_normalize_path(p);
	*ret = p;
	return 0;
}

int fileio_resolve_link(const char *root, const char *path, char **ret)
{
	_cleanup_(freep) char *target = NULL;
	const char *slash;
	char *full;
	int r = fileio_readlink(root, path, &target);

	if (r == -EINVAL)
		return strdup_normalized(path, ret);
	if (r < 0)
		return r;
	if (!target) /* fileio_readlink() sets it on success; this is for the analyser */
		return -EIO;
	if (target[0] == '/') {
		full = TAKE_PTR(target);
	} else {
		slash = strrchr(path, '/');
		full = mm_asprintf("%.*s/%s", slash ? (int) (slash - path) : 0, path, target);
	}
	if (!full)
		return -ENOMEM;
	fileio_normalize_path(full);
	*ret = full;
	return 0;
}

int fileio_read_prefix(const char *root, const char *path, void *buf, size_t n, size_t *ret_len)
{
	_cleanup_(freep) char *full = fileio_path(root, path);
	_cleanup_(closep) int fd = -1;
	struct stat st;
	size_t got = 0;

	if (!full)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;
	while (got < n) {
		ssize_t k = read(fd, (char *) buf + got, n - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		got += (size_t) k;
	}
	*ret_len = got;
	return 0;
}

void fileio_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		mm_free(*p);
	mm_free(v);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int fileio_list_dir(const char *root, const char *path, size_t max, char ***ret)
{
	_cleanup_(freep) char *full = fileio_path(root, path);
	_cleanup_(fileio_strv_freep) char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!full)
		return -ENOMEM;
	d = opendir(full);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (n >= max) {
			r = -E2BIG;
			break;
		}
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = mm_reallocarray(names, ncap, sizeof(*names));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			names = p;
			cap = ncap;
		}
		names[n] = mm_strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		names[++n] = NULL;
	}
	(void) closedir(d);
	if (r < 0)
		return r;
	if (!names) {
		names = mm_calloc(1, sizeof(*names));
		if (!names)
			return -ENOMEM;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	*ret = TAKE_PTR(names);
	return 0;
}

int fileio_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	_cleanup_(freep) char *tmp = mm_asprintf("%s.tmp", path);
	const char *p = data;
	int fd, r = 0;

	if (!tmp)
		return -ENOMEM;
	(void) unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t) mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, (mode_t) mode) < 0)
		r = -errno;
	while (r == 0 && len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= (size_t) n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void) unlink(tmp);
	return r;
}
