/*
 * The agent API, /agent/v1 (docs/protocol.md): the CA certificate, enrolment, check-in,
 * inventory uploads and event batches. The host a request writes for is always the one of
 * its client certificate (req->host_id, set by http.c); no body field can name another.
 *
 * Each body is validated whole by an api_agent_parse_* function before anything is
 * stored, so a refused request changes nothing; those functions take a parsed JSON value
 * and nothing of HTTP, so the fuzz targets call them directly. Agents may send fields this
 * version does not know (a newer agent): they are ignored, and only the known ones are
 * passed to the store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/compliance.h"
#include "server/server.h"

#define CSR_MAX      ((size_t) 16 * 1024)
#define TYPE_MAX     64u
#define VERSION_MAX  64u
#define HOSTNAME_MAX 253u
#define OS_MAX       256u
#define SECTION_MAX  64u

/* The characters of a policy document version as an agent reports it back
 * ("12-4f3a9c0b1d2e"; at most POLICY_VERSION_MAX - 1 of them). */
#define POLICY_VERSION_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* Records why a body is refused and gives -EBADMSG: jsonw_fail() in a form the static
 * analyser sees through (it does not follow variadic calls), so it knows a refusal is
 * negative and never reads an output a refusal left unset. */
#define refuse(err, ...) ((void) jsonw_fail(err, __VA_ARGS__), -EBADMSG)

/* A required or optional string of at most max bytes of clean UTF-8. */
static int get_text(json_t *obj, const char *key, bool required, size_t max, const char **ret,
		    struct jsonw_error *err)
{
	const char *s;
	int r = jsonw_get_string(obj, key, required, &s, err);
	size_t n;

	if (r < 0)
		return r;
	n = strlen(s);
	if (n > max)
		return refuse(err, "field '%s': longer than %zu bytes", key, max);
	if (!str_is_clean_utf8(s, n))
		return refuse(err, "field '%s': control characters or invalid UTF-8", key);
	*ret = s;
	return 0;
}

static bool is_hex_digest(const char *s)
{
	if (strlen(s) != STORE_DIGEST_HEX - 1)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static int get_digest(json_t *obj, const char *key, bool required, bool allow_empty,
		      const char **ret, struct jsonw_error *err)
{
	const char *s;
	int r = jsonw_get_string(obj, key, required, &s, err);

	if (r < 0)
		return r;
	if (!(allow_empty && !*s) && !is_hex_digest(s))
		return refuse(err, "field '%s': expected a SHA-256 in lower-case hex%s", key,
			      allow_empty ? " or \"\"" : "");
	*ret = s;
	return 0;
}

/* Whether s is a name of [a-z0-9_.] characters, 1..max long (event types, sections). */
static bool is_name(const char *s, size_t max, bool dots)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      (dots && *s == '.')))
			return false;
	return n >= 1 && n <= max;
}

/* Puts "prefix: " before the error text, so it names where the field is. */
static int nest(struct jsonw_error *err, const char *prefix)
{
	char why[sizeof(err->text)];

	(void) snprintf(why, sizeof(why), "%s", err->text);
	return refuse(err, "%s: %s", prefix, why);
}

/* Copies obj[key] into out when present (already validated). */
static int copy_field(json_t *out, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	return jsonw_set(out, key, json_incref(v));
}

