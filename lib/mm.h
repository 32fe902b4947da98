/*
 * The one allocation layer. Every heap allocation in mamori goes through these functions
 * (tools/checksrc bans the raw ones), so that tests can make the Nth allocation fail and
 * prove that every caller handles it, as curl's memdebug and SQLite's OOM tests do.
 * Size arithmetic is overflow-checked: an overflowing request fails like an exhausted heap.
 */
#pragma once

#include <stddef.h>
#include <stdbool.h>

#include "lib/macro.h"

void *mm_malloc(size_t n) _malloc_ _wur_;
void *mm_calloc(size_t count, size_t size) _malloc_ _wur_;
/* Like reallocarray(3): NULL with p untouched when count * size overflows or memory is out. */
void *mm_reallocarray(void *p, size_t count, size_t size) _wur_;
void *mm_memdup(const void *p, size_t n) _malloc_ _wur_;
char *mm_strdup(const char *s) _malloc_ _wur_;
char *mm_strndup(const char *s, size_t n) _malloc_ _wur_;
/* Formats into a new string; NULL on allocation failure. */
char *mm_asprintf(const char *fmt, ...) _printf_(1, 2) _malloc_ _wur_;
void mm_free(void *p);

/* Wipes n bytes at p (which may be NULL) so secrets do not linger, then frees p. */
void mm_free_secret(void *p, size_t n);

/* For _cleanup_(freep). */
static inline void freep(void *p)
{
	mm_free(*(void **) p);
}

/*
 * Test seam: the nth allocation from now (1 = the next one) fails, and so does every one
 * after it while `sticky`; 0 turns failure injection off. Returns how many allocations
 * were made since the previous call, so a test can first count, then fail each in turn.
 */
unsigned long mm_fail_at(unsigned long nth, bool sticky);

/* Test seam: whether an injected failure has fired since the last mm_fail_at(). */
bool mm_fail_fired(void);

/* Installs the layer as jansson's allocator, so JSON values obey failure injection too. */
void mm_setup_jansson(void);
