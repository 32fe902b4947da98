/*
 * Refused writes and burn attempts, from the kernel audit subsystem (docs/usb-control.md,
 * "Records of refused writes"). The kernel refuses them itself — a read-only disk, a
 * read-only mount, a node without write permission — and tells nobody; fanotify sends no
 * events at all for device nodes on current kernels, and none for a write refused with
 * EROFS. Audit does: for each block device of read-only USB storage, and each node of a
 * read-only optical drive, USB control adds one syscall-exit rule
 *
 *   -a always,exit -S all -F devmajor=M -F devminor=m -F perm=w -k mamori-usb:KIND:M:m
 *
 * which matches a write-open (or a create, mkdir, rename, unlink …) of any path whose
 * inode lives on that device (a file of its read-only file system: refused with EROFS) or
 * is a node of it (opened for writing: every write then fails with EPERM; a burner refused
 * with EACCES). The records come from the audit multicast group (AUDIT_NLGRP_READLOG),
 * which works with or without auditd and never takes auditd's place.
 *
 * Records of one syscall arrive as several messages (SYSCALL, CWD, PATH…, PROCTITLE, EOE)
 * sharing a serial; they are joined here and handed over on EOE. Only SYSCALL records
 * carrying one of our keys start anything; every other audit record is skipped after a
 * substring test, so a busy audit configuration costs little.
 *
 * Auditing must be on for records to exist: enf_usb_audit_open() turns it on when it is
 * off and not locked (a process started while it was off has no audit context and is not
 * recorded until it is restarted). Rules this module added are deleted when it is freed.
 *
 * Limits: ENF_AUDIT_RULES rules; text values of LIMIT_PATH bytes; a record of
 * MAX_AUDIT_MESSAGE_LENGTH bytes.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/mm.h"
#include "lib/str.h"

#define ENF_AUDIT_RULES 64u
#define KEY_PREFIX      "mamori-usb:"
#define AUDIT_MSG_MAX \
	8970 /* MAX_AUDIT_MESSAGE_LENGTH, which libaudit defines, not the kernel UAPI */

struct rule_key {
	char kind[8];
	unsigned major, minor;
};

struct enf_usb_audit {
	int ctl_fd, log_fd;
	uint32_t seq;
	struct rule_key rules[ENF_AUDIT_RULES];
	size_t n_rules;
	bool pending; /* a SYSCALL record with our key waits for its EOE */
	struct enf_usb_audit_event ev;
	uint64_t serial;
	char cwd[LIMIT_PATH];
	char buf[AUDIT_MSG_MAX + NLMSG_HDRLEN + 1] __attribute__((aligned(8)));
};

/* ---- parsing ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * An audit string value: "quoted", (null), or hex when it held spaces, quotes or control
 * characters. Decoded into out; -EINVAL when it is neither, -E2BIG when it does not fit.
 */
static int audit_string(const char *v, size_t len, char *out, size_t size)
{
	size_t n = 0;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		if (len - 2 >= size)
			return -E2BIG;
		memcpy(out, v + 1, len - 2);
		out[len - 2] = '\0';
		return 0;
	}
	if (len == 6 && strncmp(v, "(null)", 6) == 0) {
		out[0] = '\0';
		return 0;
	}
	if (len % 2 || len / 2 >= size)
		return len % 2 ? -EINVAL : -E2BIG;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval(v[i]), lo = hexval(v[i + 1]);

		if (hi < 0 || lo < 0) {
			out[0] = '\0';
			return -EINVAL;
		}
		out[n++] = (char) (hi << 4 | lo);
	}
	out[n] = '\0';
	if (memchr(out, '\0', n)) {
		out[0] = '\0';
		return -EINVAL;
	}
	return 0;
}

static bool num(const char *v, size_t len, int base, long *ret)
{
	char buf[32];
	int64_t x;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (buf[0] == '-') {
		if (str_to_i64(buf, base, &x) < 0)
			return false;
	} else {
		uint64_t u;

		if (str_to_u64(buf, base, &u) < 0 || u > INT64_MAX)
			return false;
		x = (int64_t) u;
	}
	*ret = (long) x;
	return true;
}

