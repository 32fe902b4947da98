/*
 * The admin API's enrolment tokens (docs/api.md): an administrator creates a token (its
 * secret is shown once, in the answer, and stored only as its SHA-256), lists them with
 * their state and uses, and revokes one. Bodies are checked strictly: an unknown field is
 * an error, so a typo ("use" for "uses") is not silently ignored.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define USES_MAX    100000
#define EXPIRES_MIN 1
#define EXPIRES_MAX ((int64_t) 365 * 86400)
#define EXPIRES_DEF ((int64_t) 24 * 3600)
#define GROUP_MAX   128u
#define COMMENT_MAX 256u

static int text_field(struct http_request *req, json_t *body, const char *key, size_t max,
		      const char **ret)
{
	struct jsonw_error jerr = {{0}};
	const char *s;
	int r = jsonw_get_string(body, key, false, &s, &jerr);

	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return http_fail_json(req, r, &jerr);
	if (strlen(s) > max || !str_is_clean_utf8(s, strlen(s)))
		return http_fail(req, -EINVAL, "malformed",
				 "field '%s': at most %zu bytes of text without control characters",
				 key, max);
	*ret = *s ? s : NULL;
	return 0;
}

static int handle_create(struct http_request *req)
{
	static const char *const known[] = {"uses", "expires_in", "group", "comment"};
	struct store_enroll_token t = {.max_uses = 1};
	struct jsonw_error jerr = {{0}};
	char secret[AUTH_SECRET_LEN + 1], id[STORE_ID_MAX], actor[STORE_ID_MAX + 8];
	_cleanup_(json_decrefp) json_t *answer = NULL;
	int64_t uses = 1, expires_in = EXPIRES_DEF;
	const char *key;
	json_t *body, *v;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	json_object_foreach (body, key, v) {
		bool ok = false;

		for (size_t i = 0; i < ARRAY_SIZE(known); i++)
			ok = ok || streq(key, known[i]);
		if (!ok)
			return http_fail(req, -EINVAL, "malformed",
					 "field '%.64s' is not known (known: uses, expires_in, "
					 "group, comment)",
					 key);
	}
	r = jsonw_get_int(body, "uses", false, 1, USES_MAX, &uses, &jerr);
	if (r < 0 && r != -ENOENT)
		return http_fail_json(req, r, &jerr);
	v = json_object_get(body, "expires_in");
	if (json_is_integer(v)) {
		expires_in = json_integer_value(v);
		if (expires_in < EXPIRES_MIN || expires_in > EXPIRES_MAX)
			return http_fail(req, -EINVAL, "malformed",
					 "field 'expires_in': from %d second to 365 days",
					 EXPIRES_MIN);
	} else if (json_is_string(v)) {
		if (config_parse_duration(json_string_value(v), EXPIRES_MIN, EXPIRES_MAX,
					  &expires_in) < 0)
			return http_fail(req, -EINVAL, "malformed",
					 "field 'expires_in': expected seconds or a duration like "
					 "\"30m\", \"24h\" or \"7d\", up to 365 days");
	} else if (v && !json_is_null(v)) {
		return http_fail(req, -EINVAL, "malformed",
				 "field 'expires_in': expected a number of seconds or a string "
				 "like \"24h\"");
	}
	if (text_field(req, body, "group", GROUP_MAX, &t.group) < 0 ||
	    text_field(req, body, "comment", COMMENT_MAX, &t.comment) < 0)
		return -EINVAL;
	r = auth_secret_new(AUTH_ENROLL_PREFIX, secret, t.hash);
	if (r < 0)
		return http_fail(req, r, NULL, "cannot make a token");
	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	t.created = req->now;
	t.expires = req->now + expires_in;
	t.max_uses = (unsigned) uses;
	t.created_by = actor;
	r = store_enroll_token_create(req->srv->store, &t, id);
	explicit_bzero(t.hash, sizeof(t.hash));
	if (r < 0) {
		explicit_bzero(secret, sizeof(secret));
		return http_fail_store(req, r, "enrolment token");
	}
	{
		_cleanup_(json_decrefp) json_t *details = json_pack(
			"{s:I, s:I, s:s?, s:s?}", "max_uses", (json_int_t) t.max_uses, "expires",
			(json_int_t) t.expires, "group", t.group, "comment", t.comment);

		auth_audit(req, "enroll_token.create", id, details);
	}
	answer = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s?, s:s?}", "id", id, "token", secret,
			   "created", (json_int_t) t.created, "expires", (json_int_t) t.expires,
			   "max_uses", (json_int_t) t.max_uses, "group", t.group, "comment",
			   t.comment);
	explicit_bzero(secret, sizeof(secret));
	return http_reply_json(req, 201, TAKE_PTR(answer));
}

static int handle_list(struct http_request *req)
{
	json_t *out = NULL;
	int r = store_enroll_token_list(req->srv->store, req->now, &out);

	if (r < 0)
		return http_fail_store(req, r, "enrolment tokens");
	return http_reply_json(req, 200, out);
}

static int handle_revoke(struct http_request *req)
{
	int r = store_enroll_token_revoke(req->srv->store, req->param, req->now);

	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no enrolment token %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "enrolment token");
	auth_audit(req, "enroll_token.revoke", req->param, NULL);
	return http_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->param, "revoked", 1));
}

const struct http_route api_tokens_routes[] = {
	{"POST", "/api/v1/enroll-tokens", handle_create, HTTP_WRITE},
	{"GET", "/api/v1/enroll-tokens", handle_list, 0},
	{"POST", "/api/v1/enroll-tokens/{id}/revoke", handle_revoke, HTTP_WRITE},
	{"DELETE", "/api/v1/enroll-tokens/{id}", handle_revoke, HTTP_WRITE},
};
const size_t api_tokens_n_routes = ARRAY_SIZE(api_tokens_routes);
