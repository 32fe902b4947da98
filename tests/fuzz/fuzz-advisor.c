/*
 * Fuzz target: the telework-method advisor's answers (POST /api/v1/advisor/recommend
 * passes them on as sent). Arbitrary JSON is either refused with -EINVAL and a message, or
 * gives a recommendation whose methods are ranked by score and, within a score, by Order,
 * with at most ADVISOR_RECOMMEND_MAX recommended, all with a positive score.
 */
#include <errno.h>
#include <string.h>

#include "lib/advisor.h"
#include "lib/catalog_builtin.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "tests/fuzz/fuzz.h"

static struct catalog cat;
static bool loaded;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *answers = NULL, *out = NULL, *m, *prev = NULL;
	char err[256] = "";
	size_t i, recommended = 0;
	int r;

	fuzz_setup();
	if (!loaded) {
		struct diag d;

		catalog_init(&cat);
		diag_init(&d);
		FUZZ_ASSERT(catalog_builtin_load(&cat, NULL, 0, &d) == 0);
		diag_done(&d);
		loaded = true;
	}
	if (jsonw_parse((const char *) data, size, LIMIT_API_BODY, &answers, NULL) < 0)
		return 0;
	r = advisor_recommend(&cat, answers, &out, err, sizeof(err));
	if (r == -EINVAL)
		FUZZ_ASSERT(err[0] != '\0');
	else if (r == 0) {
		json_array_foreach (json_object_get(out, "methods"), i, m) {
			json_int_t score = json_integer_value(json_object_get(m, "score"));

			if (json_is_true(json_object_get(m, "recommended"))) {
				recommended++;
				FUZZ_ASSERT(score > 0);
			}
			if (prev) {
				json_int_t ps = json_integer_value(json_object_get(prev, "score"));

				FUZZ_ASSERT(
					ps > score ||
					(ps == score &&
					 json_integer_value(json_object_get(prev, "order")) <=
						 json_integer_value(json_object_get(m, "order"))));
			}
			prev = m;
		}
		FUZZ_ASSERT(recommended <= ADVISOR_RECOMMEND_MAX);
		FUZZ_ASSERT(json_array_size(json_object_get(out, "methods")) == 7);
		FUZZ_ASSERT(strstr(json_string_value(json_object_get(
					   json_object_get(out, "comparison"), "title")),
				   "not the guideline's"));
	} else {
		FUZZ_ASSERT(r == -ENOMEM);
	}
	json_decref(out);
	json_decref(answers);
	return 0;
}
