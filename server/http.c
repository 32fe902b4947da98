/*
 * The HTTP layer over libmicrohttpd (no hand-written HTTP parser): one listener per API, each
 * a few single-thread epoll daemons on a SO_REUSEPORT group of sockets, TLS with the CA's
 * server certificate, connection limits and timeouts. It routes a request by method and
 * path, authenticates it (agent: the client certificate, verified per request against the
 * CA and looked up by serial in the store; admin: an API token), accumulates its body into
 * a bounded buffer (inflating gzip under the same ceiling), calls the handler and turns
 * every failure into one JSON shape, {"error": words, "code": stable code}, through one
 * table from -errno to status.
 *
 * A request is answered early, without reading its body, when it can be refused from its
 * headers alone: unknown path, wrong method, missing or refused credentials, an
 * unsupported encoding, a Content-Length over the limit, or the agent API over its
 * in-flight cap (503 with Retry-After). libmicrohttpd cannot answer while a body is being
 * received, so a body found too large midway (chunked, or inflating past the limit) is
 * discarded up to a second limit's worth and then answered 413; past that the connection is
 * closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* A listener is `threads` shards: libmicrohttpd daemons with one epoll thread each, on
 * sockets of one SO_REUSEPORT group, so the kernel spreads new connections evenly. (One
 * daemon with a thread pool lets whichever thread wakes first accept a whole burst of
 * connections, and a handler waiting for the store then holds all of them.) */
#define HTTP_SHARDS_MAX 64

struct http_daemon {
	struct server *srv;
	enum http_api api;
	int family;
	unsigned n; /* shards started */
	bool quiesced;
	struct MHD_Daemon *mhd[HTTP_SHARDS_MAX];
	int fd[HTTP_SHARDS_MAX]; /* listening sockets, closed after the daemons stop */
};

/* The one table from -errno to HTTP status, with the code and words used when the caller
 * gave none (docs/protocol.md lists the codes). */
static const struct {
	int err;
	unsigned status;
	const char *code;
	const char *words;
} error_table[] = {
	{EINVAL, 400, "malformed", "the request is malformed"},
	{EBADMSG, 400, "malformed", "the request body is malformed"},
	{EACCES, 401, "unauthorized", "this call needs credentials"},
	{ENOKEY, 401, "no_client_certificate", "this call needs the client certificate"},
	{EPERM, 403, "forbidden", "this call is not allowed"},
	{ENOENT, 404, "not_found", "no such resource"},
	{EBADRQC, 405, "method_not_allowed", "this method is not allowed here"},
	{ESTALE, 409, "conflict", "the resource changed meanwhile; read it again"},
	{EEXIST, 409, "conflict", "it exists already"},
	{E2BIG, 413, "too_large", "the request is over a limit"},
	{EOPNOTSUPP, 415, "unsupported_encoding", "unsupported Content-Encoding"},
	{EBUSY, 503, "busy", "the server is busy; retry later"},
	{EAGAIN, 503, "busy", "the server is busy; retry later"},
	{ENOMEM, 503, "busy", "the server is short of memory; retry later"},
	{EIO, 500, "internal", "the server failed; its log says why"},
};

static size_t body_limit(enum http_api api)
{
	return api == HTTP_API_AGENT ? LIMIT_AGENT_BODY : LIMIT_API_BODY;
}

static unsigned error_index(int err)
{
	for (unsigned i = 0; i < ARRAY_SIZE(error_table); i++)
		if (error_table[i].err == -err)
			return i;
	return ARRAY_SIZE(error_table) - 1; /* EIO: internal */
}

int http_fail(struct http_request *req, int err, const char *code, const char *fmt, ...)
{
	unsigned i = error_index(err);
	va_list ap;

	if (req->failed)
		return err; /* the first failure is the one the client hears about */
	req->failed = true;
	req->status = error_table[i].status;
	req->code = code ? code : error_table[i].code;
	va_start(ap, fmt);
	(void) vsnprintf(req->message, sizeof(req->message), fmt, ap);
	va_end(ap);
	return err;
}

