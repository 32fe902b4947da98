/*
 * The monitors' private declarations: constructors, the parsers they expose for unit tests
 * and fuzz targets, the privileged operations they need (struct mon_priv), the collection
 * profile every monitor is configured from, and the helpers they share (procinfo.c).
 *
 * Why a header beside agent/monitor.h: monitor.h is the fixed interface the event loop
 * drives; this one holds what is particular to the Linux monitors, so the daemon includes
 * it only where it builds them (docs/internals/monitors.md).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/monitor.h"
#include "lib/collection.h"
#include "lib/diag.h"
#include "lib/limits.h"
#include "lib/macro.h"

/* ---- what a monitor asks of a more privileged process (mon_priv.c) ---- */

/* A kernel file-system id, as fanotify and statfs(2) report it. */
struct mon_fsid {
	int32_t val[2];
};

enum mon_fan_op {
	MON_FAN_MARK_TREE = 1, /* inode marks on path and every directory below it */
	MON_FAN_MARK_FS = 2,   /* one mark on the whole file system holding path */
	MON_FAN_UNMARK_FS = 3, /* removes a MON_FAN_MARK_FS mark */
	MON_FAN_FLUSH = 4,     /* removes every inode mark (path unused) */
	MON_FAN_MARK_NEW = 5,  /* MARK_TREE for a directory just made, saying what it holds */
};

/*
 * The privileged operations the monitors need, as a table of functions: the daemon's
 * worker fills it with requests to the privileged parent (docs/internals/privsep.md); a
 * process running as root uses mon_priv_direct_new(), which does them in place. Every
 * operation takes only typed values and a path; none runs a program.
 */
struct mon_priv {
	/*
	 * Reads /proc/PID/exe and /proc/PID/cwd and opens the executable read-only (for its
	 * hash). Each ret_* is optional; what could not be read is left NULL (or -1) and the
	 * call still succeeds with the rest. -ESRCH when the process is gone.
	 */
	int (*proc_links)(struct mon_priv *p, int pid, char **ret_exe, char **ret_cwd,
			  int *ret_exe_fd);
	/*
	 * Places or removes fanotify marks (op) with mask for the group the monitor reads.
	 * MARK_TREE: path may be a shell glob; every directory it matches and all below them
	 * on the same file system are marked (symlinks not followed), at most max_marks: past
	 * them -E2BIG, with those marked kept. MARK_FS: -EOPNOTSUPP, -ENODEV or -EXDEV when
	 * the file system cannot be marked whole (its file handles cannot be decoded, as on
	 * exFAT): the caller marks the tree instead. Both return the number of marks placed
	 * and the file system's id in *fsid (optional). UNMARK_FS: *fsid (in) names the file
	 * system (path is only for the log). FLUSH: every inode mark. MARK_NEW: MARK_TREE of a
	 * directory that just appeared, plus, in *ret_found (a NULL-terminated list the caller
	 * frees with fileio_strv_free()), what was already in it: entries made before the
	 * marks were in place, which no event will report (directories end with '/'; at most
	 * LIMIT_FANOTIFY_FOUND, past them the list ends with "…").
	 */
	int (*fan_mark)(struct mon_priv *p, enum mon_fan_op op, const char *path, uint64_t mask,
			unsigned max_marks, struct mon_fsid *fsid, char ***ret_found);
	/* The path of the directory named by a file handle on file system fsid (one that was
	 * marked), in *ret (the caller's). -ESTALE when it no longer exists. */
	int (*fan_handle_path)(struct mon_priv *p, const struct mon_fsid *fsid, int handle_type,
			       const void *handle, size_t handle_len, char **ret);
	/* Opens a file a monitor follows (wtmp, btmp, auth.log) read-only, non-blocking. */
	int (*open_file)(struct mon_priv *p, const char *path, int *ret_fd);
	void *userdata;
};

