/*
 * The snap backend of the software section.
 *
 * snapd keeps each installed snap as ROOT/var/lib/snapd/snaps/NAME_REVISION.snap (two or
 * three revisions of one snap stay installed for rollback). The one in use is named by the
 * symlink ROOT/snap/NAME/current ("REVISION"), and its version, architectures, type and
 * confinement come from ROOT/snap/NAME/REVISION/meta/snap.yaml, inside the mounted snap.
 * One package is listed per snap name: the current revision, or the highest numbered one
 * when no current link exists. snap.yaml is read line by line for a few top-level keys,
 * not as YAML: snapd writes these keys as plain scalars (or a one-level list for
 * architectures). A snap that is not mounted (an image collected offline) is listed with a
 * null version.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define SNAPS_DIR "/var/lib/snapd/snaps"

/* Strips one level of matching quotes, in place. */
static char *unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

/* A value we keep: non-empty printable text without control characters. */
static char *clean(char *v)
{
	return *v && str_is_clean_utf8(v, strlen(v)) ? v : NULL;
}

void col_snap_parse_yaml(char *text, struct col_snap_meta *ret)
{
	struct col_snap_meta m = {0};
	bool in_arch = false;

	for (char *cursor = text, *line; (line = str_next_line(&cursor));) {
		char *colon, *v;

		line[strcspn(line, "\r#")] = '\0';
		if (line[0] == ' ' || line[0] == '\t' || line[0] == '-') {
			/* "  - amd64": an item of the architectures list */
			v = line + strspn(line, " \t");
			if (in_arch && !m.arch && *v == '-')
				m.arch = clean(unquote(str_strip(v + 1)));
			continue;
		}
		in_arch = false;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		v = unquote(str_strip(colon + 1));
		if (streq(line, "name"))
			m.name = clean(v);
		else if (streq(line, "version"))
			m.version = clean(v);
		else if (streq(line, "type"))
			m.type = clean(v);
		else if (streq(line, "base"))
			m.base = clean(v);
		else if (streq(line, "confinement"))
			m.confinement = clean(v);
		else if (streq(line, "architectures")) {
			if (*v == '[') { /* [amd64, arm64] */
				v++;
				v[strcspn(v, ",]")] = '\0';
				m.arch = clean(unquote(str_strip(v)));
			} else {
				in_arch = true;
			}
		}
	}
	*ret = m;
}

/* Splits "NAME_REVISION.snap" in place; false for other names. */
static bool split_snap_file(char *file, char **ret_name, char **ret_rev)
{
	char *us;
	size_t n = strlen(file);

	if (n <= 5 || !str_endswith(file, ".snap"))
		return false;
	file[n - 5] = '\0';
	us = strrchr(file, '_');
	if (!us || us == file || !us[1] || !str_is_clean_utf8(file, strlen(file)) ||
	    strchr(file, '/'))
		return false;
	*us = '\0';
	*ret_name = file;
	*ret_rev = us + 1;
	return true;
}

/* The revision to report for a snap: the current link's target, else the highest number. */
static int current_revision(const struct col_ctx *ctx, const char *name, char **files, char **ret)
{
	_cleanup_(freep) char *link = mm_asprintf("/snap/%s/current", name);
	_cleanup_(freep) char *target = NULL;
	uint64_t best = 0, v;
	const char *best_rev = NULL;
	int r;

	if (!link)
		return -ENOMEM;
	r = col_readlink(ctx, link, &target);
	if (r == -ENOMEM)
		return r;
	if (r == 0 && *target && !strchr(target, '/') &&
	    str_is_clean_utf8(target, strlen(target))) {
		*ret = TAKE_PTR(target);
		return 0;
	}
	for (char **f = files; *f; f++) {
		_cleanup_(freep) char *copy = mm_strdup(*f);
		char *n, *rev;

		if (!copy)
			return -ENOMEM;
		if (!split_snap_file(copy, &n, &rev) || !streq(n, name))
			continue;
		if (str_to_u64(rev, 10, &v) < 0)
			v = 0; /* "x1": a local install; used only when nothing else is there */
		if (!best_rev || v > best) {
			best = v;
			best_rev = *f + (rev - copy);
		}
	}
	if (!best_rev)
		return -ENOENT;
	*ret = mm_strndup(best_rev, strcspn(best_rev, "."));
	return *ret ? 0 : -ENOMEM;
}

static int add_snap(const struct col_ctx *ctx, json_t *section, json_t *packages, const char *name,
		    char **files)
{
	_cleanup_(freep) char *rev = NULL, *yaml_path = NULL, *yaml = NULL;
	_cleanup_(json_decrefp) json_t *pkg = NULL;
	struct col_snap_meta m = {0};
	size_t len;
	int r;

	r = current_revision(ctx, name, files, &rev);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	yaml_path = mm_asprintf("/snap/%s/%s/meta/snap.yaml", name, rev);
	if (!yaml_path)
		return -ENOMEM;
	r = col_read_file(ctx, yaml_path, LIMIT_SMALL_FILE, &yaml, &len);
	if (r == -ENOMEM)
		return r;
	if (r == 0) {
		(void) str_replace_nul(yaml, len, '\x7f');
		col_snap_parse_yaml(yaml, &m);
	} else if (col_error(section, yaml_path, r,
			     "snap not mounted or unreadable: version unknown") < 0)
		return -ENOMEM;
	pkg = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?, s:s?, s:b}", "manager", "snap",
			"name", name, "arch", m.arch ? m.arch : (yaml ? "all" : ""), "version",
			m.version, "revision", rev, "type", m.type ? m.type : (yaml ? "app" : NULL),
			"base", m.base, "confinement", m.confinement, "installed", true);
	return jsonw_append(packages, TAKE_PTR(pkg)) < 0 ? -ENOMEM : 1;
}

int col_snap_collect(const struct col_ctx *ctx, json_t *section, json_t *packages)
{
	_cleanup_(col_names_freep) char **files = NULL;
	_cleanup_(json_decrefp) json_t *seen = json_object();
	int r, count = 0;

	if (!seen)
		return -ENOMEM;
	r = col_list_dir(ctx, SNAPS_DIR, LIMIT_DIR_ENTRIES, &files, NULL);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return r == -ENOMEM ? r
				    : (col_error(section, SNAPS_DIR, r, NULL) < 0 ? -ENOMEM : r);
	for (char **f = files; *f; f++) {
		_cleanup_(freep) char *copy = mm_strdup(*f);
		char *name, *rev;

		if (!copy)
			return -ENOMEM;
		if (!split_snap_file(copy, &name, &rev) || json_object_get(seen, name))
			continue;
		if (jsonw_set(seen, name, json_true()) < 0)
			return -ENOMEM;
		r = add_snap(ctx, section, packages, name, files);
		if (r < 0)
			return r;
		count += r;
	}
	return count;
}
