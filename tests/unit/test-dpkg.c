/* dpkg's status file: what dpkg-query -W would list, with source packages as dpkg derives
 * them, and nothing invented from junk or a file cut short. */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

static json_t *parse(const char *text, struct col_dpkg_stats *st)
{
	char *copy = mm_strdup(text);
	json_t *pkgs = json_array();
	int r = copy && pkgs ? col_dpkg_parse_status(copy, strlen(copy), pkgs, st) : -ENOMEM;

	mm_free(copy);
	if (r < 0) {
		json_decref(pkgs);
		return NULL;
	}
	return pkgs;
}

static json_t *find(json_t *pkgs, const char *name, const char *arch)
{
	size_t i;
	json_t *p;

	json_array_foreach (pkgs, i, p)
		if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0 &&
		    (!arch || strcmp(json_string_value(json_object_get(p, "arch")), arch) == 0))
			return p;
	return NULL;
}

static const char *field(json_t *p, const char *key)
{
	return json_string_value(json_object_get(p, key));
}

static void check_source(const char *f, const char *name, const char *version)
{
	struct col_dpkg_source s;
	char n[64], v[64];

	col_dpkg_parse_source(f, &s);
	snprintf(n, sizeof(n), "%.*s", (int) s.name_len, s.name);
	CHECK_STR(n, name, "source name");
	if (version) {
		snprintf(v, sizeof(v), "%.*s", (int) s.version_len, s.version ? s.version : "");
		CHECK(s.version != NULL, "'%s' has a version", f);
		CHECK_STR(v, version, "source version");
	} else {
		CHECK(s.version == NULL, "'%s' has no version", f);
	}
}

static const char status[] = "Package: libc6\n"
			     "Status: install ok installed\n"
			     "Installed-Size: 13001\n"
			     "Architecture: amd64\n"
			     "Multi-Arch: same\n"
			     "Source: glibc\n"
			     "Version: 2.36-9+deb12u14\n"
			     "Description: GNU C Library: Shared libraries\n"
			     " Contains the standard libraries.\n"
			     " Version: not a field, a continuation line\n"
			     "\n"
			     "Package: libc6\n"
			     "Status: install ok installed\n"
			     "Architecture: i386\n"
			     "Multi-Arch: same\n"
			     "Source: glibc\n"
			     "Version: 2.36-9+deb12u14\n"
			     "\n"
			     "Package: bsdutils\n"
			     "Status: install ok installed\n"
			     "Architecture: amd64\n"
			     "Source: util-linux (2.38.1-5+deb12u3)\n"
			     "Version: 1:2.38.1-5+deb12u3\n"
			     "\n"
			     "Package: bash\n"
			     "Status: install ok installed\n"
			     "Architecture: amd64\n"
			     "Source: bash (5.2.15-2)\n"
			     "Version: 5.2.15-2+b8\n"
			     "\n"
			     "Package: dpkg\n"
			     "Status: install ok installed\n"
			     "Architecture: amd64\n"
			     "Version: 1.21.22\n"
			     "\n"
			     "package: lower-case-fields\n"
			     "STATUS: hold ok installed\r\n"
			     "architecture: all\n"
			     "version: 0:1.0-1\n"
			     "\n\n\n"
			     "Package: firefox-esr\n"
			     "Status: deinstall ok config-files\n"
			     "Architecture: amd64\n"
			     "Version: 115.12.0esr-1~deb12u1\n"
			     "\n"
			     "Package: telnet\n"
			     "Status: purge ok not-installed\n"
			     "Architecture: amd64\n"
			     "\n"
			     "Package: no-status\n"
			     "Version: 1\n"
			     "\n"
			     "Package: bad-status\n"
			     "Status: install perhaps installed\n"
			     "\n"
			     "Status: install ok installed\n"
			     "Version: 2\n"
			     "\n"
			     "Package: cut\n"
			     "Status: install ok installed\n"
			     "Version: 9.1";

