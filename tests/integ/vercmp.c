/*
 * A test helper: reads pairs of Debian versions, "A<TAB>B" one per line, and prints for
 * each "lt", "eq", "gt" (lib/debversion's order of A against B) or "bad" (a version that
 * does not parse), one per line, for tests/integ/debversion.sh to hold against dpkg.
 */
#include <stdio.h>
#include <string.h>

#include "lib/debversion.h"

int main(void)
{
	char line[8192];

	while (fgets(line, sizeof(line), stdin)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		int r;

		if (nl)
			*nl = '\0';
		if (!tab) {
			puts("bad");
			continue;
		}
		*tab = '\0';
		if (debversion_compare_text(line, tab + 1, &r) < 0)
			puts("bad");
		else
			puts(r < 0 ? "lt" : r > 0 ? "gt" : "eq");
	}
	return 0;
}
