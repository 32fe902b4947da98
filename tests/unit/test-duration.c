/* Durations as administrators write them. */
#include <errno.h>

#include "lib/duration.h"
#include "tests/tap.h"

int main(void)
{
	int64_t s = -1;

	CHECK_INT(duration_parse("90", &s), 0, "plain seconds");
	CHECK_INT(s, 90, "value");
	CHECK_INT(duration_parse("30m", &s), 0, "minutes");
	CHECK_INT(s, 1800, "value");
	CHECK_INT(duration_parse("24h", &s), 0, "hours");
	CHECK_INT(s, 86400, "value");
	CHECK_INT(duration_parse("7d", &s), 0, "days");
	CHECK_INT(s, 604800, "value");
	CHECK_INT(duration_parse("2w", &s), 0, "weeks");
	CHECK_INT(s, 1209600, "value");
	CHECK_INT(duration_parse("", &s), -EINVAL, "empty refused");
	CHECK_INT(duration_parse("h", &s), -EINVAL, "unit without number refused");
	CHECK_INT(duration_parse("-5m", &s), -EINVAL, "negative refused");
	CHECK_INT(duration_parse("5 m", &s), -EINVAL, "space refused");
	CHECK_INT(duration_parse("5y", &s), -EINVAL, "unknown unit refused");
	CHECK_INT(duration_parse("99999999999d", &s), -ERANGE, "absurd length refused");
	CHECK_INT(s, 1209600, "a refused input leaves the result untouched");
	return tap_done();
}
