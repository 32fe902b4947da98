/*
 * The guideline catalogue (docs/catalog.md): categories, measures, the telework methods
 * and the advisor's questions, loaded from stanza files — the built-in ones in catalog/
 * and an organisation's overrides after them. Shared by the agent (the teleworker's
 * self-check works offline) and the server (the scorecard).
 *
 * A catalogue is a list of stanzas, each a kind ("Measure" …), an id and its fields in
 * file order. Loading validates every stanza against its kind's schema and reports every
 * error with file:line in one pass (lib/diag.h); a catalogue with errors is not used.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/diag.h"
#include "lib/macro.h"

struct catalog_field {
	char *name;
	char *value;
	char *file; /* where this value was set: an override's field names its own file */
	unsigned line;
};

struct catalog_stanza {
	char *kind; /* "Category", "Measure", "Axis", "Method", "Question" */
	char *id;
	char *file;
	unsigned line;
	struct catalog_field *fields;
	size_t n_fields;
};

struct catalog {
	struct catalog_stanza *stanzas;
	size_t n;
};

/* Whether a check name is known; the catalogue refuses measures naming unknown checks.
 * NULL accepts any name. */
typedef bool (*catalog_check_known_fn)(const char *check);

void catalog_init(struct catalog *c);
void catalog_done(struct catalog *c);

/*
 * Parses one file's text (named `file` in diagnostics) and merges its stanzas into c:
 * a stanza whose kind and id exist replaces the fields it names. Syntax errors go to d.
 * Returns 0 (also with errors in d) or -ENOMEM.
 */
int catalog_parse(struct catalog *c, const char *file, const char *text, struct diag *d) _wur_;

/* Reads and parses a file; an unreadable file is an error in d. Returns 0 or -ENOMEM. */
int catalog_load_file(struct catalog *c, const char *path, struct diag *d) _wur_;

/*
 * Checks the merged catalogue: required fields, allowed values, references between
 * stanzas (a measure's category, a method's key measures) and check names. Errors go to
 * d. Returns 0 when d holds no error, -EINVAL otherwise, -ENOMEM.
 */
int catalog_validate(const struct catalog *c, catalog_check_known_fn known, struct diag *d) _wur_;

/* The first value of field `name` in s, or NULL. */
const char *catalog_get(const struct catalog_stanza *s, const char *name);
/* The stanza of kind and id, or NULL. */
const struct catalog_stanza *catalog_find(const struct catalog *c, const char *kind,
					  const char *id);
/* Whether a measure is disabled by an override. */
bool catalog_disabled(const struct catalog_stanza *s);
