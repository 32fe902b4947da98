/*
 * The "listening" list of the network section: TCP sockets in the LISTEN state and bound,
 * unconnected UDP sockets, from /proc/net/{tcp,tcp6,udp,udp6}, each with the process that
 * holds it.
 *
 * The tables name a socket by inode; the owner is found by reading the /proc/PID/fd/N
 * links ("socket:[INODE]") of every process once, after the tables, and looking each link
 * up in a sorted array of the inodes wanted, so the cost is one readlink per open file
 * descriptor on the machine whatever the number of sockets. A socket shared by several
 * processes (a forking server) is reported with the lowest pid, usually the parent.
 * Processes whose fd directory cannot be read (another user's, as non-root) are counted
 * in processes_unreadable, not reported one by one.
 *
 * Addresses in these tables are host-order 32-bit words in hex; see
 * col_network_ip_decode_words(). User names come from the root's /etc/passwd.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define TCP_LISTEN_STATE 0x0Au
#define TCP_CLOSE_STATE  0x07u /* an unconnected UDP socket */
#define MAX_PROC_ERRORS  8u    /* odd /proc entries reported, the rest only counted */

/* "HEX:PORT" → address text, port; *ret_zero tells whether the address is all zeros. */
static int parse_endpoint(const char *s, int family, char out[INET6_ADDRSTRLEN], unsigned *ret_port,
			  bool *ret_zero)
{
	static const unsigned char zero[16];
	char hex[33];
	const char *colon = strchr(s, ':');
	unsigned char addr[16];
	uint64_t port;
	size_t len;

	if (!colon || (len = (size_t) (colon - s)) >= sizeof(hex))
		return -EBADMSG;
	memcpy(hex, s, len);
	hex[len] = '\0';
	if (col_network_ip_decode_words(hex, family, addr) < 0 || strlen(colon + 1) > 4 ||
	    strspn(colon + 1, "0123456789abcdefABCDEF") != strlen(colon + 1) ||
	    str_to_u64(colon + 1, 16, &port) < 0)
		return -EBADMSG;
	(void) inet_ntop(family, addr, out, INET6_ADDRSTRLEN);
	*ret_port = (unsigned) port;
	*ret_zero = memcmp(addr, zero, family == AF_INET ? 4 : 16) == 0;
	return 0;
}

/*
 * Parses one /proc/net/{tcp,tcp6,udp,udp6} table (protocol names which) and appends the
 * listening TCP (state 0A) or bound, unconnected UDP (state 07, no remote peer) sockets
 * to `listening` as {protocol, address, port, uid, inode}. Returns the number of
 * malformed lines, -EINVAL for an unknown protocol, -E2BIG past LIMIT_NET_ITEMS entries
 * (those before are kept) or -ENOMEM.
 */
int col_network_sockets_parse(char *text, const char *protocol, json_t *listening)
{
	bool v6, udp;
	char *cursor = text, *line;
	int bad = 0;

	if (!streq(protocol, "tcp") && !streq(protocol, "tcp6") && !streq(protocol, "udp") &&
	    !streq(protocol, "udp6"))
		return -EINVAL;
	v6 = str_endswith(protocol, "6");
	udp = protocol[0] == 'u';
	while ((line = str_next_line(&cursor))) {
		char *f[12], local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
		size_t n = 0;
		unsigned lport, rport, uid;
		uint64_t state, inode;
		bool lzero, rzero;
		char *p = line;

		/* split at white space: "   0: 0100007F:0277 00000000:0000 0A ..." */
		for (;;) {
			p += strspn(p, " \t\r");
			if (!*p)
				break;
			if (n < ARRAY_SIZE(f))
				f[n] = p;
			n++;
			p += strcspn(p, " \t\r");
			if (*p)
				*p++ = '\0';
		}
		if (n == 0 || streq(f[0], "sl"))
			continue;
		if (n < 10 || !str_endswith(f[0], ":") ||
		    strspn(f[0], "0123456789") + 1 != strlen(f[0]) ||
		    parse_endpoint(f[1], v6 ? AF_INET6 : AF_INET, local, &lport, &lzero) < 0 ||
		    parse_endpoint(f[2], v6 ? AF_INET6 : AF_INET, remote, &rport, &rzero) < 0 ||
		    strlen(f[3]) != 2 || str_to_u64(f[3], 16, &state) < 0 ||
		    str_to_uint(f[7], 10, &uid) < 0 || str_to_u64(f[9], 10, &inode) < 0 ||
		    inode > INT64_MAX) {
			bad++;
			continue;
		}
		if (udp ? state != TCP_CLOSE_STATE || !rzero || rport != 0
			: state != TCP_LISTEN_STATE)
			continue;
		if (lport == 0)
			continue;
		if (json_array_size(listening) >= LIMIT_NET_ITEMS)
			return -E2BIG;
		if (jsonw_append(listening,
				 json_pack("{s:s, s:s, s:i, s:I, s:I}", "protocol", protocol,
					   "address", local, "port", (int) lport, "uid",
					   (json_int_t) uid, "inode", (json_int_t) inode)) < 0)
			return -ENOMEM;
	}
	return bad;
}

