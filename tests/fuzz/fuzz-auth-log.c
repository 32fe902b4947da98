/* Fuzzes the auth.log line parser: every line of the input is parsed; a recognised one
 * names a user, and every string it returns lies inside the line. */
#include <errno.h>

#include "agent/monitors.h"
#include "lib/str.h"
#include "tests/fuzz/fuzz.h"

static void inside(const char *s, const char *line, size_t len)
{
	if (s)
		FUZZ_ASSERT(s >= line && s + strlen(s) <= line + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(freep) char *text = fuzz_text(data, size);
	char *cursor, *line;

	if (!text)
		return 0;
	cursor = text;
	while ((line = str_next_line(&cursor))) {
		size_t len = strlen(line);
		struct mon_auth a;
		int r = mon_login_parse_auth_line(line, &a);

		FUZZ_ASSERT(r == 1 || r == 0 || r == -EBADMSG);
		if (r != 1)
			continue;
		FUZZ_ASSERT(a.kind != MON_AUTH_NONE && a.user && a.program);
		inside(a.user, line, len);
		inside(a.target, line, len);
		inside(a.method, line, len);
		inside(a.host, line, len);
		inside(a.tty, line, len);
		inside(a.pwd, line, len);
		inside(a.command, line, len);
		inside(a.reason, line, len);
		FUZZ_ASSERT(a.port <= 65535);
	}
	return 0;
}
