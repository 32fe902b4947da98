/*
 * The fanotify record parser, on records built the way the kernel writes them with
 * FAN_REPORT_DFID_NAME: a plain directory-entry event, FAN_RENAME with both names, a queue
 * overflow, and every way a record can lie about its lengths.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>

#include "agent/monitors.h"
#include "lib/mm.h"
#include "tests/tap.h"

#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif

/* Appends an info record (type, fsid, handle of hlen bytes, name) at buf + *off; returns
 * where it starts. */
static size_t put_info(unsigned char *buf, size_t *off, uint8_t type, uint32_t hlen,
		       const char *name)
{
	struct fanotify_event_info_header hdr = {.info_type = type};
	int32_t fsid[2] = {0x1234, 0x5678}, htype = 1;
	size_t start = *off, len = sizeof(hdr) + 8 + 8 + hlen + (name ? strlen(name) + 1 : 0);

	len = (len + 3) & ~(size_t) 3;
	hdr.len = (uint16_t) len;
	memset(buf + start, 0, len);
	memcpy(buf + start, &hdr, sizeof(hdr));
	memcpy(buf + start + 4, fsid, 8);
	memcpy(buf + start + 12, &hlen, 4);
	memcpy(buf + start + 16, &htype, 4);
	memset(buf + start + 20, 0xab, hlen);
	if (name)
		memcpy(buf + start + 20 + hlen, name, strlen(name) + 1);
	*off += len;
	return start;
}

/* Starts a record at buf + *off; fix_len() sets its length once the infos are in. */
static size_t put_meta(unsigned char *buf, size_t *off, uint64_t mask, int pid)
{
	struct fanotify_event_metadata md = {.vers = FANOTIFY_METADATA_VERSION,
					     .metadata_len = FAN_EVENT_METADATA_LEN,
					     .mask = mask,
					     .fd = FAN_NOFD,
					     .pid = pid};
	size_t start = *off;

	memcpy(buf + start, &md, sizeof(md));
	*off += sizeof(md);
	return start;
}

static void fix_len(unsigned char *buf, size_t start, size_t end)
{
	uint32_t len = (uint32_t) (end - start);

	memcpy(buf + start, &len, 4);
}

static void test_records(void)
{
	unsigned char buf[1024];
	size_t off = 0, r1, r2, r3;
	struct mon_fan_record rec;
	int len;

	r1 = put_meta(buf, &off, FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE, 4242);
	put_info(buf, &off, FAN_EVENT_INFO_TYPE_DFID_NAME, 8, "report.txt");
	fix_len(buf, r1, off);
	r2 = put_meta(buf, &off, FAN_RENAME, 4243);
	put_info(buf, &off, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, 12, "a.txt");
	put_info(buf, &off, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, 12, "b.txt");
	fix_len(buf, r2, off);
	r3 = put_meta(buf, &off, FAN_Q_OVERFLOW, 0);
	fix_len(buf, r3, off);

	len = mon_fanotify_parse(buf, off, &rec);
	CHECK_INT(len, (int) (r2 - r1), "the first record's length");
	CHECK_INT(rec.pid, 4242, "its pid");
	CHECK(rec.mask == (FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE), "merged operations");
	CHECK(rec.dir.present && !rec.to.present, "one directory, no rename target");
	CHECK_STR(rec.dir.name, "report.txt", "the file's name");
	CHECK_INT(rec.dir.handle_len, 8, "handle length");
	CHECK_INT(rec.dir.fsid.val[0], 0x1234, "file system id");

	len = mon_fanotify_parse(buf + r2, off - r2, &rec);
	CHECK_INT(len, (int) (r3 - r2), "the rename record's length");
	CHECK_STR(rec.dir.name, "a.txt", "old name");
	CHECK(rec.to.present, "new side present");
	CHECK_STR(rec.to.name, "b.txt", "new name");

	len = mon_fanotify_parse(buf + r3, off - r3, &rec);
	CHECK_INT(len, FAN_EVENT_METADATA_LEN, "an overflow record is bare metadata");
	CHECK(rec.mask & FAN_Q_OVERFLOW, "overflow bit");
	CHECK(!rec.dir.present, "no directory");
	CHECK_INT(mon_fanotify_parse(buf, 0, &rec), 0, "nothing left");
}

static void test_malformed(void)
{
	unsigned char buf[512], copy[512];
	size_t off = 0, r, info;
	struct mon_fan_record rec;
	uint16_t hl;
	uint32_t hb;

	r = put_meta(buf, &off, FAN_CREATE, 1);
	info = put_info(buf, &off, FAN_EVENT_INFO_TYPE_DFID_NAME, 8, "x");
	fix_len(buf, r, off);

	for (size_t n = 1; n < off; n++)
		if (mon_fanotify_parse(buf, n, &rec) != -EBADMSG) {
			CHECK(false, "a record cut at %zu bytes is refused", n);
			return;
		}
	CHECK(true, "every truncation is refused");

	memcpy(copy, buf, off);
	copy[4] = 2; /* vers */
	CHECK_INT(mon_fanotify_parse(copy, off, &rec), -EBADMSG, "another metadata version");

	memcpy(copy, buf, off);
	hb = 4000; /* handle longer than the record */
	memcpy(copy + info + 12, &hb, 4);
	CHECK_INT(mon_fanotify_parse(copy, off, &rec), -EBADMSG, "a handle past its record");

	memcpy(copy, buf, off);
	hb = 0;
	memcpy(copy + info + 12, &hb, 4);
	CHECK_INT(mon_fanotify_parse(copy, off, &rec), -EBADMSG, "an empty handle");

	memcpy(copy, buf, off);
	memset(copy + info + 28, 'y', off - info - 28); /* the name loses its NUL */
	CHECK_INT(mon_fanotify_parse(copy, off, &rec), -EBADMSG, "a name without its NUL");

	memcpy(copy, buf, off);
	hl = 2; /* an info header shorter than itself */
	memcpy(copy + info + 2, &hl, 2);
	CHECK_INT(mon_fanotify_parse(copy, off, &rec), -EBADMSG, "an info length below 4");

	{
		unsigned char two[512];
		size_t o = 0, s = put_meta(two, &o, FAN_CREATE, 1);

		put_info(two, &o, FAN_EVENT_INFO_TYPE_DFID_NAME, 8, "a");
		put_info(two, &o, FAN_EVENT_INFO_TYPE_DFID_NAME, 8, "b");
		fix_len(two, s, o);
		CHECK_INT(mon_fanotify_parse(two, o, &rec), -EBADMSG,
			  "two directory records in one event");
	}
	{
		unsigned char pidfd[512];
		size_t o = 0, s = put_meta(pidfd, &o, FAN_CREATE, 1);

		put_info(pidfd, &o, FAN_EVENT_INFO_TYPE_PIDFD, 0, NULL);
		put_info(pidfd, &o, FAN_EVENT_INFO_TYPE_DFID_NAME, 8, "kept");
		fix_len(pidfd, s, o);
		CHECK_INT(mon_fanotify_parse(pidfd, o, &rec), (int) o,
			  "an info type we do not use is stepped over");
		CHECK_STR(rec.dir.name, "kept", "and the directory record after it is read");
	}
}

int main(void)
{
	test_records();
	test_malformed();
	return tap_done();
}