/*
 * A mon_priv that does everything in this process (which must be root, or hold
 * CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, for other users' processes and files). fan_fd
 * is the fanotify group marks are placed on (borrowed; -1 when no fanotify monitor runs).
 * NULL on allocation failure. Free with mon_priv_direct_free().
 */
struct mon_priv *mon_priv_direct_new(int fan_fd);
void mon_priv_direct_free(struct mon_priv *p);
/* Only for tests: make MON_FAN_MARK_FS fail with -EOPNOTSUPP, as on exFAT, so the
 * tree-of-marks fallback and its handle table run on any file system. */
void mon_priv_direct_refuse_fs_marks(struct mon_priv *p, bool refuse);

/* ---- the collection profile (collection.c) ---- */

/* struct collection, collection_parse() and friends: lib/collection.h (shared with the
 * server and mamorictl, which check a profile with the same code). */

/*
 * Writes, in plain words for the person using the machine, what is and is not collected
 * (lang "ja" or "en"). Returns 0 or -EIO.
 */
int collection_print(const struct collection *c, const char *lang, FILE *f) _wur_;

/* The language for collection_print() from the environment (LC_ALL, LC_MESSAGES, LANG):
 * "ja" for a Japanese locale, "en" otherwise. */
const char *collection_lang_from_env(void);

/*
 * `mamori-agent status --collection [--policy FILE] [--lang ja|en]`: prints what this
 * machine's policy (or the standard profile, when none was received yet) collects.
 * Returns an exit status.
 */
int collection_status_main(int argc, char **argv);

/* ---- who did it: processes and users (procinfo.c) ---- */

struct procinfo {
	int pid;
	int ppid;             /* -1 when unknown */
	int64_t uid;          /* real uid, -1 when unknown */
	int64_t euid;         /* effective uid, -1 when unknown */
	int64_t loginuid;     /* the login session's uid; -1 when unset or unknown */
	uint64_t start_ticks; /* start time in clock ticks after boot, 0 when unknown */
	char *exe;            /* may be NULL; " (deleted)" suffix removed, see exe_deleted */
	bool exe_deleted;
	char *cwd;     /* may be NULL */
	char *cmdline; /* NULs turned to spaces, at most LIMIT_CMDLINE bytes; may be NULL */
	bool cmdline_truncated;
	int exe_fd; /* -1 unless asked for and opened */
	bool gone;  /* the process ended (or its pid was reused) before all was read */
};

enum {
	PROCINFO_CMDLINE = 1 << 0,
	PROCINFO_EXE_FD = 1 << 1,
	PROCINFO_CWD = 1 << 2,
};

/*
 * Reads what /proc (proc_root, "/proc" in production) tells about pid, and exe/cwd
 * through priv. what: PROCINFO_* bits. not_after_ticks (0 to skip the check): a process
 * that started later than that is not the one meant (its pid was reused) and counts as
 * gone. Never fails for a vanished process: ret->gone says so and the fields read so far
 * stay. Returns 0 or -ENOMEM. Release with procinfo_done().
 */
int procinfo_read(const char *proc_root, struct mon_priv *priv, int pid, unsigned what,
		  uint64_t not_after_ticks, struct procinfo *ret) _wur_;
void procinfo_done(struct procinfo *pi);

/*
 * Parses /proc/PID/stat (modified in place): the parent pid and the start time. The
 * command name in parentheses may hold anything, spaces and ')' included. -EBADMSG.
 */
int procinfo_parse_stat(char *text, int *ret_ppid, uint64_t *ret_start_ticks) _wur_;
/* Parses /proc/PID/status: real and effective uid. -EBADMSG when the Uid: line is bad. */
int procinfo_parse_status(char *text, int64_t *ret_uid, int64_t *ret_euid) _wur_;
/*
 * A command line as recorded: the NUL-separated arguments joined by spaces, trailing NULs
 * dropped, at most LIMIT_CMDLINE bytes; *ret_truncated when it was longer (len is what
 * was read, which the caller bounds at LIMIT_CMDLINE + 1 to know). New string or NULL.
 */
