/*
 * sshd_config as sshd reads it: first value wins, Include in place (so a drop-in included
 * first overrides the main file), Match blocks skipped and counted, keyword syntax
 * variants, loops cut. Included files come from an in-memory table here.
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "tests/tap.h"

static const struct {
	const char *pattern;
	const char *path;
	const char *text;
} files[] = {
	{"/etc/ssh/sshd_config.d/*.conf", "/etc/ssh/sshd_config.d/10-a.conf",
	 "PasswordAuthentication no\n"},
	{"/etc/ssh/sshd_config.d/*.conf", "/etc/ssh/sshd_config.d/20-b.conf",
	 "PasswordAuthentication yes\nPermitRootLogin yes\n"},
	{"/etc/ssh/match.conf", "/etc/ssh/match.conf", "Match User bob\nPubkeyAuthentication no\n"},
	{"/etc/ssh/self.conf", "/etc/ssh/self.conf",
	 "Include self.conf\nPermitEmptyPasswords yes\n"},
};

static unsigned includes_seen;

static int fake_include(struct sshd_config *c, const char *pattern, unsigned depth)
{
	includes_seen++;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_(freep) char *text = NULL;
		int r;

		if (strcmp(files[i].pattern, pattern) != 0)
			continue;
		text = mm_strdup(files[i].text);
		if (!text)
			return -ENOMEM;
		r = col_ssh_parse_sshd_config(c, text, files[i].path, depth);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Parses text as /etc/ssh/sshd_config into c (which the caller frees). */
static int parse(struct sshd_config *c, const char *text)
{
	_cleanup_(freep) char *copy = mm_strdup(text);

	*c = (struct sshd_config){
		.errsink = json_object(), .files = json_array(), .include = fake_include};
	includes_seen = 0;
	return col_ssh_parse_sshd_config(c, copy, "/etc/ssh/sshd_config", 0);
}

static void done(struct sshd_config *c)
{
	json_decref(c->errsink);
	json_decref(c->files);
	col_ssh_config_done(c);
}

static size_t n_errors(const struct sshd_config *c)
{
	return json_array_size(json_object_get(c->errsink, "errors"));
}

static void first_wins_with_includes(void)
{
	struct sshd_config c;

	CHECK_INT(parse(&c, "# Debian's layout\n"
			    "Include /etc/ssh/sshd_config.d/*.conf\n"
			    "PermitRootLogin no\n"
			    "PasswordAuthentication yes\n"
			    "KbdInteractiveAuthentication no\n"),
		  0, "parses");
	CHECK_STR(c.value[SSHD_PASSWORD_AUTHENTICATION], "no",
		  "the first drop-in, included first, wins over both later values");
	CHECK_STR(c.source[SSHD_PASSWORD_AUTHENTICATION], "/etc/ssh/sshd_config.d/10-a.conf:1",
		  "with its file and line");
	CHECK_STR(c.value[SSHD_PERMIT_ROOT_LOGIN], "yes",
		  "the second drop-in's PermitRootLogin precedes the main file's");
	CHECK_STR(c.value[SSHD_KBD_INTERACTIVE_AUTHENTICATION], "no", "main file's own setting");
	CHECK_STR(c.source[SSHD_KBD_INTERACTIVE_AUTHENTICATION], "/etc/ssh/sshd_config:5",
		  "main file's line");
	CHECK(c.value[SSHD_PUBKEY_AUTHENTICATION] == NULL, "unset stays unset (default later)");
	CHECK_INT(json_array_size(c.files), 3, "three files read");
	CHECK_INT(n_errors(&c), 0, "no errors");
	done(&c);

	CHECK_INT(parse(&c, "PermitRootLogin no\nInclude /etc/ssh/sshd_config.d/*.conf\n"), 0,
		  "include after the setting");
	CHECK_STR(c.value[SSHD_PERMIT_ROOT_LOGIN], "no", "the main file's earlier value wins");
	done(&c);
}

static void syntax(void)
{
	struct sshd_config c;

	CHECK_INT(parse(&c, "  permitrootlogin=WITHOUT-PASSWORD\n"
			    "PasswordAuthentication = \"no\" # trailing comment\n"
			    "\tChallengeResponseAuthentication\tno\n"
			    "PubkeyAuthentication yes\n"
			    "#PermitEmptyPasswords yes\n"),
		  0, "parses");
	CHECK_STR(c.value[SSHD_PERMIT_ROOT_LOGIN], "prohibit-password",
		  "keyword=value, any case; without-password is prohibit-password");
	CHECK_STR(c.value[SSHD_PASSWORD_AUTHENTICATION], "no", "spaced '=', quotes, comment");
	CHECK_STR(c.value[SSHD_KBD_INTERACTIVE_AUTHENTICATION], "no",
		  "ChallengeResponseAuthentication is the old name");
	CHECK(c.value[SSHD_PERMIT_EMPTY_PASSWORDS] == NULL, "commented-out line ignored");
	done(&c);

	CHECK_INT(parse(&c, "PermitRootLogin maybe\nPermitRootLogin no\nPasswordAuthentication\n"
			    "Banner \"/etc/issue\n"),
		  0, "bad values parse");
	CHECK_STR(c.value[SSHD_PERMIT_ROOT_LOGIN], "no", "an invalid value is not taken");
	CHECK_INT(n_errors(&c), 3, "invalid value, missing value, open quote reported");
	done(&c);
}

static void match_blocks(void)
{
	struct sshd_config c;

	CHECK_INT(parse(&c, "PermitRootLogin no\n"
			    "Include /etc/ssh/match.conf\n"
			    "PubkeyAuthentication yes\n"
			    "Match Address 10.0.0.0/8\n"
			    "  PasswordAuthentication yes\n"
			    "  Include /etc/ssh/sshd_config.d/*.conf\n"),
		  0, "parses");
	CHECK_STR(c.value[SSHD_PUBKEY_AUTHENTICATION], "yes",
		  "a Match in an included file ends with that file");
	CHECK(c.value[SSHD_PASSWORD_AUTHENTICATION] == NULL, "settings inside Match ignored");
	CHECK_INT(includes_seen, 1, "an Include inside Match is not followed");
	CHECK_INT(c.match_blocks, 2, "both Match blocks counted");
	done(&c);
}

static void loops(void)
{
	struct sshd_config c;

	CHECK_INT(parse(&c, "Include /etc/ssh/self.conf\n"), 0, "a self-including file parses");
	CHECK_INT(includes_seen, LIMIT_INCLUDE_DEPTH, "followed to the depth limit, no further");
	CHECK_STR(c.value[SSHD_PERMIT_EMPTY_PASSWORDS], "yes", "its setting still read");
	CHECK_INT(n_errors(&c), 1, "the loop reported once");
	CHECK_INT(json_array_size(c.files), 2, "each file listed once");
	done(&c);
}

int main(void)
{
	mm_setup_jansson();
	first_wins_with_includes();
	syntax();
	match_blocks();
	loops();
	return tap_done();
}
