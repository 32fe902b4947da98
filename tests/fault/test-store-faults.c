/*
 * A failed store operation leaves the store exactly as it was.
 *
 * Run against SQLite (I/O faults, allocation faults) and, as store-faults-pg, against
 * PostgreSQL (transactions killed midway, allocation faults): see test_kill_faults.
 *
 * I/O faults: the store is opened through the faulting VFS (faultvfs.h); an enrolment, an
 * events batch and an inventory delta are run with the Nth write/sync failing, for every N
 * until the operation gets through without a fault. After each failure the file, read
 * through a plain connection, must hold what it held before (row counts, digests,
 * acknowledgements), and the store must still work. Then the same with a disk that stays
 * broken after the Nth write (sticky), and the store must recover when it heals.
 *
 * Allocation faults: mm_fail_at() fails the Nth allocation (ours and jansson's) and every
 * one after it during an enrolment, an inventory commit and an events batch, for every N:
 * -ENOMEM, nothing changed, no leak (AddressSanitizer checks leaks at exit). Failures are
 * sticky because jansson survives some single failures by itself (a failed allocation for
 * json_dumps' loop detection still produces the text), so a single failure may let the
 * operation succeed and end the loop before the later allocations were tried.
 */
#include <errno.h>

#include "lib/invdiff.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "server/store.h"
#include "tests/fault/faultvfs.h"
#include "tests/storetest.h"
#include "tests/tap.h"

#define NOW       1795650000
#define MAX_FAULT 5000 /* far more writes than any of these operations makes */

static struct raw *raw;

#define STATE_SQL(concat)                                                                    \
	"SELECT (SELECT count(*) FROM hosts) || '/' || (SELECT count(*) FROM events)"        \
	" || '/' || (SELECT coalesce(sum(max_seq), 0) FROM hosts)"                           \
	" || '/' || (SELECT count(*) FROM inventory_items)"                                  \
	" || '/' || (SELECT count(*) FROM inventory_changes)"                                \
	" || '/' || (SELECT count(*) FROM software)"                                         \
	" || '/' || (SELECT " concat " FROM hosts)"                                          \
	" || '/' || (SELECT coalesce(sum(length(value) * changed), 0) FROM inventory_items)" \
	" || '/' || (SELECT sum(uses) FROM enroll_tokens)"                                   \
	" || '/' || (SELECT count(*) FROM token_uses)"                                       \
	" || '/' || (SELECT count(*) FROM ca_serials)"                                       \
	" || '/' || (SELECT count(*) FROM audit)"

static const char *state(char *buf, size_t n)
{
	return raw_text(
		raw,
		RAW_SQL(raw,
			STATE_SQL("group_concat(inventory_digest || '@' ||"
				  " coalesce(chassis, '-'))"),
			STATE_SQL("string_agg(inventory_digest || '@' ||"
				  " coalesce(chassis, '-'), ',' ORDER BY num)") " || '/' || "
										"(SELECT count(*) "
										"FROM event_seqs)"),
		buf, n);
}

static json_t *batch(int from, int to)
{
	json_t *a = json_array();

	for (int s = from; s <= to; s++)
		json_array_append_new(a, json_pack("{sisIsss{sis{ss}}}", "seq", s, "time",
						   (json_int_t) NOW * 1000 + s, "type",
						   "agent.test", "data", "n", s, "payload", "text",
						   "a few dozen bytes of event data, for size"));
	return a;
}

/* Builds an inventory of n packages with version v, and the identity chassis. */
static json_t *inventory(int n, int v, const char *chassis)
{
	json_t *pkgs = json_array();

	for (int i = 0; i < n; i++) {
		char name[32], version[32];

		(void) snprintf(name, sizeof(name), "package-%04d", i);
		(void) snprintf(version, sizeof(version), "%d.%d", i % 7 ? 1 : v, i);
		json_array_append_new(pkgs, json_pack("{ssssssss}", "manager", "dpkg", "name", name,
						      "arch", "amd64", "version", version));
	}
	return json_pack("{s{sss{ss}}s{so}}", "identity", "chassis", chassis, "dmi", "serial",
			 "SN-1", "software", "packages", pkgs);
}

enum op_kind {
	OP_ENROLL,
	OP_EVENTS,
	OP_INVENTORY,
	OP_AUDIT,
};

struct op {
	struct store *st;
	const char *host;
	json_t *events;
	json_t *delta;
	const char *base, *digest;
	struct sign_log log;
};

