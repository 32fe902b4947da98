/*
 * The pieces of apt's pending security updates (agent/col_apt.c, agent/unpack.c):
 *   - Release files: which sources are security ones (Debian 11+, Debian 10's label,
 *     Ubuntu), clear-signed or not, and only their first paragraph;
 *   - Packages lists fed in pieces give the same stanzas as one parse, a list cut short
 *     loses its last stanza, junk stanzas are counted, not given;
 *   - the LZ4 decoder against liblz4's encoder: every block size, linked and independent
 *     blocks, with and without checksums and content size, over text, long runs (matches
 *     far longer than the window) and random bytes (stored blocks), read in pieces of many
 *     sizes; cut anywhere, a frame is an error, never wrong bytes; gzip the same through
 *     zlib; the output cap holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <zlib.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "tests/tap.h"

static void test_release(void)
{
	struct col_apt_release r;
	char inrelease[] = "-----BEGIN PGP SIGNED MESSAGE-----\n"
			   "Hash: SHA512\n"
			   "\n"
			   "Origin: Debian\n"
			   "Label: Debian-Security\n"
			   "Suite: stable-security\n"
			   "Codename: bookworm-security\n"
			   "SHA256:\n"
			   " 0123 12 main/binary-amd64/Packages\n"
			   "-----BEGIN PGP SIGNATURE-----\n"
			   "Suite: not-this\n";
	char ubuntu[] = "Origin: Ubuntu\nLabel: Ubuntu\nSuite: jammy-security\nCodename: jammy\n";
	char buster[] = "Origin: Debian\nLabel: Debian-Security\nSuite: oldoldstable\n"
			"Codename: buster\n";
	char main_[] = "Origin: Debian\r\nLabel: Debian\r\nSuite: stable\r\nCodename: bookworm\r\n";
	char second[] = "Origin: Debian\nSuite: stable\n\nSuite: stable-security\n";
	char junk[] = " binary junk Suite: x-security\n\n";
	char armour_only[] = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n";

	CHECK(col_apt_parse_release(inrelease, &r) == 0 && streq(r.suite, "stable-security") &&
		      streq(r.codename, "bookworm-security") && streq(r.label, "Debian-Security") &&
		      streq(r.origin, "Debian"),
	      "InRelease: the armour is stepped over, the fields read");
	CHECK(col_apt_release_is_security(&r), "  a security source");
	CHECK(col_apt_parse_release(ubuntu, &r) == 0 && col_apt_release_is_security(&r),
	      "Ubuntu's jammy-security is a security source");
	CHECK(col_apt_parse_release(buster, &r) == 0 && col_apt_release_is_security(&r),
	      "Debian 10's security source, by its label");
	CHECK(col_apt_parse_release(main_, &r) == 0 && streq(r.codename, "bookworm") &&
		      !col_apt_release_is_security(&r),
	      "Debian's main archive is not (CRLF lines read)");
	CHECK(col_apt_parse_release(second, &r) == 0 && streq(r.suite, "stable") &&
		      !col_apt_release_is_security(&r),
	      "only the first paragraph counts");
	CHECK(col_apt_parse_release(junk, &r) == -EBADMSG, "no field at all: -EBADMSG");
	CHECK(col_apt_parse_release(armour_only, &r) == -EBADMSG,
	      "armour without fields: -EBADMSG");
}

struct stanzas {
	char text[8192];
	size_t n;
	int fail_at; /* the n-th stanza's callback fails (0: never) */
};

static int collect_stanza(const char *package, const char *arch, const char *version,
			  void *userdata)
{
	struct stanzas *s = userdata;
	size_t used = strlen(s->text);

	s->n++;
	if (s->fail_at && (int) s->n == s->fail_at)
		return -ECANCELED;
	(void) snprintf(s->text + used, sizeof(s->text) - used, "%s/%s=%s;", package, arch,
			version);
	return 0;
}

