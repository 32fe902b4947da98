/*
 * The server's configuration: defaults, the configuration file and the setters the
 * command line shares with it, so a value is validated the same way wherever it comes from.
 *
 * The file is "key = value" lines; blank lines and lines whose first non-blank character
 * is '#' are ignored; there are no trailing comments (a '#' inside a value is part of it)
 * and no quoting (values are trimmed). `name` may repeat; any other key set twice is an
 * error. The parser reads the whole file and reports every error with file:line (OpenBSD
 * parse.y's habit) before failing, so an administrator fixes the file in one go. Limits:
 * LIMIT_CONFIG_FILE for the file, LIMIT_LINE per line, CONFIG_NAMES_MAX names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "lib/fileio.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

enum setting_type {
	T_STRING,   /* a path */
	T_LISTEN,   /* HOST:PORT */
	T_STORE,    /* a store URL */
	T_NAME,     /* a certificate name; repeatable */
	T_CATALOG,  /* a catalogue override file; repeatable, in order */
	T_LEVEL,    /* a log level */
	T_COUNT,    /* an unsigned number in [min, max] */
	T_DURATION, /* seconds in [min, max], with an optional unit */
	T_TARGET,   /* HOST:PORT, the host a DNS name or an address */
	T_HOSTNAME, /* one DNS name or address */
	T_START,    /* "now" or "beginning" */
};

struct setting {
	const char *key;
	enum setting_type type;
	size_t offset;
	int64_t min, max;
};

#define S(k, t, field, lo, hi)                               \
	{                                                    \
		k, t, offsetof(struct config, field), lo, hi \
	}

static const struct setting settings[] = {
	S("state_dir", T_STRING, state_dir, 0, 0),
	S("agent_listen", T_LISTEN, agent_listen, 0, 0),
	S("api_listen", T_LISTEN, api_listen, 0, 0),
	S("store", T_STORE, store_url, 0, 0),
	S("name", T_NAME, names, 0, 0),
	S("catalog", T_CATALOG, catalogs, 0, 0),
	S("log_level", T_LEVEL, log_level, 0, 0),
	S("threads", T_COUNT, threads, 1, 64),
	S("max_connections", T_COUNT, max_connections, 1, 100000),
	S("connection_timeout", T_DURATION, connection_timeout, 1, 3600),
	S("agent_max_inflight", T_COUNT, agent_max_inflight, 1, 100000),
	S("retry_after", T_DURATION, retry_after, 1, 3600),
	S("shutdown_timeout", T_DURATION, shutdown_timeout, 0, 3600),
	S("checkin_interval", T_DURATION, checkin_interval, 10, 86400),
	S("inventory_interval", T_DURATION, inventory_interval, 60, (int64_t) 7 * 86400),
	S("retention_interval", T_DURATION, retention_interval, 10, 86400),
	S("siem_target", T_TARGET, siem_target, 0, 0),
	S("siem_ca", T_STRING, siem_ca, 0, 0),
	S("siem_name", T_HOSTNAME, siem_name, 0, 0),
	S("siem_start", T_START, siem_from_start, 0, 0),
	S("siem_interval", T_DURATION, siem_interval, 1, 3600),
	S("job_retry_interval", T_DURATION, job_retry_interval, 1, 3600),
	S("maintain_interval", T_DURATION, maintain_interval, 1, 86400),
};

#define RETENTION_PREFIX "retention."
#define RETENTION_MIN    3600                     /* an hour */
#define RETENTION_MAX    ((int64_t) 3650 * 86400) /* ten years */
#define RETENTION_TYPE   64u                      /* LIMIT_EVENT_TYPE */

#undef S

int config_init(struct config *c)
{
	*c = (struct config){
		.log_level = LOG_INFO,
		.threads = 4,
		.max_connections = 1024,
		.connection_timeout = 30,
		.agent_max_inflight = 64,
		.retry_after = 10,
		.shutdown_timeout = 10,
		.checkin_interval = 300,
		.inventory_interval = 3600,
		.retention_default = (int64_t) 180 * 86400,
		.retention_interval = 3600,
		.siem_interval = 5,
		.job_retry_interval = 30,
		.maintain_interval = 3600,
	};
	c->state_dir = mm_strdup("/var/lib/mamori-server");
	c->agent_listen = mm_strdup("0.0.0.0:8443");
	c->api_listen = mm_strdup("127.0.0.1:8444");
	if (!c->state_dir || !c->agent_listen || !c->api_listen) {
		config_done(c);
		return -ENOMEM;
	}
	return 0;
}

