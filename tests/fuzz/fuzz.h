/*
 * Helpers shared by the fuzz targets: each target turns libFuzzer's bytes into the
 * NUL-terminated, writable text a parser expects (parsers edit their input in place),
 * allocated through lib/mm.h like every other buffer in mamori.
 */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Installs mamori's allocator in jansson once, as main() does in the programs. */
static inline void fuzz_setup(void)
{
	static int done;

	if (!done) {
		mm_setup_jansson();
		done = 1;
	}
}

/* A writable NUL-terminated copy of the input; NULL when memory is short. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *text = mm_malloc(size + 1);

	if (!text)
		return NULL;
	if (size)
		memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* A broken invariant: abort() so libFuzzer and the replay test both report it. */
#define FUZZ_ASSERT(cond)        \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)