/* Whether key is one of ours: "mamori-usb:KIND:MAJOR:MINOR". */
static bool our_key(const char *key)
{
	const char *rest = str_startswith(key, KEY_PREFIX);
	const char *colon = rest ? strchr(rest, ':') : NULL;
	unsigned maj, min;

	return colon && usbdev_parse_devnum(colon + 1, &maj, &min) == 0;
}

/* "08:11" (hex major:minor, as audit prints dev= and rdev=) */
static void devpair(const char *v, size_t len, long *ret_major, long *ret_minor)
{
	const char *colon = memchr(v, ':', len);
	long a, b;

	if (colon && num(v, (size_t) (colon - v), 16, &a) &&
	    num(colon + 1, len - (size_t) (colon - v) - 1, 16, &b)) {
		*ret_major = a;
		*ret_minor = b;
	}
}

int enf_usb_audit_parse(int type, char *text, struct enf_usb_audit_rec *ret)
{
	struct enf_usb_audit_rec r = {.type = type,
				      .pid = -1,
				      .uid = -1,
				      .auid = -1,
				      .item = -1,
				      .mode = -1,
				      .dev_major = -1,
				      .dev_minor = -1,
				      .rdev_major = -1,
				      .rdev_minor = -1};
	const char *p = str_startswith(text, "audit("), *dot, *colon, *end;
	long sec, ms, serial;

	/* "audit(1700000000.123:456): " */
	dot = p ? strchr(p, '.') : NULL;
	colon = dot ? strchr(dot, ':') : NULL;
	end = colon ? strstr(colon, "):") : NULL;
	if (!end || !num(p, (size_t) (dot - p), 10, &sec) ||
	    !num(dot + 1, (size_t) (colon - dot - 1), 10, &ms) ||
	    !num(colon + 1, (size_t) (end - colon - 1), 10, &serial) || sec < 0 || ms < 0 ||
	    serial < 0)
		return -EBADMSG;
	r.serial = (uint64_t) serial;
	p = end + 2;
	while (*p) {
		const char *k, *v, *eq;
		size_t klen, vlen;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		k = p;
		eq = strchr(p, '=');
		if (!eq)
			break; /* trailing words without a value (rare): ignored */
		klen = (size_t) (eq - k);
		v = eq + 1;
		if (*v == '"') {
			const char *quote = strchr(v + 1, '"');

			if (!quote)
				return -EBADMSG;
			vlen = (size_t) (quote - v + 1);
		} else {
			vlen = strcspn(v, " ");
		}
		p = v + vlen;
		if (memchr(k, ' ', klen))
			continue;
#define KEY(s) (klen == sizeof(s) - 1 && strncmp(k, s, klen) == 0)
		if (KEY("syscall"))
			(void) num(v, vlen, 10, &r.syscall);
		else if (KEY("success"))
			r.success = vlen == 3 && strncmp(v, "yes", 3) == 0;
		else if (KEY("exit"))
			(void) num(v, vlen, 10, &r.exit);
		else if (KEY("pid"))
			(void) num(v, vlen, 10, &r.pid);
		else if (KEY("uid"))
			(void) num(v, vlen, 10, &r.uid);
		else if (KEY("auid"))
			(void) num(v, vlen, 10, &r.auid);
		else if (KEY("item"))
			(void) num(v, vlen, 10, &r.item);
		else if (KEY("comm"))
			(void) audit_string(v, vlen, r.comm, sizeof(r.comm));
		else if (KEY("exe"))
			(void) audit_string(v, vlen, r.exe, sizeof(r.exe));
		else if (KEY("key"))
			(void) audit_string(v, vlen, r.key, sizeof(r.key));
		else if (KEY("name"))
			(void) audit_string(v, vlen, r.name, sizeof(r.name));
		else if (KEY("cwd"))
			(void) audit_string(v, vlen, r.cwd, sizeof(r.cwd));
		else if (KEY("mode"))
			(void) num(v, vlen, 8, &r.mode);
		else if (KEY("dev"))
			devpair(v, vlen, &r.dev_major, &r.dev_minor);
		else if (KEY("rdev"))
			devpair(v, vlen, &r.rdev_major, &r.rdev_minor);
		else if (KEY("nametype"))
			r.parent = vlen == 6 && strncmp(v, "PARENT", 6) == 0;
#undef KEY
	}
	*ret = r;
	return 0;
}