/* An inode wanted and the lowest pid seen holding it (0: none yet). */
struct owner {
	uint64_t inode;
	long pid;
};

static int cmp_owner(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* Reads the fd links of one process and records it as owner of the wanted inodes. */
static int scan_fds(const struct col_ctx *ctx, const char *pid_s, long pid, struct owner *own,
		    size_t n, int *ret_errno)
{
	_cleanup_(freep) char *dir = mm_asprintf("/proc/%s/fd", pid_s), *full = NULL;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!dir || !(full = fileio_path(ctx->root, dir)))
		return -ENOMEM;
	d = opendir(full);
	if (!d) {
		*ret_errno = errno;
		return 0;
	}
	*ret_errno = 0;
	while ((de = readdir(d))) {
		_cleanup_(freep) char *path = NULL, *link = NULL;
		struct owner key, *hit;
		const char *num;
		char *end;

		if (de->d_name[0] == '.')
			continue;
		path = mm_asprintf("%s/%s", dir, de->d_name);
		if (!path) {
			r = -ENOMEM;
			break;
		}
		r = col_readlink(ctx, path, &link);
		if (r == -ENOMEM)
			break;
		r = 0;
		/* a link that vanished (the fd was closed) or is not a socket is no owner */
		if (!link || !(num = str_startswith(link, "socket:[")))
			continue;
		end = strchr(num, ']');
		if (!end || end[1] != '\0')
			continue;
		*end = '\0';
		if (str_to_u64(num, 10, &key.inode) < 0)
			continue;
		hit = bsearch(&key, own, n, sizeof(*own), cmp_owner);
		/* several entries may share an inode (tcp and tcp6 never do; be safe) */
		while (hit && hit > own && hit[-1].inode == key.inode)
			hit--;
		for (; hit && hit < own + n && hit->inode == key.inode; hit++)
			if (hit->pid == 0 || pid < hit->pid)
				hit->pid = pid;
	}
	(void) closedir(d);
	return r;
}

/* Scans every /proc/PID/fd once. */
static int scan_processes(const struct col_ctx *ctx, json_t *section, struct owner *own, size_t n,
			  unsigned *ret_unreadable)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, "/proc");
	unsigned unreadable = 0, reported = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!full)
		return -ENOMEM;
	d = opendir(full);
	if (!d)
		return col_error(section, "/proc", -errno, NULL);
	while ((de = readdir(d))) {
		uint64_t pid;
		int err;

		if (!all_digits(de->d_name) || str_to_u64(de->d_name, 10, &pid) < 0 || pid == 0 ||
		    pid > INT32_MAX)
			continue;
		r = scan_fds(ctx, de->d_name, (long) pid, own, n, &err);
		if (r < 0)
			break;
		if (err == 0 || err == ENOENT || err == ESRCH)
			continue; /* read, or the process has exited */
		unreadable++;
		if (err == EACCES || err == EPERM)
			continue;
		/* not a directory, or worse: a broken /proc, worth a word */
		if (reported++ < MAX_PROC_ERRORS) {
			char path[64];

			(void) snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
			r = col_error(section, path, -err, NULL);
			if (r < 0)
				break;
		}
	}
	(void) closedir(d);
	if (r < 0)
		return r;
	*ret_unreadable = unreadable;
	return 0;
}

