/*
 * Parsers of the server's answers: what the protocol says is accepted, anything else is
 * refused with the field named, and unknown members are ignored.
 */
#include <errno.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/mm.h"
#include "tests/tap.h"

#define DIGEST    "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
#define CERT      "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n" /* in JSON */
#define CERT_TEXT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static int checkin(const char *s, struct proto_checkin_reply *c, struct jsonw_error *e)
{
	return proto_parse_checkin_reply(s, strlen(s), c, e);
}

static void test_checkin(void)
{
	struct proto_checkin_reply c;
	struct jsonw_error e;

	CHECK_INT(checkin("{\"server_time\":1795650001,\"checkin_interval\":60,"
			  "\"inventory_interval\":7200,\"inventory\":\"delta\","
			  "\"inventory_base\":\"" DIGEST "\",\"acked_seq\":1234,"
			  "\"commands\":[{}],\"future\":true}",
			  &c, &e),
		  0, "a check-in answer parses");
	CHECK(c.server_time == 1795650001 && c.checkin_interval == 60 &&
		      c.inventory_interval == 7200 && c.inventory == PROTO_INVENTORY_DELTA &&
		      streq(c.inventory_base, DIGEST) && c.acked_seq == 1234 && c.n_commands == 1,
	      "with every field");
	CHECK_INT(checkin("{\"acked_seq\":0}", &c, &e), 0, "a minimal one parses");
	CHECK(c.inventory == PROTO_INVENTORY_OK && c.checkin_interval == 0,
	      "defaults: inventory ok, intervals unchanged");
	CHECK_INT(checkin("{\"inventory\":\"ok\"}", &c, &e), -EBADMSG, "acked_seq is required");
	CHECK(strstr(e.text, "acked_seq") != NULL, "and named");
	CHECK_INT(checkin("{\"acked_seq\":-1}", &c, &e), -EBADMSG, "a negative acked_seq");
	CHECK_INT(checkin("{\"acked_seq\":1,\"inventory\":\"maybe\"}", &c, &e), -EBADMSG,
		  "an unknown inventory word");
	CHECK_INT(checkin("{\"acked_seq\":1,\"inventory_base\":\"xyz\"}", &c, &e), -EBADMSG,
		  "a base that is not a digest");
	CHECK_INT(checkin("{\"acked_seq\":1,\"checkin_interval\":0}", &c, &e), -EBADMSG,
		  "an interval of 0");
	CHECK_INT(checkin("{\"acked_seq\":1,\"checkin_interval\":\"300\"}", &c, &e), -EBADMSG,
		  "an interval as a string");
	CHECK_INT(checkin("{\"acked_seq\":1,\"commands\":{}}", &c, &e), -EBADMSG,
		  "commands as an object");
	CHECK_INT(checkin("[1]", &c, &e), -EBADMSG, "an array");
	CHECK_INT(checkin("", &c, &e), -EBADMSG, "nothing");
	CHECK_INT(checkin("{\"acked_seq\":1", &c, &e), -EBADMSG, "truncated JSON");
}

static void test_enroll(void)
{
	struct proto_enroll_reply r;
	struct jsonw_error e;
	const char *good = "{\"host_id\":\"7f7c-aa\",\"certificate\":\"" CERT "\",\"ca\":\"" CERT
			   "\",\"checkin_interval\":300,\"inventory_interval\":3600}";
	const char *s;

	CHECK_INT(proto_parse_enroll_reply(good, strlen(good), &r, &e), 0, "an enrolment parses");
	CHECK(r.host_id && streq(r.host_id, "7f7c-aa") && streq(r.certificate, CERT_TEXT) && r.ca &&
		      r.checkin_interval == 300,
	      "with every field");
	proto_enroll_reply_done(&r);
	s = "{\"host_id\":\"../etc\",\"certificate\":\"" CERT "\"}";
	CHECK_INT(proto_parse_enroll_reply(s, strlen(s), &r, &e), -EBADMSG,
		  "a host id with '/' and '.' is refused");
	s = "{\"host_id\":\"a\"}";
	CHECK_INT(proto_parse_enroll_reply(s, strlen(s), &r, &e), -EBADMSG,
		  "a missing certificate is refused");
	s = "{\"host_id\":\"a\",\"certificate\":\"hello\"}";
	CHECK_INT(proto_parse_enroll_reply(s, strlen(s), &r, &e), -EBADMSG,
		  "a certificate that is not PEM is refused");
	CHECK(strstr(e.text, "certificate") != NULL, "and named");
	s = "{\"host_id\":\"a\",\"certificate\":\"" CERT "\"}";
	CHECK_INT(proto_parse_enroll_reply(s, strlen(s), &r, &e), 0, "ca is optional");
	CHECK(r.ca == NULL, "and absent");
	proto_enroll_reply_done(&r);
}

static void test_small(void)
{
	struct jsonw_error e;
	uint64_t acked = 0;
	char d[65], code[64], text[256];
	const char *s;

	s = "{\"acked_seq\":1240,\"stored\":6}";
	CHECK(proto_parse_events_reply(s, strlen(s), &acked, &e) == 0 && acked == 1240,
	      "an events answer");
	s = "{\"stored\":6}";
	CHECK_INT(proto_parse_events_reply(s, strlen(s), &acked, &e), -EBADMSG,
		  "without acked_seq it is refused");
	s = "{\"digest\":\"" DIGEST "\",\"changes\":3}";
	CHECK(proto_parse_inventory_reply(s, strlen(s), d, &e) == 0 && streq(d, DIGEST),
	      "an inventory answer");
	s = "{\"digest\":\"ABC\"}";
	CHECK_INT(proto_parse_inventory_reply(s, strlen(s), d, &e), -EBADMSG,
		  "a bad digest is refused");
	s = "{\"error\":\"token\\nexpired\",\"code\":\"token_expired\"}";
	proto_parse_error(s, strlen(s), code, text);
	CHECK_STR(code, "token_expired", "an error's code");
	CHECK_STR(text, "token?expired", "and its text, without control characters");
	proto_parse_error("<html>", 6, code, text);
	CHECK(!code[0] && !text[0], "an HTML error page gives empty strings");
	CHECK(proto_valid_host_id("7f7c1d2e-0000-4000-8000-000000000000"), "a UUID is a host id");
	CHECK(!proto_valid_host_id(""), "the empty string is not");
}

int main(void)
{
	mm_setup_jansson();
	test_checkin();
	test_enroll();
	test_small();
	return tap_done();
}
