/*
 * The checks (lib/checks.h) one by one, on small documents: what each decides from which
 * facts, that missing facts are "unknown" and never a guess, the parameters an
 * organisation overrides, their validation with file:line, the event summary's windows,
 * and the advisor's recommendations (lib/advisor.h) from the built-in catalogue.
 */
#include <errno.h>

#include "lib/advisor.h"
#include "lib/catalog_builtin.h"
#include "lib/checks.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "tests/tap.h"

#define NOW ((int64_t) 1800000000)
#define DAY ((int64_t) 86400)

static struct catalog cat;

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (!v)
		printf("# bad test JSON: %s: %s\n", e.text, text);
	return v;
}

/* Runs measure `id` of the built-in catalogue on doc; returns the status name and, when
 * ev_key is given, copies that evidence member's JSON text to ev. */
static const char *run(const char *id, const char *doc_text, const struct checks_host *host,
		       const char *ev_key, char *ev, size_t n)
{
	const struct catalog_stanza *m = catalog_find(&cat, "Measure", id);
	struct checks_input in = {.host = host, .now = NOW};
	enum checks_status st;
	json_t *doc = J(doc_text), *evidence = NULL;
	const char *name = "(failed)";

	in.doc = doc;
	if (m && doc && checks_run(m, &in, &st, &evidence) == 0) {
		name = checks_status_name(st);
		if (ev_key) {
			char *s = json_object_get(evidence, ev_key)
					  ? jsonw_dump(json_object_get(evidence, ev_key))
					  : NULL;

			(void) snprintf(ev, n, "%s", s ? s : "(absent)");
			mm_free(s);
		}
	}
	json_decref(evidence);
	json_decref(doc);
	return name;
}

static void test_antivirus(void)
{
	char ev[256];
	const char *fresh =
		"{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": true,"
		" \"clamd_running\": true, \"clamonacc_running\": true,"
		" \"freshclam_running\": true, \"clamd_conf\": {\"on_access_configured\":"
		" true}, \"definitions_newest_build_time\": 1799913600}}}}";

	CHECK_STR(run("mic-F-1", fresh, NULL, "definitions_age_days", ev, sizeof(ev)), "met",
		  "F-1: installed, clamd and clamonacc running, 1-day-old definitions");
	CHECK_STR(ev, "1", "evidence: definitions_age_days 1");
	CHECK_STR(run("mic-F-1",
		      "{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": true,"
		      " \"clamd_running\": true, \"clamonacc_running\": true, \"clamd_conf\":"
		      " {\"on_access_configured\": true},"
		      " \"definitions_newest_build_time\": 1791878400}}}}",
		      NULL, "failed", ev, sizeof(ev)),
		  "not_met", "F-1: 94-day-old definitions");
	CHECK_STR(ev, "[\"definitions_too_old\"]", "evidence names the failure");
	CHECK_STR(run("mic-F-1",
		      "{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": true,"
		      " \"clamd_running\": false, \"clamonacc_running\": true, \"clamd_probe\":"
		      " {\"running\": true, \"version\": \"1.4.6\", \"daily_version\": 27100,"
		      " \"daily_build_time\": 1799913600}, \"clamd_conf\":"
		      " {\"on_access_configured\": true}, \"definitions_newest_build_time\":"
		      " 1700000000}}}}",
		      NULL, "clamd_checked_by", ev, sizeof(ev)),
		  "met", "F-1: the live probe wins over the process list and the files");
	CHECK_STR(ev, "\"probe\"", "evidence says the probe decided");
	CHECK_STR(run("mic-F-1",
		      "{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": true,"
		      " \"clamd_running\": true, \"clamonacc_running\": false, \"clamd_conf\":"
		      " {\"on_access_configured\": true},"
		      " \"definitions_newest_build_time\": 1799913600}}}}",
		      NULL, "realtime", ev, sizeof(ev)),
		  "not_met", "F-1: on-access configured but clamonacc not running");
	CHECK_STR(ev, "false", "real-time scanning is off");
	CHECK_STR(run("mic-F-1",
		      "{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": true,"
		      " \"clamd_running\": null, \"clamonacc_running\": null, \"clamd_conf\":"
		      " {\"on_access_configured\": true},"
		      " \"definitions_newest_build_time\": 1799913600}}}}",
		      NULL, NULL, NULL, 0),
		  "unknown", "F-1: /proc unreadable: unknown, not a guess");
	CHECK_STR(run("mic-F-1",
		      "{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": false},"
		      " \"other_products\": [{\"name\": \"ESET\", \"running\": true}]}}}",
		      NULL, "product", ev, sizeof(ev)),
		  "met", "F-1: a running commercial product");
	CHECK_STR(run("mic-F-1",
		      "{\"security\": {\"antivirus\": {\"clamav\": {\"installed\": false},"
		      " \"other_products\": []}}}",
		      NULL, NULL, NULL, 0),
		  "not_met", "F-1: nothing installed");
	CHECK_STR(run("mic-F-1", "{}", NULL, NULL, NULL, 0), "unknown",
		  "F-1: no antivirus facts at all");
	CHECK_STR(run("mic-F-1", "{\"security\": []}", NULL, NULL, NULL, 0), "unknown",
		  "F-1: a section of the wrong type");
}

