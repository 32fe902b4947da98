/*
 * The event store through server/store.h: the event chain verified at ingest (a record
 * altered, one altered and rehashed, one removed, evictions reported with their runs, a
 * conflicting resend, a late event filling its gap, a bad genesis link, unchained events),
 * the evidence an investigator reads, search filters and full text (a Japanese path by
 * substring, two-character queries), stable cursors, counts, purges, named cursors, and
 * the migration of events stored before the chain.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "lib/evchain.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "tests/storetest.h"
#include "tests/tap.h"

#define NOW  1795650000
#define T0   ((int64_t) NOW * 1000)
#define HOUR (3600 * 1000)

static struct tmpstore tmp;
static struct raw *raw;

/* An agent's side of the chain: seq and head, as its spool keeps them. */
struct agent {
	char host[STORE_ID_MAX];
	char head[EVCHAIN_HEX];
	int64_t seq;
	char hashes[64][EVCHAIN_HEX]; /* hashes[seq] */
};

static void agent_init(struct agent *a, const char *host)
{
	(void) snprintf(a->host, sizeof(a->host), "%s", host);
	(void) !evchain_genesis(host, a->head);
	a->seq = 0;
}

/* The next event of the agent's chain, as it would send it. */
static json_t *next_event(struct agent *a, const char *type, const char *data, int64_t time_ms)
{
	char hash[EVCHAIN_HEX], prev[EVCHAIN_HEX];
	json_t *d = parse_json(data);

	memcpy(prev, a->head, sizeof(prev));
	a->seq++;
	if (evchain_link(a->head, (uint64_t) a->seq, time_ms, 1000 + a->seq, type, data, hash) < 0)
		printf("# cannot link\n");
	if (a->seq < 64)
		memcpy(a->hashes[a->seq], hash, EVCHAIN_HEX);
	return json_pack("{sIsIsIsssossss}", "seq", (json_int_t) a->seq, "time",
			 (json_int_t) time_ms, "mono", (json_int_t) (1000 + a->seq), "type", type,
			 "data", d, "prev", prev, "hash", hash);
}

static json_t *batch_of(json_t *first, ...)
{
	json_t *b = json_array(), *e = first;
	va_list ap;

	va_start(ap, first);
	while (e) {
		json_array_append_new(b, e);
		e = va_arg(ap, json_t *);
	}
	va_end(ap);
	return b;
}

static int ingest_at(struct store *st, const char *host, json_t *b, int64_t now,
		     struct store_ingest_result *res)
{
	int r = store_events_ingest(st, host, b, now, res);

	json_decref(b);
	return r;
}

static int ingest(struct store *st, const char *host, json_t *b, struct store_ingest_result *res)
{
	return ingest_at(st, host, b, NOW, res);
}

static const char *chain_of(struct store *st, const char *host, int64_t seq)
{
	static char buf[64];
	json_t *list = NULL;

	buf[0] = '\0';
	if (store_host_events(st, host, (uint64_t) seq - 1, NULL, 1, &list) == 0) {
		json_t *e = json_array_get(json_object_get(list, "events"), 0);

		if (json_integer_value(json_object_get(e, "seq")) == seq)
			(void) snprintf(buf, sizeof(buf), "%s",
					json_string_value(json_object_get(e, "chain")));
		else
			(void) snprintf(buf, sizeof(buf), "absent");
	}
	json_decref(list);
	return buf;
}

/* How many evidence rows of a kind the host has, and the first one's first_seq. */
static int evidence_count(struct store *st, const char *host, const char *kind, int64_t *first)
{
	json_t *ev = NULL, *b;
	size_t i;
	int n = 0;

	if (store_host_evidence(st, host, 1000, &ev) < 0)
		return -1;
	json_array_foreach (json_object_get(ev, "breaks"), i, b)
		if (streq(json_string_value(json_object_get(b, "kind")), kind)) {
			if (n++ == 0 && first)
				*first = json_integer_value(json_object_get(b, "first_seq"));
		}
	json_decref(ev);
	return n;
}

/* The host's gaps as "first-last:reason,…". */
static const char *gaps_of(struct store *st, const char *host)
{
	static char buf[512];
	json_t *ev = NULL, *g;
	size_t i, n = 0;

	buf[0] = '\0';
	if (store_host_evidence(st, host, 1000, &ev) < 0)
		return "error";
	json_array_foreach (json_object_get(ev, "gaps"), i, g)
		n += (size_t) snprintf(
			buf + n, sizeof(buf) - n, "%s%lld-%lld:%s", i ? "," : "",
			(long long) json_integer_value(json_object_get(g, "first_seq")),
			(long long) json_integer_value(json_object_get(g, "last_seq")),
			json_string_value(json_object_get(g, "reason")));
	json_decref(ev);
	return buf;
}

static void enroll(struct store *st, const char *name, char id[STORE_ID_MAX])
{
	struct sign_log log = {0};
	struct store_enroll_result res = {0};
	char secret[64], tid[STORE_ID_MAX];

	(void) snprintf(secret, sizeof(secret), "mtk_%s", name);
	if (make_token(st, secret, NOW - 10, NOW + 3600, 1, NULL, tid) < 0 ||
	    enroll_host(st, secret, NOW, name, &log, &res) < 0 || res.verdict != STORE_TOKEN_OK)
		printf("# enrolment of %s failed\n", name);
	memcpy(id, res.host_id, STORE_ID_MAX);
	mm_free(res.cert_pem);
}