int http_fail_extra(struct http_request *req, int err, const char *code, json_t *extra,
		    const char *fmt, ...)
{
	unsigned i = error_index(err);
	va_list ap;

	if (req->failed) {
		json_decref(extra);
		return err;
	}
	req->failed = true;
	req->status = error_table[i].status;
	req->code = code ? code : error_table[i].code;
	req->error_extra = extra;
	va_start(ap, fmt);
	(void) vsnprintf(req->message, sizeof(req->message), fmt, ap);
	va_end(ap);
	return err;
}

int http_fail_json(struct http_request *req, int err, const struct jsonw_error *jerr)
{
	if (err == -ENOMEM)
		return http_fail(req, err, NULL, "the server is short of memory; retry later");
	if (err == -E2BIG)
		return http_fail(req, err, "too_large", "%s", jerr->text);
	return http_fail(req, err == -EINVAL ? -EINVAL : -EBADMSG, "malformed", "%s", jerr->text);
}

int http_fail_store(struct http_request *req, int err, const char *what)
{
	switch (err) {
	case -ENOENT:
		return http_fail(req, err, NULL, "%s: not found", what);
	case -ENOMEM:
		return http_fail(req, err, NULL, "the server is short of memory; retry later");
	case -ESTALE:
		return http_fail(req, err, NULL, "%s changed meanwhile; retry", what);
	case -EINVAL:
		return http_fail(req, err, NULL, "%s: invalid argument", what);
	default:
		log_error("(M4130) store: %s failed: %s", what, strerror(-err));
		return http_fail(req, -EIO, "internal",
				 "the store failed (%s); the server's log says why", what);
	}
}

static enum MHD_Result queue(struct http_request *req, unsigned status, const char *ctype,
			     char *text, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;
	char num[24];

	resp = MHD_create_response_from_buffer_with_free_callback(len, text, mm_free);
	if (!resp) {
		mm_free(text);
		return MHD_NO;
	}
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void) MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (status == 503) {
		(void) snprintf(num, sizeof(num), "%u", req->srv->cfg->retry_after);
		(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (status == 401 && req->api == HTTP_API_ADMIN)
		(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					       "Bearer realm=\"mamori\"");
	req->status = status;
	ok = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result queue_error(struct http_request *req)
{
	_cleanup_(json_decrefp) json_t *body = NULL;
	char *text;
	size_t len;

	body = json_pack("{s:s, s:s}", "error", req->message[0] ? req->message : "error", "code",
			 req->code ? req->code : "internal");
	if (body && req->error_extra)
		(void) json_object_update_missing(body, req->error_extra);
	text = body ? jsonw_dump(body) : NULL;
	if (!text)
		return MHD_NO;
	len = strlen(text);
	return queue(req, req->status, "application/json", text, len);
}

int http_reply_json(struct http_request *req, unsigned status, json_t *body)
{
	_cleanup_(json_decrefp) json_t *v = body;
	_cleanup_(freep) char *text = NULL;
	char *full;

	if (!v)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory; retry later");
	text = jsonw_dump(v);
	full = text ? mm_asprintf("%s\n", text) : NULL;
	if (!full)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory; retry later");
	if (queue(req, status, "application/json", full, strlen(full)) != MHD_YES)
		return -EIO;
	req->replied = true;
	return 0;
}

int http_reply_text(struct http_request *req, unsigned status, const char *content_type,
		    const char *text)
{
	char *copy = mm_strdup(text);

	if (!copy)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory; retry later");
	if (queue(req, status, content_type, copy, strlen(copy)) != MHD_YES)
		return -EIO;
	req->replied = true;
	return 0;
}

/* A streamed body: the handler's reader behind libmicrohttpd's callback. */
struct stream {
	http_stream_fn fn;
	void (*done)(void *cls);
	void *cls;
};

static ssize_t stream_read(void *cls, uint64_t pos _unused_, char *buf, size_t max)
{
	struct stream *s = cls;
	ssize_t n = s->fn(s->cls, buf, max);

	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->done)
		s->done(s->cls);
	mm_free(s);
}

int http_reply_stream(struct http_request *req, unsigned status, const char *content_type,
		      const char *filename, http_stream_fn fn, void *cls, void (*done)(void *cls))
{
	struct stream *s = mm_malloc(sizeof(*s));
	struct MHD_Response *resp;
	enum MHD_Result ok;
	char disposition[128];

	if (!s) {
		if (done)
			done(cls);
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory; retry later");
	}
	*s = (struct stream){.fn = fn, .done = done, .cls = cls};
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_read,
						 s, stream_free);
	if (!resp) {
		stream_free(s);
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory; retry later");
	}
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void) MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (filename) {
		(void) snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"",
				filename);
		(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
					       disposition);
	}
	req->status = status;
	ok = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return -EIO;
	req->replied = true;
	return 0;
}

