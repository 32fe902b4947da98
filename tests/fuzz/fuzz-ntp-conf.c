/* Fuzz target: chrony.conf / ntp.conf server and include lines. */
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
	json_t *servers, *includes;

	mm_setup_jansson();
	text = mm_malloc(size + 1);
	servers = json_array();
	includes = json_array();
	if (text && servers && includes) {
		memcpy(text, data, size);
		text[size] = '\0';
		sink_result = col_timesync_parse_ntp_conf(text, "chrony", "/etc/chrony/chrony.conf",
							  servers, includes);
	}
	json_decref(servers);
	json_decref(includes);
	mm_free(text);
	return 0;
}