static int run(enum op_kind k, struct op *o, json_t *facts, const uint8_t *token)
{
	switch (k) {
	case OP_ENROLL: {
		struct store_enroll_result res;
		int r = store_enroll(o->st, token, NOW, facts, "192.0.2.9", test_sign, &o->log,
				     &res);

		if (r == 0 && res.verdict != STORE_TOKEN_OK)
			r = -EPERM;
		if (r == 0)
			mm_free(res.cert_pem);
		return r;
	}
	case OP_EVENTS: {
		uint64_t acked;
		size_t stored;
		int r = store_events_append(o->st, o->host, o->events, NOW, &acked, &stored);

		return r < 0 ? r : (int) stored;
	}
	case OP_AUDIT:
		return store_audit_append(o->st, NOW, "at_1", "test.kill", NULL, NULL, NULL);
	default: {
		size_t changes;
		int r = store_inventory_commit(o->st, o->host, o->base, o->delta, o->digest,
					       NOW + 1, &changes);

		return r < 0 ? r : (int) changes;
	}
	}
}

/*
 * Runs operation k with the Nth write failing, N = 1, 2 … until it gets through; every
 * failed attempt must leave `before` in place. Returns the operation's result.
 */
static int io_fault_loop(const char *what, enum op_kind k, struct op *o, json_t *facts,
			 const uint8_t *token, bool sticky)
{
	char before[1024], after[1024];
	int changed = 0, wrong_error = 0, r = -1;
	unsigned long n;

	(void) state(before, sizeof(before));
	for (n = 1; n < MAX_FAULT; n++) {
		bool fired;

		faultvfs_arm(n, sticky);
		r = run(k, o, facts, token);
		fired = faultvfs_fired();
		faultvfs_arm(0, false);
		if (!fired)
			break;
		if (r >= 0) {
			tap_diag("%s: fault %lu hit after the commit (a checkpoint)", what, n);
			break;
		}
		if (r != -EIO && r != -EBUSY)
			wrong_error++;
		if (!streq(state(after, sizeof(after)), before)) {
			if (!changed)
				tap_diag("%s: fault %lu: before %s, after %s", what, n, before,
					 after);
			changed++;
		}
	}
	tap_diag("%s: %lu writes and syncs; faults 1..%lu each failed the operation", what, n - 1,
		 n - 1);
	CHECK(n > 2, "%s%s: the faults hit (%lu of them)", what, sticky ? " (sticky)" : "", n - 1);
	CHECK_INT(changed, 0, "every failed attempt left the store as it was");
	CHECK_INT(wrong_error, 0, "and reported -EIO");
	CHECK(r >= 0, "%s: once the disk behaves, it succeeds", what);
	CHECK(!streq(state(after, sizeof(after)), before), "%s: and changes the store", what);
	return r;
}

static void test_io_faults(void)
{
	struct tmpstore tmp;
	struct store *st = NULL;
	struct op o = {.base = ""};
	char token_id[STORE_ID_MAX], host[STORE_ID_MAX], ok[32];
	char g1[65], g2[65];
	uint8_t token[32];
	json_t *facts = json_pack("{ss}", "hostname", "faulty-pc");
	json_t *d1 = inventory(300, 1, "laptop"), *d2 = inventory(300, 2, "desktop");
	json_t *empty = json_object(), *delta1 = NULL;
	struct store_enroll_result res;
	int r;

	if (tmpstore_init(&tmp, "vfs=" FAULTVFS_NAME) < 0)
		tap_skip_all("no temporary directory");
	CHECK_INT(faultvfs_register(), SQLITE_OK, "the faulting VFS registers");
	CHECK_INT(store_open(tmp.url, &st), 0, "a store opens through it");
	raw = raw_open(&tmp);
	if (!st || !raw)
		return;
	o.st = st;
	CHECK_INT(make_token(st, "tok", NOW - 1, NOW + 3600, 100, NULL, token_id), 0, "a token");
	sha256_of("tok", token);

	/* enrolment */
	r = io_fault_loop("enrolment", OP_ENROLL, &o, facts, token, false);
	CHECK_INT(r, 0, "enrolled");
	CHECK_INT(enroll_host(st, "tok", NOW, "target", &o.log, &res), 0, "another host");
	memcpy(host, res.host_id, sizeof(host));
	mm_free(res.cert_pem);
	o.host = host;

	/* events: a first batch, then one overlapping it */
	o.events = batch(1, 400);
	r = io_fault_loop("events batch", OP_EVENTS, &o, NULL, NULL, false);
	CHECK_INT(r, 400, "400 events stored");
	json_decref(o.events);
	o.events = batch(301, 700);
	r = io_fault_loop("events batch", OP_EVENTS, &o, NULL, NULL, true);
	CHECK_INT(r, 300, "300 new events stored");
	json_decref(o.events);

	/* inventory: full, then a delta */
	CHECK_INT(invdiff_digest(d1, g1), 0, "digest 1");
	CHECK_INT(invdiff_digest(d2, g2), 0, "digest 2");
	CHECK_INT(invdiff_compute(empty, d1, &delta1), 0, "full delta");
	o.delta = delta1;
	o.base = "";
	o.digest = g1;
	r = io_fault_loop("full inventory", OP_INVENTORY, &o, NULL, NULL, false);
	CHECK_INT(r, 301, "301 items written");
	CHECK_INT(invdiff_compute(d1, d2, &o.delta), 0, "a delta");
	o.base = g1;
	o.digest = g2;
	r = io_fault_loop("inventory delta", OP_INVENTORY, &o, NULL, NULL, true);
	CHECK_INT(r, 44, "43 packages and the identity changed");
	json_decref(o.delta);

	CHECK_STR(raw_text(raw, "PRAGMA integrity_check", ok, sizeof(ok)), "ok",
		  "the database is intact");
	store_free(st);
	raw_close(raw);
	raw = NULL;
	tmpstore_remove(&tmp);
	json_decref(delta1);
	json_decref(facts);
	json_decref(d1);
	json_decref(d2);
	json_decref(empty);
}

