/*
 * The security section: raw facts about the endpoint's protections — antivirus, firewall,
 * automatic updates, the ssh server, time synchronisation and the screen lock. It only
 * reports what files say; the server's compliance engine judges them (docs/inventory.md).
 *
 * This file reads what the parts share, once: the process list (/proc) and the state of
 * the few packages the parts ask about (a small independent read of dpkg's status file:
 * the software section parses it fully, but the security facts must not depend on another
 * collector's output). Then each part fills its own object. Every part records what it
 * could not read in the section's "errors" and carries on.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define DPKG_STATUS "/var/lib/dpkg/status"

static const char *const sec_pkg_names[SEC_PKG_MAX] = {
	[SEC_PKG_CLAMAV] = "clamav",
	[SEC_PKG_CLAMAV_DAEMON] = "clamav-daemon",
	[SEC_PKG_CLAMAV_FRESHCLAM] = "clamav-freshclam",
	[SEC_PKG_CLAMDSCAN] = "clamdscan",
	[SEC_PKG_UNATTENDED_UPGRADES] = "unattended-upgrades",
	[SEC_PKG_OPENSSH_SERVER] = "openssh-server",
	[SEC_PKG_SYSTEMD_TIMESYNCD] = "systemd-timesyncd",
	[SEC_PKG_CHRONY] = "chrony",
	[SEC_PKG_NTP] = "ntp",
	[SEC_PKG_NTPSEC] = "ntpsec",
	[SEC_PKG_UFW] = "ufw",
	[SEC_PKG_FIREWALLD] = "firewalld",
	[SEC_PKG_NFTABLES] = "nftables",
	[SEC_PKG_NETFILTER_PERSISTENT] = "netfilter-persistent",
	[SEC_PKG_LIGHT_LOCKER] = "light-locker",
	[SEC_PKG_XSCREENSAVER] = "xscreensaver",
};

bool col_security_exists(const struct col_ctx *ctx, const char *path)
{
	_cleanup_(freep) char *full = fileio_path(ctx->root, path);
	struct stat st;

	return full && lstat(full, &st) == 0;
}

int col_security_unit(const struct sec_ctx *s, const char *unit, bool *ret_enabled,
		      bool *ret_masked)
{
	_cleanup_(freep) char *pattern = mm_asprintf("/etc/systemd/system/*.wants/%s", unit);
	_cleanup_(freep) char *path = mm_asprintf("/etc/systemd/system/%s", unit);
	_cleanup_(freep) char *target = NULL;
	struct dirlist links = {0};
	int r;

	if (!pattern || !path)
		return -ENOMEM;
	r = dirlist_glob(s->col, pattern, LIMIT_CONF_DIR_ENTRIES, &links);
	if (r == -ENOMEM)
		return r;
	*ret_enabled = r == 0 && links.n > 0;
	dirlist_done(&links);
	r = fileio_readlink(s->col->root, path, &target);
	if (r == -ENOMEM)
		return r;
	*ret_masked = r == 0 && streq(target, "/dev/null");
	return 0;
}

const struct proc_entry *col_security_proc(const struct sec_ctx *s, const char *name,
					   const char *const *exe_dirs)
{
	if (!s->procs_read)
		return NULL;
	return proclist_find(&s->procs, name, exe_dirs);
}

int col_security_set_running(const struct sec_ctx *s, json_t *obj, const char *field,
			     const char *pid_field, const struct proc_entry *p)
{
	if (jsonw_set(obj, field, s->procs_read ? json_boolean(p != NULL) : json_null()) < 0)
		return -ENOMEM;
	if (pid_field && jsonw_set(obj, pid_field, p ? json_integer(p->pid) : json_null()) < 0)
		return -ENOMEM;
	return 0;
}

json_t *col_security_text(const char *s)
{
	if (!s || !str_is_clean_utf8(s, strlen(s)))
		return json_null();
	return json_string(s);
}

bool col_security_clean_line(char *line)
{
	for (char *p = line; *p; p++)
		if (*p == '\t' || *p == '\r')
			*p = ' ';
	return str_is_clean_utf8(line, strlen(line));
}

char *col_security_source(const char *file, unsigned line)
{
	return mm_asprintf("%s:%u", file, line);
}

void col_security_pkgs_done(struct sec_pkg *pkgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mm_free(pkgs[i].version);
		pkgs[i].version = NULL;
		pkgs[i].installed = false;
	}
}

/* dpkg's Status is "want flag state"; the package is on disk when state is "installed". */
static bool status_installed(const char *status)
{
	const char *last = strrchr(status, ' ');

	return last && streq(last + 1, "installed");
}

static int commit_stanza(const char *pkg, const char *status, const char *version,
			 const char *const *names, size_t n, struct sec_pkg *pkgs)
{
	if (!pkg || !status || !status_installed(status))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!streq(pkg, names[i]) || pkgs[i].installed)
			continue;
		pkgs[i].installed = true;
		if (version && str_is_clean_utf8(version, strlen(version))) {
			pkgs[i].version = mm_strdup(version);
			if (!pkgs[i].version)
				return -ENOMEM;
		}
	}
	return 0;
}

