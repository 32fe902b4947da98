/*
 * The store through its public interface (server/store.h), with a raw connection beside
 * it to check what the database really holds: migrations, tokens and enrolment verdicts,
 * certificate lookups, inventory commits written item by item, events stored once, the
 * audit chain and its tamper evidence, the admin's host queries, job locks, and two
 * handles on one database (two servers) doing what must happen exactly once.
 *
 * The same tests run against both backends: SQLite by default, PostgreSQL when
 * MAMORI_STORE_URL names a server (meson's store-pg test starts a throw-away cluster with
 * tests/pg-cluster.sh). Where the raw SQL differs, RAW_SQL picks the backend's; a few
 * checks only one backend has a reason for (WAL mode, partitions, trigram search) say so.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "server/store.h"
#include "tests/storetest.h"
#include "tests/tap.h"

#define NOW 1795650000

static struct tmpstore tmp;
static struct raw *raw;

static long long counts_sum(void)
{
	return raw_int(raw, "SELECT (SELECT count(*) FROM hosts) * 1000000 +"
			    " (SELECT count(*) FROM token_uses) * 1000 +"
			    " (SELECT count(*) FROM ca_serials) +"
			    " (SELECT sum(uses) FROM enroll_tokens) * 100000000");
}

static void test_open(void)
{
	struct store *st = NULL;
	int v = 0, first = 0;

	CHECK_INT(store_open(tmp.url, &st), 0, "a new store opens");
	CHECK_INT(store_schema_version(st, &first), 0, "schema version readable");
	/* SQLite: base, compliance, events, USB control, collection profiles; PostgreSQL:
	 * base, compliance, USB control, events, collection profiles */
	CHECK_INT(first, 5, "and at the latest version");
	st = store_free(st);
	CHECK_INT(store_open(tmp.url, &st), 0, "the store reopens");
	CHECK_INT(store_schema_version(st, &v), 0, "schema version readable again");
	CHECK_INT(v, first, "at the same version");
	st = store_free(st);

	raw = raw_open(&tmp);
	if (!CHECK(raw != NULL, "a raw connection opens the database"))
		return;
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM schema_version"), first,
		  "each migration ran once: reopening applies nothing");
	if (!raw_is_pg(raw)) {
		char mode[16];

		CHECK_STR(raw_text(raw, "PRAGMA journal_mode", mode, sizeof(mode)), "wal",
			  "the file is in WAL mode");
	}
	CHECK_INT(raw_exec(raw, "INSERT INTO schema_version VALUES (99, 0)"), SQLITE_OK,
		  "pretend a newer program migrated the database");
	CHECK_INT(store_open(tmp.url, &st), -EPROTO, "a newer schema is refused with -EPROTO");
	CHECK(st == NULL, "and nothing is returned");
	CHECK_INT(raw_exec(raw, "DELETE FROM schema_version WHERE version = 99"), SQLITE_OK,
		  "undo");

#if HAVE_POSTGRES
	CHECK_INT(store_open("postgresql:///nodb?host=/nonexistent&port=1", &st), -EIO,
		  "postgresql:// is built in: an unreachable server gives -EIO");
	CHECK_INT(store_open("postgres://db.example/x?readers=2", &st), -EINVAL,
		  "a SQLite parameter on a PostgreSQL URL is refused");
	CHECK_INT(store_open("postgres://db.example/x?pool=0", &st), -EINVAL, "pool=0 is refused");
	CHECK_INT(store_open("postgres://db.example/x?pool=65", &st), -EINVAL,
		  "pool=65 is refused");
	CHECK_INT(store_open("postgresql:///nodb?host=/nonexistent&port=1&colour=blue", &st), -EIO,
		  "a parameter neither mamori's nor libpq's is refused (by libpq)");
#else
	CHECK_INT(store_open("postgres://db.example/mamori", &st), -EPROTONOSUPPORT,
		  "postgres:// is recognised but not built in");
#endif
	CHECK_INT(store_open("mysql://x", &st), -EINVAL, "an unknown scheme is refused");
	CHECK_INT(store_open("sqlite:", &st), -EINVAL, "sqlite: needs a path");
	CHECK_INT(store_open("sqlite:/tmp/x.db?pool=2", &st), -EINVAL,
		  "a PostgreSQL parameter on a SQLite URL is refused");
	if (!tmpstore_is_pg(&tmp)) {
		char url[700];

		(void) snprintf(url, sizeof(url), "%s?vfs=nosuchvfs", tmp.url);
		CHECK_INT(store_open(url, &st), -EINVAL, "an unknown VFS is refused");
		(void) snprintf(url, sizeof(url), "%s?colour=blue", tmp.url);
		CHECK_INT(store_open(url, &st), -EINVAL, "an unknown parameter is refused");
		(void) snprintf(url, sizeof(url), "%s?readers=65", tmp.url);
		CHECK_INT(store_open(url, &st), -EINVAL, "too many readers are refused");
		(void) snprintf(url, sizeof(url), "%s?readers=0", tmp.url);
		CHECK_INT(store_open(url, &st), 0, "readers=0: everything on the writer");
		CHECK_INT(store_schema_version(st, &v), 0, "reads go through the writer");
		CHECK_INT(v, first, "and see the schema");
		st = store_free(st);
	}
}

static void test_api_tokens(struct store *st)
{
	uint8_t h1[32], h2[32], h3[32];
	char id[STORE_ID_MAX];
	json_t *who = NULL;
	size_t n = 99;

	sha256_of("at-secret-1", h1);
	sha256_of("at-secret-2", h2);
	sha256_of("at-secret-3", h3);
	CHECK_INT(store_api_token_count(st, &n), 0, "count API tokens");
	CHECK_INT(n, 0, "none at first: the server must bootstrap one");
	CHECK_INT(store_api_token_create(st, h1, "ops", "admin", NOW, 0, id), 0,
		  "an admin token is created");
	CHECK(strncmp(id, "at_", 3) == 0 && strlen(id) == 19, "with a short random id");
	CHECK_INT(store_api_token_create(st, h2, "audit", "auditor", NOW, NOW + 10, id), 0,
		  "an expiring auditor token is created");
	CHECK_INT(store_api_token_create(st, h3, "x", "root", NOW, 0, id), -EINVAL,
		  "an unknown role is refused");
	CHECK_INT(store_api_token_create(st, h1, "again", "admin", NOW, 0, id), -EEXIST,
		  "the same secret twice is refused");
	CHECK_INT(store_api_token_count(st, &n), 0, "count again");
	CHECK_INT(n, 2, "two tokens");
	CHECK_INT(store_api_token_check(st, h1, NOW + 5, &who), 0, "the admin token checks");
	CHECK_STR(json_string_value(json_object_get(who, "role")), "admin", "with its role");
	json_decref(who);
	who = NULL;
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM api_tokens WHERE last_used = 1795650005"), 1,
		  "and its use is recorded");
	CHECK_INT(store_api_token_check(st, h3, NOW, &who), -ENOENT, "an unknown token: -ENOENT");
	CHECK_INT(store_api_token_check(st, h2, NOW + 10, &who), -ENOENT,
		  "an expired token: -ENOENT");
	CHECK(who == NULL, "and nothing returned");
}