int api_agent_parse_enroll(json_t *body, struct api_agent_enroll *ret, struct jsonw_error *err)
{
	static const struct {
		const char *name;
		size_t max;
	} optional_facts[] = {{"machine_id", 64}, {"os", OS_MAX}, {"agent_version", VERSION_MAX}};
	_cleanup_(json_decrefp) json_t *facts = NULL;
	const char *token, *csr, *s;
	json_t *f;
	int r;

	if ((r = get_text(body, "token", true, 128, &token, err)) < 0 ||
	    (r = jsonw_get_string(body, "csr", true, &csr, err)) < 0 ||
	    (r = jsonw_get_object(body, "facts", true, &f, err)) < 0)
		return r;
	if (strlen(csr) > CSR_MAX)
		return refuse(err, "field 'csr': longer than %zu bytes", CSR_MAX);
	if (!strstr(csr, "-----BEGIN "))
		return refuse(err, "field 'csr': expected a PEM certificate request");
	if (get_text(f, "hostname", true, HOSTNAME_MAX, &s, err) < 0)
		return nest(err, "facts");
	if (!*s)
		return refuse(err, "facts: field 'hostname' is empty");
	for (size_t i = 0; i < ARRAY_SIZE(optional_facts); i++) {
		r = get_text(f, optional_facts[i].name, false, optional_facts[i].max, &s, err);
		if (r < 0 && r != -ENOENT)
			return nest(err, "facts");
	}
	facts = json_object();
	if (!facts)
		return -ENOMEM;
	if (copy_field(facts, f, "hostname") < 0 || copy_field(facts, f, "machine_id") < 0 ||
	    copy_field(facts, f, "os") < 0 || copy_field(facts, f, "agent_version") < 0)
		return -ENOMEM;
	ret->token = token;
	ret->csr = csr;
	ret->facts = TAKE_PTR(facts);
	return 0;
}

