/*
 * LUKS header parsing, without libcryptsetup or blkid: the storage collector reads the
 * first bytes of each block device and asks this module whether they are a LUKS header,
 * and which one.
 *
 * LUKS1 (cryptsetup's LUKS1 on-disk format, version 1.2.3): a 592-byte big-endian header
 * with magic "LUKS\xba\xbe", cipher name and mode, hash, key size, UUID and eight key slots.
 * LUKS2 (LUKS2 on-disk format, 2018): a 4096-byte binary header (same magic, version 2;
 * "SKUL\xba\xbe" for the secondary copy at offset hdr_size) with label, subsystem, checksum
 * algorithm, UUID and a checksum over the whole header area, followed by a JSON area that
 * holds the cipher and key slots. Both copies carry the same UUID.
 *
 * Invariants: nothing here trusts a length or offset from the header without checking it
 * against the bytes actually given; strings are copied only up to their field's size and
 * always NUL-terminated. Nothing is decrypted and no key material is looked at.
 */
#include <errno.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define LUKS_MAGIC_LEN     6
#define LUKS1_HEADER_SIZE  592
#define LUKS1_KEYSLOTS     8
#define LUKS1_SLOT_ACTIVE  0x00AC71F3u
#define LUKS2_BINARY_SIZE  4096
#define LUKS2_MIN_HDR_SIZE ((uint64_t) 16384)
#define LUKS2_CSUM_OFFSET  448
#define LUKS2_CSUM_LEN     64

static const unsigned char magic_primary[LUKS_MAGIC_LEN] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
static const unsigned char magic_secondary[LUKS_MAGIC_LEN] = {'S', 'K', 'U', 'L', 0xba, 0xbe};

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t be32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return ((uint64_t) be32(p) << 32) | be32(p + 4);
}

/*
 * Copies a NUL-padded on-disk string field into out (field_len + 1 bytes). A field that is
 * not NUL-terminated within its size is cut at the size, as cryptsetup does.
 */
static void copy_field(char *out, const unsigned char *field, size_t field_len)
{
	size_t n = strnlen((const char *) field, field_len);

	memcpy(out, field, n);
	out[n] = '\0';
}

/* A LUKS UUID: 36 characters of hex digits and dashes (cryptsetup accepts no other form). */
static bool uuid_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > 40)
		return false;
	return strspn(u, "0123456789abcdefABCDEF-") == n;
}

static int parse_luks1(const unsigned char *p, size_t len, struct luks_header *h)
{
	char name[33], mode[33];
	uint32_t key_bytes;

	if (len < LUKS1_HEADER_SIZE)
		return -EBADMSG;
	copy_field(name, p + 8, 32);
	copy_field(mode, p + 40, 32);
	copy_field(h->hash, p + 72, 32);
	h->payload_offset = be32(p + 104);
	key_bytes = be32(p + 108);
	copy_field(h->uuid, p + 168, 40);
	if (!*name || !uuid_ok(h->uuid) || key_bytes == 0 || key_bytes > 512)
		return -EBADMSG;
	if (*mode)
		(void) snprintf(h->cipher, sizeof(h->cipher), "%s-%s", name, mode);
	else
		(void) snprintf(h->cipher, sizeof(h->cipher), "%s", name);
	h->key_bits = key_bytes * 8;
	for (unsigned i = 0; i < LUKS1_KEYSLOTS; i++)
		if (be32(p + 208 + (size_t) 48 * i) == LUKS1_SLOT_ACTIVE)
			h->keyslots++;
	(void) snprintf(h->kdf, sizeof(h->kdf), "pbkdf2");
	return 1;
}

static int parse_luks2(const unsigned char *p, size_t len, struct luks_header *h)
{
	/* the binary header's fields end with the checksum at 448 + 64 */
	if (len < LUKS2_CSUM_OFFSET + LUKS2_CSUM_LEN)
		return -EBADMSG;
	h->hdr_size = be64(p + 8);
	h->seqid = be64(p + 16);
	copy_field(h->label, p + 24, 48);
	copy_field(h->checksum_alg, p + 72, 32);
	copy_field(h->uuid, p + 168, 40);
	copy_field(h->subsystem, p + 208, 48);
	h->hdr_offset = be64(p + 256);
	/* the spec allows 16 KiB … 4 MiB, powers of two */
	if (h->hdr_size < LUKS2_MIN_HDR_SIZE || h->hdr_size > LIMIT_LUKS2_HEADER ||
	    (h->hdr_size & (h->hdr_size - 1)) != 0 || !uuid_ok(h->uuid))
		return -EBADMSG;
	if (h->secondary ? h->hdr_offset != h->hdr_size : h->hdr_offset != 0)
		return -EBADMSG;
	return 1;
}

