/*
 * USB control in the store and the policy document built from it, with a fake clock (every
 * operation takes `now`), on SQLite and (through tests/pg-cluster.sh) PostgreSQL: policy versions
 * and scope precedence, the append-only history, the device registry written whole or not at all,
 * grants that leave the document when they expire or are revoked, and a document version that
 * changes exactly when the document does.
 */
#include <errno.h>

#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"
#include "tests/storetest.h"
#include "tests/tap.h"

#define NOW 1795650000

static struct tmpstore tmp;
static struct raw *raw;

static json_t *tags_of(const char *a, const char *b)
{
	json_t *t = json_array();

	if (a)
		json_array_append_new(t, json_string(a));
	if (b)
		json_array_append_new(t, json_string(b));
	return t;
}

static int64_t add_policy(struct store *st, const char *scope, const char *rules, const char *tag,
			  int64_t now)
{
	_cleanup_(json_decrefp) json_t *tags = tags_of(tag, NULL);
	struct store_policy p = {
		.scope = scope,
		.rules = rules,
		.tags = tags,
		.rule_count = 1,
		.comment = "test",
		.created = now,
		.created_by = "token:at_test",
	};
	int64_t v = -1;
	int r = store_policy_create(st, &p, &v);

	return r < 0 ? r : v;
}

static const char *str_at(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v) ? json_string_value(v) : "(none)";
}

/* The document of host at now, its version copied into ver (may be NULL). */
static json_t *doc_at(struct store *st, const char *host, int64_t now, char ver[64])
{
	json_t *doc = NULL;
	int r = policy_document(st, host, now, &doc, NULL);

	if (r < 0) {
		printf("# policy_document: %d\n", r);
		return NULL;
	}
	if (ver)
		(void) snprintf(ver, 64, "%s",
				json_string_value(json_object_get(doc, "version"))
					? json_string_value(json_object_get(doc, "version"))
					: "");
	return doc;
}

static void test_policies(struct store *st, const char *sales1, const char *sales2,
			  const char *lone)
{
	json_t *list = NULL, *one = NULL, *in = NULL;
	char why_host[80];

	CHECK_INT(add_policy(st, "all", "default allow\n", NULL, NOW), 1, "first version is 1");
	CHECK_INT(add_policy(st, "group:sales", "default block\n", NULL, NOW + 1), 2,
		  "the group's policy is version 2");
	(void) snprintf(why_host, sizeof(why_host), "host:%s", sales1);
	CHECK_INT(add_policy(st, why_host, "default read-only\n", NULL, NOW + 2), 3,
		  "a host's own policy is version 3");
	CHECK_INT(add_policy(st, "host:00000000-0000-4000-8000-000000000000", "default block\n",
			     NULL, NOW),
		  -ENOENT, "a policy for an unknown host: -ENOENT");
	CHECK_INT(add_policy(st, "galaxy", "default block\n", NULL, NOW), -EINVAL,
		  "a malformed scope: -EINVAL");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM policies"), 3, "three versions stored");

	CHECK_INT(store_policy_inputs(st, sales1, NOW + 3, true, &in), 0, "inputs of the host");
	CHECK_STR(str_at(in, "policy", "scope"), why_host, "its own policy wins");
	CHECK_INT(json_array_size(json_object_get(in, "candidates")), 3,
		  "all three scopes are candidates");
	json_decref(in);
	CHECK_INT(store_policy_inputs(st, sales2, NOW + 3, true, &in), 0,
		  "inputs of another sales host");
	CHECK_STR(str_at(in, "policy", "scope"), "group:sales", "its group's policy wins");
	CHECK_STR(str_at(in, "policy", "rules"), "default block\n", "with the group's rules");
	json_decref(in);
	CHECK_INT(store_policy_inputs(st, lone, NOW + 3, false, &in), 0,
		  "inputs of a host in no group");
	CHECK_STR(str_at(in, "policy", "scope"), "all", "the policy for all applies");
	json_decref(in);
	CHECK_INT(store_policy_inputs(st, "no-such-host", NOW, false, &in), -ENOENT,
		  "inputs of an unknown host: -ENOENT");

	CHECK_INT(add_policy(st, "all", "default block\n", NULL, NOW + 10), 4,
		  "a new version of all");
	CHECK_INT(store_policy_inputs(st, lone, NOW + 11, true, &in), 0, "the lone host again");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(in, "policy"), "version")), 4,
		  "gets the latest version of its scope");
	json_decref(in);

	CHECK_INT(store_policy_list(st, NULL, 100, 0, &list), 0, "list");
	CHECK_INT(json_array_size(json_object_get(list, "current")), 3, "three scopes are current");
	CHECK_STR(str_at(json_array_get(json_object_get(list, "current"), 0), "scope", NULL), "all",
		  "all first");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(list, "current"), 0), "version")),
		  4, "at version 4");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 4, "four versions in all");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(list, "history"), 0), "version")),
		  4, "history newest first");
	json_decref(list);
	CHECK_INT(store_policy_list(st, "all", 100, 0, &list), 0, "history of one scope");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 2, "two versions of all");
	json_decref(list);
	CHECK_INT(store_policy_get(st, 1, &one), 0, "version 1");
	CHECK(json_is_false(json_object_get(one, "current")), "is no longer current");
	CHECK_INT(json_integer_value(json_object_get(one, "superseded_by")), 4,
		  "superseded by version 4");
	json_decref(one);
	CHECK_INT(store_policy_get(st, 99, &one), -ENOENT, "an unknown version: -ENOENT");

	CHECK(raw_exec(raw, "UPDATE policies SET rules = 'default allow' WHERE version = 2") !=
		      SQLITE_OK,
	      "a version cannot be edited, even behind the store's back");
	CHECK(raw_exec(raw, "DELETE FROM policies WHERE version = 2") != SQLITE_OK, "nor deleted");
}

