/*
 * Diagnostics from a parser of outside input (configuration, USB rules, the catalogue).
 * Parsers report every error they find in one pass, each with file:line:column, and then
 * fail (after OpenBSD's parse.y), so an administrator fixes a file in one go.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/macro.h"

enum diag_severity {
	DIAG_ERROR,
	DIAG_WARNING,
};

struct diag_entry {
	enum diag_severity severity;
	char *file;      /* may be NULL for input that has no file name */
	unsigned line;   /* 1-based; 0 when not known */
	unsigned column; /* 1-based; 0 when not known */
	char *message;
};

struct diag {
	struct diag_entry *entries;
	size_t n;
	size_t n_errors;
	bool oom; /* a message could not be recorded: the list is incomplete */
};

void diag_init(struct diag *d);
void diag_done(struct diag *d);

/* Records one message. Never fails: on allocation failure it sets d->oom instead. */
void diag_add(struct diag *d, enum diag_severity sev, const char *file, unsigned line,
	      unsigned column, const char *fmt, ...) _printf_(6, 7);

#define diag_error(d, file, line, col, ...) diag_add(d, DIAG_ERROR, file, line, col, __VA_ARGS__)
#define diag_warning(d, file, line, col, ...) \
	diag_add(d, DIAG_WARNING, file, line, col, __VA_ARGS__)

/* Formats one entry as "file:line:col: error: message" into a new string (NULL on ENOMEM). */
char *diag_format(const struct diag_entry *e);
