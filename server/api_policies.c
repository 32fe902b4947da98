/*
 * The admin API's USB policies (docs/api.md, "USB control"): storing a new version for a
 * scope, the current policy of each scope and the history, one version, and the effective
 * policy of a host with the reason it applies.
 *
 * A policy text is checked with the agent's own parser before anything is stored; one
 * with errors is refused whole (400 invalid_policy with every error as
 * FILE:LINE:COLUMN: message) and the store is not touched, so an invalid policy never
 * reaches an agent. Versions are never edited: every change is a new version.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define COMMENT_MAX  256u
#define FILE_MAX     128u
#define SCOPE_MAX    160u
#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

#define refuse(err, ...) ((void) jsonw_fail(err, __VA_ARGS__), -EBADMSG)

/* An optional string member of at most max bytes of clean text; NULL when absent. */
static int opt_text(json_t *body, const char *key, size_t max, const char **ret,
		    struct jsonw_error *err)
{
	const char *s;
	int r = json_is_null(json_object_get(body, key))
			? -ENOENT
			: jsonw_get_string(body, key, false, &s, err);

	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return r;
	if (strlen(s) > max || !str_is_clean_utf8(s, strlen(s)))
		return refuse(err,
			      "field '%s': at most %zu bytes of text without control characters",
			      key, max);
	*ret = *s ? s : NULL;
	return 0;
}

int api_policies_parse_create(json_t *body, struct api_policies_create *ret, struct diag *d,
			      struct jsonw_error *err)
{
	static const char *const known[] = {"scope", "rules", "comment", "file"};
	const char *key, *scope, *rules, *comment, *file;
	json_t *v, *tags = NULL;
	size_t rule_count = 0;
	char why[128];
	int r;

	json_object_foreach (body, key, v) {
		bool ok = false;

		for (size_t i = 0; i < ARRAY_SIZE(known); i++)
			ok = ok || streq(key, known[i]);
		if (!ok)
			return refuse(err,
				      "field '%.64s' is not known (known: scope, rules, comment, "
				      "file)",
				      key);
	}
	if ((r = jsonw_get_string(body, "scope", true, &scope, err)) < 0 ||
	    (r = jsonw_get_string(body, "rules", true, &rules, err)) < 0 ||
	    (r = opt_text(body, "comment", COMMENT_MAX, &comment, err)) < 0 ||
	    (r = opt_text(body, "file", FILE_MAX, &file, err)) < 0)
		return r;
	if (strlen(scope) > SCOPE_MAX || policy_scope_check(scope, why, sizeof(why)) < 0)
		return refuse(err, "field 'scope': %s",
			      strlen(scope) > SCOPE_MAX ? "too long" : why);
	if (json_string_length(json_object_get(body, "rules")) != strlen(rules))
		return refuse(err, "field 'rules': a NUL character inside");
	r = policy_check_text(file ? file : "policy", rules, d, &tags, &rule_count);
	if (r == -E2BIG)
		return -EINVAL; /* the parser said which limit, in d */
	if (r < 0)
		return r;
	*ret = (struct api_policies_create){
		.scope = scope,
		.rules = rules,
		.comment = comment,
		.tags = tags,
		.rule_count = rule_count,
	};
	return 0;
}

/* The diagnostics of one severity as an array of "file:line:col: severity: message". */
static json_t *diag_list(const struct diag *d, enum diag_severity sev)
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

static int handle_create(struct http_request *req)
{
	struct api_policies_create in = {0};
	struct jsonw_error jerr = {{0}};
	_cleanup_(json_decrefp) json_t *tags = NULL, *details = NULL, *warnings = NULL;
	struct diag d;
	char actor[STORE_ID_MAX + 8], target[32];
	json_t *body;
	int64_t version = 0;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	diag_init(&d);
	r = api_policies_parse_create(body, &in, &d, &jerr);
	if (r == -EINVAL) {
		json_t *extra = json_pack("{s:o, s:o}", "errors", diag_list(&d, DIAG_ERROR),
					  "warnings", diag_list(&d, DIAG_WARNING));

		r = http_fail_extra(req, -EINVAL, "invalid_policy", extra,
				    "the policy has %zu error%s; nothing was stored", d.n_errors,
				    d.n_errors == 1 ? "" : "s");
		diag_done(&d);
		return r;
	}
	if (r < 0) {
		diag_done(&d);
		return http_fail_json(req, r, &jerr);
	}
	tags = in.tags;
	warnings = diag_list(&d, DIAG_WARNING);
	diag_done(&d);
	if (!warnings)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	r = store_policy_create(req->srv->store,
				&(struct store_policy){
					.scope = in.scope,
					.rules = in.rules,
					.tags = tags,
					.rule_count = in.rule_count,
					.comment = in.comment,
					.created = req->now,
					.created_by = actor,
				},
				&version);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "field 'scope': there is no host %s",
				 in.scope + strlen("host:"));
	if (r < 0)
		return http_fail_store(req, r, "policy");
	(void) snprintf(target, sizeof(target), "%lld", (long long) version);
	details = json_pack("{s:s, s:s?, s:I}", "scope", in.scope, "comment", in.comment,
			    "rule_count", (json_int_t) in.rule_count);
	auth_audit(req, "policy.create", target, details);
	return http_reply_json(req, 201,
			       json_pack("{s:I, s:s, s:I, s:O}", "version", (json_int_t) version,
					 "scope", in.scope, "rule_count",
					 (json_int_t) in.rule_count, "warnings", warnings));
}

