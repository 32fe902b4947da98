/*
 * The software section: the packages of every package manager found under the root, one
 * backend per manager (col_dpkg.c, col_snap.c, col_flatpak.c), in one keyed list
 * "packages" (key: manager, name, arch), with counts per manager and apt's facts.
 *
 * A backend returns how many packages it added, or -ENOENT when its manager is not on the
 * machine (no count, no error: a Debian laptop without snapd is normal), or another -errno
 * when its database is there but unreadable (no count, so it never reads as "0 packages";
 * the backend has recorded the error). Lesser trouble a backend records in the section's
 * errors and carries on. RPM databases are recognised
 * but not read yet (an rpmdb.sqlite needs SQLite, which only the spool may link): when one
 * is present, that is said in errors, so an RPM machine never looks like one without
 * software.
 */
#include <errno.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "lib/jsonw.h"

static const char *const rpm_databases[] = {
	"/var/lib/rpm/rpmdb.sqlite",
	"/var/lib/rpm/Packages",
	"/usr/lib/sysimage/rpm/rpmdb.sqlite",
};

static const struct {
	const char *manager;
	int (*collect)(const struct col_ctx *ctx, json_t *section, json_t *packages);
} backends[] = {
	{"dpkg", col_dpkg_collect},
	{"snap", col_snap_collect},
	{"flatpak", col_flatpak_collect},
};

int col_software_collect(const struct col_ctx *ctx, json_t *section)
{
	json_t *packages, *counts;
	struct stat st;
	int r;

	/* each list is owned by the section as soon as it exists (jsonw_set takes the
	 * reference even when it fails) */
	if (jsonw_set(section, "packages", packages = json_array()) < 0 ||
	    jsonw_set(section, "counts", counts = json_object()) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		r = backends[i].collect(ctx, section, packages);
		if (r == -ENOMEM)
			return r;
		if (r >= 0 && jsonw_set(counts, backends[i].manager, json_integer(r)) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < ARRAY_SIZE(rpm_databases); i++)
		if (col_stat(ctx, rpm_databases[i], &st) == 0 &&
		    col_error(section, rpm_databases[i], 0,
			      "RPM database present but not supported yet: its packages are "
			      "not listed") < 0)
			return -ENOMEM;
	r = col_dpkg_collect_apt(ctx, section);
	if (r < 0)
		return r;
	return col_apt_collect(ctx, section);
}
