/*
 * The state directory's files: agent.conf is parsed with every error reported in one pass
 * with its line, sizes and fingerprints are read the way administrators write them,
 * status.json round-trips and refuses what the daemon never writes, files are replaced
 * atomically with the mode asked for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "lib/fileio.h"
#include "lib/mm.h"
#include "tests/tap.h"

static int parse(const char *text, struct agent_conf *c, struct diag *d)
{
	char *copy = mm_strdup(text);
	int r;

	diag_init(d);
	r = state_conf_parse(copy, "agent.conf", c, d);
	mm_free(copy);
	return r;
}

static bool has_error(const struct diag *d, unsigned line, const char *words)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].line == line && strstr(d->entries[i].message, words))
			return true;
	return false;
}

static void test_conf(void)
{
	struct agent_conf c = {0};
	struct diag d;
	char *text = NULL;

	CHECK_INT(parse("# comment\n\nserver = https://mamori.example:8443/\n"
			"host_id = 7f7c-0001\n"
			"ca_fingerprint = AB:cd:" /* 62 more digits */
			"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab\n"
			"spool_max = 64M\ndrain_rate = 5\nlog_level = debug\n",
			&c, &d),
		  0, "a full agent.conf parses");
	CHECK_STR(c.server, "https://mamori.example:8443", "server, trailing '/' dropped");
	CHECK_STR(c.host_id, "7f7c-0001", "host_id");
	CHECK_STR(c.ca_fingerprint,
		  "abcd0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab",
		  "ca_fingerprint, normalised");
	CHECK_INT(c.spool_max, 64 << 20, "spool_max 64M");
	CHECK_INT(c.drain_rate, 5, "drain_rate");
	CHECK_INT(c.log_level, LOG_DEBUG, "log_level");
	CHECK_INT(state_conf_format(&c, &text), 0, "formatted back");
	state_conf_done(&c);
	diag_done(&d);
	CHECK_INT(parse(text, &c, &d), 0, "and the formatted text parses");
	CHECK_INT(c.spool_max, 64 << 20, "with the same spool_max");
	mm_free(text);
	state_conf_done(&c);
	diag_done(&d);

	CHECK_INT(parse("server = https://s\nhost_id = h\n", &c, &d), 0, "a minimal one");
	CHECK_INT(c.spool_max, AGENT_SPOOL_MAX_DEFAULT, "spool_max defaults to 256 MiB");
	CHECK_INT(c.drain_rate, AGENT_DRAIN_RATE_DEFAULT, "drain_rate has its default");
	CHECK_INT(c.log_level, LOG_INFO, "log_level defaults to info");
	state_conf_done(&c);
	diag_done(&d);

	CHECK_INT(parse("server = http://plain\nhost_id = ok\nhost_id = twice\ncolour = blue\n"
			"spool_max = 1K\nno equals sign\ndrain_rate = 0\n",
			&c, &d),
		  -EINVAL, "a bad agent.conf is refused");
	CHECK_INT(d.n_errors, 6, "with every error reported at once");
	CHECK(has_error(&d, 1, "https://"), "line 1: server must be https");
	CHECK(has_error(&d, 3, "twice"), "line 3: host_id set twice");
	CHECK(has_error(&d, 4, "unknown key 'colour'"), "line 4: unknown key");
	CHECK(has_error(&d, 5, "spool_max"), "line 5: spool_max too small");
	CHECK(has_error(&d, 6, "key = value"), "line 6: no '='");
	CHECK(has_error(&d, 7, "drain_rate"), "line 7: drain_rate 0");
	CHECK(c.server == NULL, "nothing is handed out on failure");
	diag_done(&d);
	CHECK_INT(parse("", &c, &d), -EINVAL, "an empty file is refused");
	CHECK(has_error(&d, 0, "server is not set") && has_error(&d, 0, "host_id is not set"),
	      "naming both missing keys");
	diag_done(&d);
	CHECK_INT(parse("server = https://s\nhost_id = bad/id\n", &c, &d), -EINVAL,
		  "a host id with '/' is refused");
	diag_done(&d);
}

static void test_sizes(void)
{
	uint64_t v = 0;

	CHECK(state_size_parse("256M", &v) == 0 && v == 256ull << 20, "256M");
	CHECK(state_size_parse("64k", &v) == 0 && v == 64ull << 10, "64k");
	CHECK(state_size_parse("1G", &v) == 0 && v == 1ull << 30, "1G");
	CHECK(state_size_parse("12345", &v) == 0 && v == 12345, "plain bytes");
	CHECK(state_size_parse("", &v) < 0, "empty is refused");
	CHECK(state_size_parse("12X", &v) < 0, "an unknown suffix is refused");
	CHECK(state_size_parse("M", &v) < 0, "a suffix alone is refused");
	CHECK(state_size_parse("-1M", &v) < 0, "a sign is refused");
	CHECK_INT(state_size_parse("99999999999999G", &v), -ERANGE, "overflow is refused");
}

