/*
 * mamorictl devices …: the device registry (管理デバイス) that policies name by tag.
 *
 *   list [--tag T] [--search S] [--limit N] [--offset N]
 *   add --serial S [--vendor V --product P] --owner O [--tag T]… [--note N]
 *   remove SERIAL
 *   import FILE.csv            all or nothing: every bad line is reported, none stored
 *   export [--bom]             the registry as CSV on stdout (--json: as JSON)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define PAGE 1000

static void print_devices(json_t *a)
{
	static const char *const cols[] = {"SERIAL", "VENDOR", "PRODUCT", "OWNER",
					   "TAGS",   "NOTE",   NULL};
	static const char *const keys[] = {"serial",    "vendor", "product", "owner",
					   "tags_text", "note",   NULL};
	json_t *devices = json_object_get(a, "devices"), *d, *t;
	size_t i, k;

	json_array_foreach (devices, i, d) {
		struct buf b;
		char *s;
		int r = 0;

		buf_init(&b, 4096);
		json_array_foreach (json_object_get(d, "tags"), k, t)
			if (r >= 0)
				r = buf_addf(&b, "%s%s", k ? "," : "", json_string_value(t));
		s = buf_take(&b, NULL);
		(void) json_object_set_new(d, "tags_text", json_string(s ? s : "?"));
		mm_free(s);
	}
	ctl_print_table(devices, cols, keys);
	printf("(%zu of %lld)\n", json_array_size(devices),
	       (long long) json_integer_value(json_object_get(a, "total")));
}

static int devices_list(struct ctl *c, int argc, char **argv)
{
	const char *tag = NULL, *search = NULL, *limit = NULL, *offset = NULL, *serial = NULL;
	const struct ctl_opt opts[] = {
		{"tag", &tag, NULL, NULL},       {"search", &search, NULL, NULL},
		{"serial", &serial, NULL, NULL}, {"limit", &limit, NULL, NULL},
		{"offset", &offset, NULL, NULL}, {0},
	};
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	buf_init(&q, 4096);
	r = buf_adds(&q, "/api/v1/devices");
	if (r == 0)
		r = ctl_query_add(&q, "tag", tag);
	if (r == 0)
		r = ctl_query_add(&q, "search", search);
	if (r == 0)
		r = ctl_query_add(&q, "serial", serial);
	if (r == 0)
		r = ctl_query_add(&q, "limit", limit);
	if (r == 0)
		r = ctl_query_add(&q, "offset", offset);
	if (r == 0)
		r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		print_devices(answer);
	json_decref(answer);
	return EXIT_SUCCESS;
}

static int devices_add(struct ctl *c, int argc, char **argv)
{
	const char *serial = NULL, *vendor = NULL, *product = NULL, *owner = NULL, *note = NULL;
	struct ctl_list tags = {.n = 0};
	const struct ctl_opt opts[] = {
		{"serial", &serial, NULL, NULL},
		{"vendor", &vendor, NULL, NULL},
		{"product", &product, NULL, NULL},
		{"owner", &owner, NULL, NULL},
		{"note", &note, NULL, NULL},
		{"tag", NULL, NULL, &tags},
		{0},
	};
	_cleanup_(json_decrefp) json_t *body = NULL;
	json_t *answer = NULL, *arr;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (!serial || !owner) {
		fprintf(stderr, "mamorictl: devices add needs --serial and --owner\n");
		return EXIT_USAGE;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < tags.n; i++)
		if (jsonw_append(arr, json_string(tags.v[i])) < 0)
			return EXIT_FAILURE;
	body = json_pack("{s:s, s:s*, s:s*, s:s, s:s*, s:o*}", "serial", serial, "vendor", vendor,
			 "product", product, "owner", owner, "note", note, "tags", arr);
	if (!body)
		return EXIT_FAILURE;
	if (ctl_call(c, "POST", "/api/v1/devices", body, &answer) < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		printf("%s %s\n",
		       json_is_true(json_object_get(answer, "created")) ? "added" : "updated",
		       serial);
	json_decref(answer);
	return EXIT_SUCCESS;
}

static int devices_remove(struct ctl *c, int argc, char **argv)
{
	const char *serial = NULL;
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (ctl_args_parse(argc, argv, NULL, &serial, 1, 1, &c->json) < 0)
		return EXIT_USAGE;
	buf_init(&q, 4096);
	r = buf_adds(&q, "/api/v1/devices");
	if (r == 0)
		r = ctl_query_add(&q, "serial", serial);
	if (r == 0)
		r = ctl_call(c, "DELETE", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		printf("removed %s\n", serial);
	json_decref(answer);
	return EXIT_SUCCESS;
}

static int devices_import(struct ctl *c, int argc, char **argv)
{
	_cleanup_(freep) char *text = NULL;
	const char *file = NULL, *base;
	json_t *answer = NULL;
	struct buf q;
	size_t len;
	int r;

	if (ctl_args_parse(argc, argv, NULL, &file, 1, 1, &c->json) < 0)
		return EXIT_USAGE;
	if (ctl_read_file(file, LIMIT_API_BODY, &text, &len) < 0)
		return EXIT_USAGE;
	base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	buf_init(&q, 4096);
	r = buf_adds(&q, "/api/v1/devices/import");
	if (r == 0)
		r = ctl_query_add(&q, "file", base);
	if (r == 0)
		r = ctl_call_text(c, "POST", buf_str(&q), "text/csv; charset=utf-8", text, len,
				  NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		printf("%s: %lld added, %lld updated\n", file,
		       (long long) json_integer_value(json_object_get(answer, "created")),
		       (long long) json_integer_value(json_object_get(answer, "updated")));
	json_decref(answer);
	return EXIT_SUCCESS;
}

/* --json: every device as JSON, page by page. */
static int export_json(struct ctl *c)
{
	_cleanup_(json_decrefp) json_t *all = json_array();
	size_t offset = 0;

	if (!all)
		return EXIT_FAILURE;
	for (;;) {
		json_t *answer = NULL;
		char path[96];
		size_t n;

		(void) snprintf(path, sizeof(path), "/api/v1/devices?limit=%d&offset=%zu", PAGE,
				offset);
		if (ctl_call(c, "GET", path, NULL, &answer) < 0)
			return EXIT_API;
		n = json_array_size(json_object_get(answer, "devices"));
		(void) json_array_extend(all, json_object_get(answer, "devices"));
		json_decref(answer);
		if (n < PAGE)
			break;
		offset += n;
	}
	{
		_cleanup_(json_decrefp) json_t *out = json_pack("{s:O}", "devices", all);

		if (!out)
			return EXIT_FAILURE;
		ctl_print_json(out);
	}
	return EXIT_SUCCESS;
}

static int devices_export(struct ctl *c, int argc, char **argv)
{
	_cleanup_(freep) char *csv = NULL;
	bool bom = false;
	const struct ctl_opt opts[] = {{"bom", NULL, &bom, NULL}, {0}};

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (c->json)
		return export_json(c);
	if (ctl_call_text(c, "GET",
			  bom ? "/api/v1/devices/export?bom=true" : "/api/v1/devices/export", NULL,
			  NULL, 0, &csv, NULL) < 0)
		return EXIT_API;
	(void) fputs(csv, stdout);
	return EXIT_SUCCESS;
}

int ctl_cmd_devices(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;

	if (verb && streq(verb, "list"))
		return devices_list(c, argc - 2, argv + 2);
	if (verb && streq(verb, "add"))
		return devices_add(c, argc - 2, argv + 2);
	if (verb && streq(verb, "remove"))
		return devices_remove(c, argc - 2, argv + 2);
	if (verb && streq(verb, "import"))
		return devices_import(c, argc - 2, argv + 2);
	if (verb && streq(verb, "export"))
		return devices_export(c, argc - 2, argv + 2);
	fprintf(stderr, "mamorictl: devices needs a verb: list, add, remove, import, export\n");
	return EXIT_USAGE;
}
