/*
 * store_copy(): a populated SQLite store (tokens, enrolments, revoked and deleted hosts,
 * inventories with history, events, the audit chain, the scorecard: owners, event
 * summaries, results over two days with their status changes, roll-ups, daily snapshots,
 * attestations; USB policies, devices and grants) copied into an empty store of the
 * backend under test — SQLite by default, PostgreSQL when MAMORI_STORE_URL names one — and
 * compared row for row through the store API: every listing, host, inventory, software
 * page, history, event, audit record, policy, device and grant and every read of the
 * scorecard reads the same from both. Then: a non-empty target is refused unless forced, a
 * copy that fails half-way leaves the target empty, and the copy works as a store
 * afterwards (serials, ids, event seqs and status-change ids carry on). With PostgreSQL as
 * the target, the copy is copied back into a new SQLite store and compared with the source
 * again: both directions.
 */
#include <errno.h>

#include "lib/evchain.h"
#include "lib/checks.h"
#include "lib/invdiff.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "server/store.h"
#include "tests/storetest.h"
#include "tests/tap.h"

#define NOW   1795650000
#define HOSTS 6

static json_t *inventory(int n, int v, const char *chassis)
{
	json_t *pkgs = json_array();

	for (int i = 0; i < n; i++) {
		char name[32], version[32];

		(void) snprintf(name, sizeof(name), "package-%03d", i);
		(void) snprintf(version, sizeof(version), "%d.%d", i % 5 ? 1 : v, i);
		json_array_append_new(pkgs, json_pack("{ssssssss}", "manager", "dpkg", "name", name,
						      "arch", "amd64", "version", version));
	}
	return json_pack("{s{sss{ss}}s{so}}", "identity", "chassis", chassis, "dmi", "serial",
			 "SN-1", "software", "packages", pkgs);
}

static json_t *batch(int from, int to)
{
	json_t *a = json_array();

	for (int s = from; s <= to; s++)
		json_array_append_new(a, json_pack("{sisIsss{siss}}", "seq", s, "time",
						   (json_int_t) NOW * 1000 + s, "type", "file.copy",
						   "data", "n", s, "path",
						   "/media/usb/経理部/予算.xlsx"));
	return a;
}

/*
 * Chained events 37..40 for a host holding unchained 1..35: 36 never arrives (a gap, 37
 * unverified), 39 is altered after it was hashed. *head is the agent's chain head after 40.
 */
static json_t *chained(const char *host, char head[EVCHAIN_HEX])
{
	json_t *a = json_array();

	if (evchain_genesis(host, head) < 0)
		return a;
	for (int s = 36; s <= 40; s++) {
		char prev[EVCHAIN_HEX], hash[EVCHAIN_HEX], data[64];
		json_t *e;

		memcpy(prev, head, EVCHAIN_HEX);
		(void) snprintf(data, sizeof(data), "{\"user\":\"taro\",\"path\":\"/srv/%d\"}", s);
		if (evchain_link(head, (uint64_t) s, (int64_t) NOW * 1000 + s, 5000 + s,
				 "file.write", data, hash) < 0)
			break;
		if (s == 36)
			continue; /* lost on the way */
		e = json_pack("{sisIsisssossssss}", "seq", s, "time", (json_int_t) NOW * 1000 + s,
			      "mono", 5000 + s, "type", "file.write", "data", parse_json(data),
			      "prev", prev, "hash", hash, "proxy", "p-1");
		if (s == 39)
			json_object_set_new(json_object_get(e, "data"), "path",
					    json_string("/srv/innocent"));
		json_array_append_new(a, e);
	}
	return a;
}

/* Fills st: 6 hosts with inventories, history and events; one revoked, one deleted; the
 * last one's events also chained, with a gap and an altered event. */
static char head[EVCHAIN_HEX]; /* the last host's chain head */

