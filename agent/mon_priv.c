/*
 * The monitors' privileged operations done in place (struct mon_priv), for a process that
 * has the privileges itself: root without privilege separation, tests, the benchmark. The
 * daemon's privileged parent uses these same functions to answer its worker
 * (docs/internals/privsep.md), so there is one implementation of each operation.
 *
 * Besides the fanotify group it is given, it keeps, per marked file system, the path of a
 * directory on it to decode file handles against (open_by_handle_at needs a descriptor on
 * the same file system, and not an O_PATH one; it is opened for each decode and checked to
 * still be that file system, because a descriptor held open would keep a USB stick from
 * being unmounted), and a table of the directories it marked one by one (handle → path),
 * bounded by LIMIT_FANOTIFY_MARKS. The table is what names directories on file systems whose
 * handles cannot be decoded (exFAT and others without export operations); where they can, decoding
 * wins, because it follows renames the table does not know about.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define HANDLE_MAX 128 /* MAX_HANDLE_SZ in the kernel */

struct fs_entry {
	struct mon_fsid fsid;
	char *path; /* a directory on that file system */
};

struct handle_entry {
	struct mon_fsid fsid;
	int type;
	unsigned len;
	unsigned char bytes[HANDLE_MAX];
	char *path;
};

struct direct {
	struct mon_priv ops; /* first: the monitors hold &ops */
	int fan_fd;
	bool refuse_fs;
	struct fs_entry fs[LIMIT_REMOVABLE_MOUNTS + LIMIT_WATCHED_FOLDERS];
	size_t n_fs;
	struct handle_entry *handles;
	size_t n_handles;
};

static struct direct *to_direct(struct mon_priv *p)
{
	return (struct direct *) p;
}

static bool fsid_eq(const struct mon_fsid *a, const struct mon_fsid *b)
{
	return a->val[0] == b->val[0] && a->val[1] == b->val[1];
}

