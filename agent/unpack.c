/*
 * Streaming decompression of the files apt keeps compressed (Acquire::GzipIndexes, the
 * default of Debian's container images, stores package lists as .lz4, older apt as .gz):
 * a reader that hands out the uncompressed bytes a piece at a time, so a list of tens of
 * megabytes is parsed without ever being whole in memory.
 *
 * LZ4 is decoded here rather than by liblz4, because liblz4's frame decoder allocates a
 * whole block (apt's lists use 4 MiB blocks) twice over; the format needs only the last
 * 64 KiB of output, which this decoder keeps in a ring, so its memory is fixed (some
 * 130 KiB) whatever the block size. Gzip goes through zlib (a 32 KiB window). Both come
 * from a file descriptor or from memory (the fuzz target).
 *
 * Invariants: the decoders never read outside their buffers and never trust a length
 * from the input beyond what the format allows (a block's declared size, its maximum
 * size, a match's offset within what was produced); anything else is -EBADMSG. The
 * output is capped (max_out): -E2BIG past it, so a small file cannot expand without end.
 * LZ4's optional checksums (xxHash32 of the header, blocks and content) are skipped, not
 * verified: apt has checked the list's hash when it fetched it, and a list damaged on
 * disk since then reads as malformed stanzas at worst.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define ZLIB_CONST /* next_in is const: the input is never written */
#include <zlib.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "lib/str.h"

#define IN_BUF         ((size_t) 64 * 1024)
#define RING           ((size_t) 64 * 1024) /* LZ4's match window; a power of two */
#define LZ4_MAGIC      0x184D2204u
#define LZ4_SKIP_MAGIC 0x184D2A50u /* 0x184D2A50 .. 0x184D2A5F */
#define LZ4_SKIP_MASK  0xFFFFFFF0u
#define LZ4_MIN_MATCH  4u

enum lz4_state {
	LZ4_FRAME, /* at a frame's magic number, or the end of the input */
	LZ4_BLOCK, /* at a block's size */
	LZ4_RAW,   /* copying a stored (uncompressed) block */
	LZ4_TOKEN, /* at a sequence's token */
	LZ4_LIT,   /* copying literals */
	LZ4_MATCH, /* copying a match from the window */
};

struct unpack {
	enum unpack_format format;
	int fd; /* -1: reading mem */
	const unsigned char *mem;
	size_t mem_len, mem_pos;
	unsigned char *in; /* input buffer (fd only) */
	size_t in_pos, in_len;
	bool in_eof;
	size_t max_out, out_total;
	bool done; /* the end of the data was reached cleanly */
	/* gzip */
	z_stream zs;
	bool zs_ready;
	/* lz4 */
	enum lz4_state st;
	unsigned char *ring;
	size_t ring_pos; /* bytes produced in all, modulo RING is where the next goes */
	size_t window;   /* bytes of the ring a match may reach: min(produced in scope, RING) */
	bool independent, block_checksum, content_checksum;
	size_t block_max;
	size_t block_left; /* compressed bytes of the current block not yet consumed */
	size_t block_out;  /* bytes the current block produced */
	size_t lit_left, match_left, match_offset;
	unsigned match_base; /* the token's match length nibble */
};

int unpack_format_of(const char *name, enum unpack_format *ret)
{
	static const char *const unsupported[] = {".xz", ".bz2", ".lzma", ".zst"};

	if (str_endswith(name, ".lz4")) {
		*ret = UNPACK_LZ4;
		return 0;
	}
	if (str_endswith(name, ".gz")) {
		*ret = UNPACK_GZIP;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
		if (str_endswith(name, unsupported[i]))
			return -ENOTSUP;
	*ret = UNPACK_NONE;
	return 0;
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void) opaque;
	return mm_reallocarray(NULL, items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void) opaque;
	mm_free(p);
}

struct unpack *unpack_free(struct unpack *u)
{
	if (!u)
		return NULL;
	if (u->zs_ready)
		(void) inflateEnd(&u->zs);
	mm_free(u->in);
	mm_free(u->ring);
	mm_free(u);
	return NULL;
}

