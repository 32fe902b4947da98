/*
 * mamorictl events …: the operation logs. search and counts wrap GET /api/v1/events and
 * /api/v1/events/counts; export streams GET /api/v1/events/export to stdout or a file
 * without holding it in memory. `mamorictl hosts gaps ID` (cmd_hosts.c) shows a host's
 * event-chain evidence. Times are passed to the server as given: Unix seconds, RFC 3339 or
 * -DURATION (docs/api.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

#define SUMMARY_MAX 60

struct filters {
	const char *host, *user, *type, *from, *to, *text, *limit, *cursor, *by, *format;
	const char *output;
	bool asc;
};

static int add_filters(struct buf *q, const struct filters *f)
{
	int r = ctl_query_add(q, "host", f->host);

	if (r == 0)
		r = ctl_query_add(q, "user", f->user);
	if (r == 0)
		r = ctl_query_add(q, "type", f->type);
	if (r == 0)
		r = ctl_query_add(q, "from", f->from);
	if (r == 0)
		r = ctl_query_add(q, "to", f->to);
	if (r == 0)
		r = ctl_query_add(q, "q", f->text);
	if (r == 0)
		r = ctl_query_add(q, "limit", f->limit);
	if (r == 0)
		r = ctl_query_add(q, "cursor", f->cursor);
	if (r == 0)
		r = ctl_query_add(q, "by", f->by);
	if (r == 0)
		r = ctl_query_add(q, "format", f->format);
	if (r == 0 && f->asc)
		r = ctl_query_add(q, "order", "asc");
	return r;
}

/* Event time (ms) in UTC, to the second. */
static json_t *when(json_t *ms)
{
	time_t t = (time_t) (json_integer_value(ms) / 1000);
	struct tm tm;
	char buf[32];

	if (!json_is_integer(ms) || !gmtime_r(&t, &tm))
		return json_string("-");
	(void) strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return json_string(buf);
}

/* The event's data, compact and cut to SUMMARY_MAX characters (not bytes). */
static json_t *summary(json_t *data)
{
	_cleanup_(freep) char *s = jsonw_dump(data);
	size_t chars = 0, i;

	if (!s)
		return NULL;
	for (i = 0; s[i]; i++)
		if (((unsigned char) s[i] & 0xc0) != 0x80 && ++chars > SUMMARY_MAX)
			break;
	if (s[i]) {
		s[i] = '\0';
		return json_sprintf("%s…", s);
	}
	return json_string(s);
}

static void print_events(json_t *a)
{
	static const char *const cols[] = {"TIME (UTC)", "HOST",  "SEQ",  "TYPE",
					   "USER",       "CHAIN", "DATA", NULL};
	static const char *const keys[] = {"when", "hostname", "seq",     "type",
					   "user", "chain",    "summary", NULL};
	json_t *events = json_object_get(a, "events"), *e;
	const char *next = json_string_value(json_object_get(a, "next_cursor"));
	size_t i;

	json_array_foreach (events, i, e) {
		(void) json_object_set_new(e, "when", when(json_object_get(e, "time")));
		(void) json_object_set_new(e, "summary", summary(json_object_get(e, "data")));
	}
	ctl_print_table(events, cols, keys);
	if (next)
		printf("(%zu shown; more with --cursor %s)\n", json_array_size(events), next);
	else
		printf("(%zu)\n", json_array_size(events));
}

static void print_counts(json_t *a)
{
	const char *cols[4] = {NULL}, *keys[4] = {NULL};
	json_t *by = json_object_get(a, "by"), *buckets = json_object_get(a, "buckets"), *b;
	size_t n = 0, i;

	for (i = 0; i < json_array_size(by) && n < 2; i++) {
		keys[n] = json_string_value(json_array_get(by, i));
		cols[n] = keys[n];
		n++;
	}
	json_array_foreach (buckets, i, b)
		for (size_t k = 0; k < n; k++)
			if (streq(keys[k], "hour") || streq(keys[k], "day"))
				(void) json_object_set_new(b, keys[k],
							   when(json_object_get(b, keys[k])));
	cols[n] = "COUNT";
	keys[n] = "count";
	ctl_print_table(buckets, cols, keys);
	printf("(total %lld)\n", (long long) json_integer_value(json_object_get(a, "total")));
}

int ctl_cmd_events(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	struct filters f = {0};
	const struct ctl_opt opts[] = {
		{"host", &f.host, NULL},
		{"user", &f.user, NULL},
		{"type", &f.type, NULL},
		{"from", &f.from, NULL},
		{"to", &f.to, NULL},
		{"text", &f.text, NULL},
		{"limit", &f.limit, NULL},
		{"cursor", &f.cursor, NULL},
		{"by", &f.by, NULL},
		{"format", &f.format, NULL},
		{"output", &f.output, NULL},
		{"asc", NULL, &f.asc},
		{0},
	};
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (!verb) {
		fprintf(stderr, "mamorictl: events needs a verb: search, counts, export\n");
		return EXIT_USAGE;
	}
	if (!streq(verb, "search") && !streq(verb, "counts") && !streq(verb, "export")) {
		fprintf(stderr, "mamorictl: unknown events verb '%s' (see --help)\n", verb);
		return EXIT_USAGE;
	}
	if (ctl_args_parse(argc - 2, argv + 2, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (streq(verb, "export") &&
	    (!f.format || (!streq(f.format, "csv") && !streq(f.format, "jsonl")))) {
		fprintf(stderr, "mamorictl: events export needs --format csv or --format jsonl\n");
		return EXIT_USAGE;
	}
	if (!streq(verb, "export") && (f.format || f.output)) {
		fprintf(stderr, "mamorictl: --format and --output are for events export\n");
		return EXIT_USAGE;
	}
	if (!streq(verb, "counts") && f.by) {
		fprintf(stderr, "mamorictl: --by is for events counts\n");
		return EXIT_USAGE;
	}
	buf_init(&q, 8192);
	r = buf_addf(&q, "/api/v1/events%s",
		     streq(verb, "search")   ? ""
		     : streq(verb, "counts") ? "/counts"
					     : "/export");
	if (r == 0)
		r = add_filters(&q, &f);
	if (r < 0) {
		buf_done(&q);
		return EXIT_FAILURE;
	}
	if (streq(verb, "export")) {
		r = ctl_download(c, buf_str(&q), f.output);
		buf_done(&q);
		return r < 0 ? (r == -ENOMEM ? EXIT_FAILURE : EXIT_API) : EXIT_SUCCESS;
	}
	r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else if (streq(verb, "search"))
		print_events(answer);
	else
		print_counts(answer);
	json_decref(answer);
	return EXIT_SUCCESS;
}
