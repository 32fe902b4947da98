/*
 * Login records: the binary files utmp, wtmp and btmp (one struct utmp per record, in the
 * C library's layout: 384 bytes on x86_64 glibc) and lastlog (one struct lastlog per uid,
 * indexed by uid, usually sparse). The users collector reads the newest login of each
 * account from them; the login monitor can reuse the same decoder on wtmp as it grows.
 *
 * Records are decoded from bytes with memcpy, never by casting the buffer, so unaligned
 * and truncated input is safe. The layout is the build machine's C library's, which is the
 * one that wrote the files: the agent runs where it was built for. Fixed-size text fields
 * are not NUL-terminated when full; decoded copies always are. A trailing partial record
 * (a file cut while being written) is reported, not decoded.
 */
#include <errno.h>
#include <lastlog.h>
#include <string.h>
#include <utmp.h>

#include "agent/agent.h"

/* Copies a fixed-size field that is NUL-terminated only when shorter than the field. */
static void copy_field(char *dst, size_t dst_size, const char *src, size_t src_size)
{
	size_t n = strnlen(src, MIN(src_size, dst_size - 1));

	memcpy(dst, src, n);
	dst[n] = '\0';
}

size_t utmp_record_size(void)
{
	return sizeof(struct utmp);
}

void utmp_decode(const void *rec, struct utmp_entry *ret)
{
	struct utmp u;

	memcpy(&u, rec, sizeof(u));
	*ret = (struct utmp_entry){
		.type = u.ut_type,
		.pid = u.ut_pid,
		.tv_sec = u.ut_tv.tv_sec,
		.tv_usec = u.ut_tv.tv_usec,
	};
	copy_field(ret->line, sizeof(ret->line), u.ut_line, sizeof(u.ut_line));
	copy_field(ret->id, sizeof(ret->id), u.ut_id, sizeof(u.ut_id));
	copy_field(ret->user, sizeof(ret->user), u.ut_user, sizeof(u.ut_user));
	copy_field(ret->host, sizeof(ret->host), u.ut_host, sizeof(u.ut_host));
	memcpy(ret->addr, u.ut_addr_v6, sizeof(ret->addr));
}

int utmp_foreach(const void *data, size_t len, utmp_fn fn, void *userdata, size_t *ret_trailing)
{
	const unsigned char *p = data;
	size_t n = len / sizeof(struct utmp);
	struct utmp_entry e;

	for (size_t i = 0; i < n; i++) {
		int r;

		utmp_decode(p + i * sizeof(struct utmp), &e);
		r = fn(&e, userdata);
		if (r < 0)
			return r;
	}
	if (ret_trailing)
		*ret_trailing = len % sizeof(struct utmp);
	return n > INT32_MAX ? INT32_MAX : (int) n;
}

size_t utmp_lastlog_size(void)
{
	return sizeof(struct lastlog);
}

int utmp_lastlog_decode(const void *rec, size_t len, struct utmp_lastlog *ret)
{
	struct lastlog ll;

	if (len < sizeof(ll))
		return -EBADMSG;
	memcpy(&ll, rec, sizeof(ll));
	if (ll.ll_time == 0)
		return -ENOENT;
	ret->time = ll.ll_time;
	copy_field(ret->line, sizeof(ret->line), ll.ll_line, sizeof(ll.ll_line));
	copy_field(ret->host, sizeof(ret->host), ll.ll_host, sizeof(ll.ll_host));
	return 0;
}
