/*
 * Time synchronisation: which of systemd-timesyncd, chrony and ntpd/ntpsec is installed,
 * enabled at boot, masked or running, and the servers their configuration names. Log
 * timestamps, certificates and Kerberos all need a right clock, so the compliance engine
 * wants to know that *something* keeps it right (`time_sync_configured`).
 *
 * Servers come from:
 *  - timesyncd: NTP= and FallbackNTP= in [Time] of /etc/systemd/timesyncd.conf, then of
 *    /etc/systemd/timesyncd.conf.d/ *.conf in order; each assignment replaces the list
 *    (an empty one clears it), as systemd does. None configured means timesyncd uses the
 *    servers DHCP gives it and its compiled-in fallback.
 *  - chrony: server, pool and peer lines of /etc/chrony/chrony.conf (or /etc/chrony.conf),
 *    following confdir (*.conf), sourcedir (*.sources) and include (a glob);
 *  - ntpd/ntpsec: server, pool and peer lines of /etc/ntpsec/ntp.conf or /etc/ntp.conf,
 *    following includefile.
 * Included files are followed to LIMIT_INCLUDE_DEPTH levels and LIMIT_INCLUDE_FILES files.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define TIMESYNCD_CONF "/etc/systemd/timesyncd.conf"
#define MAX_NAME       255

int col_timesync_parse_ntp_conf(char *text, const char *daemon, const char *file, json_t *servers,
				json_t *includes)
{
	char *cursor = text, *line;
	unsigned lineno = 0;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *word, *arg, *save = NULL;

		lineno++;
		line[strcspn(line, "#")] = '\0';
		if (!col_security_clean_line(line)) {
			bad++;
			continue;
		}
		str_strip(line);
		/* chrony also takes '!', ';' and '%' as comment starts */
		if (!*line || strchr("!;%", *line))
			continue;
		word = strtok_r(line, " \t", &save);
		if (!word)
			continue;
		if (!strcasecmp(word, "server") || !strcasecmp(word, "pool") ||
		    !strcasecmp(word, "peer")) {
			_cleanup_(freep) char *src = NULL;

			arg = strtok_r(NULL, " \t", &save);
			if (!arg || strlen(arg) > MAX_NAME) {
				bad++;
				continue;
			}
			src = col_security_source(file, lineno);
			if (!src ||
			    jsonw_append(servers,
					 json_pack("{s:s, s:s, s:s, s:s}", "daemon", daemon, "kind",
						   word, "name", arg, "source", src)) < 0)
				return -ENOMEM;
			continue;
		}
		if (!strcasecmp(word, "confdir") || !strcasecmp(word, "sourcedir") ||
		    !strcasecmp(word, "include") || !strcasecmp(word, "includefile")) {
			while ((arg = strtok_r(NULL, " \t", &save)))
				if (jsonw_append(includes, json_pack("{s:s, s:s}", "directive",
								     word, "argument", arg)) < 0)
					return -ENOMEM;
		}
	}
	return bad;
}

/* State shared while a daemon's configuration and its includes are read. */
struct ntp_read {
	struct sec_ctx *s;
	const char *daemon;
	json_t *servers;
	json_t *seen; /* paths read: a file is read once, whatever includes it again */
};

static int read_ntp_file(struct ntp_read *nr, const char *path, bool must_exist, unsigned depth);

/* Follows one include directive: a glob for include/includefile, a directory of *.conf
 * (confdir) or *.sources (sourcedir) files. */
