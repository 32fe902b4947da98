/*
 * Fuzz target: sshd_config. Every Include is answered with the input itself, so the
 * fuzzer also drives the loop guard (depth and file-count limits).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* results are not checked: the target looks for crashes, not values */
static volatile int sink_result;

static const uint8_t *input;
static size_t input_size;

static int include_self(struct sshd_config *c, const char *pattern, unsigned depth)
{
	char *text = mm_malloc(input_size + 1);
	int r;

	if (!text)
		return -ENOMEM;
	memcpy(text, input, input_size);
	text[input_size] = '\0';
	r = col_ssh_parse_sshd_config(c, text, pattern, depth);
	mm_free(text);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshd_config c = {.include = include_self};
	char *text;

	mm_setup_jansson();
	input = data;
	input_size = size;
	c.errsink = json_object();
	c.files = json_array();
	text = mm_malloc(size + 1);
	if (text && c.errsink && c.files) {
		memcpy(text, data, size);
		text[size] = '\0';
		sink_result = col_ssh_parse_sshd_config(&c, text, "/etc/ssh/sshd_config", 0);
	}
	col_ssh_config_done(&c);
	json_decref(c.errsink);
	json_decref(c.files);
	mm_free(text);
	return 0;
}
