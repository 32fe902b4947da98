/*
 * Files written to removable media (docs/usb-control.md, "Records"): a minimal fanotify
 * monitor for the file systems of USB storage, until the operation-log monitor (branch
 * `monitors`) takes this over with its own "mark a mount as removable" function.
 *
 * The USB enforcer calls mon_removable_watch() for each mount of a USB device's block
 * device; the whole file system is marked (FAN_MARK_FILESYSTEM, so bind mounts and other
 * namespaces are covered too; FAN_MARK_MOUNT where the kernel refuses that) for
 * FAN_CLOSE_WRITE: a file closed after being opened for writing. Each becomes a
 * "file.write" event with the path, the size at close, the process (pid, name, executable)
 * and its user, and the device it was written to.
 *
 * Events for one file merge while unread (a copy that opens and closes twice may show
 * once). The kernel opens each event's file for the reader: under privilege separation
 * that is the unprivileged worker, so a file its user may not read is not recorded
 * (counted in `unreadable`). A process that exited before its event was read is recorded with what
 * could still be read (its pid). User names come from root/etc/passwd only, never from NSS (which
 * may block on a directory server): directory users are recorded by uid.
 *
 * Limits: LIMIT_USB_DEVICES * LIMIT_USB_BLOCKS file systems watched.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define MAX_WATCHES ((size_t) LIMIT_USB_DEVICES * LIMIT_USB_BLOCKS)

struct watch {
	dev_t dev;
	char *path;     /* mount point */
	json_t *device; /* its USB device's identity */
};

struct mon_removable {
	struct monitor m;
	char *root;
	unsigned long unreadable; /* events lost because their file could not be opened */
	int (*mark)(void *ud, const char *mount_point, bool add); /* NULL: mark here */
	void *mark_ud;
	struct watch w[MAX_WATCHES];
	size_t n;
};

int mon_removable_open_privileged(void)
{
	int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
			       O_RDONLY | O_LARGEFILE | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static void watch_done(struct watch *w)
{
	mm_free(w->path);
	json_decref(w->device);
	*w = (struct watch){0};
}

static void rm_free(struct monitor *m)
{
	struct mon_removable *r = (struct mon_removable *) m;

	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		watch_done(&r->w[i]);
	closep(&r->m.fd);
	mm_free(r->root);
	mm_free(r);
}

void mon_removable_user_name(const char *root, unsigned uid, char *out, size_t size)
{
	_cleanup_(freep) char *text = NULL;
	char *cursor, *line;

	out[0] = '\0';
	if (fileio_read(root, "/etc/passwd", LIMIT_LARGE_FILE, &text, NULL) < 0)
		return;
	cursor = text;
	while ((line = str_next_line(&cursor))) {
		char *name, *pw, *id, *save = NULL;
		unsigned v;

		name = strtok_r(line, ":", &save);
		pw = name ? strtok_r(NULL, ":", &save) : NULL;
		id = pw ? strtok_r(NULL, ":", &save) : NULL;
		if (id && str_to_uint(id, 10, &v) == 0 && v == uid && strlen(name) < size &&
		    str_is_clean_utf8(name, strlen(name))) {
			memcpy(out, name, strlen(name) + 1);
			return;
		}
	}
}

/* What /proc tells of a process: name, executable, real uid (-1 when gone). */
static json_t *process_json(const struct mon_removable *r, int pid)
{
	char path[64], comm[64] = "", exe[LIMIT_PATH] = "", status[4096], user[64] = "";
	_cleanup_(closep) int fd = -1;
	long uid = -1;
	ssize_t n;

	(void) snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (n = read(fd, comm, sizeof(comm) - 1)) > 0)
		comm[usbdev_trim(comm, (size_t) n)] = '\0';
	closep(&fd);
	(void) snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	(void) snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (n = read(fd, status, sizeof(status) - 1)) > 0) {
		const char *u;
		unsigned v;

		status[n] = '\0';
		char num[16];
		size_t len;

		u = strstr(status, "\nUid:\t");
		len = u ? strspn(u + 6, "0123456789") : 0;
		if (len > 0 && len < sizeof(num)) {
			memcpy(num, u + 6, len);
			num[len] = '\0';
		}
		if (len > 0 && len < sizeof(num) && str_to_uint(num, 10, &v) == 0) {
			uid = v;
			mon_removable_user_name(r->root, v, user, sizeof(user));
		}
	}
	return json_pack("{s:i, s:o, s:o, s:o, s:o}", "pid", pid, "name",
			 comm[0] ? col_json_text(comm, strlen(comm)) : json_null(), "exe",
			 exe[0] ? col_json_text(exe, strlen(exe)) : json_null(), "uid",
			 uid >= 0 ? json_integer(uid) : json_null(), "user",
			 user[0] ? json_string(user) : json_null());
}

