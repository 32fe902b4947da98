/*
 * USB policies on the server: the scopes a policy applies to, the check of a policy text
 * (the agent's own parser, so the server refuses exactly what an agent would), and the
 * policy document an agent receives at check-in (docs/usb-control.md):
 *
 *   {"version": "12-4f3a9c0b1d2e", "policy_version": 12, "scope": "group:sales",
 *    "rules_text": "default block\n…",
 *    "registry": [{"serial": "4C53…", "vendor": "0781", "product": "5581",
 *                  "tags": ["company-issued"]}],
 *    "grants": [{"id": "gr_…", "serial": "4C53…", "user": "hanako",
 *                "until": "2026-12-01T18:00:00Z"}]}
 *
 * Precedence: a host's own policy (host:ID) wins over its group's (group:NAME), which wins
 * over the policy for all hosts ("all"); within a scope the latest version is in force.
 *
 * The document's version names the policy version and a digest of what else the document
 * depends on, "POLICY-DIGEST12": the revisions of the registry tags the rules name (which
 * move whenever a device carrying one is registered, replaced or removed) and the live
 * grants. So registering a device with a tag the rules name, granting or revoking an
 * exception, or an exception expiring changes the version, and the agent, which reports
 * the version it holds at every check-in, gets the new document at its next check-in.
 * A check-in computes only the version — a few index reads however large the registry —
 * and reads the registry only to send a document. The version is a pure function of the
 * store's state and the time, so every server sharing a store computes the same one.
 *
 * What is sent of the registry: only the devices carrying a tag the rules name, with only
 * those tags (never owner or note), because the agent needs nothing else and a registry of
 * thousands of devices would otherwise travel to every laptop at every change. Grants: the
 * live ones for this host, and every live grant for a user, since a user may log in
 * anywhere. Limits are the agent's: LIMIT_POLICY_DOC_SENT bytes, LIMIT_POLICY_REGISTRY
 * devices, LIMIT_POLICY_GRANTS grants; a larger document is not sent (-E2BIG, logged).
 *
 * The policy an agent receives at check-in is {"version", "usb"?, "collection"?}: the USB
 * document above and the collection profile in force for the host (host's own over its
 * group's over all's, latest version in a scope; docs/events.md). Its version is the USB
 * document's when no collection profile applies (so what agents already hold stays
 * current), and "U.C-DIGEST12" when one does: U the USB policy version (0 for none), C the
 * profile version, DIGEST12 of the USB document's version and C. Profile versions are one
 * sequence and never edited, so C names the profile's content; the version changes
 * whenever either part does, and costs three more index reads at a check-in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "lib/collection.h"
#include "lib/usbpolicy.h"
#include "server/server.h"

#define GROUP_MAX 128u /* as enrolment tokens allow */

int policy_scope_check(const char *scope, char *why, size_t whylen)
{
	const char *group = str_startswith(scope, "group:");
	const char *host = str_startswith(scope, "host:");

	if (streq(scope, "all"))
		return 0;
	if (group) {
		size_t n = strlen(group);

		if (n >= 1 && n <= GROUP_MAX && str_is_clean_utf8(group, n))
			return 0;
		(void) snprintf(why, whylen, "a group name is 1 to %u bytes of text", GROUP_MAX);
		return -EINVAL;
	}
	if (host) {
		size_t n = strspn(host, "0123456789abcdefABCDEF-");

		if (n >= 1 && n < STORE_ID_MAX && !host[n])
			return 0;
		(void) snprintf(why, whylen, "'%.64s' is not a host id", host);
		return -EINVAL;
	}
	(void) snprintf(why, whylen, "expected \"all\", \"group:NAME\" or \"host:ID\"");
	return -EINVAL;
}