/* Reads a symlink into a new string (at most LIMIT_PATH bytes). */
static int read_link(int dirfd, const char *path, char **ret)
{
	char buf[LIMIT_PATH + 1];
	ssize_t n = readlinkat(dirfd, path, buf, sizeof(buf));
	char *s;

	if (n < 0)
		return -errno;
	if ((size_t) n >= sizeof(buf))
		return -E2BIG;
	s = mm_strndup(buf, (size_t) n);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int proc_links(struct mon_priv *p, int pid, char **ret_exe, char **ret_cwd, int *ret_exe_fd)
{
	_cleanup_(freep) char *exe = NULL, *cwd = NULL;
	char path[64];
	int r, fd = -1;

	(void) p;
	(void) snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	r = read_link(AT_FDCWD, path, &exe);
	if (r == -ENOMEM)
		return r;
	if (r == -ESRCH || (r == -ENOENT && access(path, F_OK) < 0 && errno == ENOENT)) {
		/* no /proc/PID at all: gone (a zombie keeps the directory, not the link) */
		(void) snprintf(path, sizeof(path), "/proc/%d", pid);
		if (access(path, F_OK) < 0)
			return -ESRCH;
	}
	if (ret_cwd) {
		(void) snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
		if (read_link(AT_FDCWD, path, &cwd) == -ENOMEM)
			return -ENOMEM;
	}
	if (ret_exe_fd && exe) {
		(void) snprintf(path, sizeof(path), "/proc/%d/exe", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (ret_exe)
		*ret_exe = TAKE_PTR(exe);
	if (ret_cwd)
		*ret_cwd = TAKE_PTR(cwd);
	if (ret_exe_fd)
		*ret_exe_fd = fd;
	else if (fd >= 0)
		(void) close(fd);
	return 0;
}

static struct fs_entry *fs_find(struct direct *d, const struct mon_fsid *fsid)
{
	for (size_t i = 0; i < d->n_fs; i++)
		if (fsid_eq(&d->fs[i].fsid, fsid))
			return &d->fs[i];
	return NULL;
}

static int fd_fsid(int fd, struct mon_fsid *ret)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	memcpy(ret, &sfs.f_fsid, sizeof(*ret));
	return 0;
}

/* The fsid of the file system the directory fd (at path) is on, remembered with path. */
static int fs_remember(struct direct *d, int fd, const char *path, struct mon_fsid *ret)
{
	struct mon_fsid fsid;
	int r = fd_fsid(fd, &fsid);

	if (r < 0)
		return r;
	if (!fs_find(d, &fsid)) {
		char *copy;

		if (d->n_fs >= ARRAY_SIZE(d->fs))
			return -E2BIG;
		copy = mm_strdup(path);
		if (!copy)
			return -ENOMEM;
		d->fs[d->n_fs++] = (struct fs_entry){.fsid = fsid, .path = copy};
	}
	*ret = fsid;
	return 0;
}

/* Opens the remembered directory of e, if it is still on that file system. */
static int fs_open(const struct fs_entry *e)
{
	struct mon_fsid now = {{0}};
	int fd = open(e->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fd_fsid(fd, &now) < 0 || !fsid_eq(&now, &e->fsid)) {
		(void) close(fd);
		return -ESTALE; /* unmounted, something else mounted there */
	}
	return fd;
}

static void handles_forget(struct direct *d, const struct mon_fsid *fsid)
{
	size_t k = 0;

	for (size_t i = 0; i < d->n_handles; i++) {
		if (!fsid || fsid_eq(&d->handles[i].fsid, fsid))
			mm_free(d->handles[i].path);
		else
			d->handles[k++] = d->handles[i];
	}
	d->n_handles = k;
}

/* Records that the directory fd (at path) has this handle. */
static int handle_remember(struct direct *d, int fd, const struct mon_fsid *fsid, const char *path)
{
	union {
		struct file_handle fh;
		unsigned char raw[sizeof(struct file_handle) + HANDLE_MAX];
	} u;
	struct handle_entry *e = NULL;
	int mnt;
	char *copy;

	u.fh.handle_bytes = HANDLE_MAX;
	/* AT_HANDLE_FID: an identifier even where handles cannot be decoded, as fanotify
	 * reports it there */
	if (name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH) < 0) {
#ifdef AT_HANDLE_FID
		u.fh.handle_bytes = HANDLE_MAX;
		if (name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH | AT_HANDLE_FID) < 0)
#endif
			return -errno;
	}
	copy = mm_strdup(path);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_handles && !e; i++)
		if (fsid_eq(&d->handles[i].fsid, fsid) && d->handles[i].type == u.fh.handle_type &&
		    d->handles[i].len == u.fh.handle_bytes &&
		    memcmp(d->handles[i].bytes, u.fh.f_handle, u.fh.handle_bytes) == 0)
			e = &d->handles[i];
	if (e) {
		mm_free(e->path);
	} else {
		if (d->n_handles >= LIMIT_FANOTIFY_MARKS) {
			mm_free(copy);
			return -E2BIG;
		}
		if (!d->handles) {
			d->handles = mm_calloc(LIMIT_FANOTIFY_MARKS, sizeof(*d->handles));
			if (!d->handles) {
				mm_free(copy);
				return -ENOMEM;
			}
		}
		e = &d->handles[d->n_handles++];
	}
	e->fsid = *fsid;
	e->type = u.fh.handle_type;
	e->len = u.fh.handle_bytes;
	memcpy(e->bytes, u.fh.f_handle, u.fh.handle_bytes);
	e->path = copy;
	return 0;
}

struct walk {
	struct direct *d;
	uint64_t mask;
	unsigned max, marked;
	char **found; /* MARK_NEW: what the tree held, LIMIT_FANOTIFY_FOUND + 2 slots */
	size_t n_found;
	dev_t dev;
	struct mon_fsid fsid;
	bool fsid_known;
};

/* Records an entry of a new tree (MARK_NEW); past LIMIT_FANOTIFY_FOUND, one "…" says so. */
static int found_add(struct walk *w, const char *dir, const char *name, bool is_dir)
{
	char *s;

	if (!w->found || (w->n_found > 0 && streq(w->found[w->n_found - 1], "…")))
		return 0;
	if (w->n_found >= LIMIT_FANOTIFY_FOUND)
		s = mm_strdup("…");
	else
		s = mm_asprintf("%s/%s%s", streq(dir, "/") ? "" : dir, name, is_dir ? "/" : "");
	if (!s)
		return -ENOMEM;
	w->found[w->n_found++] = s;
	return 0;
}

/* Marks the directory fd (at path) and, depth first, every directory below it on the
 * same device. Symlinks are not followed. */
