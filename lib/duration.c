/*
 * Duration parsing. Ten years is the ceiling: no token or interval in mamori is meant to
 * live longer, and it keeps every product within int64_t seconds and milliseconds.
 */
#include <errno.h>
#include <string.h>

#include "lib/duration.h"
#include "lib/str.h"

#define DURATION_MAX (10LL * 366 * 24 * 3600)

int duration_parse(const char *s, int64_t *ret_seconds)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = {
		{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800},
	};
	char num[24];
	size_t n = s ? strlen(s) : 0;
	int64_t mult = 1, v;
	uint64_t u;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (num[n - 1] == units[i].unit) {
			mult = units[i].seconds;
			num[--n] = '\0';
			break;
		}
	if (n == 0 || strspn(num, "0123456789") != n)
		return -EINVAL;
	if (str_to_u64(num, 10, &u) < 0 || u > (uint64_t) DURATION_MAX)
		return -ERANGE;
	v = (int64_t) u * mult;
	if (v > DURATION_MAX)
		return -ERANGE;
	*ret_seconds = v;
	return 0;
}
