/*
 * The admin API's collection profiles (docs/api.md, "Collection profiles"): storing a new
 * version for a scope, the current profile of each scope and the history, one version, and
 * the profile in force for a host with the settings an agent applies.
 *
 * A profile is checked with the agent's own parser (lib/collection.c) before anything is
 * stored; one with errors is refused whole (400 invalid_profile with every error, each
 * opening with its place in the policy, "collection.files.folders[2]: …") and the store is
 * not touched, so an agent is never sent a profile it would refuse. Unknown settings are
 * warnings, as the agent takes them. Versions are never edited: every change is a new
 * version, recorded in the audit trail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/collection.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define COMMENT_MAX  256u
#define SCOPE_MAX    160u
#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

#define refuse(err, ...) ((void) jsonw_fail(err, __VA_ARGS__), -EBADMSG)

int api_collection_parse_create(json_t *body, struct api_collection_create *ret, struct diag *d,
				struct jsonw_error *err)
{
	static const char *const known[] = {"scope", "profile", "comment"};
	_cleanup_(json_decrefp) json_t *policy = NULL;
	_cleanup_(freep) char *text = NULL;
	const char *key, *scope, *comment = NULL;
	json_t *v, *profile;
	struct collection c;
	char why[128];
	int r;

	json_object_foreach (body, key, v) {
		bool ok = false;

		for (size_t i = 0; i < ARRAY_SIZE(known); i++)
			ok = ok || streq(key, known[i]);
		if (!ok)
			return refuse(err,
				      "field '%.64s' is not known (known: scope, profile, comment)",
				      key);
	}
	if ((r = jsonw_get_string(body, "scope", true, &scope, err)) < 0 ||
	    (r = jsonw_get_object(body, "profile", true, &profile, err)) < 0)
		return r;
	v = json_object_get(body, "comment");
	if (v && !json_is_null(v)) {
		if ((r = jsonw_get_string(body, "comment", false, &comment, err)) < 0)
			return r;
		if (strlen(comment) > COMMENT_MAX || !str_is_clean_utf8(comment, strlen(comment)))
			return refuse(err,
				      "field 'comment': at most %u bytes of text without control "
				      "characters",
				      COMMENT_MAX);
		if (!*comment)
			comment = NULL;
	}
	if (strlen(scope) > SCOPE_MAX || policy_scope_check(scope, why, sizeof(why)) < 0)
		return refuse(err, "field 'scope': %s",
			      strlen(scope) > SCOPE_MAX ? "too long" : why);
	text = jsonw_dump(profile);
	if (!text)
		return -ENOMEM;
	if (strlen(text) > LIMIT_COLLECTION_PROFILE)
		return refuse(err, "field 'profile': %zu bytes as JSON, at most %zu", strlen(text),
			      LIMIT_COLLECTION_PROFILE);
	/* exactly as the agent reads it out of its policy */
	policy = json_pack("{s:O}", "collection", profile);
	if (!policy)
		return -ENOMEM;
	r = collection_parse(policy, &c, d);
	if (r < 0)
		return r;
	*ret = (struct api_collection_create){
		.scope = scope, .profile = profile, .comment = comment};
	(void) snprintf(ret->name, sizeof(ret->name), "%s", c.profile);
	collection_done(&c);
	return 0;
}

/* The diagnostics of one severity as an array of "PATH: message". */
static json_t *diag_list(const struct diag *d, enum diag_severity sev)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < d->n; i++) {
		if (d->entries[i].severity != sev)
			continue;
		if (jsonw_append(arr, json_string(d->entries[i].message)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int handle_create(struct http_request *req)
{
	struct api_collection_create in = {0};
	struct jsonw_error jerr = {{0}};
	_cleanup_(json_decrefp) json_t *details = NULL, *warnings = NULL;
	struct diag d;
	char actor[STORE_ID_MAX + 8], target[32];
	json_t *body;
	int64_t version = 0;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	diag_init(&d);
	r = api_collection_parse_create(body, &in, &d, &jerr);
	if (r == -EINVAL) {
		json_t *extra = json_pack("{s:o, s:o}", "errors", diag_list(&d, DIAG_ERROR),
					  "warnings", diag_list(&d, DIAG_WARNING));

		r = http_fail_extra(req, -EINVAL, "invalid_profile", extra,
				    "the collection profile has %zu error%s; nothing was stored",
				    d.n_errors, d.n_errors == 1 ? "" : "s");
		diag_done(&d);
		return r;
	}
	if (r < 0) {
		diag_done(&d);
		if (r == -ENOMEM)
			return http_fail(req, r, NULL, "the server is short of memory");
		return http_fail_json(req, r, &jerr);
	}
	warnings = diag_list(&d, DIAG_WARNING);
	diag_done(&d);
	if (!warnings)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	r = store_collection_create(req->srv->store,
				    &(struct store_collection){
					    .scope = in.scope,
					    .profile = in.profile,
					    .name = in.name,
					    .comment = in.comment,
					    .created = req->now,
					    .created_by = actor,
				    },
				    &version);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "field 'scope': there is no host %s",
				 in.scope + strlen("host:"));
	if (r < 0)
		return http_fail_store(req, r, "collection profile");
	(void) snprintf(target, sizeof(target), "%lld", (long long) version);
	details = json_pack("{s:s, s:s, s:s?}", "scope", in.scope, "name", in.name, "comment",
			    in.comment);
	auth_audit(req, "collection.create", target, details);
	return http_reply_json(req, 201,
			       json_pack("{s:I, s:s, s:s, s:O}", "version", (json_int_t) version,
					 "scope", in.scope, "name", in.name, "warnings", warnings));
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
	r = store_collection_list(req->srv->store, scope, (size_t) limit, (size_t) offset, &out);
	if (r < 0)
		return http_fail_store(req, r, "collection profiles");
	return http_reply_json(req, 200, out);
}

static int handle_get(struct http_request *req)
{
	json_t *out = NULL;
	int64_t version;
	int r;

	if (str_to_i64(req->param, 10, &version) < 0 || version < 1)
		return http_fail(req, -ENOENT, "not_found", "there is no collection profile %s",
				 req->param);
	r = store_collection_get(req->srv->store, version, &out);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no collection profile %s",
				 req->param);
	if (r < 0)
		return http_fail_store(req, r, "collection profile");
	return http_reply_json(req, 200, out);
}

static int handle_host_collection(struct http_request *req)
{
	json_t *out = NULL;
	int r = policy_collection_view(req->srv->store, req->param, &out);

	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r == -ENOMEM)
		return http_fail(req, r, NULL, "the server is short of memory");
	if (r < 0)
		return http_fail_store(req, r, "collection profile");
	return http_reply_json(req, 200, out);
}

const struct http_route api_collection_routes[] = {
	{"POST", "/api/v1/collection-profiles", handle_create, HTTP_WRITE},
	{"GET", "/api/v1/collection-profiles", handle_list, 0},
	{"GET", "/api/v1/collection-profiles/{id}", handle_get, 0},
	{"GET", "/api/v1/hosts/{id}/collection", handle_host_collection, 0},
};
const size_t api_collection_n_routes = ARRAY_SIZE(api_collection_routes);