/* ---- the netlink side ---- */

static int send_msg(struct enf_usb_audit *a, uint16_t type, const void *data, size_t len)
{
	char buf[NLMSG_SPACE(sizeof(struct audit_rule_data) + 256)] __attribute__((aligned(8)));
	struct nlmsghdr *h = (struct nlmsghdr *) buf;
	struct sockaddr_nl to = {.nl_family = AF_NETLINK};

	if (NLMSG_SPACE(len) > sizeof(buf))
		return -E2BIG;
	memset(buf, 0, sizeof(buf));
	h->nlmsg_len = (uint32_t) NLMSG_LENGTH(len);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++a->seq;
	if (len)
		memcpy(NLMSG_DATA(h), data, len);
	if (sendto(a->ctl_fd, buf, h->nlmsg_len, 0, (struct sockaddr *) &to, sizeof(to)) < 0)
		return -errno;
	return 0;
}

/* Waits for the kernel's answer to our last request: an ack (0) or an error. A status
 * reply (AUDIT_GET) is copied into *status when given. */
static int wait_ack(struct enf_usb_audit *a, struct audit_status *status)
{
	char buf[8192] __attribute__((aligned(8)));

	for (int tries = 0; tries < 16; tries++) {
		ssize_t n = recv(a->ctl_fd, buf, sizeof(buf), 0);
		size_t left = n > 0 ? (size_t) n : 0;

		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != a->seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				if (e->error != 0 || !status)
					return e->error;
				continue; /* the ack of AUDIT_GET comes before its reply */
			}
			if (h->nlmsg_type == AUDIT_GET && status &&
			    h->nlmsg_len >= NLMSG_LENGTH(sizeof(*status))) {
				memcpy(status, NLMSG_DATA(h), sizeof(*status));
				return 0;
			}
		}
	}
	return -ETIMEDOUT;
}

static void key_text(const struct rule_key *k, char *out, size_t size)
{
	(void) snprintf(out, size, KEY_PREFIX "%s:%u:%u", k->kind, k->major, k->minor);
}

static int rule_op(struct enf_usb_audit *a, uint16_t op, const struct rule_key *k)
{
	char raw[sizeof(struct audit_rule_data) + 64] __attribute__((aligned(8)));
	struct audit_rule_data *rd = (struct audit_rule_data *) raw;
	static const uint32_t fields[] = {AUDIT_DEVMAJOR, AUDIT_DEVMINOR, AUDIT_PERM,
					  AUDIT_FILTERKEY};
	char key[64];
	size_t klen;
	int r;

	key_text(k, key, sizeof(key));
	klen = strlen(key);
	memset(raw, 0, sizeof(raw));
	rd->flags = AUDIT_FILTER_EXIT;
	rd->action = AUDIT_ALWAYS;
	for (size_t i = 0; i < AUDIT_BITMASK_SIZE; i++)
		rd->mask[i] = ~0u; /* every syscall; perm=w picks the writing ones */
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		rd->fields[i] = fields[i];
		rd->fieldflags[i] = AUDIT_EQUAL;
	}
	rd->values[0] = k->major;
	rd->values[1] = k->minor;
	rd->values[2] = AUDIT_PERM_WRITE;
	rd->values[3] = (uint32_t) klen;
	rd->field_count = ARRAY_SIZE(fields);
	rd->buflen = (uint32_t) klen;
	memcpy(rd->buf, key, klen);
	r = send_msg(a, op, rd, sizeof(*rd) + klen);
	if (r < 0)
		return r;
	return wait_ack(a, NULL);
}