const char *http_query(struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_body_text(struct http_request *req, const char **ret, size_t *ret_len)
{
	if (memchr(buf_str(&req->body), '\0', req->body.len))
		return http_fail(req, -EBADMSG, "malformed", "the body holds a NUL byte: not text");
	*ret = buf_str(&req->body);
	*ret_len = req->body.len;
	return 0;
}

int http_query_int(struct http_request *req, const char *name, int64_t def, int64_t min,
		   int64_t max, int64_t *ret)
{
	const char *s = http_query(req, name);
	int64_t v;

	if (!s || !*s) {
		*ret = def;
		return 0;
	}
	if (str_to_i64(s, 10, &v) < 0 || v < min || v > max)
		return http_fail(req, -EINVAL, "malformed",
				 "query parameter '%s': expected a whole number from %lld to %lld",
				 name, (long long) min, (long long) max);
	*ret = v;
	return 0;
}

int http_body_json(struct http_request *req, json_t **ret)
{
	struct jsonw_error jerr = {{0}};
	int r;

	if (!req->json) {
		if (req->body.len == 0)
			return http_fail(req, -EBADMSG, "malformed",
					 "the body is empty: expected a JSON object");
		r = jsonw_parse(buf_str(&req->body), req->body.len, body_limit(req->api),
				&req->json, &jerr);
		if (r < 0)
			return http_fail_json(req, r, &jerr);
		if (!json_is_object(req->json))
			return http_fail(req, -EBADMSG, "malformed",
					 "the body must be a JSON object");
	}
	*ret = req->json;
	return 0;
}

/* ---- routing ---- */

/* Whether path matches pattern; a "{id}" segment takes one segment of id characters. */
static bool match(const char *pattern, const char *path, char param[STORE_ID_MAX])
{
	const char *p = pattern, *u = path;

	while (*p && *u) {
		if (str_startswith(p, "{id}")) {
			size_t n = strcspn(u, "/");

			if (n == 0 || n >= STORE_ID_MAX)
				return false;
			for (size_t i = 0; i < n; i++)
				if (!((u[i] >= 'a' && u[i] <= 'z') ||
				      (u[i] >= 'A' && u[i] <= 'Z') ||
				      (u[i] >= '0' && u[i] <= '9') || u[i] == '-' || u[i] == '_'))
					return false;
			memcpy(param, u, n);
			param[n] = '\0';
			p += 4;
			u += n;
			continue;
		}
		if (*p != *u)
			return false;
		p++;
		u++;
	}
	return !*p && !*u;
}

static const struct http_route *find_route(enum http_api api, const char *method, const char *path,
					   char param[STORE_ID_MAX], bool *ret_path_known)
{
	const struct {
		const struct http_route *routes;
		size_t n;
	} sets[] = {
		{api_agent_routes, api == HTTP_API_AGENT ? api_agent_n_routes : 0},
		{api_hosts_routes, api == HTTP_API_ADMIN ? api_hosts_n_routes : 0},
		{api_tokens_routes, api == HTTP_API_ADMIN ? api_tokens_n_routes : 0},
		{api_policies_routes, api == HTTP_API_ADMIN ? api_policies_n_routes : 0},
		{api_collection_routes, api == HTTP_API_ADMIN ? api_collection_n_routes : 0},
		{api_devices_routes, api == HTTP_API_ADMIN ? api_devices_n_routes : 0},
		{api_grants_routes, api == HTTP_API_ADMIN ? api_grants_n_routes : 0},
		{api_compliance_routes, api == HTTP_API_ADMIN ? api_compliance_n_routes : 0},
		{api_events_routes, api == HTTP_API_ADMIN ? api_events_n_routes : 0},
	};

	*ret_path_known = false;
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++)
		for (size_t i = 0; i < sets[s].n; i++) {
			const struct http_route *rt = &sets[s].routes[i];

			if (!match(rt->path, path, param))
				continue;
			*ret_path_known = true;
			if (streq(rt->method, method))
				return rt;
		}
	return NULL;
}

