/*
 * ClamAV database headers. Every signature database freshclam installs (.cvd, and the
 * .cld it turns one into after applying incremental updates, and sigtool's unsigned .cud)
 * starts with a 512-byte text header padded with spaces:
 *
 *   ClamAV-VDB:14 Nov 2024 09-51 +0000:27457:2069929:90:<md5>:<dsig>:raynman:1731577889
 *
 * fields separated by ':' — build date, version, number of signatures, functionality
 * level, MD5, digital signature, builder, and "stime", the build time in Unix seconds.
 * The date uses '-' between hour and minute because ':' separates fields. Old headers
 * may lack stime; then the date text gives the build time.
 *
 * Only the header is read: a database is hundreds of megabytes. Numbers are checked
 * strictly (libclamav uses atoi, which turns garbage into 0; we refuse garbage so a
 * corrupt file is reported, not mistaken for version 0). Builder and date are kept only
 * when they are printable text.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/str.h"

#define CVD_MAGIC  "ClamAV-VDB:"
#define CVD_FIELDS 8 /* after the magic: time … stime */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static int parse_fixed(const char *s, size_t n, unsigned *ret)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char) s[i]))
			return -EBADMSG;
		v = v * 10 + (unsigned) (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int cvd_parse_time(const char *text, int64_t *ret)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned day, month = 0, year, hour, minute, oh, om;
	const char *p = text;
	size_t n;
	int sign;

	/* "14 Nov 2024 09-51 +0000"; the day may have one digit */
	n = strspn(p, "0123456789");
	if (n < 1 || n > 2 || parse_fixed(p, n, &day) < 0 || p[n] != ' ')
		return -EBADMSG;
	p += n + 1;
	for (month = 0; month < 12; month++)
		if (strncmp(p, months[month], 3) == 0)
			break;
	if (month == 12 || p[3] != ' ')
		return -EBADMSG;
	p += 4;
	if (parse_fixed(p, 4, &year) < 0 || p[4] != ' ')
		return -EBADMSG;
	p += 5;
	if (parse_fixed(p, 2, &hour) < 0 || (p[2] != '-' && p[2] != ':') ||
	    parse_fixed(p + 3, 2, &minute) < 0 || p[5] != ' ')
		return -EBADMSG;
	p += 6;
	if (*p != '+' && *p != '-')
		return -EBADMSG;
	sign = *p == '-' ? -1 : 1;
	if (parse_fixed(p + 1, 2, &oh) < 0 || parse_fixed(p + 3, 2, &om) < 0)
		return -EBADMSG;
	p += 5;
	while (*p == ' ')
		p++;
	if (*p || year < 1970 || day < 1 || day > mdays[month] || hour > 23 || minute > 59 ||
	    oh > 14 || om > 59)
		return -EBADMSG;
	*ret = days_from_civil(year, month + 1, day) * 86400 + (int64_t) hour * 3600 +
	       (int64_t) minute * 60 - sign * ((int64_t) oh * 3600 + (int64_t) om * 60);
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char) *s))
			return false;
	return true;
}

int cvd_parse_header(const char *data, size_t len, struct cvd_header *ret)
{
	char head[CVD_HEADER_SIZE + 1];
	char *field[CVD_FIELDS] = {0};
	struct cvd_header h = {.build_time = -1};
	size_t n = len < CVD_HEADER_SIZE ? len : CVD_HEADER_SIZE;
	unsigned nf = 0;
	uint64_t v;
	char *p;

	memcpy(head, data, n);
	head[n] = '\0';
	h.truncated = len < CVD_HEADER_SIZE;
	if (strlen(head) != n || !str_startswith(head, CVD_MAGIC))
		return -EBADMSG; /* a NUL inside the header, or not a database */
	/* the padding: spaces (and, in some old files, a newline) after the last field */
	while (n > 0 && (head[n - 1] == ' ' || head[n - 1] == '\n' || head[n - 1] == '\r'))
		head[--n] = '\0';
	p = head + strlen(CVD_MAGIC);
	while (nf < CVD_FIELDS - 1) {
		char *colon = strchr(p, ':');

		field[nf++] = p;
		if (!colon) {
			p = NULL;
			break;
		}
		*colon = '\0';
		p = colon + 1;
	}
	if (p)
		field[nf++] = p; /* stime: whatever is left */

	/* time, version, signatures and level are what every reader of the header needs */
	if (nf < 4)
		return -EBADMSG;
	if (str_to_u64(field[1], 10, &h.version) < 0 || h.version == 0)
		return -EBADMSG;
	if (str_to_u64(field[2], 10, &h.signatures) < 0)
		return -EBADMSG;
	if (str_to_u64(field[3], 10, &v) < 0 || v > 100000)
		return -EBADMSG;
	h.functionality_level = (unsigned) v;
	if (strlen(field[0]) < sizeof(h.time_text) && printable(field[0]))
		(void) snprintf(h.time_text, sizeof(h.time_text), "%s", field[0]);
	if (nf > 6 && strlen(field[6]) < sizeof(h.builder) && printable(field[6]))
		(void) snprintf(h.builder, sizeof(h.builder), "%s", field[6]);
	if (nf > 7) {
		int64_t t;

		str_strip(field[7]);
		if (str_to_i64(field[7], 10, &t) == 0 && t > 0) {
			h.build_time = t;
			h.from_stime = true;
		}
	}
	if (h.build_time < 0 && h.time_text[0]) {
		int64_t t;

		if (cvd_parse_time(h.time_text, &t) == 0)
			h.build_time = t;
	}
	*ret = h;
	return 0;
}