int main(void)
{
	struct col_dpkg_stats st;
	json_t *pkgs, *p;
	unsigned long n;
	bool ok;

	mm_setup_jansson();

	/* the Source field as dpkg-query's ${source:Package} and ${source:Version} read it */
	check_source("glibc", "glibc", NULL);
	check_source("util-linux (2.38.1-5+deb12u3)", "util-linux", "2.38.1-5+deb12u3");
	check_source("llvm-defaults (0.55.7~deb12u1)", "llvm-defaults", "0.55.7~deb12u1");
	check_source("x (1.0", "x", "1.0");
	check_source("x(1.0)", "x(1.0)", "1.0");
	check_source("", "", NULL);

	pkgs = parse(status, &st);
	CHECK(pkgs != NULL, "status parses");
	CHECK_INT(st.listed, 7, "listed: every stanza but not-installed, junk and the cut one");
	CHECK_INT(st.installed, 5, "installed: 'install ok installed' only");
	CHECK_INT(st.not_installed, 1, "not-installed stanza skipped");
	CHECK_INT(st.malformed, 3, "stanzas without Package or a valid Status skipped");
	CHECK(st.truncated, "a file ending mid-line is noticed");
	CHECK(!find(pkgs, "cut", NULL), "and its last stanza is dropped, not half-read");
	CHECK_STR(st.native_arch, "amd64", "native architecture from the dpkg package");

	p = find(pkgs, "libc6", "amd64");
	CHECK_STR(field(p, "source"), "glibc", "Source: x → source x");
	CHECK_STR(field(p, "source_version"), "2.36-9+deb12u14", "… source version = version");
	CHECK_STR(field(p, "multi_arch"), "same", "Multi-Arch read");
	CHECK_INT(json_integer_value(json_object_get(p, "installed_size_kib")), 13001,
		  "installed size");
	CHECK_STR(field(p, "version"), "2.36-9+deb12u14", "continuation lines are not fields");
	CHECK(find(pkgs, "libc6", "i386") != NULL, "the same package in a second architecture");

	p = find(pkgs, "bsdutils", NULL);
	CHECK_STR(field(p, "source"), "util-linux", "Source: x (ver) → source x");
	CHECK_STR(field(p, "source_version"), "2.38.1-5+deb12u3", "… source version ver");
	CHECK_STR(field(p, "version"), "1:2.38.1-5+deb12u3", "binary version keeps its epoch");
	p = find(pkgs, "bash", NULL);
	CHECK_STR(field(p, "source_version"), "5.2.15-2", "binNMU: source version without +b8");

	p = find(pkgs, "dpkg", NULL);
	CHECK_STR(field(p, "source"), "dpkg", "no Source: source is the package");
	CHECK_STR(field(p, "source_version"), "1.21.22", "… and its version");
	CHECK_STR(field(p, "multi_arch"), "no", "Multi-Arch defaults to no");

	p = find(pkgs, "lower-case-fields", NULL);
	CHECK(p != NULL, "field names are case-insensitive");
	CHECK_STR(field(p, "status"), "hold ok installed", "CR at a line end trimmed");
	CHECK_STR(field(p, "version"), "1.0-1", "a zero epoch is dropped, as dpkg prints it");
	CHECK(json_is_false(json_object_get(p, "installed")), "hold is not 'install ok installed'");

	p = find(pkgs, "firefox-esr", NULL);
	CHECK_STR(field(p, "status"), "deinstall ok config-files", "config-files listed");
	CHECK(json_is_false(json_object_get(p, "installed")), "… as not installed");
	json_decref(pkgs);

	/* junk in a field nulls that field; the package stays visible */
	pkgs = parse("Package: junk\nStatus: install ok installed\nVersion: 1.0\x01\n"
		     "Source: caf\xe9\n\n",
		     &st);
	p = find(pkgs, "junk", NULL);
	CHECK(p && json_is_null(json_object_get(p, "version")), "junk version → null");
	CHECK(p && json_is_null(json_object_get(p, "source")), "junk source → null, not guessed");
	CHECK_INT(st.bad_fields, 2, "junk fields counted");
	json_decref(pkgs);

	pkgs = parse("", &st);
	CHECK(pkgs && json_array_size(pkgs) == 0 && !st.truncated, "empty file: no packages");
	json_decref(pkgs);

	/* every allocation may fail: the parser says so and never crashes */
	mm_fail_at(0, false);
	pkgs = parse(status, &st);
	json_decref(pkgs);
	n = mm_fail_at(0, false);
	ok = true;
	for (unsigned long i = 1; i <= n; i++) {
		mm_fail_at(i, true);
		pkgs = parse(status, &st);
		if (mm_fail_fired() && pkgs)
			ok = false;
		json_decref(pkgs);
	}
	mm_fail_at(0, false);
	CHECK(ok, "each of %lu allocation failures is reported", n);
	return tap_done();
}
