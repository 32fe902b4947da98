/* The server's configuration file: values, defaults, and every error with its line. */
#include <errno.h>
#include <syslog.h>

#include "lib/mm.h"
#include "server/server.h"
#include "tests/tap.h"

static int parse(struct config *c, const char *text, struct diag *d)
{
	return config_parse(c, text, strlen(text), "test.conf", d);
}

static bool has_error(const struct diag *d, unsigned line, const char *words)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].line == line && strstr(d->entries[i].message, words))
			return true;
	return false;
}

static void test_good(void)
{
	static const char text[] = "# mamori-server\n"
				   "\n"
				   "state_dir = /srv/mamori\n"
				   "agent_listen=0.0.0.0:9443\r\n"
				   "\tapi_listen =  [::1]:9444  \n"
				   "store = sqlite:/srv/mamori/x.db\n"
				   "name = mamori.example.org\n"
				   "name = 192.0.2.10\n"
				   "name = mamori.example.org\n"
				   "log_level = debug\n"
				   "threads = 8\n"
				   "connection_timeout = 2m\n"
				   "agent_max_inflight = 5\n"
				   "checkin_interval = 1h\n"
				   "   # an indented comment\n"
				   "inventory_interval = 1d";
	struct config c;
	struct diag d;

	CHECK_INT(config_init(&c), 0, "defaults");
	CHECK_STR(c.agent_listen, "0.0.0.0:8443", "default agent address");
	CHECK_STR(c.api_listen, "127.0.0.1:8444", "default admin address (loopback)");
	CHECK_INT(c.threads, 4, "default threads");
	diag_init(&d);
	CHECK_INT(parse(&c, text, &d), 0, "a good file parses");
	CHECK_INT(d.n, 0, "without diagnostics");
	CHECK_STR(c.state_dir, "/srv/mamori", "state_dir");
	CHECK_STR(c.agent_listen, "0.0.0.0:9443", "CRLF line");
	CHECK_STR(c.api_listen, "[::1]:9444", "value trimmed, tab before key");
	CHECK_STR(c.store_url, "sqlite:/srv/mamori/x.db", "store");
	CHECK_INT(c.n_names, 2, "repeated name kept once");
	CHECK_STR(c.names[1], "192.0.2.10", "an IP address as a name");
	CHECK_INT(c.log_level, LOG_DEBUG, "log level");
	CHECK_INT(c.threads, 8, "threads");
	CHECK_INT(c.connection_timeout, 120, "duration in minutes");
	CHECK_INT(c.agent_max_inflight, 5, "in-flight cap");
	CHECK_INT(c.checkin_interval, 3600, "duration in hours");
	CHECK_INT(c.inventory_interval, 86400, "last line without newline");
	diag_done(&d);
	config_done(&c);
}

static void test_errors(void)
{
	static const char text[] = "state_dir = /a\n"           /* 1 good */
				   "colour = blue\n"            /* 2 unknown */
				   "threads 4\n"                /* 3 no '=' */
				   "threads = many\n"           /* 4 not a number */
				   "state_dir = /b\n"           /* 5 twice */
				   "agent_listen = host:80\n"   /* 6 not numeric */
				   "name = bad_name!\n"         /* 7 not a name */
				   "log_level = loud\n"         /* 8 */
				   "store = mysql://x\n"        /* 9 */
				   "max_connections = 0\n"      /* 10 out of range */
				   "checkin_interval = 5y\n"    /* 11 */
				   "api_listen =\n"             /* 12 empty */
				   "inventory_interval = 2h\n"; /* 13 good after errors */
	struct config c;
	struct diag d;

	CHECK_INT(config_init(&c), 0, "defaults");
	diag_init(&d);
	CHECK_INT(parse(&c, text, &d), -EINVAL, "a bad file fails");
	CHECK_INT(d.n_errors, 11, "every error reported in one pass");
	CHECK(has_error(&d, 2, "unknown setting 'colour'"), "unknown key, line 2");
	CHECK(has_error(&d, 3, "expected 'key = value'"), "missing '=', line 3");
	CHECK(has_error(&d, 4, "whole number"), "bad number, line 4");
	CHECK(has_error(&d, 5, "set twice (first on line 1)"), "duplicate, line 5");
	CHECK(has_error(&d, 6, "HOST:PORT"), "bad address, line 6");
	CHECK(has_error(&d, 7, "neither a DNS name"), "bad name, line 7");
	CHECK(has_error(&d, 8, "debug"), "bad level, line 8");
	CHECK(has_error(&d, 9, "sqlite:PATH"), "bad store, line 9");
	CHECK(has_error(&d, 10, "from 1 to 100000"), "out of range, line 10");
	CHECK(has_error(&d, 11, "duration"), "bad duration, line 11");
	CHECK(has_error(&d, 12, "needs a value"), "empty value, line 12");
	CHECK_STR(d.entries[0].file, "test.conf", "diagnostics carry the file name");
	CHECK_INT(c.inventory_interval, 7200, "settings after errors still parsed");
	CHECK_STR(c.state_dir, "/a", "the first of a duplicate stands");
	{
		char *s = diag_format(&d.entries[0]);

		CHECK(s && strncmp(s, "test.conf:2:", 12) == 0, "formatted as file:line:col");
		mm_free(s);
	}
	diag_done(&d);

	diag_init(&d);
	CHECK_INT(config_parse(&c, "threads = 2\nname = a\0b\n", 22, "nul.conf", &d), -EINVAL,
		  "a NUL byte fails");
	CHECK(has_error(&d, 2, "NUL"), "on its line");
	diag_done(&d);

	diag_init(&d);
	CHECK_INT(parse(&c, "threads = 2\ncomment = caf\xc3\n", &d), -EINVAL, "bad UTF-8 fails");
	CHECK(has_error(&d, 2, "UTF-8"), "on its line");
	diag_done(&d);

	diag_init(&d);
	{
		char many[64 * 40] = "";

		for (int i = 0; i < 40; i++)
			(void) snprintf(many + strlen(many), sizeof(many) - strlen(many),
					"name = h%d.example\n", i);
		CHECK_INT(parse(&c, many, &d), -EINVAL, "too many names fail");
		CHECK(has_error(&d, CONFIG_NAMES_MAX + 1, "more than 32 names"),
		      "from the first name too many on");
	}
	diag_done(&d);
	config_done(&c);

	CHECK_INT(config_init(&c), 0, "defaults");
	diag_init(&d);
	CHECK(config_load(&c, "/nonexistent/mamori.conf", &d) < 0, "a missing file fails");
	CHECK(d.n_errors == 1 && strstr(d.entries[0].message, "cannot read"), "saying so");
	diag_done(&d);
	config_done(&c);
}