static void test_chain(struct store *st, const char *host)
{
	struct store_ingest_result res;
	struct agent a;
	json_t *e3, *e5, *e8, *b;
	int64_t first = 0;

	agent_init(&a, host);
	/* 1..4, with 3 altered in the spool after it was hashed (the hash left as it was) */
	/* (one event per statement: the order of a call's arguments is unspecified) */
	e3 = next_event(&a, "process.start", "{\"cmdline\": \"bash\"}", T0 + 1);
	b = batch_of(e3, next_event(&a, "process.start", "{\"cmdline\": \"vim\"}", T0 + 2), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "a chained batch");
	CHECK(res.stored == 2 && res.altered == 0 && res.broken == 0 && res.gaps == 0,
	      "stored whole, nothing flagged");
	CHECK_STR(chain_of(st, host, 1), "ok", "event 1 verifies");
	CHECK_STR(chain_of(st, host, 2), "ok", "event 2 links to it");
	e3 = next_event(&a, "file.write", "{\"path\": \"/home/taro/a.txt\"}", T0 + 3);
	json_object_set_new(json_object_get(e3, "data"), "path", json_string("/tmp/innocent"));
	b = batch_of(e3, next_event(&a, "file.write", "{\"path\": \"/home/b\"}", T0 + 4), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "a batch with an altered event");
	CHECK(res.stored == 2 && res.altered == 1 && res.broken == 0, "stored, one altered");
	CHECK_STR(chain_of(st, host, 3), "altered", "event 3 is flagged altered");
	CHECK_STR(chain_of(st, host, 4), "ok",
		  "event 4 still links (the alteration is reported once, where it is)");
	CHECK_INT(evidence_count(st, host, "altered", &first), 1, "one 'altered' evidence row");
	CHECK_INT(first, 3, "at seq 3");

	/* 5 altered and rehashed: its own hash holds, 6's link to it does not */
	e5 = next_event(&a, "usb.insert", "{\"serial\": \"S123\"}", T0 + 5);
	{
		char h[EVCHAIN_HEX];
		json_t *d = json_object_get(e5, "data");

		json_object_set_new(d, "serial", json_string("OTHER"));
		(void) !evchain_hash(&(struct evchain_record){.seq = 5,
							      .time_ms = T0 + 5,
							      .mono_ms = 1005,
							      .type = "usb.insert",
							      .data = d,
							      .prev = json_string_value(
								      json_object_get(e5, "prev"))},
				     h);
		json_object_set_new(e5, "hash", json_string(h));
	}
	b = batch_of(e5, next_event(&a, "usb.remove", "{\"serial\": \"S123\"}", T0 + 6), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "a batch with a rehashed alteration");
	CHECK(res.altered == 0 && res.broken == 1, "one broken link");
	CHECK_STR(chain_of(st, host, 5), "ok", "event 5 hashes right");
	CHECK_STR(chain_of(st, host, 6), "link", "but event 6 does not link to it");
	CHECK_INT(evidence_count(st, host, "link", &first), 1, "one 'link' evidence row");
	CHECK_INT(first, 6, "at seq 6");

	/* 7, then 8 removed from the spool: 9 arrives after a gap */
	b = batch_of(next_event(&a, "login.success", "{\"user\": \"taro\"}", T0 + 7), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "event 7");
	e8 = next_event(&a, "file.delete", "{\"path\": \"/home/taro/evidence.txt\"}", T0 + 8);
	b = batch_of(next_event(&a, "file.write", "{\"path\": \"/home/c\"}", T0 + 9), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "event 9 without 8");
	CHECK(res.gaps == 1 && res.missing == 1 && res.broken == 0, "a gap of one");
	CHECK_STR(gaps_of(st, host), "8-8:missing", "reported as 8-8 missing");
	CHECK_STR(chain_of(st, host, 9), "unverified", "9's link cannot be verified");
	CHECK_STR(chain_of(st, host, 8), "absent", "8 is not there");

	/* 8 arrives late after all: the gap closes and 9's link is verified */
	b = batch_of(e8, NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "the late event 8");
	CHECK_INT(res.stored, 1, "stored");
	CHECK_STR(gaps_of(st, host), "", "the gap is closed");
	CHECK_STR(chain_of(st, host, 9), "ok", "and 9 now verifies against it");

	/* a resend of 2 with other data: a conflict, the stored copy stays */
	{
		struct agent a2;
		json_t *e2;

		agent_init(&a2, host);
		json_decref(next_event(&a2, "process.start", "{\"cmdline\": \"bash\"}", T0 + 1));
		e2 = next_event(&a2, "process.start", "{\"cmdline\": \"rm -rf\"}", T0 + 2);
		CHECK_INT(ingest(st, host, batch_of(e2, NULL), &res), 0, "a conflicting resend");
		CHECK(res.conflicts == 1 && res.stored == 0, "is a conflict, not stored");
		CHECK_INT(evidence_count(st, host, "conflict", &first), 1, "recorded as evidence");
	}
	{
		json_t *list = NULL;

		CHECK_INT(store_host_events(st, host, 1, NULL, 1, &list), 0, "read 2");
		CHECK_STR(
			json_string_value(json_object_get(
				json_object_get(json_array_get(json_object_get(list, "events"), 0),
						"data"),
				"cmdline")),
			"vim", "the first copy of 2 stays");
		json_decref(list);
	}
	/* the same record again is a plain duplicate */
	{
		struct agent a3;

		agent_init(&a3, host);
		b = batch_of(next_event(&a3, "process.start", "{\"cmdline\": \"bash\"}", T0 + 1),
			     NULL);
		CHECK_INT(ingest(st, host, b, &res), 0, "a retried event");
		CHECK(res.duplicates == 1 && res.conflicts == 0 && res.stored == 0,
		      "is a duplicate");
	}

	/* 10, then 11..13 evicted in the spool, 14, and the report at 15 */
	b = batch_of(next_event(&a, "file.write", "{\"path\": \"/x/10\"}", T0 + 10), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "event 10");
	json_decref(next_event(&a, "file.write", "{\"path\": \"/x/11\"}", T0 + 11));
	json_decref(next_event(&a, "file.write", "{\"path\": \"/x/12\"}", T0 + 12));
	json_decref(next_event(&a, "file.write", "{\"path\": \"/x/13\"}", T0 + 13));
	{
		struct evchain_run run = {.first = 11, .last = 13};
		json_t *e14 = next_event(&a, "file.write", "{\"path\": \"/x/14\"}", T0 + 14), *e15;
		char *data = NULL;

		memcpy(run.prev, a.hashes[10], EVCHAIN_HEX);
		memcpy(run.hash, a.hashes[13], EVCHAIN_HEX);
		(void) !evchain_evicted_format(3, 300, 11, 13, &run, 1, &data);
		e15 = next_event(&a, "agent.spool_evicted", data, T0 + 15);
		mm_free(data);
		CHECK_INT(ingest(st, host, batch_of(e14, NULL), &res), 0, "event 14 after a gap");
		CHECK_STR(gaps_of(st, host), "11-13:missing", "11-13 missing for now");
		CHECK_STR(chain_of(st, host, 14), "unverified", "14 unverified");
		CHECK_INT(ingest(st, host, batch_of(e15, NULL), &res), 0, "the eviction report");
		CHECK_INT(res.explained, 3, "explains 3 numbers");
		CHECK_STR(gaps_of(st, host), "11-13:evicted", "11-13 evicted now");
		CHECK_STR(chain_of(st, host, 14), "ok",
			  "14 verifies against the evicted run's last hash");
	}
	/* 17..18 evicted, but the report's hash of 18 is not what 19 links to */
	b = batch_of(next_event(&a, "file.write", "{\"path\": \"/x/16\"}", T0 + 16), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "event 16");
	json_decref(next_event(&a, "file.write", "{\"path\": \"/x/17\"}", T0 + 17));
	json_decref(next_event(&a, "file.write", "{\"path\": \"/x/18\"}", T0 + 18));
	{
		struct evchain_run run = {.first = 17, .last = 18};
		json_t *e19 = next_event(&a, "file.write", "{\"path\": \"/x/19\"}", T0 + 19), *e20;
		char *data = NULL;

		memcpy(run.prev, a.hashes[16], EVCHAIN_HEX);
		memcpy(run.hash, a.hashes[2], EVCHAIN_HEX); /* a lie */
		(void) !evchain_evicted_format(2, 200, 17, 18, &run, 1, &data);
		e20 = next_event(&a, "agent.spool_evicted", data, T0 + 20);
		mm_free(data);
		CHECK_INT(ingest(st, host, batch_of(e19, e20, NULL), &res), 0,
			  "19 and a report whose run does not end where 19 begins");
		CHECK_INT(res.broken, 1, "one broken link");
		CHECK_STR(chain_of(st, host, 19), "link", "19 is flagged");
		CHECK_STR(gaps_of(st, host), "11-13:evicted,17-18:evicted", "both runs evicted");
	}
	/* a report naming events the server holds */
	{
		struct evchain_run run = {.first = 9, .last = 10};
		char *data = NULL;

		memcpy(run.prev, a.hashes[8], EVCHAIN_HEX);
		memcpy(run.hash, a.hashes[10], EVCHAIN_HEX);
		(void) !evchain_evicted_format(2, 200, 9, 10, &run, 1, &data);
		b = batch_of(next_event(&a, "agent.spool_evicted", data, T0 + 21), NULL);
		mm_free(data);
		CHECK_INT(ingest(st, host, b, &res), 0, "a report naming stored events");
		CHECK(res.broken == 0 && res.explained == 0 &&
			      evidence_count(st, host, "bad_report", NULL) == 0,
		      "is no finding (uploaded, then evicted before the acknowledgement)");
		CHECK_STR(gaps_of(st, host), "11-13:evicted,17-18:evicted", "and changes no gap");
	}
	{
		json_t *h = NULL, *sum;

		CHECK_INT(store_host_get(st, host, &h), 0, "host detail");
		sum = json_object_get(h, "evidence");
		CHECK_INT(json_integer_value(json_object_get(sum, "evicted")), 5,
			  "the host detail counts 5 evicted numbers");
		CHECK_INT(json_integer_value(json_object_get(sum, "missing")), 0, "none missing");
		CHECK(json_integer_value(json_object_get(sum, "breaks")) >= 4,
		      "and the breaks (%lld)",
		      (long long) json_integer_value(json_object_get(sum, "breaks")));
		CHECK_INT(json_integer_value(json_object_get(sum, "flagged")), 3,
			  "3 events flagged (3, 6, 19)");
		json_decref(h);
	}
}

