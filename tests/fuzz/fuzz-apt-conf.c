/* Fuzz target: apt.conf syntax (col_autoupdate_parse_apt_conf), NUL bytes included. */
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
	struct apt_periodic st = {0};
	char *text;
	json_t *sink;

	mm_setup_jansson();
	text = mm_malloc(size + 1);
	sink = json_object();
	if (text && sink) {
		memcpy(text, data, size);
		text[size] = '\0';
		sink_result =
			col_autoupdate_parse_apt_conf(text, size, "/etc/apt/apt.conf", &st, sink);
	}
	col_autoupdate_periodic_done(&st);
	json_decref(sink);
	mm_free(text);
	return 0;
}