static void test_enrolment(struct store *st, char good_host[STORE_ID_MAX], uint64_t *good_serial)
{
	struct store_enroll_result res;
	struct sign_log log = {0};
	char id_ok[STORE_ID_MAX], id_rev[STORE_ID_MAX], id[STORE_ID_MAX];
	struct store_host_auth auth;
	json_t *list = NULL;
	long long before;

	CHECK_INT(make_token(st, "tok-good", NOW - 10, NOW + 3600, 2, "sales", id_ok), 0,
		  "a token for two hosts");
	CHECK_INT(make_token(st, "tok-expired", NOW - 100, NOW - 1, 5, NULL, id), 0,
		  "an expired token");
	CHECK_INT(make_token(st, "tok-revoked", NOW - 10, NOW + 3600, 5, NULL, id_rev), 0,
		  "a token to revoke");
	CHECK_INT(make_token(st, "tok-once", NOW - 10, NOW + 3600, 1, NULL, id), 0,
		  "a single-use token");
	CHECK_INT(make_token(st, "tok-bad", NOW, NOW, 1, NULL, id), -EINVAL,
		  "a token expiring when created is refused");
	CHECK_INT(store_enroll_token_revoke(st, id_rev, NOW - 5), 0, "revoke it");
	CHECK_INT(store_enroll_token_revoke(st, id_rev, NOW - 4), 0, "revoking twice is fine");
	CHECK_INT(store_enroll_token_revoke(st, "et_nope", NOW), -ENOENT,
		  "revoking an unknown token: -ENOENT");

	CHECK_INT(enroll_host(st, "tok-once", NOW, "first", &log, &res), 0, "single use");
	CHECK_INT(res.verdict, STORE_TOKEN_OK, "accepted");
	mm_free(res.cert_pem);

	before = counts_sum();
	log.calls = 0;
	CHECK_INT(enroll_host(st, "tok-unknown", NOW, "x", &log, &res), 0, "unknown token");
	CHECK_INT(res.verdict, STORE_TOKEN_UNKNOWN, "verdict unknown");
	CHECK_INT(enroll_host(st, "tok-expired", NOW, "x", &log, &res), 0, "expired token");
	CHECK_INT(res.verdict, STORE_TOKEN_EXPIRED, "verdict expired");
	CHECK_INT(enroll_host(st, "tok-revoked", NOW, "x", &log, &res), 0, "revoked token");
	CHECK_INT(res.verdict, STORE_TOKEN_REVOKED, "verdict revoked");
	CHECK_INT(enroll_host(st, "tok-once", NOW, "x", &log, &res), 0, "used-up token");
	CHECK_INT(res.verdict, STORE_TOKEN_USED, "verdict used");
	CHECK_INT(log.calls, 0, "no refused enrolment asked for a certificate");
	CHECK_INT(counts_sum(), before, "refused enrolments changed nothing");

	log.fail = -EACCES;
	CHECK_INT(enroll_host(st, "tok-good", NOW, "x", &log, &res), -EACCES,
		  "a signing failure aborts the enrolment with its error");
	CHECK_INT(counts_sum(), before, "and changed nothing (no use consumed, no host)");
	log.fail = 0;

	log.calls = 0;
	CHECK_INT(enroll_host(st, "tok-good", NOW, "pc-0042", &log, &res), 0, "a good enrolment");
	CHECK_INT(res.verdict, STORE_TOKEN_OK, "verdict ok");
	CHECK_INT(log.calls, 1, "sign called once");
	CHECK(log.serial == res.serial && res.serial != 0, "with the serial the host got");
	CHECK_STR(log.host_id, res.host_id, "for the new host's id");
	CHECK(strlen(res.host_id) == 36 && res.host_id[14] == '4', "a version 4 UUID");
	CHECK(res.cert_pem && strstr(res.cert_pem, res.host_id), "the certificate is returned");
	CHECK_INT(counts_sum(), before + 1000000 + 1000 + 1 + 100000000,
		  "one host, one use recorded, one serial, one use consumed");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM hosts WHERE group_name = 'sales'"
			       " AND hostname = 'pc-0042' AND cert_pem LIKE '-----BEGIN%'"),
		  1, "the host joined the token's group with its facts and certificate");
	memcpy(good_host, res.host_id, STORE_ID_MAX);
	*good_serial = res.serial;
	mm_free(res.cert_pem);

	CHECK_INT(enroll_host(st, "tok-good", NOW, "pc-0043", &log, &res), 0, "a second host");
	CHECK(res.serial != *good_serial, "gets a fresh serial");
	mm_free(res.cert_pem);
	CHECK_INT(enroll_host(st, "tok-good", NOW, "pc-0044", &log, &res), 0, "a third try");
	CHECK_INT(res.verdict, STORE_TOKEN_USED, "exceeds max_uses");

	CHECK_INT(store_host_by_serial(st, *good_serial, &auth), 0, "host by serial");
	CHECK_STR(auth.host_id, good_host, "finds the host");
	CHECK(!auth.revoked, "not revoked");
	CHECK_INT(store_host_by_serial(st, *good_serial ^ 1, &auth), -ENOENT,
		  "an unknown serial: -ENOENT");
	CHECK_INT(store_host_by_serial(st, UINT64_MAX, &auth), -ENOENT,
		  "a serial past 63 bits: -ENOENT");

	CHECK_INT(store_enroll_token_list(st, NOW, &list), 0, "list tokens");
	{
		json_t *tokens = json_object_get(list, "tokens"), *t;
		size_t i;
		int seen = 0;

		CHECK_INT(json_array_size(tokens), 4, "four tokens");
		json_array_foreach (tokens, i, t) {
			const char *tid = json_string_value(json_object_get(t, "id"));
			const char *state = json_string_value(json_object_get(t, "state"));

			if (streq(tid, id_ok)) {
				seen++;
				CHECK_STR(state, "used", "the two-host token is used up");
				CHECK_INT(json_array_size(json_object_get(t, "uses_detail")), 2,
					  "with two uses listed");
				CHECK_STR(json_string_value(json_object_get(
						  json_array_get(json_object_get(t, "uses_detail"),
								 0),
						  "remote")),
					  "192.0.2.1", "each with its remote address");
			} else if (streq(tid, id_rev)) {
				seen++;
				CHECK_STR(state, "revoked", "the revoked token says so");
			}
		}
		CHECK_INT(seen, 2, "both found");
	}
	json_decref(list);
}

