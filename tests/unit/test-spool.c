/*
 * The spool: sequence numbers persist and are never reused (not after eviction, not after
 * reopening), acknowledged events are deleted, the bound holds with oldest-first eviction
 * of the lowest priority, every eviction is counted and reported, inventory uploads are
 * replaced rather than piled up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "tests/tap.h"

static char dir[] = "/tmp/test-spool.XXXXXX";
static char path[256];

static int add(struct spool *sp, const char *type, size_t data_len, uint64_t *first)
{
	char *data = mm_malloc(data_len + 16);
	int r;

	if (!data)
		return -ENOMEM;
	memset(data, 'x', data_len + 16);
	memcpy(data, "{\"p\":\"", 6);
	memcpy(data + 6 + data_len, "\"}", 3);
	r = spool_add_events(sp, &(struct spool_event){.type = type, .time_ms = 1, .data = data}, 1,
			     first);
	mm_free(data);
	return r;
}

/* The events of the next batch, as parsed JSON. */
static json_t *events_of(struct spool *sp, size_t max_n)
{
	uint64_t last;
	size_t n;
	struct buf b;
	json_t *v = NULL, *e;

	buf_init(&b, LIMIT_AGENT_BODY);
	if (spool_events_batch(sp, max_n, 1 << 20, &b, &last, &n) == 0 &&
	    jsonw_parse(buf_str(&b), b.len, LIMIT_AGENT_BODY, &v, NULL) < 0)
		v = NULL;
	buf_done(&b);
	e = json_incref(json_object_get(v, "events"));
	json_decref(v);
	return e;
}

static void test_sequence(void)
{
	struct spool *sp = NULL;
	struct spool_stats st;
	uint64_t first = 0, last = 0;
	size_t n = 0;
	json_t *ev;
	struct spool_event two[2] = {
		{.type = "agent.test", .time_ms = 5, .data = "{\"a\":1}"},
		{.type = "agent.test", .time_ms = 6, .data = "{\"a\":2}"},
	};

	CHECK_INT(spool_open(path, 1 << 20, false, &sp), 0, "a new spool opens");
	CHECK_INT(add(sp, "agent.test", 10, &first), 0, "an event is spooled");
	CHECK_INT(first, 1, "the first event gets sequence 1");
	CHECK_INT(spool_add_events(sp, two, 2, &first), 0, "two events in one transaction");
	CHECK_INT(first, 2, "numbering continues at 2");
	CHECK_INT(spool_add_events(sp, &(struct spool_event){.type = "Bad Type", .data = "{}"}, 1,
				   &first),
		  -EINVAL, "a bad type is refused");
	CHECK_INT(spool_add_events(sp, &(struct spool_event){.type = "agent.test", .data = "[1]"},
				   1, &first),
		  -EINVAL, "data that is not an object is refused");
	CHECK_INT(spool_has_events(sp), 1, "events wait");

	ev = events_of(sp, 10);
	CHECK_INT(json_array_size(ev), 3, "a batch holds the three events");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(ev, 0), "seq")), 1,
		  "in sequence order (first)");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(ev, 2), "seq")), 3,
		  "in sequence order (last)");
	CHECK_INT(json_integer_value(
			  json_object_get(json_object_get(json_array_get(ev, 2), "data"), "a")),
		  2, "with their data");
	json_decref(ev);
	{
		struct buf b;

		buf_init(&b, LIMIT_AGENT_BODY);
		CHECK_INT(spool_events_batch(sp, 2, 1 << 20, &b, &last, &n), 0, "a capped batch");
		CHECK(n == 2 && last == 2, "stops at max_n (n=%zu, last=%llu)", n,
		      (unsigned long long) last);
		buf_done(&b);
	}

	CHECK_INT(spool_ack(sp, 2), 2, "acknowledging 2 deletes two events");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK_INT(st.events, 1, "one event is left");
	CHECK_INT(st.acked_seq, 2, "acked_seq is remembered");
	CHECK_INT(spool_ack(sp, 1), 0, "an older acknowledgement deletes nothing");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK_INT(st.acked_seq, 2, "and does not lower acked_seq");
	sp = spool_free(sp);

	CHECK_INT(spool_open(path, 1 << 20, false, &sp), 0, "the spool reopens");
	CHECK_INT(add(sp, "agent.test", 10, &first), 0, "an event after reopening");
	CHECK_INT(first, 4, "gets the next number, not a reused one");
	CHECK_INT(spool_ack(sp, 4), 2, "acknowledging everything");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK(st.events == 0 && st.bytes == 0, "leaves the spool empty (bytes %llu)",
	      (unsigned long long) st.bytes);
	CHECK_INT(spool_has_events(sp), 0, "no events wait");

	CHECK_INT(spool_ack(sp, 10), 0, "the server claims more than was given");
	CHECK_INT(add(sp, "agent.test", 10, &first), 0, "an event after that");
	CHECK_INT(first, 11, "is numbered past the server's claim");
	CHECK_INT(spool_ack(sp, 11), 1, "acknowledged");
	spool_free(sp);
}

