/*
 * The event chain: canonical text and hash of an event record, the genesis value of a host,
 * linking at spool time and checking at ingest, and the eviction report's runs. See
 * lib/evchain.h and docs/protocol.md ("Event chain") for the definition; this file is the
 * reference implementation of it, and both the agent and the server link it, so the two
 * ends cannot disagree about what a record's hash is.
 *
 * The canonical text is jansson's, not a hand-written serialiser: JSON_COMPACT |
 * JSON_SORT_KEYS, which sorts keys bytewise, writes integers in decimal, escapes '"', '\\'
 * and control characters (\b \f \n \r \t, others as \u00XX with upper-case hex) and
 * writes every other character as UTF-8. Parsing a canonical text and serialising it again
 * gives the same text, which is what lets the server recompute the agent's hash from what
 * it received. Limits: the data object is bounded by the callers (LIMIT_EVENT_SIZE); a
 * record is hashed in one piece.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "lib/evchain.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/mm.h"
#include "lib/str.h"

#define GENESIS_PREFIX "mamori.evchain.v1\n"

static int sha256_hex(const void *p, size_t n, char ret[EVCHAIN_HEX])
{
	uint8_t md[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, md) < 0)
		return -EIO;
	str_hex(md, sizeof(md), ret);
	return 0;
}

int evchain_genesis(const char *host_id, char ret[EVCHAIN_HEX])
{
	_cleanup_(freep) char *text = NULL;

	if (!host_id)
		return -EINVAL;
	text = mm_asprintf("%s%s", GENESIS_PREFIX, host_id);
	if (!text)
		return -ENOMEM;
	return sha256_hex(text, strlen(text), ret);
}

bool evchain_is_hash(const char *s)
{
	if (!s || strlen(s) != EVCHAIN_HEX - 1)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int64_t evchain_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int evchain_hash(const struct evchain_record *rec, char ret[EVCHAIN_HEX])
{
	_cleanup_(json_decrefp) json_t *obj = NULL;
	_cleanup_(freep) char *text = NULL;

	if (!rec || rec->seq < 1 || rec->seq > INT64_MAX || !rec->type ||
	    !json_is_object(rec->data) || !evchain_is_hash(rec->prev))
		return -EINVAL;
	/* json_pack's "O" takes a new reference to a const value: jansson has no const API */
	obj = json_pack("{sIsIsIsssOss}", "seq", (json_int_t) rec->seq, "time",
			(json_int_t) rec->time_ms, "mono", (json_int_t) rec->mono_ms, "type",
			rec->type, "data", (json_t *) rec->data, "prev", rec->prev);
	if (!obj)
		return -ENOMEM;
	text = jsonw_dump(obj);
	if (!text)
		return -ENOMEM;
	return sha256_hex(text, strlen(text), ret);
}

int evchain_link(char head[EVCHAIN_HEX], uint64_t seq, int64_t time_ms, int64_t mono_ms,
		 const char *type, const char *data, char ret_hash[EVCHAIN_HEX])
{
	_cleanup_(json_decrefp) json_t *v = NULL;
	char hash[EVCHAIN_HEX];
	int r;

	if (!data)
		return -EINVAL;
	r = jsonw_parse(data, strlen(data), LIMIT_EVENT_SIZE, &v, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !json_is_object(v))
		return -EINVAL;
	r = evchain_hash(
		&(struct evchain_record){
			.seq = seq,
			.time_ms = time_ms,
			.mono_ms = mono_ms,
			.type = type,
			.data = v,
			.prev = head,
		},
		hash);
	if (r < 0)
		return r;
	memcpy(ret_hash, hash, EVCHAIN_HEX);
	memcpy(head, hash, EVCHAIN_HEX);
	return 0;
}