void config_clear_names(struct config *c)
{
	for (size_t i = 0; i < c->n_names; i++)
		mm_free(c->names[i]);
	c->n_names = 0;
}

void config_done(struct config *c)
{
	config_clear_names(c);
	for (size_t i = 0; i < c->n_catalogs; i++)
		mm_free(c->catalogs[i]);
	mm_free(c->state_dir);
	mm_free(c->agent_listen);
	mm_free(c->api_listen);
	mm_free(c->store_url);
	for (size_t i = 0; i < c->n_retention; i++)
		mm_free(c->retention[i].type);
	mm_free(c->siem_target);
	mm_free(c->siem_ca);
	mm_free(c->siem_name);
	*c = (struct config){0};
}

int config_parse_duration(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	char digits[24];
	size_t n = strlen(s);
	int64_t mult = 1, v;

	if (n == 0 || n >= sizeof(digits))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (s[n - 1] == units[i].unit) {
			mult = units[i].seconds;
			n--;
			break;
		}
	if (n == 0)
		return -EINVAL;
	memcpy(digits, s, n);
	digits[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return -EINVAL;
	if (str_to_i64(digits, 10, &v) < 0 || v > INT64_MAX / mult)
		return -ERANGE;
	v *= mult;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int config_parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	struct sockaddr_storage ss = {0};
	char host[64];
	const char *colon, *h = s;
	size_t hlen;
	unsigned port;

	colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	hlen = (size_t) (colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return -EINVAL;
		h = s + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (str_to_uint(colon + 1, 10, &port) < 0 || port > 65535)
		return -EINVAL;
	if (streq(host, "*"))
		(void) snprintf(host, sizeof(host), "0.0.0.0");
	else if (streq(host, "localhost"))
		(void) snprintf(host, sizeof(host), "127.0.0.1");
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t) port);
		*ret_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t) port);
		*ret_len = sizeof(*sin6);
	}
	*ret = ss;
	return 0;
}

/* A DNS name (letters, digits, hyphens; dot-separated labels of 1..63) or an IP address. */
static bool valid_name(const char *s)
{
	unsigned char addr[16];
	size_t label = 0, n = strlen(s);

	if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
		return true;
	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static const struct setting *find_setting(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (streq(settings[i].key, key))
			return &settings[i];
	return NULL;
}

static int set_string(char **field, const char *value)
{
	char *copy = mm_strdup(value);

	if (!copy)
		return -ENOMEM;
	mm_free(*field);
	*field = copy;
	return 0;
}

int64_t config_retention_of(const struct config *c, const char *type)
{
	for (size_t i = 0; i < c->n_retention; i++)
		if (streq(c->retention[i].type, type))
			return c->retention[i].seconds;
	return c->retention_default;
}

static bool valid_event_type(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > RETENTION_TYPE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '.' ||
		      t[i] == '_' || t[i] == '-'))
			return false;
	return true;
}