char *procinfo_cmdline(const char *raw, size_t len, bool *ret_truncated);

/*
 * The user name of uid (from the password database, cached), or NULL when it has none.
 * The string is borrowed until the next call.
 */
const char *procinfo_user_name(int64_t uid);

/*
 * Sets the fields of pi on an event object: pid, ppid, uid, user, euid and euser (when
 * they differ), login_uid and login_user (when set), exe, exe_deleted, cmdline,
 * cmdline_truncated, cwd (when read), gone. Returns 0 or -ENOMEM.
 */
int procinfo_to_json(const struct procinfo *pi, json_t *obj) _wur_;

/* ---- process starts (mon_proc.c) ---- */

/* One decoded process-connector event. */
struct mon_proc_event {
	unsigned what; /* PROC_EVENT_EXEC, _FORK, _EXIT … (linux/cn_proc.h) */
	int pid, tgid;
	int parent_pid, parent_tgid; /* fork */
	uint64_t timestamp_ns;       /* since boot */
	uint32_t exit_code, exit_signal;
	int err; /* PROC_EVENT_NONE: the kernel's answer to our LISTEN request */
};

typedef int (*mon_proc_fn)(const struct mon_proc_event *ev, void *userdata);

/*
 * Decodes a datagram read from the process connector: netlink messages, each a connector
 * message carrying one proc_event. Calls fn for each event (stops at fn's first negative
 * return, which it returns). Messages of other connector ids and netlink control
 * messages are skipped. Returns the number of events, or -EBADMSG for a malformed
 * datagram (events before the fault were delivered).
 */
int mon_proc_parse(const void *buf, size_t len, mon_proc_fn fn, void *userdata) _wur_;

/*
 * Opens the process connector (needs CAP_NET_ADMIN, so the privileged parent calls this)
 * subscribed to exec events. Returns 0 and the non-blocking descriptor in *ret_fd.
 */
int mon_proc_open_privileged(int *ret_fd) _wur_;

/*
 * The process monitor around fd (taken, closed on free). proc_root "/proc"; priv is
 * borrowed and must outlive the monitor. Emits process.start (docs/events.md).
 */
int mon_proc_new(int fd, const char *proc_root, struct mon_priv *priv, struct monitor **ret) _wur_;

/* Counters for tests and the benchmark. */
struct mon_proc_stats {
	uint64_t events, gone, hash_cache_hits, hashed_inline, hashed_deferred, hash_skipped,
		bytes_hashed;
};
void mon_proc_get_stats(const struct monitor *m, struct mon_proc_stats *ret);

/* SHA-256 of the whole file at fd (from offset 0), at most max bytes; -EFBIG past them. */
int mon_proc_hash_fd(int fd, uint64_t max, char ret_hex[65]) _wur_;

/* ---- file operations (mon_fanotify.c) ---- */

/* One fanotify record, decoded; pointers point into the buffer that was parsed. */
struct mon_fan_name {
	bool present;
	struct mon_fsid fsid;
	int handle_type;
	const void *handle;
	size_t handle_len;
	const char *name; /* NUL-terminated inside the buffer; "" or "." for the dir itself */
};

struct mon_fan_record {
	uint64_t mask; /* FAN_* bits */
	int pid;
	int fd;                  /* FAN_NOFD with FID reporting */
	struct mon_fan_name dir; /* FAN_EVENT_INFO_TYPE_DFID_NAME (or the rename's old side) */
	struct mon_fan_name to;  /* FAN_RENAME's new side */
};

/*
 * Decodes the first record of buf (what read(2) returned from a fanotify group with
 * FAN_REPORT_DFID_NAME). Returns the record's length (> 0; the caller advances by it) and
 * fills *ret, 0 when len is 0, or -EBADMSG for a malformed or truncated record (the rest
 * of the buffer cannot be trusted then).
 */