int evchain_check(const json_t *event, char ret_computed[EVCHAIN_HEX])
{
	json_t *seq = json_object_get(event, "seq"), *t = json_object_get(event, "time");
	json_t *mono = json_object_get(event, "mono"), *data = json_object_get(event, "data");
	const char *type = json_string_value(json_object_get(event, "type"));
	const char *prev = json_string_value(json_object_get(event, "prev"));
	const char *claimed = json_string_value(json_object_get(event, "hash"));
	char computed[EVCHAIN_HEX];
	int r;

	if (!json_is_object(event) || !json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    !json_is_integer(t) || !type || !json_is_object(data))
		return -EINVAL;
	if (!json_is_integer(mono) || !evchain_is_hash(prev) || !evchain_is_hash(claimed))
		return EVCHAIN_UNCHAINED;
	r = evchain_hash(
		&(struct evchain_record){
			.seq = (uint64_t) json_integer_value(seq),
			.time_ms = json_integer_value(t),
			.mono_ms = json_integer_value(mono),
			.type = type,
			.data = data,
			.prev = prev,
		},
		computed);
	if (r < 0)
		return r;
	memcpy(ret_computed, computed, EVCHAIN_HEX);
	return streq(computed, claimed) ? EVCHAIN_OK : EVCHAIN_ALTERED;
}

int evchain_evicted_format(uint64_t count, uint64_t bytes, uint64_t oldest, uint64_t newest,
			   const struct evchain_run *runs, size_t n, char **ret)
{
	_cleanup_(json_decrefp) json_t *obj = NULL;
	json_t *list;
	char *text;

	if (n > EVCHAIN_RUNS_MAX || count > INT64_MAX || bytes > INT64_MAX || oldest > INT64_MAX ||
	    newest > INT64_MAX)
		return -EINVAL;
	obj = json_pack("{sIsIs[]}", "count", (json_int_t) count, "bytes", (json_int_t) bytes,
			"runs");
	if (!obj)
		return -ENOMEM;
	if (oldest && (jsonw_set(obj, "oldest_seq", json_integer((json_int_t) oldest)) < 0 ||
		       jsonw_set(obj, "newest_seq", json_integer((json_int_t) newest)) < 0))
		return -ENOMEM;
	list = json_object_get(obj, "runs");
	for (size_t i = 0; i < n; i++) {
		if (runs[i].first < 1 || runs[i].first > runs[i].last || runs[i].last > INT64_MAX ||
		    !evchain_is_hash(runs[i].prev) || !evchain_is_hash(runs[i].hash))
			return -EINVAL;
		if (jsonw_append(list, json_pack("{sIsIssss}", "first", (json_int_t) runs[i].first,
						 "last", (json_int_t) runs[i].last, "prev",
						 runs[i].prev, "hash", runs[i].hash)) < 0)
			return -ENOMEM;
	}
	text = jsonw_dump(obj);
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}

int evchain_evicted_parse(const json_t *data, struct evchain_run **ret, size_t *ret_n)
{
	json_t *list = json_object_get(data, "runs"), *v;
	_cleanup_(freep) struct evchain_run *runs = NULL;
	size_t n, i;

	if (!json_is_object(data))
		return -EBADMSG;
	if (!list) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (!json_is_array(list) || json_array_size(list) > EVCHAIN_RUNS_MAX)
		return -EBADMSG;
	n = json_array_size(list);
	runs = mm_calloc(n ? n : 1, sizeof(*runs));
	if (!runs)
		return -ENOMEM;
	json_array_foreach (list, i, v) {
		json_t *first = json_object_get(v, "first"), *last = json_object_get(v, "last");
		const char *prev = json_string_value(json_object_get(v, "prev"));
		const char *hash = json_string_value(json_object_get(v, "hash"));

		if (!json_is_integer(first) || !json_is_integer(last) ||
		    json_integer_value(first) < 1 ||
		    json_integer_value(last) < json_integer_value(first) ||
		    !evchain_is_hash(prev) || !evchain_is_hash(hash))
			return -EBADMSG;
		runs[i].first = (uint64_t) json_integer_value(first);
		runs[i].last = (uint64_t) json_integer_value(last);
		memcpy(runs[i].prev, prev, EVCHAIN_HEX);
		memcpy(runs[i].hash, hash, EVCHAIN_HEX);
	}
	*ret = TAKE_PTR(runs);
	*ret_n = n;
	return 0;
}
