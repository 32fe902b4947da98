/* Accounts, groups and password states: what an administrator must be able to trust —
 * an empty password is always seen, a hash is never shown, junk never hides an account. */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "tests/tap.h"

static void check_state(const char *field, const char *state, const char *algorithm)
{
	const char *alg = "sentinel";
	const char *got = col_users_password_state(field, &alg);

	CHECK_STR(got, state, field[0] ? field : "(empty)");
	if (algorithm)
		CHECK_STR(alg, algorithm, "algorithm");
	else
		CHECK(alg == NULL, "no algorithm for '%s'", field);
}

static const char *str(json_t *obj, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(obj, a), b));
}

static json_int_t num(json_t *obj, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(obj, a), b));
}

static int parse_passwd(const char *text, const struct col_login_defs *defs, json_t *accounts)
{
	char *copy = mm_strdup(text);
	int r = copy ? col_users_parse_passwd(copy, defs, accounts) : -ENOMEM;

	mm_free(copy);
	return r;
}

int main(void)
{
	struct col_login_defs defs;
	json_t *accounts = json_object(), *groups = json_object(), *members;
	char defs_text[] = "# comment\nUID_MIN\t\t 500\nUID_MAX   30000\nGID_MIN 500\n"
			   "UID_MIN junk\n";
	char group_text[] = "sudo:x:27:taro,hanako\nadm:x:4:\nbad:x:nope:\nsudo:x:28:dup\n"
			    "users:x:100:taro,,bad name\n";
	char shadow_text[] = "taro:$y$j9T$salt$hashhashhash:19800:0:90:7::19900:\n"
			     "guest::19820:0:99999:7:::\n"
			     "legacy:$6$s$zzz:19000:0:99999:7:::\n"
			     "short:line\n"
			     "must:!:0:0:99999:7:::\n"
			     "ghost:$6$x$y:1:2:3:4:5:6:\n";
	unsigned long n;
	char *dump;
	int r;
	bool ok;

	mm_setup_jansson();

	/* password field states, as login would see them */
	check_state("", "empty", NULL);
	check_state("!", "locked", NULL);
	check_state("*", "locked", NULL);
	check_state("!!", "locked", NULL);
	check_state("!$6$salt$hash", "locked", NULL);
	check_state("!*", "locked", NULL);
	check_state("$y$j9T$salt$hash", "set", "yescrypt");
	check_state("$6$salt$hash", "set", "sha512crypt");
	check_state("$5$salt$hash", "set", "sha256crypt");
	check_state("$2b$12$hash", "set", "bcrypt");
	check_state("$1$salt$hash", "set", "md5crypt");
	check_state("$gy$j9T$s$h", "set", "gost-yescrypt");
	check_state("$9$something", "set", "unknown");
	check_state("abCD01./xyZ12", "set", "des");
	check_state("x", "invalid", NULL);
	check_state("NP", "invalid", NULL);

	col_users_parse_login_defs(defs_text, &defs);
	CHECK_INT(defs.uid_min, 500, "UID_MIN read (a junk later line ignored)");
	CHECK_INT(defs.uid_max, 30000, "UID_MAX read");

	defs = (struct col_login_defs){.uid_min = 1000, .uid_max = 60000};
	r = parse_passwd("root:x:0:0:root:/root:/bin/bash\n"
			 "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
			 "clamav:x:102:110::/var/lib/clamav:/bin/false\n"
			 "# comment\n"
			 "\n"
			 "taro:x:1000:1000:Taro Yamada,Room 1,,:/home/taro:/bin/bash\n"
			 "guest:x:1002:1002:Guest:/home/guest:/bin/bash\n"
			 "legacy::1005:1005:No password at all:/home/legacy:\n"
			 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
			 "taro:x:1001:1001:second taro:/:/bin/sh\n"
			 "+nis::::::\n"
			 "bad:x:12a:1::/:/bin/sh\n"
			 "short:x:5:5\n"
			 "long:x:5:5:a:b:c:d\n"
			 "junkgecos:x:1010:1010:caf\xe9:/home/j:/bin/bash\n"
			 "\tindented:x:1011:1011::/home/i:/bin/bash\n"
			 "must:x:1012:1012::/home/m:/bin/bash\n",
			 &defs, accounts);
	CHECK_INT(r, 5, "duplicate, NIS, non-numeric uid and wrong field counts skipped");
	CHECK_INT(json_object_size(accounts), 10, "the other accounts listed");
	CHECK_STR(str(accounts, "taro", "home"), "/home/taro", "first entry of a name wins");
	CHECK_STR(str(accounts, "taro", "full_name"), "Taro Yamada", "full name from GECOS");
	CHECK_STR(str(accounts, "taro", "gecos"), "Taro Yamada,Room 1,,", "whole GECOS kept");
	CHECK(json_is_false(json_object_get(json_object_get(accounts, "taro"), "system")),
	      "uid 1000 is a person");
	CHECK(json_is_true(json_object_get(json_object_get(accounts, "nobody"), "system")),
	      "uid above UID_MAX is a system account");
	CHECK(json_is_true(json_object_get(json_object_get(accounts, "daemon"), "system")),
	      "uid below UID_MIN is a system account");
	CHECK(json_is_false(json_object_get(json_object_get(accounts, "daemon"), "login_shell")),
	      "nologin is no login shell");
	CHECK(json_is_false(json_object_get(json_object_get(accounts, "clamav"), "login_shell")),
	      "false is no login shell");
	CHECK_STR(str(accounts, "legacy", "shell"), "/bin/sh", "empty shell means /bin/sh");
	CHECK_STR(str(accounts, "legacy", "password_state"), "empty",
		  "empty password field in passwd: empty");
	CHECK_STR(str(accounts, "legacy", "password_source"), "passwd", "… from passwd");
	CHECK(json_object_get(accounts, "junkgecos") &&
		      json_is_null(
			      json_object_get(json_object_get(accounts, "junkgecos"), "gecos")),
	      "junk GECOS: account kept, GECOS null");
	CHECK(json_object_get(accounts, "indented") != NULL, "leading blanks skipped (nss_files)");
	CHECK_STR(str(accounts, "guest", "password_state"), "unknown", "x: unknown until shadow");

	r = col_users_parse_shadow(shadow_text, accounts);
	CHECK_INT(r, 1, "a short shadow line counted");
	CHECK_STR(str(accounts, "guest", "password_state"), "empty", "guest: empty from shadow");
	CHECK_STR(str(accounts, "taro", "password_state"), "set", "taro: set");
	CHECK_STR(str(accounts, "taro", "password_algorithm"), "yescrypt", "taro: yescrypt");
	CHECK_STR(str(accounts, "taro", "password_last_change"), "2024-03-18",
		  "last change as a date");
	CHECK_INT(num(accounts, "taro", "password_max_days"), 90, "max days");
	CHECK_STR(str(accounts, "taro", "account_expires"), "2024-06-26", "expiry as a date");
	CHECK_STR(str(accounts, "legacy", "password_state"), "empty",
		  "a passwd-held password is not overridden by shadow");
	CHECK(json_is_true(json_object_get(json_object_get(accounts, "must"),
					   "password_change_required")),
	      "last change 0: must change at next login");
	CHECK(json_is_null(
		      json_object_get(json_object_get(accounts, "must"), "password_last_change")),
	      "… and no 1970 date");
	CHECK(!json_object_get(accounts, "ghost"), "shadow never adds accounts");
	dump = jsonw_dump(accounts);
	CHECK(dump && !strstr(dump, "$y$") && !strstr(dump, "$6$") && !strstr(dump, "hash") &&
		      !strstr(dump, "zzz"),
	      "no password hash in the output");
	mm_free(dump);

	r = col_users_parse_group(group_text, groups);
	CHECK_INT(r, 3, "bad gid, duplicate group and a bad member name counted");
	members = json_object_get(json_object_get(groups, "sudo"), "members");
	CHECK_INT(json_array_size(members), 2, "sudo members");
	CHECK_STR(json_string_value(json_array_get(members, 0)), "taro", "first member");
	CHECK_INT(num(groups, "sudo", "gid"), 27, "first entry of a group wins");
	CHECK_INT(json_array_size(json_object_get(json_object_get(groups, "adm"), "members")), 0,
		  "empty member list");
	json_decref(accounts);
	json_decref(groups);

	/* allocation failures are reported, never crash */
	ok = true;
	mm_fail_at(0, false);
	accounts = json_object();
	(void) parse_passwd("root:x:0:0:root:/root:/bin/bash\nt:x:1000:1000:T:/h:/bin/sh\n", &defs,
			    accounts);
	json_decref(accounts);
	n = mm_fail_at(0, false);
	for (unsigned long i = 1; i <= n; i++) {
		mm_fail_at(i, true);
		accounts = json_object();
		r = accounts ? parse_passwd("root:x:0:0:root:/root:/bin/bash\n"
					    "t:x:1000:1000:T:/h:/bin/sh\n",
					    &defs, accounts)
			     : -ENOMEM;
		if (mm_fail_fired() && r != -ENOMEM)
			ok = false;
		json_decref(accounts);
	}
	mm_fail_at(0, false);
	CHECK(ok, "each of %lu allocation failures gives -ENOMEM", n);
	return tap_done();
}