/* Host i's results: four measures; the second time, two change status and m-4 is gone. */
static int score(struct store *st, const char *id, int i, bool later, int64_t now)
{
	char ev[4][32];
	struct store_compliance_row rows[4];
	const char *const status[2][4] = {{"met", "not_met", "unknown", "met"},
					  {"met", "met", "not_met", "met"}};
	struct store_compliance_result res = {.host_id = id, .rows = rows, .n = later ? 3 : 4};

	for (int k = 0; k < 4; k++) {
		(void) snprintf(ev[k], sizeof(ev[k]), "{\"n\":%d,\"k\":%d}", i, later ? k : -k);
		rows[k] = (struct store_compliance_row){
			.measure = (const char *[]){"m-1", "m-2", "m-3", "m-4"}[k],
			.category = k < 2 ? "A" : "B",
			.role = k % 2 ? "teleworker" : "admin",
			.status = status[later][(k + i) % 4],
			.evidence = ev[k],
		};
	}
	return store_compliance_apply(st, &res, 1, now, NULL);
}

/* The scorecard of the hosts: owners, event summaries, results on two days, attestations. */
static int populate_scorecard(struct store *st, char ids[HOSTS][STORE_ID_MAX])
{
	struct store_attestation a = {
		.measure = "mm-E-A3",
		.status = "met",
		.evidence = "nightly backups, restore tested",
		.link = "https://wiki.example.jp/b",
		.owner = "佐藤",
		.date = NOW - 86400,
		.review_days = 30,
		.created = NOW,
		.created_by = "token:ops",
	};
	char aid[STORE_ID_MAX];
	int r = 0;

	for (int i = 0; i < HOSTS && r == 0; i++) {
		_cleanup_(json_decrefp) json_t *ev = batch(1, 3);

		if (i % 2 == 0)
			r = store_host_set_owner(st, ids[i], i ? "田中 太郎" : "ops");
		if (r == 0 && i != 3)
			r = store_compliance_events(st, ids[i], ev, NOW + 35);
		if (r == 0)
			r = score(st, ids[i], i, false, NOW + 45);
		if (r == 0 && i != 4)
			r = score(st, ids[i], i, true, NOW + 86400);
	}
	if (r == 0)
		r = store_attestation_add(st, &a, aid);
	a.measure = "mm-B-A4";
	a.status = "not_met";
	a.link = NULL;
	if (r == 0)
		r = store_attestation_add(st, &a, aid);
	return r;
}

/* Collection profiles: one for all hosts, a later one for all, and a host's own. */
static int populate_collection(struct store *st, char ids[HOSTS][STORE_ID_MAX])
{
	_cleanup_(json_decrefp) json_t *minimal = json_pack("{s:s}", "profile", "minimal");
	_cleanup_(json_decrefp) json_t *watched =
		json_pack("{s:s, s:{s:b, s:[s]}}", "profile", "standard", "files", "enabled", true,
			  "folders", "/srv/経理");
	struct store_collection p = {"all", minimal, "minimal", NULL, NOW, "token:at_x"};
	char scope[STORE_ID_MAX + 8];
	int64_t v;
	int r = 0;

	r |= store_collection_create(st, &p, &v);
	p.profile = watched;
	p.name = "standard";
	p.comment = "watch the accounts folder";
	r |= store_collection_create(st, &p, &v);
	(void) snprintf(scope, sizeof(scope), "host:%s", ids[1]);
	p.scope = scope;
	p.profile = minimal;
	p.name = "minimal";
	r |= store_collection_create(st, &p, &v);
	return r;
}

/* USB control: two policy versions and a host's own, three devices, two grants (one
 * revoked). */