static void test_registry(struct store *st)
{
	_cleanup_(json_decrefp) json_t *t1 = tags_of("company-issued", "backup");
	_cleanup_(json_decrefp) json_t *t2 = tags_of("company-issued", NULL);
	_cleanup_(json_decrefp) json_t *t3 = tags_of(NULL, NULL);
	struct store_device devs[] = {
		{"SN-A", 0x0781, 0x5581, "taro", "backup stick", t1},
		{"SN-B", -1, -1, "hanako", NULL, t2},
		{"SN-C", 0x0951, 0x1666, "jiro", NULL, t3},
	};
	struct store_device dup[] = {
		{"SN-D", -1, -1, "x", NULL, t2},
		{"SN-D", -1, -1, "y", NULL, t2},
	};
	struct store_device_query q = {.limit = 0};
	size_t created = 0, updated = 0;
	json_t *list = NULL;

	CHECK_INT(store_devices_put(st, devs, 3, NOW, "token:at_test", &created, &updated), 0,
		  "three devices registered");
	CHECK_INT(created, 3, "three created");
	CHECK_INT(updated, 0, "none updated");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM device_tags"), 3, "three tag rows");
	devs[1].owner = "hanako-san";
	CHECK_INT(store_devices_put(st, &devs[1], 1, NOW + 5, "token:at_test", &created, &updated),
		  0, "one registered again");
	CHECK_INT(created, 0, "nothing created");
	CHECK_INT(updated, 1, "one replaced");
	CHECK_INT(store_devices_put(st, dup, 2, NOW, "token:at_test", &created, &updated), -EINVAL,
		  "a serial twice in one call: -EINVAL");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM devices"), 3, "and nothing of it stored");

	CHECK_INT(store_devices_list(st, &q, &list), 0, "list everything");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 3, "three devices");
	CHECK_STR(str_at(json_array_get(json_object_get(list, "devices"), 0), "vendor", NULL),
		  "0781", "ids as 4 hex digits");
	CHECK(json_is_null(json_object_get(json_array_get(json_object_get(list, "devices"), 1),
					   "vendor")),
	      "an unknown id is null");
	CHECK_STR(str_at(json_array_get(json_object_get(list, "devices"), 1), "owner", NULL),
		  "hanako-san", "the replacement is what is listed");
	json_decref(list);
	q.tag = "backup";
	CHECK_INT(store_devices_list(st, &q, &list), 0, "list by tag");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "one backup device");
	json_decref(list);
	q.tag = NULL;
	q.search = "jir";
	CHECK_INT(store_devices_list(st, &q, &list), 0, "search the owner");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "finds jiro's");
	json_decref(list);

	CHECK_INT(store_device_delete(st, "SN-C"), 0, "unregister SN-C");
	CHECK_INT(store_device_delete(st, "SN-C"), -ENOENT, "twice: -ENOENT");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM device_tags WHERE serial = 'SN-C'"), 0,
		  "its tags went with it");
}