int mon_fanotify_parse(const void *buf, size_t len, struct mon_fan_record *ret) _wur_;

/*
 * Creates the fanotify group (needs CAP_SYS_ADMIN: the privileged parent calls this):
 * notification class, FAN_REPORT_DFID_NAME, non-blocking. Returns 0 and the fd.
 */
int mon_fanotify_open_privileged(int *ret_fd) _wur_;

/* The file monitor around fd (taken); priv borrowed, places its marks. */
int mon_fanotify_new(int fd, const char *proc_root, struct mon_priv *priv, struct monitor **ret)
	_wur_;

/*
 * Marks a mounted removable medium (the USB enforcer calls this when a stick's mount
 * appears): every file written, created, renamed or deleted on it is reported, with
 * "removable": true, the mount and device (a JSON object naming the device, borrowed and
 * copied; may be NULL). Returns 1 when marked, 0 when only remembered: the profile does not
 * collect removable media now (it is marked if a later policy does) or the kernel refused
 * the mark (logged). -EEXIST when the mount is known already, -E2BIG past
 * LIMIT_REMOVABLE_MOUNTS, -EINVAL for a relative path.
 */
int mon_fanotify_add_removable(struct monitor *m, const char *mount, const json_t *device) _wur_;
/* Forgets a removable mount (unmounted or ejected). -ENOENT when unknown. */
int mon_fanotify_remove_removable(struct monitor *m, const char *mount) _wur_;

/* Test seam: pair MOVED_FROM and MOVED_TO as on kernels before 5.17, which have no
 * FAN_RENAME. Call before the first configure(). */
void mon_fanotify_test_no_rename(struct monitor *m);
/* Test seam: the idle time after which a file being modified is reported without a close
 * (default 2000 ms) and the oldest such a report may wait (default 60000 ms). */
void mon_fanotify_set_flush(struct monitor *m, unsigned idle_ms, unsigned max_ms);

/* ---- logins (mon_login.c) ---- */

/* What an auth.log line (or a journal message) says. Strings point into the parsed text. */
enum mon_auth_kind {
	MON_AUTH_NONE = 0,
	MON_AUTH_SSH_ACCEPTED, /* login.success */
	MON_AUTH_SSH_FAILED,   /* login.failure */
	MON_AUTH_SSH_INVALID,  /* "Invalid user X from IP": login.failure */
	MON_AUTH_SUDO,         /* auth.sudo, allowed */
	MON_AUTH_SUDO_DENIED,  /* auth.sudo, not allowed (not in sudoers, command not allowed) */
	MON_AUTH_SUDO_FAILED,  /* auth.sudo, wrong password */
	MON_AUTH_SU,           /* auth.su, allowed */
	MON_AUTH_SU_FAILED,    /* auth.su, refused */
};

struct mon_auth {
	enum mon_auth_kind kind;
	const char *program; /* "sshd", "sudo", "su" */
	int pid;             /* the logging process, -1 when absent */
	const char *user;    /* who authenticated (sshd, sudo, su: the invoking user) */
	const char *target;  /* sudo USER=, su: the user switched to */
	const char *method;  /* sshd: "password", "publickey", "keyboard-interactive/pam" … */
	const char *host;    /* sshd: the remote address */
	unsigned port;       /* sshd: the remote port, 0 when absent */
	bool invalid_user;   /* sshd: no such user */
	const char *tty;     /* sudo TTY=, su "on pts/0" */
	const char *pwd;     /* sudo PWD= */
	const char *command; /* sudo COMMAND= */
	const char *reason;  /* sudo: "user NOT in sudoers", "3 incorrect password attempts" … */
	unsigned attempts;   /* sudo: incorrect password attempts, 0 when not said */
	int64_t time;        /* the line's time stamp (RFC 3339 only), Unix seconds; 0 unknown */
};

