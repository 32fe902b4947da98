/*
 * Reading files whole, within a limit, for parsers. Collectors read everything relative to
 * a root directory (--root), so tests point them at fixture trees of /proc, /sys and /etc.
 * Every file is opened close-on-exec and without following a final symlink out of the
 * caller's sight: the path is the root joined with the absolute path, as given.
 */
#pragma once

#include <stddef.h>

#include "lib/macro.h"

/*
 * Reads the file at root + path (root "/" or NULL means the real file system) into a new
 * NUL-terminated buffer. Files in /proc and /sys report size 0, so this reads to EOF.
 * -E2BIG when the file holds more than max bytes; -errno from open/read otherwise.
 * On success *ret is the caller's; *ret_len (optional) is the length.
 */
int fileio_read(const char *root, const char *path, size_t max, char **ret, size_t *ret_len) _wur_;

/*
 * Reads at most n bytes from the start of the file at root + path, for files whose header
 * is all we want (a 512-byte ClamAV database header in front of 200 MB of signatures).
 * A shorter file gives what it has: *ret_len says how much. Same ownership as fileio_read().
 */
int fileio_read_head(const char *root, const char *path, size_t n, char **ret, size_t *ret_len)
	_wur_;

/* Reads a small attribute file (a sysfs value) and trims white space around it. */
int fileio_read_attr(const char *root, const char *path, char **ret) _wur_;

/* Joins root and an absolute path: ("/tmp/fx", "/etc/os-release") → "/tmp/fx/etc/os-release".
 * NULL on allocation failure. */
char *fileio_path(const char *root, const char *path);

/* Reads a symlink under root; -errno when it is not one. Result is the caller's. */
int fileio_readlink(const char *root, const char *path, char **ret) _wur_;