/*
 * Opening a new store with the Nth write failing, for every N: the open fails cleanly, and
 * the file it left opens without faults, migrated to the current version.
 */
static void test_open_faults(void)
{
	struct tmpstore tmp;
	int bad = 0, version = 0;
	unsigned long n;

	if (tmpstore_init(&tmp, "vfs=" FAULTVFS_NAME) < 0)
		tap_skip_all("no temporary directory");
	for (n = 1; n < MAX_FAULT; n++) {
		struct store *st = NULL;
		bool fired;
		int r;

		faultvfs_arm(n, false);
		r = store_open(tmp.url, &st);
		fired = faultvfs_fired();
		faultvfs_arm(0, false);
		if (!fired) {
			CHECK_INT(r, 0, "opening a new store: fine without faults");
			store_free(st);
			break;
		}
		if (r == 0) {
			store_free(st);
			tap_diag("open: fault %lu did not stop it (a write SQLite retries)", n);
		}
		r = store_open(tmp.url, &st);
		if (r < 0 || store_schema_version(st, &version) < 0 || version != 5) {
			if (!bad)
				tap_diag("open: after fault %lu the file does not reopen: %d", n,
					 r);
			bad++;
		}
		store_free(st);
		tmpstore_remove(&tmp);
		if (tmpstore_init(&tmp, "vfs=" FAULTVFS_NAME) < 0)
			break;
	}
	CHECK(n > 2, "opening and migrating a new store: %lu writes, each failed in turn", n - 1);
	CHECK_INT(bad, 0, "after each, the file opens and migrates");
	tmpstore_remove(&tmp);
}

/* The same with allocation failures: each fails the operation, which changes nothing. */
static int alloc_fault_loop(const char *what, enum op_kind k, struct op *o, json_t *facts,
			    const uint8_t *token)
{
	char before[1024], after[1024];
	int changed = 0, wrong_error = 0, r = -1;
	unsigned long n;

	(void) state(before, sizeof(before));
	for (n = 1; n < 100000; n++) {
		bool fired;

		mm_fail_at(n, true);
		r = run(k, o, facts, token);
		fired = mm_fail_fired();
		mm_fail_at(0, false);
		if (!fired)
			break;
		if (r != -ENOMEM) {
			if (!wrong_error)
				tap_diag("%s: allocation %lu failed, the operation returned %d",
					 what, n, r);
			wrong_error++;
			if (r >= 0)
				break;
		}
		if (!streq(state(after, sizeof(after)), before)) {
			if (!changed)
				tap_diag("%s: allocation %lu: before %s, after %s", what, n, before,
					 after);
			changed++;
		}
	}
	CHECK(n > 2, "%s: %lu allocations, each failed in turn (and all after it)", what, n - 1);
	CHECK_INT(wrong_error, 0, "each failure gave -ENOMEM");
	CHECK_INT(changed, 0, "and left the store as it was");
	CHECK(r >= 0, "%s: then it succeeds", what);
	return r;
}

