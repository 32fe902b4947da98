/*
 * The event chain from the agent's spool to the server's store, with the real code of
 * both: the spool links every event as it is spooled, its batches carry the links, evicted
 * events are reported with the runs the chain needs, and the store verifies what arrives.
 * Then the spool's SQLite file is edited between uploads — an event altered, one deleted —
 * and the store detects both. Also: events spooled before enrolment are linked again when
 * the chain starts, and a spool of the first schema is upgraded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "lib/evchain.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "tests/storetest.h"
#include "tests/tap.h"

#define NOW 1795650000

static char dir[] = "/tmp/test-spool-chain.XXXXXX";
static char path[256];

/* The next batch the daemon would upload, parsed. */
static json_t *next_batch(struct spool *sp, size_t max_n)
{
	uint64_t last;
	size_t n;
	struct buf b;
	json_t *v = NULL;

	buf_init(&b, LIMIT_AGENT_BODY);
	if (spool_events_batch(sp, max_n, LIMIT_AGENT_BODY, &b, &last, &n) < 0 ||
	    jsonw_parse(buf_str(&b), b.len, LIMIT_AGENT_BODY, &v, NULL) < 0)
		v = NULL;
	buf_done(&b);
	return v;
}

/* Uploads everything waiting, as the daemon does, and acknowledges what the store acked. */
static int upload(struct spool *sp, struct store *st, const char *host,
		  struct store_ingest_result *total)
{
	for (;;) {
		json_t *body, *events;
		struct store_ingest_result res;
		int r;

		/* as the daemon does before every batch */
		if (spool_report_evictions(sp, (int64_t) NOW * 1000) < 0)
			return -EIO;
		body = next_batch(sp, 100);
		events = json_object_get(body, "events");

		if (!body)
			return -EIO;
		if (json_array_size(events) == 0) {
			json_decref(body);
			return 0;
		}
		r = store_events_ingest(st, host, events, NOW, &res);
		json_decref(body);
		if (r < 0)
			return r;
		total->stored += res.stored;
		total->altered += res.altered;
		total->broken += res.broken;
		total->gaps += res.gaps;
		total->explained += res.explained;
		total->unchained += res.unchained;
		if (spool_ack(sp, res.acked_seq) < 0)
			return -EIO;
	}
}

static void add(struct spool *sp, const char *type, int i)
{
	char data[64];

	(void) snprintf(data, sizeof(data), "{\"i\": %d, \"path\": \"/home/taro/%d.txt\"}", i, i);
	if (spool_add_events(sp,
			     &(struct spool_event){.type = type,
						   .time_ms = (int64_t) NOW * 1000 + i,
						   .data = data},
			     1, NULL) < 0)
		printf("# cannot spool event %d\n", i);
}

static json_t *evidence(struct store *st, const char *host)
{
	json_t *ev = NULL;

	(void) !store_host_evidence(st, host, 1000, &ev);
	return ev;
}

