/*
 * The agent's state directory (docs/agent.md, "State directory"): agent.conf, the key and
 * certificates, status.json, and the helpers every writer of it uses. Files are replaced
 * atomically (temporary file, fsync when it matters, rename), so a reader or a crash never
 * sees half a file. agent.conf and status.json are parsed as outside input: an
 * administrator edits the first, and either may be damaged on disk; both parsers have fuzz
 * targets.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "agent/daemon.h"
#include "lib/buf.h"
#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"

char *state_path(const char *dir, const char *name)
{
	return mm_asprintf("%s/%s", dir, name);
}

void state_conf_done(struct agent_conf *c)
{
	mm_free(c->server);
	mm_free(c->host_id);
	mm_free(c->ca_fingerprint);
	*c = (struct agent_conf){0};
}

int state_size_parse(const char *s, uint64_t *ret)
{
	_cleanup_(freep) char *num = NULL;
	uint64_t v, mult = 1;
	size_t n = strlen(s);
	int r;

	if (n == 0 || n > 32)
		return -EINVAL;
	switch (s[n - 1]) {
	case 'K':
	case 'k':
		mult = 1024;
		break;
	case 'M':
	case 'm':
		mult = (uint64_t) 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mult = (uint64_t) 1024 * 1024 * 1024;
		break;
	default:
		break;
	}
	num = mm_strndup(s, mult > 1 ? n - 1 : n);
	if (!num)
		return -ENOMEM;
	r = str_to_u64(num, 10, &v);
	if (r < 0)
		return r;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

int state_fingerprint_normalize(const char *in, char ret[65])
{
	const char *p = in;
	char out[65];
	size_t n = 0;

	if (str_startswith(p, "sha256:") || str_startswith(p, "SHA256:") ||
	    str_startswith(p, "sha256=") || str_startswith(p, "SHA256="))
		p += 7;
	for (; *p; p++) {
		char c = *p;

		if (c == ':' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char) (c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n >= 64)
			return -EINVAL;
		out[n++] = c;
	}
	if (n != 64)
		return -EINVAL;
	out[64] = '\0';
	memcpy(ret, out, 65);
	return 0;
}

static bool valid_url(const char *s)
{
	size_t n = strlen(s);

	if (!str_startswith(s, "https://") || n <= 8 || n > LIMIT_URL)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

/* One "key = value" line; records what is wrong with it in d. */
static int conf_line(struct agent_conf *c, const char *file, unsigned line, const char *key,
		     char *value, unsigned *seen, struct diag *d)
{
	static const char *const keys[] = {"server",    "host_id",    "ca_fingerprint",
					   "spool_max", "drain_rate", "log_level"};
	size_t k;
	char fp[65];
	uint64_t u;
	int r;

	for (k = 0; k < ARRAY_SIZE(keys); k++)
		if (streq(key, keys[k]))
			break;
	if (k == ARRAY_SIZE(keys)) {
		diag_error(d, file, line, 1, "unknown key '%s'", key);
		return 0;
	}
	if (*seen & (1u << k)) {
		diag_error(d, file, line, 1, "'%s' is set twice", key);
		return 0;
	}
	*seen |= 1u << k;
	switch (k) {
	case 0:
		while (strlen(value) > 8 && value[strlen(value) - 1] == '/')
			value[strlen(value) - 1] = '\0';
		if (!valid_url(value)) {
			diag_error(d, file, line, 1, "server: expected an https:// URL, not '%s'",
				   value);
			return 0;
		}
		c->server = mm_strdup(value);
		return c->server ? 0 : -ENOMEM;
	case 1:
		if (!proto_valid_host_id(value)) {
			diag_error(d, file, line, 1,
				   "host_id: expected letters, digits and '-', at most %u",
				   LIMIT_HOST_ID);
			return 0;
		}
		c->host_id = mm_strdup(value);
		return c->host_id ? 0 : -ENOMEM;
	case 2:
		if (state_fingerprint_normalize(value, fp) < 0) {
			diag_error(
				d, file, line, 1,
				"ca_fingerprint: expected a SHA-256 fingerprint (64 hex digits)");
			return 0;
		}
		c->ca_fingerprint = mm_strdup(fp);
		return c->ca_fingerprint ? 0 : -ENOMEM;
	case 3:
		r = state_size_parse(value, &u);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || u < AGENT_SPOOL_MAX_MIN || u > AGENT_SPOOL_MAX_MAX) {
			diag_error(d, file, line, 1,
				   "spool_max: expected a size between 16K and 64G, like 256M");
			return 0;
		}
		c->spool_max = u;
		return 0;
	case 4:
		r = str_to_u64(value, 10, &u);
		if (r < 0 || u < 1 || u > AGENT_DRAIN_RATE_MAX) {
			diag_error(d, file, line, 1,
				   "drain_rate: expected batches per second, 1 to %u",
				   AGENT_DRAIN_RATE_MAX);
			return 0;
		}
		c->drain_rate = (unsigned) u;
		return 0;
	default:
		r = log_level_from_string(value);
		if (r < 0) {
			diag_error(d, file, line, 1,
				   "log_level: expected error, warning, notice, info or debug");
			return 0;
		}
		c->log_level = r;
		return 0;
	}
}

