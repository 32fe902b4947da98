/*
 * Inventory ingestion: turns an agent's upload, full or delta, into the one thing the
 * store accepts, a delta from the stored document with the stored digest as its base
 * (store_inventory_commit), so only changed items are written and two uploads racing for
 * one host cannot interleave (the loser gets -ESTALE).
 *
 * A full snapshot's digest must be its own; it is diffed against the stored document and
 * the commit is retried once when another upload won the race. A delta must name the
 * stored digest as its base, apply to the stored document, and give the digest it
 * announces; the server then commits its own diff of the result rather than the agent's
 * delta, so what is stored is always a delta known to fit. A delta is never retried: its
 * base is gone, and the agent sends a full snapshot instead (409).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/invdiff.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/server.h"

static int refuse(const char **ret_code, const char *code, int err, char *errbuf, size_t errlen,
		  const char *fmt, ...) _printf_(6, 7);

static int refuse(const char **ret_code, const char *code, int err, char *errbuf, size_t errlen,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	*ret_code = code;
	return err;
}

static int ingest_full(struct store *st, const char *host_id, const struct api_agent_inventory *in,
		       int64_t now, char ret_digest[STORE_DIGEST_HEX], size_t *ret_changes,
		       const char **ret_code, char *errbuf, size_t errlen)
{
	char digest[STORE_DIGEST_HEX];
	int r;

	r = invdiff_digest(in->document, digest);
	if (r < 0)
		return r;
	if (!streq(digest, in->digest))
		return refuse(ret_code, "malformed", -EBADMSG, errbuf, errlen,
			      "field 'digest': %s is not the digest of the document (it is %s)",
			      in->digest, digest);
	for (int attempt = 0;; attempt++) {
		_cleanup_(json_decrefp) json_t *stored = NULL, *delta = NULL;
		char base[STORE_DIGEST_HEX];

		r = store_inventory_get(st, host_id, &stored, base);
		if (r < 0)
			return r;
		r = invdiff_compute(stored, in->document, &delta);
		if (r < 0)
			return r;
		r = store_inventory_commit(st, host_id, base, delta, digest, now, ret_changes);
		if (r == -ESTALE && attempt == 0)
			continue;
		if (r == -ESTALE)
			return refuse(ret_code, "conflict", -ESTALE, errbuf, errlen,
				      "another upload for this host is changing its inventory; "
				      "retry");
		if (r < 0)
			return r;
		memcpy(ret_digest, digest, STORE_DIGEST_HEX);
		return 0;
	}
}

static int ingest_delta(struct store *st, const char *host_id, const struct api_agent_inventory *in,
			int64_t now, char ret_digest[STORE_DIGEST_HEX], size_t *ret_changes,
			const char **ret_code, char *errbuf, size_t errlen)
{
	_cleanup_(json_decrefp) json_t *stored = NULL, *result = NULL, *delta = NULL;
	char base[STORE_DIGEST_HEX], digest[STORE_DIGEST_HEX], why[256] = "";
	int r;

	r = store_inventory_get(st, host_id, &stored, base);
	if (r < 0)
		return r;
	if (!streq(base, in->base_digest))
		return refuse(ret_code, "inventory_base_mismatch", -ESTALE, errbuf, errlen,
			      "the delta's base (%s) is not the inventory the server holds (%s): "
			      "send a full snapshot",
			      in->base_digest[0] ? in->base_digest : "none",
			      base[0] ? base : "none");
	result = json_deep_copy(stored);
	if (!result)
		return -ENOMEM;
	r = invdiff_apply(result, in->changes, why, sizeof(why));
	if (r == -EBADMSG)
		return refuse(ret_code, "inventory_base_mismatch", -ESTALE, errbuf, errlen,
			      "the delta does not apply to the inventory the server holds (%s): "
			      "send a full snapshot",
			      why);
	if (r < 0)
		return r;
	r = invdiff_digest(result, digest);
	if (r < 0)
		return r;
	if (!streq(digest, in->digest))
		return refuse(ret_code, "inventory_digest_mismatch", -ESTALE, errbuf, errlen,
			      "after the delta the inventory's digest is %s, not %s: send a full "
			      "snapshot",
			      digest, in->digest);
	r = invdiff_compute(stored, result, &delta);
	if (r < 0)
		return r;
	r = store_inventory_commit(st, host_id, base, delta, digest, now, ret_changes);
	if (r == -ESTALE)
		return refuse(ret_code, "inventory_base_mismatch", -ESTALE, errbuf, errlen,
			      "the inventory changed while the delta was applied: send a full "
			      "snapshot");
	if (r < 0)
		return r;
	memcpy(ret_digest, digest, STORE_DIGEST_HEX);
	return 0;
}

int ingest_inventory(struct store *st, const char *host_id, const struct api_agent_inventory *in,
		     int64_t now, char ret_digest[STORE_DIGEST_HEX], size_t *ret_changes,
		     const char **ret_code, char *errbuf, size_t errlen)
{
	*ret_code = NULL;
	if (in->delta)
		return ingest_delta(st, host_id, in, now, ret_digest, ret_changes, ret_code, errbuf,
				    errlen);
	return ingest_full(st, host_id, in, now, ret_digest, ret_changes, ret_code, errbuf, errlen);
}
