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

/* Reads a small attribute file (a sysfs value) and trims white space around it. */
int fileio_read_attr(const char *root, const char *path, char **ret) _wur_;

/* Joins root and an absolute path: ("/tmp/fx", "/etc/os-release") → "/tmp/fx/etc/os-release".
 * NULL on allocation failure. */
char *fileio_path(const char *root, const char *path);

/* Reads a symlink under root; -errno when it is not one. Result is the caller's. */
int fileio_readlink(const char *root, const char *path, char **ret) _wur_;

/*
 * Writes a whole file with the given mode through PATH.tmp, fsync() and rename(), so a
 * reader or a crash never sees half of it. The mode is set explicitly (the umask does not
 * weaken a 0600 secret). -errno on failure, with the temporary file removed.
 */
int fileio_write_atomic(const char *path, const void *data, size_t len, unsigned mode) _wur_;
