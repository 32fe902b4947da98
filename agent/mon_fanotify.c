/*
 * File operations in watched folders and on removable media, from fanotify with
 * FAN_REPORT_DFID_NAME: "file.create", "file.write", "file.rename" and "file.delete" events
 * with the path, the operations seen and the process that did them (docs/events.md).
 *
 * Marks. A watched folder (a shell glob from the collection profile) is watched by one
 * inode mark per directory, placed by walking its tree and extended as directories are
 * created or moved in, up to LIMIT_FANOTIFY_MARKS directories in all: fanotify cannot
 * watch a subtree any other way short of a whole file system, and a home directory's file
 * system is far too busy for that. A removable medium is one file system: one
 * FAN_MARK_FILESYSTEM mark, or, where the kernel refuses it (file systems whose handles
 * cannot be decoded, exFAT among them), a tree of inode marks as for a folder. All marks
 * are placed through mon_priv (the privileged parent in the daemon).
 *
 * Records. The kernel merges events on one file while they wait in its queue (OPEN,
 * MODIFY, CLOSE_WRITE arrive as one), so one record becomes one event carrying the set of
 * operations ("ops"); the event's type is the most telling of them: rename, then write
 * (modify or close_write), then delete, then create. A file being written and not yet
 * closed would otherwise give an event per read of the queue (a large copy to a USB stick,
 * dozens), so records that only say CREATE or MODIFY wait in a table
 * (LIMIT_FANOTIFY_PENDING) until the file is closed, renamed or deleted, or until it has
 * been quiet for 2 s (60 s at most), and are then reported as one event: `echo x > f` is
 * one file.write with ops create, modify, close_write, however the kernel split it. Renames are one
 * FAN_RENAME record (Linux 5.17) with both names; on older kernels a MOVED_FROM directly followed
 * by a MOVED_TO of the same process is paired, and an unpaired one is a move out of (or into) what
 * is watched.
 *
 * Paths. A record names its directory by a file handle. Turning that into a path needs
 * open_by_handle_at(), i.e. CAP_DAC_READ_SEARCH, so it is asked of mon_priv and the answer
 * cached (LIMIT_DIR_CACHE directories, emptied when full, and whenever a directory is
 * renamed or deleted, since cached paths below it would lie). The file's name comes with
 * the record.
 *
 * The monitor's fd is an epoll set over the fanotify group and the flush timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/monitors.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

#define READ_BUF     ((size_t) 64 * 1024)
#define HANDLE_MAX   128
#define TAG_FANOTIFY 1
#define TAG_TIMER    2
#define PID_CACHE    16

#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

/* What is asked of the kernel: directory entries and writes, on children of a marked
 * directory (inode marks) or anywhere on a marked file system. */
#define MASK_COMMON (FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ONDIR)
#define MASK_MOVES  (FAN_MOVED_FROM | FAN_MOVED_TO)
/* What ends a file's record: until one of these, a created or modified file waits for more */
#define MASK_FINAL (FAN_DELETE | FAN_CLOSE_WRITE | FAN_RENAME | MASK_MOVES)

static const struct {
	uint64_t bit;
	const char *name;
} op_names[] = {
	{FAN_CREATE, "create"}, {FAN_MODIFY, "modify"},         {FAN_CLOSE_WRITE, "close_write"},
	{FAN_DELETE, "delete"}, {FAN_MOVED_FROM, "moved_from"}, {FAN_MOVED_TO, "moved_to"},
	{FAN_RENAME, "rename"},
};

/* A directory's identity as fanotify gives it. */
struct dir_key {
	struct mon_fsid fsid;
	int type;
	unsigned len;
	unsigned char bytes[HANDLE_MAX];
};

struct dir_entry {
	struct dir_key key;
	char *path;
};

struct removable {
	char *mount;
	json_t *device;
	struct mon_fsid fsid;
	bool marked;
	bool tree; /* inode marks: the file system cannot be marked whole */
};

/* A file being modified, not yet closed. */
struct pending {
	struct dir_key dir;
	char *name;
	uint64_t mask;
	int pid;
	json_t *data; /* the event as it will be emitted, process fields included */
	uint64_t first_ms, last_ms;
};

struct pid_entry {
	int pid;
	json_t *fields;
};

struct fan_mon {
	struct monitor m;
	int fan_fd, timer_fd;
	char *proc_root;
	struct mon_priv *priv;
	bool files, removable_on, use_rename;
	bool rename_known; /* whether FAN_RENAME was tried yet */
	char **folders, **exclude;
	unsigned marks_used;
	struct removable rm[LIMIT_REMOVABLE_MOUNTS];
	size_t n_rm;
	struct dir_entry **dirs; /* open addressing, 2 * LIMIT_DIR_CACHE slots */
	size_t n_dirs;
	struct pending *pend;
	size_t n_pend;
	unsigned idle_ms, max_ms;
	struct pid_entry pids[PID_CACHE];
	size_t n_pids;
	struct mon_sink *sink;
	unsigned char *buf;
	/* a MOVED_FROM waiting for its MOVED_TO (kernels without FAN_RENAME) */
	json_t *moved_from;
	int moved_from_pid;
	pid_t self;
};

