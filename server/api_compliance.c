/*
 * The admin API of the guideline scorecard (docs/api.md, "Compliance"): the organisation's
 * summary, a category, a measure with the hosts that fail it, a host's results, history,
 * attestations for the manual measures, the loaded catalogue, a host's owner, and the
 * telework-method advisor. The engine (server/compliance.c) builds every answer; this
 * file checks the request's parameters and maps errors. Writes (an attestation, an owner,
 * a recompute) need the admin role and go to the audit trail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/advisor.h"
#include "lib/checks.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/compliance.h"
#include "server/server.h"

#define OWNER_MAX 256u

static int reply_or_fail(struct http_request *req, int r, json_t *out, const char *what)
{
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no %s %s", what, req->param);
	if (r < 0)
		return http_fail_store(req, r, what);
	return http_reply_json(req, 200, out);
}

static int handle_summary(struct http_request *req)
{
	json_t *out = NULL;
	int r = compliance_summary(req->srv->compliance, req->now, &out);

	return reply_or_fail(req, r, out, "summary");
}

static int handle_category(struct http_request *req)
{
	json_t *out = NULL;
	int r = compliance_category(req->srv->compliance, req->param, req->now, &out);

	return reply_or_fail(req, r, out, "category");
}

static int handle_measure(struct http_request *req)
{
	const char *status = http_query(req, "status");
	enum checks_status st;
	int64_t limit, offset;
	json_t *out = NULL;
	int r;

	if (status && checks_status_from_name(status, &st) < 0)
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'status': expected met, not_met, unknown or "
				 "not_applicable");
	if (http_query_int(req, "limit", 100, 1, 10000, &limit) < 0 ||
	    http_query_int(req, "offset", 0, 0, INT32_MAX, &offset) < 0)
		return -EINVAL;
	r = compliance_measure(req->srv->compliance, req->param, status, (size_t) limit,
			       (size_t) offset, req->now, &out);
	return reply_or_fail(req, r, out, "measure");
}

static int handle_host(struct http_request *req)
{
	json_t *out = NULL;
	int r = compliance_host(req->srv->compliance, req->param, req->now, &out);

	return reply_or_fail(req, r, out, "host");
}

static int handle_history(struct http_request *req)
{
	json_t *out = NULL;
	int64_t days;
	int r;

	if (http_query_int(req, "days", 30, 1, 366, &days) < 0)
		return -EINVAL;
	r = compliance_history(req->srv->compliance, (unsigned) days, req->now, &out);
	return reply_or_fail(req, r, out, "history");
}

static int handle_recompute(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *details = NULL;
	size_t hosts = 0, changed = 0;
	int r = compliance_recompute(req->srv->compliance, req->now, &hosts, &changed);

	if (r < 0)
		return http_fail_store(req, r, "recompute");
	details = json_pack("{s:I, s:I}", "hosts", (json_int_t) hosts, "changed",
			    (json_int_t) changed);
	auth_audit(req, "compliance.recompute", NULL, details);
	return http_reply_json(req, 200,
			       json_pack("{s:I, s:I}", "hosts", (json_int_t) hosts, "changed",
					 (json_int_t) changed));
}

static int handle_attestations(struct http_request *req)
{
	const char *measure = http_query(req, "measure");
	json_t *out = NULL;
	int r;

	if (measure && (strlen(measure) >= STORE_ID_MAX || !*measure))
		return http_fail(req, -EINVAL, "malformed", "query parameter 'measure': an id");
	r = compliance_attestations(req->srv->compliance, measure, req->now, &out);
	return reply_or_fail(req, r, out, "attestations");
}

static int handle_attest(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *details = NULL;
	char err[512] = "";
	json_t *body, *out = NULL;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	r = compliance_attest(req->srv->compliance, body, auth_actor_id(req), req->now, &out, err,
			      sizeof(err));
	if (r == -EINVAL)
		return http_fail(req, r, "malformed", "%s", err);
	if (r < 0)
		return http_fail_store(req, r, "attestation");
	details = json_pack("{s:O, s:O, s:O}", "measure", json_object_get(out, "measure"), "status",
			    json_object_get(out, "status"), "owner", json_object_get(out, "owner"));
	auth_audit(req, "attestation.create", json_string_value(json_object_get(out, "id")),
		   details);
	return http_reply_json(req, 201, out);
}

static int lang_of(struct http_request *req, const char **ret)
{
	const char *lang = http_query(req, "lang");

	if (lang && !streq(lang, "ja") && !streq(lang, "en"))
		return http_fail(req, -EINVAL, "malformed", "query parameter 'lang': ja or en");
	*ret = lang;
	return 0;
}

static int handle_catalog(struct http_request *req)
{
	const char *lang = NULL;
	json_t *out = NULL;
	int r;

	if (lang_of(req, &lang) < 0)
		return -EINVAL;
	r = compliance_catalog_json(req->srv->compliance, lang, &out);
	return reply_or_fail(req, r, out, "catalogue");
}

static int handle_owner(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *details = NULL;
	const char *owner = NULL;
	json_t *body, *v;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	v = json_object_get(body, "owner");
	if (!json_is_object(body) || !v || (!json_is_null(v) && !json_is_string(v)) ||
	    json_object_size(body) != 1)
		return http_fail(req, -EINVAL, "malformed",
				 "the body is {\"owner\": NAME}, or {\"owner\": null} to clear it");
	owner = json_string_value(v);
	if (owner && (strlen(owner) > OWNER_MAX || !str_is_clean_utf8(owner, strlen(owner))))
		return http_fail(req, -EINVAL, "malformed",
				 "field 'owner': at most %u bytes of text", OWNER_MAX);
	r = store_host_set_owner(req->srv->store, req->param, owner);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "owner");
	details = json_pack("{s:s?}", "owner", owner);
	auth_audit(req, "host.owner", req->param, details);
	r = compliance_host_changed(req->srv->compliance, req->param, req->now, NULL);
	if (r < 0)
		log_warning("(M4131) compliance of %s not re-evaluated: %s", req->param,
			    strerror(-r));
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:s?}", "id", req->param, "owner", owner));
}

/* ---- the advisor ---- */

