/*
 * The compliance engine against a store, as an administrator would see it:
 *   - a fleet of three fixture hosts (a good laptop, a bad laptop, a server: inventories
 *     from the fixture roots plus the edits in tests/fixtures/compliance/) scores exactly
 *     as tests/fixtures/compliance/expected-scorecard.json says, written by hand;
 *   - roll-ups equal the sum of the stored results, and re-evaluating unchanged facts
 *     writes nothing;
 *   - a host whose antivirus definitions age past N flips mic-F-1 to not met at its next
 *     check-in, and back to met with the next inventory carrying fresh definitions; an
 *     organisation's Param- override moves the threshold;
 *   - attestations go overdue on a fake clock and count as unknown;
 *   - a revoked host leaves the scorecard; catalogue errors come with file:line.
 * Set MAMORI_WRITE_SCORECARD=FILE to write the fleet's scorecard for review.
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/checks.h"
#include "server/compliance.h"
#include "tests/compliancetest.h"
#include "tests/tap.h"

#define NOW ((int64_t) 1800000000) /* 2027-01-15 08:00 UTC */
#define DAY ((int64_t) 86400)

struct fleet {
	struct tmpstore t;
	struct store *st;
	struct compliance *e;
	char good[STORE_ID_MAX], bad[STORE_ID_MAX], server[STORE_ID_MAX];
};

static const char *src_path(const char *rel, char *buf, size_t n)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");

	(void) snprintf(buf, n, "%s/%s", src ? src : ".", rel);
	return buf;
}

static json_t *events_of(const char *spec)
{
	json_error_t e;
	json_t *v = json_loads(spec, 0, &e);

	if (!v)
		printf("# events: %s\n", e.text);
	return v;
}

static int enrol(struct fleet *f, const char *hostname, char id[STORE_ID_MAX])
{
	struct store_enroll_result res = {0};
	struct sign_log log = {0};
	int r = enroll_host(f->st, "mtk_fleet", NOW - 30 * DAY, hostname, &log, &res);

	if (r < 0 || res.verdict != STORE_TOKEN_OK)
		return r < 0 ? r : -EPERM;
	memcpy(id, res.host_id, STORE_ID_MAX);
	mm_free(res.cert_pem);
	return 0;
}

static int host_setup(struct fleet *f, const char *id, const char *tree, const char *patch,
		      int64_t inventory_time, const char *owner, int64_t policy, const char *events)
{
	json_t *doc = fixture_doc(tree, patch, inventory_time), *ev = NULL;
	int r = doc ? 0 : -EIO;

	if (r >= 0)
		r = commit_doc(f->st, id, doc, inventory_time);
	if (r >= 0 && owner)
		r = store_host_set_owner(f->st, id, owner);
	if (r >= 0)
		r = checkin_policy(f->st, id, NOW - 600, policy);
	if (r >= 0 && events) {
		ev = events_of(events);
		r = ev ? store_events_append(f->st, id, ev, NOW - 300, &(uint64_t){0}, NULL) : -EIO;
		if (r >= 0)
			r = compliance_events(f->e, id, ev, NOW - 300);
	}
	if (r >= 0)
		r = compliance_host_changed(f->e, id, NOW, NULL);
	json_decref(doc);
	json_decref(ev);
	return r;
}

static int attest(struct fleet *f, const char *measure, const char *status, const char *date,
		  int review_days)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "measure", measure, "status", status,
				 "evidence", "checked by the security committee", "owner",
				 "情報システム部", "date", date),
	       *a = NULL;
	char err[256] = "";
	int r;

	if (review_days && jsonw_set(body, "review_days", json_integer(review_days)) < 0)
		return -ENOMEM;
	r = compliance_attest(f->e, body, "token:fleet", NOW - 60, &a, err, sizeof(err));
	if (r < 0)
		printf("# attest %s: %s\n", measure, err);
	json_decref(a);
	json_decref(body);
	return r;
}