static void test_alloc_faults(void)
{
	struct tmpstore tmp;
	struct store *st = NULL;
	struct op o = {.base = ""};
	char token_id[STORE_ID_MAX], host[STORE_ID_MAX];
	char g1[65], g2[65];
	uint8_t token[32];
	json_t *facts = json_pack("{ss}", "hostname", "oom-pc");
	json_t *d1 = inventory(20, 1, "laptop"), *d2 = inventory(20, 2, "desktop");
	json_t *empty = json_object(), *delta1 = NULL;
	struct store_enroll_result res;

	if (tmpstore_init(&tmp, NULL) < 0)
		tap_skip_all("no temporary directory");
	CHECK_INT(store_open(tmp.url, &st), 0, "a store opens");
	raw = raw_open(&tmp);
	if (!st || !raw)
		return;
	o.st = st;
	CHECK_INT(make_token(st, "tok", NOW - 1, NOW + 3600, 100, NULL, token_id), 0, "a token");
	sha256_of("tok", token);
	CHECK_INT(alloc_fault_loop("enrolment", OP_ENROLL, &o, facts, token), 0, "enrolled");

	CHECK_INT(enroll_host(st, "tok", NOW, "target", &o.log, &res), 0, "another host");
	memcpy(host, res.host_id, sizeof(host));
	mm_free(res.cert_pem);
	o.host = host;
	CHECK_INT(invdiff_digest(d1, g1), 0, "digest 1");
	CHECK_INT(invdiff_digest(d2, g2), 0, "digest 2");
	CHECK_INT(invdiff_compute(empty, d1, &delta1), 0, "full delta");
	o.delta = delta1;
	o.digest = g1;
	CHECK_INT(alloc_fault_loop("full inventory", OP_INVENTORY, &o, NULL, NULL), 21,
		  "21 items written");
	CHECK_INT(invdiff_compute(d1, d2, &o.delta), 0, "a delta");
	o.base = g1;
	o.digest = g2;
	CHECK_INT(alloc_fault_loop("inventory delta", OP_INVENTORY, &o, NULL, NULL), 4,
		  "3 packages and the identity changed");
	json_decref(o.delta);
	o.events = batch(1, 50);
	CHECK_INT(alloc_fault_loop("events batch", OP_EVENTS, &o, NULL, NULL), 50,
		  "50 events stored");
	json_decref(o.events);

	store_free(st);
	raw_close(raw);
	raw = NULL;
	tmpstore_remove(&tmp);
	json_decref(delta1);
	json_decref(facts);
	json_decref(d1);
	json_decref(d2);
	json_decref(empty);
}

/*
 * PostgreSQL: a transaction killed midway. A trigger on one table after another makes the
 * server end the store's session while the operation's transaction is half done (the
 * backend terminates itself, as pg_terminate_backend or a crash of that backend would);
 * the operation must fail with -EIO, the database must hold what it held before, and the
 * next operation must find a working connection again.
 */
static int kill_loop(const char *what, enum op_kind k, struct op *o, json_t *facts,
		     const uint8_t *token, const char *const *tables)
{
	char before[1024], after[1024], sql[256];
	int changed = 0, wrong = 0, n = 0, r;

	(void) state(before, sizeof(before));
	for (; tables[n]; n++) {
		(void) snprintf(sql, sizeof(sql),
				"CREATE TRIGGER kill BEFORE INSERT OR UPDATE OR DELETE ON %s"
				" FOR EACH ROW EXECUTE FUNCTION kill_me()",
				tables[n]);
		if (raw_exec(raw, sql) != 0)
			return -1;
		r = run(k, o, facts, token);
		(void) snprintf(sql, sizeof(sql), "DROP TRIGGER kill ON %s", tables[n]);
		(void) raw_exec(raw, sql);
		if (r != -EIO) {
			tap_diag("%s: killed at %s: %d", what, tables[n], r);
			wrong++;
		}
		if (!streq(state(after, sizeof(after)), before)) {
			tap_diag("%s: killed at %s: before %s, after %s", what, tables[n], before,
				 after);
			changed++;
		}
	}
	CHECK(wrong == 0, "postgres: %s killed in %d places: -EIO each time", what, n);
	CHECK_INT(changed, 0, "and the database held what it held before");
	r = run(k, o, facts, token);
	CHECK(r >= 0, "%s: then it succeeds on a new session", what);
	return r;
}

/* Ends every session of the store from another connection, in the middle of sign(). */
static int sign_and_kill(uint64_t serial, const char *host_id, void *userdata, char **ret)
{
	(void) raw_exec(raw, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
			     " WHERE application_name = 'mamori-server'");
	return test_sign(serial, host_id, userdata, ret);
}