static void test_genesis_and_unchained(struct store *st, const char *host, const char *other)
{
	struct store_ingest_result res;
	struct agent a;
	json_t *b;

	/* a chain started for another host does not link to this one's genesis */
	agent_init(&a, other);
	b = batch_of(next_event(&a, "agent.start", "{}", T0), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "a first event chained to another host");
	CHECK_INT(res.broken, 1, "its link is broken");
	CHECK_INT(evidence_count(st, host, "genesis", NULL), 1, "evidence kind 'genesis'");

	/* unchained events: stored, flagged, one evidence row for a run of them */
	b = parse_json("[{\"seq\": 2, \"time\": 1, \"type\": \"agent.test\", \"data\": {}},"
		       " {\"seq\": 3, \"time\": 1, \"type\": \"agent.test\", \"data\": {}},"
		       " {\"seq\": 4, \"time\": 1, \"type\": \"agent.test\", \"data\": {}}]");
	CHECK_INT(ingest(st, host, b, &res), 0, "unchained events");
	CHECK(res.stored == 3 && res.unchained == 3, "stored, all unchained");
	CHECK_STR(chain_of(st, host, 3), "unchained", "flagged");
	CHECK_INT(evidence_count(st, host, "unchained", NULL), 1, "one evidence row for the run");
}

static void test_chain_start(struct store *st, const char *host)
{
	struct store_ingest_result res;
	struct agent a;
	json_t *b;

	/* numbering began before enrolment: the chain starts at 41 with the genesis link */
	agent_init(&a, host);
	a.seq = 40;
	b = batch_of(next_event(&a, "agent.start", "{}", T0), NULL);
	CHECK_INT(ingest(st, host, b, &res), 0, "a chain starting at 41");
	CHECK(res.gaps == 0 && res.broken == 0, "is no gap and no break");
	CHECK_STR(chain_of(st, host, 41), "ok", "41 verifies against the genesis value");
}

/* ---- search ---- */

static size_t search_n(struct store *st, struct store_event_query *q, json_t **ret)
{
	json_t *v = NULL;
	size_t n;

	if (store_events_search(st, q, &v) < 0) {
		printf("# search failed\n");
		return (size_t) -1;
	}
	n = json_array_size(json_object_get(v, "events"));
	if (ret)
		*ret = v;
	else
		json_decref(v);
	return n;
}

