/*
 * The LUKS header parser against headers built here byte by byte (LUKS1, LUKS2, the
 * LUKS2 secondary copy, truncated and corrupt ones), the LUKS2 header area with its
 * checksum and JSON, and the 4 KiB header cryptsetup wrote for the laptop fixture.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/mm.h"
#include "tests/tap.h"

#define UUID "964f0979-4dff-475f-93be-197e731a692f"

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char) v;
}

static void luks1(unsigned char *p)
{
	memset(p, 0, 4096);
	memcpy(p, "LUKS\xba\xbe", 6);
	put_be(p + 6, 1, 2);
	memcpy(p + 8, "aes", 3);
	memcpy(p + 40, "xts-plain64", 11);
	memcpy(p + 72, "sha256", 6);
	put_be(p + 104, 4096, 4);
	put_be(p + 108, 64, 4);
	memcpy(p + 168, UUID, 36);
	put_be(p + 208, 0x00AC71F3, 4);          /* slot 0 active */
	put_be(p + 208 + 48, 0x0000DEAD, 4);     /* slot 1 disabled */
	put_be(p + 208 + 48 * 7, 0x00AC71F3, 4); /* slot 7 active */
}

static const char json_area[] =
	"{\"keyslots\":{\"1\":{\"type\":\"luks2\",\"key_size\":32,\"kdf\":{\"type\":\"argon2id\"}},"
	"\"0\":{\"type\":\"luks2\",\"key_size\":64,\"kdf\":{\"type\":\"pbkdf2\",\"hash\":"
	"\"sha256\"}}},"
	"\"tokens\":{},\"segments\":{\"0\":{\"type\":\"crypt\",\"encryption\":\"aes-xts-plain64\"}}"
	","
	"\"digests\":{},\"config\":{}}";

/* A LUKS2 header area of 16 KiB with a valid SHA-256 checksum. */
static void luks2(unsigned char *p, bool secondary)
{
	unsigned char digest[32];

	memset(p, 0, 16384);
	memcpy(p, secondary ? "SKUL\xba\xbe" : "LUKS\xba\xbe", 6);
	put_be(p + 6, 2, 2);
	put_be(p + 8, 16384, 8);
	put_be(p + 16, 3, 8);
	memcpy(p + 24, "my disk", 7);
	memcpy(p + 72, "sha256", 6);
	memcpy(p + 168, UUID, 36);
	put_be(p + 256, secondary ? 16384 : 0, 8);
	memcpy(p + 4096, json_area, sizeof(json_area) - 1);
	(void) gnutls_hash_fast(GNUTLS_DIG_SHA256, p, 16384, digest);
	memcpy(p + 448, digest, sizeof(digest));
}

static void test_luks1(void)
{
	static unsigned char p[4096];
	struct luks_header h;

	luks1(p);
	CHECK_INT(luks_parse_header(p, sizeof(p), &h), 1, "LUKS1 recognised");
	CHECK_INT(h.version, 1, "version 1");
	CHECK_STR(h.uuid, UUID, "LUKS1 UUID");
	CHECK_STR(h.cipher, "aes-xts-plain64", "cipher name and mode joined");
	CHECK_STR(h.hash, "sha256", "hash");
	CHECK_INT(h.key_bits, 512, "64-byte key is 512 bits");
	CHECK_INT(h.keyslots, 2, "two active key slots");
	CHECK_INT(luks_parse_header(p, 591, &h), -EBADMSG, "LUKS1 cut short of 592 bytes");
	CHECK_INT(luks_parse_header(p, 7, &h), 0, "too short to carry the version: not LUKS");
	p[168] = '\x01';
	CHECK_INT(luks_parse_header(p, sizeof(p), &h), -EBADMSG, "UUID with a control byte");
	luks1(p);
	put_be(p + 108, 0, 4);
	CHECK_INT(luks_parse_header(p, sizeof(p), &h), -EBADMSG, "zero key size");
	luks1(p);
	memset(p + 8, 'A', 64); /* cipher name and mode without terminators */
	CHECK_INT(luks_parse_header(p, sizeof(p), &h), 1, "unterminated fields are cut");
	CHECK_INT(strlen(h.cipher), 65, "at their size");
	luks1(p);
	p[3] = 'Z';
	CHECK_INT(luks_parse_header(p, sizeof(p), &h), 0, "wrong magic: not LUKS");
}

