/* Inventory deltas: keyed items, apply(old, diff(old, new)) == new, misfits refused. */
#include <errno.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "tests/tap.h"

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, 0, &e);

	if (!v)
		printf("# bad test JSON: %s\n", e.text);
	return v;
}

static const char *old_text =
	"{\"schema\":1,\"collected_at\":\"a\","
	" \"os\":{\"id\":\"debian\",\"version_id\":\"12\"},"
	" \"software\":{\"packages\":["
	"   {\"manager\":\"dpkg\",\"name\":\"bash\",\"arch\":\"amd64\",\"version\":\"5.2\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"curl\",\"arch\":\"amd64\",\"version\":\"7.88\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"vim\",\"arch\":\"amd64\",\"version\":\"9.0\"}]},"
	" \"usb\":{\"devices\":[]}}";
static const char *new_text =
	"{\"schema\":1,\"collected_at\":\"b\","
	" \"os\":{\"id\":\"debian\",\"version_id\":\"12\"},"
	" \"software\":{\"packages\":["
	"   {\"manager\":\"dpkg\",\"name\":\"curl\",\"arch\":\"amd64\",\"version\":\"7.89\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"bash\",\"arch\":\"amd64\",\"version\":\"5.2\"},"
	"   {\"manager\":\"dpkg\",\"name\":\"zsh\",\"arch\":\"amd64\",\"version\":\"5.9\"}]},"
	" \"network\":{\"dns\":[\"10.0.0.1\"]}}";

static int count(json_t *delta, const char *section, const char *op)
{
	return (int) json_array_size(json_object_get(json_object_get(delta, section), op));
}

static int count_items(const char *section, const char *list, const char *key, json_t *v,
		       void *userdata)
{
	(void) section;
	(void) list;
	(void) key;
	(void) v;
	(*(int *) userdata)++;
	return 0;
}

/* apply(old, compute(old, new)) == new, compared in canonical form, sections only. */
static bool round_trips(const char *from, const char *to)
{
	json_t *a = parse(from), *b = parse(to), *delta = NULL;
	char err[256] = "";
	bool ok = a && b && invdiff_compute(a, b, &delta) == 0 &&
		  invdiff_apply(a, delta, err, sizeof(err)) == 0 && invdiff_canonicalize(a) == 0 &&
		  invdiff_canonicalize(b) == 0 && json_equal(a, b);

	if (!ok)
		printf("#   %s\n", *err ? err : "documents differ");
	json_decref(delta);
	json_decref(a);
	json_decref(b);
	return ok;
}

/* Cases the fuzzer (tests/fuzz/fuzz-invdiff.c) found. */
static void test_found_by_fuzzing(void)
{
	CHECK(round_trips("{\"users\":{\"accounts\":[{\"name\":\"a\",\"uid\":1},"
			  "{\"name\":\"a\",\"uid\":2},{\"name\":\"a\",\"uid\":3}]}}",
			  "{\"users\":{\"accounts\":[{\"name\":\"a\",\"uid\":1}]}}"),
	      "removing several items that share a key (occurrences renumber)");
	CHECK(round_trips("{\"cpu\":5,\"os\":{\"id\":\"debian\"}}",
			  "{\"cpu\":{\"threads\":2},\"os\":{\"id\":\"debian\"}}"),
	      "a section replaces a top-level member that was not one");
}

int main(void)
{
	json_t *old_doc = parse(old_text), *new_doc = parse(new_text), *delta = NULL, *e;
	char err[256], d1[65], d2[65];
	int items = 0;

	mm_setup_jansson();
	CHECK_INT(invdiff_compute(old_doc, new_doc, &delta), 0, "diff computes");
	CHECK(!json_object_get(delta, "os"), "an unchanged section is absent");
	CHECK_INT(count(delta, "software", "added"), 1, "one package added");
	CHECK_INT(count(delta, "software", "removed"), 1, "one package removed");
	CHECK_INT(count(delta, "software", "changed"), 1, "one package changed");
	e = json_array_get(json_object_get(json_object_get(delta, "software"), "changed"), 0);
	CHECK_STR(json_string_value(json_object_get(json_object_get(e, "new"), "version")), "7.89",
		  "the change carries the new value");
	CHECK_STR(json_string_value(json_array_get(json_object_get(e, "key"), 1)), "curl",
		  "keyed by the natural key");
	CHECK_INT(count(delta, "network", "added"), 1, "a new section's attributes are added");
	CHECK(!json_object_get(delta, "usb"), "an empty list that disappears is no change");

	CHECK_INT(invdiff_apply(old_doc, delta, err, sizeof(err)), 0, "delta applies");
	CHECK_INT(invdiff_canonicalize(old_doc), 0, "canonicalize old");
	CHECK_INT(invdiff_canonicalize(new_doc), 0, "canonicalize new");
	json_object_del(old_doc, "collected_at");
	json_object_del(new_doc, "collected_at");
	CHECK(json_equal(old_doc, new_doc), "apply(old, diff(old, new)) == new");
	CHECK_INT(invdiff_digest(old_doc, d1), 0, "digest");
	CHECK_INT(invdiff_digest(new_doc, d2), 0, "digest");
	CHECK_STR(d1, d2, "equal documents have equal digests");
	json_object_set_new(old_doc, "collected_at", json_string("2026-01-01T00:00:00Z"));
	json_object_set_new(old_doc, "agent_version", json_string("9.9"));
	CHECK_INT(invdiff_digest(old_doc, d1), 0, "digest");
	CHECK_STR(d1, d2, "the digest ignores when and by which agent the inventory was taken");
	json_object_set_new(json_object_get(old_doc, "os"), "version_id", json_string("13"));
	CHECK_INT(invdiff_digest(old_doc, d1), 0, "digest");
	CHECK(strcmp(d1, d2) != 0, "but not what it says");
	json_object_set_new(json_object_get(old_doc, "os"), "version_id", json_string("12"));

	/* Applying the same delta again does not fit: the base is gone. */
	{
		json_t *before = json_deep_copy(old_doc);

		CHECK_INT(invdiff_apply(old_doc, delta, err, sizeof(err)), -EBADMSG,
			  "a delta that does not fit is refused");
		CHECK(strstr(err, "software") != NULL, "naming the section");
		CHECK(json_equal(before, old_doc), "and the document is unchanged");
		json_decref(before);
	}
	CHECK_INT(invdiff_foreach_item(new_doc, count_items, &items), 0, "items enumerate");
	CHECK_INT(items, 5, "schema/os/network attributes are items; 3 packages are items");
	json_decref(delta);

	/* Duplicate keys stay addressable. */
	{
		json_t *a = parse("{\"usb\":{\"devices\":[{\"vendor_id\":\"0781\"},"
				  "{\"vendor_id\":\"0781\"}]}}");
		json_t *b = parse("{\"usb\":{\"devices\":[{\"vendor_id\":\"0781\"}]}}");

		CHECK_INT(invdiff_compute(a, b, &delta), 0, "diff with duplicate keys");
		CHECK_INT(count(delta, "usb", "removed"), 1,
			  "one of two identical devices removed");
		json_decref(delta);
		json_decref(a);
		json_decref(b);
	}
	json_decref(old_doc);
	json_decref(new_doc);
	test_found_by_fuzzing();
	return tap_done();
}