static void test_checkin(struct store *st, const char *host)
{
	struct store_checkin_result res = {.acked_seq = 7};
	json_t *state = parse_json("{\"agent_version\":\"0.2.0\",\"policy_version\":0,"
				   "\"spool\":{\"depth\":3}}");
	json_t *h = NULL;

	CHECK_INT(store_checkin(st, host, NOW + 60, "198.51.100.7", state, &res), 0, "a check-in");
	CHECK_STR(res.inventory_digest, "", "no inventory yet");
	CHECK_INT(res.acked_seq, 0, "no events yet");
	CHECK(res.policy_changed, "the first check-in reports a policy version");
	{
		json_t *same = parse_json("{\"agent_version\":\"0.2.0\",\"policy_version\":0,"
					  "\"spool\":{\"depth\":9}}");
		json_t *moved = parse_json("{\"agent_version\":\"0.2.0\","
					   "\"policy_version\":\"4-0123456789ab\"}");

		CHECK_INT(store_checkin(st, host, NOW + 30, "198.51.100.7", same, &res), 0,
			  "a check-in with other spool figures");
		CHECK(!res.policy_changed, "leaves the policy version as it was");
		CHECK_INT(store_checkin(st, host, NOW + 40, "198.51.100.7", moved, &res), 0,
			  "a check-in with another policy version");
		CHECK(res.policy_changed, "moves it");
		CHECK_INT(store_checkin(st, host, NOW + 50, "198.51.100.7", moved, &res), 0,
			  "the same again");
		CHECK(!res.policy_changed, "moves nothing");
		CHECK(json_object_set_new(moved, "usb_policy_version",
					  json_string("4-0123456789ab")) == 0,
		      "(the USB document's version apart)");
		CHECK_INT(store_checkin(st, host, NOW + 55, "198.51.100.7", moved, &res), 0,
			  "a check-in reporting the USB document's version");
		CHECK(res.policy_changed, "moves it (E-4 reads that one)");
		CHECK_INT(store_checkin(st, host, NOW + 60, "198.51.100.7", state, &res), 0,
			  "back to none held");
		CHECK(res.policy_changed, "moves it back");
		json_decref(same);
		json_decref(moved);
	}
	CHECK_INT(store_checkin(st, "00000000-0000-4000-8000-000000000000", NOW, "x", state, &res),
		  -ENOENT, "an unknown host: -ENOENT");
	CHECK_INT(store_host_get(st, host, &h), 0, "host details");
	CHECK_INT(json_integer_value(json_object_get(h, "last_seen")), NOW + 60,
		  "last seen recorded");
	CHECK_STR(json_string_value(json_object_get(h, "last_remote")), "198.51.100.7",
		  "from where");
	CHECK_STR(json_string_value(json_object_get(h, "agent_version")), "0.2.0",
		  "the agent's version follows its check-ins");
	CHECK_INT(json_integer_value(json_object_get(
			  json_object_get(json_object_get(h, "state"), "spool"), "depth")),
		  3, "the reported state is kept");
	json_decref(h);
	json_decref(state);
}

static const char *inv1 =
	"{\"identity\":{\"hostname\":\"pc-0042\",\"chassis\":\"laptop\","
	"  \"dmi\":{\"serial\":\"SN-123\"}},"
	" \"os\":{\"id\":\"debian\",\"version_id\":\"12\"},"
	" \"software\":{\"packages\":["
	"   {\"manager\":\"dpkg\",\"name\":\"bash\",\"arch\":\"amd64\",\"version\":\"5.2\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"bsdutils\",\"arch\":\"amd64\",\"version\":\"1:2.38\","
	"    \"source\":\"util-linux\",\"source_version\":\"2.38\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"curl\",\"arch\":\"amd64\",\"version\":\"7.88\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"lib_x\",\"arch\":\"amd64\",\"version\":\"1\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"libx\",\"arch\":\"amd64\",\"version\":\"1\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"vim\",\"arch\":\"amd64\",\"version\":\"9.0\"}]}}";
static const char *inv2 =
	"{\"identity\":{\"hostname\":\"pc-0042\",\"chassis\":\"desktop\","
	"  \"dmi\":{\"serial\":\"SN-123\"}},"
	" \"os\":{\"id\":\"debian\",\"version_id\":\"12\"},"
	" \"software\":{\"packages\":["
	"   {\"manager\":\"dpkg\",\"name\":\"bash\",\"arch\":\"amd64\",\"version\":\"5.2\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"bsdutils\",\"arch\":\"amd64\",\"version\":\"1:2.38\","
	"    \"source\":\"util-linux\",\"source_version\":\"2.38\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"curl\",\"arch\":\"amd64\",\"version\":\"7.89\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"lib_x\",\"arch\":\"amd64\",\"version\":\"1\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"libx\",\"arch\":\"amd64\",\"version\":\"1\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"zsh\",\"arch\":\"amd64\",\"version\":\"5.9\"}]}}";

static char *digest_of(json_t *doc)
{
	char d[65];

	return invdiff_digest(doc, d) == 0 ? mm_strdup(d) : NULL;
}

#define INV_STATE_SQL(concat_digest, concat_chassis)                            \
	"SELECT (SELECT count(*) FROM inventory_items) || '/' ||"               \
	" (SELECT count(*) FROM inventory_changes) || '/' ||"                   \
	" (SELECT count(*) FROM software) || '/' ||"                            \
	" (SELECT " concat_digest " FROM hosts) || '/' ||"                      \
	" (SELECT sum(length(value) * changed) FROM inventory_items) || '/' ||" \
	" (SELECT " concat_chassis " FROM hosts)"
#define INV_STATE                                                               \
	RAW_SQL(raw,                                                            \
		INV_STATE_SQL("group_concat(inventory_digest)",                 \
			      "group_concat(coalesce(chassis, '-'))"),          \
		INV_STATE_SQL("string_agg(inventory_digest, ',' ORDER BY num)", \
			      "string_agg(coalesce(chassis, '-'), ',' ORDER BY num)"))

/* Where an item's row is, to tell whether it was rewritten. */
#define BASH_ROW                                                                      \
	RAW_SQL(raw, "SELECT rowid FROM inventory_items WHERE key LIKE '%\"bash\"%'", \
		"SELECT ctid::text || xmin::text FROM inventory_items"                \
		" WHERE key LIKE '%\"bash\"%'")