static void test_fingerprint(void)
{
	char fp[65];
	const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	CHECK(state_fingerprint_normalize(hex, fp) == 0 && streq(fp, hex), "plain hex");
	CHECK(state_fingerprint_normalize("SHA256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
					  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
					  fp) == 0 &&
		      streq(fp, hex),
	      "with a prefix, colons and capitals");
	CHECK_INT(state_fingerprint_normalize("0011", fp), -EINVAL, "too short");
	CHECK_INT(state_fingerprint_normalize("zz112233445566778899aabbccddeeff00112233445566778899"
					      "aabbccddeeff",
					      fp),
		  -EINVAL, "not hex");
	CHECK_INT(state_cert_fingerprint("garbage", 7, fp), -EBADMSG, "not a certificate");
}

static void test_status(void)
{
	struct agent_status s = {.updated = 1795650000,
				 .pid = 42,
				 .running = true,
				 .last_checkin = 1795649000,
				 .failures = 3,
				 .checkin_interval = 300},
			    back;
	struct jsonw_error err;
	char *text = NULL;

	(void) snprintf(s.last_error, sizeof(s.last_error), "check-in: HTTP 503 busy");
	CHECK_INT(state_status_format(&s, &text), 0, "status.json is written");
	CHECK_INT(state_status_parse(text, strlen(text), &back, &err), 0, "and read back");
	CHECK(back.updated == s.updated && back.pid == 42 && back.running &&
		      back.last_checkin == s.last_checkin && back.failures == 3 &&
		      streq(back.last_error, s.last_error),
	      "unchanged");
	mm_free(text);
	CHECK_INT(state_status_parse("[]", 2, &back, &err), -EBADMSG, "an array is refused");
	CHECK_INT(state_status_parse("{\"running\":true}", 16, &back, &err), -EBADMSG,
		  "a missing 'updated' is refused");
	CHECK(strstr(err.text, "updated") != NULL, "naming the field");
	CHECK_INT(state_status_parse("{\"updated\":1,\"running\":\"yes\"}", 29, &back, &err),
		  -EBADMSG, "a wrong type is refused");
	CHECK_INT(state_status_parse("{\"updated\":-5,\"running\":true}", 29, &back, &err),
		  -EBADMSG, "a negative time is refused");
	{
		char big[600];

		(void) snprintf(big, sizeof(big),
				"{\"updated\":1,\"running\":false,\"last_error\":\"%0300d\"}", 0);
		CHECK_INT(state_status_parse(big, strlen(big), &back, &err), -EBADMSG,
			  "an over-long last_error is refused");
	}
}

static void test_files(void)
{
	char dir[] = "/tmp/test-agentstate.XXXXXX";
	char *path = NULL, *text = NULL;
	struct stat st;

	if (!mkdtemp(dir)) {
		CHECK(false, "a temporary directory");
		return;
	}
	path = state_path(dir, "f");
	CHECK_INT(state_write_atomic(dir, "f", "one", 3, 0600, true), 0, "a file is written");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "with mode 0600");
	CHECK_INT(state_write_atomic(dir, "f", "two!", 4, 0644, false), 0, "and replaced");
	CHECK(fileio_read(NULL, path, 100, &text, NULL) == 0 && streq(text, "two!"),
	      "with the new contents");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "and the new mode");
	CHECK_INT(state_check_secrecy(path), -EPERM, "a 0644 key is refused");
	CHECK_INT(chmod(path, 0600), 0, "chmod 600");
	CHECK_INT(state_check_secrecy(path), 0, "a 0600 key of ours is accepted");
	CHECK_INT(state_write_atomic("/nonexistent", "f", "x", 1, 0600, true), -ENOENT,
		  "a missing directory fails cleanly");
	CHECK_INT(state_dir_prepare(path), -ENOTDIR, "a file as state directory is refused");
	(void) unlink(path);
	mm_free(path);
	mm_free(text);
	(void) rmdir(dir);
}

int main(void)
{
	mm_setup_jansson();
	test_conf();
	test_sizes();
	test_fingerprint();
	test_status();
	test_files();
	return tap_done();
}