/* The value of "Name: value" when line is that field (never a continuation line, which
 * starts with a space), trimmed in place; NULL otherwise. */
static const char *field_value(char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	return str_strip(line + n + 1);
}

int col_security_parse_dpkg_status(char *text, const char *const *names, size_t n,
				   struct sec_pkg *pkgs)
{
	char *cursor = text, *line;
	const char *pkg = NULL, *status = NULL, *version = NULL;
	int stanzas = 0;

	for (;;) {
		const char *v;

		line = str_next_line(&cursor);
		if (!line || line[strspn(line, " \t\r")] == '\0') {
			/* end of a stanza (a blank line) or of the file */
			if (pkg) {
				stanzas++;
				if (commit_stanza(pkg, status, version, names, n, pkgs) < 0)
					return -ENOMEM;
			}
			pkg = status = version = NULL;
			if (!line)
				break;
			continue;
		}
		if ((v = field_value(line, "Package")))
			pkg = v;
		else if ((v = field_value(line, "Status")))
			status = v;
		else if ((v = field_value(line, "Version")))
			version = v;
	}
	return stanzas;
}

/*
 * The packages the parts ask about, from the software section when it read dpkg's status
 * already (the normal case: it runs first), so the status file — megabytes on a desktop —
 * is read and parsed once per inventory. Returns 1 when the section had the answer.
 */
static int pkgs_from_software(struct sec_ctx *s)
{
	json_t *software = s->col->doc ? json_object_get(s->col->doc, "software") : NULL;
	json_t *packages = json_object_get(software, "packages"), *p;
	size_t i;

	if (!json_is_array(packages) ||
	    !json_object_get(json_object_get(software, "counts"), "dpkg"))
		return 0;
	json_array_foreach (packages, i, p) {
		const char *manager = json_string_value(json_object_get(p, "manager"));
		const char *name = json_string_value(json_object_get(p, "name"));
		const char *version = json_string_value(json_object_get(p, "version"));

		if (!manager || !name || !streq(manager, "dpkg") ||
		    !json_is_true(json_object_get(p, "installed")))
			continue;
		for (size_t k = 0; k < SEC_PKG_MAX; k++) {
			if (!streq(name, sec_pkg_names[k]) || s->pkgs[k].installed)
				continue;
			s->pkgs[k].installed = true;
			if (version && !(s->pkgs[k].version = mm_strdup(version)))
				return -ENOMEM;
		}
	}
	return 1;
}

static int read_dpkg(struct sec_ctx *s)
{
	_cleanup_(freep) char *text = NULL;
	int r = pkgs_from_software(s);

	if (r < 0)
		return r;
	if (r > 0) {
		s->dpkg_read = true;
		return 0;
	}
	r = col_read_file(s->col, DPKG_STATUS, LIMIT_LARGE_FILE, &text, NULL);

	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return 0; /* not a dpkg system: nothing is installed through dpkg */
	if (r < 0)
		return col_error(s->section, DPKG_STATUS, r, NULL);
	r = col_security_parse_dpkg_status(text, sec_pkg_names, SEC_PKG_MAX, s->pkgs);
	if (r < 0)
		return r;
	s->dpkg_read = true;
	return 0;
}

static int read_procs(struct sec_ctx *s)
{
	int r = proclist_load(s->col, LIMIT_PROCESSES, &s->procs);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return col_error(s->section, "/proc", r, "cannot list processes: %s", strerror(-r));
	s->procs_read = true;
	if (s->procs.truncated &&
	    col_error(s->section, "/proc", -E2BIG, "more than %u processes: the rest not listed",
		      LIMIT_PROCESSES) < 0)
		return -ENOMEM;
	return 0;
}

static const struct {
	const char *field;
	int (*collect)(struct sec_ctx *s, json_t *out);
} parts[] = {
	{"antivirus", col_antivirus_collect},     {"firewall", col_firewall_collect},
	{"auto_updates", col_autoupdate_collect}, {"ssh", col_ssh_collect},
	{"time_sync", col_timesync_collect},      {"screen_lock", col_screenlock_collect},
};

int col_security_collect(const struct col_ctx *ctx, json_t *section)
{
	struct sec_ctx s = {.col = ctx, .section = section};
	int r;

	r = read_procs(&s);
	if (r >= 0)
		r = read_dpkg(&s);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(parts); i++) {
		json_t *out = json_object();

		r = jsonw_set(section, parts[i].field, out);
		if (r >= 0)
			r = parts[i].collect(&s, out);
	}
	proclist_done(&s.procs);
	col_security_pkgs_done(s.pkgs, SEC_PKG_MAX);
	return r < 0 ? r : 0;
}
