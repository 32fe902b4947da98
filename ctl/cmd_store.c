/*
 * mamorictl store migrate: copies a whole store into another, e.g. from the embedded
 * SQLite file to PostgreSQL when an organisation outgrows one server.
 *
 * This is the one command that does not speak the REST API. Migrating is an offline
 * operation on two databases — the servers are stopped, so there is no API to speak to,
 * and the copy must see tables the API never exposes (token hashes, certificate serials,
 * the audit chain's hashes) — so it links the store library and calls store_copy(),
 * which copies in one transaction and verifies row counts and per-host digests before
 * committing. Every other command stays an API client.
 *
 * Store URLs may carry a PostgreSQL password, so they are never printed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store.h"

static void print_report(json_t *report)
{
	json_t *tables = json_object_get(report, "tables"), *n;
	const char *name;

	printf("%-20s %10s\n", "TABLE", "ROWS");
	json_object_foreach (tables, name, n)
		printf("%-20s %10lld\n", name, (long long) json_integer_value(n));
	printf("%zu hosts verified (rows and a SHA-256 digest per host)\n",
	       json_object_size(json_object_get(report, "hosts")));
}

static int migrate(bool json, const char *from_url, const char *to_url, bool force)
{
	_cleanup_(store_freep) struct store *from = NULL;
	_cleanup_(store_freep) struct store *to = NULL;
	_cleanup_(json_decrefp) json_t *report = NULL;
	int r;

	r = store_open(from_url, &from);
	if (r < 0) {
		fprintf(stderr, "mamorictl: cannot open the source store: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	r = store_open(to_url, &to);
	if (r < 0) {
		fprintf(stderr, "mamorictl: cannot open the target store: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	r = store_copy(from, to, force, &report);
	if (r == -ENOTEMPTY) {
		fprintf(stderr, "mamorictl: the target store is not empty; --force replaces what "
				"it holds\n");
		return EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "mamorictl: the migration failed and changed nothing: %s\n",
			strerror(-r));
		return EXIT_FAILURE;
	}
	if (json)
		ctl_print_json(report);
	else
		print_report(report);
	return EXIT_SUCCESS;
}

int ctl_cmd_store(struct ctl *c, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	const char *from = NULL, *to = NULL;
	bool force = false;
	const struct ctl_opt opts[] = {
		{"from", &from, NULL},
		{"to", &to, NULL},
		{"force", NULL, &force},
		{0},
	};

	if (!verb || !streq(verb, "migrate")) {
		fprintf(stderr, "mamorictl: store needs a verb: migrate\n");
		return EXIT_USAGE;
	}
	if (ctl_args_parse(argc - 2, argv + 2, opts, NULL, 0, 0, &c->json) < 0)
		return EXIT_USAGE;
	if (!from || !to) {
		fprintf(stderr, "mamorictl: store migrate needs --from URL and --to URL\n");
		return EXIT_USAGE;
	}
	log_setup("mamorictl", LOG_WARNING);
	return migrate(c->json, from, to, force);
}