static int follow(struct ntp_read *nr, const char *directive, const char *arg, unsigned depth)
{
	_cleanup_(freep) char *pattern = NULL;
	struct dirlist dl = {0};
	int r;

	if (arg[0] != '/')
		return 0; /* relative to a working directory we cannot know */
	if (!strcasecmp(directive, "confdir"))
		pattern = mm_asprintf("%s/*.conf", arg);
	else if (!strcasecmp(directive, "sourcedir"))
		pattern = mm_asprintf("%s/*.sources", arg);
	else
		pattern = mm_strdup(arg);
	if (!pattern)
		return -ENOMEM;
	r = dirlist_glob(nr->s->col, pattern, LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(nr->s->section, pattern, r, NULL);
	for (size_t i = 0; r >= 0 && i < dl.n; i++)
		r = read_ntp_file(nr, dl.names[i], true, depth + 1);
	dirlist_done(&dl);
	return r < 0 ? r : 0;
}

static int read_ntp_file(struct ntp_read *nr, const char *path, bool must_exist, unsigned depth)
{
	_cleanup_(json_decrefp) json_t *includes = json_array();
	_cleanup_(freep) char *text = NULL;
	size_t i;
	json_t *inc;
	int r;

	if (!includes)
		return -ENOMEM;
	json_array_foreach (nr->seen, i, inc) {
		const char *seen = json_string_value(inc);

		if (seen && streq(seen, path))
			return 0; /* an include loop, or two includes of one file */
	}
	if (depth > LIMIT_INCLUDE_DEPTH || json_array_size(nr->seen) >= LIMIT_INCLUDE_FILES)
		return col_error(nr->s->section, path, -ELOOP,
				 "includes nested too deep or too many: not read");
	r = col_read_file(nr->s->col, path, LIMIT_CONFIG_FILE, &text, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT && !must_exist)
		return -ENOENT;
	if (r < 0)
		return col_error(nr->s->section, path, r, NULL);
	if (jsonw_append(nr->seen, json_string(path)) < 0)
		return -ENOMEM;
	r = col_timesync_parse_ntp_conf(text, nr->daemon, path, nr->servers, includes);
	if (r < 0)
		return r;
	if (r > 0 && col_error(nr->s->section, path, -EBADMSG, "%d malformed lines", r) < 0)
		return -ENOMEM;
	json_array_foreach (includes, i, inc) {
		r = follow(nr, json_string_value(json_object_get(inc, "directive")),
			   json_string_value(json_object_get(inc, "argument")), depth);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reads the first of paths that exists. */
static int read_ntp_conf(struct sec_ctx *s, const char *daemon, const char *const *paths,
			 json_t *servers)
{
	struct ntp_read nr = {.s = s, .daemon = daemon, .servers = servers, .seen = json_array()};
	int r = 0;

	if (!nr.seen)
		return -ENOMEM;
	for (size_t i = 0; i < 3 && paths[i]; i++) {
		r = read_ntp_file(&nr, paths[i], false, 0);
		if (r != -ENOENT)
			break;
	}
	json_decref(nr.seen);
	return r == -ENOENT ? 0 : r;
}

/* timesyncd.conf: NTP= and FallbackNTP= in [Time]. */
struct timesyncd_read {
	const char *file;
	json_t *lists[2]; /* NTP, FallbackNTP: arrays of {name, source} */
};

static int timesyncd_key(const char *group, const char *key, const char *value, unsigned line,
			 void *userdata)
{
	struct timesyncd_read *tr = userdata;
	_cleanup_(freep) char *copy = NULL, *src = NULL;
	char *save = NULL, *name;
	int which;

	if (!streq(group, "Time"))
		return 0;
	if (streq(key, "NTP"))
		which = 0;
	else if (streq(key, "FallbackNTP"))
		which = 1;
	else
		return 0;
	json_array_clear(tr->lists[which]);
	copy = mm_strdup(value);
	src = col_security_source(tr->file, line);
	if (!copy || !src)
		return -ENOMEM;
	for (name = strtok_r(copy, " \t", &save); name; name = strtok_r(NULL, " \t", &save)) {
		if (strlen(name) > MAX_NAME || !str_is_clean_utf8(name, strlen(name)))
			continue;
		if (jsonw_append(tr->lists[which],
				 json_pack("{s:s, s:s}", "name", name, "source", src)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int read_timesyncd_file(struct sec_ctx *s, struct timesyncd_read *tr, const char *path)
{
	_cleanup_(freep) char *text = NULL;
	int r = col_read_file(s->col, path, LIMIT_CONFIG_FILE, &text, NULL);

	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return col_error(s->section, path, r, NULL);
	tr->file = path;
	r = keyfile_parse(text, timesyncd_key, tr);
	if (r > 0 && col_error(s->section, path, -EBADMSG, "%d malformed lines", r) < 0)
		return -ENOMEM;
	return r < 0 ? r : 0;
}

static int timesyncd_servers(struct sec_ctx *s, json_t *servers)
{
	struct timesyncd_read tr = {.lists = {json_array(), json_array()}};
	struct dirlist dl = {0};
	int r = -ENOMEM;

	if (!tr.lists[0] || !tr.lists[1])
		goto out;
	r = read_timesyncd_file(s, &tr, TIMESYNCD_CONF);
	if (r < 0)
		goto out;
	r = dirlist_glob(s->col, TIMESYNCD_CONF ".d/*.conf", LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		r = col_error(s->section, TIMESYNCD_CONF ".d", r, NULL);
	for (size_t i = 0; r >= 0 && i < dl.n; i++)
		r = read_timesyncd_file(s, &tr, dl.names[i]);
	for (size_t k = 0; r >= 0 && k < 2; k++) {
		size_t i;
		json_t *e;

		json_array_foreach (tr.lists[k], i, e) {
			r = jsonw_append(servers,
					 json_pack("{s:s, s:s, s:O, s:O}", "daemon", "timesyncd",
						   "kind", k == 0 ? "ntp" : "fallback", "name",
						   json_object_get(e, "name"), "source",
						   json_object_get(e, "source")));
			if (r < 0)
				break;
		}
	}
out:
	dirlist_done(&dl);
	json_decref(tr.lists[0]);
	json_decref(tr.lists[1]);
	return r < 0 ? r : 0;
}

static const struct time_daemon {
	const char *field;
	enum sec_pkg_id pkgs[2];
	const char *binaries[3];
	const char *units[2];
	const char *process;
	const char *confs[3]; /* NULL for timesyncd, whose format differs */
} time_daemons[] = {
	{"timesyncd",
	 {SEC_PKG_SYSTEMD_TIMESYNCD, SEC_PKG_SYSTEMD_TIMESYNCD},
	 {"/usr/lib/systemd/systemd-timesyncd", "/lib/systemd/systemd-timesyncd"},
	 {"systemd-timesyncd.service"},
	 "systemd-timesyncd",
	 {NULL}},
	{"chrony",
	 {SEC_PKG_CHRONY, SEC_PKG_CHRONY},
	 {"/usr/sbin/chronyd"},
	 {"chrony.service", "chronyd.service"},
	 "chronyd",
	 {"/etc/chrony/chrony.conf", "/etc/chrony.conf"}},
	{"ntpd",
	 {SEC_PKG_NTP, SEC_PKG_NTPSEC},
	 {"/usr/sbin/ntpd"},
	 {"ntp.service", "ntpsec.service"},
	 "ntpd",
	 {"/etc/ntpsec/ntp.conf", "/etc/ntp.conf"}},
};

static int collect_daemon(struct sec_ctx *s, const struct time_daemon *d, json_t *out,
			  json_t *servers, bool *configured)
{
	const struct proc_entry *p = col_security_proc(s, d->process, NULL);
	bool installed = s->pkgs[d->pkgs[0]].installed || s->pkgs[d->pkgs[1]].installed;
	bool enabled = false, masked = false;
	json_t *obj;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(d->binaries) && d->binaries[i]; i++)
		installed = installed || col_security_exists(s->col, d->binaries[i]);
	for (size_t i = 0; i < ARRAY_SIZE(d->units) && d->units[i]; i++) {
		bool e, m;

		r = col_security_unit(s, d->units[i], &e, &m);
		if (r < 0)
			return r;
		enabled = enabled || e;
		masked = masked || m;
	}
	obj = json_pack("{s:b, s:b, s:b}", "installed", installed, "enabled", enabled, "masked",
			masked);
	if (jsonw_set(out, d->field, obj) < 0 ||
	    col_security_set_running(s, obj, "running", "pid", p) < 0)
		return -ENOMEM;
	if (p || (enabled && !masked))
		*configured = true;
	if (d->confs[0])
		return read_ntp_conf(s, d->field, d->confs, servers);
	return timesyncd_servers(s, servers);
}

int col_timesync_collect(struct sec_ctx *s, json_t *out)
{
	json_t *servers = json_array();
	bool configured = false;
	int r = 0;

	if (jsonw_set(out, "servers", servers) < 0)
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(time_daemons); i++)
		r = collect_daemon(s, &time_daemons[i], out, servers, &configured);
	if (r >= 0)
		r = jsonw_set(out, "time_sync_configured", json_boolean(configured));
	return r < 0 ? r : 0;
}
