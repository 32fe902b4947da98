/*
 * The allocation layer: thin, overflow-checked wrappers over the C library allocator with
 * one counter for failure injection. The counter is a plain static: mamori's programs are
 * single-threaded event loops; the server's worker threads never run with injection on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/mm.h"

static unsigned long alloc_count;
static unsigned long fail_nth;
static bool fail_sticky;
static bool fail_fired;

static bool should_fail(void)
{
	alloc_count++;
	if (fail_nth == 0)
		return false;
	if (alloc_count == fail_nth || (fail_sticky && alloc_count > fail_nth)) {
		fail_fired = true;
		return true;
	}
	return false;
}

unsigned long mm_fail_at(unsigned long nth, bool sticky)
{
	unsigned long n = alloc_count;

	alloc_count = 0;
	fail_nth = nth;
	fail_sticky = sticky;
	fail_fired = false;
	return n;
}

bool mm_fail_fired(void)
{
	return fail_fired;
}

void *mm_malloc(size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n ? n : 1);
}

void *mm_calloc(size_t count, size_t size)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(count ? count : 1, size ? size : 1);
}

void *mm_reallocarray(void *p, size_t count, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(count, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total ? total : 1);
}

void *mm_memdup(const void *p, size_t n)
{
	void *q = mm_malloc(n);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

char *mm_strdup(const char *s)
{
	return mm_memdup(s, strlen(s) + 1);
}

char *mm_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *q = mm_malloc(len + 1);

	if (!q)
		return NULL;
	memcpy(q, s, len);
	q[len] = '\0';
	return q;
}

char *mm_asprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = mm_malloc((size_t) n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	(void) vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void mm_free(void *p)
{
	free(p);
}

void mm_free_secret(void *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

void mm_setup_jansson(void)
{
	json_set_alloc_funcs(mm_malloc, mm_free);
}