static bool fleet_init(struct fleet *f)
{
	char org[1024], tok[STORE_ID_MAX];
	const char *files[] = {src_path("tests/fixtures/compliance/org.txt", org, sizeof(org))};
	struct catalog *cat = NULL;
	struct diag d;
	int r;

	memset(f, 0, sizeof(*f));
	diag_init(&d);
	r = compliance_catalog_load(files, 1, &cat, &d);
	diag_done(&d);
	if (!CHECK(r == 0, "the built-in catalogue with the organisation's override loads"))
		return false;
	if (tmpstore_init(&f->t, NULL) < 0 || store_open(f->t.url, &f->st) < 0 ||
	    compliance_new(f->st, cat, &f->e) < 0)
		return false;
	if (make_token(f->st, "mtk_fleet", NOW - 31 * DAY, NOW + DAY, 10, NULL, tok) < 0 ||
	    enrol(f, "tanaka-x1", f->good) < 0 || enrol(f, "suzuki-x1", f->bad) < 0 ||
	    enrol(f, "db-01", f->server) < 0)
		return false;

	/* the good laptop: fresh inventory, owner, a policy, events with a VPN'd Wi-Fi join */
	r = host_setup(f, f->good, "laptop", "good-laptop.json", NOW - 3600, "田中 太郎", 3,
		       "[{\"seq\": 1, \"time\": 1799990000000, \"type\": \"agent.start\","
		       "  \"data\": {}},"
		       " {\"seq\": 2, \"time\": 1799990100000, \"type\": \"net.wifi_join\","
		       "  \"data\": {\"ssid\": \"cafe\", \"security\": \"open\", \"open\": true,"
		       "  \"vpn\": true, \"source\": \"networkmanager\"}}]");
	/* the bad laptop: three days old, no owner, no policy, an open Wi-Fi join without a
	 * VPN, and numbers 2..41 missing from its events (an evidence gap the store finds) */
	if (r >= 0)
		r = host_setup(f, f->bad, "laptop", "bad-laptop.json", NOW - 3 * DAY, NULL, 0,
			       "[{\"seq\": 1, \"time\": 1799900000000, \"type\": \"net.wifi_join\","
			       "  \"data\": {\"ssid\": \"FreeWiFi\", \"security\": \"open\","
			       "  \"open\": true, \"vpn\": false, \"source\": \"wpa_supplicant\","
			       "  \"interface\": \"wlp0s20f3\"}},"
			       " {\"seq\": 42, \"time\": 1799900100000,"
			       "  \"type\": \"agent.start\", \"data\": {}}]");
	/* the server: the vm root as a server, owned by ops, no policy reported, no events */
	if (r >= 0)
		r = host_setup(f, f->server, "vm", "server.json", NOW - 7200, "ops team", -1, NULL);
	/* the organisation's word on three manual measures; one of them is past its review */
	if (r >= 0)
		r = attest(f, "mm-A-M1", "met", "2026-12-01", 0);
	if (r >= 0)
		r = attest(f, "mm-B-A4", "met", "2026-09-01", 90);
	if (r >= 0)
		r = attest(f, "mm-F-A4", "not_applicable", "2027-01-10", 0);
	if (r >= 0)
		r = attest(f, "mm-C-A4", "not_met", "2027-01-14", 0);
	return CHECK_INT(r, 0, "the fleet is enrolled, inventoried, evaluated and attested");
}

static void fleet_done(struct fleet *f)
{
	compliance_free(f->e);
	store_free(f->st);
	tmpstore_remove(&f->t);
}

/* {"summary": …, "hosts": {HOSTNAME: {MEASURE: {"status", "evidence"}}}} */
static json_t *scorecard(struct fleet *f, int64_t now)
{
	const char *ids[] = {f->good, f->bad, f->server};
	json_t *out = json_object(), *summary = NULL, *hosts = json_object();

	if (compliance_summary(f->e, now, &summary) < 0 || jsonw_set(out, "summary", summary) < 0 ||
	    jsonw_set(out, "hosts", hosts) < 0) {
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		json_t *h = NULL, *m = json_object(), *row;
		size_t k;

		if (compliance_host(f->e, ids[i], now, &h) < 0) {
			json_decref(m);
			json_decref(out);
			return NULL;
		}
		json_array_foreach (json_object_get(h, "results"), k, row)
			(void) json_object_set_new(
				m, json_string_value(json_object_get(row, "measure")),
				json_pack("{s:O, s:O}", "status", json_object_get(row, "status"),
					  "evidence", json_object_get(row, "evidence")));
		(void) json_object_set_new(hosts, json_string_value(json_object_get(h, "hostname")),
					   m);
		json_decref(h);
	}
	return out;
}