static void test_search(struct store *st, const char *h1, const char *h2)
{
	struct store_ingest_result res;
	struct store_event_query q = {.limit = 100};
	struct agent a, b2;
	json_t *b, *v = NULL;

	agent_init(&a, h1);
	agent_init(&b2, h2);
	{
		json_t *x = next_event(
			&a, "file.copy",
			"{\"user\": \"taro\", \"path\": \"/home/taro/給与明細_2026.xlsx\","
			" \"dest\": \"/media/taro/USB/給与明細_2026.xlsx\"}",
			T0 + 1 * HOUR);
		json_t *y = next_event(
			&a, "process.start",
			"{\"user\": \"taro\", \"cmdline\": \"scp secret.tar bob@203.0.113.9:\"}",
			T0 + 2 * HOUR);

		b = batch_of(x, y,
			     next_event(&a, "wifi.connect",
					"{\"user\": \"taro\", \"ssid\": \"Cafe_FreeWiFi\"}",
					T0 + 3 * HOUR),
			     NULL);
	}
	CHECK_INT(ingest(st, h1, b, &res), 0, "host 1's events");
	{
		json_t *x = next_event(
			&b2, "file.copy",
			"{\"user\": \"hanako\", \"path\": \"/home/hanako/人事評価.docx\"}",
			T0 + 1 * HOUR + 5);

		b = batch_of(x,
			     next_event(&b2, "login.success",
					"{\"user\": \"hanako\", \"tty\": \"pts/0\"}",
					T0 + 4 * HOUR),
			     NULL);
	}
	CHECK_INT(ingest(st, h2, b, &res), 0, "host 2's events");

	CHECK_INT(search_n(st, &q, NULL), 5, "all five events");
	q.host_id = h1;
	CHECK_INT(search_n(st, &q, NULL), 3, "host 1 has three");
	q.host_id = NULL;
	q.user = "hanako";
	CHECK_INT(search_n(st, &q, &v), 2, "hanako has two");
	CHECK_STR(json_string_value(
			  json_object_get(json_array_get(json_object_get(v, "events"), 0), "type")),
		  "login.success", "newest first");
	json_decref(v);
	q.user = NULL;
	q.type = "file.copy";
	CHECK_INT(search_n(st, &q, NULL), 2, "two file copies");
	q.host_id = h2;
	CHECK_INT(search_n(st, &q, NULL), 1, "one of them on host 2");
	q.host_id = NULL;
	q.type = NULL;
	q.from_ms = T0 + 2 * HOUR;
	q.to_ms = T0 + 4 * HOUR;
	CHECK_INT(search_n(st, &q, NULL), 2, "two in [2h, 4h)");
	q.from_ms = q.to_ms = 0;

	q.text = "給与明細";
	CHECK_INT(search_n(st, &q, &v), 1, "a Japanese file name, by substring");
	CHECK_STR(json_string_value(json_object_get(
			  json_object_get(json_array_get(json_object_get(v, "events"), 0), "data"),
			  "path")),
		  "/home/taro/給与明細_2026.xlsx", "the right event");
	json_decref(v);
	q.text = "明細_2026";
	CHECK_INT(search_n(st, &q, NULL), 1, "from the middle of the name");
	q.text = "人事";
	CHECK_INT(search_n(st, &q, NULL), 1, "a two-character Japanese word (scanned)");
	q.text = "cafe_free";
	CHECK_INT(search_n(st, &q, NULL), 1, "an SSID, case-insensitively");
	q.text = "203.0.113";
	CHECK_INT(search_n(st, &q, NULL), 1, "part of a command line");
	q.text = "taro";
	CHECK_INT(search_n(st, &q, NULL), 3, "a user name in three events");
	q.host_id = h2;
	CHECK_INT(search_n(st, &q, NULL), 0, "none of them on host 2");
	q.host_id = NULL;
	q.text = "\"quoted\" text";
	CHECK_INT(search_n(st, &q, NULL), 0, "quotes in the text are searched, not syntax");
	q.text = "no such thing";
	CHECK_INT(search_n(st, &q, NULL), 0, "nothing matches nonsense");
	q.text = NULL;

	/* paging: pages of two, then new events arrive; nothing shifts */
	{
		json_t *p1 = NULL, *p2 = NULL, *p3 = NULL;
		int64_t next;

		q.limit = 2;
		CHECK_INT(search_n(st, &q, &p1), 2, "page 1");
		next = json_integer_value(json_object_get(p1, "next"));
		CHECK(next > 0, "with a cursor");
		b = batch_of(next_event(&a, "agent.test", "{}", T0 + 10 * HOUR), NULL);
		CHECK_INT(ingest(st, h1, b, &res), 0, "a newer event arrives");
		q.cursor = next;
		CHECK_INT(search_n(st, &q, &p2), 2, "page 2");
		CHECK_STR(json_string_value(json_object_get(
				  json_array_get(json_object_get(p2, "events"), 0), "type")),
			  "process.start", "continues where page 1 ended");
		q.cursor = json_integer_value(json_object_get(p2, "next"));
		CHECK_INT(search_n(st, &q, &p3), 1, "page 3 has the last one");
		CHECK(json_is_null(json_object_get(p3, "next")), "and no cursor");
		json_decref(p1);
		json_decref(p2);
		json_decref(p3);
		q.cursor = 0;
		q.ascending = true;
		q.limit = 1;
		CHECK_INT(search_n(st, &q, &p1), 1, "ascending");
		CHECK_INT(json_integer_value(json_object_get(
				  json_array_get(json_object_get(p1, "events"), 0), "time")),
			  T0 + HOUR, "starts with the oldest");
		json_decref(p1);
		q.ascending = false;
		q.limit = 100;
	}
	q.host_id = "no-such-host";
	CHECK_INT(store_events_search(st, &q, &v), -ENOENT, "an unknown host: -ENOENT");
	q.host_id = NULL;

	/* counts */
	CHECK_INT(store_events_counts(st, &q, "type", NULL, &v), 0, "counts by type");
	CHECK_INT(json_integer_value(json_object_get(v, "total")), 6, "six events in all");
	CHECK_INT(json_array_size(json_object_get(v, "buckets")), 5, "of five types");
	json_decref(v);
	CHECK_INT(store_events_counts(st, &q, "type", "hour", &v), 0, "counts by type and hour");
	CHECK_INT(json_integer_value(json_object_get(
			  json_array_get(json_object_get(v, "buckets"), 0), "hour")) %
			  HOUR,
		  0, "hours are bucket starts");
	json_decref(v);
	q.text = "給与";
	CHECK_INT(store_events_counts(st, &q, "host", NULL, &v), 0, "counts with text");
	CHECK_INT(json_integer_value(json_object_get(v, "total")), 1, "one");
	json_decref(v);
	q.text = "給与明細";
	CHECK_INT(store_events_counts(st, &q, "user", NULL, &v), 0, "counts with long text");
	CHECK_STR(json_string_value(json_object_get(
			  json_array_get(json_object_get(v, "buckets"), 0), "user")),
		  "taro", "by user");
	json_decref(v);
	q.text = NULL;
	CHECK_INT(store_events_counts(st, &q, "type", "type", &v), -EINVAL, "by twice: -EINVAL");
	CHECK_INT(store_events_counts(st, &q, "colour", NULL, &v), -EINVAL, "unknown by: -EINVAL");

	/* purge: process.start first, then every other type but file.copy */
	{
		int64_t key = 0;
		size_t deleted = 0;
		json_t *except = json_pack("[s]", "file.copy");

		CHECK_INT(store_events_purge(st, "process.start", NULL, T0 + 100 * HOUR, &key, 100,
					     &deleted),
			  0, "purge process.start");
		CHECK_INT(deleted, 1, "one deleted");
		key = 0;
		CHECK_INT(
			store_events_purge(st, NULL, except, T0 + 3 * HOUR + 1, &key, 1, &deleted),
			1, "a batch of one: more to do");
		CHECK_INT(deleted, 0, "the oldest is a file.copy, kept");
		CHECK_INT(store_events_purge(st, NULL, except, T0 + 3 * HOUR + 1, &key, 100,
					     &deleted),
			  0, "the rest");
		CHECK_INT(deleted, 1, "the wifi event older than 3h");
		q.text = "Cafe";
		CHECK_INT(search_n(st, &q, NULL), 0, "gone from full-text search too");
		q.text = NULL;
		CHECK_INT(search_n(st, &q, NULL), 4, "four events left");
		json_decref(except);
	}
}

