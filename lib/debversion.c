/*
 * Debian version parsing and ordering (lib/debversion.h), a transcription of dpkg's
 * parseversion() and verrevcmp() onto length-bounded strings, so a version is parsed
 * in place, without copying, from a Packages or status file.
 *
 * The ordering: the epochs as numbers; then the upstream parts, then the revisions, each
 * by verrevcmp: alternately a run of non-digits, compared character by character where
 * '~' sorts before everything (even the end of the string), letters sort before every
 * other character and the end of the string sits between '~' and letters; then a run of
 * digits, compared as a number (leading zeros ignored). So 1.0~rc1 < 1.0 < 1.0+b1 < 1.0a.
 *
 * Characters are ordered as dpkg orders them on this platform: dpkg reads them as `char`,
 * which is signed on x86, so a byte >= 0x80 (never in a valid version) orders below '~'
 * plus 256 would; the same is done here for exact agreement with the oracle.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "lib/debversion.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int debversion_parse(const char *text, struct debversion *ret)
{
	struct debversion v = {0};
	const char *s = text, *end, *p, *colon, *hyphen = NULL;

	while (*s && is_blank(*s))
		s++;
	if (!*s)
		return -EINVAL; /* version string is empty */
	for (end = s; *end && !is_blank(*end); end++)
		;
	for (p = end; *p && is_blank(*p); p++)
		;
	if (*p)
		return -EINVAL; /* embedded spaces */

	colon = memchr(s, ':', (size_t) (end - s));
	if (colon) {
		/* strtol(3) as dpkg calls it: optional white space (only what is not a blank can
		 * be left: "\n1:2" has epoch 1), an optional sign, digits, which must end exactly
		 * at the colon */
		const char *q = s;
		bool negative = false;
		unsigned long epoch = 0;

		while (q < colon && strchr("\n\v\f\r", *q))
			q++;
		if (*q == '+' || *q == '-')
			negative = *q++ == '-';
		if (!is_digit(*q))
			return -EINVAL; /* epoch empty, or not a number */
		for (; is_digit(*q); q++) {
			epoch = epoch * 10 + (unsigned long) (*q - '0');
			if (epoch > (unsigned long) INT_MAX + 1)
				epoch = (unsigned long) INT_MAX + 1; /* too big either way */
		}
		if (q != colon)
			return -EINVAL; /* not a number */
		if (negative && epoch > 0)
			return -EINVAL; /* negative */
		if (epoch > INT_MAX)
			return -EINVAL; /* too big */
		if (colon + 1 == end)
			return -EINVAL; /* nothing after the colon */
		v.epoch = epoch;
		s = colon + 1;
	}
	for (p = s; p < end; p++)
		if (*p == '-')
			hyphen = p;
	v.upstream = s;
	v.upstream_len = (size_t) ((hyphen ? hyphen : end) - s);
	v.revision = hyphen ? hyphen + 1 : end;
	v.revision_len = hyphen ? (size_t) (end - hyphen - 1) : 0;
	if (hyphen && v.revision_len == 0)
		return -EINVAL; /* revision number is empty */
	if (v.upstream_len == 0)
		return -EINVAL; /* version number is empty */
	v.odd = !is_digit(v.upstream[0]);
	for (size_t i = 0; i < v.upstream_len; i++)
		if (!is_digit(v.upstream[i]) && !is_alpha(v.upstream[i]) &&
		    !strchr(".-+~:", v.upstream[i]))
			v.odd = true;
	for (size_t i = 0; i < v.revision_len; i++)
		if (!is_digit(v.revision[i]) && !is_alpha(v.revision[i]) &&
		    !strchr(".+~", v.revision[i]))
			v.odd = true;
	*ret = v;
	return 0;
}

/* dpkg's order(): the weight of one character of a non-digit run; 0 is the end. */
static int order(int c)
{
	if (is_digit((char) c))
		return 0;
	if (is_alpha((char) c))
		return c;
	if (c == '~')
		return -1;
	if (c)
		return c + 256;
	return 0;
}

/* The character at p, or 0 at the end, read as dpkg reads it (signed char). */
static int at(const char *p, const char *end)
{
	return p < end ? (int) (signed char) *p : 0;
}

static int verrevcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *ae = a + alen, *be = b + blen;

	while (a < ae || b < be) {
		int first_diff = 0;

		while ((a < ae && !is_digit(*a)) || (b < be && !is_digit(*b))) {
			int ac = order(at(a, ae)), bc = order(at(b, be));

			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (a < ae && *a == '0')
			a++;
		while (b < be && *b == '0')
			b++;
		while (a < ae && b < be && is_digit(*a) && is_digit(*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (a < ae && is_digit(*a))
			return 1;
		if (b < be && is_digit(*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

int debversion_compare(const struct debversion *a, const struct debversion *b)
{
	int r;

	if (a->epoch != b->epoch)
		return a->epoch > b->epoch ? 1 : -1;
	r = verrevcmp(a->upstream, a->upstream_len, b->upstream, b->upstream_len);
	if (r)
		return sign(r);
	return sign(verrevcmp(a->revision, a->revision_len, b->revision, b->revision_len));
}

int debversion_compare_text(const char *a, const char *b, int *ret)
{
	struct debversion va, vb;

	if (debversion_parse(a, &va) < 0 || debversion_parse(b, &vb) < 0)
		return -EINVAL;
	*ret = debversion_compare(&va, &vb);
	return 0;
}
