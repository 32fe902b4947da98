/*
 * Small language helpers used everywhere: attributes, scope cleanup and array sizes.
 *
 * Scope cleanup follows systemd: a local declared `_cleanup_(freep) char *s = NULL;` is freed
 * when it goes out of scope; `return TAKE_PTR(s);` hands it out on the success path.
 */
#pragma once

#include <stddef.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
/* A deliberate ignore of a _wur_ result is written `(void) !f()`: GCC, unlike clang, does not
 * let a plain (void) cast silence warn_unused_result. */
#define _wur_          __attribute__((warn_unused_result))
#define _unused_       __attribute__((unused))
#define _noreturn_     __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _malloc_       __attribute__((malloc))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Returns the pointer held in p and clears p, so the scope cleanup does not free it. */
#define TAKE_PTR(p)                           \
	({                                    \
		__typeof__(p) _take_p_ = (p); \
		(p) = NULL;                   \
		_take_p_;                     \
	})

/* Returns the fd held in fd and sets it to -1, so the scope cleanup does not close it. */
#define TAKE_FD(fd)                   \
	({                            \
		int _take_fd_ = (fd); \
		(fd) = -1;            \
		_take_fd_;            \
	})

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Declares `name##p(type **p)` that calls func(*p) when *p is not NULL: for _cleanup_(). */
#define DEFINE_POINTER_CLEANUP(type, func)   \
	static inline void func##p(type **p) \
	{                                    \
		if (*p)                      \
			func(*p);            \
	}
#include <string.h>
#include <unistd.h>

static inline int streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* For _cleanup_(closep): closes *fd when it is a valid descriptor. */
static inline void closep(int *fd)
{
	if (*fd >= 0)
		(void) close(*fd);
}