static void test_others(void)
{
	struct checks_host h = {.last_inventory = NOW - 25 * 3600,
				.owner = "",
				.policy_version = -1,
				.vuln_matches = -1};
	char ev[512];

	CHECK_STR(run("mm-B-A1", "{}", &h, "age_hours", ev, sizeof(ev)), "not_met",
		  "B-A1: inventory 25 hours old, max 24");
	CHECK_STR(ev, "25", "evidence: 25 hours");
	CHECK_STR(run("mm-B-A1", "{}", NULL, "reason", ev, sizeof(ev)), "unknown",
		  "B-A1 on the agent: the server decides");
	CHECK_STR(run("mm-B-A2", "{}", &h, NULL, NULL, 0), "not_met", "B-A2: nobody assigned");
	CHECK_STR(run("mic-E-4", "{}", &h, NULL, NULL, 0), "unknown", "E-4: no policy reported");
	h.policy_version = 0;
	CHECK_STR(run("mic-E-4", "{}", &h, NULL, NULL, 0), "not_met", "E-4: policy 0: none");
	CHECK_STR(run("mm-C-A3", "{}", &h, NULL, NULL, 0), "unknown",
		  "C-A3: no vulnerability matching: unknown, never 'none known'");

	CHECK_STR(
		run("mm-B-A3",
		    "{\"identity\": {\"chassis\": \"laptop\", \"dmi_available\": true, \"dmi\": {},"
		    " \"errors\": [{\"source\": \"/sys/class/dmi/id/product_serial\", \"message\":"
		    " \"readable by root only\"}]}}",
		    NULL, "reason", ev, sizeof(ev)),
		"unknown", "B-A3: a serial refused to a non-root agent is unknown, not missing");
	CHECK_STR(run("mm-B-A3", "{\"identity\": {\"chassis\": \"vm\", \"dmi\": {}}}", NULL, NULL,
		      NULL, 0),
		  "not_applicable", "B-A3: a VM has no hardware serial");

	CHECK_STR(run("mm-E-A2",
		      "{\"identity\": {\"chassis\": \"desktop\"}, \"storage\": {\"root_encrypted\":"
		      " false}}",
		      NULL, NULL, NULL, 0),
		  "not_applicable", "E-A2: a desktop is not in Param-chassis");
	CHECK_STR(run("mm-E-A2",
		      "{\"identity\": {\"chassis\": \"laptop\"}, \"storage\": {\"root_encrypted\":"
		      " true, \"home_encrypted\": null}}",
		      NULL, NULL, NULL, 0),
		  "unknown", "E-A2: /home cannot be told");

	CHECK_STR(run("mm-D-A2", "{\"security\": {\"ssh\": {\"sshd_installed\": false}}}", NULL,
		      NULL, NULL, 0),
		  "not_applicable", "D-A2: no sshd");
	CHECK_STR(run("mm-D-A2",
		      "{\"security\": {\"ssh\": {\"sshd_installed\": true, \"permit_root_login\":"
		      " {\"value\": \"prohibit-password\", \"source\": \"default\"}}}}",
		      NULL, "permit_root_login", ev, sizeof(ev)),
		  "not_met", "D-A2: prohibit-password is not 'no'");
	CHECK_STR(
		run("mm-I-A1",
		    "{\"security\": {\"ssh\": {\"sshd_installed\": true, "
		    "\"password_authentication\":"
		    " {\"value\": false}, \"kbd_interactive_authentication\": {\"value\": true}}}}",
		    NULL, NULL, NULL, 0),
		"not_met", "I-A1: keyboard-interactive still takes passwords");

	CHECK_STR(
		run("mm-I-A2",
		    "{\"network\": {\"listening\": [{\"protocol\": \"tcp6\", \"address\": \"::1\","
		    " \"port\": 631}, {\"protocol\": \"udp\", \"address\": \"0.0.0.0\", \"port\":"
		    " 68}, {\"protocol\": \"tcp\", \"address\": \"0.0.0.0\", \"port\": 3306,"
		    " \"comm\": \"mysqld\"}]}}",
		    NULL, "unexpected", ev, sizeof(ev)),
		"not_met", "I-A2: mysqld on all addresses is not allowed");
	CHECK(strstr(ev, "3306/tcp") && strstr(ev, "mysqld") && !strstr(ev, "631"),
	      "only 3306/tcp is unexpected (loopback 631 and 68/udp are fine): %s", ev);

	CHECK_STR(run("mm-H-A2",
		      "{\"security\": {\"screen_lock\": {\"state\": \"found\", \"lock_enabled\": "
		      "true,"
		      " \"idle_delay_seconds\": 900}}}",
		      NULL, NULL, NULL, 0),
		  "not_met", "H-A2: 15 minutes is over 10");
	CHECK_STR(run("mm-H-A2",
		      "{\"security\": {\"screen_lock\": {\"state\": \"found\", \"lock_enabled\": "
		      "true,"
		      " \"idle_delay_seconds\": 0}}}",
		      NULL, NULL, NULL, 0),
		  "not_met", "H-A2: idle-delay 0 means never");
	CHECK_STR(
		run("mm-H-A1",
		    "{\"users\": {\"empty_password_accounts\": [], \"accounts\": [{\"name\": \"a\","
		    " \"password_state\": \"unknown\"}]}}",
		    NULL, NULL, NULL, 0),
		"unknown", "H-A1: shadow unreadable: unknown");
	CHECK_STR(run("mm-D-A1", "{\"users\": {\"admin_members\": {\"sudo\": [\"root\"]}}}", NULL,
		      NULL, NULL, 0),
		  "met", "D-A1: only root");
}