/* ---- bodies ---- */

static voidpf z_alloc(voidpf opaque _unused_, uInt items, uInt size)
{
	return mm_reallocarray(NULL, items, size);
}

static void z_free(voidpf opaque _unused_, voidpf p)
{
	mm_free(p);
}

static int fail_too_large(struct http_request *req)
{
	return http_fail(req, -E2BIG, "too_large", "the body is over the limit of %zu bytes%s",
			 body_limit(req->api), req->zs ? " (after decompression)" : "");
}

static int body_add(struct http_request *req, const void *p, size_t n)
{
	int r = buf_add(&req->body, p, n);

	if (r == -E2BIG)
		return fail_too_large(req);
	if (r < 0)
		return http_fail(req, r, NULL, "the server is short of memory; retry later");
	return 0;
}

static int feed(struct http_request *req, const char *data, size_t len)
{
	z_stream *zs = (z_stream *) req->zs;
	unsigned char out[16384];
	int z;

	if (req->raw_len > body_limit(req->api))
		return fail_too_large(req);
	if (!zs)
		return body_add(req, data, len);
	zs->next_in = (Bytef *) data;
	zs->avail_in = (uInt) len;
	do {
		size_t produced;
		int r;

		if (req->zs_done)
			return http_fail(req, -EBADMSG, "malformed",
					 "data after the end of the gzip stream");
		zs->next_out = out;
		zs->avail_out = sizeof(out);
		z = inflate(zs, Z_NO_FLUSH);
		if (z == Z_MEM_ERROR)
			return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
		if (z == Z_NEED_DICT || z == Z_DATA_ERROR || z == Z_STREAM_ERROR)
			return http_fail(req, -EBADMSG, "malformed",
					 "the body does not inflate as gzip: %s",
					 zs->msg ? zs->msg : "corrupt data");
		produced = sizeof(out) - zs->avail_out;
		r = body_add(req, out, produced);
		if (r < 0)
			return r;
		if (z == Z_STREAM_END)
			req->zs_done = true;
		else if (z == Z_BUF_ERROR)
			break;
	} while (zs->avail_in > 0 || zs->avail_out == 0);
	if (req->zs_done && zs->avail_in > 0)
		return http_fail(req, -EBADMSG, "malformed",
				 "data after the end of the gzip stream");
	return 0;
}

/* ---- the request's life ---- */

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	if (req->zs) {
		(void) inflateEnd((z_stream *) req->zs);
		mm_free(req->zs);
	}
	buf_done(&req->body);
	json_decref(req->json);
	json_decref(req->actor);
	json_decref(req->error_extra);
	mm_free(req);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	socklen_t len;

	(void) snprintf(out, outlen, "unknown");
	if (!ci || !ci->client_addr)
		return;
	len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, len, out, (socklen_t) outlen, NULL, 0, NI_NUMERICHOST) !=
	    0)
		(void) snprintf(out, outlen, "unknown");
}

