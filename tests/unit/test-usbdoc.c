/*
 * The USB policy document: what the server sends is taken whole or refused with every
 * error at once; registry tags and grants are looked up as the enforcer does; the last
 * good policy survives in the state directory; network facts come from the inventory's
 * network section, as the collector writes it.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/enf_usb.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "tests/tap.h"

static const char *good =
	"{\"version\": 12, \"rules_text\": \"default block\\n"
	"network office: subnet 10.20.0.0/16\\n"
	"allow serial A1\\n"
	"read-only class mass-storage tag company-issued until 2030-01-01\\n\","
	"\"registry\": [{\"serial\": \"Z9\", \"tags\": [\"company-issued\", \"sales\"]},"
	"  {\"serial\": \"B2\", \"tags\": []}, {\"serial\": \"M5\", \"tags\": [\"x\"]}],"
	"\"grants\": [{\"serial\": \"G1\", \"user\": \"hanako\", \"until\": "
	"\"2029-06-01T18:00:00Z\"},"
	"  {\"serial\": \"G1\", \"host\": \"pc-17\", \"until\": 1900000000}]}";

static bool has(const struct diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->entries[i].message, needle))
			return true;
	return false;
}

static int rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(p);
}

static void test_parse(void)
{
	_cleanup_(usbdoc_freep) struct usbdoc *doc = NULL;
	const char *const *tags;
	struct diag d;

	diag_init(&d);
	CHECK_INT(usbdoc_parse(good, strlen(good), &d, &doc), 0, "a good document parses");
	CHECK_STR(doc->version, "12", "an integer version is kept as text");
	CHECK_INT(usb_policy_rule_count(doc->rules), 2, "its rules");
	tags = usbdoc_tags(doc, "Z9");
	CHECK(tags && streq(tags[0], "company-issued") && streq(tags[1], "sales") && !tags[2],
	      "a registered serial's tags");
	CHECK(usbdoc_tags(doc, "M5") && !usbdoc_tags(doc, "ZZ") && !usbdoc_tags(doc, NULL),
	      "lookups in the sorted registry");
	CHECK(usbdoc_grant(doc, "G1", "hanako", "pc-1", 1800000000) != NULL,
	      "a grant for the user");
	CHECK(usbdoc_grant(doc, "G1", "taro", "pc-17", 1800000000) != NULL, "one for the host");
	CHECK(usbdoc_grant(doc, "G1", "taro", "pc-1", 1800000000) == NULL, "none for anyone else");
	CHECK(usbdoc_grant(doc, "G1", "hanako", "pc-1", 1880000000) == NULL,
	      "the user's grant has expired by then");
	CHECK(usbdoc_grant(doc, "G1", "taro", "pc-17", 1880000000) != NULL,
	      "while the host's has not");
	CHECK_INT(usbdoc_next_expiry(doc, 1800000000), 1875031200,
		  "the next expiry is the user's grant");
	CHECK_INT(usbdoc_next_expiry(doc, 1880000000), 1893456000, "then the rule's until");
	CHECK_INT(usbdoc_next_expiry(doc, 1893456000), 1900000000, "then the host's grant");
	diag_done(&d);
}

static void test_errors(void)
{
	static const char *bad =
		"{\"rules_text\": \"default block\\npermit all\\n\","
		"\"registry\": [{\"serial\": \"A\", \"tags\": [\"t\"]}, {\"serial\": \"A\", "
		"\"tags\": []}, {\"tags\": [1]}, 7],"
		"\"grants\": [{\"serial\": \"G\", \"user\": \"u\", \"host\": \"h\", \"until\": "
		"\"soon\"}]}";
	struct usbdoc *doc = NULL;
	struct diag d;

	diag_init(&d);
	CHECK_INT(usbdoc_parse(bad, strlen(bad), &d, &doc), -EINVAL, "a bad document is refused");
	CHECK(!doc, "and nothing is returned");
	CHECK(has(&d, "'version' is missing"), "a missing version");
	CHECK(has(&d, "expected a verdict"), "the rule error, from the rule parser");
	CHECK(has(&d, "listed twice"), "a duplicate serial");
	CHECK(has(&d, "'serial' is missing"), "a registry entry without serial");
	CHECK(has(&d, "registry[3]: expected an object"), "a registry entry that is no object");
	CHECK(has(&d, "exactly one of 'user' and 'host'"), "a grant for a user and a host");
	CHECK(has(&d, "'until' must be a UTC time"), "a grant without a time");
	CHECK(d.n_errors >= 7, "every error in one pass (%zu)", d.n_errors);
	{
		bool lined = false;

		for (size_t i = 0; i < d.n; i++)
			if (d.entries[i].line == 2 && d.entries[i].file &&
			    streq(d.entries[i].file, "rules_text"))
				lined = true;
		CHECK(lined, "rule errors keep their line in rules_text");
	}
	diag_done(&d);

	diag_init(&d);
	CHECK_INT(usbdoc_parse("[1,", 3, &d, &doc), -EINVAL, "malformed JSON");
	CHECK(has(&d, "malformed JSON"), "is said so");
	diag_done(&d);
	diag_init(&d);
	CHECK_INT(usbdoc_parse("[]", 2, &d, &doc), -EINVAL, "an array is no document");
	diag_done(&d);
}

static void test_state(void)
{
	char dir[] = "/tmp/test-usbdoc-XXXXXX";
	_cleanup_(usbdoc_freep) struct usbdoc *doc = NULL, *back = NULL;
	struct diag d;
	struct stat st;
	char path[300];

	if (!mkdtemp(dir))
		abort();
	diag_init(&d);
	CHECK_INT(usbdoc_load(dir, &d, &back), -ENOENT, "no policy kept yet");
	CHECK_INT(usbdoc_parse(good, strlen(good), &d, &doc), 0, "parse");
	CHECK_INT(usbdoc_save(doc, dir), 0, "the policy is kept");
	snprintf(path, sizeof(path), "%s/%s", dir, USBDOC_STATE_FILE);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0077) == 0, "readable by the agent only");
	CHECK_INT(usbdoc_load(dir, &d, &back), 0, "and loads back");
	CHECK(back && streq(back->version, "12") && back->n_registry == 3 && back->n_grants == 2,
	      "whole");
	diag_done(&d);
	nftw(dir, rm, 4, FTW_DEPTH | FTW_PHYS);
}

static void test_network(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	char root[512];
	struct col_ctx ctx = {.root = root, .now = 1800000000};
	_cleanup_(json_decrefp) json_t *section = json_object();
	_cleanup_(usbdoc_freep) struct usbdoc *doc = NULL;
	static const char *policy = "{\"version\": \"1\", \"rules_text\": \"default allow\\n"
				    "network office: gateway 10.20.0.1\\n"
				    "network home: subnet 192.168.1.0/24\\n\"}";
	struct usbnet net;
	struct usbnet_view v;
	struct diag d;
	json_t *wifi;

	snprintf(root, sizeof(root), "%s/tests/fixtures/laptop", src ? src : "..");
	CHECK_INT(col_network_collect(&ctx, section), 0, "the laptop's network section");
	usbdoc_network(section, &net);
	CHECK(net.online, "it is online");
	CHECK(net.n_gateways >= 1 && streq(net.gateways[0], "192.168.1.1"), "its default gateway");
	{
		bool found = false;

		for (size_t i = 0; i < net.n_ipv4; i++)
			if (net.ipv4[i] == ((192u << 24) | (168u << 16) | (1u << 8) | 23u))
				found = true;
		CHECK(found, "its global IPv4 address");
	}
	diag_init(&d);
	CHECK_INT(usbdoc_parse(policy, strlen(policy), &d, &doc), 0, "a policy with networks");
	CHECK_INT(usb_policy_network_context(doc->rules, usbdoc_network_view(&net, &v)), NET_HOME,
		  "the laptop is at home");
	wifi = json_pack("[{s:s, s:b}]", "ssid", "cafe-free", "encrypted", 0);
	if (json_object_set_new(section, "wifi", wifi) < 0)
		abort();
	usbdoc_network(section, &net);
	CHECK(net.n_ssids == 1 && net.open_wifi, "an open Wi-Fi network from a wifi member");
	CHECK_INT(usb_policy_network_context(doc->rules, usbdoc_network_view(&net, &v)),
		  NET_HOME | NET_OPEN_WIFI, "home, on open Wi-Fi");
	{
		_cleanup_(json_decrefp) json_t *empty = json_object();

		usbdoc_network(empty, &net);
		CHECK(!net.online, "an empty section is offline");
	}
	diag_done(&d);
}

static void test_alloc(void)
{
	unsigned long k, n_json;
	bool ok = true;
	json_t *v = NULL;
	struct jsonw_error err;

	/*
	 * jansson's lexer loses characters when its allocator fails (a string comes out
	 * short, so a valid document reads as an invalid one), so failures inside the JSON
	 * layer may give -EINVAL; from the first allocation of our own on, only 0 or -ENOMEM.
	 */
	(void) mm_fail_at(0, false);
	if (jsonw_parse(good, strlen(good), LIMIT_USB_POLICY_DOC, &v, &err) < 0)
		abort();
	json_decref(v);
	n_json = mm_fail_at(0, false);
	for (k = 1; k < 100000; k++) {
		struct usbdoc *doc = NULL;
		struct diag d;
		bool fired;
		int r;

		diag_init(&d);
		(void) mm_fail_at(k, false);
		r = usbdoc_parse(good, strlen(good), &d, &doc);
		fired = mm_fail_fired();
		(void) mm_fail_at(0, false);
		usbdoc_free(doc);
		if (r != 0 && r != -ENOMEM && !(r == -EINVAL && k <= n_json)) {
			printf("# failure %lu gave %d: %s\n", k, r,
			       d.n ? d.entries[0].message : "");
			ok = false;
		}
		diag_done(&d);
		if (!fired)
			break;
	}
	CHECK(ok, "each of %lu allocation failures gives 0 or -ENOMEM, never a crash or leak",
	      k - 1);
}

int main(void)
{
	mm_setup_jansson();
	test_parse();
	test_errors();
	test_state();
	test_network();
	test_alloc();
	return tap_done();
}