/* checks_item_parse(): only the kept paths, everything else exactly as stored. */
static void test_item_parse(void)
{
	static const struct checks_item item = {
		"security",
		NULL,
		{NULL},
		{"$.a.b", "$.a.c.d", "$.list[]", "$.objs[].x", "$.whole", NULL}};
	static const struct checks_item all = {"identity", NULL, {NULL}, {NULL}};
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"{\"a\": {\"b\": 1, \"z\": 2, \"c\": {\"d\": [1, {\"q\": 3}], \"e\": 4}}, \"y\": "
		 "5}",
		 "{\"a\": {\"b\": 1, \"c\": {\"d\": [1, {\"q\": 3}]}}}"},
		{"{\"a\": null, \"whole\": {\"k\": [1, 2, \"]}\"]}}",
		 "{\"a\": null, \"whole\": {\"k\": [1, 2, \"]}\"]}}"},
		{"{\"a\": {\"c\": \"not an object\"}}", "{\"a\": {\"c\": \"not an object\"}}"},
		{"{\"a\": [1, 2]}", "{\"a\": [1, 2]}"},
		{"{\"list\": [{\"n\": 1}, {\"n\": 2}, 7, [3]]}", "{\"list\": [{}, {}, 7, [3]]}"},
		{"{\"objs\": [{\"x\": 1, \"y\": 2}, {\"y\": 3}]}", "{\"objs\": [{\"x\": 1}, {}]}"},
		{"{\"\\u0061\": {\"zz\": 1}, \"a\": {\"b\": true}}",
		 "{\"\\u0061\": {\"zz\": 1}, \"a\": {\"b\": true}}"},
		{" { } ", "{}"},
		{"[1, 2]", "[1, 2]"},
	};
	json_error_t e1, e2;
	json_t *v, *w;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		v = checks_item_parse(&item, cases[i].in, strlen(cases[i].in), NULL);
		w = J(cases[i].want);
		CHECK(v && w && json_equal(v, w), "item parse: %s", cases[i].in);
		json_decref(v);
		json_decref(w);
	}
	v = checks_item_parse(&item, "{\"a\": {\"b\": 1,}", 15, &e1);
	w = json_loadb("{\"a\": {\"b\": 1,}", 15, JSON_DECODE_ANY, &e2);
	CHECK(!v && !w && streq(e1.text, e2.text), "malformed text: jansson's own error (%s)",
	      e1.text);
	v = checks_item_parse(&all, "{\"x\": 1}", 8, NULL);
	CHECK(v && json_integer_value(json_object_get(v, "x")) == 1,
	      "an item without keep paths is parsed whole");
	json_decref(v);
}

