/*
 * The admin API's hosts (docs/api.md): listing with filters, sorting and paging; one host
 * with the USB policy it holds; its inventory, software, change history and events (of
 * one type, e.g. usb.plug); revoking and deleting. Also the audit trail and the server's
 * status. The store's read results already have the API's shapes, so they are passed
 * through; every write is appended to the audit trail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     1000
#define FILTER_MAX   256u

/* A text query parameter of at most max bytes of clean UTF-8, or NULL when absent. */
static int query_text(struct http_request *req, const char *name, const char **ret)
{
	const char *s = http_query(req, name);

	if (s && (strlen(s) > FILTER_MAX || !str_is_clean_utf8(s, strlen(s))))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter '%s': at most %u bytes of text", name,
				 FILTER_MAX);
	*ret = s && *s ? s : NULL;
	return 0;
}

static int paging(struct http_request *req, size_t *ret_limit, size_t *ret_offset)
{
	int64_t limit, offset = 0;

	if (http_query_int(req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0 ||
	    (ret_offset && http_query_int(req, "offset", 0, 0, INT32_MAX, &offset) < 0))
		return -EINVAL;
	*ret_limit = (size_t) limit;
	if (ret_offset)
		*ret_offset = (size_t) offset;
	return 0;
}

static int handle_list(struct http_request *req)
{
	struct store_host_query q = {.sort = "hostname"};
	_cleanup_(json_decrefp) json_t *out = NULL;
	const char *sort = NULL, *order = NULL;
	int r;

	if (query_text(req, "search", &q.search) < 0 || query_text(req, "group", &q.group) < 0 ||
	    query_text(req, "status", &q.status) < 0 || query_text(req, "sort", &sort) < 0 ||
	    query_text(req, "order", &order) < 0 || paging(req, &q.limit, &q.offset) < 0)
		return -EINVAL;
	if (q.status && !streq(q.status, "active") && !streq(q.status, "revoked"))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'status': expected active or revoked");
	if (sort) {
		if (sort[0] == '-') {
			q.descending = true;
			sort++;
		}
		if (!streq(sort, "hostname") && !streq(sort, "last_seen") &&
		    !streq(sort, "enrolled"))
			return http_fail(req, -EINVAL, "malformed",
					 "query parameter 'sort': expected hostname, last_seen or "
					 "enrolled (with '-' before it for descending order)");
		q.sort = sort;
	}
	if (order) {
		if (!streq(order, "asc") && !streq(order, "desc"))
			return http_fail(req, -EINVAL, "malformed",
					 "query parameter 'order': expected asc or desc");
		q.descending = streq(order, "desc");
	}
	r = store_hosts_list(req->srv->store, &q, &out);
	if (r < 0)
		return http_fail_store(req, r, "host list");
	if (jsonw_set(out, "limit", json_integer((json_int_t) q.limit)) < 0 ||
	    jsonw_set(out, "offset", json_integer((json_int_t) q.offset)) < 0)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	return http_reply_json(req, 200, TAKE_PTR(out));
}

static int handle_get(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *out = NULL;
	char effective[POLICY_VERSION_MAX] = "";
	json_t *status = NULL;
	int r = store_host_get(req->srv->store, req->param, &out);

	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "host");
	/* the USB policy the agent holds, against the one it should (GET …/policy says why) */
	r = policy_current(req->srv->store, req->param, req->now, effective);
	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r == -ENOMEM)
		return http_fail(req, r, NULL, "the server is short of memory");
	if (r < 0 && r != -E2BIG)
		return http_fail_store(req, r, "policy");
	if (policy_status(r == -E2BIG ? "" : effective, json_object_get(out, "state"), &status) <
		    0 ||
	    jsonw_set(out, "policy", status) < 0 ||
	    (r == -E2BIG && jsonw_set(status, "current", json_false()) < 0) ||
	    (r == -E2BIG && jsonw_set(status, "error",
				      json_string("the policy document is over what an agent "
						  "accepts, and is not sent (M4301)")) < 0))
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	return http_reply_json(req, 200, TAKE_PTR(out));
}

/* 404 unless the host exists, for the calls whose store operation does not say. */
static int host_exists(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *host = NULL;
	int r = store_host_get(req->srv->store, req->param, &host);

	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "host");
	return 0;
}

static int handle_inventory(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *doc = NULL;
	char digest[STORE_DIGEST_HEX];
	int r;

	if (host_exists(req) < 0)
		return -ENOENT;
	r = store_inventory_get(req->srv->store, req->param, &doc, digest);
	if (r < 0)
		return http_fail_store(req, r, "inventory");
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:s, s:O}", "host_id", req->param, "digest", digest,
					 "document", doc));
}

