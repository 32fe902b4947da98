/*
 * What every store backend does the same outside SQL: random ids, the state of an
 * enrolment token, the audit trail's record hash, LIKE patterns, and the validation and
 * serialisation of event batches and inventory deltas before a transaction starts.
 *
 * Keeping these in one place is what makes the backends behave identically: a token is
 * "used" by the same rule, an event's extra members are kept the same way, a delta entry
 * is refused for the same reasons, and the audit chain written by one backend verifies in
 * the other (store_copy moves it between them unchanged).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "lib/invdiff.h"
#include "lib/jsonw.h"
#include "lib/limits.h"
#include "lib/log.h"
#include "lib/mm.h"
#include "lib/str.h"
#include "server/store_backend.h"

int store_prep_random(void *p, size_t n)
{
	if (gnutls_rnd(GNUTLS_RND_RANDOM, p, n) < 0) {
		log_error("(M4013) store: the random generator failed");
		return -EIO;
	}
	return 0;
}

int store_prep_uuid(char ret[STORE_ID_MAX])
{
	uint8_t b[16];
	char hex[33];
	int r = store_prep_random(b, sizeof(b));

	if (r < 0)
		return r;
	b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
	str_hex(b, sizeof(b), hex);
	(void) snprintf(ret, STORE_ID_MAX, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
			hex + 16, hex + 20);
	return 0;
}

int store_prep_token_id(const char *prefix, char ret[STORE_ID_MAX])
{
	uint8_t b[8];
	char hex[17];
	int r = store_prep_random(b, sizeof(b));

	if (r < 0)
		return r;
	str_hex(b, sizeof(b), hex);
	(void) snprintf(ret, STORE_ID_MAX, "%s%s", prefix, hex);
	return 0;
}

enum store_token_verdict store_prep_token_verdict(bool revoked, int64_t uses, int64_t max_uses,
						  int64_t expires, int64_t now)
{
	if (revoked)
		return STORE_TOKEN_REVOKED;
	if (uses >= max_uses)
		return STORE_TOKEN_USED;
	if (now >= expires)
		return STORE_TOKEN_EXPIRED;
	return STORE_TOKEN_OK;
}

const char *const store_prep_token_states[] = {
	[STORE_TOKEN_OK] = "active",       [STORE_TOKEN_UNKNOWN] = "unknown",
	[STORE_TOKEN_EXPIRED] = "expired", [STORE_TOKEN_USED] = "used",
	[STORE_TOKEN_REVOKED] = "revoked",
};

const char store_prep_audit_genesis[STORE_DIGEST_HEX] =
	"0000000000000000000000000000000000000000000000000000000000000000";

int store_prep_audit_hash(const char *prev, int64_t id, int64_t time, const char *actor,
			  const char *action, const char *target, json_t *details,
			  const char *remote, char ret[STORE_DIGEST_HEX])
{
	_cleanup_(json_decrefp) json_t *rec = NULL;
	_cleanup_(freep) char *text = NULL;
	gnutls_hash_hd_t h;
	uint8_t md[32];

	rec = json_pack("{sIsIssssss?sOss?}", "id", (json_int_t) id, "time", (json_int_t) time,
			"actor", actor, "action", action, "target", target, "details",
			details ? details : json_null(), "remote", remote);
	if (!rec)
		return -ENOMEM;
	text = jsonw_dump(rec);
	if (!text)
		return -ENOMEM;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -ENOMEM;
	if (gnutls_hash(h, prev, strlen(prev)) < 0 || gnutls_hash(h, text, strlen(text)) < 0) {
		gnutls_hash_deinit(h, NULL);
		return -EIO;
	}
	gnutls_hash_deinit(h, md);
	str_hex(md, sizeof(md), ret);
	return 0;
}

char *store_prep_like_pattern(const char *text)
{
	size_t n = strlen(text);
	char *p = mm_reallocarray(NULL, 2, n + 2); /* worst case every byte escaped, 2 '%' */
	size_t j = 0;

	if (!p)
		return NULL;
	p[j++] = '%';
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '%' || text[i] == '_' || text[i] == '\\')
			p[j++] = '\\';
		p[j++] = text[i];
	}
	p[j++] = '%';
	p[j] = '\0';
	return p;
}

/* ---- event batches ---- */