static void test_updates(void)
{
	char ev[512];

	CHECK_STR(run("mm-C-A1", "{\"software\": {}}", NULL, "reason", ev, sizeof(ev)), "unknown",
		  "C-A1: an agent that does not report them: unknown");
	CHECK_STR(
		run("mm-C-A1",
		    "{\"software\": {\"security_updates_pending\": 0, \"security_updates\":"
		    " {\"total\": 0, \"complete\": true, \"packages\": [], \"lists_time\": 1799}}}",
		    NULL, "pending", ev, sizeof(ev)),
		"met", "C-A1: none pending");
	CHECK_STR(run("mm-C-A1",
		      "{\"software\": {\"security_updates_pending\": 2, \"security_updates\":"
		      " {\"total\": 2, \"complete\": true, \"packages\": [{\"name\": \"openssl\"},"
		      " {\"name\": \"vim\"}]}}}",
		      NULL, "packages", ev, sizeof(ev)),
		  "not_met", "C-A1: two pending");
	CHECK_STR(ev, "[\"openssl\",\"vim\"]", "  the evidence names them");
	CHECK_STR(run("mm-C-A1",
		      "{\"software\": {\"security_updates_pending\": null, \"security_updates\":"
		      " {\"total\": 0, \"complete\": false, \"packages\": [],"
		      " \"reason\": \"no security source is configured in apt\"}}}",
		      NULL, "reason", ev, sizeof(ev)),
		  "unknown", "C-A1: no security source: unknown");
	CHECK_STR(ev, "\"no security source is configured in apt\"", "  with the agent's reason");
	CHECK_STR(run("mm-C-A1",
		      "{\"software\": {\"security_updates_pending\": null, \"security_updates\":"
		      " {\"total\": 1, \"complete\": false, \"packages\": [{\"name\": \"x\"}],"
		      " \"reason\": \"a security list could not be read\"}}}",
		      NULL, "pending_at_least", ev, sizeof(ev)),
		  "not_met", "C-A1: a list unreadable, but one pending found already: not met");
	CHECK_STR(ev, "1", "  at least 1");
	CHECK_STR(run("mm-C-A1", "{\"software\": {\"security_updates_pending\": \"3\"}}", NULL,
		      NULL, NULL, 0),
		  "unknown", "C-A1: a count that is not a number: unknown");
}

/* G-A1 over a fresh summary of `events` (monitor shapes), at `now`; evidence key to ev. */
static const char *wifi(const char *events, int64_t now, const char *key, char *ev, size_t n)
{
	static char status[32];
	const struct catalog_stanza *m = catalog_find(&cat, "Measure", "mm-G-A1");
	json_t *summary = json_object(), *batch = J(events), *doc, *e = NULL;
	struct checks_host h = {.last_inventory = now, .owner = "x", .policy_version = 1};
	struct checks_input in = {.host = &h, .now = now};
	enum checks_status st;

	doc = J("{\"network\": {\"interfaces\": [{\"name\": \"wlp0s20f3\", \"wireless\": true}]}}");
	in.doc = doc;
	h.events = summary;
	(void) snprintf(status, sizeof(status), "(failed)");
	if (checks_events_summarise(summary, batch, now) == 0 && checks_run(m, &in, &st, &e) == 0) {
		char *text =
			key && json_object_get(e, key) ? jsonw_dump(json_object_get(e, key)) : NULL;

		(void) snprintf(status, sizeof(status), "%s", checks_status_name(st));
		if (key)
			(void) snprintf(ev, n, "%s", text ? text : "(absent)");
		mm_free(text);
	}
	json_decref(e);
	json_decref(doc);
	json_decref(batch);
	json_decref(summary);
	return status;
}

