/*
 * Collection profiles in the store and the policy built from them, on SQLite and (through
 * tests/pg-cluster.sh) PostgreSQL: versions and scope precedence (host over group over
 * all, the latest in a scope), the append-only history, listings, the profile in force
 * for a host, and the whole policy's version, which changes exactly when the USB document
 * or the profile in force does.
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

static int64_t add_profile(struct store *st, const char *scope, const char *json, int64_t now)
{
	_cleanup_(json_decrefp) json_t *profile = json_loads(json, 0, NULL);
	struct store_collection p = {
		.scope = scope,
		.profile = profile,
		.name = json_string_value(json_object_get(profile, "profile")),
		.comment = "test",
		.created = now,
		.created_by = "token:at_test",
	};
	int64_t v = -1;
	int r;

	if (!p.name)
		p.name = "standard";
	r = store_collection_create(st, &p, &v);
	return r < 0 ? r : v;
}

/* The version of the profile in force for host (0: none), its scope into scope. */
static int64_t in_force(struct store *st, const char *host, char scope[80])
{
	json_t *in = NULL, *first;
	int64_t v;
	int r = store_collection_inputs(st, host, false, &in);

	if (r < 0)
		return r;
	first = json_array_get(json_object_get(in, "candidates"), 0);
	v = json_integer_value(json_object_get(first, "version"));
	(void) snprintf(scope, 80, "%s",
			json_string_value(json_object_get(first, "scope"))
				? json_string_value(json_object_get(first, "scope"))
				: "");
	json_decref(in);
	return v;
}

static bool version_chars_ok(const char *v)
{
	return strlen(v) < POLICY_VERSION_MAX &&
	       strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
		       strlen(v);
}

