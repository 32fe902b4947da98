/*
 * Fuzzes the validation of POST /api/v1/collection-profiles bodies
 * (api_collection_parse_create) on any JSON: a refusal is either a malformed body or a
 * profile with errors in the diagnostics, never both and never neither; an accepted one
 * names the profile it starts from.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/diag.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/str.h"
#include "server/server.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonw_error err = {{0}};
	json_t *body = NULL;
	char *text;

	if (size > LIMIT_API_BODY)
		return 0;
	fuzz_setup();
	text = fuzz_text(data, size);
	if (!text)
		return 0;
	if (jsonw_parse(text, size, LIMIT_API_BODY, &body, &err) == 0 && json_is_object(body)) {
		struct api_collection_create in = {0};
		struct diag d;
		int r;

		diag_init(&d);
		r = api_collection_parse_create(body, &in, &d, &err);
		FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -EINVAL || r == -ENOMEM);
		FUZZ_ASSERT(r != -EINVAL || d.n_errors > 0 || d.oom);
		FUZZ_ASSERT(r != 0 || d.n_errors == 0);
		if (r == 0)
			FUZZ_ASSERT(in.scope && json_is_object(in.profile) &&
				    (streq(in.name, "minimal") || streq(in.name, "standard") ||
				     streq(in.name, "detailed")));
		diag_done(&d);
	}
	json_decref(body);
	mm_free(text);
	return 0;
}