static void test_luks2(void)
{
	static unsigned char p[16384];
	struct luks_header h;

	luks2(p, false);
	CHECK_INT(luks_parse_header(p, 4096, &h), 1, "LUKS2 recognised from 4 KiB");
	CHECK_INT(h.version, 2, "version 2");
	CHECK(!h.secondary, "primary header");
	CHECK_STR(h.uuid, UUID, "LUKS2 UUID");
	CHECK_STR(h.label, "my disk", "label");
	CHECK_STR(h.checksum_alg, "sha256", "checksum algorithm");
	CHECK_INT(h.hdr_size, 16384, "header size");
	CHECK_INT(h.seqid, 3, "sequence id");
	CHECK_INT(h.checksum_valid, -1, "checksum not checked from 4 KiB");
	CHECK_INT(luks_parse_area(p, 4096, &h), -EINVAL, "area shorter than hdr_size refused");
	CHECK_INT(luks_parse_area(p, sizeof(p), &h), 0, "whole area parsed");
	CHECK_INT(h.checksum_valid, 1, "checksum verified");
	CHECK_STR(h.cipher, "aes-xts-plain64", "cipher from the lowest crypt segment");
	CHECK_INT(h.key_bits, 512, "key size from key slot 0, not 1");
	CHECK_STR(h.kdf, "pbkdf2", "KDF of key slot 0");
	CHECK_INT(h.keyslots, 2, "two key slots");

	p[4100] ^= 1;
	CHECK_INT(luks_parse_header(p, 4096, &h), 1, "binary header still fine");
	CHECK_INT(luks_parse_area(p, sizeof(p), &h), -EBADMSG, "a changed JSON byte fails");
	CHECK_INT(h.checksum_valid, 0, "as a bad checksum");
	CHECK_STR(h.cipher, "", "and nothing from the JSON is believed");

	luks2(p, true);
	CHECK_INT(luks_parse_header(p, 4096, &h), 1, "secondary header recognised");
	CHECK(h.secondary, "as secondary");
	put_be(p + 256, 0, 8);
	CHECK_INT(luks_parse_header(p, 4096, &h), -EBADMSG, "secondary at offset 0 refused");

	luks2(p, false);
	put_be(p + 8, 12345, 8);
	CHECK_INT(luks_parse_header(p, 4096, &h), -EBADMSG, "hdr_size not a power of two");
	put_be(p + 8, (uint64_t) 1 << 40, 8);
	CHECK_INT(luks_parse_header(p, 4096, &h), -EBADMSG, "hdr_size of 1 TiB refused");
	luks2(p, false);
	CHECK_INT(luks_parse_header(p, 500, &h), -EBADMSG, "LUKS2 cut before its checksum");
	memset(p + 72, 0, 32);
	memcpy(p + 72, "whirlpool-9000", 14);
	CHECK_INT(luks_parse_header(p, 4096, &h), 1, "unknown checksum algorithm: header parsed");
	CHECK_INT(luks_parse_area(p, sizeof(p), &h), 0, "area read");
	CHECK_INT(h.checksum_valid, -1, "checksum unknown, not invalid");
}

static void test_fixture(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	_cleanup_(freep) char *path = NULL, *data = NULL;
	struct luks_header h;
	size_t len = 0;

	path = mm_asprintf("%s/tests/fixtures/laptop/dev/nvme0n1p3", src ? src : ".");
	CHECK_INT(fileio_read(NULL, path, 65536, &data, &len), 0, "fixture header readable");
	CHECK_INT(len, 4096, "4 KiB, as head -c 4096 cut it");
	CHECK_INT(luks_parse_header(data, len, &h), 1, "cryptsetup's LUKS2 header recognised");
	CHECK_INT(h.version, 2, "version 2");
	CHECK_STR(h.uuid, "6a1e3f2c-8d4b-4f7a-9c21-5b3e7d9a0f14", "the --uuid it was made with");
}

int main(void)
{
	mm_setup_jansson();
	test_luks1();
	test_luks2();
	test_fixture();
	return tap_done();
}
