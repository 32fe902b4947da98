/* Fuzzes the validation of POST /agent/v1/checkin bodies (api_agent_parse_checkin) on any JSON. */
#include <stdint.h>
#include <string.h>

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
		struct api_agent_checkin in = {0};

		if (api_agent_parse_checkin(body, &in, &err) == 0) {
			if (!in.inventory_digest || !json_is_object(in.state))
				__builtin_trap();
			json_decref(in.state);
		}
		json_decref(body);
	}
	mm_free(text);
	return 0;
}
