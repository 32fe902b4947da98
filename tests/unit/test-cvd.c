/*
 * ClamAV database headers: a real database built by sigtool, the date fallback when
 * stime is missing, truncated files, and garbage that must be refused, not read as 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/mm.h"
#include "tests/tap.h"

static void pad(char *buf, const char *text)
{
	size_t n = strlen(text);

	memcpy(buf, text, n);
	memset(buf + n, ' ', CVD_HEADER_SIZE - n);
}

static void real_database(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	_cleanup_(freep) char *path = NULL, *data = NULL;
	struct cvd_header h;
	size_t len = 0;

	path = mm_asprintf("%s/tests/fuzz/corpus/cvd/sigtool-daily-2024-01-01.cud",
			   src ? src : ".");
	/* a whole database (768 bytes) that `sigtool --build=daily.cud --unsigned` wrote under
	 * faketime '2024-01-01'; sigtool --info reads the same fields from it */
	if (!CHECK(path && fileio_read(NULL, path, 4096, &data, &len) == 0,
		   "the sigtool-built database is readable"))
		return;
	CHECK_INT(cvd_parse_header(data, len, &h), 0, "real header parses");
	CHECK_INT(h.version, 27000, "version as given to --cvd-version");
	CHECK_INT(h.signatures, 1, "one signature (one .hdb line)");
	CHECK_INT(h.functionality_level, 216, "sigtool 1.4's functionality level");
	CHECK_STR(h.builder, "mamori", "builder name");
	CHECK_INT(h.build_time, 1704067200, "build time 2024-01-01T00:00:00Z from stime");
	CHECK(h.from_stime, "build time came from stime");
	CHECK_STR(h.time_text, "01 Jan 2024 00-00 +0000", "date text kept as written");
	CHECK(!h.truncated, "a whole file is not truncated");
}

static void without_stime(void)
{
	char buf[CVD_HEADER_SIZE];
	struct cvd_header h;

	pad(buf, "ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:abc:def:sigmgr");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), 0, "header without stime parses");
	/* 08:32 at -04:00 is 12:32 UTC */
	CHECK_INT(h.build_time, 1631795520, "build time from the date and its offset");
	CHECK(!h.from_stime, "not from stime");
	CHECK_STR(h.builder, "sigmgr", "builder without stime");

	pad(buf, "ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:abc:def:sigmgr:later");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), 0, "junk stime: header still parses");
	CHECK_INT(h.build_time, 1631795520, "junk stime falls back to the date");

	pad(buf, "ClamAV-VDB:sometime:62:6647427:90");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), 0, "four fields are enough");
	CHECK_INT(h.build_time, -1, "no usable time: -1");
	CHECK_STR(h.builder, "", "no builder");
}

static void truncated(void)
{
	static const char text[] = "ClamAV-VDB:14 Nov 2024 09-51 +0000:27457:2069929:90:";
	struct cvd_header h;

	/* a file cut after 52 bytes (a truncated download, or a committed head) */
	CHECK_INT(cvd_parse_header(text, strlen(text), &h), 0, "truncated header parses");
	CHECK(h.truncated, "and says it is truncated");
	CHECK_INT(h.version, 27457, "version of a truncated header");
	CHECK_INT(h.build_time, 1731577860, "date of a truncated header");
	CHECK_INT(cvd_parse_header(text, 20, &h), -EBADMSG, "cut inside the date: refused");
	CHECK_INT(cvd_parse_header("", 0, &h), -EBADMSG, "empty file refused");
}

static void garbage(void)
{
	char buf[CVD_HEADER_SIZE];
	struct cvd_header h = {.version = 99};

	pad(buf, "ClamAV-VDB:yesterday:abc:-5:ninety:zz:zz:nobody:soon");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), -EBADMSG, "garbage version refused");
	CHECK_INT(h.version, 99, "result untouched on failure");
	pad(buf, "ClamAV-VDB:01 Jan 2024 00-00 +0000:0:1:90:x:x:b:1704067200");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), -EBADMSG, "version 0 refused");
	pad(buf, "ClamAV-VDB:01 Jan 2024 00-00 +0000:5:-1:90:x:x:b:1704067200");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), -EBADMSG, "negative signatures");
	pad(buf, "ClamAV-VDB:01 Jan 2024 00-00 +0000:99999999999999999999999:1:90");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), -EBADMSG, "overflowing version");
	pad(buf, "ClamAV-VDC:01 Jan 2024 00-00 +0000:5:1:90:x:x:b:1704067200");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), -EBADMSG, "wrong magic refused");
	pad(buf, "ClamAV-VDB:01 Jan 2024 00-00 +0000:5:1:90:x:x:b:1704067200");
	buf[40] = '\0';
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), -EBADMSG, "a NUL inside refused");
	pad(buf, "ClamAV-VDB:01 Jan 2024 00-00 +0000:5:1:90:x:x:bu\x01ilder:1704067200");
	CHECK_INT(cvd_parse_header(buf, sizeof(buf), &h), 0, "control byte in the builder");
	CHECK_STR(h.builder, "", "is not kept");
}

static void dates(void)
{
	int64_t t = 0;

	CHECK_INT(cvd_parse_time("14 Nov 2024 09-51 +0000", &t), 0, "date parses");
	CHECK_INT(t, 1731577860, "2024-11-14T09:51Z");
	CHECK_INT(cvd_parse_time("1 Mar 2024 00-00 +0900", &t), 0, "one-digit day, JST");
	CHECK_INT(t, 1709218800, "2024-02-29T15:00Z");
	CHECK_INT(cvd_parse_time("29 Feb 2024 12-00 +0000", &t), 0, "leap day");
	CHECK_INT(cvd_parse_time("31 Feb 2024 12-00 +0000", &t), -EBADMSG, "31 February");
	CHECK_INT(cvd_parse_time("14 Nvm 2024 09-51 +0000", &t), -EBADMSG, "bad month");
	CHECK_INT(cvd_parse_time("14 Nov 2024 24-00 +0000", &t), -EBADMSG, "hour 24");
	CHECK_INT(cvd_parse_time("14 Nov 2024 09-51", &t), -EBADMSG, "no offset");
	CHECK_INT(cvd_parse_time("14 Nov 2024 09-51 +0000 x", &t), -EBADMSG, "trailing junk");
	CHECK_INT(cvd_parse_time("", &t), -EBADMSG, "empty");
}

int main(void)
{
	mm_setup_jansson();
	real_database();
	without_stime();
	truncated();
	garbage();
	dates();
	return tap_done();
}
