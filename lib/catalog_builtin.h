/*
 * The catalogue as mamori ships it, embedded into the programs at build time
 * (catalog/embed.c writes catalog_builtin_data.c from the catalog/ text files), and the one way
 * every program loads a catalogue: the built-in files, then an organisation's override
 * files in order, then validation of the whole (lib/catalog.h, lib/checks.h).
 */
#pragma once

#include <stddef.h>

#include "lib/catalog.h"
#include "lib/diag.h"
#include "lib/macro.h"

struct catalog_builtin_file {
	const char *name; /* "catalog/measures.txt": what diagnostics call it */
	const char *text; /* NUL-terminated */
	size_t len;
};

extern const struct catalog_builtin_file catalog_builtin_files[];
extern const size_t catalog_builtin_n;

/*
 * Loads the built-in files, then each of `overrides` (paths, in order; may be NULL when n
 * is 0), into c (initialised, empty), and validates the result: the schema, references,
 * check names (checks_known) and check parameters (checks_validate). Every problem goes to
 * d with file:line, in one pass. Returns 0 when the catalogue is usable, -EINVAL when d
 * holds errors (c must then not be used), -ENOMEM.
 */
int catalog_builtin_load(struct catalog *c, const char *const *overrides, size_t n, struct diag *d)
	_wur_;