/*
 * Parses one syslog line of auth.log (traditional "Mmm dd hh:mm:ss host prog[pid]: msg" or
 * RFC 3339 "2024-11-25T19:45:01.123+09:00 host prog[pid]: msg"), modified in place.
 * Returns 1 and fills *ret for a line about sshd, sudo or su authentication, 0 for any other
 * line, -EBADMSG for a line that is not syslog at all.
 */
int mon_login_parse_auth_line(char *line, struct mon_auth *ret) _wur_;
/* The same for a message without the syslog prefix (from the journal): program and pid are
 * given. */
int mon_login_parse_auth_message(const char *program, int pid, char *msg, struct mon_auth *ret)
	_wur_;

/* Where the login monitor reads; NULL fields take the defaults (/var/log/wtmp …). */
struct mon_login_paths {
	const char *utmp; /* read once at start: the sessions open now */
	const char *wtmp;
	const char *btmp;
	const char *auth_log;
	bool journal; /* follow the journal instead of auth_log when auth_log is missing */
};

/* The login monitor (opens its own inotify descriptor; files through priv->open_file).
 * Starts at the end of each file: only what is appended from now on is reported. */
int mon_login_new(const struct mon_login_paths *paths, struct mon_priv *priv, struct monitor **ret)
	_wur_;

/* ---- network changes (mon_net.c) ---- */

/* What changed, decoded from one rtnetlink message. */
struct mon_net_link {
	int index;
	char name[16];
	char kind[32]; /* IFLA_INFO_KIND: "tun", "wireguard", "veth" … or "" */
	unsigned type; /* ARPHRD_* */
	unsigned flags;
	bool deleted;
};

struct mon_net_route {
	int family;
	unsigned table;
	unsigned dst_len;
	int oif;
	unsigned metric;
	char gateway[46]; /* "" when none */
	char dst[46];
	bool deleted;
};

enum mon_net_msg_kind {
	MON_NET_MSG_OTHER = 0,
	MON_NET_MSG_LINK = 1,
	MON_NET_MSG_ROUTE = 2,
	MON_NET_MSG_DONE = 3,  /* the end of a dump */
	MON_NET_MSG_ERROR = 4, /* NLMSG_ERROR, err in the link's index */
};

typedef int (*mon_net_fn)(enum mon_net_msg_kind kind, const struct mon_net_link *link,
			  const struct mon_net_route *route, void *userdata);

/*
 * Decodes an rtnetlink datagram (RTM_NEWLINK/DELLINK, RTM_NEWROUTE/DELROUTE, the end of a
 * dump, errors) and calls fn for each message. Returns the number of messages or -EBADMSG
 * (messages before the fault were delivered), or fn's first negative return.
 */
int mon_net_parse_rtnl(const void *buf, size_t len, mon_net_fn fn, void *userdata) _wur_;

/* Whether a link is a VPN tunnel: kind tun, wireguard, ppp, ipsec/xfrm, or a PPP type. */
bool mon_net_link_is_vpn(const struct mon_net_link *l);

/* Wi-Fi: what was joined. */
struct mon_wifi {
	char ssid[3 * 32 + 1]; /* as reported; arbitrary bytes, see ssid_len */
	size_t ssid_len;
	char bssid[18];       /* "aa:bb:cc:dd:ee:ff" or "" */
	const char *security; /* "open", "owe", "wep", "wpa", "wpa2", "wpa3", "wpa2-enterprise" … */
	unsigned frequency;   /* MHz, 0 when unknown */
};

/*
 * The security class of an access point from NetworkManager's AccessPoint properties
 * Flags, WpaFlags and RsnFlags (NM80211ApFlags and NM80211ApSecurityFlags).
 */
const char *mon_net_nm_security(uint32_t flags, uint32_t wpa_flags, uint32_t rsn_flags);

/*
 * Parses wpa_supplicant's reply to STATUS (key=value lines; text modified in place).
 * Returns 1 and fills *ret when it is associated (wpa_state=COMPLETED), 0 when not,
 * -EBADMSG for a reply without wpa_state.
 */
