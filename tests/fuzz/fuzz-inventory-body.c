/* Fuzzes the validation of POST /agent/v1/inventory bodies (api_agent_parse_inventory) on any JSON.
 */
#include <stdint.h>
#include <string.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonw_error err = {{0}};
	json_t *body = NULL;
	char *text;

	if (size > LIMIT_AGENT_BODY)
		return 0;
	mm_setup_jansson();
	text = mm_malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (jsonw_parse(text, size, LIMIT_AGENT_BODY, &body, &err) == 0) {
		struct api_agent_inventory in = {0};

		if (api_agent_parse_inventory(body, &in, &err) == 0) {
			char digest[65], why[256];
			json_t *doc = json_object();

			/* What ingestion does next with a validated upload, minus the store. */
			if (!in.delta) {
				(void) !invdiff_digest(in.document, digest);
			} else if (doc) {
				(void) !invdiff_apply(doc, in.changes, why, sizeof(why));
				(void) !invdiff_digest(doc, digest);
			}
			json_decref(doc);
		}
		json_decref(body);
	}
	mm_free(text);
	return 0;
}