int api_agent_parse_checkin(json_t *body, struct api_agent_checkin *ret, struct jsonw_error *err)
{
	_cleanup_(json_decrefp) json_t *state = NULL;
	const char *version, *digest = "", *policy = "";
	json_t *spool = NULL, *pv;
	int64_t v;
	int r;

	if ((r = get_text(body, "agent_version", true, VERSION_MAX, &version, err)) < 0 ||
	    (r = jsonw_get_int(body, "time", true, 0, INT64_MAX, &v, err)) < 0)
		return r;
	r = get_digest(body, "inventory_digest", false, true, &digest, err);
	if (r < 0 && r != -ENOENT)
		return r;
	pv = json_object_get(body, "policy_version");
	if (json_is_string(pv)) {
		if ((r = get_text(body, "policy_version", false, POLICY_VERSION_MAX - 1, &policy,
				  err)) < 0)
			return r;
		if (strspn(policy, POLICY_VERSION_CHARS) != strlen(policy))
			return refuse(err, "field 'policy_version': expected the version of the "
					   "policy document held ([A-Za-z0-9._-]) or 0");
	} else {
		/* 0, or nothing: the agent holds no policy document */
		r = jsonw_get_int(body, "policy_version", false, 0, INT64_MAX, &v, err);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	/* the USB document alone, which compliance (E-4) reads: an agent without USB control
	 * (not root) holds a policy but enforces none; "" when none */
	if (json_object_get(body, "usb_policy_version") &&
	    !json_is_null(json_object_get(body, "usb_policy_version"))) {
		const char *usb;

		if ((r = get_text(body, "usb_policy_version", false, POLICY_VERSION_MAX - 1, &usb,
				  err)) < 0)
			return r;
		if (strspn(usb, POLICY_VERSION_CHARS) != strlen(usb))
			return refuse(err,
				      "field 'usb_policy_version': expected the version of the "
				      "USB policy document held ([A-Za-z0-9._-]) or \"\"");
	}
	r = jsonw_get_int(body, "last_seq", false, 0, INT64_MAX, &v, err);
	if (r < 0 && r != -ENOENT)
		return r;
	r = jsonw_get_object(body, "spool", false, &spool, err);
	if (r < 0 && r != -ENOENT)
		return r;
	state = json_object();
	if (!state)
		return -ENOMEM;
	if (spool) {
		static const char *const names[] = {"depth", "bytes", "evicted_total"};
		json_t *copy = json_object();

		if (!copy || jsonw_set(state, "spool", copy) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			r = jsonw_get_int(spool, names[i], false, 0, INT64_MAX, &v, err);
			if (r < 0 && r != -ENOENT)
				return nest(err, "spool");
			if (r == 0 && jsonw_set(copy, names[i], json_integer(v)) < 0)
				return -ENOMEM;
		}
	}
	if (copy_field(state, body, "agent_version") < 0 || copy_field(state, body, "time") < 0 ||
	    copy_field(state, body, "policy_version") < 0 ||
	    copy_field(state, body, "usb_policy_version") < 0 ||
	    copy_field(state, body, "last_seq") < 0 ||
	    copy_field(state, body, "inventory_digest") < 0)
		return -ENOMEM;
	ret->inventory_digest = digest;
	ret->policy_version = policy;
	ret->state = TAKE_PTR(state);
	return 0;
}

/* Every member of doc that is an object must have a section's name. */
static int check_sections(json_t *doc, const char *field, struct jsonw_error *err)
{
	const char *name;
	json_t *v;

	json_object_foreach (doc, name, v)
		if (json_is_object(v) && !is_name(name, SECTION_MAX, false))
			return refuse(err,
				      "field '%s': '%.64s' is not a section name ([a-z0-9_], "
				      "at most %u)",
				      field, name, SECTION_MAX);
	return 0;
}

int api_agent_parse_inventory(json_t *body, struct api_agent_inventory *ret,
			      struct jsonw_error *err)
{
	struct api_agent_inventory in = {0};
	const char *kind;
	const char *name;
	json_t *v;
	int r;

	if ((r = jsonw_get_string(body, "kind", true, &kind, err)) < 0 ||
	    (r = get_digest(body, "digest", true, false, &in.digest, err)) < 0)
		return r;
	if (streq(kind, "full")) {
		if ((r = jsonw_get_object(body, "document", true, &in.document, err)) < 0 ||
		    (r = check_sections(in.document, "document", err)) < 0)
			return r;
	} else if (streq(kind, "delta")) {
		in.delta = true;
		if ((r = get_digest(body, "base_digest", true, true, &in.base_digest, err)) < 0 ||
		    (r = jsonw_get_object(body, "delta", true, &in.changes, err)) < 0 ||
		    (r = check_sections(in.changes, "delta", err)) < 0)
			return r;
		json_object_foreach (in.changes, name, v)
			if (!json_is_object(v))
				return refuse(err,
					      "field 'delta': section '%.64s' is not an "
					      "object",
					      name);
	} else {
		return refuse(err, "field 'kind': expected \"full\" or \"delta\"");
	}
	*ret = in;
	return 0;
}

int api_agent_parse_events(json_t *body, json_t **ret_events, struct jsonw_error *err)
{
	json_t *events, *e;
	size_t i;
	int r;

	r = jsonw_get_array(body, "events", true, &events, err);
	if (r < 0)
		return r;
	if (json_array_size(events) > LIMIT_EVENT_BATCH) {
		(void) refuse(err, "%zu events in one batch: at most %u are accepted",
			      json_array_size(events), LIMIT_EVENT_BATCH);
		return -E2BIG;
	}
	json_array_foreach (events, i, e) {
		const char *type;
		json_t *data;
		int64_t v;
		size_t size;

		if (!json_is_object(e))
			return refuse(err, "events[%zu]: expected an object", i);
		if (jsonw_get_int(e, "seq", true, 1, INT64_MAX, &v, err) < 0 ||
		    jsonw_get_int(e, "time", true, 0, INT64_MAX, &v, err) < 0 ||
		    jsonw_get_string(e, "type", true, &type, err) < 0 ||
		    jsonw_get_object(e, "data", true, &data, err) < 0) {
			char where[32];

			(void) snprintf(where, sizeof(where), "events[%zu]", i);
			return nest(err, where);
		}
		if (!is_name(type, TYPE_MAX, true))
			return refuse(err,
				      "events[%zu]: field 'type': expected [a-z0-9_.], 1 to %u "
				      "characters",
				      i, TYPE_MAX);
		size = json_dumpb(e, NULL, 0, JSON_COMPACT);
		if (size > LIMIT_EVENT_SIZE) {
			(void) refuse(err, "events[%zu] is %zu bytes: at most %zu are accepted", i,
				      size, LIMIT_EVENT_SIZE);
			return -E2BIG;
		}
	}
	*ret_events = events;
	return 0;
}

/* ---- handlers ---- */

static int handle_ca(struct http_request *req)
{
	return http_reply_text(req, 200, "application/x-pem-file", ca_cert_pem(req->srv->ca));
}

struct sign_ctx {
	struct server *srv;
	const char *csr;
	int64_t now;
	char why[256];
};

static int sign_cb(uint64_t serial, const char *host_id, void *userdata, char **ret_cert_pem)
{
	struct sign_ctx *ctx = userdata;

	return ca_sign_csr(ctx->srv->ca, ctx->csr, serial, host_id, ctx->now, ret_cert_pem,
			   ctx->why, sizeof(ctx->why));
}

static int handle_enroll(struct http_request *req)
{
	static const struct {
		const char *code;
		const char *words;
	} refusals[] = {
		[STORE_TOKEN_UNKNOWN] = {"token_unknown",
					 "the enrolment token is unknown to this server"},
		[STORE_TOKEN_EXPIRED] = {"token_expired",
					 "the enrolment token has expired: ask for a new one"},
		[STORE_TOKEN_USED] = {"token_used",
				      "the enrolment token has been used as often as allowed"},
		[STORE_TOKEN_REVOKED] = {"token_revoked", "the enrolment token was revoked"},
	};
	struct api_agent_enroll in = {0};
	struct store_enroll_result res = {0};
	struct sign_ctx ctx = {.srv = req->srv, .now = req->now};
	struct jsonw_error jerr = {{0}};
	_cleanup_(json_decrefp) json_t *facts = NULL;
	json_t *body;
	uint8_t hash[32];
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	r = api_agent_parse_enroll(body, &in, &jerr);
	if (r < 0)
		return http_fail_json(req, r, &jerr);
	facts = in.facts;
	if (!auth_secret_wellformed(in.token, AUTH_ENROLL_PREFIX)) {
		log_warning("(M4101) enrolment from %s refused: malformed token", req->remote);
		return http_fail(req, -EPERM, "token_unknown",
				 "the enrolment token is unknown to this server (it does not look "
				 "like mtk_…)");
	}
	r = ca_csr_check(in.csr, ctx.why, sizeof(ctx.why));
	if (r == -EBADMSG)
		return http_fail(req, r, "malformed", "field 'csr': %s", ctx.why);
	if (r < 0)
		return http_fail(req, r, NULL, "cannot check the certificate request");
	ctx.csr = in.csr;
	auth_secret_hash(in.token, hash);
	r = store_enroll(req->srv->store, hash, req->now, facts, req->remote, sign_cb, &ctx, &res);
	explicit_bzero(hash, sizeof(hash));
	if (r < 0) {
		if (ctx.why[0])
			log_error("(M4104) cannot issue a certificate: %s", ctx.why);
		return http_fail_store(req, r, "enrolment");
	}
	if (res.verdict != STORE_TOKEN_OK) {
		unsigned v = (unsigned) res.verdict;

		if (v >= ARRAY_SIZE(refusals) || !refusals[v].code)
			v = STORE_TOKEN_UNKNOWN;
		log_warning("(M4101) enrolment of '%s' from %s refused: %s",
			    json_string_value(json_object_get(facts, "hostname")), req->remote,
			    refusals[v].code);
		return http_fail(req, -EPERM, refusals[v].code, "%s", refusals[v].words);
	}
	log_notice("(M4100) host %s ('%s') enrolled from %s, certificate serial %llu", res.host_id,
		   json_string_value(json_object_get(facts, "hostname")), req->remote,
		   (unsigned long long) res.serial);
	r = http_reply_json(
		req, 200,
		json_pack("{s:s, s:s, s:s, s:I, s:I}", "host_id", res.host_id, "certificate",
			  res.cert_pem, "ca", ca_cert_pem(req->srv->ca), "checkin_interval",
			  (json_int_t) req->srv->cfg->checkin_interval, "inventory_interval",
			  (json_int_t) req->srv->cfg->inventory_interval));
	mm_free(res.cert_pem);
	return r;
}

/*
 * The policy part of a check-in answer: "policy_version" is the version of the whole policy
 * the host should hold (null when none applies), and "policy" the policy itself when the
 * agent reported another version: {"version", "usb"?: the USB policy document,
 * "collection"?: the collection profile in force}, each part of the agent taking its own
 * member (docs/usb-control.md, docs/events.md). A policy that cannot be built (the store
 * failed, or it is over the agent's limits) is left out and logged: the check-in itself
 * still succeeds, and the agent keeps the policy it has.
 */
static int checkin_policy(struct http_request *req, const char *held, json_t *answer)
{
	_cleanup_(json_decrefp) json_t *policy = NULL;
	char current[POLICY_VERSION_MAX];
	const char *version;
	int r;

	/* the version alone first: the usual answer is "you have it", without the registry */
	r = policy_current(req->srv->store, req->host_id, req->now, current);
	if (r >= 0 && (!*current || streq(current, held))) {
		if (jsonw_set(answer, "policy_version",
			      *current ? json_string(current) : json_null()) < 0)
			return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
		return 0;
	}
	if (r >= 0)
		r = policy_answer(req->srv->store, req->host_id, req->now, &policy);
	if (r == -ENOMEM)
		return http_fail(req, r, NULL, "the server is short of memory");
	if (r < 0) {
		if (r != -E2BIG)
			log_error("(M4300) cannot build the policy of host %s: %s", req->host_id,
				  strerror(-r));
		return 0;
	}
	/* the policy's own version: the store may have changed between the two reads */
	version = json_string_value(json_object_get(policy, "version"));
	if (jsonw_set(answer, "policy_version", version ? json_string(version) : json_null()) < 0)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	if (!version || streq(version, held))
		return 0;
	log_info("(M4302) host %s holds policy '%s': sending %s", req->host_id,
		 *held ? held : "none", version);
	if (jsonw_set(answer, "policy", json_incref(policy)) < 0)
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	return 0;
}

/*
 * The host's facts changed (a check-in, an inventory, events): re-evaluate its measures.
 * The agent's request has succeeded whatever happens here; a failure is logged, and the
 * next trigger for this host re-evaluates it from scratch.
 */
static void rescore(struct http_request *req, const json_t *events)
{
	int r = events ? compliance_events(req->srv->compliance, req->host_id, events, req->now)
		       : compliance_host_changed(req->srv->compliance, req->host_id, req->now,
						 NULL);

	if (r < 0)
		log_warning("(M4131) compliance of %s not re-evaluated: %s", req->host_id,
			    strerror(-r));
}

static int cmp_seq(const void *a, const void *b)
{
	json_int_t x = *(const json_int_t *) a, y = *(const json_int_t *) b;

	return x < y ? -1 : x > y;
}

/*
 * Only the events stored now may count in the host's event summary: a retried batch holds
 * events already counted. The store skips the (host, seq) it holds, and agents send in
 * sequence order (protocol.md), so the newly stored ones are the `stored` highest.
 */
static void rescore_events(struct http_request *req, json_t *events, size_t stored)
{
	size_t n = json_array_size(events), i;
	_cleanup_(freep) json_int_t *seqs = mm_reallocarray(NULL, n ? n : 1, sizeof(*seqs));
	_cleanup_(json_decrefp) json_t *fresh = json_array();
	json_int_t from;
	json_t *e;

	if (!seqs || !fresh) {
		log_warning("(M4131) compliance of %s not re-evaluated: out of memory",
			    req->host_id);
		return;
	}
	json_array_foreach (events, i, e)
		seqs[i] = json_integer_value(json_object_get(e, "seq"));
	qsort(seqs, n, sizeof(*seqs), cmp_seq);
	from = seqs[n - MIN(stored, n)];
	json_array_foreach (events, i, e)
		if (json_integer_value(json_object_get(e, "seq")) >= from &&
		    json_array_append(fresh, e) < 0)
			return;
	rescore(req, fresh);
}

static int handle_checkin(struct http_request *req)
{
	struct api_agent_checkin in = {0};
	struct store_checkin_result res = {{0}};
	struct jsonw_error jerr = {{0}};
	_cleanup_(json_decrefp) json_t *state = NULL, *answer = NULL;
	const char *inventory;
	json_t *body;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	r = api_agent_parse_checkin(body, &in, &jerr);
	if (r < 0)
		return http_fail_json(req, r, &jerr);
	state = in.state;
	r = store_checkin(req->srv->store, req->host_id, req->now, req->remote, state, &res);
	if (r < 0)
		return http_fail_store(req, r, "check-in");
	/* The scorecard reads one member of a check-in's state (the policy version); the
	 * recompute job follows the clock. So only a moved version re-scores the host. */
	if (res.policy_changed)
		rescore(req, NULL);
	if (!res.inventory_digest[0] || !in.inventory_digest[0])
		inventory = "full";
	else if (streq(res.inventory_digest, in.inventory_digest))
		inventory = "ok";
	else
		inventory = "delta";
	answer = json_pack("{s:I, s:I, s:I, s:s, s:I, s:[]}", "server_time", (json_int_t) req->now,
			   "checkin_interval", (json_int_t) req->srv->cfg->checkin_interval,
			   "inventory_interval", (json_int_t) req->srv->cfg->inventory_interval,
			   "inventory", inventory, "acked_seq", (json_int_t) res.acked_seq,
			   "commands");
	if (!answer || (streq(inventory, "delta") &&
			jsonw_set(answer, "inventory_base", json_string(res.inventory_digest)) < 0))
		return http_fail(req, -ENOMEM, NULL, "the server is short of memory");
	r = checkin_policy(req, in.policy_version, answer);
	if (r < 0)
		return r;
	return http_reply_json(req, 200, TAKE_PTR(answer));
}

static int handle_inventory(struct http_request *req)
{
	struct api_agent_inventory in;
	struct jsonw_error jerr = {{0}};
	char digest[STORE_DIGEST_HEX], why[512] = "";
	const char *code = NULL;
	size_t changes = 0;
	json_t *body;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	r = api_agent_parse_inventory(body, &in, &jerr);
	if (r < 0)
		return http_fail_json(req, r, &jerr);
	r = ingest_inventory(req->srv->store, req->host_id, &in, req->now, digest, &changes, &code,
			     why, sizeof(why));
	if (r < 0 && code) {
		log_info("(M4111) inventory of %s refused: %s", req->host_id, why);
		return http_fail(req, r, code, "%s", why);
	}
	if (r < 0)
		return http_fail_store(req, r, "inventory");
	log_debug("(M4110) inventory of %s stored: %zu changes", req->host_id, changes);
	rescore(req, NULL);
	return http_reply_json(
		req, 200,
		json_pack("{s:s, s:I}", "digest", digest, "changes", (json_int_t) changes));
}

static int handle_events(struct http_request *req)
{
	struct jsonw_error jerr = {{0}};
	struct store_ingest_result res;
	json_t *body, *events;
	int r;

	r = http_body_json(req, &body);
	if (r < 0)
		return r;
	r = api_agent_parse_events(body, &events, &jerr);
	if (r < 0)
		return http_fail_json(req, r, &jerr);
	r = store_events_ingest(req->srv->store, req->host_id, events, req->now, &res);
	if (r < 0)
		return http_fail_store(req, r, "events");
	log_debug("(M4120) %zu of %zu events of %s stored", res.stored, json_array_size(events),
		  req->host_id);
	if (res.altered || res.broken || res.conflicts)
		log_warning("(M4121) events of %s: the event chain does not hold: %zu altered, "
			    "%zu broken links, %zu conflicting copies (GET "
			    "/api/v1/hosts/%s/evidence-gaps)",
			    req->host_id, res.altered, res.broken, res.conflicts, req->host_id);
	if (res.gaps)
		log_warning("(M4122) events of %s: %" PRIu64 " sequence numbers never arrived "
			    "(%zu gaps)",
			    req->host_id, res.missing, res.gaps);
	if (res.explained)
		log_info("(M4123) events of %s: an eviction report explains %zu missing numbers",
			 req->host_id, res.explained);
	if (res.stored)
		rescore_events(req, events, res.stored);
	return http_reply_json(req, 200,
			       json_pack("{s:I, s:I}", "acked_seq", (json_int_t) res.acked_seq,
					 "stored", (json_int_t) res.stored));
}

const struct http_route api_agent_routes[] = {
	{"GET", "/agent/v1/ca", handle_ca, 0},
	{"POST", "/agent/v1/enroll", handle_enroll, 0},
	{"POST", "/agent/v1/checkin", handle_checkin, HTTP_CERT},
	{"POST", "/agent/v1/inventory", handle_inventory, HTTP_CERT},
	{"POST", "/agent/v1/events", handle_events, HTTP_CERT},
};
const size_t api_agent_n_routes = ARRAY_SIZE(api_agent_routes);
