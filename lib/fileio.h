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
 * Built on fileio_read_prefix(): anything but a regular file or a block device is -EINVAL.
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

/*
 * Resolves the symlink at path (absolute, under root) one level, lexically: a relative
 * target is taken against path's directory, "." and ".." are collapsed and ".." never
 * climbs above "/", so the result names a path under root however the link is written
 * (sysfs links such as /sys/block/sda → ../devices/…). A path that is not a symlink
 * resolves to itself. The result may name nothing (a dangling link); it is the caller's.
 */
int fileio_resolve_link(const char *root, const char *path, char **ret) _wur_;

/* Collapses "//", "." and ".." in an absolute path, in place, never above "/". */
void fileio_normalize_path(char *p);

/*
 * Reads at most n bytes from the start of root + path into buf (a block device, a disk
 * image), for format probes that must never read a whole disk. Refuses anything that is
 * neither a regular file nor a block device with -EINVAL, so a FIFO or a character device
 * left in a fixture tree cannot hang or flood the caller; opens non-blocking for the same
 * reason. *ret_len gets the bytes read (fewer than n at end of file).
 */
int fileio_read_prefix(const char *root, const char *path, void *buf, size_t n, size_t *ret_len)
	_wur_;

/*
 * Lists the names in the directory root + path, without "." and "..", sorted bytewise, as
 * a NULL-terminated array the caller frees with fileio_strv_free(). -E2BIG past max names.
 */
int fileio_list_dir(const char *root, const char *path, size_t max, char ***ret) _wur_;

/* Frees a NULL-terminated array of strings and the strings; NULL is fine. */
void fileio_strv_free(char **v);
static inline void fileio_strv_freep(char ***v)
{
	fileio_strv_free(*v);
}

/*
 * Writes a whole file with the given mode through PATH.tmp, fsync() and rename(), so a
 * reader or a crash never sees half of it. The mode is set explicitly (the umask does not
 * weaken a 0600 secret). -errno on failure, with the temporary file removed.
 */
int fileio_write_atomic(const char *path, const void *data, size_t len, unsigned mode) _wur_;