int policy_check_text(const char *file, const char *text, struct diag *d, json_t **ret_tags,
		      size_t *ret_rules)
{
	_cleanup_(usb_policy_freep) struct usb_policy *p = NULL;
	_cleanup_(freep) const char **tags = NULL;
	_cleanup_(json_decrefp) json_t *arr = NULL;
	int r;

	r = usb_policy_parse(file, text, d, &p);
	if (r < 0)
		return r;
	r = usb_policy_tags(p, &tags);
	if (r < 0)
		return r;
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	for (const char **t = tags; *t; t++)
		if (jsonw_append(arr, json_string(*t)) < 0)
			return -ENOMEM;
	*ret_rules = usb_policy_rule_count(p);
	*ret_tags = TAKE_PTR(arr);
	return 0;
}

/* "2026-12-01T18:00:00Z" */
static json_t *utc(int64_t t)
{
	time_t tt = (time_t) t;
	struct tm tm;
	char s[32];

	if (!gmtime_r(&tt, &tm) || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return json_string(s);
}

/* The registry entries as the agent takes them: no nulls. */
static int doc_registry(json_t *in, json_t *out)
{
	json_t *e;
	size_t i;

	json_array_foreach (in, i, e) {
		json_t *o = json_object();
		json_t *vendor = json_object_get(e, "vendor"),
		       *product = json_object_get(e, "product");

		if (jsonw_append(out, o) < 0 ||
		    jsonw_set(o, "serial", json_incref(json_object_get(e, "serial"))) < 0 ||
		    jsonw_set(o, "tags", json_incref(json_object_get(e, "tags"))) < 0 ||
		    (json_is_string(vendor) && jsonw_set(o, "vendor", json_incref(vendor)) < 0) ||
		    (json_is_string(product) && jsonw_set(o, "product", json_incref(product)) < 0))
			return -ENOMEM;
	}
	return 0;
}

/* Grants as the agent takes them: a host grant names the host by the id the server gave
 * it at enrolment, which is what the agent's USB control matches (docs/usb-control.md) —
 * a hostname can change, or be the same on two machines. */
static int doc_grants(json_t *in, json_t *out)
{
	json_t *e;
	size_t i;

	json_array_foreach (in, i, e) {
		json_t *o = json_object();
		json_t *host_id = json_object_get(e, "host_id");

		if (jsonw_append(out, o) < 0 ||
		    jsonw_set(o, "id", json_incref(json_object_get(e, "id"))) < 0 ||
		    jsonw_set(o, "serial", json_incref(json_object_get(e, "serial"))) < 0 ||
		    jsonw_set(o, "until", utc(json_integer_value(json_object_get(e, "expires")))) <
			    0 ||
		    jsonw_set(o, host_id ? "host" : "user",
			      json_incref(host_id ? host_id : json_object_get(e, "user"))) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The version of the document the inputs make: "POLICY-DIGEST", DIGEST the first 12 hex
 * digits of the SHA-256 of {policy_version, scope, tag_revisions, grants} (compact, sorted
 * keys). The rules are the policy version's; the registry entries are what the tag
 * revisions count; the grants are themselves. So the version changes exactly when the
 * document may, and is computed without reading the registry, which can be large.
 */
static int version_of(json_t *inputs, json_t *grants, char ret[POLICY_VERSION_MAX])
{
	json_t *policy = json_object_get(inputs, "policy");
	_cleanup_(json_decrefp) json_t *basis = NULL;
	_cleanup_(freep) char *text = NULL;
	json_t *revs = json_object_get(inputs, "tag_revisions");
	uint8_t digest[32];
	char hex[65];

	basis = json_pack("{s:O, s:O, s:O, s:O}", "policy_version",
			  json_object_get(policy, "version"), "scope",
			  json_object_get(policy, "scope"), "tag_revisions",
			  revs ? revs : json_null(), "grants", grants);
	text = basis ? jsonw_dump(basis) : NULL;
	if (!text)
		return -ENOMEM;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), digest) < 0)
		return -EIO;
	str_hex(digest, sizeof(digest), hex);
	(void) snprintf(ret, POLICY_VERSION_MAX, "%" JSON_INTEGER_FORMAT "-%.12s",
			json_integer_value(json_object_get(policy, "version")), hex);
	return 0;
}

/* The grants as the document holds them, checked against the agent's limit. */
static int grants_of(json_t *inputs, json_t **ret)
{
	json_t *in = json_object_get(inputs, "grants");
	_cleanup_(json_decrefp) json_t *grants = json_array();

	if (!grants)
		return -ENOMEM;
	if (json_array_size(in) > LIMIT_POLICY_GRANTS)
		return -E2BIG;
	if (doc_grants(in, grants) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(grants);
	return 0;
}

int policy_version_build(json_t *inputs, char ret[POLICY_VERSION_MAX])
{
	_cleanup_(json_decrefp) json_t *grants = NULL;
	int r;

	if (!json_is_object(json_object_get(inputs, "policy"))) {
		ret[0] = '\0';
		return 0;
	}
	r = grants_of(inputs, &grants);
	if (r < 0)
		return r;
	return version_of(inputs, grants, ret);
}

int policy_document_build(json_t *inputs, json_t **ret_doc)
{
	json_t *policy = json_object_get(inputs, "policy");
	_cleanup_(json_decrefp) json_t *doc = NULL, *registry = json_array(), *grants = NULL;
	_cleanup_(freep) char *text = NULL;
	char version[POLICY_VERSION_MAX];
	int r;

	if (!registry)
		return -ENOMEM;
	if (!json_is_object(policy)) {
		*ret_doc = json_null();
		return 0;
	}
	if (json_array_size(json_object_get(inputs, "registry")) > LIMIT_POLICY_REGISTRY)
		return -E2BIG;
	r = grants_of(inputs, &grants);
	if (r < 0)
		return r;
	if (doc_registry(json_object_get(inputs, "registry"), registry) < 0)
		return -ENOMEM;
	r = version_of(inputs, grants, version);
	if (r < 0)
		return r;
	doc = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "version", version, "policy_version",
			json_object_get(policy, "version"), "scope",
			json_object_get(policy, "scope"), "rules_text",
			json_object_get(policy, "rules"), "registry", registry, "grants", grants);
	if (!doc)
		return -ENOMEM;
	text = jsonw_dump(doc);
	if (!text)
		return -ENOMEM;
	if (strlen(text) > LIMIT_POLICY_DOC_SENT)
		return -E2BIG;
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

static void log_too_big(const char *host_id)
{
	log_error("(M4301) the USB policy document of host %s is over what an agent accepts "
		  "(%zu bytes, %u devices, %u grants): it is not sent; use fewer registry tags "
		  "in the rules or revoke grants",
		  host_id, LIMIT_POLICY_DOC_SENT, LIMIT_POLICY_REGISTRY, LIMIT_POLICY_GRANTS);
}

int policy_document(struct store *st, const char *host_id, int64_t now, json_t **ret_doc,
		    json_t **ret_inputs)
{
	_cleanup_(json_decrefp) json_t *inputs = NULL;
	json_t *doc = NULL;
	int r;

	r = store_policy_inputs(st, host_id, now, true, &inputs);
	if (r < 0)
		return r;
	r = policy_document_build(inputs, &doc);
	if (r == -E2BIG)
		log_too_big(host_id);
	if (r < 0)
		return r;
	*ret_doc = doc;
	if (ret_inputs)
		*ret_inputs = TAKE_PTR(inputs);
	return 0;
}

/* ", which overrides group:sales (version 7) and all (version 3)" for the candidates
 * after the first. */
static int overridden(json_t *candidates, struct buf *b)
{
	size_t n = json_array_size(candidates);

	for (size_t i = 1; i < n; i++) {
		json_t *c = json_array_get(candidates, i);
		int r = buf_addf(b, "%s%s (version %" JSON_INTEGER_FORMAT ")",
				 i == 1 ? "; it overrides " : " and ",
				 json_string_value(json_object_get(c, "scope")),
				 json_integer_value(json_object_get(c, "version")));

		if (r < 0)
			return r;
	}
	return 0;
}

int policy_why(json_t *inputs, char **ret)
{
	json_t *candidates = json_object_get(inputs, "candidates");
	json_t *first = json_array_get(candidates, 0);
	const char *group = json_string_value(json_object_get(inputs, "group"));
	const char *scope = json_string_value(json_object_get(first, "scope"));
	json_int_t version = json_integer_value(json_object_get(first, "version"));
	struct buf b;
	int r;

	buf_init(&b, 4096);
	if (!scope && group)
		r = buf_addf(&b,
			     "no policy applies: there is none for this host, its group %s or all "
			     "hosts; the agent keeps the last policy it received",
			     group);
	else if (!scope)
		r = buf_addf(&b, "no policy applies: there is none for this host (in no group) "
				 "or all hosts; the agent keeps the last policy it received");
	else if (str_startswith(scope, "host:"))
		r = buf_addf(&b,
			     "the host has a policy of its own (%s, version %" JSON_INTEGER_FORMAT
			     ")",
			     scope, version);
	else if (str_startswith(scope, "group:"))
		r = buf_addf(&b,
			     "the host is in group %s, which has a policy (version "
			     "%" JSON_INTEGER_FORMAT "), and has none of its own",
			     group ? group : "?", version);
	else
		r = buf_addf(&b,
			     "neither the host nor %s%s has a policy of its own: the policy for "
			     "all hosts applies (version %" JSON_INTEGER_FORMAT ")",
			     group ? "its group " : "a group", group ? group : "", version);
	if (r >= 0 && scope)
		r = overridden(candidates, &b);
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = buf_take(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

int policy_status(const char *effective, json_t *state, json_t **ret)
{
	json_t *held = json_object_get(state, "policy_version");
	json_t *in_force = NULL;
	bool current;

	/* an agent without a policy reports 0 or nothing */
	if (json_is_string(held) && *json_string_value(held))
		in_force = json_incref(held);
	else if (json_is_integer(held) && json_integer_value(held) > 0)
		in_force = json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(held));
	else
		in_force = json_null();
	if (!in_force)
		return -ENOMEM;
	current = json_is_null(in_force) ? !*effective
					 : streq(json_string_value(in_force), effective);
	*ret = json_pack("{s:o, s:s?, s:b, s:O?}", "in_force", in_force, "effective",
			 *effective ? effective : NULL, "current", current, "reported",
			 json_object_get(state, "time"));
	return *ret ? 0 : -ENOMEM;
}

/* ---- the whole policy: USB document and collection profile ---- */

/* The version of the profile in force in store_collection_inputs()'s answer; 0: none. */
static int64_t collection_in_force(json_t *cinputs)
{
	json_t *first = json_array_get(json_object_get(cinputs, "candidates"), 0);

	return json_integer_value(json_object_get(first, "version"));
}

int policy_combine_version(const char *usb_version, int64_t collection_version,
			   char ret[POLICY_VERSION_MAX])
{
	_cleanup_(freep) char *basis = NULL;
	uint8_t digest[32];
	char hex[65];
	int64_t usb = 0;

	if (collection_version <= 0) {
		(void) snprintf(ret, POLICY_VERSION_MAX, "%s", usb_version);
		return 0;
	}
	/* the USB policy's number leads, as an agent's report was always read (E-4) */
	for (const char *p = usb_version; *p >= '0' && *p <= '9' && usb < INT64_MAX / 10 - 9; p++)
		usb = usb * 10 + (*p - '0');
	basis = mm_asprintf("usb=%s\ncollection=%" PRId64, usb_version, collection_version);
	if (!basis)
		return -ENOMEM;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, basis, strlen(basis), digest) < 0)
		return -EIO;
	str_hex(digest, sizeof(digest), hex);
	(void) snprintf(ret, POLICY_VERSION_MAX, "%" PRId64 ".%" PRId64 "-%.12s", usb,
			collection_version, hex);
	return 0;
}

int policy_current(struct store *st, const char *host_id, int64_t now, char ret[POLICY_VERSION_MAX])
{
	_cleanup_(json_decrefp) json_t *inputs = NULL, *cinputs = NULL;
	char usb[POLICY_VERSION_MAX];
	int r;

	r = store_policy_inputs(st, host_id, now, false, &inputs);
	if (r < 0)
		return r;
	r = policy_version_build(inputs, usb);
	if (r == -E2BIG)
		log_too_big(host_id);
	if (r < 0)
		return r;
	r = store_collection_inputs(st, host_id, false, &cinputs);
	if (r < 0)
		return r;
	return policy_combine_version(usb, collection_in_force(cinputs), ret);
}

int policy_answer(struct store *st, const char *host_id, int64_t now, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *usb = NULL, *cinputs = NULL, *out = NULL;
	json_t *profile, *text;
	char version[POLICY_VERSION_MAX];
	const char *usb_version;
	int r;

	r = policy_document(st, host_id, now, &usb, NULL);
	if (r < 0)
		return r;
	r = store_collection_inputs(st, host_id, true, &cinputs);
	if (r < 0)
		return r;
	profile = json_object_get(cinputs, "profile");
	usb_version = json_string_value(json_object_get(usb, "version"));
	r = policy_combine_version(usb_version ? usb_version : "",
				   json_integer_value(json_object_get(profile, "version")),
				   version);
	if (r < 0)
		return r;
	if (!*version) {
		*ret = json_null();
		return 0;
	}
	out = json_pack("{s:s}", "version", version);
	if (!out || (json_is_object(usb) && jsonw_set(out, "usb", json_incref(usb)) < 0))
		return -ENOMEM;
	text = json_object_get(profile, "profile");
	if (json_is_object(text) && jsonw_set(out, "collection", json_incref(text)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	return 0;
}

int policy_collection_view(struct store *st, const char *host_id, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *cinputs = NULL, *policy = NULL, *effective = NULL;
	json_t *profile, *first;
	struct collection c;
	struct diag d;
	int r;

	r = store_collection_inputs(st, host_id, true, &cinputs);
	if (r < 0)
		return r;
	profile = json_object_get(cinputs, "profile");
	/* what the agent makes of it: the stored profile was checked with the same parser */
	policy = json_pack("{s:O?}", "collection", json_object_get(profile, "profile"));
	if (!policy)
		return -ENOMEM;
	diag_init(&d);
	r = collection_parse(policy, &c, &d);
	diag_done(&d);
	if (r < 0)
		return r == -ENOMEM ? r : -EIO;
	effective = collection_to_json(&c);
	collection_done(&c);
	if (!effective)
		return -ENOMEM;
	first = json_array_get(json_object_get(cinputs, "candidates"), 0);
	*ret = json_pack(
		"{s:O, s:O, s:O, s:O, s:O, s:O, s:s}", "host_id",
		json_object_get(cinputs, "host_id"), "hostname",
		json_object_get(cinputs, "hostname"), "group", json_object_get(cinputs, "group"),
		"candidates", json_object_get(cinputs, "candidates"), "profile", profile,
		"effective", effective, "why",
		!first ? "no collection profile applies: the agent uses the standard profile"
		: str_startswith(json_string_value(json_object_get(first, "scope")), "host:")
			? "the host has a collection profile of its own"
		: str_startswith(json_string_value(json_object_get(first, "scope")), "group:")
			? "the host's group has a collection profile, the host none of its own"
			: "the collection profile for all hosts applies");
	return *ret ? 0 : -ENOMEM;
}
