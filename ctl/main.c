/*
 * mamorictl — the administrator's command line over the admin REST API.
 *
 *   mamorictl [--server URL] [--token T] [--ca FILE] [--json] COMMAND …
 *
 * Exit status: 0 success, 1 the server refused or could not be reached, 2 bad use.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "ctl/ctl.h"
#include "lib/jsonw.h"
#include "lib/mm.h"

static void print_help(void)
{
	printf("Usage: mamorictl [--server URL] [--token TOKEN] [--ca FILE] [--json] COMMAND\n"
	       "\n"
	       "Commands:\n"
	       "  hosts list [--search S] [--group G] [--status active|revoked]\n"
	       "             [--sort hostname|last_seen|enrolled] [--desc] [--limit N] [--offset "
	       "N]\n"
	       "  hosts show ID\n"
	       "  hosts inventory ID [--section NAME]\n"
	       "  hosts software ID [--search S] [--limit N] [--offset N]\n"
	       "  hosts history ID [--limit N]\n"
	       "  hosts events ID [--type TYPE] [--after SEQ] [--limit N]\n"
	       "  hosts revoke ID\n"
	       "  hosts delete ID\n"
	       "  hosts gaps ID                 the host's event-chain evidence: gaps, breaks\n"
	       "  events search [--host ID] [--user U] [--type T] [--from TIME] [--to TIME]\n"
	       "                [--text Q] [--limit N] [--cursor C] [--asc]\n"
	       "  events counts [--by type,hour] [filters as for search]\n"
	       "  events export --format csv|jsonl [--output FILE] [filters as for search]\n"
	       "  tokens create [--uses N] [--expires DURATION] [--group G] [--comment TEXT]\n"
	       "  tokens list\n"
	       "  tokens revoke ID\n"
	       "  policy check FILE              (offline: every error with line and column)\n"
	       "  policy set --scope all|group:G|host:ID FILE [--comment C]\n"
	       "  policy show [--scope all|group:G|host:ID | --host ID]\n"
	       "  policy history [--scope S] [--limit N] [--offset N]\n"
	       "  collection check FILE          (offline: every error with its place)\n"
	       "  collection set --scope all|group:G|host:ID FILE [--comment C]\n"
	       "  collection list [--scope S | --all] [--limit N] [--offset N]\n"
	       "  collection show ID | --host ID\n"
	       "  devices list [--tag T] [--search S] [--serial S] [--limit N] [--offset N]\n"
	       "  devices add --serial S [--vendor VVVV --product PPPP] --owner O [--tag T]...\n"
	       "              [--note N]\n"
	       "  devices remove SERIAL\n"
	       "  devices import FILE.csv        (all or nothing)\n"
	       "  devices export [--bom]         (CSV on stdout)\n"
	       "  grants create --serial S (--host ID | --user U) --hours N --reason R\n"
	       "  grants list [--all]\n"
	       "  grants revoke ID\n"
	       "  store migrate --from URL --to URL [--force]\n"
	       "             copy a whole store (servers stopped), e.g. --from sqlite:PATH\n"
	       "             --to postgresql://…; the target must be empty unless --force\n"
	       "  compliance summary [--lang ja|en]\n"
	       "  compliance host ID\n"
	       "  compliance measure ID [--status met|not_met|unknown|not_applicable]\n"
	       "  attest MEASURE --status met|not_met|not_applicable --evidence TEXT --owner NAME\n"
	       "         [--link URL] [--review-days N] [--date YYYY-MM-DD]\n"
	       "  attestations list [--measure ID]\n"
	       "  catalog check FILE...      (offline: validates catalogue override files)\n"
	       "  advisor [--answer QUESTION=ANSWER]... [--lang ja|en]  (asks on a terminal)\n"
	       "\n"
	       "The server, token and CA also come from MAMORI_SERVER, MAMORI_TOKEN and "
	       "MAMORI_CA,\n"
	       "or from the config file ($MAMORI_CONFIG or ~/.config/mamori/ctl.conf:\n"
	       "'server = URL', 'token = T', 'ca = FILE'). The server's certificate is always\n"
	       "verified: against --ca when given, else the system's trusted CAs.\n"
	       "Every command takes --json to print the API's JSON answer. TIME is Unix seconds,\n"
	       "RFC 3339 (2026-11-01, 2026-11-01T09:00:00+09:00) or -DURATION (-7d, -24h).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"token", required_argument, NULL, 't'},
		{"ca", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct ctl c = {0};
	const char *cmd;
	int opt, r;

	mm_setup_jansson();
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		char **field = NULL;

		switch (opt) {
		case 's':
			field = &c.server;
			break;
		case 't':
			field = &c.token;
			break;
		case 'c':
			field = &c.ca;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			print_help();
			return EXIT_SUCCESS;
		case 'V':
			printf("mamorictl %s\n", MAMORI_VERSION);
			return EXIT_SUCCESS;
		case ':':
			fprintf(stderr, "mamorictl: option '%s' needs a value\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "mamorictl: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (field) {
			mm_free(*field);
			*field = mm_strdup(optarg);
			if (!*field)
				return EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "mamorictl: a command is needed: hosts, events, tokens, policy, "
				"collection, devices, grants, compliance, attest, attestations, "
				"catalog, advisor or store (see --help)\n");
		ctl_done(&c);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	if (streq(cmd, "catalog")) {
		/* offline: no server, no token */
		r = ctl_cmd_catalog(argc - optind, argv + optind);
		ctl_done(&c);
		return r;
	}
	if (streq(cmd, "store")) {
		/* offline, on the databases themselves: no server, token or TLS */
		r = ctl_cmd_store(&c, argc - optind, argv + optind);
		ctl_done(&c);
		return r;
	}
	if (!streq(cmd, "hosts") && !streq(cmd, "tokens") && !streq(cmd, "policy") &&
	    !streq(cmd, "devices") && !streq(cmd, "grants") && !streq(cmd, "compliance") &&
	    !streq(cmd, "attest") && !streq(cmd, "attestations") && !streq(cmd, "advisor") &&
	    !streq(cmd, "events") && !streq(cmd, "collection")) {
		fprintf(stderr, "mamorictl: unknown command '%s' (see --help)\n", cmd);
		ctl_done(&c);
		return EXIT_USAGE;
	}
	/* checking a policy file needs no server, no token and no configuration */
	if (streq(cmd, "policy") && optind + 1 < argc && streq(argv[optind + 1], "check")) {
		r = ctl_cmd_policy_check(argc - optind, argv + optind);
		ctl_done(&c);
		return r;
	}
	if (streq(cmd, "collection") && optind + 1 < argc && streq(argv[optind + 1], "check")) {
		r = ctl_cmd_collection_check(argc - optind, argv + optind);
		ctl_done(&c);
		return r;
	}
	if (ctl_config_load(&c) < 0) {
		ctl_done(&c);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ctl_done(&c);
		return EXIT_FAILURE;
	}
	if (streq(cmd, "hosts"))
		r = ctl_cmd_hosts(&c, argc - optind, argv + optind);
	else if (streq(cmd, "events"))
		r = ctl_cmd_events(&c, argc - optind, argv + optind);
	else if (streq(cmd, "compliance"))
		r = ctl_cmd_compliance(&c, argc - optind, argv + optind);
	else if (streq(cmd, "attest"))
		r = ctl_cmd_attest(&c, argc - optind, argv + optind);
	else if (streq(cmd, "attestations"))
		r = ctl_cmd_attestations(&c, argc - optind, argv + optind);
	else if (streq(cmd, "advisor"))
		r = ctl_cmd_advisor(&c, argc - optind, argv + optind);
	else if (streq(cmd, "tokens"))
		r = ctl_cmd_tokens(&c, argc - optind, argv + optind);
	else if (streq(cmd, "policy"))
		r = ctl_cmd_policy(&c, argc - optind, argv + optind);
	else if (streq(cmd, "collection"))
		r = ctl_cmd_collection(&c, argc - optind, argv + optind);
	else if (streq(cmd, "devices"))
		r = ctl_cmd_devices(&c, argc - optind, argv + optind);
	else
		r = ctl_cmd_grants(&c, argc - optind, argv + optind);
	curl_global_cleanup();
	ctl_done(&c);
	return r;
}