static int populate_usb(struct store *st, char ids[HOSTS][STORE_ID_MAX])
{
	_cleanup_(json_decrefp) json_t *tags = json_pack("[s]", "company-issued");
	_cleanup_(json_decrefp) json_t *t2 = json_pack("[ss]", "backup", "company-issued");
	_cleanup_(json_decrefp) json_t *none = json_array();
	struct store_device devs[] = {
		{"4C530001230512114295", 0x0781, 0x5581, "山田 太郎", "the blue one", t2},
		{"AA-01", -1, -1, "hanako", NULL, tags},
		{"ZZ-9", 0x0951, -1, "jiro", NULL, none},
	};
	struct store_policy p = {"all", "default allow\n", none, 0, NULL, NOW, "token:at_x"};
	struct store_grant g = {"AA-01", ids[0], NULL, "visit", NOW, NOW + 3600, "token:at_x"};
	char gid[STORE_ID_MAX];
	int64_t v;
	char scope[STORE_ID_MAX + 8];
	int r = 0;

	r |= store_policy_create(st, &p, &v);
	p.rules = "default block\nread-only class mass-storage tag company-issued\n";
	p.tags = tags;
	p.rule_count = 1;
	p.comment = "tighter";
	r |= store_policy_create(st, &p, &v);
	(void) snprintf(scope, sizeof(scope), "host:%s", ids[3]);
	p.scope = scope;
	r |= store_policy_create(st, &p, &v);
	r |= store_devices_put(st, devs, 3, NOW, "token:at_x", NULL, NULL);
	r |= store_grant_create(st, &g, gid);
	g.host_id = NULL;
	g.user = "hanako";
	r |= store_grant_create(st, &g, gid);
	r |= store_grant_revoke(st, gid, NOW + 5, "token:at_x");
	return r | populate_collection(st, ids);
}

/* Fills st: 6 hosts with inventories, history and events; one revoked, one deleted. */
static int populate(struct store *st, char ids[HOSTS][STORE_ID_MAX])
{
	struct sign_log log = {0};
	char tid[STORE_ID_MAX];
	uint8_t h[32];
	int r = 0;

	sha256_of("api-1", h);
	r |= store_api_token_create(st, h, "ops", "admin", NOW, 0, tid);
	sha256_of("api-2", h);
	r |= store_api_token_create(st, h, "audit", "auditor", NOW, NOW + 99, tid);
	r |= make_token(st, "tok", NOW - 10, NOW + 3600, 10, "sales", tid);
	r |= make_token(st, "tok-old", NOW - 100, NOW - 1, 1, NULL, tid);
	r |= make_token(st, "tok-rev", NOW - 10, NOW + 3600, 1, NULL, tid);
	r |= store_enroll_token_revoke(st, tid, NOW);
	for (int i = 0; i < HOSTS && r == 0; i++) {
		_cleanup_(json_decrefp) json_t *empty = json_object(),
					       *d1 = inventory(40, 1, "laptop");
		_cleanup_(json_decrefp) json_t *d2 = inventory(40 + i, 2, "desktop");
		_cleanup_(json_decrefp) json_t *delta1 = NULL, *delta2 = NULL,
					       *ev = batch(1, 30 + i);
		_cleanup_(json_decrefp) json_t *state = json_pack("{ss}", "agent_version", "0.2.0");
		struct store_enroll_result res;
		struct store_checkin_result cr;
		char g1[65], g2[65], name[16];
		uint64_t acked;
		size_t n;

		(void) snprintf(name, sizeof(name), "pc-%02d", i);
		r = enroll_host(st, "tok", NOW + i, name, &log, &res);
		if (r < 0 || res.verdict != STORE_TOKEN_OK)
			return -1;
		mm_free(res.cert_pem);
		memcpy(ids[i], res.host_id, STORE_ID_MAX);
		if (invdiff_digest(d1, g1) < 0 || invdiff_digest(d2, g2) < 0 ||
		    invdiff_compute(empty, d1, &delta1) < 0 || invdiff_compute(d1, d2, &delta2) < 0)
			return -1;
		r = store_inventory_commit(st, ids[i], "", delta1, g1, NOW + 10, &n);
		if (r == 0)
			r = store_inventory_commit(st, ids[i], g1, delta2, g2, NOW + 20, &n);
		if (r == 0)
			r = store_events_append(st, ids[i], ev, NOW + 30, &acked, &n);
		if (r == 0 && i == HOSTS - 1) {
			_cleanup_(json_decrefp) json_t *ch = chained(ids[i], head);

			r = store_events_append(st, ids[i], ch, NOW + 35, &acked, &n);
		}
		if (r == 0)
			r = store_checkin(st, ids[i], NOW + 40, "198.51.100.1", state, &cr);
		if (r == 0)
			r = store_audit_append(st, NOW + i, "at_x", "host.enroll", ids[i], state,
					       "::1");
	}
	if (r == 0)
		r = populate_scorecard(st, ids);
	if (r == 0)
		r = store_host_revoke(st, ids[1], NOW + 50);
	if (r == 0)
		r = store_host_delete(st, ids[2], NOW + 51);
	if (r == 0)
		r = populate_usb(st, ids);
	return r;
}