static void test_eviction(void)
{
	struct spool *sp = NULL;
	struct spool_stats st;
	uint64_t first = 0, seq_high = 0, max = 32 * 1024, over = 0;
	json_t *ev, *rep = NULL;
	size_t i, n;

	(void) unlink(path);
	CHECK_INT(spool_open(path, max, false, &sp), 0, "a 32 KiB spool");
	CHECK_INT(add(sp, "agent.start", 100, &seq_high), 0, "a high-priority event");
	for (i = 0; i < 100; i++) {
		if (add(sp, "agent.test", 1000, &first) < 0 || spool_stats(sp, &st) < 0)
			break;
		if (st.bytes > max)
			over++;
	}
	CHECK_INT(i, 100, "100 low-priority events of 1 KiB are spooled");
	CHECK_INT(over, 0, "the accounted size never exceeds the bound");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK(st.evicted_total > 0, "some were evicted (%llu)",
	      (unsigned long long) st.evicted_total);
	CHECK_INT(st.evicted_unreported, st.evicted_total, "all of them unreported so far");
	CHECK_INT(st.last_seq, 101, "every event got a number");
	CHECK_INT(st.events + st.evicted_total, 101, "spooled + evicted = all of them");

	ev = events_of(sp, 1000);
	CHECK_STR(json_string_value(json_object_get(json_array_get(ev, 0), "type")), "agent.start",
		  "the high-priority event survived");
	n = json_array_size(ev);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(ev, 1), "seq")),
		  (long long) (101 - (n - 2)), "the oldest low-priority events went first");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(ev, n - 1), "seq")), 101,
		  "the newest stayed");
	json_decref(ev);

	CHECK_INT(spool_report_evictions(sp, 1000), 1, "the evictions are reported");
	CHECK_INT(spool_report_evictions(sp, 1000), 0, "once");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK_INT(st.evicted_unreported, 0, "nothing is left unreported");
	ev = events_of(sp, 1000);
	for (i = 0; i < json_array_size(ev); i++) {
		json_t *e = json_array_get(ev, i);

		if (streq(json_string_value(json_object_get(e, "type")), "agent.spool_evicted"))
			rep = json_object_get(e, "data");
	}
	CHECK(rep != NULL, "an agent.spool_evicted event is in the spool");
	CHECK_INT(json_integer_value(json_object_get(rep, "count")), st.evicted_total,
		  "with the count");
	CHECK(json_integer_value(json_object_get(rep, "bytes")) > 1000 * 20, "and the bytes");
	CHECK_INT(json_integer_value(json_object_get(rep, "oldest_seq")), 2,
		  "and the oldest evicted number");
	CHECK_INT(json_integer_value(json_object_get(rep, "newest_seq")),
		  (long long) (1 + st.evicted_total), "and the newest");
	json_decref(ev);
	sp = spool_free(sp);

	CHECK_INT(spool_open(path, max, false, &sp), 0, "reopened");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK(st.evicted_total > 0 && st.evicted_unreported == 0,
	      "the eviction counters persist (%llu)", (unsigned long long) st.evicted_total);
	sp = spool_free(sp);

	CHECK_INT(spool_open(path, 0, false, &sp), 0, "opened by a writer without a bound");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK_INT(st.max_bytes, max, "it uses the bound the daemon set");
	sp = spool_free(sp);
	n = st.evicted_total;
	CHECK_INT(spool_open(path, 8 * 1024, false, &sp), 0, "reopened with a lower bound");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK(st.bytes <= 8 * 1024, "the excess is evicted at once (%llu bytes left)",
	      (unsigned long long) st.bytes);
	CHECK(st.evicted_total > n, "and counted");
	spool_free(sp);
}