/* A net.wifi_join at Unix second t: open_rest is the value of "open" and what follows. */
#define JOIN(seq, t, ssid, security, open_rest)                          \
	"{\"seq\": " #seq ", \"time\": " #t                              \
	"000, \"type\": \"net.wifi_join\", \"data\": {\"ssid\": \"" ssid \
	"\", \"security\": \"" security "\", \"open\": " open_rest "}}"
#define VPN(seq, t, what)                                                                    \
	"{\"seq\": " #seq ", \"time\": " #t "000, \"type\": \"net.vpn_" what "\", \"data\":" \
	" {\"interface\": \"tun0\", \"kind\": \"tun\", \"index\": 7}}"

static void test_wifi(void)
{
	char ev[512];
	/* data.open plus the agent's own data.vpn, as mon_net.c emits them */
	CHECK_STR(wifi("[" JOIN(1, 1799996400, "FreeSpot", "open", "true, \"vpn\": false") "]", NOW,
		       "last_open_join", ev, sizeof(ev)),
		  "not_met", "G: an open join, no VPN up and none within 5 minutes: not met");
	CHECK(strstr(ev, "FreeSpot") != NULL, "  the evidence names the network: %s", ev);
	CHECK_STR(wifi("[" JOIN(1, 1799996400, "FreeSpot", "open",
				"true, \"vpn\": false") "," VPN(2, 1799996460, "up") "]",
		       NOW, NULL, NULL, 0),
		  "met", "G: the VPN up a minute after the open join covers it");
	CHECK_STR(wifi("[" JOIN(1, 1799996400, "FreeSpot", "open",
				"true, \"vpn\": false") "," VPN(2, 1799997000, "up") "]",
		       NOW, "open_wifi_without_vpn", ev, sizeof(ev)),
		  "not_met", "G: the VPN up ten minutes later is too late");
	CHECK_STR(ev, "1", "  one join counted");
	CHECK_STR(wifi("[" JOIN(1, 1799996400, "Office", "open", "true, \"vpn\": true") "]", NOW,
		       NULL, NULL, 0),
		  "met", "G: an open join with the VPN already up (data.vpn) is fine");
	CHECK_STR(wifi("[" JOIN(1, 1799996400, "Home", "wpa2", "false, \"vpn\": false") "]", NOW,
		       NULL, NULL, 0),
		  "met", "G: an encrypted network without VPN is fine");
	CHECK_STR(wifi("[" JOIN(1, 1799999900, "FreeSpot", "open", "true, \"vpn\": false") "]", NOW,
		       "reason", ev, sizeof(ev)),
		  "met", "G: an open join 100 s ago, the VPN may still come: not counted yet");
	/* an agent that does not say data.vpn: the VPN events tell */
	CHECK_STR(wifi("[" VPN(1, 1799996000, "up") "," JOIN(2, 1799996400, "FreeSpot", "open",
							     "true") "]",
		       NOW, NULL, NULL, 0),
		  "met", "G: no data.vpn, but tun0 went up before the join: covered");
	CHECK_STR(wifi("[" VPN(1, 1799996000, "up") "," VPN(2, 1799996100, "down") "," JOIN(
			       3, 1799996400, "FreeSpot", "open", "true") "]",
		       NOW, NULL, NULL, 0),
		  "not_met", "G: tun0 went down again before the join: not covered");
	CHECK_STR(wifi("[" VPN(1, 1799996000,
			       "up") ","
				     "{\"seq\": 2, \"time\": 1799996100000, \"type\": "
				     "\"agent.start\", \"data\": {}}," JOIN(
					     3, 1799996400, "FreeSpot", "open", "true") "]",
		       NOW, NULL, NULL, 0),
		  "not_met", "G: after the agent restarted, an old vpn_up no longer counts");
	/* two open joins in a row: the first ends when the second starts */
	CHECK_STR(wifi("[" JOIN(1, 1799996400, "A", "open", "true, \"vpn\": false") "," JOIN(
			       2, 1799996460, "B", "open",
			       "true, \"vpn\": false") "," VPN(3, 1799996500, "up") "]",
		       NOW, "open_wifi_without_vpn", ev, sizeof(ev)),
		  "not_met", "G: hopping from one open network to another before the VPN");
	CHECK_STR(ev, "1", "  the first counts, the second is covered");
	CHECK_STR(wifi("[{\"seq\": 1, \"time\": 1799996400000, \"type\": \"wifi.join\", \"data\":"
		       " {\"security\": \"open\"}}]",
		       NOW, "reason", ev, sizeof(ev)),
		  "unknown", "G: 'wifi.join', which no agent emits, is not a join");
}

