/*
 * The live clamd probe: the one fact of the security section that is not read from a
 * file. clamd.conf and the process list say clamd should be running; only asking it says
 * it answers and which signature database it has loaded — which may be older than the
 * files on disk when a reload failed. The probe connects to clamd's LocalSocket (from
 * clamd.conf, as the antivirus part read it) and sends "zPING\0" and "zVERSION\0", each on
 * its own connection, as clamdscan does.
 *
 * It runs only when the inventory is of this machine (--root /), or when a test names a
 * socket (col_ctx.clamd_socket): a fixture tree's clamd.conf names a socket of the machine
 * running the test, not of the tree. Each exchange is bounded by CLAMD_TIMEOUT_MS and
 * CLAMD_REPLY_MAX bytes; a clamd that does not answer in time counts as not running.
 *
 * Result: security.antivirus.clamav.clamd_probe = {"socket", "running", "version",
 * "daily_version", "daily_time_text", "daily_build_time", "error"} (docs/inventory.md).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define CLAMD_TIMEOUT_MS 1000
#define CLAMD_REPLY_MAX  1024

static int64_t now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until deadline; -ETIMEDOUT past it. */
static int wait_for(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int) left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Sends one "z"-command (NUL-terminated, as clamd's z-protocol wants) and reads the answer
 * up to its NUL into reply. Returns 0, or -errno: -ENOENT/-ECONNREFUSED when nothing
 * listens, -ETIMEDOUT, -E2BIG for an answer past CLAMD_REPLY_MAX, -EPROTO when clamd
 * closed without a full answer.
 */
static int ask(const char *path, const char *cmd, char reply[CLAMD_REPLY_MAX])
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int64_t deadline = now_ms() + CLAMD_TIMEOUT_MS;
	_cleanup_(closep) int fd = -1;
	size_t len = 0, cmd_len = strlen(cmd) + 1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (errno != EINPROGRESS && errno != EAGAIN)
			return -errno;
		r = wait_for(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -errno;
		if (err)
			return -err;
	}
	for (size_t sent = 0; sent < cmd_len;) {
		ssize_t n = send(fd, cmd + sent, cmd_len - sent, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = wait_for(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		sent += (size_t) n;
	}
	for (;;) {
		ssize_t n;

		r = wait_for(fd, POLLIN, deadline);
		if (r < 0)
			return r;
		n = recv(fd, reply + len, CLAMD_REPLY_MAX - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPROTO;
		if (memchr(reply + len, '\0', (size_t) n))
			return 0;
		len += (size_t) n;
		reply[len] = '\0';
		if (len >= CLAMD_REPLY_MAX - 1)
			return -E2BIG;
	}
}

int col_clamd_parse_version(const char *reply, struct clamd_version *ret)
{
	const char *p = str_startswith(reply, "ClamAV "), *slash, *slash2;
	struct clamd_version v = {.daily_version = 0, .daily_time = -1};
	char num[24];
	struct tm tm = {0};
	const char *end;

	if (!p || !*p)
		return -EBADMSG;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	if ((size_t) (slash - p) >= sizeof(v.engine) || slash == p)
		return -EBADMSG;
	memcpy(v.engine, p, (size_t) (slash - p));
	v.engine[slash - p] = '\0';
	if (!str_is_clean_utf8(v.engine, strlen(v.engine)))
		return -EBADMSG;
	if (*slash == '/') {
		slash2 = strchr(slash + 1, '/');
		if (!slash2 || (size_t) (slash2 - slash - 1) >= sizeof(num))
			return -EBADMSG;
		memcpy(num, slash + 1, (size_t) (slash2 - slash - 1));
		num[slash2 - slash - 1] = '\0';
		if (str_to_u64(num, 10, &v.daily_version) < 0)
			return -EBADMSG;
		(void) snprintf(v.time_text, sizeof(v.time_text), "%s", slash2 + 1);
		/* clamd writes the daily database's time as ctime() does, without the newline */
		end = strptime(v.time_text, "%a %b %d %H:%M:%S %Y", &tm);
		if (end && !*str_strip((char *) end))
			v.daily_time = (int64_t) timegm(&tm);
		if (!str_is_clean_utf8(v.time_text, strlen(v.time_text)))
			v.time_text[0] = '\0';
	}
	*ret = v;
	return 0;
}

/* The build time of the root's daily database of that version (exact, from its header),
 * else -1: clamd prints its time in its own time zone, which we cannot know. */
static int64_t daily_build_time(const json_t *clamav, uint64_t version)
{
	const json_t *defs = json_object_get(clamav, "definitions"), *d;
	size_t i;

	json_array_foreach (defs, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));

		if (name && streq(name, "daily") &&
		    json_integer_value(json_object_get(d, "version")) == (json_int_t) version &&
		    json_is_integer(json_object_get(d, "build_time")))
			return json_integer_value(json_object_get(d, "build_time"));
	}
	return -1;
}

static int probe(const char *path, const json_t *clamav, json_t *out)
{
	char reply[CLAMD_REPLY_MAX];
	struct clamd_version v = {.daily_version = 0};
	int r;

	r = ask(path, "zPING", reply);
	if (r == 0 && !streq(reply, "PONG"))
		r = -EPROTO;
	if (r < 0) {
		const char *why = r == -ETIMEDOUT ? "no answer within 1 s"
				  : r == -EPROTO  ? "did not answer PONG"
						  : strerror(-r);

		return jsonw_set(out, "running", json_false()) < 0 ||
				       jsonw_set(out, "error", json_string(why)) < 0
			       ? -ENOMEM
			       : 0;
	}
	if (jsonw_set(out, "running", json_true()) < 0)
		return -ENOMEM;
	r = ask(path, "zVERSION", reply);
	if (r == 0)
		r = col_clamd_parse_version(reply, &v);
	if (r < 0)
		return jsonw_set(out, "error",
				 json_string(r == -EBADMSG ? "unexpected VERSION answer"
							   : "no VERSION answer")) < 0
			       ? -ENOMEM
			       : 0;
	if (jsonw_set(out, "version", json_string(v.engine)) < 0)
		return -ENOMEM;
	if (v.daily_version > 0) {
		int64_t t = daily_build_time(clamav, v.daily_version);

		if (t < 0)
			t = v.daily_time;
		if (jsonw_set(out, "daily_version", json_integer((json_int_t) v.daily_version)) <
			    0 ||
		    jsonw_set(out, "daily_time_text",
			      *v.time_text ? json_string(v.time_text) : json_null()) < 0 ||
		    jsonw_set(out, "daily_build_time", t >= 0 ? json_integer(t) : json_null()) < 0)
			return -ENOMEM;
	}
	return 0;
}

int col_clamd_collect(const struct col_ctx *ctx, json_t *clamav)
{
	const char *path = ctx->clamd_socket;
	json_t *out;

	if (!path) {
		if (!streq(ctx->root, "/"))
			return 0; /* a tree's clamd.conf names a socket of another machine */
		path = json_string_value(
			json_object_get(json_object_get(clamav, "clamd_conf"), "local_socket"));
		if (!path && !json_is_true(json_object_get(clamav, "clamd_installed")))
			return 0;
	}
	out = json_pack("{s:s?, s:n, s:n, s:n, s:n, s:n, s:n}", "socket", path, "running",
			"version", "daily_version", "daily_time_text", "daily_build_time", "error");
	if (jsonw_set(clamav, "clamd_probe", out) < 0)
		return -ENOMEM;
	if (!path)
		return jsonw_set(out, "error", json_string("clamd.conf names no LocalSocket"));
	return probe(path, clamav, out);
}
