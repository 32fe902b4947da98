/*
 * mamorictl grants …: temporary exceptions (一時利用許可) — one device, by serial, for one
 * host or one user, for some hours; the host gets it at its next check-in.
 *
 *   create --serial S (--host ID | --user U) --hours N --reason R
 *   list [--all]
 *   revoke ID
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

static void print_grants(json_t *a)
{
	static const char *const cols[] = {"ID",      "SERIAL", "HOST",   "USER",
					   "EXPIRES", "STATE",  "REASON", NULL};
	static const char *const keys[] = {"id",      "serial", "hostname", "user",
					   "expires", "state",  "reason",   NULL};

	ctl_print_table(json_object_get(a, "grants"), cols, keys);
}

static int grants_create(struct ctl *c, int argc, char **argv)
{
	const char *serial = NULL, *host = NULL, *user = NULL, *hours = NULL, *reason = NULL;
	const struct ctl_opt opts[] = {
		{"serial", &serial, NULL, NULL}, {"host", &host, NULL, NULL},
		{"user", &user, NULL, NULL},     {"hours", &hours, NULL, NULL},
		{"reason", &reason, NULL, NULL}, {0},
	};
	_cleanup_(json_decrefp) json_t *body = NULL;
	json_t *answer = NULL;
	char *end = NULL;
	double h;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (!serial || !hours || !reason || !host == !user) {
		fprintf(stderr, "mamorictl: grants create needs --serial, --host or --user, "
				"--hours and --reason\n");
		return EXIT_USAGE;
	}
	h = strtod(hours, &end);
	if (!*hours || *end || !(h > 0) || h > 720) {
		fprintf(stderr,
			"mamorictl: --hours needs a number of hours above 0, at most 720, "
			"not '%s'\n",
			hours);
		return EXIT_USAGE;
	}
	body = json_pack("{s:s, s:s*, s:s*, s:f, s:s}", "serial", serial, "host", host, "user",
			 user, "hours", h, "reason", reason);
	if (!body)
		return EXIT_FAILURE;
	if (ctl_call(c, "POST", "/api/v1/grants", body, &answer) < 0)
		return EXIT_API;
	if (c->json) {
		ctl_print_json(answer);
	} else {
		char tb[32];

		printf("grant %s: %s for %s %s until %s UTC\n",
		       json_string_value(json_object_get(answer, "id")), serial,
		       host ? "host" : "user", host ? host : user,
		       ctl_time(json_object_get(answer, "expires"), tb));
	}
	json_decref(answer);
	return EXIT_SUCCESS;
}

static int grants_list(struct ctl *c, int argc, char **argv)
{
	bool all = false;
	const struct ctl_opt opts[] = {{"all", NULL, &all, NULL}, {0}};
	json_t *answer = NULL;

	if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (ctl_call(c, "GET",
		     all ? "/api/v1/grants?all=true&limit=1000" : "/api/v1/grants?limit=1000", NULL,
		     &answer) < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		print_grants(answer);
	json_decref(answer);
	return EXIT_SUCCESS;
}

static int grants_revoke(struct ctl *c, int argc, char **argv)
{
	const char *id = NULL;
	json_t *answer = NULL;
	struct buf q;
	int r;

	if (ctl_args_parse(argc, argv, NULL, &id, 1, 1, &c->json) < 0)
		return EXIT_USAGE;
	if (!*id || strspn(id, "0123456789abcdefABCDEF_gr") != strlen(id)) {
		fprintf(stderr, "mamorictl: '%s' is not a grant id (gr_…)\n", id);
		return EXIT_USAGE;
	}
	buf_init(&q, 256);
	r = buf_addf(&q, "/api/v1/grants/%s/revoke", id);
	if (r == 0)
		r = ctl_call(c, "POST", buf_str(&q), NULL, &answer);
	buf_done(&q);
	if (r < 0)
		return EXIT_API;
	if (c->json)
		ctl_print_json(answer);
	else
		printf("revoked %s\n", id);
	json_decref(answer);
	return EXIT_SUCCESS;
}

int ctl_cmd_grants(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;

	if (verb && streq(verb, "create"))
		return grants_create(c, argc - 2, argv + 2);
	if (verb && streq(verb, "list"))
		return grants_list(c, argc - 2, argv + 2);
	if (verb && streq(verb, "revoke"))
		return grants_revoke(c, argc - 2, argv + 2);
	fprintf(stderr, "mamorictl: grants needs a verb: create, list, revoke\n");
	return EXIT_USAGE;
}