static void test_inventory(struct store *st, const char *host)
{
	json_t *empty = json_object(), *d1 = parse_json(inv1), *d2 = parse_json(inv2);
	json_t *delta = NULL, *got = NULL, *list = NULL;
	char *g1 = digest_of(d1), *g2 = digest_of(d2);
	char digest[STORE_DIGEST_HEX], before[512], after[512], bash_row[64], row[64];
	size_t changes = 0;

	CHECK_INT(store_inventory_get(st, host, &got, digest), 0, "an empty inventory reads");
	CHECK(json_is_object(got) && json_object_size(got) == 0, "as an empty object");
	CHECK_STR(digest, "", "with an empty digest");
	json_decref(got);
	got = NULL;

	CHECK_INT(invdiff_compute(empty, d1, &delta), 0, "delta from nothing");
	CHECK_INT(store_inventory_commit(st, host, "", delta, g1, NOW + 100, &changes), 0,
		  "a full inventory is committed");
	CHECK_INT(changes, 8, "8 items: 2 attributes + 6 packages");
	json_decref(delta);
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM inventory_items"), 8, "8 rows stored");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM inventory_changes WHERE op = 'added'"), 8,
		  "8 additions in the history");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM software WHERE source = 'util-linux'"
			       " AND source_version = '2.38'"),
		  1, "software rows carry the source package");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM software WHERE name = 'curl'"
			       " AND source = 'curl' AND source_version = '7.88'"),
		  1, "a package without a source is its own source");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM hosts WHERE serial_number = 'SN-123'"
			       " AND chassis = 'laptop'"),
		  1, "identity facts copied to the host");
	(void) raw_text(raw, BASH_ROW, bash_row, sizeof(bash_row));

	CHECK_INT(store_inventory_get(st, host, &got, digest), 0, "the inventory reads back");
	CHECK_STR(digest, g1, "with its digest");
	CHECK_INT(invdiff_canonicalize(got), 0, "canonical");
	CHECK_INT(invdiff_canonicalize(d1), 0, "canonical");
	CHECK(json_equal(got, d1), "rebuilt from items, it equals what was sent");
	json_decref(got);
	got = NULL;

	/* a delta: curl changed, vim removed, zsh added, chassis changed */
	CHECK_INT(invdiff_compute(d1, d2, &delta), 0, "a delta");
	CHECK_INT(store_inventory_commit(st, host, g1, delta, g2, NOW + 200, &changes), 0,
		  "the delta is committed");
	CHECK_INT(changes, 4, "4 changes");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM inventory_items WHERE changed = 1795650200"),
		  3, "only the changed and added items were written");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM inventory_items WHERE changed = 1795650100"),
		  5, "the other 5 items were not touched");
	CHECK_STR(raw_text(raw, BASH_ROW, row, sizeof(row)), bash_row,
		  "an unchanged item keeps its row");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM inventory_changes WHERE time = 1795650200"), 4,
		  "the history has exactly the 4 changes");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM inventory_changes WHERE time = 1795650200"
			       " AND ((op = 'removed' AND key LIKE '%vim%' AND new IS NULL)"
			       "   OR (op = 'added' AND key LIKE '%zsh%' AND old IS NULL)"
			       "   OR (op = 'changed' AND key LIKE '%curl%'"
			       "       AND old LIKE '%7.88%' AND new LIKE '%7.89%')"
			       "   OR (op = 'changed' AND section = 'identity' AND list = ''))"),
		  4, "each with its old and new values");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM software WHERE name IN ('vim')"), 0,
		  "the removed package left the software view");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM software WHERE name = 'curl'"
			       " AND version = '7.89' AND source_version = '7.89'"),
		  1, "the changed package is updated there");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM hosts WHERE chassis = 'desktop'"), 1,
		  "the chassis follows the identity item");
	CHECK_INT(store_inventory_get(st, host, &got, digest), 0, "read back");
	CHECK_INT(invdiff_canonicalize(got), 0, "canonical");
	CHECK_INT(invdiff_canonicalize(d2), 0, "canonical");
	CHECK(json_equal(got, d2), "equals the new document");
	CHECK_STR(digest, g2, "with the new digest");
	json_decref(got);
	got = NULL;

	/* stale base: the same delta again */
	(void) raw_text(raw, INV_STATE, before, sizeof(before));
	CHECK_INT(store_inventory_commit(st, host, g1, delta, "x", NOW + 300, &changes), -ESTALE,
		  "a delta against an old digest: -ESTALE");
	CHECK_STR(raw_text(raw, INV_STATE, after, sizeof(after)), before, "nothing changed");
	json_decref(delta);

	/* a misfit: a good change, then removing something that is not there */
	delta = parse_json(
		"{\"os\":{\"changed\":[{\"old\":{\"id\":\"debian\",\"version_id\":\"12\"},"
		"  \"new\":{\"id\":\"debian\",\"version_id\":\"13\"}}]},"
		" \"software\":{\"removed\":[{\"list\":\"packages\","
		"  \"key\":[\"dpkg\",\"emacs\",\"amd64\"],\"old\":{\"name\":\"emacs\"}}]}}");
	CHECK_INT(store_inventory_commit(st, host, g2, delta, "x", NOW + 300, &changes), -EBADMSG,
		  "removing a missing item: -EBADMSG");
	CHECK_STR(raw_text(raw, INV_STATE, after, sizeof(after)), before,
		  "nothing changed, not even the good part");
	json_decref(delta);
	delta = parse_json(
		"{\"software\":{\"added\":[{\"list\":\"packages\","
		"  \"key\":[\"dpkg\",\"bash\",\"amd64\"],\"value\":{\"name\":\"bash\"}}]}}");
	CHECK_INT(store_inventory_commit(st, host, g2, delta, "x", NOW + 300, &changes), -EBADMSG,
		  "adding an item that exists: -EBADMSG");
	json_decref(delta);
	delta = parse_json("{\"software\":{\"changed\":[{\"list\":\"packages\","
			   "  \"key\":[\"dpkg\",\"bash\",\"amd64\"],\"old\":{\"name\":\"bash\"},"
			   "  \"new\":{\"name\":\"bash\",\"version\":\"6\"}}]}}");
	CHECK_INT(store_inventory_commit(st, host, g2, delta, "x", NOW + 300, &changes), -EBADMSG,
		  "changing an item whose old value differs: -EBADMSG");
	json_decref(delta);
	delta = parse_json("{\"software\":{\"added\":[{\"list\":\"nolist\",\"key\":[1],"
			   "  \"value\":{}}]}}");
	CHECK_INT(store_inventory_commit(st, host, g2, delta, "x", NOW + 300, &changes), -EBADMSG,
		  "an unknown list: -EBADMSG");
	json_decref(delta);
	CHECK_STR(raw_text(raw, INV_STATE, after, sizeof(after)), before, "still nothing changed");

	/* the admin's views */
	CHECK_INT(store_host_software(st, host, "lib_", 10, 0, &list), 0, "software search");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1,
		  "'_' is a literal, not a wildcard");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(list, "packages"), 0), "name")),
		  "lib_x", "the package found");
	json_decref(list);
	CHECK_INT(store_host_software(st, host, NULL, 2, 1, &list), 0, "software page 2");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 6, "6 packages in all");
	CHECK_INT(json_array_size(json_object_get(list, "packages")), 2, "2 on the page");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(list, "packages"), 0), "name")),
		  "bsdutils", "sorted by name");
	json_decref(list);
	CHECK_INT(store_host_history(st, host, NOW + 200, 100, 0, &list), 0, "history since");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 4, "the 4 latest changes");
	CHECK(json_is_array(json_object_get(json_array_get(json_object_get(list, "changes"), 0),
					    "key")) ||
		      json_is_null(json_object_get(
			      json_array_get(json_object_get(list, "changes"), 0), "key")),
	      "keys are JSON again");
	json_decref(list);
	CHECK_INT(store_host_history(st, host, 0, 100, 0, &list), 0, "all history");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 12, "8 + 4 changes");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(list, "changes"), 0), "time")),
		  NOW + 200, "newest first");
	json_decref(list);

	json_decref(empty);
	json_decref(d1);
	json_decref(d2);
	mm_free(g1);
	mm_free(g2);
}