static int walk_tree(struct walk *w, int fd, const char *path, unsigned depth)
{
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (w->marked >= w->max)
		return -E2BIG;
	if (fanotify_mark(w->d->fan_fd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, w->mask, fd, NULL) < 0)
		return -errno;
	w->marked++;
	if (!w->fsid_known) {
		r = fs_remember(w->d, fd, path, &w->fsid);
		if (r < 0)
			return r;
		w->fsid_known = true;
	}
	r = handle_remember(w->d, fd, &w->fsid, path);
	if (r == -ENOMEM)
		return r;
	if (depth >= 64) /* deeper trees are not what a watched folder is for */
		return 0;
	{
		int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		dir = dfd >= 0 ? fdopendir(dfd) : NULL;
		if (!dir) {
			r = errno == ENOMEM ? -ENOMEM : 0;
			if (dfd >= 0)
				(void) close(dfd);
			return r;
		}
	}
	while ((de = readdir(dir))) {
		_cleanup_(freep) char *sub = NULL;
		_cleanup_(closep) int cfd = -1;
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
			r = found_add(w, path, de->d_name, false);
			if (r < 0)
				break;
			continue;
		}
		cfd = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0 && de->d_type == DT_UNKNOWN && (errno == ENOTDIR || errno == ELOOP)) {
			r = found_add(w, path, de->d_name, false);
			if (r < 0)
				break;
			continue;
		}
		if (cfd < 0 || fstat(cfd, &st) < 0 || st.st_dev != w->dev)
			continue;
		r = found_add(w, path, de->d_name, true);
		if (r < 0)
			break;
		sub = mm_asprintf("%s/%s", streq(path, "/") ? "" : path, de->d_name);
		if (!sub) {
			r = -ENOMEM;
			break;
		}
		r = walk_tree(w, cfd, sub, depth + 1);
		if (r == -ENOMEM || r == -E2BIG)
			break;
		r = 0; /* a directory that vanished or cannot be marked is skipped */
	}
	(void) closedir(dir);
	return r;
}

/*
 * Opens the directory at path only if no component of it is a symlink, so that what is
 * watched is what the policy named: a user who points ~/Documents at /root must not get
 * /root watched (and its file names reported) by a process that can read it. -ELOOP then,
 * logged.
 */
static int open_real_dir(const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
	long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* before Linux 5.6 (or a seccomp filter refusing it): compare with realpath */
		char *real = realpath(path, NULL); /* checksrc: allow (libc allocates) */
		bool same = real && streq(real, path);

		free(real); /* checksrc: allow (from realpath) */
		if (!same) {
			errno = real ? ELOOP : errno;
			fd = -1;
		} else {
			fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
	}
	if (fd < 0) {
		int r = -errno;

		if (r == -ELOOP)
			log_warning(
				"(M1215) file monitor: %s goes through a symbolic link; it is not"
				" watched (name the real directory in the policy)",
				path);
		return r;
	}
	return (int) fd;
}

/* Marks the tree at the directory fd (named path); with ret_found, lists what it holds. */
static int mark_one_tree(struct direct *d, int fd, const char *path, uint64_t mask,
			 unsigned max_marks, struct mon_fsid *fsid_io, char ***ret_found)
{
	struct walk w = {.d = d, .mask = mask, .max = max_marks};
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	w.dev = st.st_dev;
	if (ret_found) {
		w.found = mm_calloc(LIMIT_FANOTIFY_FOUND + 2, sizeof(char *));
		if (!w.found)
			return -ENOMEM;
	}
	r = walk_tree(&w, fd, path, 0);
	if (fsid_io && w.fsid_known)
		*fsid_io = w.fsid;
	if (ret_found) {
		if (r < 0 && r != -E2BIG)
			fileio_strv_free(w.found);
		else
			*ret_found = w.found;
	}
	if (r < 0 && !(r == -E2BIG && w.marked > 0))
		return r;
	return r == -E2BIG ? -E2BIG : (int) w.marked;
}

/* Marks the tree of every directory a glob matches; none matching is not an error (the
 * folder may not exist yet on this machine). */
static int mark_glob(struct direct *d, const char *pattern, uint64_t mask, unsigned max_marks,
		     struct mon_fsid *fsid_io)
{
	glob_t g;
	unsigned total = 0;
	int r = 0;

	r = glob(pattern, GLOB_ONLYDIR, NULL, &g);
	if (r == GLOB_NOMATCH)
		return 0;
	if (r != 0)
		return r == GLOB_NOSPACE ? -ENOMEM : -EIO;
	r = 0;
	for (size_t i = 0; i < g.gl_pathc && total < max_marks; i++) {
		_cleanup_(closep) int fd = open_real_dir(g.gl_pathv[i]);
		int k;

		if (fd < 0)
			continue;
		k = mark_one_tree(d, fd, g.gl_pathv[i], mask, max_marks - total, fsid_io, NULL);
		if (k == -ENOMEM || k == -E2BIG) {
			r = k;
			break;
		}
		if (k > 0)
			total += (unsigned) k;
	}
	globfree(&g);
	if (r == -E2BIG)
		return r;
	return r < 0 ? r : (int) total;
}

