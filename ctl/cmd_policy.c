/*
 * mamorictl policy …: USB device-control policies (docs/usb-rules.md).
 *
 *   check FILE                 offline: the agent's own parser, every error and warning
 *                              with line and column; exit 1 when there are errors
 *   set --scope S FILE         stores a new version for a scope ("all", "group:NAME",
 *                              "host:ID"); the server refuses an invalid policy with the
 *                              same messages
 *   show [--scope S | --host ID]  the current policies, one scope's rules, or the policy
 *                              in force for a host and why
 *   history [--scope S]        every version, newest first
 *
 * Also ctl_read_file(), which the commands reading a file the user names share.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/diag.h"
#include "lib/fileio.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "lib/usbpolicy.h"

int ctl_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	int r = fileio_read(NULL, path, max, &text, &len);

	if (r == -E2BIG)
		fprintf(stderr, "mamorictl: %s: larger than %zu bytes\n", path, max);
	else if (r < 0)
		fprintf(stderr, "mamorictl: cannot read %s: %s\n", path, strerror(-r));
	if (r < 0)
		return r;
	if (memchr(text, '\0', len)) {
		fprintf(stderr, "mamorictl: %s: a NUL byte inside: not a text file\n", path);
		mm_free(text);
		return -EINVAL;
	}
	*ret = text;
	*ret_len = len;
	return 0;
}

static json_t *diag_json(const struct diag *d, enum diag_severity sev)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < d->n; i++) {
		_cleanup_(freep) char *s = NULL;

		if (d->entries[i].severity != sev)
			continue;
		s = diag_format(&d->entries[i]);
		if (jsonw_append(arr, s ? json_string(s) : NULL) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int ctl_cmd_policy_check(int argc, char **argv)
{
	_cleanup_(usb_policy_freep) struct usb_policy *p = NULL;
	_cleanup_(freep) char *text = NULL;
	const char *file = NULL;
	bool json = false;
	size_t len;
	struct diag d;
	int r;

	if (ctl_args_parse(argc - 2, argv + 2, NULL, &file, 1, 1, &json) < 0)
		return EXIT_USAGE;
	if (ctl_read_file(file, LIMIT_CONFIG_FILE, &text, &len) < 0)
		return EXIT_USAGE;
	diag_init(&d);
	r = usb_policy_parse(file, text, &d, &p);
	if (r == -ENOMEM || d.oom) {
		diag_done(&d);
		fprintf(stderr, "mamorictl: out of memory\n");
		return EXIT_FAILURE;
	}
	if (json) {
		_cleanup_(json_decrefp) json_t *out = json_pack(
			"{s:s, s:b, s:o, s:o, s:I}", "file", file, "valid", r == 0, "errors",
			diag_json(&d, DIAG_ERROR), "warnings", diag_json(&d, DIAG_WARNING), "rules",
			(json_int_t) (p ? usb_policy_rule_count(p) : 0));

		if (out)
			ctl_print_json(out);
	} else {
		for (size_t i = 0; i < d.n; i++) {
			_cleanup_(freep) char *s = diag_format(&d.entries[i]);

			fprintf(stderr, "%s\n", s ? s : "?");
		}
		if (r == 0)
			printf("%s: valid, %zu rule%s, %zu warning%s\n", file,
			       usb_policy_rule_count(p), usb_policy_rule_count(p) == 1 ? "" : "s",
			       d.n - d.n_errors, d.n - d.n_errors == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: %zu error%s: the server would refuse this policy\n",
				file, d.n_errors, d.n_errors == 1 ? "" : "s");
	}
	diag_done(&d);
	return r == 0 ? EXIT_SUCCESS : EXIT_API;
}

static bool scope_ok(const char *s)
{
	return s && (streq(s, "all") || (str_startswith(s, "group:") && s[6]) ||
		     (str_startswith(s, "host:") && s[5]));
}

static int policy_set(struct ctl *c, int argc, char **argv)
{
	const char *scope = NULL, *comment = NULL, *file = NULL, *base;
	const struct ctl_opt opts[] = {
		{"scope", &scope, NULL, NULL},
		{"comment", &comment, NULL, NULL},
		{0},
	};
	_cleanup_(freep) char *text = NULL;
	_cleanup_(json_decrefp) json_t *body = NULL;
	json_t *answer = NULL, *w;
	size_t len, i;

	if (ctl_args_parse(argc, argv, opts, &file, 1, 1, &c->json) < 0)
		return EXIT_USAGE;
	if (!scope_ok(scope)) {
		fprintf(stderr, "mamorictl: --scope is needed: all, group:NAME or host:ID\n");
		return EXIT_USAGE;
	}
	if (ctl_read_file(file, LIMIT_CONFIG_FILE, &text, &len) < 0)
		return EXIT_USAGE;
	base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	body = json_pack("{s:s, s:s, s:s*, s:s}", "scope", scope, "rules", text, "comment", comment,
			 "file", base);
	if (!body)
		return EXIT_FAILURE;
	if (ctl_call(c, "POST", "/api/v1/policies", body, &answer) < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else {
		json_array_foreach (json_object_get(answer, "warnings"), i, w)
			fprintf(stderr, "%s\n", json_string_value(w));
		printf("%s: version %lld\n", scope,
		       (long long) json_integer_value(json_object_get(answer, "version")));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

static void print_versions(json_t *rows)
{
	static const char *const cols[] = {"VERSION", "SCOPE",   "CREATED", "BY",
					   "RULES",   "COMMENT", NULL};
	static const char *const keys[] = {"version",    "scope",   "created", "created_by",
					   "rule_count", "comment", NULL};

	ctl_print_table(rows, cols, keys);
}

static int policy_show(struct ctl *c, int argc, char **argv)
{
	const char *scope = NULL, *host = NULL;
	const struct ctl_opt opts[] = {
		{"scope", &scope, NULL, NULL},
		{"host", &host, NULL, NULL},
		{0},
	};
	json_t *answer = NULL, *hist;
	struct buf q;
	int r;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (scope && host) {
		fprintf(stderr, "mamorictl: give --scope or --host, not both\n");
		return EXIT_USAGE;
	}
	if (scope && !scope_ok(scope)) {
		fprintf(stderr, "mamorictl: --scope: all, group:NAME or host:ID\n");
		return EXIT_USAGE;
	}
	buf_init(&q, 1024);
	if (host) {
		if (!*host || strspn(host, "0123456789abcdef-") != strlen(host)) {
			buf_done(&q);
			fprintf(stderr, "mamorictl: '%s' is not a host id\n", host);
			return EXIT_USAGE;
		}
		r = buf_addf(&q, "/api/v1/hosts/%s/policy", host);
		if (r == 0)
			r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
		buf_done(&q);
		if (r < 0)
			return EXIT_API;
		if (c->json) {
			ctl_print_json(answer);
		} else {
			json_t *st = json_object_get(answer, "status");
			const char *rules = json_string_value(
				json_object_get(json_object_get(answer, "policy"), "rules"));

			printf("why:       %s\n",
			       json_string_value(json_object_get(answer, "why")));
			printf("effective: %s\n",
			       json_string_value(json_object_get(st, "effective"))
				       ? json_string_value(json_object_get(st, "effective"))
				       : "none");
			printf("in force:  %s (%s)\n",
			       json_string_value(json_object_get(st, "in_force"))
				       ? json_string_value(json_object_get(st, "in_force"))
				       : "none",
			       json_is_true(json_object_get(st, "current")) ? "current"
									    : "not current yet");
			if (rules)
				printf("\n%s", rules);
		}
		json_decref(answer);
		return EXIT_SUCCESS;
	}
	r = buf_adds(&q, "/api/v1/policies");
	if (r == 0 && scope)
		r = ctl_query_add(&q, "scope", scope);
	if (r == 0 && scope)
		r = ctl_query_add(&q, "limit", "1");
	if (r == 0)
		r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (!scope) {
		if (c->json)
			ctl_print_json(answer);
		else
			print_versions(json_object_get(answer, "current"));
		json_decref(answer);
		return EXIT_SUCCESS;
	}
	hist = json_array_get(json_object_get(answer, "history"), 0);
	if (!hist) {
		json_decref(answer);
		fprintf(stderr, "mamorictl: %s has no policy\n", scope);
		return EXIT_API;
	}
	buf_init(&q, 256);
	r = buf_addf(&q, "/api/v1/policies/%lld",
		     (long long) json_integer_value(json_object_get(hist, "version")));
	json_decref(answer);
	answer = NULL;
	if (r == 0)
		r = ctl_call(c, "GET", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else {
		char tb[32];

		printf("# %s, version %lld, %s UTC by %s%s%s\n", scope,
		       (long long) json_integer_value(json_object_get(answer, "version")),
		       ctl_time(json_object_get(answer, "created"), tb),
		       json_string_value(json_object_get(answer, "created_by")),
		       json_string_value(json_object_get(answer, "comment")) ? ": " : "",
		       json_string_value(json_object_get(answer, "comment"))
			       ? json_string_value(json_object_get(answer, "comment"))
			       : "");
		printf("%s", json_string_value(json_object_get(answer, "rules")));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

static int policy_history(struct ctl *c, int argc, char **argv)
{
	const char *scope = NULL, *limit = NULL, *offset = NULL;
	const struct ctl_opt opts[] = {
		{"scope", &scope, NULL, NULL},
		{"limit", &limit, NULL, NULL},
		{"offset", &offset, NULL, NULL},
		{0},
	};
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	buf_init(&q, 1024);
	r = buf_adds(&q, "/api/v1/policies");
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
	} else {
		print_versions(json_object_get(answer, "history"));
		printf("(%zu of %lld)\n", json_array_size(json_object_get(answer, "history")),
		       (long long) json_integer_value(json_object_get(answer, "total")));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

int ctl_cmd_policy(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;

	if (verb && streq(verb, "set"))
		return policy_set(c, argc - 2, argv + 2);
	if (verb && streq(verb, "show"))
		return policy_show(c, argc - 2, argv + 2);
	if (verb && streq(verb, "history"))
		return policy_history(c, argc - 2, argv + 2);
	fprintf(stderr, "mamorictl: policy needs a verb: check, set, show, history\n");
	return EXIT_USAGE;
}