static json_t *batch(int from, int to)
{
	json_t *a = json_array();

	for (int s = from; s <= to; s++)
		json_array_append_new(a, json_pack("{sisIsss{si}}", "seq", s, "time",
						   (json_int_t) NOW * 1000 + s, "type",
						   "agent.test", "data", "n", s));
	return a;
}

static void test_events(struct store *st, const char *host)
{
	json_t *b = batch(1, 10), *list = NULL;
	uint64_t acked = 0;
	size_t stored = 0;
	struct store_checkin_result cr;

	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), 0, "a batch of 10");
	CHECK_INT(stored, 10, "10 stored");
	CHECK_INT(acked, 10, "acked up to 10");
	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), 0, "the same again");
	CHECK_INT(stored, 0, "nothing stored twice");
	CHECK_INT(acked, 10, "the same acknowledgement");
	json_decref(b);
	b = batch(6, 15);
	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), 0, "overlapping 6..15");
	CHECK_INT(stored, 5, "only 11..15 are new");
	CHECK_INT(acked, 15, "acked up to 15");
	json_decref(b);
	b = batch(3, 4);
	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), 0, "an old batch");
	CHECK_INT(acked, 15, "does not lower the acknowledgement");
	json_decref(b);
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events"), 15, "15 rows");

	b = batch(16, 18);
	json_array_append_new(
		b, json_pack("{sisIss}", "seq", 0, "time", (json_int_t) 1, "type", "bad"));
	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), -EINVAL,
		  "a batch with an invalid event is refused");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events"), 15, "as a whole");
	json_decref(b);
	b = batch(16, 1016);
	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), -E2BIG,
		  "a batch of 1,001 events is refused");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events"), 15, "nothing stored");
	json_decref(b);

	b = parse_json("[{\"seq\":20,\"time\":1,\"type\":\"agent.spool_evicted\","
		       "  \"data\":{\"count\":3},\"user\":\"alice\"}]");
	CHECK_INT(store_events_append(st, host, b, NOW, &acked, &stored), 0,
		  "an event after a gap");
	CHECK_INT(acked, 20, "acked up to 20");
	json_decref(b);
	CHECK_INT(store_checkin(st, host, NOW, "x", NULL, &cr), 0, "check-in");
	CHECK_INT(cr.acked_seq, 20, "reports the acknowledgement");

	CHECK_INT(store_host_events(st, host, 12, NULL, 3, &list), 0, "events after 12");
	CHECK_INT(json_array_size(json_object_get(list, "events")), 3, "3 of them");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(list, "events"), 0), "seq")),
		  13, "from 13, in order");
	CHECK_INT(json_integer_value(json_object_get(list, "acked_seq")), 20, "acked_seq 20");
	json_decref(list);
	CHECK_INT(store_host_events(st, host, 19, NULL, 10, &list), 0, "events after 19");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(list, "events"), 0), "user")),
		  "alice", "members beyond seq/time/type/data are kept");
	json_decref(list);
	CHECK_INT(store_host_events(st, host, 0, "agent.spool_evicted", 10, &list), 0,
		  "events of one type");
	CHECK_INT(json_array_size(json_object_get(list, "events")), 1, "only the one of that type");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(list, "events"), 0), "seq")),
		  20, "seq 20");
	json_decref(list);
	b = batch(1, 1);
	CHECK_INT(store_events_append(st, "no-such-host", b, NOW, &acked, &stored), -ENOENT,
		  "events for an unknown host: -ENOENT");
	json_decref(b);
}

static void test_audit(struct store *st)
{
	json_t *list = NULL, *details = json_pack("{ss}", "reason", "lost laptop");

	CHECK_INT(store_audit_list(st, 10, 0, &list), 0, "an empty trail lists");
	CHECK(json_is_true(json_object_get(list, "chain_ok")), "and is intact");
	json_decref(list);
	CHECK_INT(store_audit_append(st, NOW, "at_1", "token.create", "et_1", NULL, "127.0.0.1"), 0,
		  "append 1");
	CHECK_INT(store_audit_append(st, NOW + 1, "at_1", "host.revoke", "h1", details, NULL), 0,
		  "append 2");
	CHECK_INT(store_audit_append(st, NOW + 2, "at_2", "host.delete", "h2", NULL, "::1"), 0,
		  "append 3");
	CHECK_INT(store_audit_list(st, 2, 0, &list), 0, "list");
	CHECK(json_is_true(json_object_get(list, "chain_ok")), "the chain verifies");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 3, "3 records");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(list, "records"), 0), "action")),
		  "host.delete", "newest first");
	CHECK_INT(json_array_size(json_object_get(list, "records")), 2, "paged");
	json_decref(list);

	CHECK(raw_exec(raw, "UPDATE audit SET actor = 'mallory' WHERE id = 2") != SQLITE_OK,
	      "the table refuses updates");
	CHECK_INT(raw_exec(raw, RAW_SQL(raw, "DROP TRIGGER audit_no_update;",
					"DROP TRIGGER audit_no_update ON audit;")),
		  SQLITE_OK, "drop the trigger behind the store's back");
	CHECK_INT(raw_exec(raw, "UPDATE audit SET actor = 'mallory' WHERE id = 2"), SQLITE_OK,
		  "tamper behind the store's back");
	CHECK_INT(store_audit_list(st, 10, 0, &list), 0, "list after tampering");
	CHECK(json_is_false(json_object_get(list, "chain_ok")), "the chain is reported broken");
	json_decref(list);
	CHECK_INT(raw_exec(raw, "UPDATE audit SET actor = 'at_1' WHERE id = 2"), SQLITE_OK,
		  "undo the tampering");
	CHECK_INT(store_audit_list(st, 10, 0, &list), 0, "list");
	CHECK(json_is_true(json_object_get(list, "chain_ok")), "intact again");
	json_decref(list);
	CHECK_INT(raw_exec(raw, RAW_SQL(raw, "DROP TRIGGER audit_no_delete;",
					"DROP TRIGGER audit_no_delete ON audit;")),
		  SQLITE_OK, "drop the other trigger");
	CHECK_INT(raw_exec(raw, "DELETE FROM audit WHERE id = 2"), SQLITE_OK, "remove a record");
	CHECK_INT(store_audit_list(st, 10, 0, &list), 0, "list");
	CHECK(json_is_false(json_object_get(list, "chain_ok")), "a removal breaks the chain");
	json_decref(list);
	json_decref(details);
}