int luks_parse_header(const void *data, size_t len, struct luks_header *ret)
{
	const unsigned char *p = data;
	struct luks_header h = {.checksum_valid = -1};
	int r;

	if (len < LUKS_MAGIC_LEN + 2)
		return 0;
	if (memcmp(p, magic_primary, LUKS_MAGIC_LEN) == 0)
		h.secondary = false;
	else if (memcmp(p, magic_secondary, LUKS_MAGIC_LEN) == 0)
		h.secondary = true;
	else
		return 0;
	h.version = be16(p + 6);
	if (h.version == 1 && !h.secondary)
		r = parse_luks1(p, len, &h);
	else if (h.version == 2)
		r = parse_luks2(p, len, &h);
	else
		r = -EBADMSG;
	if (r < 0)
		return r;
	*ret = h;
	return 1;
}

/* Checks the LUKS2 header checksum: the digest of the whole area with the field zeroed. */
static int verify_checksum(const unsigned char *area, size_t len, const char *alg)
{
	_cleanup_(freep) unsigned char *copy = NULL;
	unsigned char digest[64];
	gnutls_digest_algorithm_t id = gnutls_digest_get_id(alg);
	size_t dlen = gnutls_hash_get_len(id);

	if (id == GNUTLS_DIG_UNKNOWN || dlen == 0 || dlen > sizeof(digest))
		return -EOPNOTSUPP;
	copy = mm_memdup(area, len);
	if (!copy)
		return -ENOMEM;
	memset(copy + LUKS2_CSUM_OFFSET, 0, LUKS2_CSUM_LEN);
	if (gnutls_hash_fast(id, copy, len, digest) < 0)
		return -EOPNOTSUPP;
	return memcmp(digest, area + LUKS2_CSUM_OFFSET, dlen) == 0 ? 1 : 0;
}

/* The member of a JSON object whose key is the smallest decimal number ("0" < "1" < "10"). */
static json_t *lowest_numbered(json_t *obj, bool (*want)(json_t *))
{
	const char *key;
	json_t *v, *best = NULL;
	uint64_t best_n = UINT64_MAX;

	json_object_foreach (obj, key, v) {
		uint64_t n;

		if (str_to_u64(key, 10, &n) == 0 && n < best_n && (!want || want(v))) {
			best = v;
			best_n = n;
		}
	}
	return best;
}

static bool is_crypt_segment(json_t *seg)
{
	const char *type = json_string_value(json_object_get(seg, "type"));

	return type && streq(type, "crypt");
}

static void copy_json_string(char *out, size_t size, json_t *v)
{
	const char *s = json_string_value(v);

	if (s && str_is_clean_utf8(s, strlen(s)))
		(void) snprintf(out, size, "%s", s);
}

int luks_parse_area(const void *area, size_t len, struct luks_header *h)
{
	_cleanup_(json_decrefp) json_t *meta = NULL;
	const unsigned char *p = area;
	json_t *keyslots, *segments, *slot, *seg;
	size_t json_len;
	int r;

	if (h->version != 2 || len < h->hdr_size || h->hdr_size <= LUKS2_BINARY_SIZE)
		return -EINVAL;
	r = verify_checksum(p, (size_t) h->hdr_size, h->checksum_alg);
	if (r == -ENOMEM)
		return r;
	h->checksum_valid = r < 0 ? -1 : r;
	if (r == 0)
		return -EBADMSG; /* the JSON of a corrupt header is not to be believed */
	json_len = strnlen((const char *) p + LUKS2_BINARY_SIZE,
			   (size_t) h->hdr_size - LUKS2_BINARY_SIZE);
	r = jsonw_parse((const char *) p + LUKS2_BINARY_SIZE, json_len, LIMIT_LUKS2_HEADER, &meta,
			NULL);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	keyslots = json_object_get(meta, "keyslots");
	segments = json_object_get(meta, "segments");
	if (!json_is_object(keyslots) || !json_is_object(segments))
		return -EBADMSG;
	h->keyslots = (unsigned) MIN(json_object_size(keyslots), 1024u);
	seg = lowest_numbered(segments, is_crypt_segment);
	if (seg)
		copy_json_string(h->cipher, sizeof(h->cipher), json_object_get(seg, "encryption"));
	slot = lowest_numbered(keyslots, NULL);
	if (json_is_object(slot)) {
		json_int_t key_size = json_integer_value(json_object_get(slot, "key_size"));

		if (key_size > 0 && key_size <= 512)
			h->key_bits = (unsigned) key_size * 8;
		copy_json_string(h->kdf, sizeof(h->kdf),
				 json_object_get(json_object_get(slot, "kdf"), "type"));
		copy_json_string(h->hash, sizeof(h->hash),
				 json_object_get(json_object_get(slot, "kdf"), "hash"));
	}
	return 0;
}
