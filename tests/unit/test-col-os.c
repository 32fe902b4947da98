/* The os section's parsers: os-release as a shell reads it, and /proc/stat's btime. */
#include <errno.h>

#include "agent/agent.h"
#include "lib/mm.h"
#include "tests/tap.h"

/* Parses text (copied, since the parser writes into it) into a new section. */
static json_t *os_release(const char *text, int *ret_bad)
{
	char *copy = mm_strdup(text);
	json_t *section = json_object();

	*ret_bad = col_os_parse_os_release(copy, section);
	mm_free(copy);
	return section;
}

static const char *get(json_t *section, const char *field)
{
	return json_string_value(json_object_get(section, field));
}

static int btime(const char *text, int64_t *ret)
{
	char *copy = mm_strdup(text);
	int r = col_os_parse_btime(copy, ret);

	mm_free(copy);
	return r;
}

static void test_debian(void)
{
	int bad;
	json_t *s = os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
			       "NAME=\"Debian GNU/Linux\"\n"
			       "VERSION_ID=\"12\"\n"
			       "VERSION=\"12 (bookworm)\"\n"
			       "VERSION_CODENAME=bookworm\n"
			       "ID=debian\n"
			       "HOME_URL=\"https://www.debian.org/\"\n",
			       &bad);

	CHECK_INT(bad, 0, "Debian 12's os-release has no malformed line");
	CHECK_STR(get(s, "id"), "debian", "ID, unquoted");
	CHECK_STR(get(s, "version_id"), "12", "VERSION_ID, double-quoted");
	CHECK_STR(get(s, "pretty_name"), "Debian GNU/Linux 12 (bookworm)", "PRETTY_NAME");
	CHECK_STR(get(s, "version_codename"), "bookworm", "VERSION_CODENAME");
	CHECK(!json_object_get(s, "home_url"), "keys outside the schema are not copied");
	json_decref(s);
}

static void test_quoting(void)
{
	int bad;
	json_t *s = os_release("NAME='single \"quoted\" \\n'\n"
			       "PRETTY_NAME=\"a \\\"b\\\" \\\\ \\$x \\`y\\` \\q\"\n"
			       "VERSION=plain\\ escaped\\\"\n"
			       "ID=\"de\"'bi'an\n"
			       "VERSION_ID=''\n"
			       "  VARIANT_ID=\"  workstation  \"   \n"
			       "BUILD_ID=\"#not a comment\"\n",
			       &bad);

	CHECK_INT(bad, 0, "every quoting style parses");
	CHECK_STR(get(s, "name"), "single \"quoted\" \\n", "single quotes are literal");
	CHECK_STR(get(s, "pretty_name"), "a \"b\" \\ $x `y` \\q",
		  "in double quotes a backslash escapes only \" \\ $ `, and stays before others");
	CHECK_STR(get(s, "version"), "plain escaped\"", "unquoted, a backslash escapes anything");
	CHECK_STR(get(s, "id"), "debian", "quoted and unquoted pieces concatenate");
	CHECK_STR(get(s, "version_id"), "", "an empty quoted value is an empty string");
	CHECK_STR(get(s, "variant_id"), "  workstation  ",
		  "space inside quotes is kept, around the line it is not");
	CHECK_STR(get(s, "build_id"), "#not a comment", "# inside a value is not a comment");
	json_decref(s);
}

static void test_malformed(void)
{
	int bad;
	json_t *s = os_release("# comment\n"
			       "\n"
			       "ID=fedora\n"
			       "NAME=\"unterminated\n"
			       "PRETTY_NAME='also unterminated\n"
			       "VERSION_ID=\"ends in an escaped quote\\\"\n"
			       "no equals sign\n"
			       "=no key\n"
			       "BAD KEY=1\n"
			       "VERSION=\"\xff\xfe\"\n"
			       "VERSION_CODENAME=tab\there\n"
			       "ID=debian\r\n",
			       &bad);

	CHECK_INT(bad, 8, "every malformed line is counted");
	CHECK(!json_object_get(s, "name"), "an unterminated double quote gives no value");
	CHECK(!json_object_get(s, "pretty_name"), "an unterminated single quote gives no value");
	CHECK(!json_object_get(s, "version_id"), "an escaped closing quote does not close");
	CHECK(!json_object_get(s, "version"), "a value that is not UTF-8 is dropped");
	CHECK(!json_object_get(s, "version_codename"), "a control character is dropped");
	CHECK_STR(get(s, "id"), "debian", "the last assignment wins; a CR line end is trimmed");
	json_decref(s);

	s = os_release("", &bad);
	CHECK_INT(bad, 0, "an empty file has no malformed line");
	CHECK_INT(json_object_size(s), 0, "and no fields");
	json_decref(s);
}

static void test_btime(void)
{
	int64_t t = -1;

	CHECK_INT(btime("cpu  1 2 3\ncpu0 1 2 3\nctxt 445313\nbtime 1795633566\nprocesses 9\n", &t),
		  0, "btime found among other lines");
	CHECK_INT(t, 1795633566, "its value");
	t = 7;
	CHECK_INT(btime("cpu  1 2 3\nctxt 1\n", &t), -ENOENT, "no btime line: -ENOENT");
	CHECK_INT(btime("", &t), -ENOENT, "empty text: -ENOENT");
	CHECK_INT(btime("btime -5\n", &t), -ENOENT, "a negative btime is refused");
	CHECK_INT(btime("btime 0\n", &t), -ENOENT, "a zero btime is refused");
	CHECK_INT(btime("btime 12abc\n", &t), -ENOENT, "trailing junk is refused");
	CHECK_INT(btime("btime 99999999999999999999999\n", &t), -ENOENT, "overflow is refused");
	CHECK_INT(btime("xbtime 5\n btime 6\n", &t), -ENOENT, "btime must start the line");
	CHECK_INT(t, 7, "the result is untouched on failure");
	CHECK_INT(btime("btime junk\nbtime 1700000000", &t), 0, "a later good line is used");
	CHECK_INT(t, 1700000000, "even without a final newline");
}

int main(void)
{
	mm_setup_jansson();
	test_debian();
	test_quoting();
	test_malformed();
	test_btime();
	return tap_done();
}