static void test_values(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int64_t v;

	CHECK_INT(config_parse_duration("90", 0, 1000, &v), 0, "plain seconds");
	CHECK_INT(v, 90, "90");
	CHECK_INT(config_parse_duration("7d", 0, INT64_MAX, &v), 0, "days");
	CHECK_INT(v, 7 * 86400, "7d");
	CHECK_INT(config_parse_duration("24h", 0, INT64_MAX, &v), 0, "hours");
	CHECK_INT(v, 86400, "24h");
	CHECK(config_parse_duration("", 0, 10, &v) < 0, "empty refused");
	CHECK(config_parse_duration("h", 0, 10, &v) < 0, "unit alone refused");
	CHECK(config_parse_duration("-5", -10, 10, &v) < 0, "sign refused");
	CHECK(config_parse_duration("1.5h", 0, INT64_MAX, &v) < 0, "fraction refused");
	CHECK(config_parse_duration("999999999999999999d", 0, INT64_MAX, &v) < 0,
	      "overflow refused");
	CHECK(config_parse_duration("11", 0, 10, &v) < 0, "over max refused");

	CHECK_INT(config_parse_listen("127.0.0.1:8443", &ss, &len), 0, "v4 address");
	CHECK_INT(ss.ss_family, AF_INET, "is AF_INET");
	CHECK_INT(config_parse_listen("[::1]:0", &ss, &len), 0, "v6 address, port 0");
	CHECK_INT(ss.ss_family, AF_INET6, "is AF_INET6");
	CHECK_INT(config_parse_listen("*:80", &ss, &len), 0, "wildcard");
	CHECK_INT(config_parse_listen("localhost:1", &ss, &len), 0, "localhost");
	CHECK(config_parse_listen("example.org:80", &ss, &len) < 0, "names are not resolved");
	CHECK(config_parse_listen("1.2.3.4", &ss, &len) < 0, "port needed");
	CHECK(config_parse_listen("1.2.3.4:65536", &ss, &len) < 0, "port range");
	CHECK(config_parse_listen("[::1:80", &ss, &len) < 0, "unclosed bracket");
	CHECK(config_parse_listen("::1:80", &ss, &len) < 0, "v6 needs brackets");
	CHECK(config_parse_listen(":80", &ss, &len) < 0, "host needed");
}

/* The example shipped in dist/ must stay a valid configuration. */
static void test_example(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	char path[4096];
	struct config c;
	struct diag d;

	if (!src) {
		tap_diag("MAMORI_SOURCE_ROOT unset: dist/mamori-server.conf not checked");
		return;
	}
	(void) snprintf(path, sizeof(path), "%s/dist/mamori-server.conf", src);
	CHECK_INT(config_init(&c), 0, "defaults");
	diag_init(&d);
	CHECK_INT(config_load(&c, path, &d), 0, "dist/mamori-server.conf parses");
	CHECK_INT(d.n, 0, "without diagnostics");
	CHECK_STR(c.agent_listen, "0.0.0.0:8443", "and says what the defaults are");
	CHECK_INT(c.checkin_interval, 300, "check-in every 5m");
	diag_done(&d);
	config_done(&c);
}

int main(void)
{
	mm_setup_jansson();
	test_example();
	test_good();
	test_errors();
	test_values();
	return tap_done();
}
