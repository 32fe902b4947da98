/*
 * Antivirus facts for the security section: ClamAV in detail (package, daemons, clamd's
 * on-access configuration, the age of every signature database) and, by install path and
 * running process, the commercial products an organisation may deploy instead.
 *
 * ClamAV's configuration files (clamd.conf, freshclam.conf) are read as ClamAV reads them
 * (its optparser): "Name value" lines, names case-sensitive, '#' comments, an optional
 * pair of double quotes around the value; a single-valued option keeps its FIRST value, a
 * multi-valued one (OnAccessIncludePath …) collects all. A line "Example" — left in by
 * the sample config — makes clamd refuse the whole file; we report it as `example`.
 *
 * The other products are one table (av_products): adding a product is one entry. A
 * process counts for a product only when its exe, if readable, lies in the product's own
 * directories, because some of their daemons have generic names ("startd").
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define CLAMD_CONF        "/etc/clamav/clamd.conf"
#define FRESHCLAM_CONF    "/etc/clamav/freshclam.conf"
#define CLAMAV_DEFAULT_DB "/var/lib/clamav"
#define MAX_DATABASES     256u

static const struct av_product {
	const char *name;
	const char *vendor;
	const char *paths[3];    /* install paths: any present is evidence */
	const char *procs[3];    /* process names */
	const char *exe_dirs[3]; /* where those processes' binaries live */
} av_products[] = {
	/* one product per line, wider than the usual 100 columns: a table read across */
	/* clang-format off */
	{"Sophos Protection for Linux", "Sophos", {"/opt/sophos-spl", "/opt/sophos-av"}, {"sophos_threat_detector", "sophosav", "savd"}, {"/opt/sophos-spl", "/opt/sophos-av"}},
	{"ESET Endpoint Antivirus / Server Security", "ESET", {"/opt/eset/eea", "/opt/eset/efs"}, {"oaeventd", "startd"}, {"/opt/eset"}},
	{"Trend Micro Deep Security / Apex One", "Trend Micro", {"/opt/ds_agent", "/opt/TrendMicro"}, {"ds_agent"}, {"/opt/ds_agent", "/opt/TrendMicro"}},
	{"CrowdStrike Falcon", "CrowdStrike", {"/opt/CrowdStrike/falcond"}, {"falcond", "falcon-sensor"}, {"/opt/CrowdStrike"}},
	{"Microsoft Defender for Endpoint", "Microsoft", {"/opt/microsoft/mdatp"}, {"wdavdaemon"}, {"/opt/microsoft/mdatp"}},
	{"Kaspersky Endpoint Security for Linux", "Kaspersky", {"/opt/kaspersky/kesl"}, {"kesl"}, {"/opt/kaspersky"}},
	{"Trellix Endpoint Security for Linux", "Trellix", {"/opt/McAfee/ens"}, {"mfetpd"}, {"/opt/McAfee"}},
	{"SentinelOne", "SentinelOne", {"/opt/sentinelone"}, {"sentinelone-agent", "s1-agent"}, {"/opt/sentinelone"}},
	/* clang-format on */
};

/* ClamAV's boolean syntax: yes/true/1 or no/false/0, any case. */
static int parse_clam_bool(const char *v, bool *ret)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || streq(v, "1"))
		*ret = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || streq(v, "0"))
		*ret = false;
	else
		return -EBADMSG;
	return 0;
}

static int append_string(json_t *conf, const char *field, const char *v)
{
	json_t *arr = json_object_get(conf, field);

	if (!arr) {
		arr = json_array();
		if (jsonw_set(conf, field, arr) < 0)
			return -ENOMEM;
	}
	return jsonw_append(arr, json_string(v));
}

/* One option: 0 taken or ignored, 1 malformed, -ENOMEM. Single-valued options keep the
 * first value, as clamd does. */
