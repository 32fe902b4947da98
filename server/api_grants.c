/*
 * The admin API's temporary grants (一時利用許可, docs/api.md): an administrator lets one
 * device, by serial, be used on one host or by one user for a number of hours, whatever
 * the policy says. A grant reaches the host at its next check-in, in the policy document;
 * once it expires or is revoked it is left out of the document, and the agent also drops
 * it by itself when its time is up, offline too. Creating and revoking are audited.
 *
 * Offline grants (a signed one-time code read over the phone to a user whose laptop cannot
 * reach the server) are not implemented yet: see docs/usb-control.md.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define HOURS_MAX    720.0 /* 30 days: longer is a policy change, not an exception */
#define REASON_MAX   256u
#define USER_MAX     64u
#define PAGE_DEFAULT 100
#define PAGE_MAX     1000

static int body_text(struct http_request *req, json_t *body, const char *key, size_t max,
		     bool spaces, const char **ret)
{
	json_t *v = json_object_get(body, key);
	const char *s = json_string_value(v);

	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!s || !*s || strlen(s) > max || !str_is_clean_utf8(s, strlen(s)) ||
	    (!spaces && strpbrk(s, " ")))
		return http_fail(req, -EINVAL, "malformed", "field '%s': 1 to %zu bytes of text%s",
				 key, max, spaces ? "" : " without spaces");
	*ret = s;
	return 0;
}

static int handle_create(struct http_request *req)
{
	static const char *const known[] = {"serial", "host", "user", "hours", "reason"};
	_cleanup_(json_decrefp) json_t *details = NULL;
	struct store_grant g = {.serial = NULL};
	char id[STORE_ID_MAX], actor[STORE_ID_MAX + 8], why[128];
	const char *key;
	json_t *body, *v;
	double hours;
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
					 "field '%.64s' is not known (known: serial, host, user, "
					 "hours, reason)",
					 key);
	}
	g.serial = json_string_value(json_object_get(body, "serial"));
	if (!registry_serial_ok(g.serial))
		return http_fail(req, -EINVAL, "malformed",
				 "field 'serial': the device's serial number, 1 to %u bytes",
				 REGISTRY_SERIAL_MAX);
	if (body_text(req, body, "host", STORE_ID_MAX - 1, false, &g.host_id) < 0 ||
	    body_text(req, body, "user", USER_MAX, false, &g.user) < 0 ||
	    body_text(req, body, "reason", REASON_MAX, true, &g.reason) < 0)
		return -EINVAL;
	if (!g.host_id == !g.user)
		return http_fail(
			req, -EINVAL, "malformed",
			"give exactly one of 'host' (a host id) and 'user' (a login name)");
	if (g.host_id) {
		char scope[STORE_ID_MAX + 8];

		(void) snprintf(scope, sizeof(scope), "host:%s", g.host_id);
		if (policy_scope_check(scope, why, sizeof(why)) < 0)
			return http_fail(req, -EINVAL, "malformed", "field 'host': %s", why);
	}
	if (!g.reason)
		return http_fail(req, -EINVAL, "malformed",
				 "field 'reason' is required: why the exception is granted");
	v = json_object_get(body, "hours");
	hours = json_number_value(v);
	if (!json_is_number(v) || !(hours > 0) || hours > HOURS_MAX)
		return http_fail(req, -EINVAL, "malformed",
				 "field 'hours': a number of hours above 0, at most %.0f (30 days)",
				 HOURS_MAX);
	g.created = req->now;
	{
		double seconds = hours * 3600.0;
		int64_t whole = (int64_t) seconds;

		/* rounded up, and at least a second */
		g.expires = req->now + whole + ((double) whole < seconds || whole == 0);
	}
	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	g.created_by = actor;
	r = store_grant_create(req->srv->store, &g, id);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "field 'host': there is no host %s",
				 g.host_id);
	if (r < 0)
		return http_fail_store(req, r, "grant");
	details = json_pack("{s:s, s:s?, s:s?, s:I, s:s}", "serial", g.serial, "host_id", g.host_id,
			    "user", g.user, "expires", (json_int_t) g.expires, "reason", g.reason);
	auth_audit(req, "grant.create", id, details);
	return http_reply_json(req, 201,
			       json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:I, s:s}", "id", id,
					 "serial", g.serial, "host_id", g.host_id, "user", g.user,
					 "created", (json_int_t) g.created, "expires",
					 (json_int_t) g.expires, "reason", g.reason));
}

static int handle_list(struct http_request *req)
{
	const char *all = http_query(req, "all");
	json_t *out = NULL;
	int64_t limit, offset;
	int r;

	if (http_query_int(req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0 ||
	    http_query_int(req, "offset", 0, 0, INT32_MAX, &offset) < 0)
		return -EINVAL;
	if (all && !streq(all, "true") && !streq(all, "false") && !streq(all, "1") &&
	    !streq(all, "0"))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'all': expected true or false");
	r = store_grants_list(req->srv->store, req->now,
			      all && (streq(all, "true") || streq(all, "1")), (size_t) limit,
			      (size_t) offset, &out);
	if (r < 0)
		return http_fail_store(req, r, "grants");
	return http_reply_json(req, 200, out);
}

static int handle_revoke(struct http_request *req)
{
	char actor[STORE_ID_MAX + 8];
	int r;

	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	r = store_grant_revoke(req->srv->store, req->param, req->now, actor);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no grant %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "grant");
	auth_audit(req, "grant.revoke", req->param, NULL);
	return http_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->param, "revoked", 1));
}

const struct http_route api_grants_routes[] = {
	{"POST", "/api/v1/grants", handle_create, HTTP_WRITE},
	{"GET", "/api/v1/grants", handle_list, 0},
	{"POST", "/api/v1/grants/{id}/revoke", handle_revoke, HTTP_WRITE},
	{"DELETE", "/api/v1/grants/{id}", handle_revoke, HTTP_WRITE},
};
const size_t api_grants_n_routes = ARRAY_SIZE(api_grants_routes);
