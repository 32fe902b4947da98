/*
 * The flatpak backend of the software section: the system-wide installation in
 * ROOT/var/lib/flatpak (per-user installations under home directories are not read).
 *
 * Layout: KIND/ID/ARCH/BRANCH/active is a symlink to the deployed commit's directory, which
 * holds "metadata" (a key file naming the runtime) and "deploy" (a GVariant of type
 * (ssasta{sv}): origin remote, commit, subpaths, installed size, and a dictionary whose
 * "appdata-version" is the version the application declares). For an application,
 * app/ID/current names the ARCH/BRANCH in use, and one package is listed per application.
 * Runtimes have no "current": every installed branch is listed, named "ID//BRANCH" as
 * flatpak's own command line names them, so two branches of one runtime stay two items.
 *
 * The deploy file is not decoded as a whole GVariant: origin and commit are its first two
 * NUL-terminated strings, and the version is found as the string value after the
 * "appdata-version" key, accepted only when followed by the variant's "\0s" type suffix.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define FLATPAK_DIR "/var/lib/flatpak"
#define VERSION_KEY "appdata-version"

static const char *clean_or_null(const char *s, size_t n)
{
	return n > 0 && str_is_clean_utf8(s, n) ? s : NULL;
}

void col_flatpak_parse_metadata(char *text, struct col_flatpak_meta *ret)
{
	struct col_flatpak_meta m = {0};
	const char *group = "";

	for (char *cursor = text, *line; (line = str_next_line(&cursor));) {
		char *eq;

		str_strip(line);
		if (line[0] == '[') {
			line[strcspn(line, "]")] = '\0';
			group = line + 1;
			continue;
		}
		eq = strchr(line, '=');
		if (!eq || line[0] == '#')
			continue;
		*eq = '\0';
		str_strip(line);
		if (!streq(group, "Application") && !streq(group, "Runtime"))
			continue;
		if (streq(line, "name"))
			m.name = clean_or_null(eq + 1, strlen(eq + 1));
		else if (streq(line, "runtime"))
			m.runtime = clean_or_null(eq + 1, strlen(eq + 1));
	}
	*ret = m;
}

int col_flatpak_parse_deploy(const char *data, size_t len, struct col_flatpak_deploy *ret)
{
	struct col_flatpak_deploy d = {0};
	const char *end = data + len, *p, *nul;
	static const char key[] = VERSION_KEY; /* with its NUL */

	nul = memchr(data, '\0', len);
	if (!nul)
		return -EBADMSG;
	d.origin = clean_or_null(data, (size_t) (nul - data));
	p = nul + 1;
	nul = p < end ? memchr(p, '\0', (size_t) (end - p)) : NULL;
	if (!nul)
		return -EBADMSG;
	d.commit = clean_or_null(p, (size_t) (nul - p));
	p = memmem(data, len, key, sizeof(key));
	if (p) {
		const char *v = p + sizeof(key);
		int pad = 0;

		while (v < end && *v == '\0' && pad < 8) { /* alignment of the variant */
			v++;
			pad++;
		}
		nul = v < end ? memchr(v, '\0', (size_t) (end - v)) : NULL;
		if (nul && end - nul >= 3 && nul[1] == '\0' && nul[2] == 's')
			d.version = clean_or_null(v, (size_t) (nul - v));
	}
	*ret = d;
	return 0;
}

/* Reads a symlink's target as one clean relative path; NULL in *ret when it is not one. */
static int read_link(const struct col_ctx *ctx, const char *path, char **ret)
{
	_cleanup_(freep) char *t = NULL;
	int r = col_readlink(ctx, path, &t);

	*ret = NULL;
	if (r == -ENOMEM)
		return r;
	if (r == 0 && *t && t[0] != '/' && !strstr(t, "..") && str_is_clean_utf8(t, strlen(t)))
		*ret = TAKE_PTR(t);
	return 0;
}