#define DIR_SLOTS ((size_t) 2 * LIMIT_DIR_CACHE)

/* ---- parsing ---- */

static int parse_fid(const unsigned char *p, size_t len, bool named, struct mon_fan_name *ret)
{
	/* header (4), fsid (8), struct file_handle (4 + 4 + handle_bytes), then the name */
	uint32_t hb;
	int32_t type;
	const char *name;
	size_t off = 4 + 8 + 8;

	if (len < off)
		return -EBADMSG;
	memcpy(&ret->fsid, p + 4, sizeof(ret->fsid));
	memcpy(&hb, p + 12, sizeof(hb));
	memcpy(&type, p + 16, sizeof(type));
	if (hb == 0 || hb > HANDLE_MAX || hb > len - off)
		return -EBADMSG;
	ret->handle_type = type;
	ret->handle = p + off;
	ret->handle_len = hb;
	off += hb;
	if (named) {
		name = (const char *) p + off;
		if (off >= len || !memchr(name, '\0', len - off))
			return -EBADMSG;
		ret->name = name;
	} else {
		ret->name = "";
	}
	ret->present = true;
	return 0;
}

int mon_fanotify_parse(const void *buf, size_t len, struct mon_fan_record *ret)
{
	const unsigned char *p = buf;
	struct fanotify_event_metadata md;
	struct mon_fan_record rec = {0};
	size_t off;

	if (len == 0)
		return 0;
	if (len < FAN_EVENT_METADATA_LEN)
		return -EBADMSG;
	memcpy(&md, p, sizeof(md));
	if (md.vers != FANOTIFY_METADATA_VERSION || md.metadata_len < FAN_EVENT_METADATA_LEN ||
	    md.event_len < md.metadata_len || md.event_len > len || md.event_len > INT32_MAX)
		return -EBADMSG;
	rec.mask = md.mask;
	rec.pid = md.pid;
	rec.fd = md.fd;
	for (off = md.metadata_len; off < md.event_len;) {
		struct fanotify_event_info_header hdr;
		size_t left = md.event_len - off;
		int r = 0;

		if (left < sizeof(hdr))
			return -EBADMSG;
		memcpy(&hdr, p + off, sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > left)
			return -EBADMSG;
		switch (hdr.info_type) {
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
		case FAN_EVENT_INFO_TYPE_DFID:
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			if (rec.dir.present)
				return -EBADMSG;
			r = parse_fid(p + off, hdr.len, hdr.info_type != FAN_EVENT_INFO_TYPE_DFID,
				      &rec.dir);
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			if (rec.to.present)
				return -EBADMSG;
			r = parse_fid(p + off, hdr.len, true, &rec.to);
			break;
		default: /* FID, PIDFD, ERROR and what later kernels add: not ours */
			break;
		}
		if (r < 0)
			return r;
		off += hdr.len;
	}
	*ret = rec;
	return (int) md.event_len;
}

