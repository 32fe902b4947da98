/* The guideline catalogue: the built-in files load clean; errors come with file:line, all
 * in one pass; overrides replace fields. */
#include <errno.h>
#include <stdlib.h>

#include "lib/catalog.h"
#include "lib/mm.h"
#include "tests/tap.h"

static bool has(const struct diag *d, const char *needle, unsigned line)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->entries[i].message, needle) && (!line || d->entries[i].line == line))
			return true;
	return false;
}

static void print_diag(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->entries[i]);

		printf("#   %s\n", s ? s : "?");
		mm_free(s);
	}
}

int main(void)
{
	const char *src = getenv("MAMORI_SOURCE_ROOT");
	static const char *const files[] = {"categories.txt", "measures.txt", "methods.txt"};
	struct catalog c;
	struct diag d;
	char path[4096];
	size_t measures = 0, confirmed_ids = 0;

	if (!src)
		src = ".";
	catalog_init(&c);
	diag_init(&d);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/catalog/%s", src, files[i]);
		CHECK_INT(catalog_load_file(&c, path, &d), 0, files[i]);
	}
	CHECK_INT(catalog_validate(&c, NULL, &d), 0, "the built-in catalogue validates");
	print_diag(&d);
	for (size_t i = 0; i < c.n; i++) {
		const char *gid;

		if (!streq(c.stanzas[i].kind, "Measure"))
			continue;
		measures++;
		gid = catalog_get(&c.stanzas[i], "Guideline-id");
		if (gid) {
			confirmed_ids++;
			CHECK(streq(gid, "管理者E-4") || streq(gid, "管理者F-1") ||
				      streq(gid, "管理者J-5"),
			      "%s cites only a confirmed guideline ID (%s)", c.stanzas[i].id, gid);
		}
	}
	CHECK(measures >= 40, "measures for every role (%zu)", measures);
	CHECK_INT(confirmed_ids, 3, "exactly the three confirmed IDs are cited");
	{
		size_t cats = 0;

		for (size_t i = 0; i < c.n; i++)
			cats += streq(c.stanzas[i].kind, "Category");
		CHECK_INT(cats, 13, "13 categories");
	}
	CHECK(catalog_find(&c, "Method", "standalone") != NULL, "the seven methods are there");
	diag_done(&d);

	/* An override replaces fields and keeps the rest. */
	diag_init(&d);
	CHECK_INT(catalog_parse(&c, "org.txt",
				"Measure: mic-F-1\nParam-max-definitions-age-days: 7\n\n"
				"Measure: mm-F-A4\nDisabled: yes\n",
				&d),
		  0, "override parses");
	CHECK_INT(catalog_validate(&c, NULL, &d), 0, "overridden catalogue validates");
	CHECK_STR(catalog_get(catalog_find(&c, "Measure", "mic-F-1"),
			      "Param-max-definitions-age-days"),
		  "7", "a parameter is overridden");
	CHECK_STR(catalog_get(catalog_find(&c, "Measure", "mic-F-1"), "Guideline-id"), "管理者F-1",
		  "other fields are kept");
	CHECK(catalog_disabled(catalog_find(&c, "Measure", "mm-F-A4")), "a measure is disabled");
	diag_done(&d);

	/* Every error in one pass, each with its line. */
	diag_init(&d);
	CHECK_INT(catalog_parse(&c, "bad.txt",
				"Measure: mm-X-1\n"          /* 1 */
				"Category: NOPE\n"           /* 2 */
				"Role: boss\n"               /* 3 */
				"Level: basic\n"             /* 4 */
				"Kind: automated\n"          /* 5 */
				"Title-ja: x\nTitle-en: x\n" /* 6, 7 */
				"Detail-ja: x\nDetail-en: x\n"
				"Colour: blue\n" /* 10 */
				"\n"
				"this line has no colon\n" /* 12 */
				"\n"
				"Measure: bad id!\n" /* 14 */
				"\n"
				"Method: m\nOrder: 1\nName-ja: m\nName-en: m\nSummary-ja: s\n"
				"Summary-en: s\nGrades-by: mamori\nGrades: reproduce=Z\n" /* 23 */
				"Key-measures: mm-none\n",                                /* 24 */
				&d),
		  0, "a bad file parses (errors go to the list)");
	CHECK_INT(catalog_validate(&c, NULL, &d), -EINVAL, "and does not validate");
	print_diag(&d);
	CHECK(has(&d, "expected 'Field: value'", 12), "missing colon at line 12");
	CHECK(has(&d, "not a valid id", 14), "bad id at line 14");
	CHECK(has(&d, "no category 'NOPE'", 2), "unknown category at line 2");
	CHECK(has(&d, "'boss' is not a valid Role", 3), "bad role at line 3");
	CHECK(has(&d, "needs a Check", 1), "automated without check, at the stanza's line");
	CHECK(has(&d, "unknown field 'Colour'", 10), "unknown field at line 10");
	CHECK(has(&d, "must be AXIS=S", 23), "bad grade at line 23");
	CHECK(has(&d, "no measure 'mm-none'", 24), "unknown key measure at line 24");
	CHECK(d.n_errors >= 8, "all errors reported in one pass (%zu)", d.n_errors);
	diag_done(&d);
	catalog_done(&c);

	/* Allocation failures while loading never crash or leak (ASan checks leaks). */
	{
		unsigned long k;
		bool all_ok = true;

		snprintf(path, sizeof(path), "%s/catalog/methods.txt", src);
		for (k = 1; k < 100000; k++) {
			struct catalog c2;
			int r;
			bool fired;

			catalog_init(&c2);
			diag_init(&d);
			(void) mm_fail_at(k, false);
			r = catalog_load_file(&c2, path, &d);
			fired = mm_fail_fired();
			(void) mm_fail_at(0, false);
			catalog_done(&c2);
			diag_done(&d);
			if (r != 0 && r != -ENOMEM)
				all_ok = false;
			if (!fired)
				break;
		}
		CHECK(all_ok, "every one of %lu allocation failures gives 0 or -ENOMEM", k - 1);
	}
	return tap_done();
}
