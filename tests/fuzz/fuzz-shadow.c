/* Fuzz target: /etc/shadow lines applied to a few accounts (col_users_parse_shadow). */
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool setup;
	char *text;
	int r = 0;

	if (!setup) {
		mm_setup_jansson();
		setup = true;
	}
	text = mm_malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	{
		struct col_login_defs defs = {.uid_min = 1000, .uid_max = 60000};
		char passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
				"taro:x:1000:1000:Taro:/home/taro:/bin/bash\n"
				"guest:x:1002:1002::/home/guest:/bin/bash\n"
				"legacy::1005:1005::/:/bin/sh\n";
		json_t *accounts = json_object();

		if (accounts)
			r = col_users_parse_passwd(passwd, &defs, accounts);
		if (accounts && r >= 0)
			r = col_users_parse_shadow(text, accounts);
		json_decref(accounts);
	}
	(void) r; /* junk may be refused: only crashes and leaks are findings */
	mm_free(text);
	return 0;
}