/* Parses text in pieces of `piece` bytes as the collector does (0: in one go). */
static int parse_pieces(const char *text, size_t piece, struct stanzas *out,
			struct col_apt_packages_stats *st)
{
	size_t size = strlen(text), len = 0, fed = 0;
	char *buf = mm_malloc(size + 1);
	int r = 0;

	*st = (struct col_apt_packages_stats){0};
	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t k = piece ? MIN(piece, size - fed) : size - fed, used = 0;
		bool end;

		memcpy(buf + len, text + fed, k);
		fed += k;
		len += k;
		buf[len] = '\0';
		end = fed == size;
		r = col_apt_parse_packages(buf, len, end, collect_stanza, out, st, &used);
		if (r < 0)
			break;
		memmove(buf, buf + used, len - used);
		len -= used;
		if (end)
			break;
	}
	mm_free(buf);
	return r;
}

static void test_packages(void)
{
	static const char list[] =
		"Package: apt\nVersion: 2.6.2\nInstalled-Size: 4000\nArchitecture: amd64\n"
		"Depends: libc6 (>= 2.34),\n libapt-pkg6.0 (>= 2.6.2)\nDescription: x\n\n"
		"package: vim-common\r\nversion:  2:9.0.1378-2+deb12u3 \r\nARCHITECTURE: "
		"all\r\n\r\n"
		"Package: no-version\nArchitecture: all\n\n"
		"not a field line\n"
		"Package: spaced name\nVersion: 1\nArchitecture: all\n\n"
		"\n\n"
		"Package: libc6\nArchitecture: i386\nVersion: 2.36-9+deb12u15\n";
	struct stanzas whole = {0}, cut;
	struct col_apt_packages_stats st;
	bool same = true;

	CHECK(parse_pieces(list, 0, &whole, &st) == 0, "a list parses");
	CHECK_STR(whole.text,
		  "apt/amd64=2.6.2;vim-common/all=2:9.0.1378-2+deb12u3;libc6/i386=2.36-9+deb12u15;",
		  "  the stanzas with a package, an architecture and a version, in order");
	CHECK(st.stanzas == 3 && st.skipped == 2 && st.bad_lines == 1 && !st.truncated,
	      "  two skipped (no version, a name with a space), one malformed line");
	for (size_t piece = 1; piece < sizeof(list); piece++) {
		cut = (struct stanzas){0};
		if (parse_pieces(list, piece, &cut, &st) < 0 || !streq(cut.text, whole.text)) {
			same = false;
			printf("# pieces of %zu bytes: %s\n", piece, cut.text);
		}
	}
	CHECK(same, "fed in pieces of every size, the same stanzas");

	cut = (struct stanzas){0};
	CHECK(parse_pieces("Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1.2",
			   7, &cut, &st) == 0 &&
		      streq(cut.text, "a/all=1;") && st.truncated,
	      "a list cut short loses its last stanza (a cut version would be wrong)");
	cut = (struct stanzas){.fail_at = 2};
	CHECK(parse_pieces(list, 0, &cut, &st) == -ECANCELED, "the callback's error stops it");
	cut = (struct stanzas){0};
	CHECK(parse_pieces("", 0, &cut, &st) == 0 && cut.n == 0, "an empty list is empty");
}

/* Reads everything from u in pieces of `piece` bytes. *ret_len gets the bytes read. */
static int read_all(struct unpack *u, size_t piece, unsigned char *out, size_t cap, size_t *ret_len)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = unpack_read(u, out + len, MIN(piece, cap - len));

		if (n < 0)
			return (int) n;
		if (n == 0)
			break;
		len += (size_t) n;
		if (len == cap)
			return -E2BIG;
	}
	*ret_len = len;
	return 0;
}

static int decode(const void *in, size_t in_len, enum unpack_format f, size_t piece,
		  unsigned char *out, size_t cap, size_t *ret_len)
{
	struct unpack *u = NULL;
	int r = unpack_new(-1, in, in_len, f, cap, &u);

	if (r < 0)
		return r;
	r = read_all(u, piece, out, cap + 1, ret_len);
	unpack_free(u);
	return r;
}