int mon_net_parse_wpa_status(char *text, struct mon_wifi *ret) _wur_;

/* Where the network monitor looks; NULL fields take the defaults. */
struct mon_net_paths {
	const char *resolv_conf;  /* /etc/resolv.conf */
	const char *wpa_dir;      /* /run/wpa_supplicant */
	const char *dbus_address; /* NULL: the system bus; "" to not use D-Bus at all */
};

int mon_net_new(const struct mon_net_paths *paths, struct monitor **ret) _wur_;
/* Benchmark seam: reads rtnetlink datagrams from fd (taken) instead of the kernel's socket. */
int mon_net_test_replace_rtnl(struct monitor *m, int fd) _wur_;

/* ---- the monitors across privilege separation (privsep_mon.c) ---- */

/* Operation numbers on the privsep channel, after privsep.c's own (docs/internals/
 * privsep.md). Append only. */
enum {
	PRIVSEP_OP_MON_PROC_LINKS = 16,
	PRIVSEP_OP_MON_FAN_MARK = 17,
	PRIVSEP_OP_MON_HANDLE_PATH = 18,
	PRIVSEP_OP_MON_OPEN_FILE = 19,
};

/* The worker's mon_priv: each operation is a request to the parent over chan (the privsep
 * channel). NULL on allocation failure. */
struct mon_priv *privsep_mon_worker_new(int chan);
void privsep_mon_worker_free(struct mon_priv *p);

/* The parent, once separated: its operations run on fan_fd (its copy of the fanotify
 * group, -1 when there is none). */
void privsep_mon_parent_init(int fan_fd);
/* Whether op is one of the monitors' operations. */
bool privsep_mon_op(uint32_t op);
/* The longest request the parent must be ready to receive. */
#define PRIVSEP_MON_REQUEST_MAX ((size_t) 64 + LIMIT_PATH)
/*
 * The parent's side of one monitor request of n bytes (already received): does it and
 * answers on fd. Returns 0, 1 when the channel broke, or -EPROTO for a malformed request,
 * with why filled: the caller treats it as fatal.
 */
int privsep_mon_parent_dispatch(int fd, const void *msg, size_t n, const char *root, char *why,
				size_t why_size) _wur_;

/* ---- the daemon's set of monitors (mon_set.c) ---- */

struct mon_set;
struct spool;

/*
 * Before privilege separation, as root: opens the process connector and the fanotify
 * group (a source that cannot be opened is logged and its monitor does not run; not root,
 * neither is opened). The parent keeps the fanotify group after the fork (privsep_start
 * calls mon_set_parent_side()). Returns 0 or -ENOMEM.
 */
int mon_set_open_privileged(struct mon_set **ret) _wur_;
/* In the privileged parent after the fork: keeps what it needs of the set opened (the
 * fanotify group, for marks), closes the rest, and readies privsep_mon's parent side. */
void mon_set_parent_side(void);

/*
 * In the daemon (the worker when separated): builds the monitors around the descriptors,
 * configures them from STATE_DIR/policy.json when the daemon saved one (the standard
 * profile otherwise), and adds them to epfd as loop sources. Their events go to sp, each
 * dispatch's events in one transaction, after which spooled(userdata) is called. chan is
 * the privsep channel (-1 when not separated). A monitor whose source breaks is dropped,
 * logged and reported as agent.monitor_failed. Returns 0 or -errno.
 */
int mon_set_start(struct mon_set *s, int epfd, int chan, struct spool *sp, const char *state_dir,
		  void (*spooled)(void *userdata), void *userdata) _wur_;
/* Applies a new policy to every monitor (the collection profile). */
int mon_set_configure(struct mon_set *s, const json_t *policy) _wur_;
/* The file monitor, for the USB enforcer to mark removable media; NULL when not running. */
struct monitor *mon_set_fanotify(struct mon_set *s);
struct mon_set *mon_set_free(struct mon_set *s);