int enf_usb_audit_open(struct enf_usb_audit **ret)
{
	struct enf_usb_audit *a = mm_calloc(1, sizeof(*a));
	struct sockaddr_nl group = {.nl_family = AF_NETLINK,
				    .nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1)};
	struct timeval tv = {.tv_sec = 1};
	struct audit_status st = {0};
	int size = 1 << 20, r;

	if (!a)
		return -ENOMEM;
	a->log_fd = -1;
	a->ctl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	if (a->ctl_fd < 0) {
		r = -errno;
		mm_free(a);
		return r;
	}
	(void) setsockopt(a->ctl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	a->log_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
	if (a->log_fd < 0 || bind(a->log_fd, (struct sockaddr *) &group, sizeof(group)) < 0) {
		r = -errno;
		enf_usb_audit_free(a);
		return r;
	}
	(void) setsockopt(a->log_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	r = send_msg(a, AUDIT_GET, NULL, 0);
	if (r >= 0)
		r = wait_ack(a, &st);
	if (r >= 0 && st.enabled == 0) {
		struct audit_status on = {.mask = AUDIT_STATUS_ENABLED, .enabled = 1};

		r = send_msg(a, AUDIT_SET, &on, sizeof(on));
		if (r >= 0)
			r = wait_ack(a, NULL);
	}
	if (r < 0) {
		enf_usb_audit_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

int enf_usb_audit_from_fd(int log_fd, struct enf_usb_audit **ret)
{
	struct enf_usb_audit *a = mm_calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->ctl_fd = -1;
	a->log_fd = log_fd;
	*ret = a;
	return 0;
}

int enf_usb_audit_take_log_fd(struct enf_usb_audit *a)
{
	return TAKE_FD(a->log_fd);
}

struct enf_usb_audit *enf_usb_audit_free(struct enf_usb_audit *a)
{
	if (!a)
		return NULL;
	for (size_t i = 0; a->ctl_fd >= 0 && i < a->n_rules; i++)
		(void) rule_op(a, AUDIT_DEL_RULE, &a->rules[i]);
	closep(&a->ctl_fd);
	closep(&a->log_fd);
	mm_free(a);
	return NULL;
}

int enf_usb_audit_fd(const struct enf_usb_audit *a)
{
	return a->log_fd;
}

int enf_usb_audit_watch(struct enf_usb_audit *a, const char *kind, unsigned major, unsigned minor)
{
	struct rule_key k = {.major = major, .minor = minor};
	int r;

	(void) snprintf(k.kind, sizeof(k.kind), "%s", kind);
	for (size_t i = 0; i < a->n_rules; i++)
		if (a->rules[i].major == major && a->rules[i].minor == minor &&
		    streq(a->rules[i].kind, kind))
			return 0;
	if (a->n_rules >= ENF_AUDIT_RULES)
		return -E2BIG;
	r = rule_op(a, AUDIT_ADD_RULE, &k);
	if (r < 0 && r != -EEXIST)
		return r;
	a->rules[a->n_rules++] = k;
	return 0;
}

void enf_usb_audit_unwatch(struct enf_usb_audit *a, const char *kind, unsigned major,
			   unsigned minor)
{
	for (size_t i = 0; i < a->n_rules; i++)
		if (a->rules[i].major == major && a->rules[i].minor == minor &&
		    streq(a->rules[i].kind, kind)) {
			(void) rule_op(a, AUDIT_DEL_RULE, &a->rules[i]);
			a->rules[i] = a->rules[--a->n_rules];
			return;
		}
}

/* Joins a relative path with the process's working directory. */
static void full_path(char *path, const char *cwd)
{
	char joined[LIMIT_PATH];
	int n;

	if (path[0] == '/' || !cwd[0] || !path[0])
		return;
	n = snprintf(joined, sizeof(joined), "%s/%s", cwd, path);
	if (n > 0 && (size_t) n < sizeof(joined))
		memcpy(path, joined, (size_t) n + 1);
}

int enf_usb_audit_drain(struct enf_usb_audit *a, enf_usb_audit_fn fn, void *userdata)
{
	char *buf = a->buf, *cwd = a->cwd;

	for (;;) {
		ssize_t n = recv(a->log_fd, buf, sizeof(a->buf) - 1, 0);
		struct nlmsghdr *h = (struct nlmsghdr *) buf;
		struct enf_usb_audit_rec rec;
		char *text;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (errno == ENOBUFS)
				continue; /* the kernel dropped records: nothing to do but go on */
			return -errno;
		}
		if ((size_t) n < NLMSG_HDRLEN || h->nlmsg_len > (size_t) n ||
		    h->nlmsg_len < NLMSG_HDRLEN)
			continue;
		text = NLMSG_DATA(h);
		text[h->nlmsg_len - NLMSG_HDRLEN] = '\0';
		if (h->nlmsg_type == AUDIT_SYSCALL) {
			if (!strstr(text, "key=\"" KEY_PREFIX))
				continue;
			if (enf_usb_audit_parse(h->nlmsg_type, text, &rec) < 0 || !our_key(rec.key))
				continue;
			a->pending = true;
			a->serial = rec.serial;
			cwd[0] = '\0';
			a->ev.syscall = rec.syscall;
			a->ev.success = rec.success;
			a->ev.exit = rec.exit;
			a->ev.pid = rec.pid;
			a->ev.uid = rec.uid;
			a->ev.auid = rec.auid;
			memcpy(a->ev.comm, rec.comm, sizeof(rec.comm));
			memcpy(a->ev.exe, rec.exe, sizeof(rec.exe));
			a->ev.n_paths = 0;
			continue;
		}
		if (!a->pending || (h->nlmsg_type != AUDIT_PATH && h->nlmsg_type != AUDIT_CWD &&
				    h->nlmsg_type != AUDIT_EOE))
			continue;
		if (enf_usb_audit_parse(h->nlmsg_type, text, &rec) < 0 || rec.serial != a->serial)
			continue;
		if (h->nlmsg_type == AUDIT_CWD) {
			memcpy(cwd, rec.cwd, sizeof(a->cwd));
		} else if (h->nlmsg_type == AUDIT_PATH && a->ev.n_paths < ENF_USB_AUDIT_PATHS) {
			struct enf_usb_audit_path *p = &a->ev.paths[a->ev.n_paths++];

			memcpy(p->name, rec.name, sizeof(rec.name));
			p->dev_major = rec.dev_major;
			p->dev_minor = rec.dev_minor;
			p->rdev_major = rec.rdev_major;
			p->rdev_minor = rec.rdev_minor;
			p->mode = rec.mode;
			p->parent = rec.parent;
		} else if (h->nlmsg_type == AUDIT_EOE) {
			a->pending = false;
			for (size_t i = 0; i < a->ev.n_paths; i++)
				full_path(a->ev.paths[i].name, cwd);
			fn(userdata, &a->ev);
		}
	}
}

const char *enf_usb_audit_syscall_name(long nr)
{
	static const struct {
		long nr;
		const char *name;
	} names[] = {
#ifdef SYS_open
		{SYS_open, "open"},
#endif
#ifdef SYS_creat
		{SYS_creat, "creat"},
#endif
#ifdef SYS_mkdir
		{SYS_mkdir, "mkdir"},
#endif
#ifdef SYS_rmdir
		{SYS_rmdir, "rmdir"},
#endif
#ifdef SYS_rename
		{SYS_rename, "rename"},
#endif
#ifdef SYS_unlink
		{SYS_unlink, "unlink"},
#endif
#ifdef SYS_link
		{SYS_link, "link"},
#endif
#ifdef SYS_symlink
		{SYS_symlink, "symlink"},
#endif
#ifdef SYS_mknod
		{SYS_mknod, "mknod"},
#endif
		{SYS_openat, "openat"},
#ifdef SYS_openat2
		{SYS_openat2, "openat2"},
#endif
		{SYS_mkdirat, "mkdirat"},     {SYS_unlinkat, "unlinkat"},
		{SYS_renameat2, "renameat2"}, {SYS_linkat, "linkat"},
		{SYS_symlinkat, "symlinkat"}, {SYS_mknodat, "mknodat"},
		{SYS_truncate, "truncate"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return NULL;
}