static int handle_list(struct http_request *req)
{
	const char *scope = http_query(req, "scope");
	json_t *out = NULL;
	int64_t limit, offset;
	char why[128];
	int r;

	if (scope && !*scope)
		scope = NULL;
	if (scope && (strlen(scope) > SCOPE_MAX || policy_scope_check(scope, why, sizeof(why)) < 0))
		return http_fail(req, -EINVAL, "malformed", "query parameter 'scope': %s",
				 strlen(scope) > SCOPE_MAX ? "too long" : why);
	if (http_query_int(req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0 ||
	    http_query_int(req, "offset", 0, 0, INT32_MAX, &offset) < 0)
		return -EINVAL;
	r = store_policy_list(req->srv->store, scope, (size_t) limit, (size_t) offset, &out);
	if (r < 0)
		return http_fail_store(req, r, "policies");
	return http_reply_json(req, 200, out);
}

static int handle_get(struct http_request *req)
{
	json_t *out = NULL;
	int64_t version;
	int r;

	if (str_to_i64(req->param, 10, &version) < 0 || version < 1)
		return http_fail(req, -ENOENT, "not_found", "there is no policy version %s",
				 req->param);
	r = store_policy_get(req->srv->store, version, &out);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no policy version %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "policy");
	return http_reply_json(req, 200, out);
}

static int handle_host_policy(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *host = NULL, *doc = NULL, *inputs = NULL, *out = NULL;
	_cleanup_(freep) char *why = NULL;
	char effective[POLICY_VERSION_MAX];
	json_t *status = NULL;
	int r;

	r = store_host_get(req->srv->store, req->param, &host);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "host");
	r = policy_document(req->srv->store, req->param, req->now, &doc, &inputs);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r == -E2BIG)
		return http_fail(req, r, "too_large",
				 "the host's policy document is over what an agent accepts (see "
				 "M4301 in the server's log)");
	if (r < 0)
		return http_fail_store(req, r, "policy");
	/* what the agent reports is the whole policy's version (USB document and collection
	 * profile), so that is what it is compared with */
	r = policy_current(req->srv->store, req->param, req->now, effective);
	if (r == -ENOMEM)
		return http_fail(req, r, NULL, "the server is short of memory");
	if (r < 0)
		return http_fail_store(req, r, "policy");
	r = policy_why(inputs, &why);
	if (r >= 0)
		r = policy_status(effective, json_object_get(host, "state"), &status);
	if (r < 0)
		return http_fail(req, r, NULL, "the server is short of memory");
	out = json_pack("{s:O, s:O, s:O, s:O, s:s, s:O, s:O, s:o}", "host_id",
			json_object_get(inputs, "host_id"), "hostname",
			json_object_get(inputs, "hostname"), "group",
			json_object_get(inputs, "group"), "policy",
			json_object_get(inputs, "policy"), "why", why, "candidates",
			json_object_get(inputs, "candidates"), "document", doc, "status", status);
	return http_reply_json(req, 200, TAKE_PTR(out));
}

const struct http_route api_policies_routes[] = {
	{"POST", "/api/v1/policies", handle_create, HTTP_WRITE},
	{"GET", "/api/v1/policies", handle_list, 0},
	{"GET", "/api/v1/policies/{id}", handle_get, 0},
	{"GET", "/api/v1/hosts/{id}/policy", handle_host_policy, 0},
};
const size_t api_policies_n_routes = ARRAY_SIZE(api_policies_routes);