static void test_kill_faults(void)
{
	static const char *const enrol_tables[] = {"ca_serials", "enroll_tokens", "hosts",
						   "token_uses", NULL};
	static const char *const event_tables[] = {"event_seqs",     "events",   "hosts",
						   "chain_evidence", "counters", NULL};
	static const char *const inventory_tables[] = {"inventory_items", "inventory_changes",
						       "software", "hosts", NULL};
	static const char *const audit_tables[] = {"audit", NULL};
	struct tmpstore tmp;
	struct store *st = NULL;
	struct op o = {.base = ""};
	char token_id[STORE_ID_MAX], host[STORE_ID_MAX], before[1024], after[1024];
	char g1[65], g2[65];
	uint8_t token[32];
	json_t *facts = json_pack("{ss}", "hostname", "killed-pc");
	json_t *d1 = inventory(50, 1, "laptop"), *d2 = inventory(50, 2, "desktop");
	json_t *empty = json_object(), *delta1 = NULL;
	struct store_enroll_result res;
	int r;

	if (tmpstore_init(&tmp, "pool=2") < 0)
		tap_skip_all("no database");
	CHECK_INT(store_open(tmp.url, &st), 0, "postgres: a store opens");
	raw = raw_open(&tmp);
	if (!st || !raw)
		return;
	CHECK_INT(raw_exec(raw, "CREATE FUNCTION kill_me() RETURNS trigger LANGUAGE plpgsql AS"
				" $$BEGIN PERFORM pg_terminate_backend(pg_backend_pid());"
				" PERFORM pg_sleep(10); RETURN NEW; END$$"),
		  0, "a trigger function that ends its own session");
	o.st = st;
	CHECK_INT(make_token(st, "tok", NOW - 1, NOW + 3600, 100, NULL, token_id), 0, "a token");
	sha256_of("tok", token);
	CHECK_INT(kill_loop("enrolment", OP_ENROLL, &o, facts, token, enrol_tables), 0, "enrolled");
	CHECK_INT(enroll_host(st, "tok", NOW, "target", &o.log, &res), 0, "another host");
	memcpy(host, res.host_id, sizeof(host));
	mm_free(res.cert_pem);
	o.host = host;
	o.events = batch(1, 200);
	CHECK_INT(kill_loop("events batch", OP_EVENTS, &o, NULL, NULL, event_tables), 200,
		  "200 events stored");
	json_decref(o.events);
	o.events = batch(101, 300);
	CHECK_INT(kill_loop("overlapping events batch", OP_EVENTS, &o, NULL, NULL, event_tables),
		  100, "100 new events stored");
	json_decref(o.events);
	CHECK_INT(invdiff_digest(d1, g1), 0, "digest 1");
	CHECK_INT(invdiff_digest(d2, g2), 0, "digest 2");
	CHECK_INT(invdiff_compute(empty, d1, &delta1), 0, "full delta");
	o.delta = delta1;
	o.digest = g1;
	CHECK_INT(kill_loop("full inventory", OP_INVENTORY, &o, NULL, NULL, inventory_tables), 51,
		  "51 items written");
	CHECK_INT(invdiff_compute(d1, d2, &o.delta), 0, "a delta");
	o.base = g1;
	o.digest = g2;
	CHECK_INT(kill_loop("inventory delta", OP_INVENTORY, &o, NULL, NULL, inventory_tables), 9,
		  "8 packages and the identity changed");
	json_decref(o.delta);
	CHECK_INT(kill_loop("audit append", OP_AUDIT, &o, NULL, NULL, audit_tables), 0,
		  "an audit record appended");

	/* every session of the store ended from outside, in the middle of an enrolment */
	(void) state(before, sizeof(before));
	{
		uint8_t h[32];

		sha256_of("tok", h);
		r = store_enroll(st, h, NOW, facts, "192.0.2.9", sign_and_kill, &o.log, &res);
	}
	CHECK_INT(r, -EIO, "postgres: sessions ended from another connection mid-enrolment: -EIO");
	CHECK_STR(state(after, sizeof(after)), before, "nothing changed");
	CHECK_INT(enroll_host(st, "tok", NOW, "after", &o.log, &res), 0,
		  "the next enrolment works: the pool reconnects");
	mm_free(res.cert_pem);

	store_free(st);
	raw_close(raw);
	raw = NULL;
	tmpstore_remove(&tmp);
	json_decref(delta1);
	json_decref(facts);
	json_decref(d1);
	json_decref(d2);
	json_decref(empty);
}

int main(void)
{
	log_setup("test-store-faults", LOG_CRIT); /* thousands of injected failures log */
	mm_setup_jansson();
	tap_diag("backend: %s", tmpstore_backend());
	if (streq(tmpstore_backend(), "postgres")) {
		/* the faulting VFS is SQLite's; PostgreSQL gets killed transactions instead */
		test_kill_faults();
	} else {
		test_io_faults();
		test_open_faults();
	}
	test_alloc_faults();
	return tap_done();
}
