/*
 * The device registry's CSV (server/registry.c): what spreadsheets write (a byte order
 * mark, CRLF, quoted fields, columns in any order) is read; every bad line is reported
 * with its line and column in one pass and then nothing is returned; an export parses
 * back to the same devices.
 */
#include <errno.h>

#include "lib/diag.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"
#include "tests/tap.h"

static int parse(const char *text, struct diag *d, json_t **ret)
{
	diag_init(d);
	*ret = NULL;
	return registry_csv_parse("t.csv", text, strlen(text), d, ret);
}

/* Whether d holds an error at line:col whose message contains `words`. */
static bool has_error(const struct diag *d, unsigned line, unsigned col, const char *words)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].line == line && d->entries[i].column == col &&
		    strstr(d->entries[i].message, words))
			return true;
	for (size_t i = 0; i < d->n; i++)
		printf("#   %u:%u: %s\n", d->entries[i].line, d->entries[i].column,
		       d->entries[i].message);
	return false;
}

static const char *field(json_t *devices, size_t i, const char *key)
{
	const char *s = json_string_value(json_object_get(json_array_get(devices, i), key));

	return s ? s : "(none)";
}

static void test_good(void)
{
	static const char text[] = "\xef\xbb\xbfOwner,Serial,TAGS,note,vendor,product\r\n"
				   "\"Yamada, Taro\",4C530001230512114295,company-issued;backup ; "
				   "company-issued,\"the \"\"blue\"\" one\",0781,5581\r\n"
				   "\r\n"
				   "hanako,AA-01,,,,\r\n"
				   "  jiro ,BB-02,company-issued,,ABCD,ef01";
	struct diag d;
	json_t *devs = NULL, *tags;

	CHECK_INT(parse(text, &d, &devs), 0, "a spreadsheet's CSV parses");
	CHECK_INT(d.n, 0, "without a message");
	CHECK_INT(json_array_size(devs), 3, "three devices (the blank line skipped)");
	CHECK_STR(field(devs, 0, "owner"), "Yamada, Taro", "a quoted comma");
	CHECK_STR(field(devs, 0, "note"), "the \"blue\" one", "doubled quotes");
	CHECK_STR(field(devs, 0, "vendor"), "0781", "the vendor id");
	tags = json_object_get(json_array_get(devs, 0), "tags");
	CHECK(json_array_size(tags) == 2 &&
		      streq(json_string_value(json_array_get(tags, 0)), "backup") &&
		      streq(json_string_value(json_array_get(tags, 1)), "company-issued"),
	      "tags split on ';', trimmed, sorted, each once");
	CHECK_INT(json_array_size(json_object_get(json_array_get(devs, 1), "tags")), 0,
		  "no tags: an empty list");
	CHECK(!json_object_get(json_array_get(devs, 1), "vendor"), "no vendor: absent");
	CHECK_STR(field(devs, 2, "owner"), "jiro", "spaces around a field are trimmed");
	CHECK_STR(field(devs, 2, "serial"), "BB-02", "the last line needs no line end");
	json_decref(devs);
	diag_done(&d);

	CHECK_INT(parse("serial,owner\n", &d, &devs), 0, "a header alone");
	CHECK_INT(json_array_size(devs), 0, "is an empty import");
	json_decref(devs);
	diag_done(&d);
}

static void test_errors(void)
{
	static const char text[] = "serial,owner,tags,vendor\n" /* 1 */
				   "A1,taro,,0781\n"            /* 2: good */
				   "A2,,,\n"                    /* 3: no owner */
				   "A3,hanako,bad tag,\n"       /* 4: a tag with a space */
				   "A4,jiro,,07811\n"           /* 5: vendor of 5 digits */
				   "A1,saburo,,\n"              /* 6: serial again */
				   "A5,shiro\n"                 /* 7: two fields of four */
				   "A6,\"goro\"x,,\n"           /* 8: text after a quote */
				   "A7,\"multi\nline\",,\n"     /* 9-10: a newline in a field */
				   "A8,ro\"ku,,\n"              /* 11: a quote inside */
				   "A9,nana,,\n";               /* 12: good */
	struct diag d;
	json_t *devs = NULL;

	CHECK_INT(parse(text, &d, &devs), -EINVAL, "a CSV with bad lines is refused");
	CHECK(devs == NULL, "and gives no devices at all");
	CHECK(has_error(&d, 3, 4, "owner"), "line 3: the missing owner, at its column");
	CHECK(has_error(&d, 4, 11, "'bad tag' is not a tag"), "line 4: the bad tag");
	CHECK(has_error(&d, 5, 10, "vendor"), "line 5: the bad vendor id");
	CHECK(has_error(&d, 6, 1, "listed twice (first on line 2)"),
	      "line 6: a serial listed twice, naming the first line");
	CHECK(has_error(&d, 7, 1, "2 fields, but the header names 4"), "line 7: too few fields");
	CHECK(has_error(&d, 8, 10, "after the closing quote"), "line 8: text after a quote");
	CHECK(has_error(&d, 9, 4, "owner"), "line 9: a field across lines is one line too many");
	CHECK(has_error(&d, 11, 6, "quote inside an unquoted field"), "line 11: a stray quote");
	CHECK_INT(d.n_errors, 8, "every bad line, in one pass, and nothing else");
	diag_done(&d);

	CHECK_INT(parse("serial,colour,owner,serial\nA,red,b,A\n", &d, &devs), -EINVAL,
		  "a bad header is refused");
	CHECK(has_error(&d, 1, 8, "unknown column 'colour'"), "naming the unknown column");
	CHECK(has_error(&d, 1, 21, "named twice"), "and the column named twice");
	CHECK_INT(d.n_errors, 2, "the rows are still read with the columns it knows");
	diag_done(&d);

	CHECK_INT(parse("owner,tags\nx,\n", &d, &devs), -EINVAL, "no serial column");
	CHECK(has_error(&d, 1, 1, "no 'serial' column"), "says so");
	diag_done(&d);

	CHECK_INT(parse("", &d, &devs), -EINVAL, "an empty file");
	CHECK(has_error(&d, 0, 0, "no header row"), "has no header row");
	diag_done(&d);

	CHECK_INT(parse("serial,owner\nA,\x93\x63\x96\xec\n", &d, &devs), -EINVAL,
		  "Shift_JIS text");
	CHECK(has_error(&d, 0, 0, "not UTF-8"), "is named as not UTF-8");
	diag_done(&d);

	CHECK_INT(parse("serial,owner\n\"A,b\n", &d, &devs), -EINVAL, "an unclosed quote");
	CHECK(has_error(&d, 2, 1, "never closed"), "reported where the field starts");
	diag_done(&d);

	{
		struct buf b;
		char *big;

		buf_init(&b, 8u * 1024 * 1024);
		CHECK_INT(buf_adds(&b, "serial,owner\n"), 0, "a file of 1,500 bad lines");
		for (int i = 0; i < 1500; i++)
			(void) !buf_addf(&b, "S%d,\n", i);
		big = buf_take(&b, NULL);
		CHECK_INT(parse(big, &d, &devs), -EINVAL, "is refused");
		CHECK_INT(d.n_errors, 1001, "1,000 errors reported and one that counts the rest");
		CHECK(strstr(d.entries[d.n - 1].message, "and 500 more errors") != NULL,
		      "the rest are counted: %s", d.entries[d.n - 1].message);
		diag_done(&d);
		mm_free(big);
	}
}

