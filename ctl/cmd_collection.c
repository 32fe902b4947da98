/*
 * mamorictl collection …: collection profiles (docs/events.md, "Collection profiles").
 *
 *   check FILE                   offline: the agent's own parser (lib/collection.c), every
 *                                error and warning with its place in the policy; exit 1
 *                                when there are errors
 *   set --scope S FILE           stores a new version for a scope ("all", "group:NAME",
 *                                "host:ID"); the server refuses an invalid profile with the
 *                                same messages
 *   list [--scope S] [--all]     the current profile of each scope; with --scope or --all,
 *                                the versions, newest first
 *   show ID | --host ID          one version, or the profile in force for a host, what it
 *                                collects and why
 *
 * FILE holds the policy's "collection" object, e.g. {"profile": "minimal"}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/collection.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

static bool scope_ok(const char *s)
{
	return s && (streq(s, "all") || (str_startswith(s, "group:") && s[6]) ||
		     (str_startswith(s, "host:") && s[5]));
}

/* Reads FILE as one JSON object; prints what is wrong otherwise. */
static int read_profile(const char *file, json_t **ret)
{
	_cleanup_(freep) char *text = NULL;
	struct jsonw_error err;
	json_t *v = NULL;
	size_t len;

	if (ctl_read_file(file, LIMIT_COLLECTION_PROFILE, &text, &len) < 0)
		return -EINVAL;
	if (jsonw_parse(text, len, LIMIT_COLLECTION_PROFILE, &v, &err) < 0) {
		fprintf(stderr, "%s: error: %s\n", file, err.text);
		return -EINVAL;
	}
	if (!json_is_object(v)) {
		fprintf(stderr,
			"%s: error: collection: expected an object, e.g. "
			"{\"profile\": \"minimal\"}\n",
			file);
		json_decref(v);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static json_t *messages(const struct diag *d, enum diag_severity sev)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < d->n; i++)
		if (d->entries[i].severity == sev &&
		    jsonw_append(arr, json_string(d->entries[i].message)) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

int ctl_cmd_collection_check(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *profile = NULL, *policy = NULL;
	const char *file = NULL;
	struct collection c;
	bool json = false;
	struct diag d;
	int r;

	if (ctl_args_parse(argc - 2, argv + 2, NULL, &file, 1, 1, &json) < 0)
		return EXIT_USAGE;
	if (read_profile(file, &profile) < 0)
		return EXIT_API;
	policy = json_pack("{s:O}", "collection", profile);
	if (!policy)
		return EXIT_FAILURE;
	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	if (r == -ENOMEM || d.oom) {
		if (r == 0)
			collection_done(&c);
		diag_done(&d);
		fprintf(stderr, "mamorictl: out of memory\n");
		return EXIT_FAILURE;
	}
	if (json) {
		_cleanup_(json_decrefp) json_t *out = json_pack(
			"{s:s, s:b, s:o, s:o, s:o?}", "file", file, "valid", r == 0, "errors",
			messages(&d, DIAG_ERROR), "warnings", messages(&d, DIAG_WARNING),
			"effective", r == 0 ? collection_to_json(&c) : NULL);

		if (out)
			ctl_print_json(out);
	} else {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s: %s: %s\n", file,
				d.entries[i].severity == DIAG_ERROR ? "error" : "warning",
				d.entries[i].message);
		if (r == 0)
			printf("%s: valid, profile %s, %zu warning%s\n", file, c.profile,
			       d.n - d.n_errors, d.n - d.n_errors == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: %zu error%s: the server would refuse this profile\n",
				file, d.n_errors, d.n_errors == 1 ? "" : "s");
	}
	if (r == 0)
		collection_done(&c);
	diag_done(&d);
	return r == 0 ? EXIT_SUCCESS : EXIT_API;
}

static int collection_set(struct ctl *c, int argc, char **argv)
{
	const char *scope = NULL, *comment = NULL, *file = NULL;
	const struct ctl_opt opts[] = {
		{"scope", &scope, NULL, NULL},
		{"comment", &comment, NULL, NULL},
		{0},
	};
	_cleanup_(json_decrefp) json_t *profile = NULL, *body = NULL;
	json_t *answer = NULL, *w;
	size_t i;

	if (ctl_args_parse(argc, argv, opts, &file, 1, 1, &c->json) < 0)
		return EXIT_USAGE;
	if (!scope_ok(scope)) {
		fprintf(stderr, "mamorictl: --scope is needed: all, group:NAME or host:ID\n");
		return EXIT_USAGE;
	}
	if (read_profile(file, &profile) < 0)
		return EXIT_USAGE;
	body = json_pack("{s:s, s:O, s:s*}", "scope", scope, "profile", profile, "comment",
			 comment);
	if (!body)
		return EXIT_FAILURE;
	if (ctl_call(c, "POST", "/api/v1/collection-profiles", body, &answer) < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else {
		json_array_foreach (json_object_get(answer, "warnings"), i, w)
			fprintf(stderr, "%s: warning: %s\n", file, json_string_value(w));
		printf("%s: version %lld (profile %s)\n", scope,
		       (long long) json_integer_value(json_object_get(answer, "version")),
		       json_string_value(json_object_get(answer, "name")));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

static void print_versions(json_t *rows)
{
	static const char *const cols[] = {"VERSION", "SCOPE",   "PROFILE", "CREATED",
					   "BY",      "COMMENT", NULL};
	static const char *const keys[] = {"version",    "scope",   "name", "created",
					   "created_by", "comment", NULL};

	ctl_print_table(rows, cols, keys);
}

static int collection_list(struct ctl *c, int argc, char **argv)
{
	const char *scope = NULL, *limit = NULL, *offset = NULL;
	bool all = false;
	const struct ctl_opt opts[] = {
		{"scope", &scope, NULL, NULL},
		{"all", NULL, &all, NULL},
		{"limit", &limit, NULL, NULL},
		{"offset", &offset, NULL, NULL},
		{0},
	};
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (scope && !scope_ok(scope)) {
		fprintf(stderr, "mamorictl: --scope: all, group:NAME or host:ID\n");
		return EXIT_USAGE;
	}
	buf_init(&q, 1024);
	r = buf_adds(&q, "/api/v1/collection-profiles");
	if (r == 0)
		r = ctl_query_add(&q, "scope", scope);
	if (r == 0)
		r = ctl_query_add(&q, "limit", limit);
	if (r == 0)
		r = ctl_query_add(&q, "offset", offset);
	if (r == 0)
		r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else if (scope || all) {
		print_versions(json_object_get(answer, "history"));
		printf("(%zu of %lld)\n", json_array_size(json_object_get(answer, "history")),
		       (long long) json_integer_value(json_object_get(answer, "total")));
	} else {
		print_versions(json_object_get(answer, "current"));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

/* Prints a JSON value indented, as the profile's settings read best. */
static void print_settings(const char *title, json_t *v)
{
	if (*title)
		printf("%s\n", title);
	ctl_print_json(v);
}

static int collection_show(struct ctl *c, int argc, char **argv)
{
	const char *host = NULL, *id = NULL;
	const struct ctl_opt opts[] = {
		{"host", &host, NULL, NULL},
		{0},
	};
	json_t *answer = NULL;
	struct buf q;
	char tb[32];
	int r;

	if (ctl_args_parse(argc, argv, opts, &id, 1, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (!host == !id) {
		fprintf(stderr, "mamorictl: collection show needs a version ID or --host ID\n");
		return EXIT_USAGE;
	}
	if ((host && (!*host || strspn(host, "0123456789abcdefABCDEF-") != strlen(host))) ||
	    (id && (!*id || strspn(id, "0123456789") != strlen(id)))) {
		fprintf(stderr, "mamorictl: '%s' is not a %s id\n", host ? host : id,
			host ? "host" : "version");
		return EXIT_USAGE;
	}
	buf_init(&q, 256);
	r = host ? buf_addf(&q, "/api/v1/hosts/%s/collection", host)
		 : buf_addf(&q, "/api/v1/collection-profiles/%s", id);
	if (r == 0)
		r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else if (host) {
		json_t *p = json_object_get(answer, "profile");

		printf("why:     %s\n", json_string_value(json_object_get(answer, "why")));
		if (json_is_object(p))
			printf("profile: %s, version %lld (%s)\n",
			       json_string_value(json_object_get(p, "scope")),
			       (long long) json_integer_value(json_object_get(p, "version")),
			       json_string_value(json_object_get(p, "name")));
		print_settings("effective:", json_object_get(answer, "effective"));
	} else {
		printf("# %s, version %lld (%s), %s UTC by %s%s%s%s\n",
		       json_string_value(json_object_get(answer, "scope")),
		       (long long) json_integer_value(json_object_get(answer, "version")),
		       json_string_value(json_object_get(answer, "name")),
		       ctl_time(json_object_get(answer, "created"), tb),
		       json_string_value(json_object_get(answer, "created_by")),
		       json_string_value(json_object_get(answer, "comment")) ? ": " : "",
		       json_string_value(json_object_get(answer, "comment"))
			       ? json_string_value(json_object_get(answer, "comment"))
			       : "",
		       json_is_true(json_object_get(answer, "current")) ? "" : " (superseded)");
		print_settings("", json_object_get(answer, "profile"));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

int ctl_cmd_collection(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;

	if (verb && streq(verb, "set"))
		return collection_set(c, argc - 2, argv + 2);
	if (verb && streq(verb, "list"))
		return collection_list(c, argc - 2, argv + 2);
	if (verb && streq(verb, "show"))
		return collection_show(c, argc - 2, argv + 2);
	fprintf(stderr, "mamorictl: collection needs a verb: check, set, list, show\n");
	return EXIT_USAGE;
}