static int clam_option(json_t *conf, const char *name, const char *arg, unsigned line)
{
	bool b;
	unsigned u;

	if (streq(name, "OnAccessIncludePath"))
		return append_string(conf, "on_access_include_paths", arg);
	if (streq(name, "OnAccessMountPath"))
		return append_string(conf, "on_access_mount_paths", arg);
	if (streq(name, "OnAccessExcludePath"))
		return append_string(conf, "on_access_exclude_paths", arg);
	if (streq(name, "LocalSocket")) {
		if (json_object_get(conf, "local_socket"))
			return 0;
		return jsonw_set(conf, "local_socket", json_string(arg));
	}
	if (streq(name, "DatabaseDirectory")) {
		if (json_object_get(conf, "database_directory"))
			return 0;
		if (jsonw_set(conf, "database_directory", json_string(arg)) < 0)
			return -ENOMEM;
		return jsonw_set(conf, "database_directory_line", json_integer(line));
	}
	if (streq(name, "TCPSocket") || streq(name, "Checks")) {
		const char *field = streq(name, "Checks") ? "checks" : "tcp_socket";

		if (str_to_uint(arg, 10, &u) < 0)
			return 1;
		if (json_object_get(conf, field))
			return 0;
		return jsonw_set(conf, field, json_integer(u));
	}
	if (streq(name, "OnAccessPrevention") || streq(name, "ScanOnAccess")) {
		const char *field =
			streq(name, "ScanOnAccess") ? "scan_on_access" : "on_access_prevention";

		if (parse_clam_bool(arg, &b) < 0)
			return 1;
		if (json_object_get(conf, field))
			return 0;
		return jsonw_set(conf, field, json_boolean(b));
	}
	return 0; /* an option we do not report */
}

int col_antivirus_parse_clamav_conf(char *text, json_t *conf)
{
	char *cursor = text, *line;
	unsigned lineno = 0;
	int bad = 0;

	while ((line = str_next_line(&cursor))) {
		char *name, *arg, *end;
		int r;

		lineno++;
		if (!col_security_clean_line(line)) {
			bad++;
			continue;
		}
		str_strip(line);
		if (!*line || *line == '#')
			continue;
		if (str_startswith(line, "Example")) {
			if (jsonw_set(conf, "example", json_true()) < 0)
				return -ENOMEM;
			continue;
		}
		name = line;
		arg = name + strcspn(name, " ");
		if (!*arg) {
			bad++; /* "Missing argument for option" */
			continue;
		}
		*arg++ = '\0';
		arg += strspn(arg, " ");
		if (*arg == '"') {
			end = strrchr(++arg, '"');
			if (!end || end == arg) {
				bad++; /* no closing quote, or an empty quoted value */
				continue;
			}
			*end = '\0';
		}
		r = clam_option(conf, name, arg, lineno);
		if (r < 0)
			return r;
		bad += r;
	}
	return bad;
}

/* Gives every member clamd.conf's report has a value, defaults where unset, so a rule
 * never meets a missing member. */