/* Prints where two JSON values first differ. */
static void show_difference(const char *path, const json_t *got, const json_t *want)
{
	const char *key;
	json_t *v;

	if (json_equal(got, want))
		return;
	if (json_is_object(got) && json_is_object(want)) {
		json_object_foreach ((json_t *) want, key, v) {
			char sub[512];

			(void) snprintf(sub, sizeof(sub), "%s.%s", path, key);
			show_difference(sub, json_object_get(got, key), v);
		}
		json_object_foreach ((json_t *) got, key, v)
			if (!json_object_get(want, key))
				printf("#   %s.%s: not expected\n", path, key);
		return;
	}
	{
		char *a = got ? jsonw_dump(got) : NULL, *b = want ? jsonw_dump(want) : NULL;

		printf("#   %s: got %s, expected %s\n", path, a ? a : "(absent)",
		       b ? b : "(absent)");
		mm_free(a);
		mm_free(b);
	}
}

static void test_scorecard(struct fleet *f)
{
	char path[1024];
	json_t *got = scorecard(f, NOW), *want;
	json_error_t e;
	const char *out = getenv("MAMORI_WRITE_SCORECARD");

	if (!CHECK(got != NULL, "the scorecard is read"))
		return;
	if (out)
		(void) json_dump_file(got, out, JSON_INDENT(2) | JSON_SORT_KEYS);
	want = json_load_file(
		src_path("tests/fixtures/compliance/expected-scorecard.json", path, sizeof(path)),
		0, &e);
	if (!CHECK(want != NULL, "the expected scorecard loads (%s)", want ? "" : e.text)) {
		json_decref(got);
		return;
	}
	/* the generation time is the clock's, not a fact of the fleet */
	(void) json_object_del(json_object_get(want, "summary"), "generated");
	(void) json_object_del(json_object_get(got, "summary"), "generated");
	if (!CHECK(json_equal(got, want), "the fleet's scorecard is the hand-written one"))
		show_difference("", got, want);
	json_decref(got);
	json_decref(want);
}

/* Every roll-up equals the count of stored results it sums. */
static void test_rollups_consistent(struct fleet *f, const char *when)
{
	struct store_compliance_query q = {.limit = 10000};
	json_t *all = NULL, *ru = NULL, *row, *sums = json_object();
	const char *kind;
	json_t *group;
	size_t i;
	bool ok = true;

	if (store_compliance_results(f->st, &q, &all) < 0 ||
	    store_compliance_rollups(f->st, &ru) < 0) {
		CHECK(false, "%s: results and roll-ups are read", when);
		goto out;
	}
	json_array_foreach (json_object_get(all, "results"), i, row) {
		const char *st = json_string_value(json_object_get(row, "status"));
		const char *keys[] = {"organisation/",
				      json_string_value(json_object_get(row, "category")),
				      json_string_value(json_object_get(row, "role")),
				      json_string_value(json_object_get(row, "measure"))};
		const char *kinds[] = {"organisation", "category", "role", "measure"};

		for (size_t k = 0; k < 4; k++) {
			char name[256];
			json_t *c;

			(void) snprintf(name, sizeof(name), "%s/%s/%s", kinds[k], k ? keys[k] : "",
					st);
			c = json_object_get(sums, name);
			(void) json_object_set_new(sums, name,
						   json_integer(json_integer_value(c) + 1));
		}
	}
	json_object_foreach (ru, kind, group) {
		const char *id, *st;
		json_t *counts, *n;

		if (streq(kind, "hosts"))
			continue;
		if (streq(kind, "organisation")) {
			json_object_foreach (group, st, n) {
				char name[256];

				(void) snprintf(name, sizeof(name), "organisation//%s", st);
				ok = ok && json_integer_value(json_object_get(sums, name)) ==
						   json_integer_value(n);
			}
			continue;
		}
		json_object_foreach (group, id, counts)
			json_object_foreach (counts, st, n) {
				char name[256];

				(void) snprintf(name, sizeof(name), "%s/%s/%s", kind, id, st);
				if (json_integer_value(json_object_get(sums, name)) !=
				    json_integer_value(n)) {
					printf("#   %s: roll-up %lld, results %lld\n", name,
					       (long long) json_integer_value(n),
					       (long long) json_integer_value(
						       json_object_get(sums, name)));
					ok = false;
				}
			}
	}
	CHECK(ok && json_integer_value(
			    json_object_get(json_object_get(ru, "organisation"), "met")) > 0,
	      "%s: every roll-up equals the sum of the stored results", when);
out:
	json_decref(all);
	json_decref(ru);
	json_decref(sums);
}