/* Lists one deployment, ref KIND/ID/ARCH/BRANCH, under package name `name`. */
static int add_deployment(const struct col_ctx *ctx, json_t *section, json_t *packages,
			  const char *kind, const char *id, const char *arch, const char *branch,
			  const char *name)
{
	_cleanup_(freep) char *dir =
		mm_asprintf(FLATPAK_DIR "/%s/%s/%s/%s", kind, id, arch, branch);
	_cleanup_(freep) char *active = NULL, *meta_path = NULL, *deploy_path = NULL;
	_cleanup_(freep) char *meta = NULL, *deploy = NULL, *active_link = NULL;
	_cleanup_(json_decrefp) json_t *pkg = NULL;
	struct col_flatpak_meta m = {0};
	struct col_flatpak_deploy d = {0};
	size_t deploy_len = 0, meta_len = 0;
	int r;

	if (!dir || !(active_link = mm_asprintf("%s/active", dir)))
		return -ENOMEM;
	r = read_link(ctx, active_link, &active);
	if (r < 0)
		return r;
	if (!active)
		return 0; /* not deployed (an interrupted install): nothing to report */
	meta_path = mm_asprintf("%s/active/metadata", dir);
	deploy_path = mm_asprintf("%s/active/deploy", dir);
	if (!meta_path || !deploy_path)
		return -ENOMEM;
	r = col_read_file(ctx, meta_path, LIMIT_SMALL_FILE, &meta, &meta_len);
	if (r == -ENOMEM)
		return r;
	if (r == 0) {
		(void) str_replace_nul(meta, meta_len, '\x7f');
		col_flatpak_parse_metadata(meta, &m);
	} else if (col_error(section, meta_path, r, NULL) < 0)
		return -ENOMEM;
	r = col_read_file(ctx, deploy_path, LIMIT_SMALL_FILE, &deploy, &deploy_len);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (col_error(section, deploy_path, r, NULL) < 0)
			return -ENOMEM;
	} else if (col_flatpak_parse_deploy(deploy, deploy_len, &d) < 0 &&
		   col_error(section, deploy_path, 0, "not a flatpak deploy file") < 0) {
		return -ENOMEM;
	}
	/* the active link's target is the commit too; the deploy file's copy wins */
	pkg = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:s?, s:b}", "manager",
			"flatpak", "name", name, "arch", arch, "version", d.version, "kind", kind,
			"ref_id", id, "branch", branch, "commit", d.commit ? d.commit : active,
			"origin", d.origin, "runtime", m.runtime, "installed", true);
	return jsonw_append(packages, TAKE_PTR(pkg)) < 0 ? -ENOMEM : 1;
}

static bool is_name(const char *s)
{
	return *s && *s != '.' && !strchr(s, '/') && str_is_clean_utf8(s, strlen(s));
}

static int collect_apps(const struct col_ctx *ctx, json_t *section, json_t *packages)
{
	_cleanup_(col_names_freep) char **ids = NULL;
	int r, count = 0;

	r = col_list_dir(ctx, FLATPAK_DIR "/app", LIMIT_DIR_ENTRIES, &ids, NULL);
	if (r < 0)
		return r == -ENOMEM || r == -ENOENT ? r : 0;
	for (char **id = ids; *id; id++) {
		_cleanup_(freep) char *link = mm_asprintf(FLATPAK_DIR "/app/%s/current", *id);
		_cleanup_(freep) char *current = NULL;
		char *slash;

		if (!link)
			return -ENOMEM;
		if (!is_name(*id))
			continue;
		r = read_link(ctx, link, &current);
		if (r < 0)
			return r;
		if (!current || !(slash = strchr(current, '/')) || strchr(slash + 1, '/'))
			continue;
		*slash = '\0';
		r = add_deployment(ctx, section, packages, "app", *id, current, slash + 1, *id);
		if (r < 0)
			return r;
		count += r;
	}
	return count;
}

static int collect_runtimes(const struct col_ctx *ctx, json_t *section, json_t *packages)
{
	_cleanup_(col_names_freep) char **ids = NULL;
	int r, count = 0;

	r = col_list_dir(ctx, FLATPAK_DIR "/runtime", LIMIT_DIR_ENTRIES, &ids, NULL);
	if (r < 0)
		return r == -ENOMEM || r == -ENOENT ? r : 0;
	for (char **id = ids; *id; id++) {
		_cleanup_(freep) char *id_dir = mm_asprintf(FLATPAK_DIR "/runtime/%s", *id);
		_cleanup_(col_names_freep) char **arches = NULL;

		if (!id_dir)
			return -ENOMEM;
		if (!is_name(*id))
			continue;
		r = col_list_dir(ctx, id_dir, 64, &arches, NULL);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			continue;
		for (char **a = arches; *a; a++) {
			_cleanup_(freep) char *arch_dir = mm_asprintf("%s/%s", id_dir, *a);
			_cleanup_(col_names_freep) char **branches = NULL;

			if (!arch_dir)
				return -ENOMEM;
			if (!is_name(*a))
				continue;
			r = col_list_dir(ctx, arch_dir, 256, &branches, NULL);
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				continue;
			for (char **b = branches; *b; b++) {
				_cleanup_(freep) char *name = mm_asprintf("%s//%s", *id, *b);

				if (!name)
					return -ENOMEM;
				if (!is_name(*b))
					continue;
				r = add_deployment(ctx, section, packages, "runtime", *id, *a, *b,
						   name);
				if (r < 0)
					return r;
				count += r;
			}
		}
	}
	return count;
}

int col_flatpak_collect(const struct col_ctx *ctx, json_t *section, json_t *packages)
{
	int apps, runtimes;

	apps = collect_apps(ctx, section, packages);
	if (apps == -ENOMEM)
		return apps;
	runtimes = collect_runtimes(ctx, section, packages);
	if (runtimes == -ENOMEM)
		return runtimes;
	if (apps == -ENOENT && runtimes == -ENOENT)
		return -ENOENT;
	return MAX(apps, 0) + MAX(runtimes, 0);
}
