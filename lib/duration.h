/*
 * Durations as administrators write them: "90s", "30m", "24h", "7d", "2w", or plain seconds.
 */
#pragma once

#include <stdint.h>

#include "lib/macro.h"

/* Parses s into seconds. -EINVAL for anything else (empty, junk, a sign, zero-length
 * number, unknown unit); -ERANGE past ten years. */
int duration_parse(const char *s, int64_t *ret_seconds) _wur_;