static json_t *result_of(struct fleet *f, const char *host, const char *measure, int64_t now)
{
	json_t *h = NULL, *row, *found = NULL;
	size_t i;

	if (compliance_host(f->e, host, now, &h) < 0)
		return NULL;
	json_array_foreach (json_object_get(h, "results"), i, row)
		if (streq(json_string_value(json_object_get(row, "measure")), measure))
			found = json_incref(row);
	json_decref(h);
	return found;
}

static const char *status_of(struct fleet *f, const char *host, const char *measure, int64_t now,
			     long long *ret_age)
{
	static char buf[32];
	json_t *row = result_of(f, host, measure, now);

	(void) snprintf(buf, sizeof(buf), "%s",
			row ? json_string_value(json_object_get(row, "status")) : "(none)");
	if (ret_age)
		*ret_age = json_integer_value(
			json_object_get(json_object_get(row, "evidence"), "definitions_age_days"));
	json_decref(row);
	return buf;
}

static void test_incremental(struct fleet *f)
{
	size_t changed = 99, hosts = 0;

	CHECK_INT(compliance_host_changed(f->e, f->good, NOW, &changed), 0,
		  "re-evaluating the good laptop with unchanged facts");
	CHECK_INT(changed, 0, "unchanged facts write nothing");
	CHECK_INT(compliance_recompute(f->e, NOW, &hosts, &changed), 0, "a full recompute");
	CHECK_INT(hosts, 3, "the recompute visits the three hosts");
	CHECK_INT(changed, 0, "and, nothing having changed, writes nothing");
}

/* mic-F-1 flips at the check-in after the definitions pass N days, and back when fixed. */
static void test_av_flip(struct fleet *f)
{
	long long age = -1;
	size_t changed = 0;
	int64_t t = NOW + 2 * DAY; /* definitions built at NOW - 1 day: 3 days old */
	json_t *doc;

	CHECK_STR(status_of(f, f->good, "mic-F-1", NOW, &age), "met", "F-1 met at first");
	CHECK_INT(checkin_policy(f->st, f->good, t, 3), 0, "a check-in two days later");
	CHECK_INT(compliance_host_changed(f->e, f->good, t, NULL), 0, "evaluated at the check-in");
	CHECK_STR(status_of(f, f->good, "mic-F-1", t, &age), "met",
		  "definitions 3 days old: still met (N = 3)");
	CHECK_INT(age, 3, "evidence: 3 days");

	t = NOW + 3 * DAY;
	CHECK_INT(checkin_policy(f->st, f->good, t, 3), 0, "the next check-in a day later");
	CHECK_INT(compliance_host_changed(f->e, f->good, t, &changed), 0, "evaluated");
	CHECK_STR(status_of(f, f->good, "mic-F-1", t, &age), "not_met",
		  "definitions 4 days old: mic-F-1 flips to not met within one check-in");
	CHECK_INT(age, 4, "evidence: definitions_age_days 4");
	CHECK_STR(status_of(f, f->good, "mm-F-T1", t, NULL), "not_met",
		  "the teleworker's F-T1 flips with it");
	CHECK(changed >= 2, "the changed rows are written (%zu)", changed);

	/* fixed: freshclam ran; the next inventory carries fresh definitions */
	doc = fixture_doc("laptop", "good-laptop.json", t + 600);
	(void) json_object_set_new(
		json_object_get(json_object_get(json_object_get(doc, "security"), "antivirus"),
				"clamav"),
		"definitions_newest_build_time", json_integer(t));
	CHECK_INT(commit_doc(f->st, f->good, doc, t + 600), 0, "an inventory with new definitions");
	CHECK_INT(compliance_host_changed(f->e, f->good, t + 600, NULL), 0, "evaluated");
	CHECK_STR(status_of(f, f->good, "mic-F-1", t + 600, &age), "met", "and F-1 is met again");
	CHECK_INT(age, 0, "evidence: definitions 0 days old");
	json_decref(doc);

	/* an organisation that allows 7 days: an override moves the threshold */
	{
		char org[1024];
		const char *files[] = {
			src_path("tests/fixtures/compliance/org.txt", org, sizeof(org)), NULL};
		struct catalog *cat = NULL;
		struct diag d;
		FILE *fp;
		char over[] = "/tmp/mamori-org-XXXXXX";
		int fd = mkstemp(over);

		fp = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (fp) {
			fputs("Measure: mic-F-1\nParam-max-definitions-age-days: 7\n", fp);
			fclose(fp);
		}
		files[1] = over;
		diag_init(&d);
		CHECK_INT(compliance_catalog_load(files, 2, &cat, &d), 0, "an override of N loads");
		diag_done(&d);
		CHECK_INT(compliance_set_catalog(f->e, cat, t + 5 * DAY), 0,
			  "the new catalogue is put in force (a reload)");
		CHECK_STR(status_of(f, f->good, "mic-F-1", t + 5 * DAY, &age), "met",
			  "definitions 5 days old are met under N = 7");
		(void) unlink(over);
	}
}