static int event_parse(json_t *v, struct store_event *e)
{
	json_t *seq = json_object_get(v, "seq"), *t = json_object_get(v, "time");
	json_t *data = json_object_get(v, "data");
	_cleanup_(json_decrefp) json_t *extra = NULL;
	const char *name;
	json_t *m;

	e->type = json_string_value(json_object_get(v, "type"));
	if (!json_is_object(v) || !json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    !json_is_integer(t) || !e->type || (data && !json_is_object(data)))
		return -EINVAL;
	e->seq = json_integer_value(seq);
	e->time_ms = json_integer_value(t);
	json_object_foreach (v, name, m) {
		if (streq(name, "seq") || streq(name, "time") || streq(name, "type") ||
		    streq(name, "data"))
			continue;
		if (!extra && !(extra = json_object()))
			return -ENOMEM;
		if (json_object_set(extra, name, m) < 0)
			return -ENOMEM;
	}
	/* events are stored as sent, not canonical: skipping the key sort is measurably faster */
	e->data = data ? json_dumps(data, JSON_COMPACT) : mm_strdup("{}");
	if (!e->data)
		return -ENOMEM;
	if (extra) {
		e->extra = json_dumps(extra, JSON_COMPACT);
		if (!e->extra)
			return -ENOMEM;
	}
	return 0;
}

void store_prep_events_free(struct store_event *ev, size_t n)
{
	for (size_t i = 0; ev && i < n; i++) {
		mm_free(ev[i].data);
		mm_free(ev[i].extra);
	}
	mm_free(ev);
}

int store_prep_events(json_t *events, struct store_event **ret, size_t *ret_n)
{
	struct store_event *ev;
	size_t n, i;
	json_t *v;

	if (!json_is_array(events))
		return -EINVAL;
	n = json_array_size(events);
	if (n > LIMIT_EVENT_BATCH)
		return -E2BIG;
	ev = mm_calloc(n ? n : 1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	json_array_foreach (events, i, v) {
		int r = event_parse(v, &ev[i]);

		if (r < 0) {
			store_prep_events_free(ev, n);
			return r;
		}
	}
	*ret = ev;
	*ret_n = n;
	return 0;
}

/* ---- inventory deltas ---- */

const char *const store_item_ops[] = {"removed", "changed", "added"};

static void entry_done(struct store_item_entry *e)
{
	mm_free(e->key);
	mm_free(e->old_text);
	mm_free(e->new_text);
}

static int entry_parse(const char *section, enum store_item_op op, json_t *v,
		       struct store_item_entry *e)
{
	json_t *list = json_object_get(v, "list");

	e->section = section;
	e->list = "";
	e->op = op;
	if (!json_is_object(v))
		return -EBADMSG;
	if (list) {
		json_t *key = json_object_get(v, "key");

		e->list = json_string_value(list);
		if (!e->list || !*e->list || !invdiff_is_keyed_list(section, e->list) ||
		    !json_is_array(key))
			return -EBADMSG;
		e->key = jsonw_dump(key);
	} else {
		e->list = "";
		e->key = mm_strdup("");
	}
	if (!e->key)
		return -ENOMEM;
	e->old_v = op == STORE_ITEM_ADDED ? NULL : json_object_get(v, "old");
	e->new_v = json_object_get(v, op == STORE_ITEM_ADDED ? "value" : "new");
	if ((op != STORE_ITEM_ADDED && !e->old_v) || (op != STORE_ITEM_REMOVED && !e->new_v))
		return -EBADMSG;
	if (!*e->list && ((e->old_v && !json_is_object(e->old_v)) ||
			  (op != STORE_ITEM_REMOVED && !json_is_object(e->new_v))))
		return -EBADMSG;
	if (e->old_v && !(e->old_text = jsonw_dump(e->old_v)))
		return -ENOMEM;
	if (op != STORE_ITEM_REMOVED && !(e->new_text = jsonw_dump(e->new_v)))
		return -ENOMEM;
	return 0;
}

void store_prep_delta_done(struct store_item_entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		entry_done(&es->v[i]);
	mm_free(es->v);
	es->v = NULL;
	es->n = 0;
}

int store_prep_delta(const json_t *delta, struct store_item_entries *es)
{
	const char *section;
	size_t total = 0;
	json_t *sd;

	es->v = NULL;
	es->n = 0;
	if (!json_is_object(delta))
		return -EINVAL;
	json_object_foreach ((json_t *) delta, section, sd) {
		if (!json_is_object(sd))
			return -EBADMSG;
		for (enum store_item_op op = STORE_ITEM_REMOVED; op <= STORE_ITEM_ADDED; op++) {
			json_t *entries = json_object_get(sd, store_item_ops[op]);

			if (entries && !json_is_array(entries))
				return -EBADMSG;
			total += json_array_size(entries);
		}
	}
	es->v = mm_calloc(total ? total : 1, sizeof(*es->v));
	if (!es->v)
		return -ENOMEM;
	json_object_foreach ((json_t *) delta, section, sd)
		for (enum store_item_op op = STORE_ITEM_REMOVED; op <= STORE_ITEM_ADDED; op++) {
			json_t *v;
			size_t i;

			json_array_foreach (json_object_get(sd, store_item_ops[op]), i, v) {
				int r = entry_parse(section, op, v, &es->v[es->n++]);

				if (r < 0)
					return r;
			}
		}
	return 0;
}
