/*
 * mamorictl's private header. mamorictl speaks only the public admin REST API
 * (docs/api.md), so everything it does can be scripted against the API directly — except
 * `store migrate`, an offline operation on two databases (cmd_store.c says why).
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/macro.h"

#define EXIT_USAGE 2
#define EXIT_API   1

struct ctl {
	char *server; /* https://host:port */
	char *token;  /* API token, wiped at exit */
	char *ca;     /* CA certificate file to verify the server with; NULL: system store */
	bool json;    /* print the API's JSON instead of tables */
};

/* Fills ctl from flags already set, then the environment (MAMORI_SERVER, MAMORI_TOKEN,
 * MAMORI_CA), then the config file ($MAMORI_CONFIG or ~/.config/mamori/ctl.conf).
 * Returns 0, or -errno after printing what was wrong. */
int ctl_config_load(struct ctl *c) _wur_;
/* Parses a ctl.conf text ("key = value", '#' comments). Unknown keys and malformed
 * lines are errors, reported with path:line on stderr, all in one pass. */
int ctl_config_parse(struct ctl *c, const char *path, char *text) _wur_;
void ctl_done(struct ctl *c);

/*
 * Calls the API: method, path (with query), an optional JSON body. On 2xx, *ret gets the
 * parsed answer (a JSON null for an empty body) and 0 is returned. On an error answer,
 * prints "mamorictl: <status>: <the server's error message>" and returns -EPROTO; on a
 * connection or TLS failure prints curl's reason and returns -EIO.
 */
int ctl_call(const struct ctl *c, const char *method, const char *path, json_t *body, json_t **ret)
	_wur_;

/*
 * Calls the API with a body of another content type (a CSV import) or for an answer that
 * is not JSON (the CSV export): on 2xx, *ret_json gets the parsed answer when ret_json is
 * given, else *ret_text the raw answer (mm_free). Errors as ctl_call().
 */
int ctl_call_text(const struct ctl *c, const char *method, const char *path, const char *ctype,
		  const char *body, size_t len, char **ret_text, json_t **ret_json) _wur_;

/*
 * Streams the answer to a GET (an export) into the file `output` (stdout when NULL) as it
 * arrives, never holding it whole. An error status prints the server's status and returns
 * -EPROTO; a transfer cut short -EIO (the file then ends early).
 */
int ctl_download(const struct ctl *c, const char *path, const char *output) _wur_;

/* Appends "name=value" to a query string in b, URL-escaped; skipped when value is NULL. */
struct buf;
int ctl_query_add(struct buf *b, const char *name, const char *value) _wur_;

/* Output helpers. */
void ctl_print_json(const json_t *v);
/* Prints rows as an aligned table: `cols` names the columns (header), `keys` the members
 * of each row object to print (NULL-terminated, same count). */
void ctl_print_table(json_t *rows, const char *const *cols, const char *const *keys);
/* Formats a Unix time as "YYYY-MM-DD HH:MM:SS" UTC, or "-" for 0/null. */
const char *ctl_time(json_t *v, char buf[32]);

/* Values of an option that may be given several times (--tag a --tag b). */
#define CTL_LIST_MAX 32
struct ctl_list {
	const char *v[CTL_LIST_MAX];
	size_t n;
};

/* One option of a sub-command: a value option sets *value, a flag sets *flag, a list
 * option appends to *list. */
struct ctl_opt {
	const char *name; /* without the leading "--" */
	const char **value;
	bool *flag;
	struct ctl_list *list;
};

/* Parses a sub-command's arguments (after its verb). --json is always accepted and sets
 * *json. Returns 0, or -1 after printing what was wrong (exit with EXIT_USAGE). */
int ctl_args_parse(int argc, char **argv, const struct ctl_opt *opts, const char **positional,
		   size_t n_positional, size_t n_required, bool *json);

int ctl_cmd_hosts(struct ctl *c, int argc, char **argv);
int ctl_cmd_tokens(struct ctl *c, int argc, char **argv);
int ctl_cmd_events(struct ctl *c, int argc, char **argv);
/* store migrate --from URL --to URL [--force]: links the store library (cmd_store.c). */
int ctl_cmd_store(struct ctl *c, int argc, char **argv);
/* `policy check FILE` needs no server: main() calls it before loading the configuration. */
int ctl_cmd_policy_check(int argc, char **argv);
int ctl_cmd_policy(struct ctl *c, int argc, char **argv);
/* `collection check FILE` needs no server either (cmd_collection.c). */
int ctl_cmd_collection_check(int argc, char **argv);
int ctl_cmd_collection(struct ctl *c, int argc, char **argv);
int ctl_cmd_devices(struct ctl *c, int argc, char **argv);
int ctl_cmd_grants(struct ctl *c, int argc, char **argv);

/* Reads a file the user named (at most max bytes, NUL-free text); prints why on failure. */
int ctl_read_file(const char *path, size_t max, char **ret, size_t *ret_len) _wur_;

/* cmd_compliance.c: the scorecard, attestations, the catalogue and the advisor. */
int ctl_cmd_compliance(struct ctl *c, int argc, char **argv);
int ctl_cmd_attest(struct ctl *c, int argc, char **argv);
int ctl_cmd_attestations(struct ctl *c, int argc, char **argv);
int ctl_cmd_advisor(struct ctl *c, int argc, char **argv);
/* catalog check FILE…: offline, needs no server. */
int ctl_cmd_catalog(int argc, char **argv);
