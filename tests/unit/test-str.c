/* Number parsing refuses what atoi would silently take; lines and trimming. */
#include <errno.h>

#include "lib/str.h"
#include "tests/tap.h"

int main(void)
{
	uint64_t u = 7;
	int64_t i;
	char text[] = "one\ntwo\r\n\nlast";
	char *cur = text, *l;
	char pad[] = "  \t x y \n";

	CHECK_INT(str_to_u64("42", 10, &u), 0, "plain decimal");
	CHECK_INT(u, 42, "value");
	CHECK_INT(str_to_u64("", 10, &u), -EINVAL, "empty refused");
	CHECK_INT(str_to_u64("12x", 10, &u), -EINVAL, "trailing junk refused");
	CHECK_INT(str_to_u64("-1", 10, &u), -EINVAL, "sign on unsigned refused");
	CHECK_INT(str_to_u64("99999999999999999999999", 10, &u), -ERANGE, "overflow refused");
	CHECK_INT(str_to_u64("0x1f", 0, &u), 0, "base 0 takes hex");
	CHECK_INT(u, 31, "hex value");
	CHECK_INT(str_to_i64("-5", 10, &i), 0, "negative signed");
	CHECK_INT(i, -5, "signed value");

	l = str_next_line(&cur);
	CHECK_STR(l, "one", "first line");
	l = str_next_line(&cur);
	CHECK_STR(l, "two\r", "second line keeps its CR");
	l = str_next_line(&cur);
	CHECK_STR(l, "", "empty line");
	l = str_next_line(&cur);
	CHECK_STR(l, "last", "last line without newline");
	CHECK(str_next_line(&cur) == NULL, "end of text");

	CHECK_STR(str_strip(pad), "x y", "strip");
	CHECK(str_is_clean_utf8("日本語 ok", strlen("日本語 ok")), "UTF-8 accepted");
	CHECK(!str_is_clean_utf8("a\x01", 2), "control character refused");
	CHECK(!str_is_clean_utf8("\xc0\xaf", 2), "overlong encoding refused");
	CHECK(!str_is_clean_utf8("\xe3\x81", 2), "truncated sequence refused");
	CHECK(str_startswith("prefix-rest", "prefix-") != NULL, "startswith");
	CHECK(str_endswith("file.cvd", ".cvd"), "endswith");
	{
		char junk[] = "a\0b\0\0c";

		CHECK_INT(str_replace_nul(junk, sizeof(junk) - 1, '?'), 3, "NULs inside replaced");
		CHECK_STR(junk, "a?b??c", "text runs to its end");
	}
	return tap_done();
}
