/*
 * A growable byte buffer with a ceiling fixed at creation (after curl's dynbuf). The data
 * is always NUL-terminated, so a text buffer can be used as a C string. Adding past the
 * ceiling fails with -E2BIG and leaves the buffer as it was; so does running out of memory
 * (-ENOMEM).
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "lib/macro.h"

struct buf {
	char *data; /* NULL until the first add */
	size_t len;
	size_t cap;
	size_t max; /* the most bytes len may reach */
};

void buf_init(struct buf *b, size_t max);
/* Frees the data; the buffer may be reused after buf_init(). */
void buf_done(struct buf *b);
/* Empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes at once (a known file size), so later adds do not grow the
 * buffer step by step. -E2BIG past the ceiling, -ENOMEM. */
int buf_reserve(struct buf *b, size_t n) _wur_;
int buf_add(struct buf *b, const void *p, size_t n) _wur_;
int buf_adds(struct buf *b, const char *s) _wur_;
int buf_addc(struct buf *b, char c) _wur_;
int buf_addf(struct buf *b, const char *fmt, ...) _printf_(2, 3) _wur_;
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) _printf_(2, 0) _wur_;

/* Hands the NUL-terminated data to the caller (never NULL: "" when empty, or NULL when that
 * allocation fails) and leaves the buffer empty. *ret_len, when given, gets the length. */
char *buf_take(struct buf *b, size_t *ret_len);

static inline const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}
