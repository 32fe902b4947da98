/* Fuzz target: the security section's small read of dpkg's status file. */
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
	static const char *const names[] = {"clamav", "ufw", "openssh-server"};
	struct sec_pkg pkgs[3] = {0};
	char *text = mm_malloc(size + 1);

	if (text) {
		memcpy(text, data, size);
		text[size] = '\0';
		sink_result = col_security_parse_dpkg_status(text, names, 3, pkgs);
	}
	col_security_pkgs_done(pkgs, 3);
	mm_free(text);
	return 0;
}