/* A search's events in (host, seq) order: two stores key events of one millisecond in
 * their own order (the source as they arrived, a copy by host), so pages are compared as
 * sets. */
static void sort_events(json_t *v)
{
	json_t *events = json_object_get(v, "events"), *sorted = json_array();

	while (sorted && json_array_size(events) > 0) {
		size_t best = 0, i;
		json_t *e, *b;

		json_array_foreach (events, i, e) {
			b = json_array_get(events, best);
			int c = strcmp(json_string_value(json_object_get(e, "host_id")),
				       json_string_value(json_object_get(b, "host_id")));

			if (c < 0 ||
			    (c == 0 && json_integer_value(json_object_get(e, "seq")) <
					       json_integer_value(json_object_get(b, "seq"))))
				best = i;
		}
		json_array_append(sorted, json_array_get(events, best));
		json_array_remove(events, best);
	}
	if (sorted)
		json_object_set_new(v, "events", sorted);
}

static bool same(json_t *a, json_t *b, const char *what)
{
	bool eq = a && b && json_equal(a, b);

	if (!eq) {
		char *ta = a ? json_dumps(a, JSON_COMPACT) : NULL;
		char *tb = b ? json_dumps(b, JSON_COMPACT) : NULL;

		tap_diag("%s differs:\n#   source %.300s\n#   target %.300s", what, ta ? ta : "-",
			 tb ? tb : "-");
		mm_free(ta);
		mm_free(tb);
	}
	json_decref(a);
	json_decref(b);
	return eq;
}

/* What the compliance engine reads of a host: owner, times, event summary, items. */
static int compare_facts(struct store *a, struct store *b, const char *id)
{
	struct store_compliance_host ha = {.doc = NULL}, hb = {.doc = NULL};
	int ra = store_compliance_host_get(a, id, checks_inventory_items, &ha);
	int rb = store_compliance_host_get(b, id, checks_inventory_items, &hb);
	int diffs = ra != rb;

	if (ra == 0 && rb == 0) {
		diffs += !streq(ha.owner ? ha.owner : "-", hb.owner ? hb.owner : "-");
		diffs += ha.last_inventory != hb.last_inventory;
		diffs += ha.policy_version != hb.policy_version;
		diffs += !same(json_incref(ha.events), json_incref(hb.events), "an event summary");
		diffs += !same(json_incref(ha.doc), json_incref(hb.doc), "the checks' items");
	}
	store_compliance_host_done(&ha);
	store_compliance_host_done(&hb);
	return diffs;
}

/* Everything the store API shows, read from both stores, compared; the number of
 * differences. */