static int questions(const struct catalog *c, void *userdata, json_t **ret)
{
	(void) userdata;
	return advisor_questions(c, ret);
}

static int methods(const struct catalog *c, void *userdata, json_t **ret)
{
	(void) userdata;
	return advisor_methods(c, ret);
}

struct recommend_args {
	const json_t *answers;
	char err[512];
};

static int recommend(const struct catalog *c, void *userdata, json_t **ret)
{
	struct recommend_args *a = userdata;

	return advisor_recommend(c, a->answers, ret, a->err, sizeof(a->err));
}

static int handle_questions(struct http_request *req)
{
	json_t *out = NULL;
	int r = compliance_with_catalog(req->srv->compliance, questions, NULL, &out);

	return reply_or_fail(req, r, out, "questionnaire");
}

static int handle_methods(struct http_request *req)
{
	json_t *out = NULL;
	int r = compliance_with_catalog(req->srv->compliance, methods, NULL, &out);

	return reply_or_fail(req, r, out, "methods");
}

static int handle_recommend(struct http_request *req)
{
	struct recommend_args a = {.answers = NULL};
	json_t *body, *out = NULL;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	a.answers = json_object_get(body, "answers");
	if (!json_is_object(body) || !a.answers || json_object_size(body) != 1)
		return http_fail(req, -EINVAL, "malformed",
				 "the body is {\"answers\": {QUESTION: ANSWER, …}}");
	r = compliance_with_catalog(req->srv->compliance, recommend, &a, &out);
	if (r == -EINVAL)
		return http_fail(req, r, "malformed", "answers: %s", a.err);
	return reply_or_fail(req, r, out, "recommendation");
}

const struct http_route api_compliance_routes[] = {
	{"GET", "/api/v1/compliance/summary", handle_summary, 0},
	{"GET", "/api/v1/compliance/categories/{id}", handle_category, 0},
	{"GET", "/api/v1/compliance/measures/{id}", handle_measure, 0},
	{"GET", "/api/v1/compliance/history", handle_history, 0},
	{"POST", "/api/v1/compliance/recompute", handle_recompute, HTTP_WRITE},
	{"GET", "/api/v1/hosts/{id}/compliance", handle_host, 0},
	{"PUT", "/api/v1/hosts/{id}/owner", handle_owner, HTTP_WRITE},
	{"GET", "/api/v1/attestations", handle_attestations, 0},
	{"POST", "/api/v1/attestations", handle_attest, HTTP_WRITE},
	{"GET", "/api/v1/catalog", handle_catalog, 0},
	{"GET", "/api/v1/advisor/questions", handle_questions, 0},
	{"GET", "/api/v1/advisor/methods", handle_methods, 0},
	{"POST", "/api/v1/advisor/recommend", handle_recommend, 0},
};
const size_t api_compliance_n_routes = ARRAY_SIZE(api_compliance_routes);