static void test_unfit(void)
{
	struct spool *sp = NULL;
	struct spool_stats st;
	uint64_t first = 0, before;
	int i;

	(void) unlink(path);
	CHECK_INT(spool_open(path, 16 * 1024, false, &sp), 0, "a 16 KiB spool");
	for (i = 0; i < 30; i++)
		if (add(sp, "usb.device_blocked", 1000, &first) < 0)
			break;
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	before = st.evicted_total;
	CHECK(before > 0, "high-priority events evict each other when nothing else is left");
	CHECK_INT(add(sp, "file.write", 1000, &first), 0, "a low-priority event that does not fit");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK_INT(st.evicted_total, before + 1, "is itself counted as evicted");
	CHECK_INT(st.events, 30 - before, "and evicts no high-priority event");
	CHECK_INT(add(sp, "usb.device_blocked", 10, &first), 0, "the next event");
	CHECK_INT(first, 32, "skips the evicted one's number: numbers are never reused");
	CHECK_INT(spool_add_events(sp,
				   &(struct spool_event){.type = "agent.test",
							 .data = "{\"big\":\""
								 "x\"}"},
				   1, NULL),
		  0, "a small event");
	spool_free(sp);
}

static void test_inventory(void)
{
	struct spool *sp = NULL;
	struct spool_stats st;
	char *doc = NULL;
	size_t len;
	int64_t id, id2;
	bool full;

	(void) unlink(path);
	CHECK_INT(spool_open(path, 1 << 20, false, &sp), 0, "a spool");
	CHECK_INT(spool_inventory_get(sp, &id, &doc, &len, &full), -ENOENT, "no upload waits");
	CHECK_INT(spool_inventory_put(sp, "{\"a\":1}", 7, false), 0, "an inventory is spooled");
	CHECK_INT(spool_inventory_put(sp, "{\"a\":2}", 7, false), 0, "and a newer one");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK_INT(st.depth, 1, "which replaces the older");
	CHECK_INT(st.evicted_total, 0, "without counting an eviction");
	CHECK_INT(spool_inventory_get(sp, &id, &doc, &len, &full), 0, "it is there");
	CHECK_STR(doc, "{\"a\":2}", "the newer document");
	CHECK(!full, "as a delta");
	mm_free(doc);
	CHECK_INT(spool_inventory_set_full(sp, id), 0, "marked full");
	CHECK_INT(spool_inventory_get(sp, &id2, &doc, &len, &full), 0, "read again");
	CHECK(full && id2 == id, "now full");
	mm_free(doc);
	CHECK_INT(spool_inventory_done(sp, id), 0, "acknowledged");
	CHECK_INT(spool_stats(sp, &st), 0, "stats");
	CHECK(st.depth == 0 && st.bytes == 0, "and gone");
	CHECK_INT(spool_inventory_put(sp, "{}", 2, true), 0, "a full one");
	CHECK_INT(spool_inventory_get(sp, &id, &doc, &len, &full), 0, "is there");
	CHECK(full, "full");
	mm_free(doc);
	CHECK_INT(spool_meta_set(sp, "checkin_interval", 42), 0, "a daemon setting");
	spool_free(sp);
	CHECK_INT(spool_open(path, 1 << 20, true, &sp), 0, "reopened read-only");
	{
		int64_t v = 0;

		CHECK_INT(spool_meta_get(sp, "checkin_interval", 300, &v), 0, "read back");
		CHECK_INT(v, 42, "persisted");
		CHECK_INT(spool_meta_get(sp, "nothing", 7, &v), 0, "an unset one");
		CHECK_INT(v, 7, "gives the default");
	}
	CHECK_INT(add(sp, "agent.test", 1, NULL), -EROFS, "a read-only spool refuses writes");
	spool_free(sp);
	CHECK_INT(spool_open("/nonexistent/spool.db", 1 << 20, true, &sp), -ENOENT,
		  "a missing spool opened read-only is -ENOENT");
}

int main(void)
{
	log_setup("test-spool", LOG_ERR);
	mm_setup_jansson();
	if (!mkdtemp(dir))
		tap_skip_all("no temporary directory");
	(void) snprintf(path, sizeof(path), "%s/spool.db", dir);
	test_sequence();
	test_eviction();
	test_unfit();
	test_inventory();
	for (size_t i = 0; i < 3; i++) {
		static const char *const suffix[] = {"", "-wal", "-shm"};
		char p[300];

		(void) snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		(void) unlink(p);
	}
	(void) rmdir(dir);
	return tap_done();
}