int mon_fanotify_open_privileged(int *ret_fd)
{
	int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
			       O_RDONLY | O_LARGEFILE | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* ---- small helpers ---- */

static struct fan_mon *to_fan(struct monitor *m)
{
	return (struct fan_mon *) m;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void key_from(struct dir_key *k, const struct mon_fan_name *n)
{
	memset(k, 0, sizeof(*k));
	k->fsid = n->fsid;
	k->type = n->handle_type;
	k->len = (unsigned) n->handle_len;
	memcpy(k->bytes, n->handle, n->handle_len);
}

static bool key_eq(const struct dir_key *a, const struct dir_key *b)
{
	return a->fsid.val[0] == b->fsid.val[0] && a->fsid.val[1] == b->fsid.val[1] &&
	       a->type == b->type && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static size_t key_hash(const struct dir_key *k)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	const unsigned char *parts[2] = {(const unsigned char *) &k->fsid, k->bytes};
	size_t lens[2] = {sizeof(k->fsid), k->len};

	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < lens[i]; j++)
			h = (h ^ parts[i][j]) * 1099511628211u;
	return (size_t) (h ^ (uint64_t) (unsigned) k->type);
}

static void dirs_clear(struct fan_mon *f)
{
	for (size_t i = 0; i < DIR_SLOTS; i++)
		if (f->dirs[i]) {
			mm_free(f->dirs[i]->path);
			mm_free(f->dirs[i]);
			f->dirs[i] = NULL;
		}
	f->n_dirs = 0;
}

/* The path of the directory n names, from the cache or mon_priv. -ESTALE when unknown. */
static int dir_path(struct fan_mon *f, const struct mon_fan_name *n, const char **ret)
{
	struct dir_key k;
	struct dir_entry *e;
	size_t i;
	char *path = NULL;
	int r;

	key_from(&k, n);
	for (i = key_hash(&k) % DIR_SLOTS; f->dirs[i]; i = (i + 1) % DIR_SLOTS)
		if (key_eq(&f->dirs[i]->key, &k)) {
			*ret = f->dirs[i]->path;
			return 0;
		}
	r = f->priv->fan_handle_path(f->priv, &n->fsid, n->handle_type, n->handle, n->handle_len,
				     &path);
	if (r < 0)
		return r;
	if (f->n_dirs >= LIMIT_DIR_CACHE) {
		dirs_clear(f);
		for (i = key_hash(&k) % DIR_SLOTS; f->dirs[i]; i = (i + 1) % DIR_SLOTS)
			;
	}
	e = mm_malloc(sizeof(*e));
	if (!e) {
		mm_free(path);
		return -ENOMEM;
	}
	e->key = k;
	e->path = path;
	f->dirs[i] = e;
	f->n_dirs++;
	*ret = path;
	return 0;
}

/* dir + "/" + name; name "" or "." is the directory itself. */
static char *join(const char *dir, const char *name)
{
	if (!*name || streq(name, "."))
		return mm_strdup(dir);
	if (strlen(dir) + 1 + strlen(name) >= LIMIT_PATH)
		return NULL;
	return mm_asprintf("%s/%s", streq(dir, "/") ? "" : dir, name);
}

static bool excluded(const struct fan_mon *f, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (char **p = f->exclude; p && *p; p++)
		if (fnmatch(*p, strchr(*p, '/') ? path : base, 0) == 0)
			return true;
	return false;
}

static bool in_folders(const struct fan_mon *f, const char *path)
{
	if (!f->files)
		return false;
	for (char **p = f->folders; p && *p; p++)
		if (fnmatch(*p, path, FNM_PATHNAME | FNM_LEADING_DIR) == 0)
			return true;
	return false;
}

static struct removable *removable_of(struct fan_mon *f, const struct mon_fsid *fsid)
{
	if (!f->removable_on)
		return NULL;
	for (size_t i = 0; i < f->n_rm; i++)
		if (f->rm[i].marked && f->rm[i].fsid.val[0] == fsid->val[0] &&
		    f->rm[i].fsid.val[1] == fsid->val[1])
			return &f->rm[i];
	return NULL;
}

/* ---- marks ---- */

static uint64_t inode_mask(const struct fan_mon *f)
{
	return MASK_COMMON | FAN_EVENT_ON_CHILD | (f->use_rename ? FAN_RENAME : MASK_MOVES);
}

static uint64_t fs_mask(const struct fan_mon *f)
{
	return MASK_COMMON | (f->use_rename ? FAN_RENAME : MASK_MOVES);
}

/* Marks the tree at path (a glob in the direct implementation) within the budget; op is
 * MARK_TREE, or MARK_NEW with ret_found for a directory that just appeared. */
static int mark_tree(struct fan_mon *f, enum mon_fan_op op, const char *path,
		     struct mon_fsid *ret_fsid, char ***ret_found)
{
	unsigned left = LIMIT_FANOTIFY_MARKS - f->marks_used;
	int r;

	if (left == 0)
		return -E2BIG;
	r = f->priv->fan_mark(f->priv, op, path, inode_mask(f), left, ret_fsid, ret_found);
	if (r == -EINVAL && f->use_rename && !f->rename_known) {
		/* a kernel before 5.17: no FAN_RENAME, pair MOVED_FROM and MOVED_TO instead */
		f->use_rename = false;
		r = f->priv->fan_mark(f->priv, op, path, inode_mask(f), left, ret_fsid, ret_found);
	}
	if (r >= 0 || r == -E2BIG)
		f->rename_known = true;
	if (r == -E2BIG) {
		log_warning("(M1211) file monitor: watched folders hold more than %u directories;"
			    " those past the limit are not watched",
			    LIMIT_FANOTIFY_MARKS);
		f->marks_used = LIMIT_FANOTIFY_MARKS;
		return r;
	}
	if (r > 0)
		f->marks_used += (unsigned) r;
	return r;
}

static int mark_removable(struct fan_mon *f, struct removable *rm)
{
	int r = f->priv->fan_mark(f->priv, MON_FAN_MARK_FS, rm->mount, fs_mask(f), 0, &rm->fsid,
				  NULL);

	if (r == -EINVAL && f->use_rename && !f->rename_known) {
		f->use_rename = false;
		r = f->priv->fan_mark(f->priv, MON_FAN_MARK_FS, rm->mount, fs_mask(f), 0, &rm->fsid,
				      NULL);
	}
	if (r == -EOPNOTSUPP || r == -ENODEV || r == -EXDEV) {
		rm->tree = true;
		r = mark_tree(f, MON_FAN_MARK_TREE, rm->mount, &rm->fsid, NULL);
		if (r == -E2BIG)
			r = 0; /* partly marked: what is marked is reported */
	}
	if (r < 0) {
		log_warning("(M1212) file monitor: cannot watch removable medium %s: %s", rm->mount,
			    strerror(-r));
		return r;
	}
	f->rename_known = true;
	rm->marked = true;
	return 0;
}

static void unmark_removable(struct fan_mon *f, struct removable *rm)
{
	if (rm->marked)
		(void) f->priv->fan_mark(f->priv, MON_FAN_UNMARK_FS, rm->mount, fs_mask(f), 0,
					 &rm->fsid, NULL);
	rm->marked = false;
}

/* Removes every inode mark and places those the settings ask for again. */
static int remark(struct fan_mon *f)
{
	int r, first = 0;

	r = f->priv->fan_mark(f->priv, MON_FAN_FLUSH, NULL, 0, 0, NULL, NULL);
	if (r < 0)
		return r;
	f->marks_used = 0;
	dirs_clear(f);
	if (f->files)
		for (char **p = f->folders; *p; p++) {
			r = mark_tree(f, MON_FAN_MARK_TREE, *p, NULL, NULL);
			if (r < 0 && r != -ENOENT && r != -E2BIG && r != -ELOOP && first == 0) {
				log_warning("(M1213) file monitor: cannot watch folder %s: %s", *p,
					    strerror(-r));
				first = r;
			}
		}
	for (size_t i = 0; i < f->n_rm; i++) {
		struct removable *rm = &f->rm[i];

		if (f->removable_on && (!rm->marked || rm->tree)) {
			unmark_removable(f, rm);
			(void) mark_removable(f, rm);
		} else if (!f->removable_on) {
			unmark_removable(f, rm);
		}
	}
	return r == -ENOMEM ? r : 0;
}

/* ---- events ---- */

static int set_text(json_t *obj, const char *key, const char *s)
{
	return jsonw_set(obj, key, col_json_text(s, strlen(s)));
}

static json_t *ops_json(uint64_t mask)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < ARRAY_SIZE(op_names); i++)
		if ((mask & op_names[i].bit) &&
		    jsonw_append(a, json_string(op_names[i].name)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static const char *type_of(uint64_t mask)
{
	if (mask & (FAN_RENAME | MASK_MOVES))
		return "file.rename";
	if (mask & (FAN_MODIFY | FAN_CLOSE_WRITE))
		return "file.write";
	if (mask & FAN_DELETE)
		return "file.delete";
	return "file.create";
}

/* The process fields of pid, read once per dispatch. */
static int proc_fields(struct fan_mon *f, int pid, json_t *data)
{
	struct procinfo pi;
	json_t *fields;
	int r;

	for (size_t i = 0; i < f->n_pids; i++)
		if (f->pids[i].pid == pid)
			return json_object_update(data, f->pids[i].fields) < 0 ? -ENOMEM : 0;
	r = procinfo_read(f->proc_root, f->priv, pid, 0, 0, &pi);
	if (r < 0)
		return r;
	fields = json_object();
	r = fields ? procinfo_to_json(&pi, fields) : -ENOMEM;
	procinfo_done(&pi);
	if (r >= 0 && json_object_update(data, fields) < 0)
		r = -ENOMEM;
	if (r < 0) {
		json_decref(fields);
		return r;
	}
	if (f->n_pids < PID_CACHE)
		f->pids[f->n_pids++] = (struct pid_entry){.pid = pid, .fields = fields};
	else
		json_decref(fields);
	return 0;
}

/* Emits data as type (borrowed). */
static int emit_as(struct fan_mon *f, const char *type, json_t *data)
{
	int r = f->sink->emit(f->sink, type, data);

	if (r == -ENOMEM)
		log_warning("(M1214) file monitor: out of memory, a file event was lost");
	return r == -ENOSPC ? 0 : r;
}

static int set_ops_found(json_t *data)
{
	return jsonw_set(data, "ops", json_pack("[s]", "found"));
}

/* Emits data (borrowed) as the type its operations say. */
static int emit(struct fan_mon *f, json_t *data)
{
	json_t *ops = json_object_get(data, "ops");
	uint64_t mask = 0;
	size_t i;
	json_t *v;

	json_array_foreach (ops, i, v)
		for (size_t k = 0; k < ARRAY_SIZE(op_names); k++)
			if (streq(json_string_value(v), op_names[k].name))
				mask |= op_names[k].bit;
	return emit_as(f, type_of(mask), data);
}

static void pending_drop(struct fan_mon *f, size_t i)
{
	json_decref(f->pend[i].data);
	mm_free(f->pend[i].name);
	f->pend[i] = f->pend[--f->n_pend];
}

static void pending_emit(struct fan_mon *f, size_t i)
{
	(void) !emit(f, f->pend[i].data);
	pending_drop(f, i);
}

static void arm_timer(struct fan_mon *f)
{
	struct itimerspec its = {0};
	uint64_t next = UINT64_MAX, now = now_ms();

	for (size_t i = 0; i < f->n_pend; i++) {
		uint64_t due =
			MIN(f->pend[i].last_ms + f->idle_ms, f->pend[i].first_ms + f->max_ms);

		next = MIN(next, due);
	}
	if (next != UINT64_MAX) {
		uint64_t wait = next > now ? next - now : 1;

		its.it_value.tv_sec = (time_t) (wait / 1000);
		its.it_value.tv_nsec = (long) (wait % 1000) * 1000000L;
	}
	(void) timerfd_settime(f->timer_fd, 0, &its, NULL);
}

static void flush_due(struct fan_mon *f, bool all)
{
	uint64_t expirations, now = now_ms();

	(void) !read(f->timer_fd, &expirations, sizeof(expirations));
	for (size_t i = 0; i < f->n_pend;) {
		struct pending *p = &f->pend[i];

		if (all || now >= p->last_ms + f->idle_ms || now >= p->first_ms + f->max_ms)
			pending_emit(f, i);
		else
			i++;
	}
	arm_timer(f);
}

static ssize_t pending_find(struct fan_mon *f, const struct dir_key *k, const char *name)
{
	for (size_t i = 0; i < f->n_pend; i++)
		if (key_eq(&f->pend[i].dir, k) && streq(f->pend[i].name, name))
			return (ssize_t) i;
	return -1;
}

/* Sets (or replaces) the operations of an event. */
static int set_ops(json_t *data, uint64_t mask)
{
	return jsonw_set(data, "ops", ops_json(mask));
}

/*
 * Builds the event for one path of a record: path, ops, dir, where, process. path is NULL
 * when the directory could not be named any more (deleted before the record was read):
 * then only the file's name is known.
 */
static json_t *event_new(struct fan_mon *f, const char *path, const char *name, uint64_t mask,
			 int pid, const struct removable *rm)
{
	_cleanup_(json_decrefp) json_t *data = json_object();

	if (!data || set_ops(data, mask) < 0)
		return NULL;
	if (path ? set_text(data, "path", path) < 0
		 : (set_text(data, "name", name) < 0 ||
		    jsonw_set(data, "path_unknown", json_true()) < 0))
		return NULL;
	if ((mask & FAN_ONDIR) && jsonw_set(data, "dir", json_true()) < 0)
		return NULL;
	if (rm) {
		if (jsonw_set(data, "removable", json_true()) < 0 ||
		    set_text(data, "mount", rm->mount) < 0 ||
		    (rm->device && jsonw_set(data, "device", json_deep_copy(rm->device)) < 0))
			return NULL;
	}
	if (pid > 0 && proc_fields(f, pid, data) < 0)
		return NULL;
	return TAKE_PTR(data);
}

/* Where a path belongs: 1 in scope (with *ret_rm for removable media), 0 not. */
static int scope(struct fan_mon *f, const struct mon_fsid *fsid, const char *path,
		 struct removable **ret_rm)
{
	struct removable *rm = removable_of(f, fsid);

	*ret_rm = rm;
	if (excluded(f, path))
		return 0;
	return rm || in_folders(f, path);
}

/*
 * A new directory appeared at path (made by rec's process, or moved in): when it is under
 * inode marks, mark it and what is below it, and report what it already held, since no
 * event will: `cp -r` fills a directory faster than its creation's event is read. Those
 * are reported as file.write (files) and file.create (directories) with "ops": ["found"],
 * and the process of the record that made the directory, which in practice made them too.
 */
static void watch_new_dir(struct fan_mon *f, const struct mon_fan_record *rec,
			  const struct removable *rm, const char *path)
{
	_cleanup_(fileio_strv_freep) char **found = NULL;
	int r;

	if (!((rm && rm->tree) || (!rm && in_folders(f, path))))
		return;
	r = mark_tree(f, MON_FAN_MARK_NEW, path, NULL, &found);
	if ((r < 0 && r != -E2BIG) || !found)
		return;
	for (char **p = found; *p; p++) {
		size_t len = strlen(*p);
		bool dir = len > 1 && (*p)[len - 1] == '/';
		json_t *data;

		if (streq(*p, "…")) {
			data = json_pack("{s:s, s:s}", "monitor", "fanotify", "reason",
					 "a new directory held more than could be listed");
			if (data)
				(void) !f->sink->emit(f->sink, "monitor.overflow", data);
			json_decref(data);
			break;
		}
		if (dir)
			(*p)[len - 1] = '\0';
		if (excluded(f, *p))
			continue;
		data = event_new(f, *p, NULL, dir ? FAN_CREATE | FAN_ONDIR : FAN_CLOSE_WRITE,
				 rec ? rec->pid : 0, rm);
		if (data && set_ops_found(data) == 0)
			(void) emit_as(f, dir ? "file.create" : "file.write", data);
		json_decref(data);
	}
}

static void flush_moved_from(struct fan_mon *f)
{
	if (f->moved_from) {
		(void) !emit(f, f->moved_from);
		json_decref(f->moved_from);
		f->moved_from = NULL;
	}
}

/* A rename: from (may be NULL: unknown or out of scope) → to (same). */
static int on_rename(struct fan_mon *f, const struct mon_fan_record *rec, const char *from,
		     struct removable *rm_from, const char *to, struct removable *rm_to)
{
	_cleanup_(json_decrefp) json_t *data = NULL;
	struct removable *rm = rm_to ? rm_to : rm_from;
	int r;

	data = event_new(f, to ? to : from, rec->to.name, rec->mask, rec->pid, rm);
	if (!data)
		return -ENOMEM;
	if ((from && set_text(data, "from", from) < 0) || (to && set_text(data, "to", to) < 0))
		return -ENOMEM;
	r = emit(f, data);
	if (rec->mask & FAN_ONDIR) {
		dirs_clear(f); /* cached paths below the old name are wrong now */
		if (to)
			watch_new_dir(f, rec, rm_to, to);
	}
	return r;
}

static int on_record(struct fan_mon *f, const struct mon_fan_record *rec)
{
	_cleanup_(freep) char *path = NULL, *to_path = NULL;
	_cleanup_(json_decrefp) json_t *data = NULL;
	struct removable *rm = NULL, *rm_to = NULL;
	const char *dir;
	bool in, to_in = false;
	struct dir_key k;
	ssize_t pi;
	int r;

	if (rec->mask & FAN_Q_OVERFLOW) {
		data = json_pack("{s:s, s:s}", "monitor", "fanotify", "reason",
				 "the kernel's event queue overflowed");
		if (!data)
			return -ENOMEM;
		r = f->sink->emit(f->sink, "monitor.overflow", data);
		return r == -ENOSPC ? 0 : r;
	}
	if (!rec->dir.present || rec->pid == f->self)
		return 0;
	r = dir_path(f, &rec->dir, &dir);
	if (r == 0) {
		path = join(dir, rec->dir.name);
		if (!path)
			return strlen(dir) + strlen(rec->dir.name) + 1 >= LIMIT_PATH ? 0 : -ENOMEM;
	} else if (r == -ENOMEM) {
		return r;
	}
	if (path) {
		in = scope(f, &rec->dir.fsid, path, &rm);
	} else {
		/* on a removable medium the file system alone says it is in scope */
		rm = removable_of(f, &rec->dir.fsid);
		in = rm != NULL && !excluded(f, rec->dir.name);
	}

	if (rec->mask & FAN_RENAME) {
		if (rec->to.present && dir_path(f, &rec->to, &dir) == 0) {
			to_path = join(dir, rec->to.name);
			to_in = to_path && scope(f, &rec->to.fsid, to_path, &rm_to);
		}
		if ((!in || !path) && !to_in)
			return 0;
		return on_rename(f, rec, in ? path : NULL, rm, to_in ? to_path : NULL, rm_to);
	}
	if (!in)
		return 0;

	if (rec->mask & FAN_MOVED_FROM) {
		flush_moved_from(f);
		if (rec->mask & FAN_ONDIR)
			dirs_clear(f);
		data = event_new(f, path, rec->dir.name, rec->mask, rec->pid, rm);
		if (!data || (path && set_text(data, "from", path) < 0))
			return -ENOMEM;
		f->moved_from = TAKE_PTR(data);
		f->moved_from_pid = rec->pid;
		return 0;
	}
	if (rec->mask & FAN_MOVED_TO) {
		if (f->moved_from && f->moved_from_pid == rec->pid) {
			data = TAKE_PTR(f->moved_from);
			if (path &&
			    (set_text(data, "to", path) < 0 || set_text(data, "path", path) < 0))
				return -ENOMEM;
			if (set_ops(data, FAN_MOVED_FROM | rec->mask) < 0)
				return -ENOMEM;
		} else {
			flush_moved_from(f);
			data = event_new(f, path, rec->dir.name, rec->mask, rec->pid, rm);
			if (!data || (path && set_text(data, "to", path) < 0))
				return -ENOMEM;
		}
		r = emit(f, data);
		if ((rec->mask & FAN_ONDIR) && path)
			watch_new_dir(f, rec, rm, path);
		return r;
	}
	flush_moved_from(f);

	key_from(&k, &rec->dir);
	pi = pending_find(f, &k, rec->dir.name);
	if (pi >= 0 && f->pend[pi].pid != rec->pid) {
		pending_emit(f, (size_t) pi); /* another process's write comes first */
		pi = -1;
	}
	if (!(rec->mask & MASK_FINAL) && !(rec->mask & FAN_ONDIR)) {
		/* created or modified so far: wait for the close (creat(2) and open(O_CREAT)
		 * are followed by one), so the file's story is one event */
		struct pending *p;
		uint64_t now = now_ms();

		if (pi >= 0) {
			p = &f->pend[pi];
			p->mask |= rec->mask;
			p->last_ms = now;
			return 0;
		}
		if (f->n_pend >= LIMIT_FANOTIFY_PENDING) {
			size_t oldest = 0;

			for (size_t i = 1; i < f->n_pend; i++)
				if (f->pend[i].first_ms < f->pend[oldest].first_ms)
					oldest = i;
			pending_emit(f, oldest);
		}
		data = event_new(f, path, rec->dir.name, rec->mask, rec->pid, rm);
		if (!data)
			return -ENOMEM;
		p = &f->pend[f->n_pend];
		*p = (struct pending){.dir = k,
				      .mask = rec->mask,
				      .pid = rec->pid,
				      .first_ms = now,
				      .last_ms = now};
		p->name = mm_strdup(rec->dir.name);
		if (!p->name)
			return -ENOMEM;
		p->data = TAKE_PTR(data);
		f->n_pend++;
		arm_timer(f);
		return 0;
	}
	if (pi >= 0) {
		uint64_t mask = f->pend[pi].mask | rec->mask;

		data = json_incref(f->pend[pi].data);
		pending_drop(f, (size_t) pi);
		arm_timer(f);
		if (set_ops(data, mask) < 0)
			return -ENOMEM;
	} else {
		data = event_new(f, path, rec->dir.name, rec->mask, rec->pid, rm);
		if (!data)
			return -ENOMEM;
	}
	r = emit(f, data);
	if ((rec->mask & (FAN_CREATE | FAN_ONDIR)) == (FAN_CREATE | FAN_ONDIR) && path)
		watch_new_dir(f, rec, rm, path);
	if ((rec->mask & (FAN_DELETE | FAN_ONDIR)) == (FAN_DELETE | FAN_ONDIR))
		dirs_clear(f);
	return r;
}

static void pids_clear(struct fan_mon *f)
{
	for (size_t i = 0; i < f->n_pids; i++)
		json_decref(f->pids[i].fields);
	f->n_pids = 0;
}

static int drain(struct fan_mon *f)
{
	for (;;) {
		ssize_t n = read(f->fan_fd, f->buf, READ_BUF);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		while (off < (size_t) n) {
			struct mon_fan_record rec;
			int len = mon_fanotify_parse(f->buf + off, (size_t) n - off, &rec);

			if (len <= 0) {
				log_debug("file monitor: a malformed fanotify record; %zd bytes "
					  "skipped",
					  n - (ssize_t) off);
				break;
			}
			if (rec.fd >= 0)
				(void) close(rec.fd); /* not asked for with FID reporting */
			if (on_record(f, &rec) == -ENOMEM)
				log_warning("(M1214) file monitor: out of memory, a file event was"
					    " lost");
			off += (size_t) len;
		}
		/* a pair is only a pair within what one read returned */
		flush_moved_from(f);
	}
	return 0;
}

static int dispatch(struct monitor *m, struct mon_sink *sink)
{
	struct fan_mon *f = to_fan(m);
	struct epoll_event evs[2];
	int n, r = 0;

	f->sink = sink;
	n = epoll_wait(m->fd, evs, (int) ARRAY_SIZE(evs), 0);
	for (int i = 0; i < n && r >= 0; i++) {
		if (evs[i].data.u32 == TAG_FANOTIFY)
			r = drain(f);
		else
			flush_due(f, false);
	}
	pids_clear(f);
	f->sink = NULL;
	return r;
}

static bool strv_equal(char **a, char **b)
{
	for (; *a && *b; a++, b++)
		if (!streq(*a, *b))
			return false;
	return !*a && !*b;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		mm_free(*p);
	mm_free(v);
}

static int configure(struct monitor *m, const json_t *policy)
{
	struct fan_mon *f = to_fan(m);
	struct collection c;
	struct diag d;
	bool changed;
	int r;

	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	diag_done(&d);
	if (r < 0)
		return r;
	changed = c.files != f->files || c.removable != f->removable_on ||
		  !strv_equal(c.folders, f->folders);
	f->files = c.files;
	f->removable_on = c.removable;
	/* the collection's lists become the monitor's */
	strv_free(f->folders);
	strv_free(f->exclude);
	f->folders = c.folders;
	f->exclude = c.exclude;
	return changed ? remark(f) : 0;
}

int mon_fanotify_add_removable(struct monitor *m, const char *mount, const json_t *device)
{
	struct fan_mon *f = to_fan(m);
	struct removable *rm;

	if (!mount || mount[0] != '/')
		return -EINVAL;
	for (size_t i = 0; i < f->n_rm; i++)
		if (streq(f->rm[i].mount, mount))
			return -EEXIST;
	if (f->n_rm >= LIMIT_REMOVABLE_MOUNTS)
		return -E2BIG;
	rm = &f->rm[f->n_rm];
	*rm = (struct removable){0};
	rm->mount = mm_strdup(mount);
	rm->device = device ? json_deep_copy(device) : NULL;
	if (!rm->mount || (device && !rm->device)) {
		mm_free(rm->mount);
		json_decref(rm->device);
		return -ENOMEM;
	}
	f->n_rm++;
	if (!f->removable_on)
		return 0;
	return mark_removable(f, rm) < 0 ? 0 : 1;
}

int mon_fanotify_remove_removable(struct monitor *m, const char *mount)
{
	struct fan_mon *f = to_fan(m);

	for (size_t i = 0; i < f->n_rm; i++)
		if (streq(f->rm[i].mount, mount)) {
			unmark_removable(f, &f->rm[i]);
			mm_free(f->rm[i].mount);
			json_decref(f->rm[i].device);
			f->rm[i] = f->rm[--f->n_rm];
			return 0;
		}
	return -ENOENT;
}

void mon_fanotify_set_flush(struct monitor *m, unsigned idle_ms, unsigned max_ms)
{
	struct fan_mon *f = to_fan(m);

	f->idle_ms = idle_ms;
	f->max_ms = max_ms;
}

void mon_fanotify_test_no_rename(struct monitor *m)
{
	struct fan_mon *f = to_fan(m);

	f->use_rename = false;
	f->rename_known = true;
}

static void fan_free(struct monitor *m)
{
	struct fan_mon *f = to_fan(m);

	if (!f)
		return;
	while (f->pend && f->n_pend > 0)
		pending_drop(f, 0);
	while (f->n_rm > 0) {
		mm_free(f->rm[f->n_rm - 1].mount);
		json_decref(f->rm[f->n_rm - 1].device);
		f->n_rm--;
	}
	json_decref(f->moved_from);
	pids_clear(f);
	if (f->dirs)
		dirs_clear(f);
	mm_free(f->dirs);
	mm_free(f->pend);
	mm_free(f->buf);
	strv_free(f->folders);
	strv_free(f->exclude);
	mm_free(f->proc_root);
	if (f->fan_fd >= 0)
		(void) close(f->fan_fd);
	if (f->timer_fd >= 0)
		(void) close(f->timer_fd);
	if (m->fd >= 0)
		(void) close(m->fd);
	mm_free(f);
}

int mon_fanotify_new(int fd, const char *proc_root, struct mon_priv *priv, struct monitor **ret)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct collection c;
	struct fan_mon *f;
	int r;

	f = mm_calloc(1, sizeof(*f));
	if (!f) {
		(void) close(fd);
		return -ENOMEM;
	}
	f->m = (struct monitor){.name = "fanotify",
				.fd = -1,
				.dispatch = dispatch,
				.configure = configure,
				.free = fan_free};
	f->fan_fd = fd;
	f->timer_fd = -1;
	f->priv = priv;
	f->use_rename = true;
	f->idle_ms = 2000;
	f->max_ms = 60000;
	f->self = getpid();
	f->proc_root = mm_strdup(proc_root ? proc_root : "/proc");
	f->dirs = mm_calloc(DIR_SLOTS, sizeof(struct dir_entry *));
	f->pend = mm_calloc(LIMIT_FANOTIFY_PENDING, sizeof(*f->pend));
	f->buf = mm_malloc(READ_BUF);
	if (!f->proc_root || !f->dirs || !f->pend || !f->buf || collection_init_default(&c) < 0) {
		fan_free(&f->m);
		return -ENOMEM;
	}
	f->files = c.files;
	f->removable_on = c.removable;
	f->folders = c.folders;
	f->exclude = c.exclude;
	f->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	f->m.fd = epoll_create1(EPOLL_CLOEXEC);
	r = f->timer_fd < 0 || f->m.fd < 0 ? -errno : 0;
	ev.data.u32 = TAG_FANOTIFY;
	if (r == 0 && epoll_ctl(f->m.fd, EPOLL_CTL_ADD, f->fan_fd, &ev) < 0)
		r = -errno;
	ev.data.u32 = TAG_TIMER;
	if (r == 0 && epoll_ctl(f->m.fd, EPOLL_CTL_ADD, f->timer_fd, &ev) < 0)
		r = -errno;
	if (r < 0) {
		fan_free(&f->m);
		return r;
	}
	*ret = &f->m;
	return 0;
}