static void test_profiles(struct store *st, const char *sales1, const char *sales2,
			  const char *lone)
{
	_cleanup_(json_decrefp) json_t *obj = json_object();
	struct store_collection bad = {"everyone", obj, "standard", NULL, NOW, "token:at_test"};
	char scope[80], host2[80];
	json_t *v = NULL, *row;
	int64_t all1, sales, own, all2, other;

	CHECK_INT(store_collection_create(st, &bad, &all1), -EINVAL, "a malformed scope refused");
	bad.scope = "all";
	bad.profile = NULL;
	CHECK_INT(store_collection_create(st, &bad, &all1), -EINVAL, "a profile must be an object");
	CHECK_INT(add_profile(st, "host:0000-no-such-host", "{}", NOW), -ENOENT,
		  "a profile for an unknown host refused");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM collection_profiles"), 0,
		  "nothing stored by the refused ones");
	CHECK_INT(in_force(st, lone, scope), 0, "no profile anywhere: none in force");

	all1 = add_profile(st, "all", "{\"profile\": \"minimal\"}", NOW);
	sales = add_profile(st, "group:sales", "{\"profile\": \"detailed\"}", NOW + 1);
	(void) snprintf(host2, sizeof(host2), "host:%s", sales2);
	own = add_profile(st, host2,
			  "{\"profile\": \"standard\", \"files\": {\"folders\": [\"/srv/share\"]}}",
			  NOW + 2);
	CHECK(all1 == 1 && sales == 2 && own == 3,
	      "versions 1, 2, 3: one sequence (%lld %lld %lld)", (long long) all1,
	      (long long) sales, (long long) own);

	CHECK_INT(in_force(st, lone, scope), all1, "a host in no group: the profile for all");
	CHECK_STR(scope, "all", "scope all");
	CHECK_INT(in_force(st, sales1, scope), sales, "a host in sales: its group's");
	CHECK_STR(scope, "group:sales", "scope group:sales");
	CHECK_INT(in_force(st, sales2, scope), own, "a host with its own: its own");
	CHECK_STR(scope, host2, "scope host:ID");

	CHECK_INT(store_collection_inputs(st, sales2, true, &v), 0, "the full inputs");
	CHECK_INT(json_array_size(json_object_get(v, "candidates")), 3,
		  "three candidates, most specific first");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(v, "candidates"), 2), "scope")),
		  "all", "all last");
	CHECK_STR(json_string_value(json_object_get(v, "group")), "sales", "the host's group");
	row = json_object_get(v, "profile");
	CHECK_STR(json_string_value(json_array_get(
			  json_object_get(json_object_get(json_object_get(row, "profile"), "files"),
					  "folders"),
			  0)),
		  "/srv/share", "the profile itself, as stored");
	CHECK_STR(json_string_value(json_object_get(row, "name")), "standard", "its name");
	json_decref(v);
	v = NULL;
	CHECK_INT(store_collection_inputs(st, sales2, false, &v), 0, "the inputs without it");
	CHECK(json_object_get(v, "profile") == NULL, "no profile read for a version check");
	json_decref(v);
	v = NULL;
	CHECK_INT(store_collection_inputs(st, "0000-no-such-host", false, &v), -ENOENT,
		  "an unknown host");

	/* the latest version of a scope is in force; the history keeps the older one */
	all2 = add_profile(st, "all", "{\"profile\": \"standard\"}", NOW + 3);
	CHECK_INT(in_force(st, lone, scope), all2, "a later profile for all is in force");
	CHECK_INT(in_force(st, sales1, scope), sales, "the group's still wins over it");
	other = add_profile(st, "group:marketing", "{\"profile\": \"minimal\"}", NOW + 4);
	CHECK_INT(in_force(st, sales1, scope), sales, "another group's changes nothing here");

	CHECK_INT(store_collection_list(st, NULL, 100, 0, &v), 0, "the list");
	CHECK_INT(json_array_size(json_object_get(v, "current")), 4,
		  "one current profile per scope");
	row = json_array_get(json_object_get(v, "current"), 0);
	CHECK(streq(json_string_value(json_object_get(row, "scope")), "all") &&
		      json_integer_value(json_object_get(row, "version")) == all2,
	      "all first, at its latest version");
	CHECK_INT(json_integer_value(json_object_get(v, "total")), 5, "five versions in all");
	row = json_array_get(json_object_get(v, "history"), 0);
	CHECK_INT(json_integer_value(json_object_get(row, "version")), other, "newest first");
	CHECK_STR(json_string_value(json_object_get(row, "created_by")), "token:at_test",
		  "who created it");
	CHECK_INT(json_integer_value(json_object_get(row, "created")), NOW + 4, "and when");
	json_decref(v);
	CHECK_INT(store_collection_list(st, "all", 1, 0, &v), 0, "one scope's history");
	CHECK(json_array_size(json_object_get(v, "history")) == 1 &&
		      json_integer_value(json_object_get(v, "total")) == 2,
	      "paged: 1 of its 2 versions");
	json_decref(v);
	CHECK_INT(store_collection_list(st, NULL, 0, 0, &v), -EINVAL, "limit 0 refused");

	CHECK_INT(store_collection_get(st, all1, &v), 0, "one version");
	CHECK(json_is_false(json_object_get(v, "current")) &&
		      json_integer_value(json_object_get(v, "superseded_by")) == all2,
	      "superseded by the next version of its scope");
	CHECK_STR(json_string_value(json_object_get(json_object_get(v, "profile"), "profile")),
		  "minimal", "with its profile");
	json_decref(v);
	CHECK_INT(store_collection_get(st, 999, &v), -ENOENT, "an unknown version");

	CHECK(raw_exec(raw, "UPDATE collection_profiles SET name = 'x' WHERE version = 1") != 0,
	      "a version is never changed");
	CHECK(raw_exec(raw, "DELETE FROM collection_profiles WHERE version = 1") != 0,
	      "or deleted");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM collection_profiles"), 5, "all five kept");
}

