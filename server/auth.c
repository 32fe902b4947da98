/*
 * Secrets and admin authentication. Enrolment tokens ("mtk_…") and API tokens ("mat_…")
 * are 32 random bytes from gnutls_rnd in lower-case base32 behind a prefix that says what
 * they are (so a leaked one is recognisable in a log or a repository). The store keeps
 * only their SHA-256: a 256-bit random secret needs no slow hash. Secrets are wiped after
 * use and never logged.
 *
 * Admin requests carry "Authorization: Bearer mat_…"; role "admin" may do everything,
 * "auditor" may only read. Every admin write is appended to the audit trail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>

#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

#define SECRET_BYTES 32

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

int auth_secret_new(const char *prefix, char ret[AUTH_SECRET_LEN + 1], uint8_t ret_hash[32])
{
	unsigned char raw[SECRET_BYTES];
	size_t plen = strlen(prefix), o = plen;
	unsigned acc = 0, bits = 0;

	if (plen != 4)
		return -EINVAL;
	if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
		return -EIO;
	memcpy(ret, prefix, plen);
	for (size_t i = 0; i < sizeof(raw); i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			ret[o++] = b32[(acc >> bits) & 31];
		}
	}
	if (bits)
		ret[o++] = b32[(acc << (5 - bits)) & 31];
	ret[o] = '\0';
	explicit_bzero(raw, sizeof(raw));
	auth_secret_hash(ret, ret_hash);
	return 0;
}

void auth_secret_hash(const char *secret, uint8_t ret_hash[32])
{
	(void) gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), ret_hash);
}

bool auth_secret_wellformed(const char *s, const char *prefix)
{
	if (!s || !str_startswith(s, prefix) || strlen(s) != AUTH_SECRET_LEN)
		return false;
	for (const char *p = s + strlen(prefix); *p; p++)
		if (!strchr(b32, *p))
			return false;
	return true;
}

int auth_bootstrap(struct server *srv)
{
	_cleanup_(freep) char *path = mm_asprintf("%s/admin.token", srv->cfg->state_dir);
	char secret[AUTH_SECRET_LEN + 1], line[AUTH_SECRET_LEN + 2], id[STORE_ID_MAX];
	uint8_t hash[32];
	size_t count = 0;
	int r;

	if (!path)
		return -ENOMEM;
	r = store_api_token_count(srv->store, &count);
	if (r < 0) {
		log_error("(M3012) cannot count the API tokens in the store: %s", strerror(-r));
		return r;
	}
	if (count > 0)
		return 0;
	r = auth_secret_new(AUTH_API_PREFIX, secret, hash);
	if (r < 0)
		return r;
	(void) snprintf(line, sizeof(line), "%s\n", secret);
	r = fileio_write_atomic(path, line, strlen(line), 0600);
	if (r < 0) {
		log_error("(M3011) cannot write the bootstrap admin token to %s: %s", path,
			  strerror(-r));
		goto out;
	}
	r = store_api_token_create(srv->store, hash, "bootstrap", "admin", (int64_t) time(NULL), 0,
				   id);
	if (r < 0) {
		log_error("(M3012) cannot store the bootstrap admin token: %s", strerror(-r));
		(void) unlink(path);
		goto out;
	}
	/* Not an administrator's action, but the trail starts with how the first admin got in. */
	if (store_audit_append(srv->store, (int64_t) time(NULL), "server", "api_token.bootstrap",
			       id, NULL, NULL) < 0)
		log_error("(M5102) cannot record api_token.bootstrap on %s in the audit trail", id);
	printf("(M3010) bootstrap admin token written to %s: %s\n", path, secret);
	(void) fflush(stdout);
	log_notice("(M3010) bootstrap admin token %s written to %s", id, path);
	r = 1;
out:
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(line, sizeof(line));
	return r;
}

int auth_admin(struct http_request *req, const char *authorization)
{
	const char *token;
	uint8_t hash[32];
	json_t *actor = NULL;
	const char *role;
	int r;

	if (!authorization || !*authorization)
		return http_fail(
			req, -EACCES, "unauthorized",
			"this call needs an API token: send 'Authorization: Bearer mat_…'");
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return http_fail(req, -EACCES, "unauthorized",
				 "the Authorization header must be 'Bearer mat_…'");
	token = authorization + 7;
	while (*token == ' ')
		token++;
	if (!auth_secret_wellformed(token, AUTH_API_PREFIX)) {
		log_info("(M5100) malformed API token from %s", req->remote);
		return http_fail(req, -EACCES, "unauthorized",
				 "the API token is malformed (expected mat_ and 52 characters)");
	}
	auth_secret_hash(token, hash);
	r = store_api_token_check(req->srv->store, hash, req->now, &actor);
	explicit_bzero(hash, sizeof(hash));
	if (r == -ENOENT) {
		log_info("(M5100) unknown, revoked or expired API token from %s", req->remote);
		return http_fail(req, -EACCES, "unauthorized",
				 "the API token is unknown, revoked or expired");
	}
	if (r < 0)
		return http_fail_store(req, r, "API token check");
	req->actor = actor;
	role = json_string_value(json_object_get(actor, "role"));
	if ((req->route->flags & HTTP_WRITE) && !(role && streq(role, "admin")))
		return http_fail(req, -EPERM, "forbidden",
				 "this call changes something and needs a token with role admin "
				 "(this one has role %s)",
				 role ? role : "none");
	return 0;
}

const char *auth_actor_id(const struct http_request *req)
{
	const char *id = json_string_value(json_object_get(req->actor, "id"));

	return id ? id : "-";
}

void auth_audit(struct http_request *req, const char *action, const char *target, json_t *details)
{
	char actor[STORE_ID_MAX + 8];
	int r;

	(void) snprintf(actor, sizeof(actor), "token:%s", auth_actor_id(req));
	log_notice("(M5101) %s by %s from %s: %s", action, actor, req->remote,
		   target ? target : "-");
	r = store_audit_append(req->srv->store, req->now, actor, action, target, details,
			       req->remote);
	if (r < 0)
		log_error("(M5102) cannot record %s on %s in the audit trail: %s", action,
			  target ? target : "-", strerror(-r));
}