static const char *first_hostname(json_t *list)
{
	return json_string_value(
		json_object_get(json_array_get(json_object_get(list, "hosts"), 0), "hostname"));
}

static void test_hosts(struct store *st)
{
	struct store_host_query q = {.limit = 5};
	struct store_enroll_result res;
	struct sign_log log = {0};
	char id[STORE_ID_MAX], lab_id[STORE_ID_MAX] = "";
	struct store_host_auth auth;
	json_t *list = NULL;
	size_t before_total;

	CHECK_INT(make_token(st, "tok-fleet", NOW, NOW + 3600, 100, "fleet", id), 0, "fleet token");
	for (int i = 0; i < 12; i++) {
		char name[16];

		(void) snprintf(name, sizeof(name), "ws-%02d", 11 - i);
		if (enroll_host(st, "tok-fleet", NOW + i, name, &log, &res) == 0)
			mm_free(res.cert_pem);
	}
	CHECK_INT(enroll_host(st, "tok-fleet", NOW + 20, "lab_1", &log, &res), 0, "lab_1");
	memcpy(lab_id, res.host_id, sizeof(lab_id));
	mm_free(res.cert_pem);
	CHECK_INT(enroll_host(st, "tok-fleet", NOW + 21, "lab%2", &log, &res), 0, "lab%2");
	mm_free(res.cert_pem);
	CHECK_INT(enroll_host(st, "tok-fleet", NOW + 22, "labx3", &log, &res), 0, "labx3");
	mm_free(res.cert_pem);

	CHECK_INT(store_hosts_list(st, &q, &list), 0, "list hosts");
	before_total = (size_t) json_integer_value(json_object_get(list, "total"));
	CHECK_INT(before_total, 18, "18 hosts (3 from before)");
	CHECK_INT(json_array_size(json_object_get(list, "hosts")), 5, "5 on a page");
	CHECK_STR(first_hostname(list), "first", "sorted by hostname");
	json_decref(list);
	q.offset = 15;
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "the last page");
	CHECK_INT(json_array_size(json_object_get(list, "hosts")), 3, "3 left");
	CHECK_STR(first_hostname(list), "ws-09", "ws-09 to ws-11 close the list");
	json_decref(list);
	q.offset = 0;
	q.descending = true;
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "descending");
	CHECK_STR(first_hostname(list), "ws-11", "ws-11 first");
	json_decref(list);
	q.sort = "enrolled";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "by enrolment, newest first");
	CHECK_STR(first_hostname(list), "labx3", "labx3 enrolled last");
	json_decref(list);
	q.descending = false;
	q.sort = "hostname; DROP TABLE hosts";
	CHECK_INT(store_hosts_list(st, &q, &list), -EINVAL, "an unknown sort is refused");
	q.sort = "last_seen";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "by last seen");
	json_decref(list);
	q.sort = NULL;
	q.search = "_";
	q.limit = 100;
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "search '_'");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "only lab_1: '_' escaped");
	json_decref(list);
	q.search = "%";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "search '%'");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "only lab%2: '%' escaped");
	json_decref(list);
	q.search = "LAB";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "search 'LAB'");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 3, "case-insensitive");
	json_decref(list);
	q.search = "SN-123";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "search by serial number");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "finds pc-0042");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(list, "hosts"), 0), "chassis")),
		  "desktop", "with its chassis");
	json_decref(list);
	q.search = lab_id;
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "search by id");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "finds it");
	json_decref(list);
	q.search = NULL;
	q.group = "fleet";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "group filter");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 15, "15 in fleet");
	json_decref(list);
	q.group = NULL;

	CHECK_INT(store_host_revoke(st, lab_id, NOW + 30), 0, "revoke lab_1");
	CHECK_INT(store_host_revoke(st, "no-such-host", NOW), -ENOENT, "unknown: -ENOENT");
	q.status = "revoked";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "revoked hosts");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 1, "one");
	CHECK(json_is_true(json_object_get(json_array_get(json_object_get(list, "hosts"), 0),
					   "revoked")),
	      "flagged revoked");
	json_decref(list);
	q.status = "active";
	CHECK_INT(store_hosts_list(st, &q, &list), 0, "active hosts");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), 17, "the 17 others");
	json_decref(list);
	q.status = "sleeping";
	CHECK_INT(store_hosts_list(st, &q, &list), -EINVAL, "an unknown status is refused");
	q.status = NULL;
	q.limit = 0;
	CHECK_INT(store_hosts_list(st, &q, &list), -EINVAL, "limit 0 is refused");
	q.limit = 1001;
	CHECK_INT(store_hosts_list(st, &q, &list), -EINVAL, "limit past 1000 is refused");
	q.limit = 100;
	{
		long long serial = 0;
		char sql[128];

		(void) snprintf(sql, sizeof(sql), "SELECT cert_serial FROM hosts WHERE id = '%s'",
				lab_id);
		serial = raw_int(raw, sql);
		CHECK_INT(store_host_by_serial(st, (uint64_t) serial, &auth), 0, "lookup");
		CHECK(auth.revoked, "a revoked host's certificate is flagged");
	}
}