static int complete_clamd(json_t *conf)
{
	static const char *const lists[] = {"on_access_include_paths", "on_access_mount_paths",
					    "on_access_exclude_paths"};
	static const char *const flags[] = {"on_access_prevention", "scan_on_access"};
	json_t *inc, *mnt;

	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		if (!json_object_get(conf, lists[i]) && jsonw_set(conf, lists[i], json_array()) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
		if (!json_object_get(conf, flags[i]) && jsonw_set(conf, flags[i], json_false()) < 0)
			return -ENOMEM;
	if ((!json_object_get(conf, "local_socket") &&
	     jsonw_set(conf, "local_socket", json_null()) < 0) ||
	    (!json_object_get(conf, "tcp_socket") &&
	     jsonw_set(conf, "tcp_socket", json_null()) < 0))
		return -ENOMEM;
	inc = json_object_get(conf, "on_access_include_paths");
	mnt = json_object_get(conf, "on_access_mount_paths");
	return jsonw_set(conf, "on_access_configured",
			 json_boolean(json_array_size(inc) + json_array_size(mnt) > 0));
}

/* Reads a ClamAV config into a new object; *ret stays NULL when the file is absent. */
static int read_clam_conf(struct sec_ctx *s, const char *path, bool expected, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *conf = NULL;
	_cleanup_(freep) char *text = NULL;
	int r = col_read_file(s->col, path, LIMIT_CONFIG_FILE, &text, NULL);

	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT && !expected)
		return 0;
	if (r < 0)
		return col_error(s->section, path, r, NULL);
	conf = json_pack("{s:s}", "source", path);
	if (!conf)
		return -ENOMEM;
	r = col_antivirus_parse_clamav_conf(text, conf);
	if (r < 0)
		return r;
	if (r > 0 &&
	    col_error(s->section, path, -EBADMSG,
		      "%d malformed lines (ClamAV refuses to start with this file)", r) < 0)
		return -ENOMEM;
	if (!json_object_get(conf, "example") && jsonw_set(conf, "example", json_false()) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(conf);
	return 0;
}

/* What the report shows of freshclam.conf: its update schedule. */
static int shape_freshclam(json_t *conf)
{
	json_t *checks = json_object_get(conf, "checks"), *out;
	int r;

	out = json_pack("{s:O, s:O, s:O}", "source", json_object_get(conf, "source"), "example",
			json_object_get(conf, "example"), "checks", checks ? checks : json_null());
	if (!out)
		return -ENOMEM;
	json_object_clear(conf);
	r = json_object_update(conf, out);
	json_decref(out);
	return r < 0 ? -ENOMEM : 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_database(const char *name)
{
	return strlen(name) > 4 && (str_endswith(name, ".cvd") || str_endswith(name, ".cld") ||
				    str_endswith(name, ".cud"));
}

static int read_database(struct sec_ctx *s, const char *dir, const char *name, json_t *list,
			 int64_t *newest)
{
	size_t n = strlen(dir);
	_cleanup_(freep) char *path = NULL, *head = NULL, *base = NULL;
	struct cvd_header h;
	size_t len;
	json_t *e;
	int r;

	while (n > 0 && dir[n - 1] == '/')
		n--; /* "DatabaseDirectory /var/lib/clamav/" */
	path = mm_asprintf("%.*s/%s", (int) n, dir, name);
	if (!path)
		return -ENOMEM;
	r = col_read_head(s->col, path, CVD_HEADER_SIZE, &head, &len);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(s->section, path, r, NULL);
	if (cvd_parse_header(head, len, &h) < 0)
		return col_error(s->section, path, -EBADMSG,
				 "not a ClamAV database header (or its fields are garbage)");
	base = mm_strndup(name, strlen(name) - 4);
	if (!base)
		return -ENOMEM;
	e = json_pack("{s:o, s:s, s:I, s:I, s:i, s:o, s:o, s:b}", "name", col_security_text(base),
		      "file", path, "version", (json_int_t) h.version, "signatures",
		      (json_int_t) h.signatures, "functionality_level", (int) h.functionality_level,
		      "builder", col_security_text(h.builder[0] ? h.builder : NULL),
		      "build_time_text", col_security_text(h.time_text[0] ? h.time_text : NULL),
		      "truncated", h.truncated);
	if (!e)
		return -ENOMEM;
	if (h.build_time >= 0) {
		int64_t age = floor_div(s->col->now - h.build_time, 86400);

		if (jsonw_set(e, "build_time", json_integer(h.build_time)) < 0 ||
		    jsonw_set(e, "age_days", json_integer(age)) < 0) {
			json_decref(e);
			return -ENOMEM;
		}
		if (h.build_time > *newest)
			*newest = h.build_time;
	} else if (jsonw_set(e, "build_time", json_null()) < 0 ||
		   jsonw_set(e, "age_days", json_null()) < 0) {
		json_decref(e);
		return -ENOMEM;
	}
	if (h.truncated &&
	    col_error(s->section, path, -EBADMSG, "truncated: %zu of %d header bytes", len,
		      CVD_HEADER_SIZE) < 0) {
		json_decref(e);
		return -ENOMEM;
	}
	return jsonw_append(list, e);
}

static int collect_definitions(struct sec_ctx *s, json_t *clamav, const char *dir, bool installed)
{
	struct dirlist dl = {0};
	json_t *list = json_array();
	int64_t newest = -1;
	int r;

	if (jsonw_set(clamav, "definitions", list) < 0)
		return -ENOMEM;
	r = dirlist_read(s->col, dir, LIMIT_CONF_DIR_ENTRIES, &dl);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && (r != -ENOENT || installed) && col_error(s->section, dir, r, NULL) < 0)
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < dl.n; i++) {
		if (!is_database(dl.names[i]))
			continue;
		if (json_array_size(list) >= MAX_DATABASES) {
			r = col_error(s->section, dir, -E2BIG, "more than %u databases",
				      MAX_DATABASES);
			break;
		}
		r = read_database(s, dir, dl.names[i], list, &newest);
	}
	dirlist_done(&dl);
	if (r == -ENOMEM)
		return r;
	if (newest < 0) {
		if (jsonw_set(clamav, "definitions_newest_build_time", json_null()) < 0)
			return -ENOMEM;
		return jsonw_set(clamav, "definitions_min_age_days", json_null());
	}
	if (jsonw_set(clamav, "definitions_newest_build_time", json_integer(newest)) < 0)
		return -ENOMEM;
	return jsonw_set(clamav, "definitions_min_age_days",
			 json_integer(floor_div(s->col->now - newest, 86400)));
}

