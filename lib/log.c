/*
 * Line-oriented logging to stderr. Each line is written with one write(2) so lines from
 * several processes (the agent's parent and worker) do not interleave mid-line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

static const char *log_ident = "mamori";
static int log_level = LOG_INFO;

void log_setup(const char *ident, int max_level)
{
	log_ident = ident;
	log_level = max_level;
}

int log_max_level(void)
{
	return log_level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

int log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"error", LOG_ERR}, {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
		{"info", LOG_INFO}, {"debug", LOG_DEBUG},
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(s, names[i].name))
			return names[i].level;
	return -EINVAL;
}

void log_emitv(int level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;
	int saved = errno;

	if (level > log_level)
		return;
	(void) clock_gettime(CLOCK_REALTIME, &ts);
	(void) gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, log_ident, (int) getpid(), level_name(level));
	if (n < 0 || (size_t) n >= sizeof(line))
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t) n >= sizeof(line) - 1)
		n = (int) sizeof(line) - 2;
	line[n++] = '\n';
	(void) !write(STDERR_FILENO, line, (size_t) n);
	errno = saved;
}

void log_emit(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emitv(level, fmt, ap);
	va_end(ap);
}