/* retention.default / retention.TYPE = DURATION or "forever". */
static int set_retention(struct config *c, const char *type, const char *value, char *errbuf,
			 size_t errlen)
{
	int64_t v = 0;
	char *copy;

	if (!valid_event_type(type)) {
		(void) snprintf(errbuf, errlen,
				"'retention.%s': not an event type ([a-z0-9_.-], 1 to %u "
				"characters)",
				type, RETENTION_TYPE);
		return -EINVAL;
	}
	if (!streq(value, "forever") &&
	    config_parse_duration(value, RETENTION_MIN, RETENTION_MAX, &v) < 0) {
		(void) snprintf(
			errbuf, errlen,
			"'retention.%s': expected a duration from 1h to 3650d (e.g. 90d) or "
			"forever, not '%s'",
			type, value);
		return -EINVAL;
	}
	if (streq(type, "default")) {
		c->retention_default = v;
		return 0;
	}
	for (size_t i = 0; i < c->n_retention; i++)
		if (streq(c->retention[i].type, type)) {
			(void) snprintf(errbuf, errlen, "'retention.%s' is set twice", type);
			return -EEXIST;
		}
	if (c->n_retention >= CONFIG_RETENTION_MAX) {
		(void) snprintf(errbuf, errlen, "more than %d retention settings",
				CONFIG_RETENTION_MAX);
		return -E2BIG;
	}
	copy = mm_strdup(type);
	if (!copy)
		return -ENOMEM;
	c->retention[c->n_retention++] = (struct config_retention){copy, v};
	return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *errbuf, size_t errlen)
{
	const struct setting *s = find_setting(key);
	const char *rest = str_startswith(key, RETENTION_PREFIX);
	void *field;
	int64_t v;
	int level;

	if (rest && *value)
		return set_retention(c, rest, value, errbuf, errlen);
	if (!s) {
		(void) snprintf(errbuf, errlen, "unknown setting '%s'", key);
		return -ENOENT;
	}
	field = (char *) c + s->offset;
	if (!*value) {
		(void) snprintf(errbuf, errlen, "'%s' needs a value", key);
		return -EINVAL;
	}
	switch (s->type) {
	case T_STRING:
		if (strlen(value) >= LIMIT_PATH) {
			(void) snprintf(errbuf, errlen, "'%s': path too long", key);
			return -EINVAL;
		}
		return set_string(field, value);
	case T_LISTEN: {
		struct sockaddr_storage ss;
		socklen_t len;

		if (config_parse_listen(value, &ss, &len) < 0) {
			(void) snprintf(errbuf, errlen,
					"'%s': expected HOST:PORT with a numeric address, "
					"[IPV6]:PORT, *:PORT or localhost:PORT, not '%s'",
					key, value);
			return -EINVAL;
		}
		return set_string(field, value);
	}
	case T_STORE:
		if (!str_startswith(value, "sqlite:") && !str_startswith(value, "postgres://") &&
		    !str_startswith(value, "postgresql://")) {
			(void) snprintf(errbuf, errlen,
					"'%s': expected sqlite:PATH or postgresql://…, not '%s'",
					key, value);
			return -EINVAL;
		}
		return set_string(field, value);
	case T_TARGET: {
		const char *colon = strrchr(value, ':');
		_cleanup_(freep) char *host = NULL;
		unsigned port;

		if (colon)
			host = value[0] == '[' && colon > value + 1 && colon[-1] == ']'
				       ? mm_strndup(value + 1, (size_t) (colon - value - 2))
				       : mm_strndup(value, (size_t) (colon - value));
		if (colon && !host)
			return -ENOMEM;
		if (!host || !valid_name(host) || str_to_uint(colon + 1, 10, &port) < 0 ||
		    port < 1 || port > 65535) {
			(void) snprintf(errbuf, errlen,
					"'%s': expected HOST:PORT (a DNS name or an address), not "
					"'%s'",
					key, value);
			return -EINVAL;
		}
		return set_string(field, value);
	}
	case T_HOSTNAME:
		if (!valid_name(value)) {
			(void) snprintf(errbuf, errlen,
					"'%s': '%s' is neither a DNS name nor an IP address", key,
					value);
			return -EINVAL;
		}
		return set_string(field, value);
	case T_START:
		if (!streq(value, "now") && !streq(value, "beginning")) {
			(void) snprintf(errbuf, errlen, "'%s': expected now or beginning, not '%s'",
					key, value);
			return -EINVAL;
		}
		*(bool *) field = streq(value, "beginning");
		return 0;
	case T_CATALOG:
		if (strlen(value) >= LIMIT_PATH) {
			(void) snprintf(errbuf, errlen, "'%s': path too long", key);
			return -EINVAL;
		}
		if (c->n_catalogs >= CONFIG_CATALOGS_MAX) {
			(void) snprintf(errbuf, errlen, "more than %d catalogue files",
					CONFIG_CATALOGS_MAX);
			return -E2BIG;
		}
		c->catalogs[c->n_catalogs] = mm_strdup(value);
		if (!c->catalogs[c->n_catalogs])
			return -ENOMEM;
		c->n_catalogs++;
		return 0;
	case T_NAME:
		if (!valid_name(value)) {
			(void) snprintf(errbuf, errlen,
					"'%s': '%s' is neither a DNS name nor an IP address", key,
					value);
			return -EINVAL;
		}
		for (size_t i = 0; i < c->n_names; i++)
			if (streq(c->names[i], value))
				return 0;
		if (c->n_names >= CONFIG_NAMES_MAX) {
			(void) snprintf(errbuf, errlen, "more than %d names", CONFIG_NAMES_MAX);
			return -E2BIG;
		}
		c->names[c->n_names] = mm_strdup(value);
		if (!c->names[c->n_names])
			return -ENOMEM;
		c->n_names++;
		return 0;
	case T_LEVEL:
		level = log_level_from_string(value);
		if (level < 0) {
			(void) snprintf(errbuf, errlen,
					"'%s': expected error, warning, notice, info or debug, "
					"not '%s'",
					key, value);
			return -EINVAL;
		}
		*(int *) field = level;
		return 0;
	case T_COUNT:
	case T_DURATION:
		if (s->type == T_COUNT) {
			uint64_t u;

			if (str_to_u64(value, 10, &u) < 0 || u < (uint64_t) s->min ||
			    u > (uint64_t) s->max) {
				(void) snprintf(errbuf, errlen,
						"'%s': expected a whole number from %lld to %lld, "
						"not '%s'",
						key, (long long) s->min, (long long) s->max, value);
				return -EINVAL;
			}
			v = (int64_t) u;
		} else if (config_parse_duration(value, s->min, s->max, &v) < 0) {
			(void) snprintf(errbuf, errlen,
					"'%s': expected a duration from %llds to %llds "
					"(e.g. 30, 30s, 5m, 2h, 1d), not '%s'",
					key, (long long) s->min, (long long) s->max, value);
			return -EINVAL;
		}
		*(unsigned *) field = (unsigned) v;
		return 0;
	}
	return -EINVAL;
}

