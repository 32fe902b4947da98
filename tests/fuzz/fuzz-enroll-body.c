/* Fuzzes the validation of POST /agent/v1/enroll bodies (api_agent_parse_enroll) on any JSON. */
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
		struct api_agent_enroll in = {0};

		if (api_agent_parse_enroll(body, &in, &err) == 0) {
			/* The facts handed to the store hold only known, typed members. */
			if (!json_is_string(json_object_get(in.facts, "hostname")) || !in.token ||
			    !in.csr)
				__builtin_trap();
			(void) !ca_csr_check(in.csr, err.text, sizeof(err.text));
			json_decref(in.facts);
		}
		json_decref(body);
	}
	mm_free(text);
	return 0;
}
