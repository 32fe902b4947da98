/*
 * fileio's directory listing, bounded prefix reads and lexical link resolution, against a
 * temporary tree: what the storage and usb collectors rely on to read sysfs-like fixtures
 * exactly as they read the kernel's.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/mm.h"
#include "tests/tap.h"

/* mkdir -p root/path */
static int mkdirs(const char *root, const char *path)
{
	char buf[512];

	(void) snprintf(buf, sizeof(buf), "%s%s", root, path);
	for (char *s = buf + strlen(root) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path);
}

static void test_normalize(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"/sys/block/../devices/pci0000:00/./x", "/sys/devices/pci0000:00/x"},
		{"/a/../../../../etc", "/etc"},
		{"//a//b/", "/a/b"},
		{"/..", "/"},
		{"/", "/"},
		{"/a/b/c/../../d", "/a/d"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];

		(void) snprintf(buf, sizeof(buf), "%s", cases[i].in);
		fileio_normalize_path(buf);
		CHECK_STR(buf, cases[i].want, cases[i].in);
	}
}

int main(void)
{
	char root[] = "/tmp/mamori-test-fileio-XXXXXX";
	_cleanup_(freep) char *p = NULL, *resolved = NULL;
	char **names = NULL;
	unsigned char buf[16];
	size_t got = 99;
	int fd;

	test_normalize();
	if (!mkdtemp(root))
		tap_skip_all("no temporary directory");
	CHECK(mkdirs(root, "/sys/block") == 0 && mkdirs(root, "/sys/devices/pci/block/sda") == 0 &&
		      mkdirs(root, "/dev") == 0,
	      "tree made");
	p = mm_asprintf("%s/sys/block/sda", root);
	CHECK_INT(symlink("../devices/pci/block/sda", p), 0, "relative link");
	mm_free(p);
	p = mm_asprintf("%s/sys/block/evil", root);
	CHECK_INT(symlink("../../../../../../etc", p), 0, "link climbing out");
	mm_free(p);
	p = mm_asprintf("%s/sys/block/abs", root);
	CHECK_INT(symlink("/sys/devices/pci/block/sda", p), 0, "absolute link");
	mm_free(p);
	p = NULL;

	CHECK_INT(fileio_resolve_link(root, "/sys/block/sda", &resolved), 0, "resolve relative");
	CHECK_STR(resolved, "/sys/devices/pci/block/sda", "against the link's directory");
	mm_free(resolved);
	CHECK_INT(fileio_resolve_link(root, "/sys/block/evil", &resolved), 0, "resolve climber");
	CHECK_STR(resolved, "/etc", "stays under the root");
	mm_free(resolved);
	CHECK_INT(fileio_resolve_link(root, "/sys/block/abs", &resolved), 0, "resolve absolute");
	CHECK_STR(resolved, "/sys/devices/pci/block/sda", "taken under the root");
	mm_free(resolved);
	CHECK_INT(fileio_resolve_link(root, "/sys/devices/pci/block/sda", &resolved), 0,
		  "a directory");
	CHECK_STR(resolved, "/sys/devices/pci/block/sda", "resolves to itself");
	mm_free(resolved);
	resolved = NULL;
	CHECK_INT(fileio_resolve_link(root, "/sys/block/none", &resolved), -ENOENT, "missing");

	CHECK_INT(fileio_list_dir(root, "/sys/block", 100, &names), 0, "list");
	CHECK(names && names[0] && names[1] && names[2] && !names[3], "three names");
	if (names && names[0] && names[1] && names[2]) {
		CHECK_STR(names[0], "abs", "sorted");
		CHECK_STR(names[2], "sda", "sorted, last");
	}
	fileio_strv_free(names);
	names = NULL;
	CHECK_INT(fileio_list_dir(root, "/sys/block", 2, &names), -E2BIG, "past the limit");
	CHECK(names == NULL, "nothing handed out on failure");
	CHECK_INT(fileio_list_dir(root, "/sys/devices/pci/block/sda", 10, &names), 0, "empty dir");
	CHECK(names && !names[0], "an empty list");
	fileio_strv_free(names);
	CHECK_INT(fileio_list_dir(root, "/nope", 10, &names), -ENOENT, "missing directory");

	p = mm_asprintf("%s/dev/disk", root);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK_INT(write(fd, "0123456789", 10), 10, "disk image written");
	close(fd);
	CHECK_INT(fileio_read_prefix(root, "/dev/disk", buf, 4, &got), 0, "prefix of a file");
	CHECK_INT(got, 4, "only what was asked");
	CHECK(memcmp(buf, "0123", 4) == 0, "from its start");
	CHECK_INT(fileio_read_prefix(root, "/dev/disk", buf, sizeof(buf), &got), 0, "short file");
	CHECK_INT(got, 10, "all of it");
	mm_free(p);
	p = mm_asprintf("%s/dev/fifo", root);
	CHECK_INT(mkfifo(p, 0644), 0, "a FIFO");
	CHECK_INT(fileio_read_prefix(root, "/dev/fifo", buf, 4, &got), -EINVAL,
		  "FIFO refused without hanging");
	CHECK_INT(fileio_read_prefix(NULL, "/dev/zero", buf, 4, &got), -EINVAL,
		  "character device refused");
	CHECK_INT(fileio_read_prefix(root, "/sys", buf, 4, &got), -EINVAL, "directory refused");
	(void) nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
