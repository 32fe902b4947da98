/*
 * mamori-agent's private header: the collector interface and the pieces main.c wires up.
 *
 * Collectors (col_*.c) read the endpoint's facts from files under a root directory (--root,
 * "/" in production), never by running other programs, so tests run them against fixture
 * trees. Each fills one section of the inventory document (docs/inventory.md) and records
 * every source it could not read in the section's "errors" array, so one unreadable file
 * never hides the rest.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/macro.h"

/* The inventory document's schema version (docs/inventory.md). */
#define INVENTORY_SCHEMA 1

struct col_ctx {
	const char *root; /* "/" or a fixture tree */
	int64_t now;      /* wall clock, Unix seconds, for ages and uptimes */
	unsigned *n_read; /* files read successfully, counted by col_read_*() */
	/*
	 * Optional seam (docs/internals/privsep.md): reads a root-only file through the
	 * agent's privileged parent. `run` sets it when privilege-separated; col_read_file()
	 * and col_read_attr() ask it first and read the file themselves when it answers
	 * -ENOTSUP (the path is not in the parent's table). Collectors never call it.
	 */
	int (*read_privileged)(const char *path, size_t max, char **ret, size_t *ret_len);
};

/*
 * Collectors read through these, never through fileio directly: they resolve paths under
 * ctx->root and count what was read, so "nothing at all could be read" is a fact, not a
 * guess. Same contracts as fileio_read() and fileio_read_attr().
 */
int col_read_file(const struct col_ctx *ctx, const char *path, size_t max, char **ret,
		  size_t *ret_len) _wur_;
int col_read_attr(const struct col_ctx *ctx, const char *path, char **ret) _wur_;

/*
 * A section collector: fills `section` (an empty object) with what it could read.
 * Returns 0 — also when sources were unreadable, which it records with col_error() — or
 * -ENOMEM, on which the section is reported as failed as a whole.
 */
typedef int (*col_fn)(const struct col_ctx *ctx, json_t *section);

struct collector {
	const char *section;
	col_fn collect;
};

/* Records that `source` (a path) could not be read or parsed, with -errno or a message. */
int col_error(json_t *section, const char *source, int err, const char *fmt, ...) _printf_(4, 5)
	_wur_;

int col_identity_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_os_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_cpu_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_memory_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_storage_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_network_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_software_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_users_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_security_collect(const struct col_ctx *ctx, json_t *section) _wur_;
int col_usb_collect(const struct col_ctx *ctx, json_t *section) _wur_;

/*
 * Runs every collector against ctx->root and returns the whole inventory document, or NULL
 * on allocation failure. *ret_readable (optional) tells whether any section read anything.
 */
json_t *inventory_collect(const struct col_ctx *ctx, bool *ret_readable);

/* Writes the document as human-readable text to f. */
int inventory_print_text(const json_t *doc, FILE *f);

/* Parsers inside collectors, exposed for unit tests and fuzz targets. Each takes text it
 * may modify in place. */
int col_os_parse_os_release(char *text, json_t *section) _wur_;
int col_os_parse_btime(char *text, int64_t *ret) _wur_;
int col_cpu_parse_cpuinfo(char *text, json_t *section) _wur_;
int col_memory_parse_meminfo(char *text, json_t *section) _wur_;
const char *col_identity_chassis_class(unsigned code);
const char *col_identity_virt_from_dmi(const char *vendor, const char *product,
				       const char *bios_vendor);