static int fan_mark(struct mon_priv *p, enum mon_fan_op op, const char *path, uint64_t mask,
		    unsigned max_marks, struct mon_fsid *fsid_io, char ***ret_found)
{
	struct direct *d = to_direct(p);
	_cleanup_(closep) int fd = -1;
	struct mon_fsid fsid;
	int r;

	if (d->fan_fd < 0)
		return -EBADF;
	switch (op) {
	case MON_FAN_FLUSH:
		if (fanotify_mark(d->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL) < 0)
			return -errno;
		handles_forget(d, NULL);
		return 0;
	case MON_FAN_UNMARK_FS: {
		struct fs_entry *e = fsid_io ? fs_find(d, fsid_io) : NULL;

		if (!e)
			return -ENOENT;
		/* gone already when the medium was unmounted: nothing to undo then */
		fd = fs_open(e);
		if (fd >= 0)
			(void) fanotify_mark(d->fan_fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, mask,
					     fd, NULL);
		handles_forget(d, fsid_io);
		mm_free(e->path);
		*e = d->fs[--d->n_fs];
		return 0;
	}
	case MON_FAN_MARK_FS:
	case MON_FAN_MARK_TREE:
	case MON_FAN_MARK_NEW:
		break;
	default:
		return -EINVAL;
	}
	if (!path || path[0] != '/')
		return -EINVAL;
	if (op == MON_FAN_MARK_TREE && strpbrk(path, "*?["))
		return mark_glob(d, path, mask, max_marks, fsid_io);
	fd = open_real_dir(path);
	if (fd < 0)
		return -errno;
	if (op == MON_FAN_MARK_FS) {
		if (d->refuse_fs)
			return -EOPNOTSUPP;
		if (fanotify_mark(d->fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, fd, NULL) <
		    0)
			return -errno;
		r = fs_remember(d, fd, path, &fsid);
		if (r < 0)
			return r;
		if (fsid_io)
			*fsid_io = fsid;
		return 1;
	}
	return mark_one_tree(d, fd, path, mask, max_marks, fsid_io,
			     op == MON_FAN_MARK_NEW ? ret_found : NULL);
}

static int fan_handle_path(struct mon_priv *p, const struct mon_fsid *fsid, int handle_type,
			   const void *handle, size_t handle_len, char **ret)
{
	struct direct *d = to_direct(p);
	struct fs_entry *e = fs_find(d, fsid);
	union {
		struct file_handle fh;
		unsigned char raw[sizeof(struct file_handle) + HANDLE_MAX];
	} u;
	char link[64];
	int r;

	if (handle_len == 0 || handle_len > HANDLE_MAX)
		return -EINVAL;
	if (e) {
		_cleanup_(closep) int mfd = fs_open(e), fd = -1;

		u.fh.handle_bytes = (unsigned) handle_len;
		u.fh.handle_type = handle_type;
		memcpy(u.fh.f_handle, handle, handle_len);
		if (mfd >= 0)
			fd = open_by_handle_at(mfd, &u.fh, O_PATH | O_CLOEXEC);
		if (fd >= 0) {
			(void) snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
			r = read_link(AT_FDCWD, link, ret);
			if (r == -ENOMEM || (r == 0 && !str_endswith(*ret, " (deleted)")))
				return r;
			if (r == 0) {
				mm_free(*ret);
				return -ESTALE;
			}
		}
	}
	for (size_t i = 0; i < d->n_handles; i++) {
		const struct handle_entry *h = &d->handles[i];

		if (fsid_eq(&h->fsid, fsid) && h->type == handle_type && h->len == handle_len &&
		    memcmp(h->bytes, handle, handle_len) == 0) {
			char *s = mm_strdup(h->path);

			if (!s)
				return -ENOMEM;
			*ret = s;
			return 0;
		}
	}
	return -ESTALE;
}

static int open_file(struct mon_priv *p, const char *path, int *ret_fd)
{
	int fd;

	(void) p;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

struct mon_priv *mon_priv_direct_new(int fan_fd)
{
	struct direct *d = mm_calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ops = (struct mon_priv){
		.proc_links = proc_links,
		.fan_mark = fan_mark,
		.fan_handle_path = fan_handle_path,
		.open_file = open_file,
		.userdata = d,
	};
	d->fan_fd = fan_fd;
	return &d->ops;
}

void mon_priv_direct_free(struct mon_priv *p)
{
	struct direct *d;

	if (!p)
		return;
	d = to_direct(p);
	handles_forget(d, NULL);
	mm_free(d->handles);
	for (size_t i = 0; i < d->n_fs; i++)
		mm_free(d->fs[i].path);
	mm_free(d);
}

void mon_priv_direct_refuse_fs_marks(struct mon_priv *p, bool refuse)
{
	to_direct(p)->refuse_fs = refuse;
}
