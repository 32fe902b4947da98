/*
 * A test helper for the API tests: builds inventory upload bodies with the same library
 * the agent uses (lib/invdiff), so the tests need no second implementation of digests.
 *   invtool digest DOC.json           prints the document's digest
 *   invtool full DOC.json             prints {"kind":"full","digest","document"}
 *   invtool delta OLD.json NEW.json   prints {"kind":"delta","base_digest","digest","delta"}
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"

static json_t *load(const char *path)
{
	struct jsonw_error err = {{0}};
	char *text = NULL;
	json_t *v = NULL;
	size_t len;

	if (fileio_read(NULL, path, LIMIT_INVENTORY_DOC, &text, &len) < 0 ||
	    jsonw_parse(text, len, LIMIT_INVENTORY_DOC, &v, &err) < 0) {
		fprintf(stderr, "invtool: %s: cannot load %s\n", path, err.text);
		v = NULL;
	}
	mm_free(text);
	return v;
}

static int print(json_t *v)
{
	char *s = jsonw_dump(v);

	if (!s)
		return 1;
	puts(s);
	mm_free(s);
	return 0;
}

int main(int argc, char **argv)
{
	char d1[65], d2[65];
	json_t *a, *b, *delta = NULL, *out;
	int rc;

	mm_setup_jansson();
	if (argc == 3 && strcmp(argv[1], "digest") == 0) {
		a = load(argv[2]);
		if (!a || invdiff_digest(a, d1) < 0)
			return 1;
		puts(d1);
		json_decref(a);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "full") == 0) {
		a = load(argv[2]);
		if (!a || invdiff_digest(a, d1) < 0)
			return 1;
		out = json_pack("{s:s, s:s, s:O}", "kind", "full", "digest", d1, "document", a);
		rc = out ? print(out) : 1;
		json_decref(out);
		json_decref(a);
		return rc;
	}
	if (argc == 4 && strcmp(argv[1], "delta") == 0) {
		a = load(argv[2]);
		b = load(argv[3]);
		if (!a || !b || invdiff_digest(a, d1) < 0 || invdiff_digest(b, d2) < 0 ||
		    invdiff_compute(a, b, &delta) < 0)
			return 1;
		out = json_pack("{s:s, s:s, s:s, s:o}", "kind", "delta", "base_digest", d1,
				"digest", d2, "delta", delta);
		rc = out ? print(out) : 1;
		json_decref(out);
		json_decref(a);
		json_decref(b);
		return rc;
	}
	fputs("usage: invtool digest DOC | full DOC | delta OLD NEW\n", stderr);
	return 2;
}