static int authenticate_agent(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	struct store_host_auth auth;
	char why[256] = "";
	uint64_t serial;
	int r;

	r = ca_peer_serial(ci ? (gnutls_session_t) ci->tls_session : NULL, &serial, why,
			   sizeof(why));
	if (r == -ENOKEY)
		return http_fail(req, r, "no_client_certificate",
				 "this call needs the client certificate issued at enrolment");
	if (r == -EPERM) {
		log_warning("(M4102) client certificate from %s refused: %s", req->remote, why);
		return http_fail(req, r, "bad_certificate",
				 "the client certificate was refused: %s", why);
	}
	if (r < 0)
		return http_fail(req, r, NULL, "cannot check the client certificate");
	r = store_host_by_serial(req->srv->store, serial, &auth);
	if (r == -ENOENT) {
		log_warning("(M4102) client certificate from %s refused: serial %llu is no host's",
			    req->remote, (unsigned long long) serial);
		return http_fail(req, -EPERM, "bad_certificate",
				 "the client certificate (serial %llu) belongs to no host of this "
				 "server",
				 (unsigned long long) serial);
	}
	if (r < 0)
		return http_fail_store(req, r, "host lookup");
	if (auth.revoked) {
		log_warning("(M4103) revoked host %s tried to connect from %s", auth.host_id,
			    req->remote);
		return http_fail(req, -EPERM, "host_revoked",
				 "this host was revoked or deleted by an administrator; it must "
				 "enrol again with a new token");
	}
	(void) snprintf(req->host_id, sizeof(req->host_id), "%s", auth.host_id);
	return 0;
}

/* Everything decided from the request line and headers; a failure is answered at once. */
static void request_begin(struct http_daemon *d, struct http_request *req, const char *url,
			  const char *method)
{
	const char *enc, *clen, *authz;
	bool path_known;
	uint64_t n;

	req->route = find_route(d->api, method, url, req->param, &path_known);
	if (!req->route) {
		if (path_known)
			(void) http_fail(req, -EBADRQC, NULL, "%s is not allowed on %s", method,
					 url);
		else
			(void) http_fail(req, -ENOENT, NULL, "there is nothing at %s", url);
		return;
	}
	if (d->api == HTTP_API_AGENT) {
		req->counted_agent = true;
		if (atomic_fetch_add(&d->srv->agent_inflight, 1) >=
		    d->srv->cfg->agent_max_inflight) {
			(void) http_fail(req, -EBUSY, "busy",
					 "the server is busy; retry after %u seconds",
					 d->srv->cfg->retry_after);
			return;
		}
	}
	if (req->route->flags & HTTP_CERT) {
		if (authenticate_agent(req) < 0)
			return;
	} else if (d->api == HTTP_API_ADMIN) {
		authz = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
		if (auth_admin(req, authz) < 0)
			return;
	}
	enc = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					  MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (enc && (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0)) {
		z_stream *zs = mm_calloc(1, sizeof(*zs));

		if (!zs) {
			(void) http_fail(req, -ENOMEM, NULL, "the server is short of memory");
			return;
		}
		zs->zalloc = z_alloc;
		zs->zfree = z_free;
		if (inflateInit2(zs, 16 + MAX_WBITS) != Z_OK) {
			mm_free(zs);
			(void) http_fail(req, -ENOMEM, NULL, "the server is short of memory");
			return;
		}
		req->zs = (struct z_stream_s *) zs;
	} else if (enc && strcasecmp(enc, "identity") != 0) {
		(void) http_fail(req, -EOPNOTSUPP, "unsupported_encoding",
				 "Content-Encoding '%s' is not supported: use gzip or identity",
				 enc);
		return;
	}
	clen = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen && str_to_u64(clen, 10, &n) == 0 && n > body_limit(d->api))
		(void) fail_too_large(req);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version _unused_,
			      const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_daemon *d = cls;
	struct http_request *req = *con_cls;
	int r;

	if (!req) {
		req = mm_calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		atomic_fetch_add(&d->srv->inflight, 1);
		req->srv = d->srv;
		req->conn = conn;
		req->api = d->api;
		req->now = (int64_t) time(NULL);
		(void) snprintf(req->method, sizeof(req->method), "%s", method);
		(void) snprintf(req->path, sizeof(req->path), "%s", url);
		buf_init(&req->body, body_limit(d->api));
		client_address(conn, req->remote, sizeof(req->remote));
		request_begin(d, req, url, method);
		if (req->failed)
			return queue_error(req);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		req->raw_len += n;
		if (req->failed) {
			/* Discarding: give up on a sender that does not stop. */
			return req->raw_len > 2 * body_limit(d->api) ? MHD_NO : MHD_YES;
		}
		(void) feed(req, upload_data, n);
		return MHD_YES;
	}
	if (!req->failed && req->zs && !req->zs_done && req->raw_len > 0)
		(void) http_fail(req, -EBADMSG, "malformed", "the gzip body is truncated");
	if (!req->failed) {
		r = req->route->fn(req);
		if (r < 0 && !req->failed)
			(void) http_fail(req, r, NULL, "%s", error_table[error_index(r)].words);
		if (r >= 0 && !req->replied && !req->failed)
			(void) http_fail(req, -EIO, "internal", "the handler gave no answer");
	}
	if (req->failed)
		return queue_error(req);
	return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn _unused_, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct http_daemon *d = cls;
	struct http_request *req = *con_cls;
	int level;

	if (!req)
		return;
	*con_cls = NULL;
	level = req->status >= 500 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? LOG_WARNING
		: req->status >= 400                                             ? LOG_INFO
										 : LOG_DEBUG;
	if (log_max_level() >= level)
		log_emit(level, "(M3100) %s %s %s %s -> %u%s%s%s%s%s", req->remote, req->method,
			 req->path, req->host_id[0] ? req->host_id : auth_actor_id(req),
			 req->status, req->failed ? " " : "", req->failed ? req->code : "",
			 req->failed ? ": " : "", req->failed ? req->message : "",
			 toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? " (connection ended early)"
								    : "");
	if (req->counted_agent)
		atomic_fetch_sub(&d->srv->agent_inflight, 1);
	atomic_fetch_sub(&d->srv->inflight, 1);
	request_free(req);
}