static void test_delete(struct store *st, const char *host, uint64_t serial)
{
	struct store_host_auth auth;
	json_t *h = NULL;
	struct store_checkin_result cr;

	CHECK_INT(store_host_delete(st, host, NOW + 40), 0, "delete a host");
	CHECK_INT(raw_int(raw, "SELECT (SELECT count(*) FROM events) + "
			       "(SELECT count(*) FROM inventory_items) + "
			       "(SELECT count(*) FROM inventory_changes) + "
			       "(SELECT count(*) FROM software)"),
		  0, "everything stored for it is gone");
	CHECK_INT(store_host_get(st, host, &h), -ENOENT, "it is not found any more");
	CHECK_INT(store_checkin(st, host, NOW, "x", NULL, &cr), -ENOENT, "it cannot check in");
	CHECK_INT(store_host_by_serial(st, serial, &auth), 0, "its certificate is still known");
	CHECK(auth.revoked, "as revoked");
	CHECK_INT(store_host_delete(st, host, NOW + 41), -ENOENT, "deleting twice: -ENOENT");
	if (raw_is_pg(raw))
		CHECK_INT(raw_int(raw, "SELECT count(*) FROM event_seqs"), 0,
			  "its events' idempotency keys are gone too");
}

struct worker {
	struct store *st;
	char host[STORE_ID_MAX];
	int n;
	int failures;
};

static void *writer_thread(void *p)
{
	struct worker *w = p;

	for (int i = 0; i < w->n; i++) {
		json_t *b = batch(i * 50 + 1, i * 50 + 50);
		uint64_t acked;
		size_t stored;

		if (store_events_append(w->st, w->host, b, NOW, &acked, &stored) < 0 ||
		    stored != 50 || acked != (uint64_t) (i * 50 + 50))
			w->failures++;
		json_decref(b);
	}
	return NULL;
}

static void *reader_thread(void *p)
{
	struct worker *w = p;
	struct store_host_query q = {.limit = 100};

	for (int i = 0; i < w->n; i++) {
		json_t *list = NULL;
		struct store_host_auth auth;

		if (store_hosts_list(w->st, &q, &list) < 0 ||
		    json_integer_value(json_object_get(list, "total")) < 16)
			w->failures++;
		json_decref(list);
		if (store_host_by_serial(w->st, 1, &auth) != -ENOENT)
			w->failures++;
	}
	return NULL;
}

static void test_threads(struct store *st)
{
	struct worker w[6];
	pthread_t t[6];
	struct sign_log log = {0};
	struct store_enroll_result res;
	int failures = 0;

	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){.st = st, .n = 20};
		if (i < 4 && enroll_host(st, "tok-fleet", NOW, "thread", &log, &res) == 0) {
			memcpy(w[i].host, res.host_id, sizeof(w[i].host));
			mm_free(res.cert_pem);
		}
		(void) pthread_create(&t[i], NULL, i < 4 ? writer_thread : reader_thread, &w[i]);
	}
	for (int i = 0; i < 6; i++) {
		(void) pthread_join(t[i], NULL);
		failures += w[i].failures;
	}
	CHECK_INT(failures, 0, "4 writer and 2 reader threads at once: every call succeeded");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events"), 4 * 20 * 50,
		  "every event stored once");
}

static void test_jobs(void)
{
	struct store *a = NULL, *b = NULL;
	bool held = false;
	pid_t pid;
	int status = 0;

	CHECK_INT(store_open(tmp.url, &a), 0, "server A opens the store");
	CHECK_INT(store_open(tmp.url, &b), 0, "server B opens the same store");
	if (!a || !b)
		goto out;
	CHECK_INT(store_job_try_lock(a, "Bad Name", &held), -EINVAL, "a bad job name: -EINVAL");
	CHECK_INT(store_job_try_lock(a, "", &held), -EINVAL, "an empty job name: -EINVAL");
	CHECK_INT(store_job_unlock(a, "retention"), -ENOENT, "unlocking what is not held: -ENOENT");
	CHECK_INT(store_job_try_lock(a, "retention", &held), 0, "A tries the retention job");
	CHECK(held, "A holds it");
	held = true;
	CHECK_INT(store_job_try_lock(a, "retention", &held), 0, "A tries it again");
	CHECK(!held, "a handle does not get a job it already runs");
	CHECK_INT(store_job_try_lock(b, "retention", &held), 0, "B tries it");
	if (raw_is_pg(raw)) {
		CHECK(!held, "postgres: B does not get a job A runs");
		CHECK_INT(store_job_try_lock(b, "vuln-match", &held), 0, "B tries another job");
		CHECK(held, "and gets that one");
		CHECK_INT(store_job_unlock(b, "vuln-match"), 0, "B releases it");
		CHECK_INT(store_job_unlock(a, "retention"), 0, "A releases retention");
		CHECK_INT(store_job_try_lock(b, "retention", &held), 0, "B tries again");
		CHECK(held, "B gets it once A let go");
		/* B dies without unlocking: its session ends and PostgreSQL frees the lock */
		b = store_free(b);
		CHECK_INT(store_job_try_lock(a, "retention", &held), 0, "A tries after B closed");
		CHECK(held, "A gets it: a closed handle holds nothing");
		CHECK_INT(store_job_unlock(a, "retention"), 0, "A releases it");
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			struct store *c = NULL;
			bool h = false;

			/* a server that takes the lock and crashes: no unlock, no store_free */
			if (store_open(tmp.url, &c) < 0 ||
			    store_job_try_lock(c, "retention", &h) < 0 || !h)
				_exit(1);
			_exit(0);
		}
		(void) waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "a child server took the lock and died holding it");
		held = false;
		for (int i = 0; i < 50 && !held; i++) {
			if (store_job_try_lock(a, "retention", &held) < 0)
				break;
			if (!held)
				(void) usleep(100 * 1000);
		}
		CHECK(held, "the dead server's lock was freed with its session");
	} else {
		CHECK(held, "sqlite: one server at a time: B is granted too");
		CHECK_INT(store_job_unlock(b, "retention"), 0, "B releases it");
		CHECK_INT(store_job_unlock(a, "retention"), 0, "A releases it");
	}
	for (int i = 0; i < STORE_JOBS_MAX; i++) {
		char name[16];

		(void) snprintf(name, sizeof(name), "job-%d", i);
		(void) !store_job_try_lock(a, name, &held);
	}
	CHECK_INT(store_job_try_lock(a, "one-too-many", &held), -E2BIG,
		  "more job locks than STORE_JOBS_MAX at once: -E2BIG");
	CHECK_INT(store_maintain(a, NOW), 0, "store_maintain runs");
	if (raw_is_pg(raw))
		CHECK_INT(raw_int(raw, "SELECT count(*) FROM pg_class"
				       " WHERE relname IN ('events_202611', 'events_202612')"),
			  2, "postgres: it made this month's and next month's event partitions");
out:
	store_free(a);
	store_free(b);
}

