/*
 * Debian package versions (deb-version(7)): [epoch:]upstream[-revision], parsed and
 * ordered exactly as dpkg does (lib/dpkg/parsehelp.c parseversion(), lib/dpkg/version.c
 * dpkg_version_compare()), so `dpkg --compare-versions A lt B` and
 * debversion_compare_text(A, B) < 0 always agree. tests/integ/debversion.sh holds the two
 * side by side on thousands of pairs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/macro.h"

/* A parsed version; the pointers point into the text it was parsed from. */
struct debversion {
	unsigned long epoch;  /* 0 when there is none */
	const char *upstream; /* after the epoch's colon, up to the last hyphen */
	size_t upstream_len;
	const char *revision; /* after the last hyphen; "" (length 0) when there is none */
	size_t revision_len;
	/* dpkg's warnings, which it compares through all the same: the upstream part does not
	 * start with a digit, or either part holds a character deb-version(7) does not allow */
	bool odd;
};

/*
 * Parses a version as dpkg does: leading and trailing blanks are skipped; an empty string,
 * embedded blanks, an epoch that is empty, not a number, negative or above INT_MAX, nothing
 * after the colon, an empty revision after a final hyphen or an empty upstream part are
 * errors (-EINVAL, *ret untouched). What dpkg only warns about sets ret->odd.
 */
int debversion_parse(const char *text, struct debversion *ret) _wur_;

/* Orders two parsed versions: < 0, 0 or > 0 as a is older than, equal to or newer than b
 * (-1, 0 or 1). */
int debversion_compare(const struct debversion *a, const struct debversion *b);

/*
 * Parses and orders two version strings; *ret is -1, 0 or 1. -EINVAL when either does not
 * parse (dpkg --compare-versions exits 2 for those).
 */
int debversion_compare_text(const char *a, const char *b, int *ret) _wur_;