/* The database directory clamd uses: clamd.conf's, else freshclam.conf's, else the
 * compiled-in default. */
static int database_directory(struct sec_ctx *s, json_t *clamd, json_t *freshclam, json_t *clamav,
			      const char **ret)
{
	json_t *confs[] = {clamd, freshclam};

	for (size_t i = 0; i < ARRAY_SIZE(confs); i++) {
		const char *dir =
			json_string_value(json_object_get(confs[i], "database_directory"));
		_cleanup_(freep) char *src = NULL;

		if (!dir)
			continue;
		src = col_security_source(json_string_value(json_object_get(confs[i], "source")),
					  (unsigned) json_integer_value(json_object_get(
						  confs[i], "database_directory_line")));
		if (!src)
			return -ENOMEM;
		if (dir[0] != '/' || strlen(dir) >= LIMIT_PATH) {
			if (col_error(s->section, src, -EINVAL,
				      "DatabaseDirectory is not an absolute path") < 0)
				return -ENOMEM;
			continue;
		}
		*ret = dir;
		return jsonw_set(clamav, "database_directory_source", json_string(src));
	}
	*ret = CLAMAV_DEFAULT_DB;
	return jsonw_set(clamav, "database_directory_source", json_string("default"));
}

static int collect_clamav(struct sec_ctx *s, json_t *clamav)
{
	_cleanup_(json_decrefp) json_t *clamd = NULL, *freshclam = NULL;
	const struct sec_pkg *pkg = &s->pkgs[SEC_PKG_CLAMAV];
	bool by_path = !pkg->installed && col_security_exists(s->col, "/usr/bin/clamscan");
	bool installed = pkg->installed || by_path;
	bool clamd_installed = s->pkgs[SEC_PKG_CLAMAV_DAEMON].installed ||
			       col_security_exists(s->col, "/usr/sbin/clamd");
	bool freshclam_installed = s->pkgs[SEC_PKG_CLAMAV_FRESHCLAM].installed ||
				   col_security_exists(s->col, "/usr/bin/freshclam");
	const char *dir = NULL;
	int r;

	if (jsonw_set(clamav, "installed", json_boolean(installed)) < 0 ||
	    jsonw_set(clamav, "installed_evidence",
		      pkg->installed ? json_string("dpkg")
		      : by_path      ? json_string("/usr/bin/clamscan")
				     : json_null()) < 0 ||
	    jsonw_set(clamav, "version", col_security_text(pkg->version)) < 0 ||
	    jsonw_set(clamav, "clamd_installed", json_boolean(clamd_installed)) < 0 ||
	    jsonw_set(clamav, "freshclam_installed", json_boolean(freshclam_installed)) < 0)
		return -ENOMEM;
	if (col_security_set_running(s, clamav, "clamd_running", "clamd_pid",
				     col_security_proc(s, "clamd", NULL)) < 0 ||
	    col_security_set_running(s, clamav, "freshclam_running", "freshclam_pid",
				     col_security_proc(s, "freshclam", NULL)) < 0 ||
	    col_security_set_running(s, clamav, "clamonacc_running", "clamonacc_pid",
				     col_security_proc(s, "clamonacc", NULL)) < 0)
		return -ENOMEM;

	r = read_clam_conf(s, CLAMD_CONF, clamd_installed, &clamd);
	if (r < 0)
		return r;
	r = read_clam_conf(s, FRESHCLAM_CONF, freshclam_installed, &freshclam);
	if (r < 0)
		return r;
	r = database_directory(s, clamd, freshclam, clamav, &dir);
	if (r < 0)
		return r;
	if (jsonw_set(clamav, "database_directory", json_string(dir)) < 0)
		return -ENOMEM;
	r = collect_definitions(s, clamav, dir, installed);
	if (r < 0)
		return r;
	if (freshclam && shape_freshclam(freshclam) < 0)
		return -ENOMEM;
	if (clamd) {
		json_object_del(clamd, "database_directory_line");
		json_object_del(clamd, "database_directory"); /* reported once, above */
		json_object_del(clamd, "checks");
		if (complete_clamd(clamd) < 0)
			return -ENOMEM;
	}
	if (jsonw_set(clamav, "clamd_conf", clamd ? TAKE_PTR(clamd) : json_null()) < 0 ||
	    jsonw_set(clamav, "freshclam_conf", freshclam ? TAKE_PTR(freshclam) : json_null()) < 0)
		return -ENOMEM;
	return 0;
}