static void test_events(void)
{
	json_t *summary = json_object(), *batch;
	struct checks_host h = {
		.last_inventory = NOW, .owner = "x", .policy_version = 1, .vuln_matches = 0};
	char ev[256];
	const char *laptop = "{\"network\": {\"interfaces\": [{\"name\": \"wlan0\", \"wireless\":"
			     " true}]}}";

	/* as agent/mon_net.c emits them: an open join with no VPN up, nothing but a process
	 * start in the following five minutes; later a join with the VPN up */
	batch = J(
		"[{\"seq\": 1, \"time\": 1799100000000, \"type\": \"net.wifi_join\", \"data\":"
		" {\"ssid\": \"FreeWiFi\", \"security\": \"open\", \"open\": true, \"vpn\": false,"
		" \"source\": \"networkmanager\", \"bssid\": \"0a:0b:0c:0d:0e:10\","
		" \"frequency\": 2437}},"
		" {\"seq\": 2, \"time\": 1799100400000, \"type\": \"process.start\","
		" \"data\": {}},"
		" {\"seq\": 3, \"time\": 1799990001000, \"type\": \"net.wifi_join\", \"data\":"
		" {\"ssid\": \"cafe\", \"security\": \"open\", \"open\": true, \"vpn\": true,"
		" \"source\": \"networkmanager\"}},"
		" {\"seq\": 4, \"type\": \"net.wifi_join\"}, 7, {\"time\": \"soon\"}]");
	CHECK_INT(checks_events_summarise(summary, batch, NOW), 0, "a batch is summarised");
	h.events = summary;
	CHECK_STR(run("mm-G-A1", laptop, &h, "open_wifi_without_vpn", ev, sizeof(ev)), "not_met",
		  "G-A1: an open join without VPN 10 days ago is inside 30 days");
	CHECK_STR(ev, "1", "one such join (the one with a VPN does not count)");
	CHECK_STR(run("mic-J-5", "{}", &h, "reason", ev, sizeof(ev)), "unknown",
		  "J-5: events, but no chain findings (a store that does not verify it): unknown");
	CHECK(strstr(ev, "chain") != NULL, "  and says so: %s", ev);
	/* the chain's verification found numbers 3..9 missing yesterday; a spool eviction
	 * event alone is no gap: the chain says what is missing */
	{
		json_t *gaps = J("[{\"reason\": \"missing\", \"first_seq\": 3, \"last_seq\": 9,"
				 " \"detected\": 1799990000}, {\"reason\": 7}]"),
		       *breaks = json_array();

		CHECK_INT(checks_events_chain(summary, gaps, breaks, false, NOW), 0,
			  "the chain's findings are summarised");
		json_decref(gaps);
		json_decref(breaks);
	}
	CHECK_STR(run("mic-J-5", "{}", &h, "gaps", ev, sizeof(ev)), "not_met",
		  "J-5: a gap the chain found yesterday is within 7 days");
	CHECK_STR(ev, "1", "  one gap");
	run("mic-J-5", "{}", &h, "gap_ranges", ev, sizeof(ev));
	CHECK_STR(
		ev,
		"[{\"detected\":1799990000,\"first_seq\":3,\"last_seq\":9,\"reason\":\"missing\"}]",
		"  the evidence names its range");
	{
		json_t *gaps = json_array(),
		       *breaks = J("[{\"kind\": \"altered\", \"first_seq\": 12, \"last_seq\": 12,"
				   " \"detected\": 1799999000}]");
		json_t *copy = json_deep_copy(summary);
		struct checks_host h2 = h;

		CHECK_INT(checks_events_chain(copy, gaps, breaks, false, NOW), 0,
			  "a gap filled later, an altered event instead");
		h2.events = copy;
		CHECK_STR(run("mic-J-5", "{}", &h2, "breaks", ev, sizeof(ev)), "not_met",
			  "J-5: an altered event is not met either");
		CHECK_STR(ev, "1", "  one break");
		CHECK_STR(run("mic-J-5", "{}", &h2, "gaps", ev, sizeof(ev)), "not_met",
			  "  and the filled gap no longer counts");
		CHECK_STR(ev, "0", "  (0 gaps)");
		json_decref(copy);
		json_decref(gaps);
		json_decref(breaks);
	}
	CHECK_STR(run("mic-J-5", "{}", NULL, NULL, NULL, 0), "unknown",
		  "J-5 on the agent: the server decides");
	/* 40 days later both have left their windows; logs have stopped meanwhile */
	json_decref(batch);
	batch = J(
		"[{\"seq\": 5, \"time\": 1803450000000, \"type\": \"agent.start\", \"data\": {}}]");
	CHECK_INT(checks_events_summarise(summary, batch, NOW + 40 * DAY), 0, "40 days later");
	{
		const struct catalog_stanza *m = catalog_find(&cat, "Measure", "mm-G-A1");
		struct checks_input in = {.host = &h, .now = NOW + 40 * DAY};
		enum checks_status st = CHECKS_UNKNOWN;
		json_t *doc = J(laptop), *e = NULL;

		in.doc = doc;
		CHECK(checks_run(m, &in, &st, &e) == 0 && st == CHECKS_MET,
		      "G-A1 met again once the join left the 30-day window");
		json_decref(e);
		e = NULL;
		m = catalog_find(&cat, "Measure", "mic-J-5");
		CHECK(checks_run(m, &in, &st, &e) == 0 && st == CHECKS_MET,
		      "J-5 met: the gap left the window and events flow");
		json_decref(e);
		e = NULL;
		in.now = NOW + 3 * DAY;
		CHECK(checks_run(m, &in, &st, &e) == 0 && st == CHECKS_NOT_MET,
		      "J-5 three days after the gap: still within 7 days");
		json_decref(e);
		json_decref(doc);
	}
	CHECK_INT(json_object_size(json_object_get(summary, "days")), 1,
		  "the open join's day is still within the summary's reach (92 days)");
	json_decref(batch);
	batch = json_array();
	CHECK_INT(checks_events_summarise(summary, batch, NOW + 100 * DAY), 0, "100 days later");
	CHECK_INT(json_object_size(json_object_get(summary, "days")), 0,
		  "days older than the summary's reach are dropped");
	json_decref(batch);
	json_decref(summary);
}

