/* Fuzz target: ClamAV database headers (cvd_parse_header, cvd_parse_time). */
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
	char *text = mm_malloc(size + 1);
	struct cvd_header h;
	int64_t t;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cvd_parse_header(text, size, &h) == 0 && h.time_text[0])
		sink_result = cvd_parse_time(h.time_text, &t);
	sink_result = cvd_parse_time(text, &t);
	mm_free(text);
	return 0;
}