int unpack_new(int fd, const void *mem, size_t mem_len, enum unpack_format format, size_t max_out,
	       struct unpack **ret)
{
	struct unpack *u = mm_calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	*u = (struct unpack){.format = format,
			     .fd = fd,
			     .mem = mem,
			     .mem_len = mem_len,
			     .max_out = max_out,
			     .st = LZ4_FRAME};
	if (fd >= 0 && format != UNPACK_NONE && !(u->in = mm_malloc(IN_BUF))) {
		unpack_free(u);
		return -ENOMEM;
	}
	if (format == UNPACK_LZ4 && !(u->ring = mm_malloc(RING))) {
		unpack_free(u);
		return -ENOMEM;
	}
	if (format == UNPACK_GZIP) {
		u->zs.zalloc = z_alloc;
		u->zs.zfree = z_free;
		if (inflateInit2(&u->zs, 16 + MAX_WBITS) != Z_OK) {
			unpack_free(u);
			return -ENOMEM;
		}
		u->zs_ready = true;
	}
	*ret = u;
	return 0;
}

/* Makes input available: 1, or 0 at its end, or -errno. */
static int fill(struct unpack *u)
{
	ssize_t n;

	if (u->fd < 0)
		return u->mem_pos < u->mem_len;
	if (u->in_pos < u->in_len)
		return 1;
	if (u->in_eof)
		return 0;
	do
		n = read(u->fd, u->in, IN_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	u->in_pos = 0;
	u->in_len = (size_t) n;
	u->in_eof = n == 0;
	return n > 0;
}

/* The input available now, without consuming it; *len 0 at its end. */
static int peek(struct unpack *u, const unsigned char **p, size_t *len)
{
	int r = fill(u);

	if (r <= 0) {
		*len = 0;
		return r;
	}
	if (u->fd < 0) {
		*p = u->mem + u->mem_pos;
		*len = u->mem_len - u->mem_pos;
	} else {
		*p = u->in + u->in_pos;
		*len = u->in_len - u->in_pos;
	}
	return 1;
}

static void consume(struct unpack *u, size_t n)
{
	if (u->fd < 0)
		u->mem_pos += n;
	else
		u->in_pos += n;
}

/* Reads exactly n bytes of input: 0, -EBADMSG when it ends first (truncated), -errno. */
static int take(struct unpack *u, void *dst, size_t n)
{
	unsigned char *d = dst;

	while (n) {
		const unsigned char *p;
		size_t len;
		int r = peek(u, &p, &len);

		if (r < 0)
			return r;
		if (r == 0)
			return -EBADMSG;
		len = MIN(len, n);
		memcpy(d, p, len);
		consume(u, len);
		d += len;
		n -= len;
	}
	return 0;
}

/* One byte of the current LZ4 block. */
static int block_byte(struct unpack *u, unsigned *ret)
{
	unsigned char b;
	int r;

	if (u->block_left == 0)
		return -EBADMSG;
	if (u->fd >= 0 && u->in_pos < u->in_len) { /* the common case, without calls */
		u->block_left--;
		*ret = u->in[u->in_pos++];
		return 0;
	}
	r = take(u, &b, 1);
	if (r < 0)
		return r;
	u->block_left--;
	*ret = b;
	return 0;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
	       (uint32_t) p[3] << 24;
}

/* A length's extension bytes: 255 adds 255 and goes on; bounded by `max`. */
static int length_ext(struct unpack *u, size_t *len, size_t max)
{
	unsigned b;

	do {
		int r = block_byte(u, &b);

		if (r < 0)
			return r;
		*len += b;
		if (*len > max)
			return -EBADMSG;
	} while (b == 255);
	return 0;
}

/* Starts a frame: 1, or 0 at the clean end of the input, or -errno. */
static int lz4_frame(struct unpack *u)
{
	static const size_t block_sizes[8] = {0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20};
	unsigned char h[4], flg_bd[2], skip[8];
	const unsigned char *p;
	size_t len;
	uint32_t magic;
	int r;

	for (;;) {
		r = peek(u, &p, &len);
		if (r <= 0)
			return r; /* the end between frames is the clean end */
		if ((r = take(u, h, 4)) < 0)
			return r;
		magic = le32(h);
		if ((magic & LZ4_SKIP_MASK) != LZ4_SKIP_MAGIC)
			break;
		if ((r = take(u, h, 4)) < 0) /* a skippable frame: its size, then skip it */
			return r;
		for (uint32_t n = le32(h); n > 0;) {
			uint32_t k = MIN(n, (uint32_t) sizeof(skip));

			if ((r = take(u, skip, k)) < 0)
				return r;
			n -= k;
		}
	}
	if (magic != LZ4_MAGIC)
		return -EBADMSG; /* not LZ4 (nor the legacy format lz4 -l writes: apt never does) */
	if ((r = take(u, flg_bd, 2)) < 0)
		return r;
	if ((flg_bd[0] >> 6) != 1 || (flg_bd[0] & 0x02) || (flg_bd[1] & 0x8F) ||
	    !block_sizes[(flg_bd[1] >> 4) & 7])
		return -EBADMSG;
	if (flg_bd[0] & 0x01)
		return -EBADMSG; /* a dictionary we do not have */
	u->independent = flg_bd[0] & 0x20;
	u->block_checksum = flg_bd[0] & 0x10;
	u->content_checksum = flg_bd[0] & 0x04;
	u->block_max = block_sizes[(flg_bd[1] >> 4) & 7];
	/* the content size (8 bytes) when announced, then the header checksum (1 byte) */
	if ((r = take(u, skip, (flg_bd[0] & 0x08) ? 8 : 0)) < 0 || (r = take(u, skip, 1)) < 0)
		return r;
	u->window = 0;
	return 1;
}

/* Emits k bytes of output (already at dst) into the window too. */
static void produced(struct unpack *u, const unsigned char *dst, size_t k)
{
	const unsigned char *src = dst;
	size_t left = k;

	if (left > RING) { /* only the last RING bytes can be referred to */
		src += left - RING;
		left = RING;
	}
	while (left > 0) {
		size_t at = u->ring_pos & (RING - 1), part = MIN(left, RING - at);

		memcpy(u->ring + at, src, part);
		u->ring_pos += part;
		src += part;
		left -= part;
	}
	u->window = MIN(u->window + k, RING);
	u->block_out += k;
}

static ssize_t lz4_read(struct unpack *u, unsigned char *dst, size_t want)
{
	size_t n = 0;
	int r;

	while (n < want) {
		unsigned char h[4];
		unsigned token, b0, b1;
		uint32_t size;

		switch (u->st) {
		case LZ4_FRAME:
			r = lz4_frame(u);
			if (r < 0)
				return r;
			if (r == 0) {
				u->done = true;
				return (ssize_t) n;
			}
			u->st = LZ4_BLOCK;
			break;
		case LZ4_BLOCK:
			if ((r = take(u, h, 4)) < 0)
				return r;
			size = le32(h);
			if (size == 0) { /* the end mark, then the content checksum */
				if (u->content_checksum && (r = take(u, h, 4)) < 0)
					return r;
				u->st = LZ4_FRAME;
				break;
			}
			if ((size & 0x7FFFFFFFu) > u->block_max)
				return -EBADMSG;
			u->block_out = 0;
			if (u->independent)
				u->window = 0;
			if (size & 0x80000000u) {
				u->block_left = size & 0x7FFFFFFFu;
				u->st = LZ4_RAW;
			} else {
				u->block_left = size;
				u->st = LZ4_TOKEN;
			}
			break;
		case LZ4_RAW:
		case LZ4_LIT:
			if ((u->st == LZ4_RAW ? u->block_left : u->lit_left) == 0) {
				if (u->st == LZ4_LIT && u->block_left > 0) {
					/* the match: offset, then its length's extension */
					if ((r = block_byte(u, &b0)) < 0 ||
					    (r = block_byte(u, &b1)) < 0)
						return r;
					u->match_offset = b0 | b1 << 8;
					if (u->match_offset == 0 || u->match_offset > u->window)
						return -EBADMSG;
					u->match_left = u->match_base + LZ4_MIN_MATCH;
					if (u->match_base == 15 &&
					    (r = length_ext(u, &u->match_left, u->block_max)) < 0)
						return r;
					if (u->block_out + u->match_left > u->block_max)
						return -EBADMSG;
					u->st = LZ4_MATCH;
					break;
				}
				/* the end of the block: its checksum when there is one */
				if (u->block_checksum && (r = take(u, h, 4)) < 0)
					return r;
				u->st = LZ4_BLOCK;
				break;
			}
			{
				const unsigned char *p;
				size_t len, k;

				if ((r = peek(u, &p, &len)) < 0)
					return r;
				if (r == 0)
					return -EBADMSG; /* truncated */
				k = MIN(MIN(len, want - n),
					u->st == LZ4_RAW ? u->block_left : u->lit_left);
				memcpy(dst + n, p, k);
				produced(u, dst + n, k);
				n += k;
				consume(u, k);
				u->block_left -= k; /* literals are inside the block too */
				if (u->st == LZ4_LIT)
					u->lit_left -= k;
			}
			break;
		case LZ4_TOKEN:
			if (u->block_left == 0) {
				/* a block ending after a match: out of spec, harmless */
				if (u->block_checksum && (r = take(u, h, 4)) < 0)
					return r;
				u->st = LZ4_BLOCK;
				break;
			}
			if ((r = block_byte(u, &token)) < 0)
				return r;
			u->lit_left = token >> 4;
			u->match_base = token & 15;
			if (u->lit_left == 15 &&
			    (r = length_ext(u, &u->lit_left, u->block_left)) < 0)
				return r;
			if (u->lit_left > u->block_left ||
			    u->block_out + u->lit_left > u->block_max)
				return -EBADMSG;
			u->st = LZ4_LIT;
			break;
		case LZ4_MATCH:
			while (u->match_left > 0 && n < want) {
				/* in pieces no longer than the offset, so each piece's source was
				 * produced before it, and contiguous in the ring */
				size_t from = (u->ring_pos - u->match_offset) & (RING - 1);
				size_t k = MIN(MIN(u->match_left, want - n),
					       MIN(u->match_offset, RING - from));

				memcpy(dst + n, u->ring + from, k);
				produced(u, dst + n, k);
				n += k;
				u->match_left -= k;
			}
			if (u->match_left == 0)
				u->st = LZ4_TOKEN;
			break;
		}
	}
	return (ssize_t) n;
}

static ssize_t gzip_read(struct unpack *u, unsigned char *dst, size_t want)
{
	u->zs.next_out = dst;
	u->zs.avail_out = (uInt) MIN(want, (size_t) UINT32_MAX);
	while (u->zs.avail_out > 0 && !u->done) {
		const unsigned char *p;
		size_t len;
		int r = peek(u, &p, &len);

		if (r < 0)
			return r;
		if (r == 0) {
			/* the end of the input: clean only between members */
			if (u->zs.total_in > 0 || u->out_total > 0)
				return -EBADMSG;
			u->done = true;
			break;
		}
		u->zs.next_in = p;
		u->zs.avail_in = (uInt) MIN(len, (size_t) UINT32_MAX);
		r = inflate(&u->zs, Z_NO_FLUSH);
		consume(u, len - u->zs.avail_in);
		if (r == Z_STREAM_END) {
			/* another member may follow (gzip files may be concatenated) */
			const unsigned char *q;
			size_t qlen;

			r = peek(u, &q, &qlen);
			if (r < 0)
				return r;
			if (r == 0)
				u->done = true;
			else if (inflateReset(&u->zs) != Z_OK)
				return -EBADMSG;
			continue;
		}
		if (r == Z_MEM_ERROR)
			return -ENOMEM;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -EBADMSG;
	}
	return (ssize_t) (want - u->zs.avail_out);
}

static ssize_t plain_read(struct unpack *u, unsigned char *dst, size_t want)
{
	ssize_t n;

	if (u->fd < 0) {
		size_t k = MIN(want, u->mem_len - u->mem_pos);

		memcpy(dst, u->mem + u->mem_pos, k);
		u->mem_pos += k;
		return (ssize_t) k;
	}
	do
		n = read(u->fd, dst, want);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t unpack_read(struct unpack *u, void *buf, size_t n)
{
	ssize_t r;

	if (n == 0)
		return 0;
	if (u->done)
		return 0;
	/* a byte past the cap is read, so exactly max_out bytes is still fine */
	n = MIN(n, u->max_out - u->out_total + 1);
	switch (u->format) {
	case UNPACK_LZ4:
		r = lz4_read(u, buf, n);
		break;
	case UNPACK_GZIP:
		r = gzip_read(u, buf, n);
		break;
	default:
		r = plain_read(u, buf, n);
		break;
	}
	if (r < 0)
		return r;
	u->out_total += (size_t) r;
	if (u->out_total > u->max_out)
		return -E2BIG;
	return r;
}