int main(void)
{
	struct store_enroll_result er = {0};
	struct store_ingest_result total = {0};
	struct sign_log log = {0};
	struct tmpstore tmp;
	struct store *st = NULL;
	struct spool *sp = NULL;
	char tid[STORE_ID_MAX], host[STORE_ID_MAX], g[EVCHAIN_HEX];
	json_t *b, *e, *ev;
	sqlite3 *db;
	size_t i;

	mm_setup_jansson();
	log_setup("test-spool-chain", LOG_ERR);
	if (!mkdtemp(dir) || tmpstore_init_at(&tmp, NULL, NULL) < 0)
		tap_skip_all("no temporary directory");
	(void) snprintf(path, sizeof(path), "%s/spool.db", dir);
	CHECK_INT(store_open(tmp.url, &st), 0, "the server's store opens");
	CHECK_INT(make_token(st, "mtk_x", NOW - 1, NOW + 60, 1, NULL, tid), 0, "a token");
	CHECK_INT(enroll_host(st, "mtk_x", NOW, "pc", &log, &er), 0, "the endpoint enrols");
	memcpy(host, er.host_id, sizeof(host));
	mm_free(er.cert_pem);

	/* Spooled before enrolment (the chain not started), then started: linked again. */
	CHECK_INT(spool_open(path, 1 << 20, false, &sp), 0, "the spool opens");
	add(sp, "agent.start", 1);
	CHECK_INT(spool_chain_start(sp, host), 0, "the chain starts for the host");
	CHECK_INT(spool_chain_start(sp, host), 0, "starting it again changes nothing");
	for (int k = 2; k <= 5; k++)
		add(sp, "process.start", k);
	b = next_batch(sp, 100);
	ev = json_object_get(b, "events");
	CHECK_INT(json_array_size(ev), 5, "five events wait");
	(void) !evchain_genesis(host, g);
	CHECK_STR(json_string_value(json_object_get(json_array_get(ev, 0), "prev")), g,
		  "the first links to the host's genesis value");
	json_array_foreach (ev, i, e) {
		char c[EVCHAIN_HEX];

		if (evchain_check(e, c) != EVCHAIN_OK ||
		    (i > 0 &&
		     !streq(json_string_value(json_object_get(e, "prev")),
			    json_string_value(json_object_get(json_array_get(ev, i - 1), "hash")))))
			break;
	}
	CHECK_INT(i, 5, "every event hashes right and links to the one before");
	json_decref(b);
	CHECK_INT(upload(sp, st, host, &total), 0, "the upload");
	CHECK(total.stored == 5 && total.altered == 0 && total.broken == 0 && total.gaps == 0 &&
		      total.unchained == 0,
	      "the store verifies all five");

	/* Evictions: a small bound, bulk events pushed out, reported with their runs. */
	spool_free(sp);
	CHECK_INT(spool_open(path, 16 * 1024, false, &sp), 0, "reopened with a 16 KiB bound");
	for (int k = 6; k <= 305; k++)
		add(sp, k % 50 == 0 ? "process.start" : "file.write", k);
	{
		struct spool_stats ss;

		CHECK_INT(spool_stats(sp, &ss), 0, "stats");
		CHECK(ss.evicted_unreported > 0, "events were evicted (%llu)",
		      (unsigned long long) ss.evicted_unreported);
	}
	CHECK_INT(spool_report_evictions(sp, (int64_t) NOW * 1000), 1, "the evictions reported");
	memset(&total, 0, sizeof(total));
	CHECK_INT(upload(sp, st, host, &total), 0, "the upload");
	CHECK(total.broken == 0 && total.altered == 0, "no break across the evicted runs");
	CHECK(total.explained > 0 && total.gaps > 0,
	      "the report explains the gaps (%zu gaps, %zu numbers explained)", total.gaps,
	      total.explained);
	ev = evidence(st, host);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(ev, "summary"), "missing")), 0,
		  "no number is missing unexplained");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(ev, "summary"), "flagged")), 0,
		  "no event is flagged: every link after a run verified");
	json_decref(ev);

	/* The spool's file edited between uploads: one event altered, one deleted. */
	spool_free(sp);
	CHECK_INT(spool_open(path, 1 << 20, false, &sp), 0, "reopened with room");
	for (int k = 1; k <= 5; k++)
		add(sp, "file.copy", 1000 + k);
	db = NULL;
	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK,
	      "the spool's file opens in another process's way");
	CHECK_INT(sqlite_exec(db, "UPDATE entries SET body = '{\"i\": 1002, \"path\": \"/tmp/x\"}'"
				  " WHERE body LIKE '%1002%'"),
		  SQLITE_OK, "an event's data altered in the file");
	CHECK_INT(sqlite_exec(db, "DELETE FROM entries WHERE body LIKE '%1004%'"), SQLITE_OK,
		  "another one deleted");
	sqlite3_close(db);
	memset(&total, 0, sizeof(total));
	CHECK_INT(upload(sp, st, host, &total), 0, "the next upload");
	CHECK_INT(total.altered, 1, "the store finds the altered event");
	CHECK_INT(total.gaps, 1, "and a gap where the deleted one was");
	ev = evidence(st, host);
	{
		json_t *last_gap = json_array_get(json_object_get(ev, "gaps"),
						  json_array_size(json_object_get(ev, "gaps")) - 1);

		CHECK_STR(json_string_value(json_object_get(last_gap, "reason")), "missing",
			  "the gap is missing, not evicted");
		CHECK_INT(json_integer_value(json_object_get(last_gap, "count")), 1, "of one");
	}
	json_decref(ev);

	/* A spool of the first schema, with an event waiting, is upgraded and linked. */
	spool_free(sp);
	sp = NULL;
	{
		char p1[300];

		(void) snprintf(p1, sizeof(p1), "%s/v1.db", dir);
		CHECK_INT(sqlite3_open(p1, &db), SQLITE_OK, "a first-schema spool");
		CHECK_INT(
			sqlite_exec(
				db,
				"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
				" STRICT;"
				"CREATE TABLE entries (id INTEGER PRIMARY KEY, kind INTEGER NOT"
				" NULL, seq INTEGER UNIQUE, prio INTEGER NOT NULL, time_ms INTEGER"
				" NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL, bytes INTEGER"
				" NOT NULL, flags INTEGER NOT NULL DEFAULT 0) STRICT;"
				"INSERT INTO meta VALUES ('schema', 1), ('next_seq', 2),"
				" ('bytes', 60);"
				"INSERT INTO entries VALUES (1, 0, 1, 1, 5, 'agent.test', '{}', 60,"
				" 0);"),
			SQLITE_OK, "with one event");
		sqlite3_close(db);
		CHECK_INT(spool_open(p1, 0, false, &sp), 0, "opens, upgraded");
		CHECK_INT(spool_chain_start(sp, host), 0, "the chain starts");
		b = next_batch(sp, 10);
		e = json_array_get(json_object_get(b, "events"), 0);
		{
			char c[EVCHAIN_HEX];

			CHECK_INT(evchain_check(e, c), EVCHAIN_OK,
				  "the waiting event is linked and hashes right");
		}
		CHECK_STR(json_string_value(json_object_get(e, "prev")), g,
			  "from the genesis value");
		json_decref(b);
		spool_free(sp);
	}

	store_free(st);
	tmpstore_remove(&tmp);
	{
		static const char *const names[] = {"spool.db", "spool.db-wal", "spool.db-shm",
						    "v1.db",    "v1.db-wal",    "v1.db-shm"};
		char p[300];

		for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
			(void) snprintf(p, sizeof(p), "%s/%s", dir, names[k]);
			(void) unlink(p);
		}
		(void) rmdir(dir);
	}
	return tap_done();
}