/* A word in more events than the search walks in the index before it turns to LIKE. */
static void test_common_word(struct store *st, const char *h1, const char *h2)
{
	struct store_event_query q = {.limit = 10, .text = "見積書", .host_id = h2};
	struct store_ingest_result res;
	json_t *v = NULL;
	char data[128];
	int64_t seq = 1000;

	/* host 2: three old ones; host 1: 6,000 newer ones */
	for (int i = 0; i < 3; i++) {
		(void) snprintf(data, sizeof(data),
				"[{\"seq\": %d, \"time\": %lld, \"type\": \"file.write\","
				" \"data\": {\"path\": \"/srv/見積書_%d.xlsx\"}}]",
				100 + i, (long long) T0 - 50 * HOUR + i, i);
		(void) ingest(st, h2, parse_json(data), &res);
	}
	for (int b = 0; b < 6; b++) {
		json_t *batch = json_array();

		for (int i = 0; i < 1000; i++, seq++)
			json_array_append_new(batch,
					      json_pack("{sIsIsss{ss}}", "seq", (json_int_t) seq,
							"time", (json_int_t) (T0 - 40 * HOUR + seq),
							"type", "file.write", "data", "path",
							"/home/x/見積書.docx"));
		(void) ingest(st, h1, batch, &res);
	}
	CHECK_INT(search_n(st, &q, &v), 3, "a common word on a host with few of it: all three");
	CHECK(json_is_null(json_object_get(v, "next")), "and the end");
	json_decref(v);
	q.limit = 2;
	CHECK_INT(search_n(st, &q, &v), 2, "paged by two");
	q.cursor = json_integer_value(json_object_get(v, "next"));
	json_decref(v);
	CHECK_INT(search_n(st, &q, &v), 1, "the second page has the third");
	CHECK_STR(json_string_value(json_object_get(
			  json_object_get(json_array_get(json_object_get(v, "events"), 0), "data"),
			  "path")),
		  "/srv/見積書_0.xlsx", "the oldest");
	json_decref(v);
	q.cursor = 0;
	q.ascending = true;
	q.limit = 100;
	CHECK_INT(search_n(st, &q, NULL), 3, "ascending too");
	q.host_id = h1;
	q.ascending = false;
	CHECK_INT(search_n(st, &q, NULL), 100, "and the busy host fills its page");
}

static void test_since_and_cursors(struct store *st)
{
	json_t *v = NULL;
	int64_t pos = 0, c = 0;

	CHECK_INT(store_events_position(st, &pos), 0, "the position");
	CHECK(pos > 0, "is past 0");
	CHECK_INT(store_events_since(st, pos - 2, 10, &v), 0, "the last two stored");
	CHECK_INT(json_array_size(json_object_get(v, "events")), 2, "two");
	CHECK_INT(json_integer_value(
			  json_object_get(json_array_get(json_object_get(v, "events"), 1), "rx")),
		  pos, "in storing order");
	json_decref(v);
	CHECK_INT(store_cursor_get(st, "siem", &c), -ENOENT, "no cursor yet");
	CHECK_INT(store_cursor_set(st, "siem", 42, NOW), 0, "set it");
	CHECK_INT(store_cursor_get(st, "siem", &c), 0, "read it");
	CHECK_INT(c, 42, "42");
}

/* A store written by schema version 1 with events in it migrates to the chain's schema (3),
 * and on to the latest (5). */