int state_conf_parse(char *text, const char *file, struct agent_conf *ret, struct diag *d)
{
	struct agent_conf c = {.spool_max = AGENT_SPOOL_MAX_DEFAULT,
			       .drain_rate = AGENT_DRAIN_RATE_DEFAULT,
			       .log_level = LOG_INFO};
	unsigned line = 0, seen = 0;
	size_t errors = d->n_errors;
	char *cursor = text, *l;
	int r;

	while ((l = str_next_line(&cursor))) {
		char *eq, *key;

		line++;
		l = str_strip(l);
		if (!*l || *l == '#')
			continue;
		if (!str_is_clean_utf8(l, strlen(l))) {
			diag_error(d, file, line, 1, "not text (control characters or bad UTF-8)");
			continue;
		}
		eq = strchr(l, '=');
		if (!eq) {
			diag_error(d, file, line, 1, "expected 'key = value'");
			continue;
		}
		*eq = '\0';
		key = str_strip(l);
		r = conf_line(&c, file, line, key, str_strip(eq + 1), &seen, d);
		if (r < 0) {
			state_conf_done(&c);
			return r;
		}
	}
	if (!(seen & 1u))
		diag_error(d, file, 0, 0, "server is not set");
	if (!(seen & 2u))
		diag_error(d, file, 0, 0, "host_id is not set");
	if (d->n_errors > errors || d->oom) {
		state_conf_done(&c);
		return d->oom ? -ENOMEM : -EINVAL;
	}
	*ret = c;
	return 0;
}

int state_conf_load(const char *dir, struct agent_conf *ret)
{
	_cleanup_(freep) char *path = state_path(dir, STATE_CONF), *text = NULL;
	struct diag d;
	int r;

	if (!path)
		return -ENOMEM;
	r = fileio_read(NULL, path, LIMIT_CONFIG_FILE, &text, NULL);
	if (r == -ENOENT)
		return r;
	if (r < 0) {
		log_error("(M2010) cannot read %s: %s", path, strerror(-r));
		return r;
	}
	diag_init(&d);
	r = state_conf_parse(text, path, ret, &d);
	for (size_t i = 0; i < d.n; i++) {
		_cleanup_(freep) char *msg = diag_format(&d.entries[i]);

		log_error("(M2011) %s", msg ? msg : "out of memory");
	}
	diag_done(&d);
	return r;
}

int state_conf_format(const struct agent_conf *c, char **ret)
{
	struct buf b;
	int r;

	buf_init(&b, LIMIT_CONFIG_FILE);
	r = buf_addf(&b,
		     "# mamori-agent configuration (docs/agent.md). Written by `mamori-agent "
		     "enroll`;\n# spool_max, drain_rate and log_level may be added by hand.\n"
		     "server = %s\nhost_id = %s\n",
		     c->server, c->host_id);
	if (r == 0 && c->ca_fingerprint)
		r = buf_addf(&b, "ca_fingerprint = %s\n", c->ca_fingerprint);
	if (r == 0 && c->spool_max && c->spool_max != AGENT_SPOOL_MAX_DEFAULT)
		r = buf_addf(&b, "spool_max = %" PRIu64 "\n", c->spool_max);
	if (r == 0 && c->drain_rate && c->drain_rate != AGENT_DRAIN_RATE_DEFAULT)
		r = buf_addf(&b, "drain_rate = %u\n", c->drain_rate);
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = buf_take(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

int state_write_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
		       bool durable)
{
	_cleanup_(freep) char *tmp = mm_asprintf("%s/.%s.XXXXXX", dir, name);
	_cleanup_(freep) char *path = state_path(dir, name);
	_cleanup_(closep) int fd = -1;
	const char *p = data;
	size_t left = len;
	int r = 0;

	if (!tmp || !path)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	while (r == 0 && left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else {
			p += n;
			left -= (size_t) n;
		}
	}
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void) unlink(tmp);
		return r;
	}
	if (durable) {
		_cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || fsync(dfd) < 0)
			return -errno;
	}
	return 0;
}