static void test_document(struct store *st, const char *sales1, const char *sales2,
			  const char *lone)
{
	_cleanup_(json_decrefp) json_t *t = tags_of("company-issued", NULL);
	struct store_device dev = {"SN-E", -1, -1, "saburo", "secret note", t};
	struct store_grant g = {
		.serial = "SN-G",
		.host_id = sales2,
		.reason = "customer visit",
		.created = NOW + 100,
		.expires = NOW + 100 + 3600,
		.created_by = "token:at_test",
	};
	char id_host[STORE_ID_MAX], id_user[STORE_ID_MAX], v1[64], v2[64], v3[64], v4[64];
	json_t *doc, *list = NULL;
	char *text;

	CHECK_INT(add_policy(st, "group:sales",
			     "default block\nread-only class mass-storage tag company-issued\n",
			     "company-issued", NOW + 50),
		  5, "the group's policy names a registry tag");
	doc = doc_at(st, sales2, NOW + 60, v1);
	CHECK(doc != NULL, "a document for the sales host");
	CHECK(str_startswith(v1, "5-") && strlen(v1) == 14, "its version names the policy: %s", v1);
	CHECK_STR(str_at(doc, "rules_text", NULL),
		  "default block\nread-only class mass-storage tag company-issued\n",
		  "it carries the rules");
	CHECK_INT(json_array_size(json_object_get(doc, "registry")), 2,
		  "the two devices with that tag");
	text = jsonw_dump(doc);
	CHECK(text && !strstr(text, "backup") && !strstr(text, "taro") &&
		      !strstr(text, "backup stick"),
	      "only the tags the rules name travel: no other tags, owners or notes");
	mm_free(text);
	json_decref(doc);
	doc = doc_at(st, sales2, NOW + 61, v2);
	CHECK_STR(v2, v1, "the same state gives the same version");
	json_decref(doc);

	CHECK_INT(store_devices_put(st, &dev, 1, NOW + 70, "token:at_test", NULL, NULL), 0,
		  "a device registered with the tag");
	doc = doc_at(st, sales2, NOW + 71, v2);
	CHECK(strcmp(v1, v2) != 0 && str_startswith(v2, "5-"),
	      "changes the document's version, not the policy's");
	CHECK_INT(json_array_size(json_object_get(doc, "registry")), 3, "three devices now");
	json_decref(doc);

	CHECK_INT(store_grant_create(st, &g, id_host), 0, "a grant for the sales host");
	CHECK(str_startswith(id_host, "gr_"), "with a grant id");
	g.host_id = NULL;
	g.user = "hanako";
	g.serial = "SN-U";
	g.created = NOW + 101;
	g.expires = NOW + 101 + 7200;
	CHECK_INT(store_grant_create(st, &g, id_user), 0, "a grant for a user");
	g.user = NULL;
	g.host_id = "00000000-0000-4000-8000-000000000000";
	CHECK_INT(store_grant_create(st, &g, id_user + 0), -ENOENT,
		  "a grant for an unknown host: -ENOENT");
	g.host_id = sales2;
	g.expires = g.created;
	CHECK_INT(store_grant_create(st, &g, v4), -EINVAL, "a grant that is over at once: -EINVAL");

	doc = doc_at(st, sales2, NOW + 200, v3);
	CHECK(strcmp(v3, v2) != 0, "grants change the version");
	CHECK_INT(json_array_size(json_object_get(doc, "grants")), 2,
		  "the host's grant and the user's");
	{
		json_t *a = json_array_get(json_object_get(doc, "grants"), 0);
		json_t *b = json_array_get(json_object_get(doc, "grants"), 1);
		json_t *hg = json_object_get(a, "host") ? a : b, *ug = hg == a ? b : a;

		CHECK_STR(str_at(hg, "until", NULL), "2026-11-26T00:41:40Z", "until as UTC text");
		CHECK_STR(str_at(hg, "host", NULL), sales2,
			  "a host grant names the host by its id, as the agent matches it");
		CHECK(!json_object_get(hg, "user"), "and names no user");
		CHECK_STR(str_at(ug, "user", NULL), "hanako", "a user grant names the user");
	}
	json_decref(doc);
	doc = doc_at(st, sales1, NOW + 200, NULL);
	CHECK_INT(json_array_size(json_object_get(doc, "grants")), 1,
		  "another host gets only the user's grant");
	json_decref(doc);

	/* the host grant expires at NOW + 3700, the user's at NOW + 7301 */
	doc = doc_at(st, sales2, NOW + 100 + 3600, v4);
	CHECK_INT(json_array_size(json_object_get(doc, "grants")), 1,
		  "at its expiry the host's grant is gone from the document");
	CHECK(strcmp(v4, v3) != 0, "and the version changed, so the agent is sent it");
	json_decref(doc);
	CHECK_INT(store_grants_list(st, NOW + 100 + 3600, false, 100, 0, &list), 0,
		  "live grants then");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "one");
	json_decref(list);
	CHECK_INT(store_grants_list(st, NOW + 100 + 3600, true, 100, 0, &list), 0, "all grants");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 2, "two");
	CHECK_STR(str_at(json_array_get(json_object_get(list, "grants"), 1), "state", NULL),
		  "expired", "the host's is expired");
	CHECK_STR(str_at(json_array_get(json_object_get(list, "grants"), 1), "hostname", NULL),
		  "sales-2", "and names the host");
	json_decref(list);

	CHECK_INT(store_grant_revoke(st, id_user, NOW + 300, "token:at_x"), 0,
		  "revoke the user's grant");
	CHECK_INT(store_grant_revoke(st, id_user, NOW + 301, "token:at_y"), 0, "twice is fine");
	CHECK_INT(store_grant_revoke(st, "gr_nope", NOW, "token:at_y"), -ENOENT,
		  "an unknown grant: -ENOENT");
	doc = doc_at(st, sales1, NOW + 302, NULL);
	CHECK_INT(json_array_size(json_object_get(doc, "grants")), 0,
		  "a revoked grant leaves the document");
	json_decref(doc);
	CHECK_INT(store_grants_list(st, NOW + 302, true, 100, 0, &list), 0, "all grants");
	CHECK_STR(str_at(json_array_get(json_object_get(list, "grants"), 0), "revoked_by", NULL),
		  "token:at_x", "the first revocation is the one kept");
	json_decref(list);

	/* the version a check-in computes without the registry is the document's */
	{
		_cleanup_(json_decrefp) json_t *t2 = tags_of("unrelated", NULL);
		struct store_device other = {"SN-X", -1, -1, "x", NULL, t2};
		char cur[POLICY_VERSION_MAX], cur2[POLICY_VERSION_MAX], lone_v[POLICY_VERSION_MAX];

		CHECK_INT(policy_current(st, lone, NOW + 500, lone_v), 0,
			  "a host whose policy names no tag");

		doc = doc_at(st, sales2, NOW + 500, v1);
		json_decref(doc);
		CHECK_INT(policy_current(st, sales2, NOW + 500, cur), 0, "the current version");
		CHECK_STR(cur, v1, "is the document's, computed without reading the registry");
		CHECK_INT(store_devices_put(st, &other, 1, NOW + 501, "token:at_test", NULL, NULL),
			  0, "a device with a tag the rules do not name");
		CHECK_INT(policy_current(st, sales2, NOW + 502, cur2), 0, "the version then");
		CHECK_STR(cur2, cur, "is unchanged: the agent is sent nothing");
		dev.vendor = 0x0781;
		CHECK_INT(store_devices_put(st, &dev, 1, NOW + 503, "token:at_test", NULL, NULL), 0,
			  "a tagged device's vendor id changes");
		CHECK_INT(policy_current(st, sales2, NOW + 504, cur2), 0, "the version then");
		CHECK(strcmp(cur2, cur) != 0, "changes: %s → %s", cur, cur2);
		doc = doc_at(st, sales2, NOW + 504, v2);
		CHECK_STR(v2, cur2, "and is the new document's");
		json_decref(doc);
		(void) snprintf(cur, sizeof(cur), "%s", cur2);
		CHECK_INT(store_device_delete(st, "SN-E"), 0, "the tagged device is removed");
		CHECK_INT(policy_current(st, sales2, NOW + 505, cur2), 0, "the version then");
		CHECK(strcmp(cur2, cur) != 0, "changes again: %s → %s", cur, cur2);
		doc = doc_at(st, sales2, NOW + 505, v2);
		CHECK_INT(json_array_size(json_object_get(doc, "registry")), 2,
			  "and the document has one device fewer");
		json_decref(doc);
		CHECK_INT(policy_current(st, lone, NOW + 505, cur), 0, "the host without tags");
		CHECK_STR(cur, lone_v, "is not affected by any of it");
	}

	doc = doc_at(st, lone, NOW + 400, NULL);
	CHECK_INT(json_array_size(json_object_get(doc, "registry")), 0,
		  "the policy for all names no tag: no registry is sent");
	json_decref(doc);
}