int config_parse(struct config *c, const char *text, size_t len, const char *file, struct diag *d)
{
	_cleanup_(freep) char *copy = NULL;
	unsigned first_seen[ARRAY_SIZE(settings)] = {0};
	char *line, *eol;
	unsigned lineno = 0;
	size_t errors = d->n_errors;

	if (len > LIMIT_CONFIG_FILE) {
		diag_error(d, file, 0, 0, "file is %zu bytes, over the limit of %zu bytes", len,
			   LIMIT_CONFIG_FILE);
		return -EINVAL;
	}
	copy = mm_malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';

	for (char *p = copy, *end = copy + len; p < end; p = eol + 1) {
		char errbuf[512], *eq, *key, *value;
		const struct setting *s;
		size_t n;
		int r;

		eol = memchr(p, '\n', (size_t) (end - p));
		if (!eol)
			eol = end;
		*eol = '\0';
		line = p;
		n = (size_t) (eol - p);
		lineno++;
		if (strlen(line) != n) {
			diag_error(d, file, lineno, (unsigned) strlen(line) + 1,
				   "NUL byte in the line");
			continue;
		}
		if (n > LIMIT_LINE) {
			diag_error(d, file, lineno, 0, "line longer than %zu bytes", LIMIT_LINE);
			continue;
		}
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		/* Tabs are white space here; every other control character is an error. */
		for (size_t i = 0; i < n; i++)
			if (line[i] == '\t')
				line[i] = ' ';
		if (!str_is_clean_utf8(line, n)) {
			diag_error(d, file, lineno, 0,
				   "control character or invalid UTF-8 in the line");
			continue;
		}
		key = str_strip(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			diag_error(d, file, lineno, (unsigned) (key - line) + 1,
				   "expected 'key = value'");
			continue;
		}
		*eq = '\0';
		value = str_strip(eq + 1);
		key = str_strip(key);
		s = find_setting(key);
		if (!s && !str_startswith(key, RETENTION_PREFIX)) {
			diag_error(d, file, lineno, (unsigned) (key - line) + 1,
				   "unknown setting '%s'", key);
			continue;
		}
		if (s && s->type != T_NAME) {
			size_t i = (size_t) (s - settings);

			if (first_seen[i]) {
				diag_error(d, file, lineno, (unsigned) (key - line) + 1,
					   "'%s' is set twice (first on line %u)", key,
					   first_seen[i]);
				continue;
			}
			first_seen[i] = lineno;
		}
		r = config_set(c, key, value, errbuf, sizeof(errbuf));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			diag_error(d, file, lineno, (unsigned) (value - line) + 1, "%s", errbuf);
	}
	return d->n_errors > errors ? -EINVAL : 0;
}

int config_load(struct config *c, const char *path, struct diag *d)
{
	_cleanup_(freep) char *text = NULL;
	size_t len;
	int r;

	r = fileio_read(NULL, path, LIMIT_CONFIG_FILE, &text, &len);
	if (r == -E2BIG) {
		diag_error(d, path, 0, 0, "file is over the limit of %zu bytes", LIMIT_CONFIG_FILE);
		return -EINVAL;
	}
	if (r < 0) {
		diag_error(d, path, 0, 0, "cannot read: %s", strerror(-r));
		return r == -ENOMEM ? r : -EINVAL;
	}
	return config_parse(c, text, len, path, d);
}