/* The whole policy: its version and the answer a check-in sends. */
static void test_policy(struct store *st, const char *sales1, const char *lone)
{
	char v1[POLICY_VERSION_MAX], v2[POLICY_VERSION_MAX], v3[POLICY_VERSION_MAX];
	char usb[POLICY_VERSION_MAX], again[POLICY_VERSION_MAX];
	_cleanup_(json_decrefp) json_t *tags = json_array();
	struct store_policy p = {"all", "default allow\n", tags, 1, NULL, NOW, "token:at_test"};
	json_t *ans = NULL, *view = NULL;
	int64_t pv = 0, cv;

	CHECK_INT(policy_combine_version("", 0, v1), 0, "nothing at all");
	CHECK_STR(v1, "", "no version");
	CHECK_INT(policy_combine_version("12-4f3a9c0b1d2e", 0, v1), 0, "USB only");
	CHECK_STR(v1, "12-4f3a9c0b1d2e", "the USB document's version, as before");
	CHECK_INT(policy_combine_version("12-4f3a9c0b1d2e", 7, v1), 0, "both");
	CHECK(str_startswith(v1, "12.7-") && strlen(v1) == strlen("12.7-") + 12 &&
		      version_chars_ok(v1),
	      "U.C-DIGEST12: %s", v1);
	CHECK_INT(policy_combine_version("12-4f3a9c0b1d2e", 7, v2), 0, "again");
	CHECK_STR(v2, v1, "a pure function");
	CHECK_INT(policy_combine_version("12-000000000000", 7, v2), 0, "another USB document");
	CHECK(!streq(v1, v2) && str_startswith(v2, "12.7-"), "same numbers, another digest: %s",
	      v2);
	CHECK_INT(policy_combine_version("", 9223372036854775807LL, v2), 0, "the largest");
	CHECK(version_chars_ok(v2), "still within the limit: %s", v2);

	/* only a collection profile: the host gets a policy */
	CHECK_INT(policy_current(st, lone, NOW + 10, v1), 0, "the current version");
	cv = in_force(st, lone, (char[80]){0});
	CHECK(str_startswith(v1, "0.") && version_chars_ok(v1),
	      "a host with only a collection profile has a policy: %s", v1);
	CHECK_INT(policy_answer(st, lone, NOW + 10, &ans), 0, "the check-in's policy");
	CHECK_STR(json_string_value(json_object_get(ans, "version")), v1,
		  "with the version a check-in compares");
	CHECK(json_object_get(ans, "usb") == NULL, "no USB part");
	CHECK_STR(json_string_value(json_object_get(json_object_get(ans, "collection"), "profile")),
		  "standard", "the profile in force for it");
	json_decref(ans);

	CHECK_INT(policy_current(st, lone, NOW + 20, again), 0, "later");
	CHECK_STR(again, v1, "the version holds while nothing changes");
	CHECK(add_profile(st, "group:marketing", "{\"profile\": \"detailed\"}", NOW + 21) > cv,
	      "a profile for another group");
	CHECK_INT(policy_current(st, lone, NOW + 22, again), 0, "then");
	CHECK_STR(again, v1, "changes nothing for this host");

	/* a USB policy joins: the version changes and leads with its number */
	CHECK_INT(store_policy_create(st, &p, &pv), 0, "a USB policy for all");
	CHECK_INT(policy_current(st, lone, NOW + 30, v2), 0, "the version then");
	CHECK(!streq(v1, v2), "changes with the USB part: %s -> %s", v1, v2);
	CHECK_INT(policy_answer(st, lone, NOW + 30, &ans), 0, "the answer then");
	snprintf(
		usb, sizeof(usb), "%s",
		json_string_value(json_object_get(json_object_get(ans, "usb"), "version"))
			? json_string_value(json_object_get(json_object_get(ans, "usb"), "version"))
			: "");
	CHECK(*usb && json_object_get(ans, "collection"), "holds both parts");
	CHECK(str_startswith(v2, "1.") && version_chars_ok(v2),
	      "the USB policy's number leads (E-4 read it so): %s", v2);
	CHECK_STR(json_string_value(json_object_get(ans, "version")), v2, "the same version");
	json_decref(ans);

	/* a new profile in force changes it again */
	cv = add_profile(st, "all", "{\"profile\": \"minimal\"}", NOW + 40);
	CHECK_INT(policy_current(st, lone, NOW + 41, v3), 0, "the version then");
	CHECK(!streq(v3, v2) && !streq(v3, v1), "changes with the profile: %s", v3);
	CHECK_INT(policy_current(st, sales1, NOW + 41, again), 0, "a sales host");
	CHECK(!streq(again, v3), "has another (its group's profile): %s", again);

	CHECK_INT(policy_collection_view(st, lone, &view), 0, "the host's collection view");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(view, "profile"), "version")),
		  cv, "the profile in force");
	CHECK(json_is_false(json_object_get(
		      json_object_get(json_object_get(view, "effective"), "process"), "enabled")),
	      "its settings as the agent applies them (minimal: no processes)");
	CHECK(strstr(json_string_value(json_object_get(view, "why")), "all hosts") != NULL,
	      "and why: %s", json_string_value(json_object_get(view, "why")));
	json_decref(view);
	CHECK_INT(policy_collection_view(st, "0000-nope", &view), -ENOENT, "an unknown host");
}

int main(void)
{
	struct store *st = NULL;
	struct store_enroll_result res = {0};
	struct sign_log log = {0};
	char id[STORE_ID_MAX], sales1[STORE_ID_MAX], sales2[STORE_ID_MAX], lone[STORE_ID_MAX];

	log_setup("test-store-collection", LOG_ERR);
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

	test_profiles(st, sales1, sales2, lone);
	test_policy(st, sales1, lone);

	store_free(st);
	raw_close(raw);
	tmpstore_remove(&tmp);
	return tap_done();
}
