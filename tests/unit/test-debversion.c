/*
 * Debian version ordering (lib/debversion.c) against dpkg: every expected result in the
 * table below was computed with `dpkg --compare-versions A lt|eq|gt B` (dpkg 1.21), and
 * tests/integ/debversion.sh checks thousands more pairs live against dpkg. Also: what
 * dpkg refuses to parse, and its order being a total order (antisymmetric).
 */
#include <errno.h>

#include "lib/debversion.h"
#include "tests/tap.h"

#define BAD 2 /* dpkg refuses a version of the pair (exit status 2) */

static const struct {
	const char *a, *b;
	int want;
} pairs[] = {
	{"1.0", "1.0", 0},
	{"1.0", "1.0-0", 0},
	{"1.0", "1.0-1", -1},
	{"1.0-1", "1.0-2", -1},
	{"1.0~rc1", "1.0", -1},
	{"1.0~rc1", "1.0~rc1~1", 1},
	{"1.0~~", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0", "1.0+b1", -1},
	{"1.0", "1.0a", -1},
	{"1.0+b1", "1.0a", 1},
	{"1.0-1", "1.0-1+b1", -1},
	{"1.0-1+deb12u1", "1.0-1+deb12u2", -1},
	{"1.0-1+deb12u9", "1.0-1+deb12u10", -1},
	{"1:1.0", "2.0", 1},
	{"1:1.0", "0:2.0", 1},
	{"0:1.0", "1.0", 0},
	{"1:2.38.1-5+deb12u3", "1:2.38.1-5+deb12u2", 1},
	{"2.38.1-5+deb12u3", "1:2.38.1-5+deb12u3", -1},
	{"10", "9", 1},
	{"010", "10", 0},
	{"1.002", "1.2", 0},
	{"1.2.3", "1.2.3.0", -1},
	{"1.2a", "1.2b", -1},
	{"1.2A", "1.2a", -1},
	{"1.2.a", "1.2a", 1},
	{"1.2-a", "1.2-A", 1},
	{"1.0-1ubuntu1", "1.0-1", 1},
	{"5.2.15-2+b8", "5.2.15-2+b13", -1},
	{"4.13+dfsg1-1+deb12u1", "4.13+dfsg1-1+deb12u2", -1},
	{"2.36-9+deb12u9", "2.36-9+deb12u10", -1},
	{"1.21.22", "1.21.23", -1},
	{"3.0.11-1~deb12u2", "3.0.11-1", -1},
	{"3.0.11-1~deb12u2", "3.0.11-1~deb12u1", 1},
	{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
	{"1.0-1~bpo12+1", "1.0-1", -1},
	{"1.0.0", "1.0", 1},
	{"a", "1", 1},
	{"a", "b", -1},
	{"1.0:1", "1.0:2", BAD},
	{"1:1:1", "1:1:2", -1},
	{"1.0-1-1", "1.0-1-2", -1},
	{"1.0-1-1", "1.0-1.1", 1},
	{"1.0+dfsg", "1.0", 1},
	{"1.0+dfsg", "1.0-1", 1},
	{"0.0", "0", 1},
	{"0", "00", 0},
	{"1.0-0", "1.0", 0},
	{"1.0-00", "1.0-0", 0},
	{"2:0", "1:9999", 1},
	{"1.0~beta", "1.0~alpha", 1},
	{"1.0~beta1", "1.0~beta", 1},
	{"20240101", "20231231", 1},
	{"1.2.3-4.5", "1.2.3-4.5.0", -1},
	{"1.2.3-4+5", "1.2.3-4.5", -1},
	{"9.2p1-2+deb12u3", "9.2p1-2+deb12u2", 1},
	{"1:9.2p1-2", "9.2p1-2", 1},
};

int main(void)
{
	struct debversion v;
	int r = 0;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		int got = 9, back = 9;
		int rc = debversion_compare_text(pairs[i].a, pairs[i].b, &got);

		if (pairs[i].want == BAD) {
			CHECK_INT(rc, -EINVAL, pairs[i].a);
			continue;
		}
		CHECK(rc == 0 && got == pairs[i].want, "%s vs %s: %d (dpkg: %d)", pairs[i].a,
		      pairs[i].b, got, pairs[i].want);
		rc = debversion_compare_text(pairs[i].b, pairs[i].a, &back);
		CHECK(rc == 0 && back == -got, "  and the other way round: %d", back);
	}

	/* what dpkg refuses (exit status 2 from --compare-versions) */
	static const char *const refused[] = {"",      "   ",  "1:",   ":1",  "a:1",
					      "-1:1",  "1.0-", "-1",   "1 0", "2147483648:1",
					      "1.0:1", "1:-1", "1\t2", "+:1"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CHECK(debversion_parse(refused[i], &v) == -EINVAL, "'%s' refused", refused[i]);

	/* what dpkg takes, warning or not */
	CHECK(debversion_parse(" 1.0 ", &v) == 0 && v.upstream_len == 3 && !v.odd,
	      "blanks around are skipped");
	CHECK(debversion_parse("+1:2", &v) == 0 && v.epoch == 1,
	      "a '+' epoch sign, as strtol takes it");
	CHECK(debversion_parse("2147483647:1", &v) == 0 && v.epoch == 2147483647, "INT_MAX epoch");
	CHECK(debversion_parse("a", &v) == 0 && v.odd, "'a' parses with a warning");
	CHECK(debversion_parse("1.0_1", &v) == 0 && v.odd, "'_' parses with a warning");
	CHECK(debversion_parse("1.0-a_b", &v) == 0 && v.odd, "'_' in a revision is odd");
	r = debversion_parse("1:2.38.1-5+deb12u3", &v);
	CHECK(r == 0 && v.epoch == 1 && v.upstream_len == 6 &&
		      memcmp(v.upstream, "2.38.1", 6) == 0 && v.revision_len == 9 &&
		      memcmp(v.revision, "5+deb12u3", 9) == 0 && !v.odd,
	      "epoch, upstream and revision split");
	r = debversion_parse("1.0-1-2", &v);
	CHECK(r == 0 && v.upstream_len == 5 && v.revision_len == 1,
	      "the revision starts after the last hyphen");
	return tap_done();
}