static void test_params(void)
{
	struct catalog c;
	struct diag d;
	bool l3 = false, l5 = false, l8 = false, l10 = false;

	catalog_init(&c);
	diag_init(&d);
	CHECK_INT(catalog_builtin_load(&c, NULL, 0, &d), 0, "built-in catalogue");
	CHECK_INT(catalog_parse(&c, "org.txt",
				"# org\n\n"
				"Measure: mm-H-A2\nParam-max-minutes: 0\n\n" /* line 3, 4 */
				"Measure: mm-I-A2\nParam-allowed: 22/tcp 80/http 70000/udp\n\n"
				"Measure: mic-F-1\nParam-max-age: 3\n\n"
				"Measure: mm-E-A2\nParam-chassis: laptop phablet\n",
				&d),
		  0, "an override with bad parameters parses");
	CHECK_INT(checks_validate(&c, &d), -EINVAL, "its parameters are refused");
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.entries[i]);
		unsigned line = d.entries[i].line;
		bool org = d.entries[i].file && streq(d.entries[i].file, "org.txt");

		printf("#   %s\n", s ? s : "?");
		l3 = l3 || (org && line == 4 && strstr(d.entries[i].message, "1 to 1440"));
		l5 = l5 || (org && line == 7 && strstr(d.entries[i].message, "80/http"));
		l8 = l8 || (org && line == 10 && strstr(d.entries[i].message, "no parameter"));
		l10 = l10 || (org && line == 13 && strstr(d.entries[i].message, "phablet"));
		mm_free(s);
	}
	CHECK(l3, "org.txt:4: a threshold out of range");
	CHECK(l5, "org.txt:7: a port list with a bad word");
	CHECK(l8, "org.txt:10: a parameter the check does not take");
	CHECK(l10, "org.txt:13: a chassis class that does not exist");
	CHECK(d.n_errors >= 5, "every error in one pass (%zu)", d.n_errors);
	diag_done(&d);
	catalog_done(&c);
}