static _printf_(2, 0) void mhd_log(void *cls _unused_, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void) vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_info("(M3090) libmicrohttpd: %s", line);
}

/* Binds ss without SO_REUSEPORT, to see that nobody listens there, and puts the bound port
 * (the kernel's choice for port 0) into ss. */
static int probe_port(struct sockaddr_storage *ss, socklen_t len)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage storage;
	} bound;
	socklen_t blen = sizeof(bound);
	int fd, one = 1, r = 0;

	memset(&bound, 0, sizeof(bound));
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *) ss, len) < 0 ||
	    getsockname(fd, &bound.sa, &blen) < 0)
		r = -errno;
	else if (bound.sa.sa_family == AF_INET6)
		((struct sockaddr_in6 *) ss)->sin6_port = bound.in6.sin6_port;
	else
		((struct sockaddr_in *) ss)->sin_port = bound.in.sin_port;
	(void) close(fd);
	return r;
}

/* One listening socket on ss, in a SO_REUSEPORT group with the others of the listener. */
static int listen_one(const struct sockaddr_storage *ss, socklen_t len, int *ret_fd)
{
	int fd, one = 1, r;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *) ss, len) < 0 || listen(fd, 512) < 0) {
		r = -errno;
		(void) close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static struct MHD_Daemon *start_shard(struct http_daemon *d, int fd, unsigned limit)
{
	struct server *srv = d->srv;
	unsigned flags =
		MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem ops[] = {
		{MHD_OPTION_LISTEN_SOCKET, fd, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, limit, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, srv->cfg->connection_timeout, NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) 64 * 1024, NULL},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *) ca_server_key_pem(srv->ca)},
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *) ca_server_cert_pem(srv->ca)},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) TLS_PRIORITIES},
		/* Asks for (does not require) a client certificate, trusting only our CA. */
		{d->api == HTTP_API_AGENT ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
		 (void *) ca_cert_pem(srv->ca)},
		{MHD_OPTION_END, 0, NULL},
	};

	if (d->family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger goes first, so every message of MHD reaches our log. */
	return MHD_start_daemon(flags, 0, NULL, NULL, handle, d, MHD_OPTION_EXTERNAL_LOGGER,
				mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, d,
				MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

int http_start(struct server *srv, enum http_api api, const char *addr, struct http_daemon **ret,
	       char *ret_bound, size_t boundlen, char *errbuf, size_t errlen)
{
	struct sockaddr_storage ss = {0}, bound = {0};
	socklen_t len, blen = sizeof(bound);
	char host[INET6_ADDRSTRLEN], port[8];
	struct http_daemon *d;
	unsigned n = MIN(srv->cfg->threads, HTTP_SHARDS_MAX), limit;
	int r;

	if (config_parse_listen(addr, &ss, &len) < 0) {
		(void) snprintf(errbuf, errlen, "'%s' is not HOST:PORT", addr);
		return -EINVAL;
	}
	d = mm_calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->srv = srv;
	d->api = api;
	d->family = ss.ss_family;
	for (unsigned i = 0; i < HTTP_SHARDS_MAX; i++)
		d->fd[i] = -1;
	/* SO_REUSEPORT would let a second server started by mistake share the port silently:
	 * a plain bind first makes it fail with "address in use", and takes the kernel's
	 * choice of port for port 0. The group then binds that port. */
	r = probe_port(&ss, len);
	if (r < 0) {
		(void) snprintf(errbuf, errlen, "cannot listen on %s: %s", addr, strerror(-r));
		goto fail;
	}
	for (unsigned i = 0; i < n; i++) {
		r = listen_one(&ss, len, &d->fd[i]);
		if (r < 0) {
			(void) snprintf(errbuf, errlen, "cannot listen on %s: %s", addr,
					strerror(-r));
			goto fail;
		}
	}
	if (getsockname(d->fd[0], (struct sockaddr *) &bound, &blen) < 0) {
		r = -errno;
		goto fail;
	}
	limit = MAX(srv->cfg->max_connections / n, 1u);
	for (unsigned i = 0; i < n; i++) {
		d->mhd[i] = start_shard(d, d->fd[i], limit);
		if (!d->mhd[i]) {
			(void) snprintf(errbuf, errlen,
					"libmicrohttpd refused to start (see the messages above)");
			r = -EIO;
			goto fail;
		}
		d->n = i + 1;
	}
	if (getnameinfo((struct sockaddr *) &bound, blen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		(void) snprintf(ret_bound, boundlen, "%s", addr);
	else
		(void) snprintf(ret_bound, boundlen,
				bound.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	*ret = d;
	return 0;
fail:
	(void) http_stop(d);
	return r;
}

void http_quiesce(struct http_daemon *d)
{
	if (!d || d->quiesced)
		return;
	d->quiesced = true;
	for (unsigned i = 0; i < d->n; i++)
		(void) MHD_quiesce_daemon(d->mhd[i]);
	/* MHD no longer accepts, but the sockets must stay open until MHD_stop_daemon(), and a
	 * listening socket still completes handshakes into its backlog: clients would wait
	 * for an answer that never comes. Shutting them down (Linux stops listening) makes
	 * them see "connection refused" at once and go to another server. */
	for (unsigned i = 0; i < HTTP_SHARDS_MAX; i++)
		if (d->fd[i] >= 0)
			(void) shutdown(d->fd[i], SHUT_RDWR);
}

struct http_daemon *http_stop(struct http_daemon *d)
{
	if (!d)
		return NULL;
	/* Quiesced first, so MHD hands the sockets back instead of closing them: they are
	 * ours to close, once no thread of MHD can touch them. */
	http_quiesce(d);
	for (unsigned i = 0; i < d->n; i++)
		MHD_stop_daemon(d->mhd[i]);
	for (unsigned i = 0; i < HTTP_SHARDS_MAX; i++)
		if (d->fd[i] >= 0)
			(void) close(d->fd[i]);
	mm_free(d);
	return NULL;
}