static int collect_product(struct sec_ctx *s, const struct av_product *p, json_t *list)
{
	_cleanup_(json_decrefp) json_t *evidence = json_array();
	bool running = false;

	if (!evidence)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(p->paths) && p->paths[i]; i++)
		if (col_security_exists(s->col, p->paths[i]) &&
		    jsonw_append(evidence, json_pack("{s:s}", "path", p->paths[i])) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(p->procs) && p->procs[i]; i++) {
		const struct proc_entry *e = col_security_proc(s, p->procs[i], p->exe_dirs);

		if (!e)
			continue;
		running = true;
		if (jsonw_append(evidence, json_pack("{s:s, s:i}", "process", p->procs[i], "pid",
						     e->pid)) < 0)
			return -ENOMEM;
	}
	if (json_array_size(evidence) == 0)
		return 0;
	return jsonw_append(list, json_pack("{s:s, s:s, s:O, s:o}", "name", p->name, "vendor",
					    p->vendor, "evidence", evidence, "running",
					    s->procs_read ? json_boolean(running) : json_null()));
}

int col_antivirus_collect(struct sec_ctx *s, json_t *out)
{
	json_t *clamav = json_object(), *others;
	int r;

	if (jsonw_set(out, "clamav", clamav) < 0)
		return -ENOMEM;
	others = json_array();
	if (jsonw_set(out, "other_products", others) < 0)
		return -ENOMEM;
	r = collect_clamav(s, clamav);
	if (r >= 0)
		r = col_clamd_collect(s->col, clamav);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(av_products); i++)
		r = collect_product(s, &av_products[i], others);
	return r < 0 ? r : 0;
}