static void test_migration(void)
{
	struct tmpstore t;
	struct store *st = NULL;
	struct store_event_query q = {.limit = 10, .text = "report"};
	sqlite3 *db;
	int v = 0;

	if (tmpstore_init_at(&t, NULL, NULL) < 0)
		return;
	db = NULL;
	if (sqlite3_open(t.path, &db) != SQLITE_OK)
		return;
	CHECK_INT(
		sqlite_exec(db,
			    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied"
			    " INTEGER NOT NULL);"
			    "INSERT INTO schema_version VALUES (1, 0);"
			    "CREATE TABLE hosts (num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
			    " hostname TEXT NOT NULL, deleted INTEGER, max_seq INTEGER);"
			    "INSERT INTO hosts VALUES (1, 'h-1', 'pc-1', NULL, 2);"
			    "CREATE TABLE events (host INTEGER NOT NULL, seq INTEGER NOT NULL,"
			    " time_ms INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,"
			    " extra TEXT, received INTEGER NOT NULL, PRIMARY KEY (host, seq))"
			    " STRICT, WITHOUT ROWID;"
			    "INSERT INTO events VALUES (1, 1, 1000, 'file.write',"
			    " '{\"path\": \"/srv/report.pdf\", \"user\": \"taro\"}', NULL, 5);"
			    "INSERT INTO events VALUES (1, 2, 1000, 'agent.test', '{}', NULL, 6);"),
		SQLITE_OK, "a version 1 store with two events");
	sqlite3_close(db);
	CHECK_INT(store_open(t.url, &st), 0, "opens and migrates");
	CHECK_INT(store_schema_version(st, &v), 0, "version");
	CHECK_INT(v, 5, "version 5, the latest");
	CHECK_INT(search_n(st, &q, NULL), 1, "old events are searchable by text");
	q.text = NULL;
	q.user = "taro";
	CHECK_INT(search_n(st, &q, NULL), 1, "and by user");
	store_free(st);
	tmpstore_remove(&t);
}

/* ---- forwarding while events arrive ---- */

#define FW_WRITERS 4
#define FW_ROUNDS  15
#define FW_BATCH   20

struct fw_writer {
	struct store *st;
	const char *host;
	int failed;
};

/* One agent: FW_ROUNDS chained batches of FW_BATCH events. */
static void *fw_write(void *arg)
{
	struct fw_writer *w = arg;
	struct agent *a = mm_calloc(1, sizeof(*a));

	if (!a) {
		w->failed++;
		return NULL;
	}
	agent_init(a, w->host);
	for (int r = 0; r < FW_ROUNDS; r++) {
		struct store_ingest_result res;
		json_t *b = json_array();

		for (int i = 0; i < FW_BATCH; i++)
			json_array_append_new(
				b, next_event(a, "agent.test", "{\"n\": 1}", T0 + r * 1000 + i));
		if (ingest(w->st, w->host, b, &res) < 0 || res.stored != FW_BATCH || res.broken)
			w->failed++;
	}
	mm_free(a);
	return NULL;
}

struct fw_reader {
	struct store *st;
	int64_t pos;
	atomic_int done;
	size_t seen, dups, disorder, failed;
	json_t *keys; /* "host/seq" → true */
};

/* The SIEM forwarder's loop: everything after its position, again and again. */
static void *fw_read(void *arg)
{
	struct fw_reader *r = arg;

	for (;;) {
		int done = atomic_load(&r->done);
		json_t *v = NULL, *e;
		size_t i;

		if (store_events_since(r->st, r->pos, 100, &v) < 0) {
			r->failed++;
			return NULL;
		}
		json_array_foreach (json_object_get(v, "events"), i, e) {
			char key[96];
			int64_t rx = json_integer_value(json_object_get(e, "rx"));

			(void) snprintf(key, sizeof(key), "%s/%lld",
					json_string_value(json_object_get(e, "host_id")),
					(long long) json_integer_value(json_object_get(e, "seq")));
			if (json_object_get(r->keys, key))
				r->dups++;
			(void) json_object_set_new(r->keys, key, json_true());
			r->disorder += rx <= r->pos;
			r->pos = rx;
			r->seen++;
		}
		i = json_array_size(json_object_get(v, "events"));
		json_decref(v);
		if (done && i == 0)
			return NULL;
	}
}

/*
 * Agents upload through two store handles (two servers on PostgreSQL) while a forwarder
 * reads in insertion order: it sees every event once, in increasing positions, never one
 * that commits behind its position.
 */
static void test_forwarding(const char *url, char hosts[FW_WRITERS][STORE_ID_MAX])
{
	struct store *st[2] = {NULL, NULL}, *rd = NULL;
	struct fw_writer w[FW_WRITERS];
	struct fw_reader r = {.keys = json_object()};
	pthread_t tw[FW_WRITERS], tr;
	int failed = 0;

	if (store_open(url, &st[0]) < 0 || store_open(url, &st[1]) < 0 ||
	    store_open(url, &rd) < 0 || store_events_position(rd, &r.pos) < 0) {
		CHECK(false, "three handles on one store");
		goto out;
	}
	r.st = rd;
	(void) pthread_create(&tr, NULL, fw_read, &r);
	for (int i = 0; i < FW_WRITERS; i++) {
		w[i] = (struct fw_writer){.st = st[i % 2], .host = hosts[i]};
		(void) pthread_create(&tw[i], NULL, fw_write, &w[i]);
	}
	for (int i = 0; i < FW_WRITERS; i++) {
		(void) pthread_join(tw[i], NULL);
		failed += w[i].failed;
	}
	atomic_store(&r.done, 1);
	(void) pthread_join(tr, NULL);
	CHECK(failed == 0, "%d agents upload %d batches each through two handles (%d failed)",
	      FW_WRITERS, FW_ROUNDS, failed);
	CHECK_INT(r.failed, 0, "a forwarder reads in insertion order meanwhile");
	CHECK_INT(r.seen, FW_WRITERS * FW_ROUNDS * FW_BATCH, "and sees every event");
	CHECK_INT(r.dups, 0, "once");
	CHECK_INT(r.disorder, 0, "in increasing positions");
out:
	json_decref(r.keys);
	store_free(st[0]);
	store_free(st[1]);
	store_free(rd);
}

/*
 * A PostgreSQL store of schema version 1 — events stored by the first backend, without the
 * chain's verification, the chain's fields kept in extra — migrates to the event store:
 * old events are searchable, flagged unchained with their chain fields in place, numbered
 * in the order they were received, and an idempotency key whose event is gone is dropped.
 */