static void test_attestations(struct fleet *f)
{
	int64_t t0 = NOW + 10 * DAY;
	json_t *body, *a = NULL, *list = NULL, *m;
	char err[256] = "";
	size_t i;
	const char *state = "?";
	bool overdue = false;

	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "measure", "mm-E-A3", "status", "met",
			 "evidence", "nightly backup to the NAS, restore tested", "link",
			 "https://wiki.example.jp/backup", "owner", "佐藤", "review_days", 30);
	CHECK_INT(compliance_attest(f->e, body, "token:test", t0, &a, err, sizeof(err)), 0,
		  "an attestation is recorded");
	CHECK_STR(json_string_value(json_object_get(json_object_get(a, "state"), "status")), "met",
		  "it is current");
	json_decref(a);
	json_decref(body);

	/* 29 days later it is still current; 31 days later it is overdue */
	for (int k = 0; k < 2; k++) {
		int64_t t = t0 + (k ? 31 : 29) * DAY;

		list = NULL;
		CHECK_INT(compliance_attestations(f->e, "mm-E-A3", t, &list), 0, "listed");
		json_array_foreach (json_object_get(list, "measures"), i, m) {
			state = json_string_value(json_object_get(m, "status"));
			overdue = json_is_true(json_object_get(m, "overdue"));
		}
		CHECK_STR(state, k ? "unknown" : "met",
			  k ? "31 days on: overdue counts as unknown" : "29 days on: still met");
		CHECK(overdue == (k == 1), "overdue flag %s", k ? "set" : "clear");
		json_decref(list);
	}
	{
		json_t *s = NULL, *c;

		CHECK_INT(compliance_summary(f->e, t0 + 31 * DAY, &s), 0, "the summary");
		json_array_foreach (json_object_get(s, "categories"), i, c)
			if (streq(json_string_value(json_object_get(c, "id")), "E"))
				CHECK_INT(json_integer_value(json_object_get(
						  json_object_get(c, "attestations"), "overdue")),
					  1, "category E counts one overdue attestation");
		json_decref(s);
	}

	/* refusals say what is wrong */
	body = json_pack("{s:s, s:s, s:s, s:s}", "measure", "mic-F-1", "status", "met", "evidence",
			 "x", "owner", "me");
	CHECK_INT(compliance_attest(f->e, body, "t", t0, &a, err, sizeof(err)), -EINVAL,
		  "an automated measure cannot be attested");
	CHECK(strstr(err, "automated") != NULL, "and the message says why: %s", err);
	json_decref(body);
	body = json_pack("{s:s, s:s, s:s, s:s}", "measure", "mm-E-A3", "status", "done", "evidence",
			 "x", "owner", "me");
	CHECK_INT(compliance_attest(f->e, body, "t", t0, &a, err, sizeof(err)), -EINVAL,
		  "a bad status is refused");
	json_decref(body);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "measure", "mm-E-A3", "status", "met",
			 "evidence", "x", "owner", "me", "date", "2099-01-01");
	CHECK_INT(compliance_attest(f->e, body, "t", t0, &a, err, sizeof(err)), -EINVAL,
		  "a date in the future is refused");
	json_decref(body);
}

