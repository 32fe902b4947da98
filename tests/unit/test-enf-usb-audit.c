/*
 * The audit records USB control reads from the kernel: SYSCALL, CWD, PATH and EOE texts as
 * the multicast group delivers them, with quoted, hex-encoded and (null) values.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "agent/enf_usb.h"
#include "tests/tap.h"

int main(void)
{
	struct enf_usb_audit_rec r;
	char text[2048];

	snprintf(text, sizeof(text),
		 "audit(1795637698.308:279): arch=c000003e syscall=257 success=no exit=-30 "
		 "a0=ffffff9c a1=7ffd05eaca82 a2=941 a3=1b6 items=1 ppid=23455 pid=23471 "
		 "auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 "
		 "fsgid=1000 tty=pts0 ses=3 comm=\"touch\" exe=\"/usr/bin/touch\" "
		 "key=\"mamori-usb:ro:259:0\"");
	CHECK_INT(enf_usb_audit_parse(1300, text, &r), 0, "a SYSCALL record parses");
	CHECK(r.serial == 279 && r.syscall == 257 && !r.success && r.exit == -30,
	      "serial, syscall, result");
	CHECK(r.pid == 23471 && r.uid == 1000 && r.auid == 1000, "process and users");
	CHECK_STR(r.comm, "touch", "quoted comm");
	CHECK_STR(r.key, "mamori-usb:ro:259:0", "our key");

	snprintf(text, sizeof(text),
		 "audit(1795637698.308:279): item=0 name=2F6D6E742F6D7920737469636B2F "
		 "inode=2 dev=103:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT");
	CHECK_INT(enf_usb_audit_parse(1302, text, &r), 0, "a PATH record parses");
	CHECK_STR(r.name, "/mnt/my stick/", "a hex-encoded name (it held a space)");
	CHECK_INT(r.item, 0, "item");
	CHECK(r.dev_major == 0x103 && r.dev_minor == 0 && r.rdev_major == 0 && r.rdev_minor == 0,
	      "the file system's device and the node's, in audit's hex");
	CHECK(r.parent && r.mode == 040755, "a parent directory's name, its mode");

	snprintf(text, sizeof(text), "audit(1795637698.308:279): cwd=\"/home/taro\"");
	CHECK(enf_usb_audit_parse(1307, text, &r) == 0 && streq(r.cwd, "/home/taro"), "CWD");
	snprintf(text, sizeof(text), "audit(1795637698.308:279): ");
	CHECK(enf_usb_audit_parse(1320, text, &r) == 0 && r.serial == 279, "EOE");
	snprintf(text, sizeof(text), "audit(1.000:2): comm=(null) key=(null) exe=ABC");
	CHECK(enf_usb_audit_parse(1300, text, &r) == 0 && !r.comm[0] && !r.key[0] && !r.exe[0],
	      "(null) and odd-length hex give empty strings");
	snprintf(text, sizeof(text), "audit(1.000:2): name=\"unterminated");
	CHECK_INT(enf_usb_audit_parse(1302, text, &r), -EBADMSG, "an unterminated quote");
	snprintf(text, sizeof(text), "type=SYSCALL msg=audit(1.000:2): syscall=2");
	CHECK_INT(enf_usb_audit_parse(1300, text, &r), -EBADMSG,
		  "auditd's log format is not what the kernel sends");
	snprintf(text, sizeof(text), "audit(1.000:2): name=2F0041");
	CHECK(enf_usb_audit_parse(1302, text, &r) == 0 && !r.name[0],
	      "a hex value hiding a NUL is refused");
	CHECK_STR(enf_usb_audit_syscall_name(SYS_openat), "openat", "syscall names");
	CHECK(enf_usb_audit_syscall_name(SYS_getpid) == NULL, "only the writing ones");
	return tap_done();
}