/* Two handles on one database, as two servers behind a load balancer. */
struct server_thread {
	struct store *st;
	int enrolled, refused, audit_fail;
};

static void *server_main(void *p)
{
	struct server_thread *t = p;
	struct sign_log log = {0};

	for (int i = 0; i < 10; i++) {
		struct store_enroll_result res;

		if (enroll_host(t->st, "tok-race", NOW, "race", &log, &res) == 0 &&
		    res.verdict == STORE_TOKEN_OK) {
			t->enrolled++;
			mm_free(res.cert_pem);
		} else {
			t->refused++;
		}
		if (store_audit_append(t->st, NOW, "race", "test.race", NULL, NULL, NULL) < 0)
			t->audit_fail++;
	}
	return NULL;
}

static void test_two_servers(struct store *st)
{
	struct server_thread t[4] = {{.st = NULL}};
	pthread_t th[4];
	struct store *other = NULL;
	char id[STORE_ID_MAX];
	json_t *list = NULL;
	int enrolled = 0, audit_fail = 0;
	long long audit_before = raw_int(raw, "SELECT count(*) FROM audit");

	CHECK_INT(store_open(tmp.url, &other), 0, "a second server opens the store");
	if (!other)
		return;
	CHECK_INT(make_token(st, "tok-race", NOW - 1, NOW + 3600, 13, NULL, id), 0,
		  "a token for 13 hosts");
	for (int i = 0; i < 4; i++) {
		t[i].st = i % 2 ? other : st;
		(void) pthread_create(&th[i], NULL, server_main, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		(void) pthread_join(th[i], NULL);
		enrolled += t[i].enrolled;
		audit_fail += t[i].audit_fail;
	}
	CHECK_INT(enrolled, 13, "40 enrolments through two servers: exactly 13 got in");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM hosts WHERE hostname = 'race'"), 13,
		  "13 hosts exist");
	CHECK_INT(raw_int(raw, "SELECT count(DISTINCT cert_serial) FROM hosts"),
		  raw_int(raw, "SELECT count(*) FROM hosts"), "every host has its own serial");
	CHECK_INT(audit_fail, 0, "40 audit appends through two servers all succeeded");
	CHECK_INT(store_audit_list(other, 1, 0, &list), 0, "the trail lists");
	CHECK_INT(json_integer_value(json_object_get(list, "total")), audit_before + 40,
		  "40 more records");
	json_decref(list);
	CHECK_INT(raw_int(raw, "SELECT max(id) - (SELECT max(id) FROM audit"
			       "  WHERE action <> 'test.race') FROM audit"),
		  40, "numbered one after the other: no gap and no fork");
	CHECK_INT(raw_int(raw, "SELECT count(DISTINCT prev_hash) FROM audit"),
		  raw_int(raw, "SELECT count(*) FROM audit"),
		  "every record has its own predecessor");
	store_free(other);
}

#if HAVE_POSTGRES
/* What only the PostgreSQL schema has: partitions, event_seqs, trigram search. */
static void test_pg_specifics(struct store *st, const char *host)
{
	json_t *b =
		parse_json("[{\"seq\":1000,\"time\":1,\"type\":\"file.copy\","
			   "  \"data\":{\"path\":\"/media/usb/経理部の共有フォルダ/予算.xlsx\"}},"
			   " {\"seq\":1000,\"time\":2,\"type\":\"dup\",\"data\":{}},"
			   " {\"seq\":1001,\"time\":3,\"type\":\"next\",\"data\":{}}]");
	uint64_t acked = 0;
	size_t stored = 0;
	char plan[4096];

	CHECK_INT(store_events_append(st, host, b, NOW + 40 * 86400, &acked, &stored), 0,
		  "postgres: a batch a month later, with a seq twice");
	CHECK_INT(stored, 2, "the repeated seq is stored once (the first occurrence)");
	CHECK_INT(
		raw_int(raw, "SELECT count(*) FROM events WHERE seq = 1000 AND type = 'file.copy'"),
		1, "the first of the two was kept");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM pg_inherits i JOIN pg_class c"
			       " ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"),
		  2, "the events of November and January live in their month's partitions");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events_202701 WHERE seq = 1001"), 1,
		  "January's event is in events_202701");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM event_seqs"),
		  raw_int(raw, "SELECT count(*) FROM events"), "one idempotency key per event");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events WHERE text LIKE '%共有フォルダ%'"), 1,
		  "a Japanese substring finds the event in its searchable text");
	CHECK(raw_int(raw, "SELECT coalesce(array_length(show_trgm('経理部'), 1), 0)") > 0,
	      "pg_trgm makes trigrams of Japanese in this database");
	(void) raw_exec(raw, "SET enable_seqscan = off");
	(void) raw_text(raw,
			"EXPLAIN (FORMAT JSON) SELECT * FROM events"
			" WHERE text ILIKE '%共有フォルダ%'",
			plan, sizeof(plan));
	CHECK(strstr(plan, "Bitmap Index Scan") && strstr(plan, "text_idx"),
	      "and the trigram index can serve it");
	(void) raw_exec(raw, "RESET enable_seqscan");
	CHECK_INT(raw_exec(raw, "DROP TABLE events_202701"), 0,
		  "retention drops a month: one DROP TABLE");
	json_decref(b);
	b = parse_json("[{\"seq\":1002,\"time\":4,\"type\":\"after\",\"data\":{}}]");
	CHECK_INT(store_events_append(st, host, b, NOW + 40 * 86400, &acked, &stored), 0,
		  "an event for the dropped month: the store notices and recreates it");
	CHECK_INT(stored, 1, "and stores the event");
	json_decref(b);
}
#endif

int main(void)
{
	struct store *st = NULL;
	char host[STORE_ID_MAX] = "";
	uint64_t serial = 0;

	log_setup("test-store", LOG_ERR);
	mm_setup_jansson();
	if (tmpstore_init(&tmp, NULL) < 0)
		tap_skip_all("no temporary directory or database");
	tap_diag("backend: %s", tmpstore_backend());
	test_open();
	if (!CHECK_INT(store_open(tmp.url, &st), 0, "open for the rest") || !raw)
		return tap_done();
	test_api_tokens(st);
	test_enrolment(st, host, &serial);
	test_checkin(st, host);
	test_inventory(st, host);
	test_events(st, host);
	test_audit(st);
	test_hosts(st);
#if HAVE_POSTGRES
	if (raw_is_pg(raw))
		test_pg_specifics(st, host);
#endif
	test_delete(st, host, serial);
	test_threads(st);
	test_two_servers(st);
	test_jobs();
	store_free(st);
	raw_close(raw);
	tmpstore_remove(&tmp);
	return tap_done();
}
