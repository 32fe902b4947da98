/*
 * apt.conf syntax for APT::Periodic: the flat and the nested forms are the same setting,
 * later assignments override earlier ones, comments of three kinds, and apt's stop at
 * the first syntax error (keeping what came before).
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "tests/tap.h"

static json_t *sink;

static int parse(struct apt_periodic *st, const char *file, const char *text, size_t len)
{
	_cleanup_(freep) char *copy = mm_memdup(text, len + 1);

	return col_autoupdate_parse_apt_conf(copy, len, file, st, sink);
}

#define PARSE(st, file, text) parse(st, file, text, sizeof(text) - 1)

static size_t n_errors(void)
{
	return json_array_size(json_object_get(sink, "errors"));
}

static const char *last_error(void)
{
	json_t *e = json_object_get(sink, "errors");

	return json_string_value(
		json_object_get(json_array_get(e, json_array_size(e) - 1), "message"));
}

static void forms(void)
{
	struct apt_periodic st = {0};

	CHECK_INT(PARSE(&st, "/a",
			"APT::Periodic::Update-Package-Lists \"1\";\n"
			"APT::Periodic::Unattended-Upgrade \"1\";\n"),
		  0, "flat form");
	CHECK_STR(st.value[APT_PERIODIC_UNATTENDED_UPGRADE], "1", "flat value");
	CHECK_STR(st.source[APT_PERIODIC_UNATTENDED_UPGRADE], "/a:2", "flat source");

	CHECK_INT(PARSE(&st, "/b",
			"// nested\nAPT\n{\n  Periodic\n  {\n"
			"    Unattended-Upgrade \"0\"; /* off */\n  };\n};\n"),
		  0, "nested form");
	CHECK_STR(st.value[APT_PERIODIC_UNATTENDED_UPGRADE], "0", "a later file overrides");
	CHECK_STR(st.source[APT_PERIODIC_UNATTENDED_UPGRADE], "/b:6", "on the value's line");
	CHECK_STR(st.value[APT_PERIODIC_UPDATE_PACKAGE_LISTS], "1", "other keys stay");

	CHECK_INT(PARSE(&st, "/c",
			"apt::periodic { enable 0; unattended-upgrade \"7\"; };\n"
			"# a hash comment\nAPT::Periodic::Enable \"1\";\n"),
		  0, "mixed form, lower case, unquoted value");
	CHECK_STR(st.value[APT_PERIODIC_UNATTENDED_UPGRADE], "7", "names are case-insensitive");
	CHECK_STR(st.value[APT_PERIODIC_ENABLE], "1", "a later line overrides an earlier one");
	CHECK_STR(st.source[APT_PERIODIC_ENABLE], "/c:3", "its line");

	CHECK_INT(PARSE(&st, "/d",
			"Unattended-Upgrade::Origins-Pattern {\n"
			"  \"origin=Debian,codename=${distro_codename},label=Debian\";\n};\n"
			"APT::Periodic::Download-Upgradeable-Packages \"1\";\n"
			"APT::Periodic::Unattended-Upgrade::Extra \"9\";\n"),
		  0, "list items and longer names");
	CHECK_STR(st.value[APT_PERIODIC_DOWNLOAD_UPGRADEABLE], "1", "after a list");
	CHECK_STR(st.value[APT_PERIODIC_UNATTENDED_UPGRADE], "7",
		  "a longer name is another setting");
	CHECK_INT(n_errors(), 0, "no errors so far");
	col_autoupdate_periodic_done(&st);
}

static void errors(void)
{
	static const char nul[] = "APT::Periodic::Enable \"1\";\nAPT::\0Periodic \"0\";\n";
	struct apt_periodic st = {0};

	CHECK_INT(PARSE(&st, "/e", "APT { Periodic { Enable \"0\"; };\n"), 0, "unclosed block");
	CHECK_STR(st.value[APT_PERIODIC_ENABLE], "0", "the value before the error is kept");
	CHECK_INT(n_errors(), 1, "reported");
	CHECK(strstr(last_error(), "not closed") != NULL, "says what is wrong");

	CHECK_INT(PARSE(&st, "/f", "};\nAPT::Periodic::Enable \"1\";\n"), 0, "stray brace");
	CHECK_STR(st.value[APT_PERIODIC_ENABLE], "0", "nothing after the error is taken");
	CHECK_INT(n_errors(), 2, "reported");

	CHECK_INT(PARSE(&st, "/g", "APT::Periodic::Enable \"1\" \"2\";\n"), 0, "extra word");
	CHECK_INT(PARSE(&st, "/h", "APT::Periodic::Enable \"1\"\n"), 0, "missing ';'");
	CHECK_INT(PARSE(&st, "/i", "APT::Periodic::Enable \"1;\n"), 0, "open string");
	CHECK_INT(PARSE(&st, "/j", "/* open comment\n"), 0, "open comment");
	CHECK_INT(PARSE(&st, "/k", "{ \"x\"; };\n"), 0, "block without a name");
	CHECK_INT(parse(&st, "/l", nul, sizeof(nul) - 1), 0, "a NUL byte");
	CHECK_INT(n_errors(), 8, "each reported");
	CHECK_STR(st.value[APT_PERIODIC_ENABLE], "1", "the line before the NUL is taken");
	col_autoupdate_periodic_done(&st);
}

static void deep(void)
{
	char text[LIMIT_CONFIG_NESTING * 4 + 64];
	struct apt_periodic st = {0};
	size_t n = 0;

	for (unsigned i = 0; i <= LIMIT_CONFIG_NESTING; i++)
		n += (size_t) snprintf(text + n, sizeof(text) - n, "a {");
	CHECK_INT(parse(&st, "/m", text, n), 0, "nesting past the limit");
	CHECK(strstr(last_error(), "too deep") != NULL, "refused as too deep");
	col_autoupdate_periodic_done(&st);
}

int main(void)
{
	mm_setup_jansson();
	sink = json_object();
	forms();
	errors();
	deep();
	json_decref(sink);
	return tap_done();
}
