/*
 * mamorictl hosts …: the endpoint register. list, show, inventory, software, history,
 * events, revoke, delete — each a thin wrapper over one /api/v1/hosts call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

static int finish(const struct ctl *c, int r, json_t *answer, void (*human)(json_t *))
{
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		human(answer);
	json_decref(answer);
	return EXIT_SUCCESS;
}

static void print_hosts(json_t *a)
{
	static const char *const cols[] = {"ID",     "HOSTNAME", "OS", "LAST SEEN",
					   "SERIAL", "STATUS",   NULL};
	static const char *const keys[] = {"id",     "hostname", "os", "last_seen", "serial_number",
					   "status", NULL};
	json_t *hosts = json_object_get(a, "hosts"), *h;
	size_t i;

	json_array_foreach (hosts, i, h)
		(void) json_object_set_new(h, "status",
					   json_string(json_is_true(json_object_get(h, "revoked"))
							       ? "revoked"
							       : "active"));
	ctl_print_table(hosts, cols, keys);
	printf("(%zu of %lld)\n", json_array_size(hosts),
	       (long long) json_integer_value(json_object_get(a, "total")));
}

static void print_object(json_t *a)
{
	ctl_print_json(a);
}

static void print_software(json_t *a)
{
	static const char *const cols[] = {"NAME",           "VERSION", "ARCH", "SOURCE",
					   "SOURCE VERSION", "MANAGER", NULL};
	static const char *const keys[] = {"name",           "version", "arch", "source",
					   "source_version", "manager", NULL};

	ctl_print_table(json_object_get(a, "packages"), cols, keys);
	printf("(%zu of %lld)\n", json_array_size(json_object_get(a, "packages")),
	       (long long) json_integer_value(json_object_get(a, "total")));
}

static void print_history(json_t *a)
{
	static const char *const cols[] = {"TIME", "SECTION", "LIST", "KEY", "CHANGE", NULL};
	static const char *const keys[] = {"time", "section", "list", "key", "op", NULL};

	ctl_print_table(json_object_get(a, "changes"), cols, keys);
}

static void print_events(json_t *a)
{
	static const char *const cols[] = {"SEQ", "TIME (UTC)", "TYPE", "CHAIN", "DATA", NULL};
	static const char *const keys[] = {"seq", "when", "type", "chain", "data", NULL};
	json_t *e;
	size_t i;

	/* event times are milliseconds; the table's time format takes seconds */
	json_array_foreach (json_object_get(a, "events"), i, e) {
		char buf[32];
		json_t *t = json_integer(json_integer_value(json_object_get(e, "time")) / 1000);

		(void) json_object_set_new(e, "when", json_string(ctl_time(t, buf)));
		json_decref(t);
	}
	ctl_print_table(json_object_get(a, "events"), cols, keys);
}

static void print_gaps(json_t *a)
{
	static const char *const gcols[] = {"FIRST SEQ", "LAST SEQ", "COUNT",
					    "REASON",    "REPORT",   NULL};
	static const char *const gkeys[] = {"first_seq", "last_seq",   "count",
					    "reason",    "report_seq", NULL};
	static const char *const bcols[] = {"KIND", "FIRST SEQ", "LAST SEQ", "WHY", NULL};
	static const char *const bkeys[] = {"kind", "first_seq", "last_seq", "why", NULL};
	json_t *sum = json_object_get(a, "summary"), *b;
	size_t i;

	printf("%lld numbers missing (no eviction explains them), %lld evicted and reported, "
	       "%lld breaks, %lld events flagged\n",
	       (long long) json_integer_value(json_object_get(sum, "missing")),
	       (long long) json_integer_value(json_object_get(sum, "evicted")),
	       (long long) json_integer_value(json_object_get(sum, "breaks")),
	       (long long) json_integer_value(json_object_get(sum, "flagged")));
	if (json_array_size(json_object_get(a, "gaps"))) {
		printf("\nGaps\n");
		ctl_print_table(json_object_get(a, "gaps"), gcols, gkeys);
	}
	json_array_foreach (json_object_get(a, "breaks"), i, b) {
		json_t *why = json_object_get(json_object_get(b, "detail"), "why");

		(void) json_object_set(b, "why", why ? why : json_null());
	}
	if (json_array_size(json_object_get(a, "breaks"))) {
		printf("\nBreaks\n");
		ctl_print_table(json_object_get(a, "breaks"), bcols, bkeys);
	}
}

static void print_done(json_t *a)
{
	(void) a;
	printf("done\n");
}

static int with_id(struct ctl *c, int argc, char **argv, const struct ctl_opt *opts,
		   const char **id)
{
	if (ctl_args_parse(argc, argv, opts, id, 1, 1, &c->json) < 0)
		return -1;
	if (!**id || strspn(*id, "0123456789abcdef-") != strlen(*id)) {
		fprintf(stderr, "mamorictl: '%s' is not a host id\n", *id);
		return -1;
	}
	return 0;
}