int state_check_secrecy(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	return 0;
}

int state_dir_prepare(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

int state_cert_fingerprint(const char *pem, size_t len, char ret[65])
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *) pem, (unsigned) len};
	unsigned char md[32];
	size_t n = sizeof(md);
	int r = -EBADMSG;

	if (len > LIMIT_PEM)
		return -E2BIG;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md, &n) >= 0 && n == 32) {
		str_hex(md, 32, ret);
		r = 0;
	}
	gnutls_x509_crt_deinit(crt);
	return r;
}

/* ---- status.json ---- */

int state_status_format(const struct agent_status *s, char **ret)
{
	_cleanup_(json_decrefp) json_t *o = NULL;

	o = json_pack("{s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "updated",
		      (json_int_t) s->updated, "pid", (json_int_t) s->pid, "running", s->running,
		      "last_checkin", (json_int_t) s->last_checkin, "last_upload",
		      (json_int_t) s->last_upload, "next_checkin", (json_int_t) s->next_checkin,
		      "backoff_until", (json_int_t) s->backoff_until, "failures",
		      (json_int_t) s->failures, "checkin_interval",
		      (json_int_t) s->checkin_interval, "inventory_interval",
		      (json_int_t) s->inventory_interval, "last_error", s->last_error,
		      "inventory_digest", s->inventory_digest);
	if (!o)
		return -ENOMEM;
	*ret = jsonw_dump(o);
	return *ret ? 0 : -ENOMEM;
}

static int get_time(json_t *o, const char *key, int64_t *ret, struct jsonw_error *err)
{
	int r = jsonw_get_int(o, key, false, 0, INT64_MAX, ret, err);

	return r == -ENOENT ? 0 : r;
}

static int get_text(json_t *o, const char *key, char *out, size_t size, struct jsonw_error *err)
{
	const char *s;
	int r = jsonw_get_string(o, key, false, &s, err);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (strlen(s) >= size)
		return jsonw_fail(err, "field '%s': longer than %zu bytes", key, size - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int state_status_parse(const char *text, size_t len, struct agent_status *ret,
		       struct jsonw_error *err)
{
	_cleanup_(json_decrefp) json_t *o = NULL;
	struct agent_status s = {0};
	int r;

	r = jsonw_parse(text, len, LIMIT_CONFIG_FILE, &o, err);
	if (r < 0)
		return r;
	if (!json_is_object(o))
		return jsonw_fail(err, "status.json is not a JSON object");
	r = jsonw_get_int(o, "updated", true, 0, INT64_MAX, &s.updated, err);
	if (r == 0)
		r = jsonw_get_bool(o, "running", true, &s.running, err);
	if (r == 0)
		r = jsonw_get_int(o, "pid", false, 0, INT32_MAX, &s.pid, err);
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = get_time(o, "last_checkin", &s.last_checkin, err);
	if (r == 0)
		r = get_time(o, "last_upload", &s.last_upload, err);
	if (r == 0)
		r = get_time(o, "next_checkin", &s.next_checkin, err);
	if (r == 0)
		r = get_time(o, "backoff_until", &s.backoff_until, err);
	if (r == 0)
		r = get_time(o, "failures", &s.failures, err);
	if (r == 0)
		r = get_time(o, "checkin_interval", &s.checkin_interval, err);
	if (r == 0)
		r = get_time(o, "inventory_interval", &s.inventory_interval, err);
	if (r == 0)
		r = get_text(o, "last_error", s.last_error, sizeof(s.last_error), err);
	if (r == 0)
		r = get_text(o, "inventory_digest", s.inventory_digest, sizeof(s.inventory_digest),
			     err);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}
