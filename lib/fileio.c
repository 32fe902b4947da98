/*
 * Whole-file reads with a ceiling. The ceiling is checked while reading, not from st_size,
 * because /proc and /sys files report size 0 and may grow while being read.
 */
#include <errno.h>
#include <fcntl.h>
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
	struct buf b;
	char chunk[16384];
	int r = 0;

	if (!full)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf_init(&b, max);
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
	_cleanup_(freep) char *full = fileio_path(root, path);
	_cleanup_(freep) char *data = NULL;
	_cleanup_(closep) int fd = -1;
	size_t len = 0;

	if (!full)
		return -ENOMEM;
	data = mm_malloc(n + 1);
	if (!data)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (len < n) {
		ssize_t k = read(fd, data + len, n - len);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t) k;
	}
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