static void test_advisor(void)
{
	json_t *answers = J("{\"goal\": \"all-work\", \"data-on-device\": \"no\", \"connectivity\":"
			    " \"reliable\", \"office-systems\": \"on-premises\"}"),
	       *out = NULL, *q = NULL;
	char err[256] = "";

	CHECK_INT(advisor_questions(&cat, &q), 0, "the questionnaire");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(q, "questions"), 0), "id")),
		  "goal", "it starts from the goal");
	CHECK_INT(advisor_recommend(&cat, answers, &out, err, sizeof(err)), 0, "a recommendation");
	/* remote-desktop: 3+2+1+2 = 8; vdi 3+2+1+1 = 7; vpn 3-1+0+2 = 4 */
	CHECK_STR(json_string_value(json_array_get(json_object_get(out, "recommended"), 0)),
		  "remote-desktop", "all office work, no data on the device: remote desktop first");
	CHECK_STR(json_string_value(json_array_get(json_object_get(out, "recommended"), 1)), "vdi",
		  "then VDI");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(out, "methods"), 0), "score")),
		  8, "remote desktop scores 8");
	CHECK(json_array_size(json_object_get(json_array_get(json_object_get(out, "methods"), 0),
					      "key_measures")) > 0,
	      "with the measures that matter most for it");
	CHECK(strstr(json_string_value(
			     json_object_get(json_object_get(out, "comparison"), "title")),
		     "mamori's assessment (mamoriによる評価)") != NULL,
	      "the comparison is labelled as mamori's assessment");
	json_decref(out);
	json_decref(answers);
	answers = J("{\"goal\": \"everything\"}");
	CHECK_INT(advisor_recommend(&cat, answers, &out, err, sizeof(err)), -EINVAL,
		  "an unknown answer is refused");
	CHECK(strstr(err, "all-work") != NULL, "and the message lists the answers: %s", err);
	json_decref(answers);
	/* ties are broken by Order: with no answers every method scores 0, none recommended */
	answers = J("{}");
	out = NULL;
	CHECK_INT(advisor_recommend(&cat, answers, &out, err, sizeof(err)), 0, "no answers");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(out, "methods"), 0), "id")),
		  "vpn", "all tied at 0: catalogue order (Order 1: VPN) first");
	CHECK_INT(json_array_size(json_object_get(out, "recommended")), 0,
		  "and nothing recommended without a positive score");
	json_decref(out);
	json_decref(answers);
	json_decref(q);
}

int main(void)
{
	struct diag d;

	mm_setup_jansson();
	catalog_init(&cat);
	diag_init(&d);
	if (!CHECK_INT(catalog_builtin_load(&cat, NULL, 0, &d), 0,
		       "the embedded catalogue loads and validates"))
		return tap_done();
	diag_done(&d);
	CHECK(checks_known("antivirus.protected") && !checks_known("antivirus.magic"),
	      "the registry knows its checks");
	test_antivirus();
	test_others();
	test_item_parse();
	test_updates();
	test_wifi();
	test_events();
	test_params();
	test_advisor();
	catalog_done(&cat);
	return tap_done();
}
