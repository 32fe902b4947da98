/*
 * Loading the catalogue the way every program does (lib/catalog_builtin.h): the embedded
 * built-in files first, the organisation's files after them, then validation. The embedded
 * texts are data compiled into the binary; they are parsed like any file, so an error in
 * them (a bad edit of the catalog/ text files) is reported with its file:line like any other.
 */
#include <errno.h>

#include "lib/catalog_builtin.h"
#include "lib/checks.h"

int catalog_builtin_load(struct catalog *c, const char *const *overrides, size_t n, struct diag *d)
{
	size_t before = d->n_errors;
	int r;

	for (size_t i = 0; i < catalog_builtin_n; i++) {
		r = catalog_parse(c, catalog_builtin_files[i].name, catalog_builtin_files[i].text,
				  d);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = catalog_load_file(c, overrides[i], d);
		if (r < 0)
			return r;
	}
	r = catalog_validate(c, checks_known, d);
	if (r == -ENOMEM)
		return r;
	r = checks_validate(c, d);
	if (r == -ENOMEM)
		return r;
	if (d->oom)
		return -ENOMEM;
	return d->n_errors > before ? -EINVAL : 0;
}