int ctl_cmd_hosts(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	const char *id = NULL, *search = NULL, *group = NULL, *status = NULL, *sort = NULL;
	const char *limit = NULL, *offset = NULL, *section = NULL, *after = NULL, *type = NULL;
	bool desc = false;
	_cleanup_(json_decrefp) json_t *body = NULL;
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (!verb) {
		fprintf(stderr, "mamorictl: hosts needs a verb: list, show, inventory, software, "
				"history, events, gaps, revoke, delete\n");
		return EXIT_USAGE;
	}
	argc -= 2;
	argv += 2;
	buf_init(&q, 4096);
	if (streq(verb, "list")) {
		const struct ctl_opt opts[] = {
			{"search", &search, NULL}, {"group", &group, NULL},
			{"status", &status, NULL}, {"sort", &sort, NULL},
			{"desc", NULL, &desc},     {"limit", &limit, NULL},
			{"offset", &offset, NULL}, {0},
		};

		if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
			return EXIT_USAGE;
		r = buf_adds(&q, "/api/v1/hosts");
		if (r == 0)
			r = ctl_query_add(&q, "search", search);
		if (r == 0)
			r = ctl_query_add(&q, "group", group);
		if (r == 0)
			r = ctl_query_add(&q, "status", status);
		if (r == 0)
			r = ctl_query_add(&q, "sort", sort);
		if (r == 0)
			r = ctl_query_add(&q, "order", desc ? "desc" : NULL);
		if (r == 0)
			r = ctl_query_add(&q, "limit", limit);
		if (r == 0)
			r = ctl_query_add(&q, "offset", offset);
		if (r == 0)
			r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
		buf_done(&q);
		return finish(c, r, answer, print_hosts);
	}
	if (streq(verb, "gaps")) {
		if (with_id(c, argc, argv, NULL, &id) < 0)
			return EXIT_USAGE;
		r = buf_addf(&q, "/api/v1/hosts/%s/evidence-gaps", id);
		if (r == 0)
			r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
		buf_done(&q);
		return finish(c, r, answer, print_gaps);
	}
	if (streq(verb, "show") || streq(verb, "revoke") || streq(verb, "delete")) {
		if (with_id(c, argc, argv, NULL, &id) < 0)
			return EXIT_USAGE;
		if (streq(verb, "show")) {
			r = buf_addf(&q, "/api/v1/hosts/%s", id);
			if (r == 0)
				r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
			buf_done(&q);
			return finish(c, r, answer, print_object);
		}
		if (streq(verb, "revoke"))
			r = buf_addf(&q, "/api/v1/hosts/%s/revoke", id);
		else
			r = buf_addf(&q, "/api/v1/hosts/%s", id);
		if (r == 0)
			r = ctl_call(c, streq(verb, "revoke") ? "POST" : "DELETE", buf_str(&q),
				     NULL, &answer);
		buf_done(&q);
		return finish(c, r, answer, print_done);
	}
	if (streq(verb, "inventory")) {
		const struct ctl_opt opts[] = {{"section", &section, NULL}, {0}};

		if (with_id(c, argc, argv, opts, &id) < 0)
			return EXIT_USAGE;
		r = buf_addf(&q, "/api/v1/hosts/%s/inventory", id);
		if (r == 0)
			r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
		buf_done(&q);
		if (r == 0 && section) {
			json_t *doc = json_object_get(answer, "document");
			json_t *s = json_object_get(doc ? doc : answer, section);

			if (!s) {
				fprintf(stderr, "mamorictl: the inventory has no section '%s'\n",
					section);
				json_decref(answer);
				return EXIT_API;
			}
			json_incref(s);
			json_decref(answer);
			answer = s;
		}
		return finish(c, r, answer, print_object);
	}
	if (streq(verb, "software")) {
		const struct ctl_opt opts[] = {
			{"search", &search, NULL},
			{"limit", &limit, NULL},
			{"offset", &offset, NULL},
			{0},
		};

		if (with_id(c, argc, argv, opts, &id) < 0)
			return EXIT_USAGE;
		r = buf_addf(&q, "/api/v1/hosts/%s/software", id);
		if (r == 0)
			r = ctl_query_add(&q, "search", search);
		if (r == 0)
			r = ctl_query_add(&q, "limit", limit);
		if (r == 0)
			r = ctl_query_add(&q, "offset", offset);
		if (r == 0)
			r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
		buf_done(&q);
		return finish(c, r, answer, print_software);
	}
	if (streq(verb, "history") || streq(verb, "events")) {
		const struct ctl_opt opts[] = {
			{"limit", &limit, NULL, NULL},
			{"after", &after, NULL, NULL},
			{"type", &type, NULL, NULL},
			{0},
		};

		if (with_id(c, argc, argv, opts, &id) < 0)
			return EXIT_USAGE;
		if (type && streq(verb, "history")) {
			fprintf(stderr, "mamorictl: --type is for hosts events\n");
			return EXIT_USAGE;
		}
		r = buf_addf(&q, "/api/v1/hosts/%s/%s", id, verb);
		if (r == 0)
			r = ctl_query_add(&q, "limit", limit);
		if (r == 0)
			r = ctl_query_add(&q, "after", after);
		if (r == 0)
			r = ctl_query_add(&q, "type", type);
		if (r == 0)
			r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
		buf_done(&q);
		return finish(c, r, answer, streq(verb, "history") ? print_history : print_events);
	}
	buf_done(&q);
	fprintf(stderr, "mamorictl: unknown hosts verb '%s' (see --help)\n", verb);
	return EXIT_USAGE;
}