static void test_pg_migration(void)
{
	static const char hash2[] =
		"2222222222222222222222222222222222222222222222222222222222222222";
	struct store_event_query q = {.limit = 10, .text = "report"};
	struct store_ingest_result res;
	struct tmpstore t;
	struct store *st = NULL;
	struct raw *r;
	json_t *v = NULL, *e;
	int64_t pos = 0;
	int version = 0;

	if (tmpstore_init(&t, NULL) < 0 || !(r = raw_open(&t)))
		return;
	CHECK_INT(
		raw_exec(
			r,
			"CREATE EXTENSION IF NOT EXISTS pg_trgm;"
			"CREATE TABLE schema_version (version integer PRIMARY KEY,"
			"  applied bigint NOT NULL);"
			"INSERT INTO schema_version VALUES (1, 0);"
			"CREATE TABLE hosts (num bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY "
			"KEY,"
			"  id text COLLATE \"C\" NOT NULL UNIQUE, hostname text COLLATE \"C\" NOT "
			"NULL,"
			"  machine_id text NOT NULL, os text NOT NULL, agent_version text NOT NULL,"
			"  group_name text COLLATE \"C\", facts text NOT NULL, enrolled bigint NOT "
			"NULL,"
			"  enroll_token text, last_seen bigint, last_remote text, last_state text,"
			"  revoked_at bigint, deleted bigint, cert_serial bigint NOT NULL UNIQUE,"
			"  cert_pem text NOT NULL, inventory_digest text NOT NULL DEFAULT '',"
			"  inventory_time bigint, serial_number text COLLATE \"C\", chassis text,"
			"  max_seq bigint NOT NULL DEFAULT 0);"
			"CREATE TABLE event_seqs (host bigint NOT NULL REFERENCES hosts(num),"
			"  seq bigint NOT NULL CHECK (seq >= 1), PRIMARY KEY (host, seq));"
			"CREATE TABLE events (host bigint NOT NULL, seq bigint NOT NULL,"
			"  time_ms bigint NOT NULL, type text NOT NULL, data text NOT NULL, extra "
			"text,"
			"  received bigint NOT NULL) PARTITION BY RANGE (received);"
			"CREATE INDEX events_host_seq ON events(host, seq);"
			"CREATE INDEX events_data_trgm ON events USING gin (data gin_trgm_ops);"
			"CREATE TABLE events_202611 PARTITION OF events"
			"  FOR VALUES FROM (1793491200) TO (1796083200);"
			"INSERT INTO hosts (id, hostname, machine_id, os, agent_version, facts,"
			"  enrolled, cert_serial, cert_pem, max_seq)"
			"  VALUES ('h-1', 'pc-1', 'm', 'Debian', '0.1', '{}', 1, 7, 'pem', 4);"
			"INSERT INTO event_seqs VALUES (1, 1), (1, 2), (1, 3), (1, 4);"
			"INSERT INTO events VALUES"
			" (1, 3, 1000, 'agent.test', '{}', NULL, 1795650002),"
			" (1, 1, 1000, 'file.write', "
			"'{\"path\":\"/srv/report.pdf\",\"user\":\"taro\"}',"
			"  NULL, 1795650000),"
			" (1, 2, 1000, 'agent.test', '{}', "
			"'{\"mono\":77,\"prev\":\"1111111111111111"
			"111111111111111111111111111111111111111111111111\",\"hash\":"
			"\"22222222222222"
			"22222222222222222222222222222222222222222222222222\",\"proxy\":\"p-1\"}',"
			"  1795650001);"),
		0, "postgres: a version 1 store with three events (and a key whose event is gone)");
	CHECK_INT(store_open(t.url, &st), 0, "opens and migrates");
	if (!st)
		goto out;
	CHECK_INT(store_schema_version(st, &version), 0, "version");
	CHECK(version >= 2, "version %d", version);
	CHECK_INT(search_n(st, &q, NULL), 1, "old events are searchable by text");
	q.text = NULL;
	q.user = "taro";
	CHECK_INT(search_n(st, &q, NULL), 1, "and by user");
	CHECK_INT(store_host_events(st, "h-1", 0, NULL, 10, &v), 0, "the host's events");
	e = json_array_get(json_object_get(v, "events"), 1);
	CHECK_STR(json_string_value(json_object_get(e, "chain")), "unchained",
		  "flagged unchained: never verified");
	CHECK_STR(json_string_value(json_object_get(e, "hash")), hash2,
		  "the chain's fields are taken out of extra");
	CHECK_INT(json_integer_value(json_object_get(e, "mono")), 77, "mono too");
	CHECK_STR(json_string_value(json_object_get(e, "proxy")), "p-1",
		  "and other members beyond the record stay");
	json_decref(v);
	CHECK_INT(raw_int(r, "SELECT count(*) FROM event_seqs"), 3,
		  "the key of the event that is gone is dropped");
	{
		char order[32];

		CHECK_STR(raw_text(r, "SELECT string_agg(seq::text, ',' ORDER BY id) FROM events",
				   order, sizeof(order)),
			  "1,2,3",
			  "keys of one millisecond follow the order they were received in");
		CHECK_STR(raw_text(r,
				   "SELECT string_agg(seq::text, ',' ORDER BY rx) FROM event_seqs",
				   order, sizeof(order)),
			  "1,2,3", "and so do the positions");
	}
	CHECK_INT(store_events_position(st, &pos), 0, "the position");
	CHECK_INT(pos, 3, "is the last of them");
	CHECK_INT(ingest(st, "h-1",
			 parse_json("[{\"seq\": 5, \"time\": 2000, \"type\": \"agent.test\","
				    " \"data\": {}}]"),
			 &res),
		  0, "a new event after the migration");
	CHECK_INT(res.stored, 1, "is stored");
	CHECK_INT(res.gaps, 0, "and opens no gap: 5 follows 4, the highest seq held");
	CHECK_INT(store_events_since(st, 3, 10, &v), 0, "read since 3");
	CHECK_INT(json_array_size(json_object_get(v, "events")), 1, "one: the new event");
	json_decref(v);
out:
	store_free(st);
	raw_close(r);
	tmpstore_remove(&t);
}

/*
 * PostgreSQL: retention drops a month partition whose events all go, with their event_seqs
 * rows, and deletes row by row in a month that keeps some.
 */
