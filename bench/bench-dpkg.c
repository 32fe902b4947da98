/*
 * Benchmark: parsing a desktop-sized dpkg status file (5,000 packages, ~4 MB) into the
 * software section's JSON values. Prints the figure beside two baselines: a bare scan of
 * the same text line by line (what any parser must at least pay) and the budget for the
 * whole inventory (100 ms).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "lib/buf.h"
#include "lib/limits.h"
#include "lib/mm.h"

#define PACKAGES 5000
#define ROUNDS   10

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int make_status(struct buf *b)
{
	for (int i = 0; i < PACKAGES; i++) {
		int r = buf_addf(
			b,
			"Package: lib%05d-example\nStatus: install ok installed\nPriority: "
			"optional\n"
			"Section: libs\nInstalled-Size: %d\n"
			"Maintainer: Example Maintainers <team@example.org>\nArchitecture: amd64\n"
			"Multi-Arch: same\nSource: example%d (1.%d-2)\nVersion: 1.%d-2+b1\n"
			"Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0), zlib1g (>= 1:1.2.0)\n"
			"Description: example library number %d\n This package exists so that the "
			"benchmark parses a realistic amount\n of text per stanza, continuation "
			"lines "
			"included.\n .\n It carries no code.\nHomepage: https://example.org/\n\n",
			i, 100 + i, i / 3, i, i, i);

		if (r < 0)
			return r;
	}
	return 0;
}

int main(void)
{
	struct buf b;
	double t0, parse_ms = 1e9, scan_ms = 1e9;
	size_t lines = 0;

	mm_setup_jansson();
	buf_init(&b, LIMIT_LARGE_FILE);
	if (make_status(&b) < 0) {
		fprintf(stderr, "bench-dpkg: out of memory\n");
		return 1;
	}
	for (int round = 0; round < ROUNDS; round++) {
		char *copy = mm_memdup(b.data, b.len + 1);
		json_t *packages = json_array();
		struct col_dpkg_stats st;
		int r;

		if (!copy || !packages)
			return 1;
		t0 = now_ms();
		r = col_dpkg_parse_status(copy, b.len, packages, &st);
		parse_ms = MIN(parse_ms, now_ms() - t0);
		if (r < 0 || st.listed != PACKAGES) {
			fprintf(stderr, "bench-dpkg: parse failed (%d, %u packages)\n", r,
				st.listed);
			return 1;
		}
		json_decref(packages);
		mm_free(copy);

		t0 = now_ms();
		lines = 0;
		for (const char *p = b.data; (p = memchr(p, '\n', b.len - (size_t) (p - b.data)));
		     p++)
			lines++;
		scan_ms = MIN(scan_ms, now_ms() - t0);
	}
	printf("dpkg status, %d packages, %zu bytes, %zu lines:\n", PACKAGES, b.len, lines);
	printf("  parse into JSON values: %.2f ms (best of %d)\n", parse_ms, ROUNDS);
	printf("  baseline, bare line scan: %.2f ms; budget for the whole inventory: 100 ms\n",
	       scan_ms);
	buf_done(&b);
	return 0;
}