static int compare_stores(struct store *a, struct store *b, char ids[HOSTS][STORE_ID_MAX])
{
	struct store_host_query q = {.limit = 1000};
	json_t *x = NULL, *y = NULL;
	int diffs = 0;
	size_t na = 0, nb = 1;

	diffs += (store_hosts_list(a, &q, &x) < 0) + (store_hosts_list(b, &q, &y) < 0);
	diffs += !same(x, y, "the host list");
	q.status = "revoked";
	diffs += (store_hosts_list(a, &q, &x) < 0) + (store_hosts_list(b, &q, &y) < 0);
	diffs += !same(x, y, "the revoked hosts");
	diffs += (store_enroll_token_list(a, NOW + 60, &x) < 0) +
		 (store_enroll_token_list(b, NOW + 60, &y) < 0);
	diffs += !same(x, y, "the enrolment tokens");
	diffs += (store_audit_list(a, 1000, 0, &x) < 0) + (store_audit_list(b, 1000, 0, &y) < 0);
	diffs += !json_is_true(json_object_get(y, "chain_ok"));
	diffs += !same(x, y, "the audit trail");
	diffs += (store_api_token_count(a, &na) < 0) + (store_api_token_count(b, &nb) < 0) +
		 (na != nb);
	{
		struct store_compliance_query cq = {.limit = 10000};

		diffs += (store_compliance_results(a, &cq, &x) < 0) +
			 (store_compliance_results(b, &cq, &y) < 0);
		diffs += !same(x, y, "the compliance results");
		diffs += (store_compliance_rollups(a, &x) < 0) +
			 (store_compliance_rollups(b, &y) < 0);
		diffs += !same(x, y, "the roll-ups");
		diffs += (store_compliance_history(a, 0, &x) < 0) +
			 (store_compliance_history(b, 0, &y) < 0);
		diffs += !same(x, y, "the compliance history");
		diffs += (store_attestation_list(a, NULL, &x) < 0) +
			 (store_attestation_list(b, NULL, &y) < 0);
		diffs += !same(x, y, "the attestations");
	}
	diffs += (store_policy_list(a, NULL, 1000, 0, &x) < 0) +
		 (store_policy_list(b, NULL, 1000, 0, &y) < 0);
	diffs += !same(x, y, "the policies");
	for (int64_t v = 1; v <= 3; v++) {
		diffs += (store_policy_get(a, v, &x) < 0) + (store_policy_get(b, v, &y) < 0);
		diffs += !same(x, y, "a policy version");
	}
	{
		struct store_device_query dq = {.limit = 0};

		diffs +=
			(store_devices_list(a, &dq, &x) < 0) + (store_devices_list(b, &dq, &y) < 0);
		diffs += !same(x, y, "the device registry");
		dq.tag = "company-issued";
		diffs +=
			(store_devices_list(a, &dq, &x) < 0) + (store_devices_list(b, &dq, &y) < 0);
		diffs += !same(x, y, "the registry by tag");
	}
	diffs += (store_grants_list(a, NOW + 10, true, 1000, 0, &x) < 0) +
		 (store_grants_list(b, NOW + 10, true, 1000, 0, &y) < 0);
	diffs += !same(x, y, "the grants");
	diffs += (store_collection_list(a, NULL, 1000, 0, &x) < 0) +
		 (store_collection_list(b, NULL, 1000, 0, &y) < 0);
	diffs += !same(x, y, "the collection profiles");
	for (int64_t v = 1; v <= 3; v++) {
		diffs +=
			(store_collection_get(a, v, &x) < 0) + (store_collection_get(b, v, &y) < 0);
		diffs += !same(x, y, "a collection profile version");
	}
	for (int i = 0; i < HOSTS; i++) {
		char da[STORE_DIGEST_HEX] = "", db[STORE_DIGEST_HEX] = "-";
		int ra = store_host_get(a, ids[i], &x), rb = store_host_get(b, ids[i], &y);

		diffs += ra != rb;
		if (ra < 0) { /* the deleted host */
			continue;
		}
		diffs += !same(x, y, "a host");
		diffs += (store_inventory_get(a, ids[i], &x, da) < 0) +
			 (store_inventory_get(b, ids[i], &y, db) < 0) + !streq(da, db);
		diffs += !same(x, y, "an inventory");
		diffs += (store_host_software(a, ids[i], NULL, 1000, 0, &x) < 0) +
			 (store_host_software(b, ids[i], NULL, 1000, 0, &y) < 0);
		diffs += !same(x, y, "a software list");
		diffs += (store_host_software(a, ids[i], "PACKAGE-00", 1000, 0, &x) < 0) +
			 (store_host_software(b, ids[i], "PACKAGE-00", 1000, 0, &y) < 0);
		diffs += !same(x, y, "a software search");
		diffs += (store_host_history(a, ids[i], 0, 1000, 0, &x) < 0) +
			 (store_host_history(b, ids[i], 0, 1000, 0, &y) < 0);
		diffs += !same(x, y, "a history");
		diffs += (store_host_events(a, ids[i], 0, NULL, 1000, &x) < 0) +
			 (store_host_events(b, ids[i], 0, NULL, 1000, &y) < 0);
		diffs += !same(x, y, "the events");
		diffs += (store_host_evidence(a, ids[i], 1000, &x) < 0) +
			 (store_host_evidence(b, ids[i], 1000, &y) < 0);
		diffs += !same(x, y, "the event chain's evidence");
		diffs += compare_facts(a, b, ids[i]);
		diffs += (store_policy_inputs(a, ids[i], NOW + 10, true, &x) < 0) +
			 (store_policy_inputs(b, ids[i], NOW + 10, true, &y) < 0);
		diffs += !same(x, y, "the inputs of a host's USB policy");
		diffs += (store_collection_inputs(a, ids[i], true, &x) < 0) +
			 (store_collection_inputs(b, ids[i], true, &y) < 0);
		diffs += !same(x, y, "the collection profile in force for a host");
	}
	{
		struct store_event_query eq = {.limit = 1000, .text = "経理部"};

		diffs += (store_events_search(a, &eq, &x) < 0) +
			 (store_events_search(b, &eq, &y) < 0);
		sort_events(x);
		sort_events(y);
		diffs += !same(x, y, "a search");
		eq.text = NULL;
		eq.user = "taro";
		diffs += (store_events_counts(a, &eq, "host", "type", &x) < 0) +
			 (store_events_counts(b, &eq, "host", "type", &y) < 0);
		diffs += !same(x, y, "counts");
	}
	return diffs;
}