static void record(struct mon_removable *r, struct mon_sink *sink,
		   const struct fanotify_event_metadata *ev)
{
	char link[64], path[LIMIT_PATH];
	const struct watch *w = NULL;
	struct stat st;
	json_t *o;
	ssize_t n;

	if (fstat(ev->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	for (size_t i = 0; i < r->n; i++)
		if (r->w[i].dev == st.st_dev)
			w = &r->w[i];
	(void) snprintf(link, sizeof(link), "/proc/self/fd/%d", ev->fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	o = json_pack("{s:o, s:I, s:o, s:O?, s:o}", "path",
		      path[0] ? col_json_text(path, strlen(path)) : json_null(), "size",
		      (json_int_t) st.st_size, "process", process_json(r, ev->pid), "device",
		      w ? w->device : NULL, "mount_point",
		      w ? col_json_text(w->path, strlen(w->path)) : json_null());
	if (!o) {
		log_error("(M1404) USB control: out of memory: file.write not recorded");
		return;
	}
	if (sink->emit(sink, "file.write", o) == -ENOMEM)
		log_error("(M1404) USB control: out of memory: file.write not recorded");
	json_decref(o);
}

static int rm_dispatch(struct monitor *m, struct mon_sink *sink)
{
	struct mon_removable *r = (struct mon_removable *) m;
	char buf[8192] __attribute__((aligned(8)));

	for (unsigned failed = 0;;) {
		ssize_t n = read(r->m.fd, buf, sizeof(buf));
		const struct fanotify_event_metadata *ev = (const void *) buf;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			/*
			 * The kernel opens each event's file with the reader's credentials and,
			 * when it cannot (a file the worker's user may not read, one deleted
			 * meanwhile), fails the read with that error and drops the event: the
			 * next read goes on with the next one.
			 */
			if (errno != EBADF && errno != EINVAL && errno != EFAULT &&
			    ++failed < 1024) {
				if (r->unreadable++ % 1000 == 0)
					log_warning("(M1422) removable media: a written file could "
						    "not be opened to record it (%s); %lu so far",
						    strerror(errno), r->unreadable);
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return 0;
		for (; FAN_EVENT_OK(ev, n); ev = FAN_EVENT_NEXT(ev, n)) {
			if (ev->vers != FANOTIFY_METADATA_VERSION)
				return -EPROTO;
			if (ev->mask & FAN_Q_OVERFLOW)
				log_warning("(M1420) removable media: the kernel dropped file "
					    "events (queue overflow)");
			if (ev->fd >= 0) {
				record(r, sink, ev);
				(void) close(ev->fd);
			}
		}
	}
}

int mon_removable_new(int fanotify_fd, const char *root, struct monitor **ret)
{
	struct mon_removable *r = mm_calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->m = (struct monitor){
		.name = "removable", .fd = fanotify_fd, .dispatch = rm_dispatch, .free = rm_free};
	r->root = mm_strdup(root ? root : "/");
	if (!r->root) {
		r->m.fd = -1;
		rm_free(&r->m);
		return -ENOMEM;
	}
	*ret = &r->m;
	return 0;
}

int mon_removable_mark(int fanotify_fd, const char *mount_point, bool add)
{
	unsigned flags = add ? FAN_MARK_ADD : FAN_MARK_REMOVE;

	if (fanotify_mark(fanotify_fd, flags | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD,
			  mount_point) == 0)
		return 0;
	/* a file system without an fsid, or an old kernel: the mount itself */
	if (fanotify_mark(fanotify_fd, flags | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD,
			  mount_point) == 0)
		return 0;
	return -errno;
}

void mon_removable_set_mark(struct monitor *m,
			    int (*fn)(void *ud, const char *mount_point, bool add), void *ud)
{
	struct mon_removable *r = (struct mon_removable *) m;

	r->mark = fn;
	r->mark_ud = ud;
}

int mon_removable_watch(struct monitor *m, const char *path, dev_t dev, const json_t *device)
{
	struct mon_removable *r = (struct mon_removable *) m;
	struct watch *w;

	for (size_t i = 0; i < r->n; i++)
		if (r->w[i].dev == dev)
			return 0;
	if (r->n >= MAX_WATCHES)
		return -E2BIG;
	{
		int k = r->mark ? r->mark(r->mark_ud, path, true)
				: mon_removable_mark(r->m.fd, path, true);

		if (k < 0) {
			log_warning("(M1421) removable media: cannot watch %s: %s", path,
				    strerror(-k));
			return k;
		}
	}
	w = &r->w[r->n];
	w->path = mm_strdup(path);
	w->device = json_deep_copy(device);
	if (!w->path || !w->device) {
		watch_done(w);
		return -ENOMEM;
	}
	w->dev = dev;
	r->n++;
	return 0;
}

void mon_removable_unwatch(struct monitor *m, dev_t dev)
{
	struct mon_removable *r = (struct mon_removable *) m;

	for (size_t i = 0; i < r->n; i++) {
		if (r->w[i].dev != dev)
			continue;
		/* gone with its file system when unmounted; removed here when still mounted */
		if (r->mark)
			(void) r->mark(r->mark_ud, r->w[i].path, false);
		else
			(void) !mon_removable_mark(r->m.fd, r->w[i].path, false);
		watch_done(&r->w[i]);
		r->w[i] = r->w[--r->n];
		r->w[r->n] = (struct watch){0};
		return;
	}
}