static void test_pg_partitions(struct store *st, const char *host)
{
	/* two months received 100 and 70 days before NOW, events of those times */
	const int64_t old1 = NOW - 100 * 86400, old2 = NOW - 70 * 86400;
	struct store_ingest_result res;
	json_t *except = json_pack("[s]", "usb.insert");
	int64_t key = 0;
	size_t deleted = 0, total = 0;
	char b[512];
	long long parts;
	int r;

	(void) snprintf(b, sizeof(b),
			"[{\"seq\": 1, \"time\": %lld, \"type\": \"file.write\", \"data\": {}},"
			" {\"seq\": 2, \"time\": %lld, \"type\": \"file.write\", \"data\": {}}]",
			(long long) old1 * 1000, (long long) old1 * 1000 + 1);
	CHECK_INT(ingest_at(st, host, parse_json(b), old1, &res), 0,
		  "postgres: events of a month 100 days ago");
	(void) snprintf(b, sizeof(b),
			"[{\"seq\": 3, \"time\": %lld, \"type\": \"file.write\", \"data\": {}},"
			" {\"seq\": 4, \"time\": %lld, \"type\": \"usb.insert\", \"data\": {}}]",
			(long long) old2 * 1000, (long long) old2 * 1000 + 1);
	CHECK_INT(ingest_at(st, host, parse_json(b), old2, &res), 0,
		  "and of one 70 days ago, with a type kept longer");
	parts = raw_int(raw,
			"SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass");
	do {
		r = store_events_purge(st, NULL, except, (NOW - 30 * 86400) * INT64_C(1000), &key,
				       1, &deleted);
		total += deleted;
	} while (r > 0);
	CHECK_INT(r, 0, "a purge of everything older than 30 days but usb.insert");
	CHECK_INT(total, 3, "deletes the three events that go");
	CHECK_INT(raw_int(raw,
			  "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"),
		  parts - 1, "the month that goes whole is dropped, the other one stays");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM events e JOIN hosts h ON h.num = e.host"
			       " WHERE h.hostname = 'pc-months'"),
		  1, "one event left: the usb.insert");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM event_seqs s JOIN hosts h ON h.num = s.host"
			       " WHERE h.hostname = 'pc-months'"),
		  1, "and one idempotency key");
	(void) snprintf(b, sizeof(b),
			"[{\"seq\": 5, \"time\": %lld, \"type\": \"file.write\", \"data\": {}}]",
			(long long) old1 * 1000 + 5);
	CHECK_INT(ingest_at(st, host, parse_json(b), old1, &res), 0,
		  "a late batch for the dropped month");
	CHECK_INT(res.stored, 1, "is stored: the partition comes back");
	json_decref(except);
}

/* The database holds what the store says (integrity of its own structures). */
static void check_intact(struct raw *r)
{
	char ok[16];

	if (raw_is_pg(r)) {
		CHECK_INT(raw_int(r, "SELECT count(*) FROM events e JOIN event_seqs s"
				     " ON s.host = e.host AND s.seq = e.seq AND s.id = e.id"
				     "   AND s.received = e.received"),
			  raw_int(r, "SELECT count(*) FROM event_seqs"),
			  "every event has its key and position in event_seqs");
		CHECK_INT(raw_int(r, "SELECT count(*) FROM events"),
			  raw_int(r, "SELECT count(*) FROM event_seqs"),
			  "and nothing else is there");
		CHECK_INT(raw_int(r, "SELECT value - (SELECT max(rx) FROM event_seqs) FROM counters"
				     " WHERE name = 'events_rx'"),
			  0, "the counter is the last position");
		return;
	}
	CHECK_STR(raw_text(r, "PRAGMA integrity_check", ok, sizeof(ok)), "ok",
		  "the database is intact");
	CHECK_INT(raw_exec(r, "INSERT INTO events_fts(events_fts) VALUES ('integrity-check')"),
		  SQLITE_OK, "and so is the full-text index");
}

int main(void)
{
	struct tmpstore tmp2;
	struct store *st = NULL, *st2 = NULL;
	struct raw *raw2;
	char h1[STORE_ID_MAX], h2[STORE_ID_MAX], h3[STORE_ID_MAX], h4[STORE_ID_MAX];
	char h5[STORE_ID_MAX], h6[STORE_ID_MAX], h7[STORE_ID_MAX];

	log_setup("test-store-events", LOG_ERR);
	mm_setup_jansson();
	if (tmpstore_init(&tmp, NULL) < 0 || tmpstore_init(&tmp2, NULL) < 0)
		tap_skip_all("no temporary directory or database");
	tap_diag("backend: %s", tmpstore_backend());
	CHECK_INT(store_open(tmp.url, &st), 0, "store opens");
	raw = raw_open(&tmp);
	if (!st || !raw)
		return tap_done();
	enroll(st, "pc-chain", h1);
	enroll(st, "pc-genesis", h2);
	enroll(st, "pc-start", h3);
	enroll(st, "pc-other", h6);
	test_chain(st, h1);
	test_genesis_and_unchained(st, h2, h6);
	test_chain_start(st, h3);
	check_intact(raw);
	CHECK_INT(store_host_delete(st, h1, NOW), 0, "deleting a host");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM event_gaps"), 0, "takes its gaps");
	CHECK_INT(raw_int(raw, "SELECT count(*) FROM chain_evidence WHERE host = (SELECT num FROM"
			       " hosts WHERE hostname = 'pc-chain')"),
		  0, "and its evidence with it");
	check_intact(raw);
	store_free(st);
	raw_close(raw);
	tmpstore_remove(&tmp);

	/* search, counts, purges and jobs in a store of their own */
	CHECK_INT(store_open(tmp2.url, &st2), 0, "a second store opens");
	raw = raw2 = raw_open(&tmp2);
	enroll(st2, "pc-search-1", h4);
	enroll(st2, "pc-search-2", h5);
	test_search(st2, h4, h5);
	test_since_and_cursors(st2);
	test_common_word(st2, h4, h5);
	{
		char fw[FW_WRITERS][STORE_ID_MAX];

		for (int i = 0; i < FW_WRITERS; i++) {
			char name[32];

			(void) snprintf(name, sizeof(name), "pc-fw-%d", i);
			enroll(st2, name, fw[i]);
		}
		test_forwarding(tmp2.url, fw);
	}
	if (raw2) {
		check_intact(raw2);
		if (raw_is_pg(raw2)) {
			enroll(st2, "pc-months", h7);
			test_pg_partitions(st2, h7);
			check_intact(raw2);
		}
	}
	store_free(st2);
	raw_close(raw2);
	raw = NULL;
	tmpstore_remove(&tmp2);

	test_migration();
	if (strncmp(tmpstore_backend(), "postgres", 8) == 0)
		test_pg_migration();
	return tap_done();
}
