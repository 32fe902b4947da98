/*
 * Collection profiles: the defaults, each profile, overrides, every error reported in one
 * pass, and the plain-words report (`status --collection`) saying what the settings say.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/monitors.h"
#include "lib/mm.h"
#include "tests/tap.h"

static json_t *load(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	if (!v)
		abort();
	return v;
}

/* The report for c in lang, as a string (the caller frees). */
static char *report(const struct collection *c, const char *lang)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f || collection_print(c, lang, f) < 0)
		abort();
	fclose(f);
	return text;
}

static void test_profiles(void)
{
	struct collection c;
	struct diag d;
	json_t *p;
	char *text;

	diag_init(&d);
	CHECK_INT(collection_parse(NULL, &c, &d), 0, "no policy: the standard profile");
	CHECK_STR(c.profile, "standard", "  named standard");
	CHECK(c.process && !c.process_cmdline && c.process_hash,
	      "  processes without command lines");
	CHECK(c.removable && c.login && c.network, "  removable media, logins, network");
	CHECK(c.folders && !c.folders[0], "  no folder watched");
	text = report(&c, "en");
	CHECK(strstr(text, "Not recorded") && strstr(text, "command lines"),
	      "  the report says command lines are not recorded");
	CHECK(strstr(text, "keystrokes"), "  and what is never recorded");
	free(text); /* checksrc: allow (open_memstream's buffer) */
	text = report(&c, "ja");
	CHECK(strstr(text, "コマンドライン") && strstr(text, "キー入力"), "  in Japanese too");
	free(text); /* checksrc: allow (open_memstream's buffer) */
	collection_done(&c);

	p = load("{\"collection\": {\"profile\": \"minimal\"}}");
	CHECK_INT(collection_parse(p, &c, &d), 0, "the minimal profile");
	CHECK(!c.process && !c.process_cmdline && !c.process_hash, "  no processes at all");
	CHECK(c.removable && c.login, "  still removable media and logins");
	collection_done(&c);
	json_decref(p);

	p = load("{\"collection\": {\"profile\": \"detailed\", \"files\": {\"folders\": "
		 "[\"/home/*/Documents\", \"/srv/share\"], \"exclude\": [\"*.tmp\"]},"
		 " \"process\": {\"hash_rate_mib\": 8}, \"network\": {\"enabled\": false}}}");
	CHECK_INT(collection_parse(p, &c, &d), 0, "the detailed profile with overrides");
	CHECK(c.process_cmdline, "  command lines kept");
	CHECK_STR(c.folders[0], "/home/*/Documents", "  first folder");
	CHECK_STR(c.folders[1], "/srv/share", "  second folder");
	CHECK(!c.folders[2], "  two folders");
	CHECK_STR(c.exclude[0], "*.tmp", "  exclusion");
	CHECK_INT(c.hash_rate, 8 * 1024 * 1024, "  hash rate");
	CHECK(!c.network, "  network turned off");
	text = report(&c, "en");
	CHECK(strstr(text, "/srv/share") && strstr(text, "*.tmp"), "  the report lists folders");
	CHECK(strstr(text, "with their command lines"), "  and says command lines are kept");
	free(text); /* checksrc: allow (open_memstream's buffer) */
	collection_done(&c);
	json_decref(p);
	CHECK_INT(d.n, 0, "no diagnostics so far");
	diag_done(&d);
}

static void test_errors(void)
{
	struct collection c;
	struct diag d;
	json_t *p;

	diag_init(&d);
	p = load(
		"{\"collection\": {\"profile\": \"everything\", \"process\": {\"enabled\": 1},"
		" \"files\": {\"folders\": [\"relative/dir\", \"/a/../b\", 3], \"exclude\": \"x\"},"
		" \"login\": [], \"future\": true}}");
	CHECK_INT(collection_parse(p, &c, &d), -EINVAL, "a bad policy is refused");
	CHECK_INT(d.n_errors, 7, "every error reported in one pass");
	CHECK_INT(d.n - d.n_errors, 1, "an unknown key is a warning");
	for (size_t i = 0; i < d.n; i++) {
		char *m = diag_format(&d.entries[i]);

		tap_diag("%s", m ? m : "?");
		mm_free(m);
	}
	diag_done(&d);
	json_decref(p);

	diag_init(&d);
	p = load("{\"collection\": {\"process\": {\"hash_rate_mib\": 0}}}");
	CHECK_INT(collection_parse(p, &c, &d), -EINVAL, "a zero hash rate is refused");
	diag_done(&d);
	json_decref(p);

	diag_init(&d);
	p = load("[1]");
	CHECK_INT(collection_parse(p, &c, &d), -EINVAL, "a policy that is not an object");
	diag_done(&d);
	json_decref(p);

	diag_init(&d);
	p = load("{\"usb\": \"default block\"}");
	CHECK_INT(collection_parse(p, &c, &d), 0, "a policy without collection settings");
	CHECK_STR(c.profile, "standard", "  gets the standard profile");
	collection_done(&c);
	diag_done(&d);
	json_decref(p);
}

int main(void)
{
	mm_setup_jansson();
	test_profiles();
	test_errors();
	return tap_done();
}
