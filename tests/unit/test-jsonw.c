/* JSON through jansson with mamori's limits and field-naming errors. */
#include <errno.h>

#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "tests/tap.h"

/* jsonw_dump_compact() writes what json_dumps(JSON_COMPACT) writes, byte for byte. */
static void test_dump_compact(void)
{
	static const char *const texts[] = {
		"{}",
		"[]",
		"{\"b\": 1, \"a\": [true, false, null, -9223372036854775807, -9223372036854775808, "
		"9223372036854775807, 0, 10, -1, \"\"], \"c\": {}}",
		"{\"q\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"}",
		"{\"日本語\": \"テレワーク ✓ \\ud83d\\ude00\", \"k\": \"a\\u0000b\"}",
		"[[[[[]]]], {\"a\": {\"b\": {\"c\": [1, 2, {\"d\": \"e\"}]}}}]",
		"\"just a string\"",
		"42",
	};
	struct buf b;
	bool all_same = true;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *v = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		char *want = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

		buf_init(&b, 1 << 20);
		if (!v || !want || jsonw_dump_compact(v, &b) < 0 || !streq(buf_str(&b), want)) {
			all_same = false;
			printf("# %s: got %s, jansson %s\n", texts[i], buf_str(&b),
			       want ? want : "-");
		}
		buf_done(&b);
		mm_free(want);
		json_decref(v);
	}
	CHECK(all_same, "compact serialisation: the same bytes as jansson's");
	{
		json_t *v = json_pack("{s:f}", "x", 1.5);

		buf_init(&b, 1 << 20);
		CHECK_INT(jsonw_dump_compact(v, &b), -EINVAL, "a real is left to jansson");
		buf_done(&b);
		json_decref(v);
		v = json_stringn_nocheck("\xc0\xaf", 2);
		buf_init(&b, 1 << 20);
		CHECK_INT(jsonw_dump_compact(v, &b), -EINVAL, "invalid UTF-8 is left to jansson");
		buf_done(&b);
		json_decref(v);
		v = json_pack("{s:s}", "k", "0123456789");
		buf_init(&b, 8);
		CHECK_INT(jsonw_dump_compact(v, &b), -E2BIG, "past the buffer's ceiling: -E2BIG");
		buf_done(&b);
		json_decref(v);
	}
}

int main(void)
{
	struct jsonw_error err = {{0}};
	json_t *v = NULL;
	const char *s;
	int64_t n;
	char deep[200];
	char *dump;

	mm_setup_jansson();
	CHECK_INT(jsonw_parse("{\"a\":1,\"s\":\"x\"}", 15, 100, &v, &err), 0, "parse object");
	CHECK_INT(jsonw_get_int(v, "a", true, 0, 10, &n, &err), 0, "integer field");
	CHECK_INT(n, 1, "integer value");
	CHECK_INT(jsonw_get_string(v, "s", true, &s, &err), 0, "string field");
	CHECK_INT(jsonw_get_string(v, "a", true, &s, &err), -EBADMSG, "wrong type refused");
	CHECK_STR(err.text, "field 'a': expected a string", "error names the field");
	CHECK_INT(jsonw_get_string(v, "zz", false, &s, &err), -ENOENT, "optional missing");
	CHECK_INT(jsonw_get_string(v, "zz", true, &s, &err), -EBADMSG, "required missing");
	CHECK_STR(err.text, "field 'zz' is missing", "missing field named");
	CHECK_INT(jsonw_get_int(v, "a", true, 5, 10, &n, &err), -EBADMSG, "range checked");
	dump = jsonw_dump(v);
	CHECK_STR(dump, "{\"a\":1,\"s\":\"x\"}", "compact sorted dump");
	mm_free(dump);
	json_decref(v);

	CHECK_INT(jsonw_parse("{\"a\":1}", 7, 6, &v, &err), -E2BIG, "size limit");
	CHECK_INT(jsonw_parse("{\"a\":", 5, 100, &v, &err), -EBADMSG, "truncated refused");
	CHECK(strstr(err.text, "line 1") != NULL, "error gives the position");
	CHECK_INT(jsonw_parse("{\"a\":1,\"a\":2}", 13, 100, &v, &err), -EBADMSG,
		  "duplicate keys refused");
	memset(deep, '[', sizeof(deep));
	CHECK_INT(jsonw_parse(deep, LIMIT_JSON_DEPTH + 2, 1000, &v, &err), -EBADMSG,
		  "unterminated deep nesting refused");
	for (unsigned k = 0; k < LIMIT_JSON_DEPTH + 2; k++) {
		deep[k] = '[';
		deep[2 * (LIMIT_JSON_DEPTH + 2) - 1 - k] = ']';
	}
	CHECK_INT(jsonw_parse(deep, 2 * (LIMIT_JSON_DEPTH + 2), 1000, &v, &err), -EBADMSG,
		  "nesting past the limit refused");
	CHECK(strstr(err.text, "nested") != NULL, "and says so");

	/* Every allocation of a parse may fail without a leak or a crash. */
	for (unsigned long k = 1;; k++) {
		int r;

		(void) mm_fail_at(k, false);
		r = jsonw_parse("{\"a\":[1,2,{\"b\":\"c\"}]}", 21, 100, &v, &err);
		if (!mm_fail_fired()) {
			CHECK_INT(r, 0, "parse succeeds once no allocation fails");
			json_decref(v);
			break;
		}
		if (r == 0)
			json_decref(v);
		else if (r != -ENOMEM && r != -EBADMSG) {
			CHECK(false, "allocation failure %lu gave %d", k, r);
			break;
		}
	}
	(void) mm_fail_at(0, false);
	test_dump_compact();
	return tap_done();
}