/* uid → user name from the root's /etc/passwd, as an object keyed by the uid's text. */
static int read_users(const struct col_ctx *ctx, json_t *users)
{
	_cleanup_(freep) char *text = NULL;
	char *cursor, *line;
	int r = col_read_file(ctx, "/etc/passwd", LIMIT_LARGE_FILE, &text, NULL);

	if (r < 0)
		return r == -ENOMEM ? r : 0; /* names are a courtesy: uids stay */
	cursor = text;
	while ((line = str_next_line(&cursor))) {
		char *name = line, *c1 = strchr(line, ':'), *c2, *c3;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')) || !(c3 = strchr(c2 + 1, ':')))
			continue;
		*c1 = *c3 = '\0';
		if (!*name || !all_digits(c2 + 1) || strlen(c2 + 1) > 10 ||
		    !str_is_clean_utf8(name, strlen(name)) || json_object_get(users, c2 + 1))
			continue;
		if (json_object_size(users) >= LIMIT_NET_ITEMS)
			break;
		if (jsonw_set(users, c2 + 1, json_string(name)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Sets pid, comm and exe of one socket. */
static int describe_owner(const struct col_ctx *ctx, json_t *sock, long pid)
{
	_cleanup_(freep) char *p_comm = mm_asprintf("/proc/%ld/comm", pid);
	_cleanup_(freep) char *p_exe = mm_asprintf("/proc/%ld/exe", pid);
	_cleanup_(freep) char *comm = NULL, *exe = NULL;
	int r;

	if (!p_comm || !p_exe)
		return -ENOMEM;
	if (jsonw_set(sock, "pid", json_integer(pid)) < 0)
		return -ENOMEM;
	r = col_read_attr(ctx, p_comm, &comm);
	if (r == -ENOMEM)
		return r;
	if (r == 0 && *comm && str_is_clean_utf8(comm, strlen(comm)) &&
	    jsonw_set(sock, "comm", json_string(comm)) < 0)
		return -ENOMEM;
	/* exe is readable only for one's own processes unless root */
	r = col_readlink(ctx, p_exe, &exe);
	if (r == -ENOMEM)
		return r;
	if (r == 0 && *exe && str_is_clean_utf8(exe, strlen(exe)) &&
	    jsonw_set(sock, "exe", json_string(exe)) < 0)
		return -ENOMEM;
	return 0;
}

/* Adds owners and user names to the listening sockets. */
static int add_owners(const struct col_ctx *ctx, json_t *section, json_t *listening)
{
	size_t n = json_array_size(listening), i;
	_cleanup_(freep) struct owner *own = mm_reallocarray(NULL, n ? n : 1, sizeof(*own));
	_cleanup_(json_decrefp) json_t *users = json_object();
	unsigned unreadable = 0;
	json_t *e;
	int r;

	if (!own || !users)
		return -ENOMEM;
	if (n == 0) /* nothing to look for: spare the walk through /proc */
		return jsonw_set(section, "processes_unreadable", json_integer(0));
	json_array_foreach (listening, i, e) {
		own[i].inode = (uint64_t) json_integer_value(json_object_get(e, "inode"));
		own[i].pid = 0;
	}
	qsort(own, n, sizeof(*own), cmp_owner);
	r = scan_processes(ctx, section, own, n, &unreadable);
	if (r < 0)
		return r;
	r = read_users(ctx, users);
	if (r < 0)
		return r;
	json_array_foreach (listening, i, e) {
		struct owner key = {
			.inode = (uint64_t) json_integer_value(json_object_get(e, "inode"))};
		const struct owner *hit = bsearch(&key, own, n, sizeof(*own), cmp_owner);
		char uid[24];
		json_t *name;

		(void) snprintf(uid, sizeof(uid), "%" JSON_INTEGER_FORMAT,
				json_integer_value(json_object_get(e, "uid")));
		name = json_object_get(users, uid);
		if (name && jsonw_set(e, "user", json_incref(name)) < 0)
			return -ENOMEM;
		/* inode 0: a socket in a half-torn state, owned by nobody we can find */
		if (hit && hit->pid > 0 && key.inode != 0) {
			r = describe_owner(ctx, e, hit->pid);
			if (r < 0)
				return r;
		}
	}
	return jsonw_set(section, "processes_unreadable", json_integer(unreadable));
}

/*
 * Fills section "listening" (and "processes_unreadable") from the root's /proc. A table
 * that is missing is an error, except the IPv6 ones, which a kernel booted without IPv6
 * does not have. Returns 0 or -ENOMEM.
 */
int col_network_sockets_collect(const struct col_ctx *ctx, json_t *section)
{
	static const char *const protocols[] = {"tcp", "tcp6", "udp", "udp6"};
	json_t *listening = json_array();
	int r;

	if (jsonw_set(section, "listening", listening) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(protocols); i++) {
		_cleanup_(freep) char *path = mm_asprintf("/proc/net/%s", protocols[i]);
		_cleanup_(freep) char *text = NULL;
		const char *nul;
		size_t len;

		if (!path)
			return -ENOMEM;
		r = col_read_file(ctx, path, LIMIT_LARGE_FILE, &text, &len);
		if (r == -ENOMEM)
			return r;
		if (r == -ENOENT && str_endswith(protocols[i], "6"))
			continue;
		if (r < 0) {
			if (col_error(section, path, r, NULL) < 0)
				return -ENOMEM;
			continue;
		}
		nul = memchr(text, '\0', len);
		if (nul && col_error(section, path, 0,
				     "binary data (a NUL byte) at offset %zu: the rest was ignored",
				     (size_t) (nul - text)) < 0)
			return -ENOMEM;
		r = col_network_sockets_parse(text, protocols[i], listening);
		if (r == -ENOMEM)
			return r;
		if (r == -E2BIG)
			r = col_error(section, path, r,
				      "more than %u sockets: the rest were skipped",
				      LIMIT_NET_ITEMS);
		else if (r > 0)
			r = col_error(section, path, 0, "%d malformed lines skipped", r);
		if (r < 0)
			return -ENOMEM;
	}
	return add_owners(ctx, section, listening);
}
