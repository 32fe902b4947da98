/*
 * Printing API answers for people: aligned tables with a header, times in UTC. --json
 * prints the API's own JSON instead, for scripts.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "lib/jsonw.h"
#include "lib/mm.h"

#define MAX_COLS 16

void ctl_print_json(const json_t *v)
{
	(void) json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

const char *ctl_time(json_t *v, char buf[32])
{
	time_t t;
	struct tm tm;

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return "-";
	t = (time_t) json_integer_value(v);
	(void) gmtime_r(&t, &tm);
	(void) strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* The text of one cell: strings as they are, booleans as yes/no, times formatted. */
static char *cell(json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	char tb[32];

	if (!v || json_is_null(v))
		return mm_strdup("-");
	if (json_is_string(v))
		return mm_strdup(json_string_value(v));
	if (json_is_boolean(v))
		return mm_strdup(json_is_true(v) ? "yes" : "no");
	if (json_is_integer(v) &&
	    (strstr(key, "time") || strstr(key, "seen") || strstr(key, "enrolled") ||
	     streq(key, "created") || streq(key, "expires")))
		return mm_strdup(ctl_time(v, tb));
	return jsonw_dump(v);
}

void ctl_print_table(json_t *rows, const char *const *cols, const char *const *keys)
{
	size_t ncols = 0, width[MAX_COLS] = {0}, i;
	json_t *row;

	while (ncols < MAX_COLS && cols[ncols])
		ncols++;
	for (size_t k = 0; k < ncols; k++)
		width[k] = strlen(cols[k]);
	json_array_foreach (rows, i, row)
		for (size_t k = 0; k < ncols; k++) {
			_cleanup_(freep) char *s = cell(row, keys[k]);

			if (s && strlen(s) > width[k])
				width[k] = strlen(s);
		}
	for (size_t k = 0; k < ncols; k++)
		printf("%-*s%s", (int) width[k], cols[k], k + 1 < ncols ? "  " : "\n");
	json_array_foreach (rows, i, row)
		for (size_t k = 0; k < ncols; k++) {
			_cleanup_(freep) char *s = cell(row, keys[k]);

			printf("%-*s%s", (int) width[k], s ? s : "?", k + 1 < ncols ? "  " : "\n");
		}
}