static unsigned char *make_data(int kind, size_t n)
{
	unsigned char *d = mm_malloc(n);
	unsigned x = 12345;

	if (!d)
		abort();
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		if (kind == 0) /* text-like: Packages stanzas with variation */
			d[i] = (unsigned char) ("Package: libfoo\nVersion: 1.2.3-4+deb12u"[i % 38] +
						((i / 977) % 3 == 0 && i % 38 == 37 ? x % 5 : 0));
		else if (kind == 1) /* long runs: matches far longer than the window */
			d[i] = (unsigned char) (i < n / 2 ? 0 : 'z');
		else /* random: incompressible, stored blocks */
			d[i] = (unsigned char) (x >> 16);
	}
	return d;
}

static void test_lz4(void)
{
	static const LZ4F_blockSizeID_t sizes[] = {LZ4F_max64KB, LZ4F_max256KB, LZ4F_max1MB,
						   LZ4F_max4MB};
	static const size_t pieces[] = {1, 7, 4096, 100000};
	static const size_t lens[] = {0, 1, 70000, 5u << 20};
	size_t cap = (6u << 20);
	unsigned char *out = mm_malloc(cap + 1);
	unsigned failures = 0, runs = 0;

	if (!out)
		abort();
	for (int kind = 0; kind < 3; kind++)
		for (size_t li = 0; li < ARRAY_SIZE(lens); li++) {
			size_t n = lens[li];
			unsigned char *data = make_data(kind, n ? n : 1);

			for (size_t si = 0; si < ARRAY_SIZE(sizes); si++)
				for (int mode = 0; mode < 4; mode++) {
					LZ4F_preferences_t p;
					size_t bound, clen, got = 0;
					unsigned char *comp;
					int r;

					memset(&p, 0, sizeof(p));
					p.frameInfo.blockSizeID = sizes[si];
					p.frameInfo.blockMode =
						mode & 1 ? LZ4F_blockIndependent : LZ4F_blockLinked;
					p.frameInfo.contentChecksumFlag =
						mode & 2 ? LZ4F_contentChecksumEnabled
							 : LZ4F_noContentChecksum;
					p.frameInfo.blockChecksumFlag =
						mode & 2 ? LZ4F_blockChecksumEnabled
							 : LZ4F_noBlockChecksum;
					p.frameInfo.contentSize = mode == 3 ? n : 0;
					p.compressionLevel = mode == 1 && n < (1u << 20) ? 9 : 0;
					bound = LZ4F_compressFrameBound(n, &p);
					comp = mm_malloc(bound);
					if (!comp)
						abort();
					clen = LZ4F_compressFrame(comp, bound, data, n, &p);
					if (LZ4F_isError(clen))
						abort();
					r = decode(comp, clen, UNPACK_LZ4,
						   n > 100000 ? pieces[2 + mode % 2]
							      : pieces[(si + mode + li) %
								       ARRAY_SIZE(pieces)],
						   out, cap, &got);
					runs++;
					if (r < 0 || got != n || (n && memcmp(out, data, n) != 0)) {
						failures++;
						printf("# kind %d, %zu bytes, block size %d, mode "
						       "%d: %d, "
						       "%zu bytes\n",
						       kind, n, (int) sizes[si], mode, r, got);
					}
					/* cut: an error, never success with other bytes */
					if (clen > 8 && n > 0) {
						size_t at = clen / 2 + (size_t) kind;

						r = decode(comp, MIN(at, clen - 1), UNPACK_LZ4,
							   4096, out, cap, &got);
						if (r != -EBADMSG) {
							failures++;
							printf("# cut at %zu of %zu: %d\n", at,
							       clen, r);
						}
					}
					mm_free(comp);
				}
			mm_free(data);
		}
	CHECK(failures == 0, "LZ4: %u frames of liblz4 decode to their bytes, and cut are errors",
	      runs);

	{
		/* two frames, a skippable frame between them */
		unsigned char buf[256], *p = buf;
		static const unsigned char skip[] = {0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3};
		size_t got = 0, k;

		k = LZ4F_compressFrame(p, 100, "abc\n", 4, NULL);
		p += k;
		memcpy(p, skip, sizeof(skip));
		p += sizeof(skip);
		k = LZ4F_compressFrame(p, 100, "def\n", 4, NULL);
		p += k;
		CHECK(decode(buf, (size_t) (p - buf), UNPACK_LZ4, 3, out, cap, &got) == 0 &&
			      got == 8 && memcmp(out, "abc\ndef\n", 8) == 0,
		      "LZ4: concatenated frames, a skippable frame stepped over");
	}
	{
		/* a match reaching before the start of the output */
		static const unsigned char bad[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7,
						    4,    0,    0,    0,    0x10, 'a',  0x05,
						    0x00, 0,    0,    0,    0};
		static const unsigned char not_lz4[] = "Package: a\n";
		size_t got;

		CHECK(decode(bad, sizeof(bad), UNPACK_LZ4, 64, out, cap, &got) == -EBADMSG,
		      "LZ4: a match offset beyond the output is refused");
		CHECK(decode(not_lz4, sizeof(not_lz4) - 1, UNPACK_LZ4, 64, out, cap, &got) ==
			      -EBADMSG,
		      "LZ4: a text that is not LZ4 is refused");
	}
	{
		/* the output cap: 5 MiB of zeros compress to a few KiB */
		unsigned char *zeros = make_data(1, 5u << 20), *comp;
		size_t bound = LZ4F_compressFrameBound(5u << 20, NULL), clen, got;

		comp = mm_malloc(bound);
		if (!comp)
			abort();
		clen = LZ4F_compressFrame(comp, bound, zeros, 5u << 20, NULL);
		CHECK(decode(comp, clen, UNPACK_LZ4, 65536, out, 1u << 20, &got) == -E2BIG,
		      "LZ4: past the output cap, -E2BIG (%zu bytes in)", clen);
		mm_free(comp);
		mm_free(zeros);
	}
	mm_free(out);
}

