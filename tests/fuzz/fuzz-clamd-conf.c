/* Fuzz target: ClamAV configuration files (clamd.conf, freshclam.conf). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* results are not checked: the target looks for crashes, not values */
static volatile int sink_result;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	json_t *conf;

	mm_setup_jansson();
	text = mm_malloc(size + 1);
	conf = json_object();
	if (text && conf) {
		memcpy(text, data, size);
		text[size] = '\0';
		sink_result = col_antivirus_parse_clamav_conf(text, conf);
	}
	json_decref(conf);
	mm_free(text);
	return 0;
}