static void test_round_trip(void)
{
	static const char ok[] = "serial,vendor,product,owner,tags,note\n"
				 "Q1,,,\"a, \"\"b\"\"\",x;y,\"semi; colon\"\n"
				 "Q2,,,\" kept \",,  trimmed  \n"
				 "Z9,0951,1666,会社 太郎,会社支給,社用USBメモリ\n";
	struct diag d;
	json_t *devs = NULL, *again = NULL;
	char *csv = NULL;

	CHECK_INT(parse(ok, &d, &devs), 0, "commas, quotes, spaces and Japanese text");
	diag_done(&d);
	CHECK_STR(field(devs, 1, "owner"), " kept ", "a quoted field keeps its spaces");
	CHECK_STR(field(devs, 1, "note"), "trimmed", "an unquoted one is trimmed");
	CHECK_INT(registry_csv_format(devs, false, &csv), 0, "formatted again");
	CHECK(csv && str_startswith(csv, "serial,vendor,product,owner,tags,note\r\n"),
	      "with the header row");
	CHECK(csv && strstr(csv, "Q1,,,\"a, \"\"b\"\"\",x;y,semi; colon\r\n"),
	      "quoting only what needs it");
	CHECK_INT(parse(csv ? csv : "", &d, &again), 0, "the export parses");
	CHECK(json_equal(devs, again), "to the same devices");
	diag_done(&d);
	json_decref(again);
	mm_free(csv);
	CHECK_INT(registry_csv_format(devs, true, &csv), 0, "with a byte order mark");
	CHECK(csv && str_startswith(csv, "\xef\xbb\xbfserial,"), "for Excel");
	CHECK_INT(parse(csv ? csv : "", &d, &again), 0, "parses too");
	CHECK(json_equal(devs, again), "to the same devices");
	diag_done(&d);
	json_decref(again);
	mm_free(csv);
	json_decref(devs);
}

static void test_check(void)
{
	struct store_device dev;
	const char *field = NULL;
	char why[256];
	json_t *o;

	o = json_pack("{s:s, s:s, s:[s,s,s]}", "serial", "X", "owner", "o", "tags", "b", "a", "b");
	CHECK_INT(registry_device_check(o, &dev, &field, why, sizeof(why)), 0, "a minimal device");
	CHECK(dev.vendor == -1 && dev.product == -1 && dev.note == NULL, "unknowns are unknown");
	CHECK_INT(json_array_size(dev.tags), 2, "tags each once");
	json_decref(o);
	o = json_pack("{s:s, s:s, s:s}", "serial", "X", "owner", "o", "colour", "red");
	CHECK_INT(registry_device_check(o, &dev, &field, why, sizeof(why)), -EINVAL,
		  "an unknown field");
	CHECK_STR(field, "colour", "is named");
	json_decref(o);
	o = json_pack("{s:s, s:s, s:s}", "serial", "X", "owner", "o", "product", "xyz1");
	CHECK_INT(registry_device_check(o, &dev, &field, why, sizeof(why)), -EINVAL,
		  "a product id that is not hex");
	CHECK_STR(field, "product", "is named");
	json_decref(o);
	o = json_pack("{s:s, s:s}", "serial", "X\tY", "owner", "o");
	CHECK_INT(registry_device_check(o, &dev, &field, why, sizeof(why)), -EINVAL,
		  "a serial with a control character");
	json_decref(o);
	CHECK(registry_tag_ok("会社支給") && !registry_tag_ok("a,b") && !registry_tag_ok(""),
	      "tags are words the rules can name");
}

int main(void)
{
	mm_setup_jansson();
	test_good();
	test_errors();
	test_round_trip();
	test_check();
	return tap_done();
}