static size_t host_total(struct store *st)
{
	struct store_host_query q = {.limit = 10};
	json_t *x = NULL;
	size_t n = 999;

	if (store_hosts_list(st, &q, &x) == 0)
		n = (size_t) json_integer_value(json_object_get(x, "total"));
	json_decref(x);
	return n;
}

int main(void)
{
	struct tmpstore ts, tt;
	struct store *src = NULL, *dst = NULL;
	char ids[HOSTS][STORE_ID_MAX];
	json_t *report = NULL;
	int failed_copies = 0, unchanged = 0;

	log_setup("test-store-copy", LOG_CRIT);
	mm_setup_jansson();
	if (tmpstore_init_at(&ts, NULL, NULL) < 0 || tmpstore_init(&tt, NULL) < 0)
		tap_skip_all("no temporary directory or database");
	tap_diag("sqlite -> %s", tmpstore_backend());
	if (!CHECK_INT(store_open(ts.url, &src), 0, "the source (SQLite) opens") ||
	    !CHECK_INT(store_open(tt.url, &dst), 0, "the target opens"))
		return tap_done();
	CHECK_INT(populate(src, ids), 0, "the source is populated");

	/* failures half-way through leave the target empty */
	for (unsigned long n = 1; n < 200000; n = n * 3 + 1) {
		int r;

		mm_fail_at(n, false);
		r = store_copy(src, dst, false, NULL);
		mm_fail_at(0, false);
		if (r >= 0)
			break;
		failed_copies++;
		if (host_total(dst) == 0)
			unchanged++;
	}
	CHECK(failed_copies > 3, "copies failed by allocation faults: %d", failed_copies);
	CHECK_INT(unchanged, failed_copies, "each left the target empty");
	if (host_total(dst) != 0) { /* the last one got through: start again */
		store_free(dst);
		tmpstore_remove(&tt);
		dst = NULL;
		if (tmpstore_init(&tt, NULL) < 0 || store_open(tt.url, &dst) < 0)
			return tap_done();
	}

	CHECK_INT(store_copy(src, dst, false, &report), 0, "the store is copied");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(report, "tables"), "inventory_changes")),
		  263, "the report counts the history rows (50 + i per host i, host 2 deleted)");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(report, "tables"), "events")),
		  (30 + 31 + 33 + 34 + 35 + 4), "and the events (none of the deleted host's)");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(report, "tables"), "event_gaps")),
		  1, "and the event chain's gaps");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(report, "tables"), "chain_evidence")),
		  6, "and its evidence (a row per host's unchained run, the altered event)");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(report, "tables"), "compliance_results")),
		  13, "and the results (none of the revoked or deleted hosts')");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(report, "tables"),
						     "collection_profiles")),
		  3, "and the collection profiles");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(report, "tables"), "compliance_changes")),
		  7, "and the status changes (the revoked host's too, not the deleted one's)");
	CHECK_INT(json_object_size(json_object_get(report, "hosts")), HOSTS,
		  "and has a digest for every host, the tombstone too");
	json_decref(report);
	CHECK_INT(compare_stores(src, dst, ids), 0,
		  "every listing, host, inventory, history, event and scorecard read is the same "
		  "on both");

	CHECK_INT(store_copy(src, dst, false, NULL), -ENOTEMPTY, "a non-empty target is refused");
	CHECK_INT(compare_stores(src, dst, ids), 0, "and left as it was");
	CHECK_INT(store_copy(src, dst, true, NULL), 0, "--force replaces what it holds");
	CHECK_INT(compare_stores(src, dst, ids), 0, "with the same copy");

	/* the copy goes on working as a store */
	{
		struct store_enroll_result res;
		struct store_host_auth auth;
		struct sign_log log = {0};
		json_t *ev = batch(25, 40), *d = inventory(45, 3, "tablet"), *old = NULL;
		json_t *delta = NULL, *h = NULL;
		char digest[STORE_DIGEST_HEX], g3[65];
		uint64_t acked = 0;
		size_t stored = 99, n;
		uint8_t hash[32];

		CHECK_INT(enroll_host(dst, "tok", NOW + 70, "pc-new", &log, &res), 0,
			  "the copied token enrols another host");
		CHECK_INT(res.verdict, STORE_TOKEN_OK, "with the uses it had left");
		mm_free(res.cert_pem);
		CHECK_INT(store_host_by_serial(dst, res.serial, &auth), 0, "its serial is known");
		CHECK_INT(store_host_get(src, ids[0], &h), 0, "a copied host");
		CHECK_INT(store_events_append(dst, ids[0], ev, NOW + 80, &acked, &stored), 0,
			  "an overlapping batch on the copy");
		CHECK_INT(stored, 10, "only the 10 new events are stored: seqs were copied");
		CHECK_INT(acked, 40, "acknowledged up to 40");
		{
			char h41[EVCHAIN_HEX], prev[EVCHAIN_HEX];
			struct store_ingest_result ir;
			json_t *b = json_array(), *list = NULL;

			memcpy(prev, head, EVCHAIN_HEX);
			(void) !evchain_link(head, 41, (int64_t) NOW * 1000 + 41, 5041,
					     "agent.test", "{}", h41);
			json_array_append_new(b, json_pack("{sisIsisss{}ssss}", "seq", 41, "time",
							   (json_int_t) NOW * 1000 + 41, "mono",
							   5041, "type", "agent.test", "data",
							   "prev", prev, "hash", h41));
			CHECK_INT(store_events_ingest(dst, ids[HOSTS - 1], b, NOW + 80, &ir), 0,
				  "a chained event after the copied ones");
			CHECK(ir.stored == 1 && ir.broken == 0 && ir.gaps == 0,
			      "links to the copied chain (stored %zu, broken %zu)", ir.stored,
			      ir.broken);
			CHECK_INT(store_host_events(dst, ids[HOSTS - 1], 40, NULL, 1, &list), 0,
				  "read it");
			CHECK_STR(json_string_value(json_object_get(
					  json_array_get(json_object_get(list, "events"), 0),
					  "chain")),
				  "ok", "and it verifies");
			json_decref(b);
			json_decref(list);
		}
		CHECK_INT(store_inventory_get(dst, ids[0], &old, digest), 0, "its inventory");
		CHECK_INT(invdiff_canonicalize(old), 0, "canonical");
		CHECK_INT(invdiff_compute(old, d, &delta), 0, "a delta from it");
		CHECK_INT(invdiff_digest(d, g3), 0, "digest");
		CHECK_INT(store_inventory_commit(dst, ids[0], digest, delta, g3, NOW + 90, &n), 0,
			  "commits on the copy: history ids carry on past the copied ones");
		sha256_of("api-1", hash);
		json_decref(h);
		h = NULL;
		CHECK_INT(store_api_token_check(dst, hash, NOW + 100, &h), 0,
			  "a copied API token works");
		CHECK_INT(store_audit_append(dst, NOW + 100, "at_x", "store.migrate", NULL, NULL,
					     NULL),
			  0, "the chain goes on");
		{
			_cleanup_(json_decrefp) json_t *none = json_array();
			struct store_policy p = {"all", "default block\n", none,        0,
						 NULL,  NOW + 100,         "token:at_x"};
			int64_t v = 0;

			CHECK_INT(store_policy_create(dst, &p, &v), 0, "a policy on the copy");
			CHECK_INT(v, 4, "takes the version after the copied ones");
		}
		{
			_cleanup_(json_decrefp) json_t *prof =
				json_pack("{s:s}", "profile", "detailed");
			struct store_collection p = {"all", prof,      "detailed",
						     NULL,  NOW + 100, "token:at_x"};
			int64_t v = 0;

			CHECK_INT(store_collection_create(dst, &p, &v), 0,
				  "a collection profile on the copy");
			CHECK_INT(v, 4, "takes the version after the copied ones");
		}
		json_decref(h);
		CHECK_INT(store_audit_list(dst, 1, 0, &h), 0, "and verifies");
		CHECK(json_is_true(json_object_get(h, "chain_ok")), "chain_ok");
		json_decref(h);
		CHECK_INT(score(dst, ids[0], 1, false, NOW + 2 * 86400), 0,
			  "results change on the copy: status-change ids carry on");
		CHECK_INT(store_compliance_history(dst, 0, &h), 0, "the history");
		CHECK_INT(json_array_size(json_object_get(h, "days")), 3,
			  "has the copied days and today's");
		json_decref(h);
		json_decref(ev);
		json_decref(d);
		json_decref(old);
		json_decref(delta);
	}
	/* and back: from PostgreSQL into SQLite */
	if (tmpstore_is_pg(&tt)) {
		struct tmpstore tb;
		struct store *back = NULL, *again = NULL;

		store_free(dst);
		dst = NULL;
		if (tmpstore_init_at(&tt, getenv("MAMORI_STORE_URL"), NULL) == 0 &&
		    tmpstore_init_at(&tb, NULL, NULL) == 0) {
			CHECK_INT(store_open(tt.url, &again), 0, "a second PostgreSQL store");
			CHECK_INT(store_copy(src, again, false, NULL), 0, "SQLite into it");
			CHECK_INT(store_open(tb.url, &back), 0, "a new SQLite store");
			CHECK_INT(store_copy(again, back, false, &report), 0,
				  "PostgreSQL copied into SQLite");
			CHECK_INT(json_integer_value(json_object_get(
					  json_object_get(report, "tables"), "attestations")),
				  2, "with the attestations");
			json_decref(report);
			CHECK_INT(compare_stores(src, back, ids), 0,
				  "it reads the same as the original source");
			store_free(again);
			store_free(back);
			tmpstore_remove(&tb);
		}
	}
	store_free(src);
	store_free(dst);
	tmpstore_remove(&ts);
	tmpstore_remove(&tt);
	return tap_done();
}
