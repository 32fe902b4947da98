/* JSON through jansson with mamori's limits and field-naming errors. */
#include <errno.h>

#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "tests/tap.h"

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
	return tap_done();
}