static void test_history_and_revoke(struct fleet *f)
{
	json_t *h = NULL, *ru = NULL;

	CHECK_INT(compliance_history(f->e, 30, NOW + 20 * DAY, &h), 0, "30 days of history");
	CHECK(json_array_size(json_object_get(h, "snapshots")) >= 3,
	      "a snapshot for each day something changed (%zu)",
	      json_array_size(json_object_get(h, "snapshots")));
	CHECK(json_array_size(json_object_get(h, "changes")) >= 2,
	      "and the status changes per day");
	json_decref(h);

	CHECK_INT(store_host_revoke(f->st, f->bad, NOW + 20 * DAY), 0, "the bad laptop is revoked");
	CHECK_INT(store_compliance_rollups(f->st, &ru), 0, "roll-ups");
	CHECK_INT(json_integer_value(json_object_get(ru, "hosts")), 2, "two hosts scored");
	json_decref(ru);
	test_rollups_consistent(f, "after a revocation");
	CHECK_INT(compliance_host_changed(f->e, f->bad, NOW + 20 * DAY, NULL), 0,
		  "a revoked host's trigger is a no-op");
	CHECK_STR(status_of(f, f->bad, "mic-F-1", NOW, NULL), "(none)", "and it has no results");
}

/* mic-E-4 reads the policy the agent reports it holds: the server's document version,
 * "P-DIGEST" (protocol.md), counts as policy P; 0 as none. */
static void test_policy_reported(struct fleet *f)
{
	int64_t t = NOW + 21 * DAY;
	struct store_checkin_result res;
	json_t *state, *row;

	CHECK_INT(checkin_policy(f->st, f->good, t, 0), 0, "a check-in reporting no policy (0)");
	CHECK_INT(compliance_host_changed(f->e, f->good, t, NULL), 0, "evaluated");
	CHECK_STR(status_of(f, f->good, "mic-E-4", t, NULL), "not_met", "E-4 is not met");
	state = json_pack("{s:s}", "policy_version", "7-4f3a9c0b1d2e");
	CHECK_INT(store_checkin(f->st, f->good, t + 60, "192.0.2.1", state, &res), 0,
		  "a check-in reporting the document 7-4f3a9c0b1d2e");
	json_decref(state);
	CHECK_INT(compliance_host_changed(f->e, f->good, t + 60, NULL), 0, "evaluated");
	row = result_of(f, f->good, "mic-E-4", t + 60);
	CHECK_STR(json_string_value(json_object_get(row, "status")), "met",
		  "E-4 is met: a policy is in force");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(row, "evidence"), "policy_version")),
		  7, "evidence: policy version 7");
	json_decref(row);
}

static void test_catalog_errors(void)
{
	char bad[] = "/tmp/mamori-bad-XXXXXX";
	int fd = mkstemp(bad);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	const char *files[] = {bad};
	struct catalog *cat = NULL;
	struct diag d;
	bool line3 = false, line6 = false;

	if (fp) {
		fputs("# org\n\nMeasure: mic-F-1\nParam-max-definitions-age-days: soon\n\n"
		      "Measure: mm-X-1\nCategory: NOPE\n",
		      fp);
		fclose(fp);
	}
	diag_init(&d);
	CHECK_INT(compliance_catalog_load(files, 1, &cat, &d), -EINVAL,
		  "a bad override is refused");
	for (size_t i = 0; i < d.n; i++) {
		char *s = diag_format(&d.entries[i]);

		printf("#   %s\n", s ? s : "?");
		line3 = line3 || (d.entries[i].line == 4 && strstr(d.entries[i].message, "soon") &&
				  d.entries[i].file && streq(d.entries[i].file, bad));
		line6 = line6 || d.entries[i].line == 6;
		mm_free(s);
	}
	CHECK(line3, "the bad threshold is reported at its file and line (4)");
	CHECK(line6, "the incomplete new measure at its line (6)");
	CHECK(cat == NULL, "and no catalogue is handed out");
	diag_done(&d);
	(void) unlink(bad);
}

int main(void)
{
	struct fleet f;

	mm_setup_jansson();
	if (!getenv("MAMORI_SOURCE_ROOT"))
		tap_skip_all("MAMORI_SOURCE_ROOT is unset (run through meson test)");
	if (fleet_init(&f)) {
		test_scorecard(&f);
		test_rollups_consistent(&f, "the fleet");
		test_incremental(&f);
		test_av_flip(&f);
		test_rollups_consistent(&f, "after the flips");
		test_attestations(&f);
		test_history_and_revoke(&f);
		test_policy_reported(&f);
	}
	fleet_done(&f);
	test_catalog_errors();
	return tap_done();
}
