/*
 * The event chain (lib/evchain.h): the genesis value and a record's hash are what
 * docs/protocol.md says (vectors computed independently with Python's hashlib and json),
 * linking advances the head, checking tells a good record from an altered or unchained
 * one, and the eviction report's runs survive formatting and parsing.
 */
#include <errno.h>
#include <string.h>

#include "lib/evchain.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "tests/tap.h"

#define HOST "7f7c0000-0000-4000-8000-000000000001"
/* python3: hashlib.sha256(b"mamori.evchain.v1\n" + HOST).hexdigest() */
#define GENESIS "4a6a008b753282ba91577071199eaeebc2b3429d085cbe6e58c48134096ccb27"
/* python3: sha256(json.dumps(rec, sort_keys=True, separators=(',', ':'),
 * ensure_ascii=False)) of the record below */
#define HASH1 "cb848ee4563f05da52caeb3e22694f3e3ae11410d063cdab47f8299c3d509648"
#define DATA1 "{\"user\": \"taro\", \"path\": \"/home/taro/給与明細.xlsx\", \"n\": 3}"

static json_t *event(const char *text)
{
	json_t *v = NULL;

	if (jsonw_parse(text, strlen(text), 1 << 20, &v, NULL) < 0)
		printf("# bad test JSON: %s\n", text);
	return v;
}

int main(void)
{
	char g[EVCHAIN_HEX], head[EVCHAIN_HEX], h1[EVCHAIN_HEX], h2[EVCHAIN_HEX], c[EVCHAIN_HEX];
	char *text = NULL;
	json_t *e;

	mm_setup_jansson();

	CHECK_INT(evchain_genesis(HOST, g), 0, "genesis");
	CHECK_STR(g, GENESIS, "the genesis value is SHA-256 of the prefix and the host id");
	CHECK_INT(evchain_genesis("another-host", h2), 0, "genesis of another host");
	CHECK(strcmp(g, h2) != 0, "and differs per host");

	memcpy(head, g, sizeof(head));
	CHECK_INT(evchain_link(head, 1, 1795650002123, 5000, "file.write", DATA1, h1), 0, "link");
	CHECK_STR(h1, HASH1, "the record's hash matches an independent implementation");
	CHECK_STR(head, HASH1, "the head moves to the new record");
	CHECK_INT(evchain_link(head, 2, 1795650002124, 5001, "file.write", "{}", h2), 0, "link 2");
	CHECK(strcmp(h2, h1) != 0 && streq(head, h2), "the second record has its own hash");
	CHECK_INT(evchain_link(head, 3, 0, 0, "x", "[1]", c), -EINVAL, "data must be an object");
	CHECK_INT(evchain_link(head, 3, 0, 0, "x", "{", c), -EINVAL, "and valid JSON");
	CHECK_STR(head, h2, "a refused record leaves the head alone");
	CHECK_INT(evchain_link(head, 0, 0, 0, "x", "{}", c), -EINVAL, "seq 0 is refused");

	/* What the server receives: the same record, other key order and spacing. */
	e = event("{\"type\": \"file.write\", \"prev\": \"" GENESIS "\", \"hash\": \"" HASH1
		  "\", \"data\": {\"n\": 3, \"path\": \"/home/taro/給与明細.xlsx\","
		  " \"user\": \"taro\"}, \"seq\": 1, \"time\": 1795650002123, \"mono\": 5000,"
		  " \"received\": 12}");
	CHECK_INT(evchain_check(e, c), EVCHAIN_OK, "a received record checks");
	CHECK_STR(c, HASH1, "and its computed hash is the agent's");
	json_object_set_new(json_object_get(e, "data"), "path", json_string("/tmp/x"));
	CHECK_INT(evchain_check(e, c), EVCHAIN_ALTERED, "a changed path is an alteration");
	CHECK(strcmp(c, HASH1) != 0, "and the computed hash differs from the claimed one");
	json_object_set_new(json_object_get(e, "data"), "path",
			    json_string("/home/taro/給与明細.xlsx"));
	json_object_set_new(e, "time", json_integer(1795650002124));
	CHECK_INT(evchain_check(e, c), EVCHAIN_ALTERED, "so is a changed time");
	json_object_set_new(e, "time", json_integer(1795650002123));
	json_object_set_new(e, "seq", json_integer(2));
	CHECK_INT(evchain_check(e, c), EVCHAIN_ALTERED, "and a renumbered record");
	json_object_set_new(e, "seq", json_integer(1));
	CHECK_INT(evchain_check(e, c), EVCHAIN_OK, "restored, it checks again");
	json_object_del(e, "mono");
	CHECK_INT(evchain_check(e, c), EVCHAIN_UNCHAINED, "without mono it is unchained");
	json_object_set_new(e, "mono", json_integer(5000));
	json_object_set_new(e, "prev", json_string("ABC"));
	CHECK_INT(evchain_check(e, c), EVCHAIN_UNCHAINED, "a malformed prev is unchained");
	json_object_set_new(e, "prev", json_string(GENESIS));
	json_object_set_new(e, "hash", json_string(HASH1 "0"));
	CHECK_INT(evchain_check(e, c), EVCHAIN_UNCHAINED, "so is a malformed hash");
	json_object_del(e, "data");
	CHECK_INT(evchain_check(e, c), -EINVAL, "an event without data is no event");
	json_decref(e);

	/* The eviction report. */
	{
		struct evchain_run runs[2] = {{.first = 4, .last = 6}, {.first = 9, .last = 9}};
		struct evchain_run *back = NULL;
		size_t n = 0;
		json_t *d;

		memcpy(runs[0].prev, g, EVCHAIN_HEX);
		memcpy(runs[0].hash, h1, EVCHAIN_HEX);
		memcpy(runs[1].prev, h1, EVCHAIN_HEX);
		memcpy(runs[1].hash, h2, EVCHAIN_HEX);
		CHECK_INT(evchain_evicted_format(4, 400, 4, 9, runs, 2, &text), 0, "format runs");
		d = event(text);
		CHECK_INT(json_integer_value(json_object_get(d, "count")), 4, "count kept");
		CHECK_INT(evchain_evicted_parse(d, &back, &n), 0, "parse runs");
		CHECK(n == 2 && back && back[0].first == 4 && back[0].last == 6 &&
			      back[1].first == 9 && streq(back[1].hash, h2) &&
			      streq(back[0].prev, g),
		      "the runs come back as they went");
		mm_free(back);
		back = NULL;
		json_object_set_new(json_array_get(json_object_get(d, "runs"), 0), "last",
				    json_integer(3));
		CHECK_INT(evchain_evicted_parse(d, &back, &n), -EBADMSG, "last < first is refused");
		json_object_set_new(d, "runs", json_string("x"));
		CHECK_INT(evchain_evicted_parse(d, &back, &n), -EBADMSG, "runs must be an array");
		json_object_del(d, "runs");
		CHECK_INT(evchain_evicted_parse(d, &back, &n), 0, "a report without runs parses");
		CHECK_INT(n, 0, "with no runs");
		json_decref(d);
		mm_free(text);
		runs[0].last = 2;
		CHECK_INT(evchain_evicted_format(1, 1, 0, 0, runs, 1, &text), -EINVAL,
			  "a malformed run is not formatted");
	}
	CHECK(evchain_mono_ms() > 0, "the monotonic clock reads");
	return tap_done();
}
