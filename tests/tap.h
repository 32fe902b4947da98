/*
 * A minimal TAP producer for mamori's C tests (meson runs them with protocol 'tap').
 * Each check prints "ok N - what" or "not ok N - what" with the file and line of the
 * failure; tap_done() prints the plan and returns the exit status. A test that needs what
 * the machine lacks calls tap_skip_all(), which exits 77 (meson's skip code) unless
 * MAMORI_REQUIRE_ALL is set, as it is in CI, where a skip is a failure.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n;
static int tap_failed;

static inline __attribute__((format(printf, 4, 5))) bool tap_check(bool ok, const char *file,
								   int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return ok;
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_INT(a, b, what)                                            \
	({                                                               \
		long long _a = (long long) (a), _b = (long long) (b);    \
		if (_a != _b)                                            \
			printf("#   got %lld, expected %lld\n", _a, _b); \
		tap_check(_a == _b, __FILE__, __LINE__, "%s", what);     \
	})
#define CHECK_STR(a, b, what)                                                       \
	({                                                                          \
		const char *_a = (a), *_b = (b);                                    \
		bool _ok = _a && _b && strcmp(_a, _b) == 0;                         \
		if (!_ok)                                                           \
			printf("#   got '%s', expected '%s'\n", _a ? _a : "(null)", \
			       _b ? _b : "(null)");                                 \
		tap_check(_ok, __FILE__, __LINE__, "%s", what);                     \
	})

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline __attribute__((noreturn)) void tap_skip_all(const char *why)
{
	if (getenv("MAMORI_REQUIRE_ALL")) {
		printf("1..1\nnot ok 1 - required but unavailable: %s\n", why);
		exit(1);
	}
	printf("1..0 # SKIP %s\n", why);
	exit(77);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