static int handle_software(struct http_request *req)
{
	const char *search = NULL;
	json_t *out = NULL;
	size_t limit, offset;
	int r;

	if (query_text(req, "search", &search) < 0 || paging(req, &limit, &offset) < 0)
		return -EINVAL;
	if (host_exists(req) < 0)
		return -ENOENT;
	r = store_host_software(req->srv->store, req->param, search, limit, offset, &out);
	if (r < 0)
		return http_fail_store(req, r, "software");
	return http_reply_json(req, 200, out);
}

static int handle_history(struct http_request *req)
{
	json_t *out = NULL;
	int64_t since;
	size_t limit, offset;
	int r;

	if (http_query_int(req, "since", 0, 0, INT64_MAX, &since) < 0 ||
	    paging(req, &limit, &offset) < 0)
		return -EINVAL;
	if (host_exists(req) < 0)
		return -ENOENT;
	r = store_host_history(req->srv->store, req->param, since, limit, offset, &out);
	if (r < 0)
		return http_fail_store(req, r, "history");
	return http_reply_json(req, 200, out);
}

/* Whether s is an event type: [a-z0-9_.], 1 to 64 characters (docs/protocol.md). */
static bool is_event_type(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.");

	return n >= 1 && n <= 64 && !s[n];
}

static int handle_events(struct http_request *req)
{
	json_t *out = NULL;
	const char *type = NULL;
	int64_t after;
	size_t limit;
	int r;

	if (http_query_int(req, "after", 0, 0, INT64_MAX, &after) < 0 ||
	    paging(req, &limit, NULL) < 0 || query_text(req, "type", &type) < 0)
		return -EINVAL;
	if (type && !is_event_type(type))
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter 'type': expected an event type like usb.plug "
				 "([a-z0-9_.], at most 64 characters)");
	if (host_exists(req) < 0)
		return -ENOENT;
	r = store_host_events(req->srv->store, req->param, (uint64_t) after, type, limit, &out);
	if (r < 0)
		return http_fail_store(req, r, "events");
	return http_reply_json(req, 200, out);
}

static int handle_revoke(struct http_request *req)
{
	int r = store_host_revoke(req->srv->store, req->param, req->now);

	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "revocation");
	auth_audit(req, "host.revoke", req->param, NULL);
	return http_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->param, "revoked", 1));
}

static int handle_delete(struct http_request *req)
{
	int r = store_host_delete(req->srv->store, req->param, req->now);

	if (r == -ENOENT)
		return http_fail(req, r, "not_found", "there is no host %s", req->param);
	if (r < 0)
		return http_fail_store(req, r, "deletion");
	auth_audit(req, "host.delete", req->param, NULL);
	return http_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->param, "deleted", 1));
}

static int handle_audit(struct http_request *req)
{
	json_t *out = NULL;
	size_t limit, offset;
	int r;

	if (paging(req, &limit, &offset) < 0)
		return -EINVAL;
	r = store_audit_list(req->srv->store, limit, offset, &out);
	if (r < 0)
		return http_fail_store(req, r, "audit trail");
	return http_reply_json(req, 200, out);
}

static int handle_status(struct http_request *req)
{
	int version = 0;
	int r = store_schema_version(req->srv->store, &version);

	if (r < 0)
		return http_fail_store(req, r, "schema version");
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:i, s:s, s:I, s:o}", "version", MAMORI_VERSION,
					 "schema_version", version, "ca_fingerprint",
					 ca_fingerprint(req->srv->ca), "server_time",
					 (json_int_t) req->now, "you", json_deep_copy(req->actor)));
}

const struct http_route api_hosts_routes[] = {
	{"GET", "/api/v1/hosts", handle_list, 0},
	{"GET", "/api/v1/hosts/{id}", handle_get, 0},
	{"DELETE", "/api/v1/hosts/{id}", handle_delete, HTTP_WRITE},
	{"GET", "/api/v1/hosts/{id}/inventory", handle_inventory, 0},
	{"GET", "/api/v1/hosts/{id}/software", handle_software, 0},
	{"GET", "/api/v1/hosts/{id}/history", handle_history, 0},
	{"GET", "/api/v1/hosts/{id}/events", handle_events, 0},
	{"POST", "/api/v1/hosts/{id}/revoke", handle_revoke, HTTP_WRITE},
	{"GET", "/api/v1/audit", handle_audit, 0},
	{"GET", "/api/v1/status", handle_status, 0},
};
const size_t api_hosts_n_routes = ARRAY_SIZE(api_hosts_routes);
