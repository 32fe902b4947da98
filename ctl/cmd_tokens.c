/*
 * mamorictl tokens …: enrolment tokens. create prints the secret once — the server keeps
 * only its hash — so the administrator hands it to whoever enrols the endpoint.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/buf.h"
#include "lib/duration.h"
#include "lib/jsonw.h"
#include "lib/mm.h"
#include "lib/str.h"

static void print_tokens(json_t *a)
{
	static const char *const cols[] = {"ID",      "STATE", "USES",    "MAX",
					   "EXPIRES", "GROUP", "COMMENT", NULL};
	static const char *const keys[] = {"id",      "state", "uses",    "max_uses",
					   "expires", "group", "comment", NULL};

	ctl_print_table(json_object_get(a, "tokens"), cols, keys);
}

int ctl_cmd_tokens(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	const char *uses = NULL, *expires = NULL, *group = NULL, *comment = NULL, *id = NULL;
	_cleanup_(json_decrefp) json_t *body = NULL;
	json_t *answer = NULL;
	int r;

	if (!verb) {
		fprintf(stderr, "mamorictl: tokens needs a verb: create, list, revoke\n");
		return EXIT_USAGE;
	}
	argc -= 2;
	argv += 2;
	if (streq(verb, "create")) {
		const struct ctl_opt opts[] = {
			{"uses", &uses, NULL},
			{"expires", &expires, NULL},
			{"group", &group, NULL},
			{"comment", &comment, NULL},
			{0},
		};
		unsigned n_uses = 1;
		int64_t secs = (int64_t) 24 * 3600;

		if (ctl_args_parse(argc, argv, opts, NULL, 0, 0, &c->json) < 0)
			return EXIT_USAGE;
		if (uses && (str_to_uint(uses, 10, &n_uses) < 0 || n_uses == 0)) {
			fprintf(stderr,
				"mamorictl: --uses needs a whole number of at least 1, not "
				"'%s'\n",
				uses);
			return EXIT_USAGE;
		}
		if (expires && (duration_parse(expires, &secs) < 0 || secs == 0)) {
			fprintf(stderr,
				"mamorictl: --expires needs a duration such as 30m, 24h or "
				"7d, not '%s'\n",
				expires);
			return EXIT_USAGE;
		}
		body = json_pack("{s:i, s:I, s:s?, s:s?}", "uses", (int) n_uses, "expires_in",
				 (json_int_t) secs, "group", group, "comment", comment);
		if (!body)
			return EXIT_FAILURE;
		r = ctl_call(c, "POST", "/api/v1/enroll-tokens", body, &answer);
		if (r < 0)
			return EXIT_API;
		if (c->json) {
			ctl_print_json(answer);
		} else {
			char tb[32];

			printf("token:   %s\n",
			       json_string_value(json_object_get(answer, "token")));
			printf("id:      %s\n", json_string_value(json_object_get(answer, "id")));
			printf("uses:    %lld\n",
			       (long long) json_integer_value(json_object_get(answer, "max_uses")));
			printf("expires: %s UTC\n",
			       ctl_time(json_object_get(answer, "expires"), tb));
			printf("(the token is shown only now; the server keeps only its hash)\n");
		}
		json_decref(answer);
		return EXIT_SUCCESS;
	}
	if (streq(verb, "list")) {
		if (ctl_args_parse(argc, argv, NULL, NULL, 0, 0, &c->json) < 0)
			return EXIT_USAGE;
		r = ctl_call(c, "GET", "/api/v1/enroll-tokens", NULL, &answer);
		if (r < 0)
			return EXIT_API;
		if (c->json)
			ctl_print_json(answer);
		else
			print_tokens(answer);
		json_decref(answer);
		return EXIT_SUCCESS;
	}
	if (streq(verb, "revoke")) {
		struct buf path;

		if (ctl_args_parse(argc, argv, NULL, &id, 1, 1, &c->json) < 0)
			return EXIT_USAGE;
		if (strspn(id, "0123456789abcdefABCDEF-_") != strlen(id)) {
			fprintf(stderr, "mamorictl: '%s' is not a token id\n", id);
			return EXIT_USAGE;
		}
		buf_init(&path, 256);
		r = buf_addf(&path, "/api/v1/enroll-tokens/%s/revoke", id);
		if (r == 0)
			r = ctl_call(c, "POST", buf_str(&path), NULL, &answer);
		buf_done(&path);
		if (r < 0)
			return EXIT_API;
		if (c->json)
			ctl_print_json(answer);
		else
			printf("revoked %s\n", id);
		json_decref(answer);
		return EXIT_SUCCESS;
	}
	fprintf(stderr, "mamorictl: unknown tokens verb '%s' (see --help)\n", verb);
	return EXIT_USAGE;
}