static void test_no_policy(void)
{
	struct tmpstore t2;
	struct store *st = NULL;
	struct store_enroll_result res = {0};
	struct sign_log log = {0};
	char id[STORE_ID_MAX];
	json_t *doc = NULL, *in = NULL;
	char *why = NULL;

	if (tmpstore_init(&t2, NULL) < 0 || store_open(t2.url, &st) < 0) {
		CHECK(false, "a second store");
		return;
	}
	CHECK_INT(make_token(st, "tok", NOW - 10, NOW + 3600, 1, NULL, id), 0, "a token");
	CHECK_INT(enroll_host(st, "tok", NOW, "bare", &log, &res), 0, "a host");
	mm_free(res.cert_pem);
	CHECK_INT(policy_document(st, res.host_id, NOW, &doc, &in), 0, "no policy at all");
	CHECK(json_is_null(doc), "the document is null");
	CHECK_INT(policy_why(in, &why), 0, "and why says so");
	CHECK(why && strstr(why, "no policy applies"), "%s", why ? why : "(null)");
	mm_free(why);
	json_decref(doc);
	json_decref(in);
	store_free(st);
	tmpstore_remove(&t2);
}

int main(void)
{
	struct store *st = NULL;
	struct store_enroll_result res = {0};
	struct sign_log log = {0};
	char id[STORE_ID_MAX], sales1[STORE_ID_MAX], sales2[STORE_ID_MAX], lone[STORE_ID_MAX];

	log_setup("test-store-policy", LOG_ERR);
	mm_setup_jansson();
	if (tmpstore_init(&tmp, NULL) < 0)
		tap_skip_all("no temporary directory");
	if (!CHECK_INT(store_open(tmp.url, &st), 0, "a store opens"))
		return tap_done();
	raw = raw_open(&tmp);
	CHECK_INT(make_token(st, "tok-sales", NOW - 10, NOW + 3600, 2, "sales", id), 0,
		  "a token for sales");
	CHECK_INT(make_token(st, "tok-lone", NOW - 10, NOW + 3600, 1, NULL, id), 0,
		  "a token without group");
	CHECK_INT(enroll_host(st, "tok-sales", NOW, "sales-1", &log, &res), 0, "sales-1");
	memcpy(sales1, res.host_id, sizeof(sales1));
	mm_free(res.cert_pem);
	CHECK_INT(enroll_host(st, "tok-sales", NOW, "sales-2", &log, &res), 0, "sales-2");
	memcpy(sales2, res.host_id, sizeof(sales2));
	mm_free(res.cert_pem);
	CHECK_INT(enroll_host(st, "tok-lone", NOW, "lone", &log, &res), 0, "lone");
	memcpy(lone, res.host_id, sizeof(lone));
	mm_free(res.cert_pem);

	test_policies(st, sales1, sales2, lone);
	test_registry(st);
	test_document(st, sales1, sales2, lone);
	test_no_policy();

	store_free(st);
	raw_close(raw);
	tmpstore_remove(&tmp);
	return tap_done();
}
