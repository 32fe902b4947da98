/*
 * Logging with stable message ids. Every message an administrator may read starts with its
 * id in parentheses, "(M2103) spool full: dropped 12 events", so it can be searched for in
 * docs/messages.md. lib/ never logs above debug; the programs decide what to tell whom.
 * Levels are syslog's. Output goes to stderr, one line per message, with level and time.
 */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "lib/macro.h"

/* Sets the program name shown in each line and the most verbose level printed. */
void log_setup(const char *ident, int max_level);
int log_max_level(void);

void log_emit(int level, const char *fmt, ...) _printf_(2, 3);
void log_emitv(int level, const char *fmt, va_list ap) _printf_(2, 0);

#define log_error(...)   log_emit(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_emit(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_emit(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_emit(LOG_DEBUG, __VA_ARGS__)

/* Parses "error", "warning", "notice", "info" or "debug"; -EINVAL otherwise. */
int log_level_from_string(const char *s);
