/*
 * String helpers for parsers of text files: numbers without atoi's silent failures,
 * in-place trimming and line iteration. All take NUL-terminated input.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"

/* Whether s starts with prefix; returns the rest of s or NULL. */
const char *str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);

/* Trims ASCII white space at both ends, in place; returns s. */
char *str_strip(char *s);

/* Parses a whole string as an unsigned decimal (base 10) or, with base 0, as C does.
 * -EINVAL for empty input, junk or a sign; -ERANGE on overflow. */
int str_to_u64(const char *s, int base, uint64_t *ret) _wur_;
int str_to_i64(const char *s, int base, int64_t *ret) _wur_;
int str_to_uint(const char *s, int base, unsigned *ret) _wur_;

/*
 * Returns the next line from *cursor (terminated in place; a trailing '\r' is kept) and
 * advances *cursor past it, or NULL at the end of the text.
 */
char *str_next_line(char **cursor);

/*
 * Replaces every NUL byte among the first len bytes of s with c, so a text file with
 * binary junk in it is parsed line by line to its end instead of stopping at the junk.
 * Returns how many were replaced.
 */
size_t str_replace_nul(char *s, size_t len, char c);

/* Whether every byte of s is printable ASCII or valid UTF-8 without control characters. */
bool str_is_clean_utf8(const char *s, size_t len);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void str_hex(const void *p, size_t n, char *out);

/* Constant-time comparison of two equal-length byte strings. */
bool str_consttime_eq(const void *a, const void *b, size_t n);