static void test_gzip(void)
{
	unsigned char *data = make_data(0, 300000), *comp = mm_malloc(400000), *out;
	size_t got = 0, clen;
	z_stream z = {0};
	int r;

	out = mm_malloc(400001);
	if (!comp || !out ||
	    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = data;
	z.avail_in = 300000;
	z.next_out = comp;
	z.avail_out = 400000;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	clen = z.total_out;
	(void) deflateEnd(&z);
	r = decode(comp, clen, UNPACK_GZIP, 5000, out, 400000, &got);
	CHECK(r == 0 && got == 300000 && memcmp(out, data, got) == 0, "gzip decodes to its bytes");
	CHECK(decode(comp, clen - 10, UNPACK_GZIP, 5000, out, 400000, &got) == -EBADMSG,
	      "gzip cut short: -EBADMSG");
	CHECK(decode(comp, clen, UNPACK_GZIP, 5000, out, 1000, &got) == -E2BIG,
	      "gzip past the output cap: -E2BIG");
	CHECK(decode("plain text\n", 11, UNPACK_NONE, 3, out, 400000, &got) == 0 && got == 11 &&
		      memcmp(out, "plain text\n", 11) == 0,
	      "no compression: the bytes as they are");
	mm_free(data);
	mm_free(comp);
	mm_free(out);
}

static void test_formats(void)
{
	enum unpack_format f = UNPACK_NONE;

	CHECK(unpack_format_of("x_Packages.lz4", &f) == 0 && f == UNPACK_LZ4, ".lz4");
	CHECK(unpack_format_of("x_Packages.gz", &f) == 0 && f == UNPACK_GZIP, ".gz");
	CHECK(unpack_format_of("x_Packages", &f) == 0 && f == UNPACK_NONE, "no suffix");
	CHECK(unpack_format_of("x_Packages.xz", &f) == -ENOTSUP, ".xz is not read");
	CHECK(unpack_format_of("x_Packages.zst", &f) == -ENOTSUP, ".zst is not read");
}

int main(void)
{
	test_release();
	test_packages();
	test_lz4();
	test_gzip();
	test_formats();
	return tap_done();
}
